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
        let of_emoji = || {
            message_reaction::Entity::find()
                .filter(message_reaction::Column::MessageId.eq(message_id))
                .filter(message_reaction::Column::Emoji.eq(emoji.as_str()))
        };
        let mine = message_reaction::Entity::find_by_id((message_id, emoji.as_str().to_owned(), user_id))
            .one(&txn)
            .await?
            .is_some();
        if mine == add {
            return Ok(Reacted::Unchanged(of_emoji().count(&txn).await?));
        }
        if add {
            let present = of_emoji().count(&txn).await? > 0;
            if !present {
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
                emoji: sea_orm::Set(emoji.as_str().to_owned()),
                user_id: sea_orm::Set(user_id),
                created_at: sea_orm::Set(now()),
            };
            message_reaction::Entity::insert(row).exec_without_returning(&txn).await?;
        } else {
            message_reaction::Entity::delete_by_id((message_id, emoji.as_str().to_owned(), user_id)).exec(&txn).await?;
        }
        let count = of_emoji().count(&txn).await?;
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
        let mut firsts: HashMap<(MessageId, String), OffsetDateTime> = HashMap::new();
        for (id, emoji, n, first) in counts {
            let key = (id, emoji);
            let mine = mine.contains(&key);
            let (id, emoji) = key;
            firsts.insert((id, emoji.clone()), first);
            out.entry(id).or_default().push(ReactionCount { emoji, count: u64::try_from(n).unwrap_or(0), mine });
        }
        for (id, reactions) in &mut out {
            reactions.sort_by(|a, b| {
                let first = |r: &ReactionCount| firsts.get(&(*id, r.emoji.clone())).copied();
                first(a).cmp(&first(b)).then_with(|| a.emoji.cmp(&b.emoji))
            });
        }
        Ok(out)
    }
}
