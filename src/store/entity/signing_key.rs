//! `signing_keys`: the access-token signing keys every instance shares, one row per
//! generation, when no key files are configured. A secret: never logged or audited.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_keys")]
pub struct Model {
    /// 1 for the first key, one more for each rotation; the primary key is what makes two
    /// instances starting at once agree on a single first key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub generation: i64,
    /// The public key's RFC 7638 thumbprint, as in the JWKS and the tokens' `kid`.
    pub kid: String,
    /// PKCS#8 PEM of the Ed25519 private key.
    pub private_key: String,
    pub created_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
