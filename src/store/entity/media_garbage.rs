//! `media_garbage`: prefixes of stored objects that must be deleted. No foreign keys: a row
//! outlives the record that pointed at the objects.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "media_garbage")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub prefix: String,
    /// Not collected before this: a grace period for uploads in progress, or a retry backoff.
    pub not_before: TimeDateTimeWithTimeZone,
    pub attempts: i32,
    pub created_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
