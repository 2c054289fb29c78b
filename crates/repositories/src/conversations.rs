//! The `conversations`, `messages` and `usage_records` tables.

use diesel::dsl::sum;
use diesel::prelude::*;
use promptyard_db_models::models::{Conversation, Message, Timestamp, UsageRecord};
use promptyard_db_models::schema::{conversations, messages, usage_records};

use crate::error::{RepoError, found};

/// Queries on `conversations` and their `messages`.
#[derive(Debug, Clone, Copy)]
pub struct ConversationRepository;

impl ConversationRepository {
    /// Inserts a conversation.
    pub fn create(
        conn: &mut SqliteConnection,
        new: &Conversation,
    ) -> Result<Conversation, RepoError> {
        diesel::insert_into(conversations::table)
            .values(new)
            .returning(Conversation::as_returning())
            .get_result(conn)
            .map_err(RepoError::from)
    }

    /// The user's conversation with this id; [`RepoError::NotFound`] if
    /// there is none or it is someone else's.
    pub fn get_for_user(
        conn: &mut SqliteConnection,
        user_id: &str,
        id: &str,
    ) -> Result<Conversation, RepoError> {
        conversations::table
            .filter(conversations::id.eq(id))
            .filter(conversations::user_id.eq(user_id))
            .select(Conversation::as_select())
            .get_result(conn)
            .map_err(RepoError::from)
    }

    /// Up to `limit` of the user's conversations, newest first (by creation,
    /// then id), strictly older than `before` if given.
    pub fn list_page(
        conn: &mut SqliteConnection,
        user_id: &str,
        before: Option<&Conversation>,
        limit: i64,
    ) -> Result<Vec<Conversation>, RepoError> {
        let mut query = conversations::table
            .filter(conversations::user_id.eq(user_id))
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(
                conversations::created_at
                    .lt(before.created_at)
                    .or(conversations::created_at
                        .eq(before.created_at)
                        .and(conversations::id.lt(before.id.clone()))),
            );
        }
        query
            .order((conversations::created_at.desc(), conversations::id.desc()))
            .limit(limit)
            .select(Conversation::as_select())
            .load(conn)
            .map_err(RepoError::from)
    }

    /// Deletes the user's conversation (its messages go with it, through
    /// `ON DELETE CASCADE`); [`RepoError::NotFound`] if it is not theirs.
    pub fn delete_for_user(
        conn: &mut SqliteConnection,
        user_id: &str,
        id: &str,
    ) -> Result<(), RepoError> {
        found(
            diesel::delete(
                conversations::table
                    .filter(conversations::id.eq(id))
                    .filter(conversations::user_id.eq(user_id)),
            )
            .execute(conn)?,
        )
    }

    /// Sets `updated_at`.
    pub fn touch(conn: &mut SqliteConnection, id: &str, now: Timestamp) -> Result<(), RepoError> {
        found(
            diesel::update(conversations::table.find(id))
                .set(conversations::updated_at.eq(now))
                .execute(conn)?,
        )
    }

    /// The conversation's messages, oldest first (by creation, then id).
    pub fn messages(
        conn: &mut SqliteConnection,
        conversation_id: &str,
    ) -> Result<Vec<Message>, RepoError> {
        messages::table
            .filter(messages::conversation_id.eq(conversation_id))
            .order((messages::created_at.asc(), messages::id.asc()))
            .select(Message::as_select())
            .load(conn)
            .map_err(RepoError::from)
    }

    /// Inserts a message. [`RepoError::ForeignKeyViolation`] if the
    /// conversation is gone.
    pub fn add_message(
        conn: &mut SqliteConnection,
        message: &Message,
    ) -> Result<Message, RepoError> {
        diesel::insert_into(messages::table)
            .values(message)
            .returning(Message::as_returning())
            .get_result(conn)
            .map_err(RepoError::from)
    }
}

/// Token totals of one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenTotals {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

/// Queries on `usage_records`.
#[derive(Debug, Clone, Copy)]
pub struct UsageRepository;

impl UsageRepository {
    /// Records one exchange.
    pub fn record(conn: &mut SqliteConnection, record: &UsageRecord) -> Result<(), RepoError> {
        diesel::insert_into(usage_records::table)
            .values(record)
            .execute(conn)?;
        Ok(())
    }

    /// The user's token totals per model, models in name order; only models
    /// with usage appear.
    pub fn totals_by_model(
        conn: &mut SqliteConnection,
        user_id: &str,
    ) -> Result<Vec<(String, TokenTotals)>, RepoError> {
        let rows: Vec<(String, Option<i64>, Option<i64>)> = usage_records::table
            .filter(usage_records::user_id.eq(user_id))
            .group_by(usage_records::model)
            .select((
                usage_records::model,
                sum(usage_records::prompt_tokens),
                sum(usage_records::completion_tokens),
            ))
            .order(usage_records::model.asc())
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(model, prompt, completion)| {
                (
                    model,
                    TokenTotals {
                        prompt_tokens: prompt.unwrap_or(0),
                        completion_tokens: completion.unwrap_or(0),
                    },
                )
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
