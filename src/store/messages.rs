//! Messages: sending (idempotent by `client_id`), history pages, edits, tombstones, likes and
//! read markers.
//!
//! A message id is a UUID v7 taken while the chat's row is locked and always above the chat's
//! previous one, so within a chat ids rise in commit order: a page read with `after` can never
//! miss a message that commits later with a smaller id.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::audit::Audited;
use super::entity::{attachment, chat, chat_member, message, message_like, message_reaction};
use super::members::{Actor, Member, authorize_actor, lock_chat, unread_counts};
use super::{Store, StoreError, audit, media, mentions, now, search};
use crate::domain::chat::Action;
use crate::domain::{AttachmentId, ChatId, MessageId, MessageKind, SystemEvent, UserId};

/// Where a forwarded message first came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forwarded {
    pub chat_id: ChatId,
    pub message_id: MessageId,
    pub author_id: Option<UserId>,
}

/// A message as stored. A deleted one is a tombstone: no text, attachment or system record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub chat_id: ChatId,
    pub author_id: Option<UserId>,
    pub kind: MessageKind,
    pub text: Option<String>,
    pub system: Option<SystemEvent>,
    pub attachment_id: Option<AttachmentId>,
    pub reply_to: Option<MessageId>,
    pub forwarded: Option<Forwarded>,
    pub client_id: Option<String>,
    pub created_at: OffsetDateTime,
    pub edited_at: Option<OffsetDateTime>,
    pub deleted_at: Option<OffsetDateTime>,
}

impl From<message::Model> for Message {
    fn from(row: message::Model) -> Self {
        let forwarded = match (row.forwarded_chat_id, row.forwarded_message_id) {
            (Some(chat_id), Some(message_id)) => {
                Some(Forwarded { chat_id, message_id, author_id: row.forwarded_author_id })
            }
            _ => None,
        };
        Self {
            id: row.id,
            chat_id: row.chat_id,
            author_id: row.author_id,
            kind: row.kind,
            text: row.text,
            system: row.system,
            attachment_id: row.attachment_id,
            reply_to: row.reply_to,
            forwarded,
            client_id: row.client_id,
            created_at: row.created_at,
            edited_at: row.edited_at,
            deleted_at: row.deleted_at,
        }
    }
}

/// A message about to be written. The chat service has validated its parts.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub chat_id: ChatId,
    pub author_id: UserId,
    pub kind: MessageKind,
    pub text: Option<String>,
    pub system: Option<SystemEvent>,
    pub attachment_id: Option<AttachmentId>,
    pub reply_to: Option<MessageId>,
    pub forwarded: Option<Forwarded>,
    pub client_id: Option<String>,
}

impl NewMessage {
    pub fn system(chat_id: ChatId, actor: UserId, event: SystemEvent) -> Self {
        Self {
            chat_id,
            author_id: actor,
            kind: MessageKind::System,
            text: None,
            system: Some(event),
            attachment_id: None,
            reply_to: None,
            forwarded: None,
            client_id: None,
        }
    }
}

/// The outcome of [`Store::send_message`].
#[derive(Debug, Clone)]
pub struct Sent {
    pub message: Message,
    /// `false` for the earlier message of a repeated `client_id`.
    pub created: bool,
    /// The chat's roster version the message was sent to (see [`Store::roster`]); `None` when
    /// nothing was sent.
    pub roster: Option<i64>,
}

/// Where a history page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// The newest messages.
    Latest,
    /// Messages older than this one.
    Before(MessageId),
    /// Messages newer than this one, the oldest of them first in line.
    After(MessageId),
}

/// A history page, newest first, and whether more lie beyond it in the direction read.
#[derive(Debug, Clone)]
pub struct Page {
    pub messages: Vec<Message>,
    pub more: bool,
}

/// A message's likes as one reader sees them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Likes {
    pub count: u64,
    pub mine: bool,
}

/// The next id for a locked chat: time-ordered and above the chat's last one, even if this
/// instance's clock is behind the one that wrote it.
fn next_message_id(last: Option<MessageId>) -> MessageId {
    let id = MessageId::new();
    match last {
        Some(last) if id <= last => MessageId::from_uuid(Uuid::from_u128(last.uuid().as_u128().wrapping_add(1))),
        _ => id,
    }
}

