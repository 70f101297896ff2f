//! Real-time delivery: domain events and revocations, to Socket.IO and plain WebSocket clients,
//! on every instance.
//!
//! Everything goes through one [`Message`] type and one path. [`Realtime::publish`] acts on a
//! message here (the [`Hub`] delivers it to this instance's connections, or drops caches and
//! closes sockets) and, with Redis configured, publishes it on one pub/sub channel; every other
//! instance acts on it the same way when it arrives. Delivery to a connection never waits: each
//! has a bounded queue, and a connection whose queue is full is closed rather than allowed to
//! hold up the others.

mod bus;
pub mod events;
mod hub;
pub mod presence;
mod rosters;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub use bus::Bus;
pub use events::{Event, EventDoc, Notice};
pub use hub::{CloseReason, Hub, Outbound, Recipients, SocketIoRooms, WsConnection, session_room, user_room, ws_frame};
pub use presence::Tracker;
pub use rosters::Rosters;

use std::sync::Arc;

use crate::auth::SessionCache;
use crate::domain::{ChatId, SessionId, UserId};
use crate::store::{Stale, Store};

/// Who an event is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Every connection of these users.
    Users(Vec<UserId>),
    /// Every connection of a chat's members at a roster version (`chats.roster_version`). Each
    /// instance finds the members itself, from the list it keeps for that version or from the
    /// database, so the bus carries a chat id instead of a group's every member id (3.9 MB for
    /// 100,000 members).
    Members { chat_id: ChatId, roster: i64 },
    /// The connections of one session.
    Session(SessionId),
}

/// What travels on the bus.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    /// A client-visible event, named and serialised from an [`Event`].
    Event { to: Audience, event: String, data: Box<RawValue> },
    /// Sessions ended: refuse their tokens, tell their sockets `session.revoked`, close them.
    SessionsEnded { user_id: UserId, session_ids: Vec<SessionId> },
    /// An account was deleted: refuse its tokens, tell its sockets `user.deleted`, close them.
    UserDeleted { user_id: UserId, session_ids: Vec<SessionId> },
    /// An account row changed: drop it from the user cache.
    UserChanged { user_id: UserId },
}

impl Message {
    /// An event with its payload serialised once, for every connection and instance.
    pub fn event(to: Audience, event: &impl Event) -> serde_json::Result<Self> {
        Ok(Self::Event { to, event: event.name().to_owned(), data: serde_json::value::to_raw_value(event)? })
    }
}

/// The real-time side of the application: the bus to other instances, this instance's
/// connections, and the caches other instances' news invalidates. It knows audiences, not chats.
pub struct Realtime {
    pub hub: Hub,
    pub bus: Bus,
    /// Who has a socket open, here and (with Redis) on every instance.
    pub presence: Tracker,
    sessions: SessionCache,
    store: Store,
    /// The members of chats' roster versions, for [`Audience::Members`].
    rosters: Rosters,
}

impl Realtime {
    pub fn new(hub: Hub, bus: Bus, presence: Tracker, sessions: SessionCache, store: Store) -> Self {
        Self { hub, bus, presence, sessions, store, rosters: Rosters::new() }
    }

    /// Acts on `message` here and sends it to every other instance.
    pub async fn publish(&self, message: Message) {
        self.apply(&message).await;
        self.bus.publish(&message).await;
    }

    /// Sends a client-visible event; a payload that cannot be serialised is a bug, logged.
    pub async fn emit(&self, to: Audience, event: &impl Event) {
        match Message::event(to, event) {
            Ok(message) => self.publish(message).await,
            Err(err) => tracing::error!(event = event.name(), error = %err, "event payload did not serialise"),
        }
    }

    /// What a message means on this instance.
    pub async fn apply(&self, message: &Message) {
        let hub = &self.hub;
        match message {
            Message::Event { to, event, data } => match to {
                Audience::Users(users) => hub.deliver(Recipients::Users(users), event, data),
                Audience::Session(session_id) => hub.deliver(Recipients::Session(*session_id), event, data),
                Audience::Members { chat_id, roster } => {
                    match self.rosters.members(&self.store, *chat_id, *roster).await {
                        Ok(members) => hub.deliver(Recipients::Users(&members), event, data),
                        // The change is committed; its members read it on their next request.
                        Err(err) => {
                            tracing::error!(%chat_id, event, error = %err, "reading the members to tell failed")
                        }
                    }
                }
            },
            Message::SessionsEnded { user_id, session_ids } => {
                for session_id in session_ids {
                    self.sessions.forget_locally(*session_id);
                    let notice = Notice::SessionRevoked(events::SessionRevoked { session_id: session_id.uuid() });
                    hub.close(*user_id, Some(*session_id), &notice);
                }
            }
            Message::UserDeleted { user_id, session_ids } => {
                self.store.forget_user_locally(*user_id);
                for session_id in session_ids {
                    self.sessions.forget_locally(*session_id);
                }
                hub.close(*user_id, None, &Notice::UserDeleted(events::UserDeleted { user_id: user_id.uuid() }));
            }
            Message::UserChanged { user_id } => self.store.forget_user_locally(*user_id),
        }
    }

    /// After news from other instances may have been missed: every session and user is read
    /// from the database again.
    fn forget_all_locally(&self) {
        self.sessions.forget_all_locally();
        self.store.forget_all_users_locally();
    }
}

/// Starts the background work of the real-time side: forwarding stale caches to the bus and,
/// with Redis, listening to the other instances. Call once per application.
pub fn start(realtime: &Arc<Realtime>) {
    if let Some(mut stale) = realtime.store.watch_stale() {
        let weak = Arc::downgrade(realtime);
        tokio::spawn(async move {
            while let Some(fact) = stale.recv().await {
                let Some(realtime) = weak.upgrade() else { return };
                let message = match fact {
                    Stale::Session { user_id, session_id } => {
                        Message::SessionsEnded { user_id, session_ids: vec![session_id] }
                    }
                    Stale::User(user_id) => Message::UserChanged { user_id },
                };
                realtime.publish(message).await;
            }
        });
    }
    realtime.bus.listen(Arc::downgrade(realtime));
}
