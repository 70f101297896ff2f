//! Sessions and their refresh tokens: creation, rotation with reuse detection, revocation.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Set,
};
use time::OffsetDateTime;

use super::StoreError;
use super::audit::Audited;
use super::entity::{refresh_token, session, user};
use super::{Store, audit, now};
use crate::domain::{SessionId, UserId};

/// A session about to be opened; `refresh_hash` is the SHA-256 of its first refresh token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub user_id: UserId,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub credential: Credential,
    pub expires_at: OffsetDateTime,
}

/// What a client holds for a session, as stored: only a hash of it.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A token pair's refresh token (the API).
    RefreshToken(String),
    /// The secret of a `parlor_session` cookie (the web site).
    WebCookie(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: SessionId,
    pub user_id: UserId,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub created_at: OffsetDateTime,
    pub last_used_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl From<session::Model> for SessionInfo {
    fn from(row: session::Model) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            user_agent: row.user_agent,
            ip: row.ip,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
        }
    }
}

/// What presenting a refresh token came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live; it is now rotated and `new_hash` is live instead.
    Rotated { session_id: SessionId, user_id: UserId },
    /// The token had been rotated before: someone replayed it, so the session is gone (RFC 9700).
    Reused { session_id: SessionId, user_id: UserId },
    /// The token was rotated within the grace time, by a concurrent request of its holder;
    /// nothing changed.
    Concurrent,
    /// Unknown token, or its session expired, was revoked or belongs to a disabled account.
    Invalid,
}

impl Audited for session::Model {
    const ENTITY: &'static str = "session";

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    fn snapshot(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self).ok()
    }

    fn subject(&self) -> Option<UserId> {
        Some(self.user_id)
    }
}

impl Store {
    pub async fn create_session(&self, new: NewSession) -> Result<SessionInfo, StoreError> {
        let at = now();
        let txn = self.begin_write().await?;
        let row = session::ActiveModel {
            id: Set(SessionId::new()),
            user_id: Set(new.user_id),
            user_agent: Set(new.user_agent),
            ip: Set(new.ip),
            created_at: Set(at),
            last_used_at: Set(at),
            expires_at: Set(new.expires_at),
            web_secret_hash: Set(match &new.credential {
                Credential::WebCookie(hash) => Some(hash.clone()),
                Credential::RefreshToken(_) => None,
            }),
        }
        .insert(&txn)
        .await?;
        if let Credential::RefreshToken(hash) = new.credential {
            refresh_token::ActiveModel {
                token_hash: Set(hash),
                session_id: Set(row.id),
                created_at: Set(at),
                rotated_at: Set(None),
            }
            .insert(&txn)
            .await?;
        }
        audit::record(&txn, Some(row.user_id), "create", None, Some(&row)).await?;
        txn.commit().await?;
        Ok(row.into())
    }

