//! Emoji reactions: who reacted to which message with what, and each message's reactions as one
//! reader sees them.

use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};
use time::OffsetDateTime;

use super::entity::{message, message_reaction};
use super::{Store, StoreError, now};
use crate::domain::{Emoji, MessageId, UserId};

/// At most this many different emoji on one message.
pub const MAX_DISTINCT_REACTIONS: u64 = 20;

/// What became of a reaction asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reacted {
    /// Added or taken back; the emoji's count on the message now.
    Changed(u64),
    /// It already was (or was not) there; the count, as it is.
    Unchanged(u64),
    /// The message has [`MAX_DISTINCT_REACTIONS`] other emoji already.
    TooMany,
    /// No such message, or it was deleted.
    Gone,
}

/// One emoji's reactions on a message as a reader sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionCount {
    pub emoji: String,
    pub count: u64,
    pub mine: bool,
}

impl Store {
    /// Adds or takes back `user_id`'s `emoji` on a live message. A message's reactions change
    /// one at a time (a no-op write locks its row), so the limit of distinct emoji holds under
    /// concurrent reactions, and none lands on a message being deleted.
    pub async fn react(
        &self,
        user_id: UserId,
        message_id: MessageId,
        emoji: Emoji,
        add: bool,
    ) -> Result<Reacted, StoreError> {
        let txn = self.begin_write().await?;
        let touch = Query::update()
            .table(message::Entity)
            .value(message::Column::Id, Expr::col(message::Column::Id))
            .and_where(message::Column::Id.eq(message_id))
            .and_where(message::Column::DeletedAt.is_null())
            .to_owned();
        if txn.execute(&touch).await?.rows_affected() == 0 {
            return Ok(Reacted::Gone);
        }
        // Under the lock the emoji's count moves by exactly this reaction: counted once.
        let held = message_reaction::Entity::find()
            .filter(message_reaction::Column::MessageId.eq(message_id))
            .filter(message_reaction::Column::Emoji.eq(emoji.as_str()))
            .count(&txn)
            .await?;
        let key = (message_id, emoji.as_str().to_owned(), user_id);
        let mine = message_reaction::Entity::find_by_id(key.clone()).one(&txn).await?.is_some();
        if mine == add {
            return Ok(Reacted::Unchanged(held));
        }
        let count = if add {
            if held == 0 {
                let distinct: Vec<String> = message_reaction::Entity::find()
                    .select_only()
                    .column(message_reaction::Column::Emoji)
                    .distinct()
                    .filter(message_reaction::Column::MessageId.eq(message_id))
                    .into_tuple()
                    .all(&txn)
                    .await?;
                if distinct.len() as u64 >= MAX_DISTINCT_REACTIONS {
                    return Ok(Reacted::TooMany);
                }
            }
            let row = message_reaction::ActiveModel {
                message_id: sea_orm::Set(message_id),
                emoji: sea_orm::Set(key.1),
                user_id: sea_orm::Set(user_id),
                created_at: sea_orm::Set(now()),
            };
            message_reaction::Entity::insert(row).exec_without_returning(&txn).await?;
            held + 1
        } else {
            message_reaction::Entity::delete_by_id(key).exec(&txn).await?;
            held - 1
        };
        txn.commit().await?;
        Ok(Reacted::Changed(count))
    }

    /// The reactions on these messages as `reader` sees them, each message's in order of first
    /// use, in two queries however many messages.
    pub async fn reactions(
        &self,
        message_ids: &[MessageId],
        reader: UserId,
    ) -> Result<HashMap<MessageId, Vec<ReactionCount>>, StoreError> {
        let mut out: HashMap<MessageId, Vec<ReactionCount>> = HashMap::new();
        if message_ids.is_empty() {
            return Ok(out);
        }
        let counts: Vec<(MessageId, String, i64, OffsetDateTime)> = message_reaction::Entity::find()
            .select_only()
            .column(message_reaction::Column::MessageId)
            .column(message_reaction::Column::Emoji)
            .column_as(message_reaction::Column::UserId.count(), "n")
            .column_as(message_reaction::Column::CreatedAt.min(), "first")
            .filter(message_reaction::Column::MessageId.is_in(message_ids.iter().copied()))
            .group_by(message_reaction::Column::MessageId)
            .group_by(message_reaction::Column::Emoji)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mine: HashSet<(MessageId, String)> = message_reaction::Entity::find()
            .select_only()
            .column(message_reaction::Column::MessageId)
            .column(message_reaction::Column::Emoji)
            .filter(message_reaction::Column::MessageId.is_in(message_ids.iter().copied()))
            .filter(message_reaction::Column::UserId.eq(reader))
            .into_tuple::<(MessageId, String)>()
            .all(&self.db)
            .await?
            .into_iter()
            .collect();
        // Each emoji with its first use, sorted by it, then the first use dropped.
        let mut by_message: HashMap<MessageId, Vec<(OffsetDateTime, ReactionCount)>> = HashMap::new();
        for (id, emoji, n, first) in counts {
            let mine = mine.contains(&(id, emoji.clone()));
            let reaction = ReactionCount { emoji, count: u64::try_from(n).unwrap_or(0), mine };
            by_message.entry(id).or_default().push((first, reaction));
        }
        for (id, mut reactions) in by_message {
            reactions.sort_by(|(a_first, a), (b_first, b)| a_first.cmp(b_first).then_with(|| a.emoji.cmp(&b.emoji)));
            out.insert(id, reactions.into_iter().map(|(_, reaction)| reaction).collect());
        }
        Ok(out)
    }
}
