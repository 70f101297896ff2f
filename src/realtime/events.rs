//! The events Parlor sends over sockets: names, payloads and who receives them. The AsyncAPI
//! document is built from [`catalogue`], so it cannot drift from what is sent.

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

use crate::media::AvatarUrls;

/// A user's avatar changed or was removed.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "user_id": "01936b2e-8f7c-7cc3-a2e1-4bd2f1d0c9aa",
    "avatar": {
        "original": "http://127.0.0.1:8080/media/avatars/01936b2e…/0193a1f0…/original.jpg",
        "50x50": "http://127.0.0.1:8080/media/avatars/01936b2e…/0193a1f0…/50x50.jpg",
        "100x100": "http://127.0.0.1:8080/media/avatars/01936b2e…/0193a1f0…/100x100.jpg",
        "400x400": "http://127.0.0.1:8080/media/avatars/01936b2e…/0193a1f0…/400x400.jpg"
    },
    "at": "2026-11-21T10:15:02.481516Z"
}))]
pub struct AvatarUpdated {
    pub user_id: Uuid,
    /// The new avatar's URLs, or `null` when it was removed.
    pub avatar: Option<AvatarUrls>,
    /// When the change was committed.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

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

/// The server could not act on something the client sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"reason": "unknown_event", "message": "no such event: `hello`"}))]
pub struct SocketError {
    /// Stable snake_case code for programs.
    pub reason: &'static str,
    /// For people.
    pub message: String,
}

pub const AVATAR_UPDATED: &str = "user.avatar_updated";
pub const SESSION_REVOKED: &str = "session.revoked";
pub const USER_DELETED: &str = "user.deleted";
pub const ERROR: &str = "error";

/// One entry of the event catalogue.
pub struct EventDoc {
    pub name: &'static str,
    pub summary: &'static str,
    /// Who receives it.
    pub audience: &'static str,
    pub payload_name: std::borrow::Cow<'static, str>,
    pub payload: fn() -> RefOr<Schema>,
    /// The schemas the payload refers to, by name.
    pub nested: fn(&mut Vec<(String, RefOr<Schema>)>),
    pub example: fn() -> Option<serde_json::Value>,
}

fn doc<T: ToSchema>(name: &'static str, summary: &'static str, audience: &'static str) -> EventDoc {
    EventDoc {
        name,
        summary,
        audience,
        payload_name: T::name(),
        payload: T::schema,
        nested: T::schemas,
        example: example_of::<T>,
    }
}

/// The schema-level example of `T`, which utoipa keeps on the schema object.
fn example_of<T: PartialSchema>() -> Option<serde_json::Value> {
    match T::schema() {
        RefOr::T(Schema::Object(object)) => object.examples.first().cloned(),
        _ => None,
    }
}

/// Every event the server sends, in the order the AsyncAPI document lists them.
pub fn catalogue() -> Vec<EventDoc> {
    vec![
        doc::<AvatarUpdated>(
            AVATAR_UPDATED,
            "A user's avatar changed or was removed.",
            "Every connection of that user (all devices); once chats exist, also everyone who shares a chat with them.",
        ),
        doc::<SessionRevoked>(
            SESSION_REVOKED,
            "The connection's session ended; the connection is closed right after.",
            "The connections of that session, on every instance.",
        ),
        doc::<UserDeleted>(
            USER_DELETED,
            "The account was deleted; every connection of it is closed right after.",
            "Every connection of that user, on every instance.",
        ),
        doc::<SocketError>(
            ERROR,
            "Something the client sent could not be acted on (unknown event, malformed frame).",
            "The connection that sent it.",
        ),
    ]
}