/// Makes `id` the chat's newest message (its activity, last message and message total) in one
/// `UPDATE`, and returns the chat's roster version. With `only_above`, only if `id` is above
/// the chat's last one; `None` if no row was changed.
async fn touch_chat(
    txn: &DatabaseTransaction,
    chat_id: ChatId,
    id: MessageId,
    at: OffsetDateTime,
    only_above: bool,
) -> Result<Option<i64>, DbErr> {
    let mut touch = Query::update()
        .table(chat::Entity)
        .value(chat::Column::LastActivityAt, at)
        .value(chat::Column::LastMessageId, id)
        .value(chat::Column::MessageTotal, Expr::col(chat::Column::MessageTotal).add(1))
        .and_where(chat::Column::Id.eq(chat_id))
        .returning_col(chat::Column::RosterVersion)
        .to_owned();
    if only_above {
        touch.and_where(chat::Column::LastMessageId.is_null().or(chat::Column::LastMessageId.lt(id)));
    }
    match txn.query_one(&touch).await? {
        Some(row) => Ok(Some(row.try_get("", "roster_version")?)),
        None => Ok(None),
    }
}

/// A message id a chat has taken under its lock, and the roster (member list version) the
/// message goes to.
#[derive(Debug, Clone, Copy)]
struct Claim {
    id: MessageId,
    roster: i64,
}

/// Locks a chat and takes its next message id, making it the chat's newest; `None` if the chat
/// is gone. Usually one statement: a fresh id is above the chat's last one, and the `UPDATE`
/// that records it is also the lock (a row lock on PostgreSQL; on SQLite the transaction holds
/// the write lock already). When this instance's clock is behind the one that wrote the last id
/// (or a sender that lost the race for the lock drew a smaller one), it locks, reads the last id
/// and goes one above it.
async fn claim_message_id(
    txn: &DatabaseTransaction,
    chat_id: ChatId,
    at: OffsetDateTime,
) -> Result<Option<Claim>, DbErr> {
    let id = MessageId::new();
    if let Some(roster) = touch_chat(txn, chat_id, id, at, true).await? {
        return Ok(Some(Claim { id, roster }));
    }
    let Some(chat_row) = lock_chat(txn, chat_id).await? else { return Ok(None) };
    let id = next_message_id(chat_row.last_message_id);
    touch_chat(txn, chat_id, id, at, false).await?;
    Ok(Some(Claim { id, roster: chat_row.roster_version }))
}

/// Counts a message of `author`'s as read by its author: unread for everyone else by the chat's
/// total alone (newer than any read marker, since ids only rise). One row, whatever the chat's
/// size; `false` if `author` is not a member (an operator's system message, or a sender removed
/// a moment ago).
async fn count_own_in(txn: &DatabaseTransaction, chat_id: ChatId, author: UserId) -> Result<bool, DbErr> {
    let own = Query::update()
        .table(chat_member::Entity)
        .value(chat_member::Column::OwnSinceRead, Expr::col(chat_member::Column::OwnSinceRead).add(1))
        .and_where(chat_member::Column::ChatId.eq(chat_id))
        .and_where(chat_member::Column::UserId.eq(author))
        .to_owned();
    Ok(txn.execute(&own).await?.rows_affected() == 1)
}

/// Inserts a message into a chat locked by this transaction and makes it the chat's newest.
pub(super) async fn insert_message_in(
    txn: &DatabaseTransaction,
    chat_row: &chat::Model,
    new: NewMessage,
) -> Result<Message, DbErr> {
    let id = next_message_id(chat_row.last_message_id);
    let at = now();
    touch_chat(txn, new.chat_id, id, at, false).await?;
    count_own_in(txn, new.chat_id, new.author_id).await?;
    write_message_in(txn, id, at, new).await
}

/// Writes the row of a message whose id the chat has taken, and its search entry and mentions.
async fn write_message_in(
    txn: &DatabaseTransaction,
    id: MessageId,
    at: OffsetDateTime,
    new: NewMessage,
) -> Result<Message, DbErr> {
    let forwarded = new.forwarded;
    let row = message::ActiveModel {
        id: Set(id),
        chat_id: Set(new.chat_id),
        author_id: Set(Some(new.author_id)),
        kind: Set(new.kind),
        text: Set(new.text),
        system: Set(new.system),
        attachment_id: Set(new.attachment_id),
        reply_to: Set(new.reply_to),
        forwarded_chat_id: Set(forwarded.map(|f| f.chat_id)),
        forwarded_message_id: Set(forwarded.map(|f| f.message_id)),
        forwarded_author_id: Set(forwarded.and_then(|f| f.author_id)),
        client_id: Set(new.client_id),
        created_at: Set(at),
        edited_at: Set(None),
        deleted_at: Set(None),
    }
    .insert(txn)
    .await?;
    search::index_in(txn, &row).await?;
    if let (Some(text), None, false) = (&row.text, forwarded, row.kind == MessageKind::System) {
        mentions::mention_in(txn, row.chat_id, id, row.author_id, text).await?;
    }
    Ok(row.into())
}