    /// Rotates `old_hash` to `new_hash`, or detects its reuse.
    ///
    /// The conditional update comes first, so two concurrent uses of one token serialise on the
    /// row (and on SQLite's write lock): exactly one of them rotates. The other is
    /// [`Rotation::Concurrent`] if the rotation is less than `grace` old and the session's newest
    /// token is the one it made (the holder raced itself: a client with two tabs, a retried
    /// request), else a reuse.
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: String,
        expires_at: OffsetDateTime,
        grace: std::time::Duration,
    ) -> Result<Rotation, StoreError> {
        let at = now();
        let txn = self.begin_write().await?;
        let claimed = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::RotatedAt, Expr::value(at))
            .filter(refresh_token::Column::TokenHash.eq(old_hash))
            .filter(refresh_token::Column::RotatedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        let Some(token) = refresh_token::Entity::find_by_id(old_hash).one(&txn).await? else {
            return Ok(Rotation::Invalid);
        };
        let Some((session, Some(owner))) =
            session::Entity::find_by_id(token.session_id).find_also_related(user::Entity).one(&txn).await?
        else {
            return Ok(Rotation::Invalid);
        };
        if !claimed {
            if token.rotated_at.is_some_and(|rotated| rotated + grace > at)
                && newest_token_of(&txn, session.id)
                    .await?
                    .is_some_and(|newest| newest.created_at == token.rotated_at.unwrap_or(at))
            {
                return Ok(Rotation::Concurrent);
            }
            let (session_id, user_id) = (session.id, session.user_id);
            delete_session_in(&txn, session, Some(user_id), "revoke_reused_refresh_token").await?;
            txn.commit().await?;
            return Ok(Rotation::Reused { session_id, user_id });
        }
        if session.expires_at <= at || !owner.is_active {
            return Ok(Rotation::Invalid);
        }
        refresh_token::ActiveModel {
            token_hash: Set(new_hash),
            session_id: Set(session.id),
            created_at: Set(at),
            rotated_at: Set(None),
        }
        .insert(&txn)
        .await?;
        let before = session.clone();
        let mut active = session.into_active_model();
        active.last_used_at = Set(at);
        active.expires_at = Set(expires_at);
        let session = active.update(&txn).await?;
        audit::record(&txn, Some(session.user_id), "refresh", Some(&before), Some(&session)).await?;
        txn.commit().await?;
        Ok(Rotation::Rotated { session_id: session.id, user_id: session.user_id })
    }

    /// The owner of a live session, if it is live and its account active: the per-request check.
    pub async fn live_session_owner(&self, session_id: SessionId) -> Result<Option<UserId>, StoreError> {
        let found = session::Entity::find_by_id(session_id).find_also_related(user::Entity).one(&self.db).await?;
        Ok(match found {
            Some((session, Some(owner))) if session.expires_at > now() && owner.is_active => Some(owner.id),
            _ => None,
        })
    }

    /// The live web session whose cookie secret hashes to `secret_hash`, and its active owner.
    pub async fn web_session(&self, secret_hash: &str) -> Result<Option<(SessionId, UserId)>, StoreError> {
        let found = session::Entity::find()
            .filter(session::Column::WebSecretHash.eq(secret_hash))
            .find_also_related(user::Entity)
            .one(&self.db)
            .await?;
        Ok(match found {
            Some((session, Some(owner))) if session.expires_at > now() && owner.is_active => {
                Some((session.id, owner.id))
            }
            _ => None,
        })
    }

    /// The session a refresh token (live or rotated) belongs to, for RFC 7009 revocation.
    pub async fn session_of_refresh_token(&self, token_hash: &str) -> Result<Option<SessionId>, StoreError> {
        Ok(refresh_token::Entity::find_by_id(token_hash).one(&self.db).await?.map(|t| t.session_id))
    }

    pub async fn session(&self, session_id: SessionId) -> Result<Option<SessionInfo>, StoreError> {
        Ok(session::Entity::find_by_id(session_id).one(&self.db).await?.map(SessionInfo::from))
    }

    /// The user's sessions, newest first.
    pub async fn sessions_of(&self, user_id: UserId) -> Result<Vec<SessionInfo>, StoreError> {
        let rows = session::Entity::find()
            .filter(session::Column::UserId.eq(user_id))
            .order_by_desc(session::Column::CreatedAt)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(SessionInfo::from).collect())
    }

    /// Whether the account has a session opened from `ip` (the owner has signed in from there).
    pub async fn has_session_from(&self, user_id: UserId, ip: &str) -> Result<bool, StoreError> {
        let found = session::Entity::find()
            .select_only()
            .column(session::Column::Id)
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::Ip.eq(ip))
            .into_tuple::<SessionId>()
            .one(&self.db)
            .await?;
        Ok(found.is_some())
    }

    /// Ends a session (its refresh tokens go with it). Returns its owner if it existed.
    pub async fn delete_session(
        &self,
        actor: Option<UserId>,
        session_id: SessionId,
        action: &'static str,
    ) -> Result<Option<UserId>, StoreError> {
        let txn = self.begin_write().await?;
        let Some(row) = session::Entity::find_by_id(session_id).one(&txn).await? else {
            return Ok(None);
        };
        let owner = row.user_id;
        delete_session_in(&txn, row, actor, action).await?;
        txn.commit().await?;
        Ok(Some(owner))
    }
}

pub(super) async fn delete_session_in(
    txn: &sea_orm::DatabaseTransaction,
    row: session::Model,
    actor: Option<UserId>,
    action: &'static str,
) -> Result<(), DbErr> {
    session::Entity::delete_by_id(row.id).exec(txn).await?;
    audit::record(txn, actor, action, Some(&row), None).await
}

/// The session's newest refresh token (its live one, unless the session is being rotated).
async fn newest_token_of(
    txn: &sea_orm::DatabaseTransaction,
    session_id: SessionId,
) -> Result<Option<refresh_token::Model>, DbErr> {
    refresh_token::Entity::find()
        .filter(refresh_token::Column::SessionId.eq(session_id))
        .order_by_desc(refresh_token::Column::CreatedAt)
        .one(txn)
        .await
}
