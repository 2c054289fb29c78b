//! The `conversations`, `messages` and `usage_records` tables.

use diesel::connection::DefaultLoadingMode;
use diesel::dsl::{AsSelect, Eq, Filter, SqlTypeOf, sum};
use diesel::prelude::*;
use promptyard_db_models::DbConn;
use promptyard_db_models::MultiBackend;
use promptyard_db_models::ids::{ConversationId, UserId};
use promptyard_db_models::models::{Conversation, Message, Timestamp, UsageRecord};
use promptyard_db_models::schema::{conversations, messages, usage_records};

use crate::error::{RepoError, Run as _, found, insert_returning};

/// Queries on `conversations` and their `messages`.
#[derive(Debug, Clone, Copy)]
pub struct ConversationRepository;

/// The conversations of the user `user_id`.
fn of_user(user_id: &UserId) -> Filter<conversations::table, Eq<conversations::user_id, &UserId>> {
    conversations::table.filter(conversations::user_id.eq(user_id))
}

/// The messages of the conversation `conversation_id`.
fn of_conversation(
    conversation_id: &ConversationId,
) -> Filter<messages::table, Eq<messages::conversation_id, &ConversationId>> {
    messages::table.filter(messages::conversation_id.eq(conversation_id))
}

impl ConversationRepository {
    /// Inserts a conversation.
    pub fn create(conn: &mut DbConn, new: &Conversation) -> Result<Conversation, RepoError> {
        insert_returning!(conn, conversations::table, new, Conversation)
    }

    /// The user's conversation with this id; [`RepoError::NotFound`] if
    /// there is none or it is someone else's.
    pub fn get_for_user(
        conn: &mut DbConn,
        user_id: &UserId,
        id: &ConversationId,
    ) -> Result<Conversation, RepoError> {
        of_user(user_id)
            .filter(conversations::id.eq(id))
            .select_one(conn)
    }

    /// Up to `limit` of the user's conversations, newest first (by creation,
    /// then id), strictly older than `before` if given.
    pub fn list_page(
        conn: &mut DbConn,
        user_id: &UserId,
        before: Option<&Conversation>,
        limit: i64,
    ) -> Result<Vec<Conversation>, RepoError> {
        let mut query = of_user(user_id).into_boxed();
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
            .select_all(conn)
    }

    /// Deletes the user's conversation (its messages go with it, through
    /// `ON DELETE CASCADE`); [`RepoError::NotFound`] if it is not theirs.
    pub fn delete_for_user(
        conn: &mut DbConn,
        user_id: &UserId,
        id: &ConversationId,
    ) -> Result<(), RepoError> {
        found(diesel::delete(of_user(user_id).filter(conversations::id.eq(id))).execute(conn)?)
    }

    /// Sets `updated_at`.
    pub fn touch(conn: &mut DbConn, id: &ConversationId, now: Timestamp) -> Result<(), RepoError> {
        found(
            diesel::update(conversations::table.find(id))
                .set(conversations::updated_at.eq(now))
                .execute(conn)?,
        )
    }

    /// The conversation's messages, oldest first (by creation, then id).
    pub fn messages(
        conn: &mut DbConn,
        conversation_id: &ConversationId,
    ) -> Result<Vec<Message>, RepoError> {
        of_conversation(conversation_id)
            .order((messages::created_at.asc(), messages::id.asc()))
            .select_all(conn)
    }

    /// The newest messages of the conversation that fit in `budget`
    /// tokens, oldest first. A message costs its `tokens` plus
    /// `per_message` (at least 1: the role and separators every chat
    /// format adds). Messages are taken newest first while the running
    /// cost stays within `budget`; the first one that does not fit ends the
    /// window (no older message is skipped over to fill the gap).
    ///
    /// One query, newest first along the conversation's
    /// `(conversation_id, created_at, id)` index, that reads at most
    /// `budget / per_message` rows and stops stepping at the first row that
    /// does not fit: its cost follows the window, never the length of the
    /// conversation.
    pub fn recent_within(
        conn: &mut DbConn,
        conversation_id: &ConversationId,
        budget: u64,
        per_message: u64,
    ) -> Result<Vec<Message>, RepoError> {
        let per_message = per_message.max(1);
        let max_rows = i64::try_from(budget / per_message).unwrap_or(i64::MAX);
        if max_rows == 0 {
            return Ok(Vec::new());
        }
        let rows = Self::newest_first(conversation_id, max_rows)
            .load_iter::<Message, DefaultLoadingMode>(conn)?;
        let mut left = budget;
        let mut window = Vec::new();
        for row in rows {
            let message = row?;
            let cost = u64::try_from(message.tokens)
                .unwrap_or(0)
                .saturating_add(per_message);
            if cost > left {
                break;
            }
            left -= cost;
            window.push(message);
        }
        window.reverse();
        Ok(window)
    }

    /// Up to `limit` of the conversation's messages, newest first.
    fn newest_first(
        conversation_id: &ConversationId,
        limit: i64,
    ) -> messages::BoxedQuery<'_, MultiBackend, SqlTypeOf<AsSelect<Message, MultiBackend>>> {
        of_conversation(conversation_id)
            .order((messages::created_at.desc(), messages::id.desc()))
            .limit(limit)
            .select(Message::as_select())
            .into_boxed()
    }

    /// Inserts a message. [`RepoError::ForeignKeyViolation`] if the
    /// conversation is gone.
    ///
    /// Every column is the caller's, so the row is not read back: an
    /// `INSERT ... RETURNING` costs 10 µs more a row, and keeps diesel from
    /// caching the statement (`benches/exchange_write.rs`).
    pub fn add_message(conn: &mut DbConn, message: &Message) -> Result<(), RepoError> {
        diesel::insert_into(messages::table)
            .values(message)
            .execute(conn)?;
        Ok(())
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
    pub fn record(conn: &mut DbConn, record: &UsageRecord) -> Result<(), RepoError> {
        diesel::insert_into(usage_records::table)
            .values(record)
            .execute(conn)?;
        Ok(())
    }

    /// The user's token totals per model, models in name order; only models
    /// with usage appear.
    pub fn totals_by_model(
        conn: &mut DbConn,
        user_id: &UserId,
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