/// A plain text send on PostgreSQL as one statement, so one round trip and one commit: the
/// statements of [`Store::send_message`]'s usual path chained as data-modifying CTEs, each
/// running only if the one before it did, so that it writes everything or nothing.
///
/// - `locked` locks the chat row (`FOR NO KEY UPDATE`, as an `UPDATE` of it would), first as
///   every writer of a chat does, and only if the new id is above its last one (checked again
///   on the row as it is once the lock is had);
/// - `own` counts the message as read by its author, which is also the membership check: a
///   member removed while this waited for the lock has no row left to update;
/// - `touched` makes the message the chat's newest and returns the roster it goes to;
/// - `written` and `indexed` insert the row and its search entry.
///
/// Sub-statements of one statement share a snapshot, but each `UPDATE` of a row another
/// transaction changed meanwhile goes on from that row's newest version, as a single `UPDATE`
/// would. A membership inserted while this waited is not in that snapshot, so a send that finds
/// none takes the full path, whose check reads after the lock. Foreign keys are checked at the
/// end of the statement, when the message exists.
const SEND_TEXT_IN_ONE_STATEMENT: &str = "\
WITH locked AS (
    SELECT roster_version FROM chats
    WHERE id = $1 AND (last_message_id IS NULL OR last_message_id < $2)
    FOR NO KEY UPDATE
), own AS (
    UPDATE chat_members SET own_since_read = own_since_read + 1
    WHERE chat_id = $1 AND user_id = $3 AND EXISTS (SELECT FROM locked)
    RETURNING user_id
), touched AS (
    UPDATE chats SET last_activity_at = $4, last_message_id = $2, message_total = message_total + 1
    WHERE id = $1 AND EXISTS (SELECT FROM own)
    RETURNING roster_version
), written AS (
    INSERT INTO messages (id, chat_id, author_id, kind, text, client_id, created_at)
    SELECT $2, $1, $3, $5, $6, $7, $4 FROM touched
    RETURNING id
), indexed AS (
    INSERT INTO message_search (message_id, chat_id, body) SELECT id, $1, $8 FROM written
)
SELECT (SELECT roster_version FROM touched) AS roster";

/// [`SEND_TEXT_IN_ONE_STATEMENT`] for SQLite, which has no data-modifying CTEs: the same writes
/// as statements of one string, so one hand-off to the connection's worker thread instead of one
/// per statement (on two cores that hand-off, not SQLite, was most of a send's cost). They run
/// inside the caller's transaction, whose first statement here takes the database's write lock,
/// so nothing changes between them; each after the first runs only if the message row was
/// written, which needs the chat with its last id below this one and the author's membership.
/// Parameters are numbered (`?1`…`?8`, those of the PostgreSQL statement) and shared by all.
const SEND_TEXT_SQLITE: &str = "\
INSERT INTO messages (id, chat_id, author_id, kind, text, client_id, created_at)
    SELECT ?2, ?1, ?3, ?5, ?6, ?7, ?4
    WHERE EXISTS (SELECT 1 FROM chats WHERE id = ?1 AND (last_message_id IS NULL OR last_message_id < ?2))
    AND EXISTS (SELECT 1 FROM chat_members WHERE chat_id = ?1 AND user_id = ?3);
INSERT INTO message_search (message_id, chat_id, body) SELECT id, ?1, ?8 FROM messages WHERE id = ?2;
UPDATE chat_members SET own_since_read = own_since_read + 1
    WHERE chat_id = ?1 AND user_id = ?3 AND EXISTS (SELECT 1 FROM messages WHERE id = ?2);
UPDATE chats SET last_activity_at = ?4, last_message_id = ?2, message_total = message_total + 1
    WHERE id = ?1 AND EXISTS (SELECT 1 FROM messages WHERE id = ?2)
    RETURNING roster_version AS roster";

