//! Shared secrets (`server_secrets`): random bytes that every instance on one database uses,
//! made once by whichever asks first.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::{DbErr, EntityTrait, Set};

use super::entity::server_secret;
use super::{Store, StoreError, now};

/// Bytes in a new secret.
const SECRET_BYTES: usize = 32;

impl Store {
    /// The secret called `name`, made now if there is none yet. Instances asking at once agree:
    /// the name is the primary key, and a second insert does nothing.
    pub async fn shared_secret(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        if let Some(secret) = self.stored_secret(name).await? {
            return Ok(secret);
        }
        let mut bytes = [0; SECRET_BYTES];
        getrandom::fill(&mut bytes).map_err(|err| DbErr::Custom(format!("no system randomness: {err}")))?;
        let row = server_secret::ActiveModel {
            name: Set(name.to_owned()),
            value: Set(URL_SAFE_NO_PAD.encode(bytes)),
            created_at: Set(now()),
        };
        server_secret::Entity::insert(row).on_conflict_do_nothing().exec(&self.db).await?;
        self.stored_secret(name)
            .await?
            .ok_or_else(|| StoreError::Db(DbErr::Custom(format!("secret {name} was not stored"))))
    }

    async fn stored_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(row) = server_secret::Entity::find_by_id(name.to_owned()).one(&self.db).await? else {
            return Ok(None);
        };
        URL_SAFE_NO_PAD
            .decode(row.value)
            .map(Some)
            .map_err(|_| StoreError::Db(DbErr::Custom(format!("the stored secret {name} is not base64url"))))
    }
}
