//! The search index: written in the transaction that writes the text (send, edit, delete), read
//! by [`Store::search_messages`]. See `migration.rs` (m0011) for the tables on each backend.

use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, Statement, TransactionTrait, Value,
};

use super::entity::{message, message_search};
use super::{Message, Store, StoreError};
use crate::domain::search::{SearchQuery, fold};
use crate::domain::{ChatId, MessageId, MessageKind, UserId};

/// A result: the message and where its page cursor stands.
#[derive(Debug, Clone)]
pub struct Found {
    pub seq: i64,
    pub message: Message,
}

/// Indexes a new message's text, if it has one to find.
pub(super) async fn index_in(txn: &DatabaseTransaction, row: &message::Model) -> Result<(), DbErr> {
    let Some(text) = row.text.as_deref().filter(|_| row.kind != MessageKind::System) else { return Ok(()) };
    let insert = Query::insert()
        .into_table(message_search::Entity)
        .columns([message_search::Column::MessageId, message_search::Column::ChatId, message_search::Column::Body])
        .values_panic([row.id.into(), row.chat_id.into(), fold(text).into()])
        .to_owned();
    txn.execute(&insert).await?;
    Ok(())
}

/// Indexes an edited text in place of the old one, keeping its place in the order.
pub(super) async fn reindex_in(txn: &DatabaseTransaction, message_id: MessageId, text: &str) -> Result<(), DbErr> {
    let update = Query::update()
        .table(message_search::Entity)
        .value(message_search::Column::Body, fold(text))
        .and_where(message_search::Column::MessageId.eq(message_id))
        .to_owned();
    txn.execute(&update).await?;
    Ok(())
}

/// Takes a deleted message out of the index.
pub(super) async fn unindex_in(txn: &DatabaseTransaction, message_id: MessageId) -> Result<(), DbErr> {
    let delete = Query::delete()
        .from_table(message_search::Entity)
        .and_where(message_search::Column::MessageId.eq(message_id))
        .to_owned();
    txn.execute(&delete).await?;
    Ok(())
}

impl Store {
    /// Messages of `reader`'s chats (or of the one chat given, whose membership the caller has
    /// checked) whose text contains `query`, newest first, at most `limit`, before the cursor
    /// `before` if given.
    ///
    /// A query of three characters or more is answered by the index (FTS5 on SQLite, `pg_trgm`
    /// on PostgreSQL), walked in `seq` order so the first page stops at the first `limit`
    /// matches; a shorter one is a scan of the one chat's texts.
    pub async fn search_messages(
        &self,
        reader: UserId,
        query: &SearchQuery,
        chat_id: Option<ChatId>,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<Found>, StoreError> {
        let backend = self.db.get_database_backend();
        let before = before.unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let folded = query.folded();
        let mut values: Vec<Value> = Vec::new();
        let mut param = |value: Value| {
            values.push(value);
            match backend {
                DbBackend::Postgres => format!("${}", values.len()),
                _ => "?".to_owned(),
            }
        };
        let sql = match (query.indexed(), chat_id) {
            (true, _) => {
                // The backend's substring match, and the order its index walks.
                let (from, matches, order) = match backend {
                    DbBackend::Postgres => {
                        let escaped = folded.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
                        let pattern = param(format!("%{escaped}%").into());
                        ("message_search s", format!("s.body LIKE {pattern} ESCAPE '\\'"), "s.seq")
                    }
                    _ => {
                        // One FTS5 phrase: the query's trigrams in a row, which is the substring.
                        let phrase = param(format!("\"{}\"", folded.replace('"', "\"\"")).into());
                        (
                            "message_search_fts f JOIN message_search s ON s.seq = f.rowid",
                            format!("f.body MATCH {phrase}"),
                            "f.rowid",
                        )
                    }
                };
                let mut sql = format!(
                    "SELECT s.seq, s.message_id FROM {from} WHERE {matches} AND {order} < {} \
                     AND s.chat_id IN (SELECT chat_id FROM chat_members WHERE user_id = {})",
                    param(before.into()),
                    param(reader.into()),
                );
                if let Some(chat_id) = chat_id {
                    sql.push_str(&format!(" AND s.chat_id = {}", param(chat_id.into())));
                }
                sql.push_str(&format!(" ORDER BY {order} DESC LIMIT {}", param(limit.into())));
                sql
            }
            (false, Some(chat_id)) => {
                // Parameters in the order they appear: SQLite's `?` are positional.
                let (chat, before) = (param(chat_id.into()), param(before.into()));
                let needle = param(folded.to_owned().into());
                let contains = match backend {
                    DbBackend::Postgres => format!("strpos(body, {needle}) > 0"),
                    _ => format!("instr(body, {needle}) > 0"),
                };
                format!(
                    "SELECT seq, message_id FROM message_search WHERE chat_id = {chat} AND seq < {before} AND {contains} \
                     ORDER BY seq DESC LIMIT {}",
                    param(limit.into()),
                )
            }
            (false, None) => return Ok(vec![]),
        };
        let statement = Statement::from_sql_and_values(backend, sql, values);
        let rows = if backend == DbBackend::Postgres {
            // A plan for these values, never the prepared statement's generic one: not knowing
            // the chat or the pattern, that one intersects the chat's whole range with every
            // match of the pattern (140 ms for a common word in a chat of 100,000 messages,
            // where walking the chat newest first finds a page in 8 ms).
            let txn = self.db.begin().await?;
            txn.execute_unprepared("SET LOCAL plan_cache_mode = force_custom_plan").await?;
            let rows = txn.query_all_raw(statement).await?;
            txn.commit().await?;
            rows
        } else {
            self.db.query_all_raw(statement).await?
        };
        let mut hits: Vec<(i64, MessageId)> = Vec::with_capacity(rows.len());
        for row in rows {
            hits.push((row.try_get("", "seq")?, row.try_get("", "message_id")?));
        }
        let ids: Vec<MessageId> = hits.iter().map(|(_, id)| *id).collect();
        let mut messages: std::collections::HashMap<MessageId, Message> =
            self.messages_by_ids(&ids).await?.into_iter().map(|m| (m.id, m)).collect();
        Ok(hits
            .into_iter()
            .filter_map(|(seq, id)| {
                messages.remove(&id).filter(|m| m.deleted_at.is_none()).map(|message| Found { seq, message })
            })
            .collect())
    }

    /// Whether the SQLite index agrees with its table (FTS5's own check); `true` on PostgreSQL,
    /// whose index is the database's to keep.
    pub async fn search_index_intact(&self) -> Result<bool, StoreError> {
        if self.db.get_database_backend() == DbBackend::Postgres {
            return Ok(true);
        }
        let check = "INSERT INTO message_search_fts(message_search_fts, rank) VALUES ('integrity-check', 1)";
        match self.db.execute_unprepared(check).await {
            Ok(_) => Ok(true),
            Err(err) if err.to_string().contains("malformed") => Ok(false),
            Err(err) => Err(err.into()),
        }
    }
}