/// A text message that replies to, attaches, forwards and names nobody (the usual message,
/// whose checks are all in the statements) in one round trip: [`SEND_TEXT_IN_ONE_STATEMENT`] on
/// PostgreSQL, [`SEND_TEXT_SQLITE`] in a transaction on SQLite. `None` if nothing was written:
/// the chat is gone, its last id is above this instance's clock, the `client_id` was used before,
/// or no membership was found (perhaps one that committed while this waited for the lock); the
/// full path knows which.
async fn send_text_at_once(
    db: &sea_orm::DatabaseConnection,
    new: &NewMessage,
    text: &str,
) -> Result<Option<Sent>, DbErr> {
    let backend = db.get_database_backend();
    // The id is drawn as late as each backend allows: one drawn before a wait for the chat may
    // be below the id of the send that went first, and that send takes the full path.
    let draw = || (MessageId::new(), now());
    let statement = |(id, at): (MessageId, OffsetDateTime)| {
        sea_orm::Statement::from_sql_and_values(
            backend,
            if backend == sea_orm::DbBackend::Postgres { SEND_TEXT_IN_ONE_STATEMENT } else { SEND_TEXT_SQLITE },
            [
                new.chat_id.into(),
                id.into(),
                new.author_id.into(),
                at.into(),
                MessageKind::Text.into(),
                text.into(),
                new.client_id.clone().into(),
                crate::domain::search::fold(text).into(),
            ],
        )
    };
    // A `client_id` used before: the full path returns that message.
    let taken = |err: &DbErr| matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)));
    let ((id, at), roster) = if backend == sea_orm::DbBackend::Postgres {
        let drawn = draw();
        match db.query_one_raw(statement(drawn)).await {
            Ok(row) => (drawn, row.map(|row| row.try_get::<Option<i64>>("", "roster")).transpose()?.flatten()),
            Err(err) if taken(&err) => (drawn, None),
            Err(err) => return Err(err),
        }
    } else {
        // Rolled back when dropped, so an error half-way leaves nothing. This process's writers
        // queue for the one writer connection here, before the id is drawn.
        let txn = sea_orm::TransactionTrait::begin(db).await?;
        let drawn = draw();
        let roster = match txn.query_all_raw(statement(drawn)).await {
            Ok(rows) => rows.last().map(|row| row.try_get::<i64>("", "roster")).transpose()?,
            Err(err) if taken(&err) => None,
            Err(err) => return Err(err),
        };
        match roster {
            Some(_) => txn.commit().await?,
            None => txn.rollback().await?,
        }
        (drawn, roster)
    };
    let Some(roster) = roster else { return Ok(None) };
    let message = Message {
        id,
        chat_id: new.chat_id,
        author_id: Some(new.author_id),
        kind: MessageKind::Text,
        text: Some(text.to_owned()),
        system: None,
        attachment_id: None,
        reply_to: None,
        forwarded: None,
        client_id: new.client_id.clone(),
        created_at: at,
        edited_at: None,
        deleted_at: None,
    };
    Ok(Some(Sent { message, created: true, roster: Some(roster) }))
}

impl Store {
    /// Sends a message as a member of its chat. With a `client_id` the author already used in
    /// this chat, the earlier message is returned instead (`created: false`). `None` if the
    /// author is not a member (any more) or the chat is gone.
    pub async fn send_message(&self, new: NewMessage) -> Result<Option<Sent>, StoreError> {
        if let (MessageKind::Text, Some(text), None, None, None) =
            (new.kind, &new.text, new.attachment_id, new.reply_to, new.forwarded)
            && crate::domain::mention::mentioned(text).is_empty()
            && let Some(sent) = send_text_at_once(&self.writer, &new, text).await?
        {
            return Ok(Some(sent));
        }
        // Writes first, checks after, the transaction rolled back on a refusal: on the usual
        // path a send is the chat's UPDATE, the author's, the INSERT and its search entry.
        let txn = self.begin_with_a_write().await?;
        let at = now();
        let Some(claim) = claim_message_id(&txn, new.chat_id, at).await? else { return Ok(None) };
        // Membership is checked under the chat's lock: a member removed a moment ago cannot slip
        // a message in after the removal committed.
        if !count_own_in(&txn, new.chat_id, new.author_id).await? {
            return Ok(None);
        }
        if let Some(client_id) = &new.client_id {
            let earlier = message::Entity::find()
                .filter(message::Column::ChatId.eq(new.chat_id))
                .filter(message::Column::AuthorId.eq(new.author_id))
                .filter(message::Column::ClientId.eq(client_id.as_str()))
                .one(&txn)
                .await?;
            if let Some(earlier) = earlier {
                return Ok(Some(Sent { message: earlier.into(), created: false, roster: None }));
            }
        }
        if let Some(reply_to) = new.reply_to {
            let found = message::Entity::find_by_id(reply_to).one(&txn).await?;
            if found.is_none_or(|m| m.chat_id != new.chat_id) {
                return Err(StoreError::Invalid("reply_to", "is not a message of this chat"));
            }
        }
        if let (Some(attachment_id), None) = (new.attachment_id, new.forwarded) {
            attach_in(&txn, attachment_id, new.author_id, new.kind).await?;
        }
        let message = write_message_in(&txn, claim.id, at, new).await?;
        txn.commit().await?;
        Ok(Some(Sent { message, created: true, roster: Some(claim.roster) }))
    }

