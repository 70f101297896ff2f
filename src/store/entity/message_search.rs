//! `message_search`: each live text in its folded form, numbered in the order it was indexed.
//! On SQLite the FTS5 table `message_search_fts` indexes it (kept in step by triggers); on
//! PostgreSQL a `pg_trgm` GIN index does.

use crate::domain::{ChatId, MessageId};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message_search")]
pub struct Model {
    /// The order of results and the cursor of their pages.
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub message_id: MessageId,
    pub chat_id: ChatId,
    /// The text as [`crate::domain::search::fold`] makes it.
    pub body: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
