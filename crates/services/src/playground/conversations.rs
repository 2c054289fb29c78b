//! Conversations: create, page through, read, delete; and usage.

use promptyard_repositories::{
    Conversation, ConversationId, ConversationRepository, OptionalExt, RepoError, UsageRepository,
    UserId,
};

use super::{
    ConversationInfo, ConversationWithMessages, MessageInfo, ModelUsage, NewConversation, Page,
    PageRequest, PlaygroundError, PlaygroundService, Tokens, UsageSummary,
};
use crate::limits::LlmCaller;
use crate::validation::FieldError;

impl PlaygroundService {
    /// Creates a conversation of the caller with a model it may use
    /// ([`PlaygroundError::UnknownModel`] otherwise: unknown, or outside
    /// its key's allow-list).
    #[tracing::instrument(skip_all, fields(user_id = %caller.user))]
    pub async fn create_conversation(
        &self,
        caller: &LlmCaller,
        new: NewConversation,
    ) -> Result<ConversationInfo, PlaygroundError> {
        self.provider_for(caller, &new.model)?;
        let user = &caller.user;
        let now = self.clock.now().naive_utc();
        let row = Conversation {
            id: self.ids.new_id().into(),
            user_id: user.clone(),
            model: new.model,
            title: new.title.map(super::Title::into_string),
            system_prompt: new.system_prompt.map(super::SystemPrompt::into_string),
            created_at: now,
            updated_at: now,
        };
        let created = self
            .db
            .write(move |conn| ConversationRepository::create(conn, &row))
            .await?;
        Ok(created.into())
    }

    /// A page of the user's conversations, newest first.
    /// [`PlaygroundError::Validation`] on `before` if it is not one of the
    /// user's conversations.
    #[tracing::instrument(skip_all, fields(user_id = %user))]
    pub async fn list_conversations(
        &self,
        user: &UserId,
        page: PageRequest,
    ) -> Result<Page, PlaygroundError> {
        let limit = page.limit.get();
        let owner = user.clone();
        let found = self
            .db
            .read(move |conn| {
                let cursor = match &page.before {
                    Some(id) => {
                        match ConversationRepository::get_for_user(conn, &owner, id).optional()? {
                            Some(cursor) => Some(cursor),
                            None => return Ok(None),
                        }
                    }
                    None => None,
                };
                ConversationRepository::list_page(conn, &owner, cursor.as_ref(), limit + 1)
                    .map(Some)
            })
            .await?;
        let Some(mut items) = found else {
            return Err(PlaygroundError::Validation(vec![FieldError::new(
                "before",
                "must be the id of one of your conversations",
            )]));
        };
        let more = items.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_before = if more {
            items.last().map(|c| c.id.clone())
        } else {
            None
        };
        Ok(Page {
            items: items.into_iter().map(ConversationInfo::from).collect(),
            next_before,
        })
    }

    /// One of the user's conversations with its messages, oldest first.
    #[tracing::instrument(skip_all, fields(user_id = %user, conversation_id = %id))]
    pub async fn get_conversation(
        &self,
        user: &UserId,
        id: &ConversationId,
    ) -> Result<ConversationWithMessages, PlaygroundError> {
        let (user, id) = (user.clone(), id.clone());
        let (conversation, messages) = self
            .db
            .read(move |conn| {
                let conversation = ConversationRepository::get_for_user(conn, &user, &id)?;
                let messages = ConversationRepository::messages(conn, &id)?;
                Ok::<_, RepoError>((conversation, messages))
            })
            .await?;
        Ok(ConversationWithMessages {
            conversation: conversation.into(),
            messages: messages.into_iter().map(MessageInfo::from).collect(),
        })
    }

    /// Deletes one of the user's conversations and its messages (not its
    /// usage).
    #[tracing::instrument(skip_all, fields(user_id = %user, conversation_id = %id))]
    pub async fn delete_conversation(
        &self,
        user: &UserId,
        id: &ConversationId,
    ) -> Result<(), PlaygroundError> {
        let (user, id) = (user.clone(), id.clone());
        self.db
            .write(move |conn| ConversationRepository::delete_for_user(conn, &user, &id))
            .await?;
        Ok(())
    }

    /// The user's token totals, overall and per model (models with usage
    /// only, by name).
    #[tracing::instrument(skip_all, fields(user_id = %user))]
    pub async fn usage(&self, user: &UserId) -> Result<UsageSummary, PlaygroundError> {
        let user = user.clone();
        let rows = self
            .db
            .read(move |conn| UsageRepository::totals_by_model(conn, &user))
            .await?;
        let mut summary = UsageSummary::default();
        for (model, totals) in rows {
            let usage = Tokens::new(
                u64::try_from(totals.prompt_tokens).unwrap_or(0),
                u64::try_from(totals.completion_tokens).unwrap_or(0),
            );
            summary.total = summary.total.plus(usage);
            summary.by_model.push(ModelUsage { model, usage });
        }
        Ok(summary)
    }
}