    /// One message of a chat, tombstones included.
    pub async fn message(&self, chat_id: ChatId, message_id: MessageId) -> Result<Option<Message>, StoreError> {
        Ok(self.message_anywhere(message_id).await?.filter(|m| m.chat_id == chat_id))
    }

    /// Messages by id, in no particular order.
    pub async fn messages_by_ids(&self, ids: &[MessageId]) -> Result<Vec<Message>, StoreError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let rows = message::Entity::find().filter(message::Column::Id.is_in(ids.iter().copied())).all(&self.db).await?;
        Ok(rows.into_iter().map(Message::from).collect())
    }

    /// A page of a chat's history, newest first: one range scan of `(chat_id, id)`.
    pub async fn history(&self, chat_id: ChatId, cursor: Cursor, limit: u64) -> Result<Page, StoreError> {
        let query = message::Entity::find().filter(message::Column::ChatId.eq(chat_id)).limit(limit + 1);
        let query = match cursor {
            Cursor::Latest => query.order_by_desc(message::Column::Id),
            Cursor::Before(id) => query.filter(message::Column::Id.lt(id)).order_by_desc(message::Column::Id),
            Cursor::After(id) => query.filter(message::Column::Id.gt(id)).order_by_asc(message::Column::Id),
        };
        let mut messages: Vec<Message> = query.all(&self.db).await?.into_iter().map(Message::from).collect();
        let more = messages.len() as u64 > limit;
        messages.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        if matches!(cursor, Cursor::After(_)) {
            messages.reverse();
        }
        Ok(Page { messages, more })
    }

    /// Replaces the text of a live message; `None` if it is gone.
    pub async fn edit_message(
        &self,
        editor: UserId,
        chat_id: ChatId,
        message_id: MessageId,
        text: String,
    ) -> Result<Option<Message>, StoreError> {
        let txn = self.begin_write().await?;
        if lock_chat(&txn, chat_id).await?.is_none() {
            return Ok(None);
        }
        let Some(row) = message::Entity::find_by_id(message_id).one(&txn).await? else { return Ok(None) };
        if row.chat_id != chat_id || row.deleted_at.is_some() {
            return Ok(None);
        }
        let before = row.clone();
        let mut active = row.into_active_model();
        active.text = Set(Some(text.clone()));
        active.edited_at = Set(Some(now()));
        let row = active.update(&txn).await?;
        search::reindex_in(&txn, message_id, &text).await?;
        if row.forwarded_message_id.is_none() {
            mentions::remention_in(&txn, chat_id, message_id, row.author_id, &text).await?;
        }
        audit::record(&txn, Some(editor), "edit", Some(&before), Some(&row)).await?;
        txn.commit().await?;
        Ok(Some(row.into()))
    }

    /// Turns a message into a tombstone: its text, attachment and likes go, the row stays so
    /// replies and history keep their place. An attachment no other message shows is queued for
    /// deletion and its prefix returned. `None` if the message is not in the chat.
    pub async fn delete_message(
        &self,
        actor: impl Into<Actor>,
        chat_id: ChatId,
        message_id: MessageId,
    ) -> Result<Option<(Message, Option<String>)>, StoreError> {
        let actor: Actor = actor.into();
        let by = actor.user_id();
        let txn = self.begin_write().await?;
        let Some(chat_row) = lock_chat(&txn, chat_id).await? else { return Ok(None) };
        let Some(row) = message::Entity::find_by_id(message_id).one(&txn).await? else { return Ok(None) };
        if row.chat_id != chat_id {
            return Ok(None);
        }
        let own = actor == Actor::Member(by) && row.author_id == Some(by);
        if !own && !authorize_actor(&txn, &chat_row, actor, Action::DeleteOthersMessage).await? {
            return Ok(None);
        }
        if row.deleted_at.is_some() {
            return Ok(Some((row.into(), None)));
        }
        let before = row.clone();
        // No longer unread for those who had not read it: the tombstone itself says so (see
        // `members::unread_counts`), no membership is written.
        mentions::unmention_in(&txn, chat_id, message_id).await?;
        search::unindex_in(&txn, message_id).await?;
        let attachment_id = row.attachment_id;
        let mut active = row.into_active_model();
        active.text = Set(None);
        active.system = Set(None);
        active.attachment_id = Set(None);
        active.deleted_at = Set(Some(now()));
        let row = active.update(&txn).await?;
        message_like::Entity::delete_many().filter(message_like::Column::MessageId.eq(message_id)).exec(&txn).await?;
        message_reaction::Entity::delete_many()
            .filter(message_reaction::Column::MessageId.eq(message_id))
            .exec(&txn)
            .await?;
        let garbage = match attachment_id {
            Some(id) => discard_unused_attachment_in(&txn, id).await?,
            None => None,
        };
        audit::record(&txn, Some(by), "delete", Some(&before), None).await?;
        txn.commit().await?;
        Ok(Some((row.into(), garbage)))
    }

    /// Likes a message; `false` if `user_id` already did.
    pub async fn like(&self, user_id: UserId, message_id: MessageId) -> Result<bool, StoreError> {
        let insert = Query::insert()
            .into_table(message_like::Entity)
            .columns([message_like::Column::MessageId, message_like::Column::UserId, message_like::Column::CreatedAt])
            .values_panic([message_id.into(), user_id.into(), now().into()])
            .on_conflict(
                OnConflict::columns([message_like::Column::MessageId, message_like::Column::UserId])
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        Ok(self.db.execute(&insert).await?.rows_affected() > 0)
    }

    /// Takes a like back; `false` if there was none.
    pub async fn unlike(&self, user_id: UserId, message_id: MessageId) -> Result<bool, StoreError> {
        let deleted = message_like::Entity::delete_by_id((message_id, user_id)).exec(&self.db).await?;
        Ok(deleted.rows_affected > 0)
    }

    /// Like counts of these messages and whether `reader` likes each, in two queries.
    pub async fn likes(
        &self,
        message_ids: &[MessageId],
        reader: UserId,
    ) -> Result<HashMap<MessageId, Likes>, StoreError> {
        let mut likes: HashMap<MessageId, Likes> = HashMap::new();
        if message_ids.is_empty() {
            return Ok(likes);
        }
        let counts: Vec<(MessageId, i64)> = message_like::Entity::find()
            .select_only()
            .column(message_like::Column::MessageId)
            .column_as(message_like::Column::UserId.count(), "n")
            .filter(message_like::Column::MessageId.is_in(message_ids.iter().copied()))
            .group_by(message_like::Column::MessageId)
            .into_tuple()
            .all(&self.db)
            .await?;
        for (id, n) in counts {
            likes.entry(id).or_default().count = u64::try_from(n).unwrap_or(0);
        }
        let mine: Vec<MessageId> = message_like::Entity::find()
            .select_only()
            .column(message_like::Column::MessageId)
            .filter(message_like::Column::MessageId.is_in(message_ids.iter().copied()))
            .filter(message_like::Column::UserId.eq(reader))
            .into_tuple()
            .all(&self.db)
            .await?;
        for id in mine {
            likes.entry(id).or_default().mine = true;
        }
        Ok(likes)
    }

    /// Moves a member's read marker forward to `message_id` (never back) and sets the totals
    /// their unread count is derived from: the chat's messages up to the marker, and their own
    /// after it; and recounts their unread mentions. Returns whether it moved, the membership
    /// as it now is and its unread count; `None` if `user_id` is not a member.
    ///
    /// Under the chat's lock, so a message committed meanwhile is either counted here or by the
    /// chat's total, never lost between the two. The counts are ranges of `(chat_id, id)` above
    /// the new marker: what arrived after the message just read, usually nothing.
    pub async fn mark_read(
        &self,
        user_id: UserId,
        chat_id: ChatId,
        message_id: MessageId,
    ) -> Result<Option<(bool, Member, u64)>, StoreError> {
        let txn = self.begin_write().await?;
        let Some(chat_row) = lock_chat(&txn, chat_id).await? else { return Ok(None) };
        let after = || {
            Query::select()
                .expr(Expr::col(message::Column::Id).count())
                .from(message::Entity)
                .and_where(message::Column::ChatId.eq(chat_id))
                .and_where(message::Column::Id.gt(message_id))
                .to_owned()
        };
        let read_total = Expr::val(chat_row.message_total).sub(Expr::SubQuery(None, Box::new(after().into())));
        let own = after().and_where(message::Column::AuthorId.eq(user_id)).to_owned();
        let update = Query::update()
            .table(chat_member::Entity)
            .value(chat_member::Column::LastReadId, message_id)
            .value(chat_member::Column::ReadTotal, read_total)
            .value(chat_member::Column::OwnSinceRead, Expr::SubQuery(None, Box::new(own.into())))
            .value(
                chat_member::Column::MentionCount,
                Expr::SubQuery(None, Box::new(mentions::unread_mentions(chat_id, user_id, message_id).into())),
            )
            .and_where(chat_member::Column::ChatId.eq(chat_id))
            .and_where(chat_member::Column::UserId.eq(user_id))
            .and_where(chat_member::Column::LastReadId.is_null().or(chat_member::Column::LastReadId.lt(message_id)))
            .to_owned();
        let moved = txn.execute(&update).await?.rows_affected() > 0;
        let Some(member) = chat_member::Entity::find_by_id((chat_id, user_id)).one(&txn).await? else {
            return Ok(None);
        };
        let unread = unread_counts(&txn, user_id, &[chat_id]).await?.remove(&chat_id).unwrap_or(0);
        txn.commit().await?;
        Ok(Some((moved, member.into(), unread)))
    }
}

