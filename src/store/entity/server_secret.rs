//! `server_secrets`: secrets every instance must agree on, made by whichever starts first (the
//! key of attachment links, say). Never logged or audited.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "server_secrets")]
pub struct Model {
    /// What the secret is for, e.g. `attachment_links`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// Base64url of the random bytes.
    pub value: String,
    pub created_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
