//! What the socket gateways say beyond the services' events (the error notice), and the
//! catalogue of every event, from which the AsyncAPI document is built (with the commands of
//! [`super::commands`]), so it cannot drift from what is sent.

use serde::Serialize;
use utoipa::ToSchema;

use crate::chat::events::ChatEvent;
use crate::presence::PresenceEvent;
use crate::profile::ProfileEvent;
use crate::realtime::{EventDoc, Notice};

crate::events! {
    /// What a gateway itself tells a connection.
    pub enum GatewayEvent {
        /// Something the client sent could not be acted on (unknown event, malformed frame).
        Error(SocketError) = "error", to: "The connection that sent it.",
    }
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

/// Every event the server sends, in the order the AsyncAPI document lists them.
pub fn catalogue() -> Vec<EventDoc> {
    [
        ProfileEvent::catalogue(),
        PresenceEvent::catalogue(),
        ChatEvent::catalogue(),
        Notice::catalogue(),
        GatewayEvent::catalogue(),
    ]
    .into_iter()
    .flatten()
    .collect()
}
