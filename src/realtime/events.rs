//! The notices the hub itself sends a connection just before it closes it.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

pub const SESSION_REVOKED: &str = "session.revoked";
pub const USER_DELETED: &str = "user.deleted";

/// This connection's session has ended (logout, revocation, password change or reset); the
/// server closes the connection right after this event.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"session_id": "01936b2f-0a41-7b9e-8d52-3c1f6e2b7d10"}))]
pub struct SessionRevoked {
    pub session_id: Uuid,
}

/// The account was deleted; the server closes every connection of it right after this event.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"user_id": "01936b2e-8f7c-7cc3-a2e1-4bd2f1d0c9aa"}))]
pub struct UserDeleted {
    pub user_id: Uuid,
}