/// Marks an upload as attached by its uploader, once, to a message of a fitting type.
async fn attach_in(
    txn: &DatabaseTransaction,
    attachment_id: AttachmentId,
    author: UserId,
    kind: MessageKind,
) -> Result<(), StoreError> {
    let row = attachment::Entity::find_by_id(attachment_id).one(txn).await?;
    let Some(row) = row.filter(|row| row.uploader_id == Some(author)) else {
        return Err(StoreError::Invalid("attachment_id", "is not an upload of yours"));
    };
    if row.attached_at.is_some() {
        return Err(StoreError::Invalid("attachment_id", "is already attached to a message"));
    }
    if kind == MessageKind::Image && row.kind != MessageKind::Image.as_str() {
        return Err(StoreError::Invalid("attachment_id", "is not an image; send it as a file message"));
    }
    if row.created_at + super::attachments::ATTACH_WITHIN < now() {
        return Err(StoreError::Invalid("attachment_id", "has expired; upload it again"));
    }
    // A message carries it now: its objects are no longer garbage.
    media::keep_in(txn, &row.storage_key).await?;
    let mut active = row.into_active_model();
    active.attached_at = Set(Some(now()));
    active.update(txn).await?;
    Ok(())
}

/// Deletes an attachment no message shows any more, queueing its objects; returns the prefix.
async fn discard_unused_attachment_in(
    txn: &DatabaseTransaction,
    attachment_id: AttachmentId,
) -> Result<Option<String>, DbErr> {
    let still_shown =
        message::Entity::find().filter(message::Column::AttachmentId.eq(attachment_id)).one(txn).await?.is_some();
    if still_shown {
        return Ok(None);
    }
    let Some(row) = attachment::Entity::find_by_id(attachment_id).one(txn).await? else { return Ok(None) };
    media::discard_in(txn, &row.storage_key, now()).await?;
    attachment::Entity::delete_by_id(attachment_id).exec(txn).await?;
    Ok(Some(row.storage_key))
}

impl Audited for message::Model {
    const ENTITY: &'static str = "message";

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    /// What a member wrote: the author is the subject, and their text goes when they do.
    fn snapshot(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "text": self.text, "attachment_id": self.attachment_id }))
    }

    fn subject(&self) -> Option<UserId> {
        self.author_id
    }
}
