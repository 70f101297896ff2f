//! What an operator does: accounts with the admin role act on other accounts. Anyone else is
//! told nothing exists here (404), so the admin surface does not announce itself.

use std::sync::Arc;

use crate::auth::Auth;
use crate::domain::{User, UserId};
use crate::error::AppError;
use crate::store::Store;

/// Administration. Cheap to clone.
#[derive(Clone)]
pub struct Admin {
    store: Store,
    auth: Arc<Auth>,
}

/// The answer to anyone who is not an active administrator, whatever they ask.
pub fn not_here() -> AppError {
    AppError::not_found("not_found", "no such page")
}

impl Admin {
    pub fn new(store: Store, auth: Arc<Auth>) -> Self {
        Self { store, auth }
    }

    /// The actor, if it is an active administrator; 404 otherwise.
    pub async fn require(&self, actor: UserId) -> Result<User, AppError> {
        let user = self.store.user(actor).await?;
        user.filter(|u| u.is_admin && u.is_active).ok_or_else(not_here)
    }

    /// Deactivates an account: it can no longer sign in, and every session and socket of it ends
    /// at once, on every instance. An administrator cannot deactivate themself.
    pub async fn deactivate(&self, actor: UserId, user_id: UserId) -> Result<User, AppError> {
        self.require(actor).await?;
        if actor == user_id {
            return Err(AppError::conflict("own_account", "an administrator cannot deactivate their own account"));
        }
        let (user, ended) =
            self.store.set_active(actor, user_id, false).await?.ok_or_else(crate::profile::user_not_found)?;
        for session_id in &ended {
            // Refused here at once, and announced on the bus: every instance closes its sockets.
            self.auth.forget_session(user_id, *session_id);
        }
        tracing::info!(%actor, %user_id, sessions_ended = ended.len(), "account deactivated");
        Ok(user)
    }

    /// Lets a deactivated account sign in again.
    pub async fn reactivate(&self, actor: UserId, user_id: UserId) -> Result<User, AppError> {
        self.require(actor).await?;
        let (user, _) =
            self.store.set_active(actor, user_id, true).await?.ok_or_else(crate::profile::user_not_found)?;
        tracing::info!(%actor, %user_id, "account reactivated");
        Ok(user)
    }
}
