//! Real-time delivery: domain events and revocations, to Socket.IO and plain WebSocket clients,
//! on every instance.
//!
//! Everything goes through one [`Message`] type and one path. [`Realtime::publish`] acts on a
//! message here (the [`Hub`] delivers it to this instance's connections, or drops caches and
//! closes sockets) and, with Redis configured, publishes it on one pub/sub channel; every other
//! instance acts on it the same way when it arrives. Delivery to a connection never waits: each
//! has a bounded queue, and a connection whose queue is full is closed rather than allowed to
//! hold up the others.

pub mod asyncapi;
mod bus;
pub mod events;
mod hub;
pub mod sio;
pub mod ws;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

pub use bus::Bus;
pub use hub::{CloseReason, Hub, WsConnection};

use crate::app::{App, AppState};
use crate::store::Stale;

/// Whether a socket handshake may proceed: a browser (it sends `Origin`) must come from an allowed
/// origin; other clients send none and are not affected.
pub fn origin_allowed(config: &crate::config::Config, headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::ORIGIN)
        .is_none_or(|origin| origin.to_str().is_ok_and(|origin| config.origin_allowed(origin)))
}

/// Who an event is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Every connection of these users.
    Users(Vec<Uuid>),
    /// The connections of one session.
    Session(Uuid),
}

/// What travels on the bus.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    /// A client-visible event (`event` names it, as listed in [`events::catalogue`]).
    Event { to: Audience, event: String, data: Box<RawValue> },
    /// Sessions ended: refuse their tokens, tell their sockets `session.revoked`, close them.
    SessionsEnded { user_id: Uuid, session_ids: Vec<Uuid> },
    /// An account was deleted: refuse its tokens, tell its sockets `user.deleted`, close them.
    UserDeleted { user_id: Uuid, session_ids: Vec<Uuid> },
    /// An account row changed: drop it from the user cache.
    UserChanged { user_id: Uuid },
}

impl Message {
    /// An event with its payload serialised once, for every connection and instance.
    pub fn event(to: Audience, event: &str, data: &impl Serialize) -> serde_json::Result<Self> {
        Ok(Self::Event { to, event: event.to_owned(), data: serde_json::value::to_raw_value(data)? })
    }
}

/// The real-time side of an [`App`]: the bus to other instances and this instance's connections.
pub struct Realtime {
    pub hub: Hub,
    pub bus: Bus,
    /// The AsyncAPI document as served; it depends on the configuration only.
    pub asyncapi: bytes::Bytes,
}

impl App {
    /// Acts on `message` here and sends it to every other instance.
    pub async fn publish(&self, message: Message) {
        self.apply(&message);
        self.realtime.bus.publish(&message).await;
    }

    /// Sends a client-visible event; a payload that cannot be serialised is a bug, logged.
    pub async fn emit(&self, to: Audience, event: &str, data: &impl Serialize) {
        match Message::event(to, event, data) {
            Ok(message) => self.publish(message).await,
            Err(err) => tracing::error!(event, error = %err, "event payload did not serialise"),
        }
    }

    /// What a message means on this instance.
    pub fn apply(&self, message: &Message) {
        let hub = &self.realtime.hub;
        match message {
            Message::Event { to, event, data } => hub.deliver(to, event, data),
            Message::SessionsEnded { user_id, session_ids } => {
                for session_id in session_ids {
                    self.auth.forget_session_locally(*session_id);
                    let notice = events::SessionRevoked { session_id: *session_id };
                    hub.close(*user_id, Some(*session_id), CloseReason::SessionRevoked, &notice);
                }
            }
            Message::UserDeleted { user_id, session_ids } => {
                self.store.forget_user_locally(*user_id);
                for session_id in session_ids {
                    self.auth.forget_session_locally(*session_id);
                }
                hub.close(*user_id, None, CloseReason::UserDeleted, &events::UserDeleted { user_id: *user_id });
            }
            Message::UserChanged { user_id } => self.store.forget_user_locally(*user_id),
        }
    }
}

/// Starts the background work of the real-time side: forwarding stale caches to the bus and,
/// with Redis, listening to the other instances. Call once per [`App`].
pub fn start(state: &AppState) {
    if let Some(mut stale) = state.store.watch_stale() {
        let app = std::sync::Arc::downgrade(&state.0);
        tokio::spawn(async move {
            while let Some(fact) = stale.recv().await {
                let Some(app) = app.upgrade() else { return };
                let message = match fact {
                    Stale::Session { user_id, session_id } => {
                        Message::SessionsEnded { user_id, session_ids: vec![session_id] }
                    }
                    Stale::User(user_id) => Message::UserChanged { user_id },
                };
                app.publish(message).await;
            }
        });
    }
    state.realtime.bus.listen(std::sync::Arc::downgrade(&state.0));
}
