//! Accounts: creation, lookup by identifier, and reads.

use sea_orm::{ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, Set, TransactionTrait};
use uuid::Uuid;

use super::entity::user;
use super::{AuditEntry, Store, StoreError, now, on_constraint};
use crate::domain::{Email, Gender, Identifier, Phone, User, Username};

/// A validated account about to be written.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Option<Username>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub gender: Gender,
    pub password_hash: String,
    pub is_admin: bool,
}

impl From<user::Model> for User {
    fn from(row: user::Model) -> Self {
        Self {
            id: row.id,
            username: row.username,
            email: row.email,
            phone: row.phone,
            first_name: row.first_name,
            last_name: row.last_name,
            gender: Gender::parse(&row.gender).unwrap_or_default(),
            is_admin: row.is_admin,
            is_active: row.is_active,
            created_at: row.created_at,
        }
    }
}

/// The audit snapshot of a user row: `password_hash` and `username_key` are `serde(skip)`.
fn snapshot(row: &user::Model) -> Option<serde_json::Value> {
    serde_json::to_value(row).ok()
}

impl Store {
    /// Creates an account; `actor` is who did it (the user themself when registering, `None` for
    /// the command line).
    pub async fn create_user(&self, new: NewUser, actor: Option<Uuid>) -> Result<User, StoreError> {
        let id = Uuid::now_v7();
        let at = now();
        let txn = self.db.begin().await?;
        let row = user::ActiveModel {
            id: Set(id),
            username_key: Set(new.username.as_ref().map(Username::key)),
            username: Set(new.username.map(|u| u.as_str().to_owned())),
            email: Set(new.email.map(|e| e.as_str().to_owned())),
            phone: Set(new.phone.map(|p| p.as_str().to_owned())),
            password_hash: Set(new.password_hash),
            first_name: Set(new.first_name),
            last_name: Set(new.last_name),
            gender: Set(new.gender.as_str().to_owned()),
            is_admin: Set(new.is_admin),
            is_active: Set(true),
            created_at: Set(at),
            updated_at: Set(at),
        }
        .insert(&txn)
        .await
        .map_err(on_constraint)?;
        AuditEntry {
            actor_id: actor.or(Some(id)),
            entity: "user",
            entity_id: id.to_string(),
            action: "create",
            before: None,
            after: snapshot(&row),
        }
        .write(&txn)
        .await?;
        txn.commit().await?;
        self.forget_user(id);
        Ok(row.into())
    }

    /// The account an identifier names, with its password hash, for login.
    pub async fn find_login(&self, identifier: &Identifier) -> Result<Option<(User, String)>, DbErr> {
        let column = match identifier {
            Identifier::Username(_) => user::Column::UsernameKey,
            Identifier::Email(_) => user::Column::Email,
            Identifier::Phone(_) => user::Column::Phone,
        };
        let row = user::Entity::find().filter(column.eq(identifier.key())).one(&self.db).await?;
        Ok(row.map(|row| {
            let hash = row.password_hash.clone();
            (row.into(), hash)
        }))
    }

    /// One account, served from the in-process cache when possible.
    pub async fn user(&self, id: Uuid) -> Result<Option<User>, DbErr> {
        if let Some(user) = self.users.get(&id) {
            return Ok(Some(user));
        }
        let user = user::Entity::find_by_id(id).one(&self.db).await?.map(User::from);
        if let Some(user) = &user {
            self.users.insert(id, user.clone());
        }
        Ok(user)
    }
}
