//! Typed events: what a client-visible event is, the [`events!`](crate::events) macro that
//! declares a service's events once (name, payload type, summary and audience), and the notices
//! the hub itself sends a connection just before closing it.
//!
//! A service raises values of its own event enum; [`super::Realtime::emit`] takes any [`Event`]
//! and reads the name from the value, so a name can never be paired with the wrong payload. The
//! gateways' AsyncAPI document is built from each enum's `catalogue()`, so it lists exactly what
//! is sent.

use std::borrow::Cow;

use serde::Serialize;
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

use super::CloseReason;

/// A client-visible event: a payload that knows its name on the wire.
pub trait Event: Serialize {
    fn name(&self) -> &'static str;
}

/// One entry of an event catalogue: what the AsyncAPI document says of an event or command.
pub struct EventDoc {
    pub name: &'static str,
    pub summary: &'static str,
    /// Who receives it.
    pub audience: &'static str,
    pub payload_name: Cow<'static, str>,
    pub payload: fn() -> RefOr<Schema>,
    /// The schemas the payload refers to, by name.
    pub nested: fn(&mut Vec<(String, RefOr<Schema>)>),
    pub example: fn() -> Option<serde_json::Value>,
}

impl EventDoc {
    /// The entry of an event `name` whose payload is a `T`.
    pub fn of<T: ToSchema>(name: &'static str, summary: &'static str, audience: &'static str) -> Self {
        Self {
            name,
            summary,
            audience,
            payload_name: T::name(),
            payload: T::schema,
            nested: T::schemas,
            example: example_of::<T>,
        }
    }
}

/// The schema-level example of `T`, which utoipa keeps on the schema object.
fn example_of<T: PartialSchema>() -> Option<serde_json::Value> {
    match T::schema() {
        RefOr::T(Schema::Object(object)) => object.examples.first().cloned(),
        _ => None,
    }
}

/// Declares an enum of events, one variant per event, each written once:
///
/// ```ignore
/// parlor::events! {
///     pub enum ChatEvent {
///         /// A chat was deleted with its messages.
///         Deleted(ChatDeleted) = "chat.deleted", to: "Every member it had.",
///     }
/// }
/// ```
///
/// The enum serialises as its payload alone, implements [`Event`] with the given names, and has
/// `catalogue()`: the [`EventDoc`] of every variant, the doc comment being the summary.
#[macro_export]
macro_rules! events {
    (
        $(#[$meta:meta])*
        $vis:vis enum $Enum:ident {
            $( $(#[doc = $doc:literal])+ $Variant:ident($Payload:ty) = $name:literal, to: $audience:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Serialize)]
        #[serde(untagged)]
        $vis enum $Enum {
            $( $(#[doc = $doc])+ $Variant($Payload), )+
        }

        impl $crate::realtime::Event for $Enum {
            fn name(&self) -> &'static str {
                match self {
                    $( Self::$Variant(_) => $name, )+
                }
            }
        }

        impl $Enum {
            /// Every event of this kind, in declaration order, for the AsyncAPI document.
            pub fn catalogue() -> Vec<$crate::realtime::EventDoc> {
                vec![$(
                    $crate::realtime::EventDoc::of::<$Payload>($name, concat!($($doc),+).trim_ascii(), $audience),
                )+]
            }
        }
    };
}

crate::events! {
    /// What the hub tells a connection just before it closes it.
    pub enum Notice {
        /// The connection's session ended; the connection is closed right after.
        SessionRevoked(SessionRevoked) = "session.revoked",
            to: "The connections of that session, on every instance.",
        /// The account was deleted; every connection of it is closed right after.
        UserDeleted(UserDeleted) = "user.deleted",
            to: "Every connection of that user, on every instance.",
    }
}

impl Notice {
    /// Why the connections it is sent to are closed.
    pub fn close_reason(&self) -> CloseReason {
        match self {
            Self::SessionRevoked(_) => CloseReason::SessionRevoked,
            Self::UserDeleted(_) => CloseReason::UserDeleted,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_named_by_its_variant_and_serialises_as_its_payload() {
        let session_id = Uuid::now_v7();
        let notice = Notice::SessionRevoked(SessionRevoked { session_id });
        assert_eq!(notice.name(), "session.revoked");
        assert_eq!(serde_json::to_value(&notice).unwrap(), serde_json::json!({ "session_id": session_id }));
        assert_eq!(notice.close_reason(), CloseReason::SessionRevoked);
    }

    #[test]
    fn the_catalogue_takes_names_payloads_and_summaries_from_the_declaration() {
        let docs = Notice::catalogue();
        let entries: Vec<_> = docs.iter().map(|d| (d.name, d.payload_name.as_ref(), d.summary)).collect();
        assert_eq!(
            entries,
            [
                (
                    "session.revoked",
                    "SessionRevoked",
                    "The connection's session ended; the connection is closed right after."
                ),
                (
                    "user.deleted",
                    "UserDeleted",
                    "The account was deleted; every connection of it is closed right after."
                ),
            ]
        );
    }
}
