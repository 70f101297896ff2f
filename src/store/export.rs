//! What a data export reads: one account's own rows, page by page in key order, so an export
//! holds one page in memory whatever the account's size.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use time::OffsetDateTime;

use super::audit::AuditEntry;
use super::entity::{attachment, message, message_like, message_reaction};
use super::{Attachment, Message, Store, StoreError};
use crate::domain::{AttachmentId, MessageId, MessageKind, UserId};

/// One of the account's reactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnReaction {
    pub message_id: MessageId,
    pub emoji: String,
    pub created_at: OffsetDateTime,
}

impl Store {
    /// The live messages `author` wrote (system notices aside), oldest first, `limit` after
    /// `after`: a range of the `(author_id, id)` index.
    pub async fn messages_written_by(
        &self,
        author: UserId,
        after: Option<MessageId>,
        limit: u64,
    ) -> Result<Vec<Message>, StoreError> {
        let mut query = message::Entity::find()
            .filter(message::Column::AuthorId.eq(author))
            .filter(message::Column::DeletedAt.is_null())
            .filter(message::Column::Kind.ne(MessageKind::System))
            .order_by_asc(message::Column::Id)
            .limit(limit);
        if let Some(after) = after {
            query = query.filter(message::Column::Id.gt(after));
        }
        Ok(query.all(&self.db).await?.into_iter().map(Message::from).collect())
    }

    /// `user_id`'s reactions, by message and emoji, `limit` after `after`.
    pub async fn reactions_by(
        &self,
        user_id: UserId,
        after: Option<(MessageId, String)>,
        limit: u64,
    ) -> Result<Vec<OwnReaction>, StoreError> {
        let mut query = message_reaction::Entity::find()
            .filter(message_reaction::Column::UserId.eq(user_id))
            .order_by_asc(message_reaction::Column::MessageId)
            .order_by_asc(message_reaction::Column::Emoji)
            .limit(limit);
        if let Some((message_id, emoji)) = after {
            query = query.filter(
                Condition::any().add(message_reaction::Column::MessageId.gt(message_id)).add(
                    Expr::col(message_reaction::Column::MessageId)
                        .eq(message_id)
                        .and(Expr::col(message_reaction::Column::Emoji).gt(emoji)),
                ),
            );
        }
        Ok(query
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| OwnReaction { message_id: row.message_id, emoji: row.emoji, created_at: row.created_at })
            .collect())
    }

    /// The messages `user_id` likes and when, `limit` after `after`.
    pub async fn likes_by(
        &self,
        user_id: UserId,
        after: Option<MessageId>,
        limit: u64,
    ) -> Result<Vec<(MessageId, OffsetDateTime)>, StoreError> {
        let mut query = message_like::Entity::find()
            .select_only()
            .column(message_like::Column::MessageId)
            .column(message_like::Column::CreatedAt)
            .filter(message_like::Column::UserId.eq(user_id))
            .order_by_asc(message_like::Column::MessageId)
            .limit(limit);
        if let Some(after) = after {
            query = query.filter(message_like::Column::MessageId.gt(after));
        }
        Ok(query.into_tuple().all(&self.db).await?)
    }

    /// The files and images `user_id` uploaded, `limit` after `after`.
    pub async fn attachments_uploaded_by(
        &self,
        user_id: UserId,
        after: Option<AttachmentId>,
        limit: u64,
    ) -> Result<Vec<Attachment>, StoreError> {
        let mut query = attachment::Entity::find()
            .filter(attachment::Column::UploaderId.eq(user_id))
            .order_by_asc(attachment::Column::Id)
            .limit(limit);
        if let Some(after) = after {
            query = query.filter(attachment::Column::Id.gt(after));
        }
        Ok(query.all(&self.db).await?.into_iter().map(Attachment::from).collect())
    }

    /// Writes to the audit log that `user_id` downloaded an export of their data.
    pub async fn record_export(&self, user_id: UserId) -> Result<(), StoreError> {
        let entry = AuditEntry {
            actor_id: Some(user_id),
            entity: "user",
            entity_id: user_id.to_string(),
            action: "export",
            before: None,
            after: None,
            subject_id: Some(user_id),
        };
        entry.write(&self.db).await?;
        Ok(())
    }
}
