//! The shared signing keys (`signing_keys`), for [`crate::auth::keyring`]. Only the key ring reads
//! or writes them; adding one is audited by generation and key id, never the key itself.

use sea_orm::{ActiveModelTrait, EntityTrait, QueryOrder, Set, SqlErr};
use time::OffsetDateTime;

use super::entity::signing_key;
use super::{AuditEntry, Store, StoreError, now};

/// One stored signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub generation: i64,
    pub kid: String,
    /// PKCS#8 PEM.
    pub private_key: String,
    pub created_at: OffsetDateTime,
}

impl From<signing_key::Model> for StoredKey {
    fn from(row: signing_key::Model) -> Self {
        Self { generation: row.generation, kid: row.kid, private_key: row.private_key, created_at: row.created_at }
    }
}

impl Store {
    /// Every stored signing key, oldest generation first.
    pub async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = signing_key::Entity::find().order_by_asc(signing_key::Column::Generation).all(&self.db).await?;
        Ok(rows.into_iter().map(StoredKey::from).collect())
    }

    /// Stores `generation`'s key; `false` if another instance stored one for it first.
    pub async fn add_signing_key(&self, generation: i64, kid: &str, private_key: &str) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let row = signing_key::ActiveModel {
            generation: Set(generation),
            kid: Set(kid.to_owned()),
            private_key: Set(private_key.to_owned()),
            created_at: Set(now()),
        };
        match row.insert(&txn).await {
            Ok(_) => {}
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => return Ok(false),
            Err(err) => return Err(err.into()),
        }
        let snapshot = serde_json::json!({ "generation": generation, "kid": kid });
        let entry = AuditEntry {
            actor_id: None,
            entity: "signing_key",
            entity_id: generation.to_string(),
            action: "create",
            before: None,
            after: Some(snapshot),
            subject_id: None,
        };
        entry.write(&txn).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Deletes the keys of `generations`: retired ones, which no live token can name any more.
    pub async fn delete_signing_keys(&self, generations: &[i64]) -> Result<(), StoreError> {
        for generation in generations {
            signing_key::Entity::delete_by_id(*generation).exec(&self.db).await?;
        }
        Ok(())
    }
}
