//! `media_holds`: while a row's `until` is ahead, no instance deletes stored media (a backup is
//! copying the objects its database snapshot names).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "media_holds")]
pub struct Model {
    /// Who holds it, e.g. `backup`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub until: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
