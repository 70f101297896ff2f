//! This instance's connections, and delivery to them.
//!
//! Plain WebSocket connections are registered here by user, each with a bounded queue of frames
//! that are already serialised (one serialisation per event, shared by every connection).
//! Socket.IO sockets live in socketioxide's rooms `user:<id>` and `session:<id>`, each with
//! socketioxide's own bounded queue. Delivery only ever tries to enqueue: a full queue means a
//! client that stopped reading, and that connection is closed instead of waited for.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock, RwLockWriteGuard};

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::events::{Event, Notice};
use crate::auth::Principal;
use crate::domain::{SessionId, UserId};
use crate::telemetry::{SOCKET_IO, SocketLabels, WEBSOCKET};

/// Why the server closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CloseReason {
    SessionRevoked = 1,
    UserDeleted = 2,
    /// Its queue filled up: the client does not read.
    TooSlow = 3,
    /// The server is stopping: reconnect (to another instance, or to this one once it is back).
    Restarting = 4,
}

impl CloseReason {
    fn from_u8(value: u8) -> Option<Self> {
        match value {
            1 => Some(Self::SessionRevoked),
            2 => Some(Self::UserDeleted),
            3 => Some(Self::TooSlow),
            4 => Some(Self::Restarting),
            _ => None,
        }
    }

    /// The WebSocket close code and reason (RFC 6455 §7.4; 4000–4999 are the application's).
    pub fn close_frame(self) -> (u16, &'static str) {
        match self {
            Self::SessionRevoked => (4001, "session_revoked"),
            Self::UserDeleted => (4001, "account_deleted"),
            Self::TooSlow => (1008, "too_slow"),
            // RFC 6455's "service restart": clients should reconnect.
            Self::Restarting => (1012, "restarting"),
        }
    }
}

/// A frame queued for a WebSocket connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    Event(Utf8Bytes),
    /// Why the connection is about to be closed; the only frame sent once it is closing.
    Farewell(Utf8Bytes),
}

/// One registered WebSocket connection, as the hub holds it.
struct WsHandle {
    id: u64,
    session_id: SessionId,
    tx: mpsc::Sender<Outbound>,
    closing: Arc<AtomicU8>,
}

/// The connection's side: its queue, and the reason once the hub closes it.
pub struct WsConnection {
    pub id: u64,
    pub frames: mpsc::Receiver<Outbound>,
    closing: Arc<AtomicU8>,
}

impl WsConnection {
    /// Set once the hub has closed this connection (its queue then ends, too).
    pub fn close_reason(&self) -> Option<CloseReason> {
        CloseReason::from_u8(self.closing.load(Ordering::Acquire))
    }
}

/// What the hub needs of the Socket.IO server, whatever its adapter (the gateway implements it).
pub trait SocketIoRooms: Send + Sync {
    /// Emits to this instance's sockets in `room`; a socket whose queue is full is disconnected.
    /// Returns how many were.
    fn emit(&self, room: &str, event: &str, data: &RawValue) -> usize;
    /// Disconnects this instance's sockets in `room`.
    fn disconnect(&self, room: &str);
    /// Sockets connected to this instance.
    fn count(&self) -> usize;
    /// Closes the transport of every socket of this instance, so that clients reconnect.
    fn close_all(&self) -> futures::future::BoxFuture<'_, ()>;
}

/// Whom [`Hub::deliver`] enqueues an event for: an audience once its members are known.
#[derive(Debug, Clone, Copy)]
pub enum Recipients<'a> {
    /// Every connection of these users (sorted or not).
    Users(&'a [UserId]),
    /// The connections of one session.
    Session(SessionId),
}

pub struct Hub {
    ws: RwLock<HashMap<UserId, Vec<WsHandle>>>,
    sio: OnceLock<Box<dyn SocketIoRooms>>,
    /// The users with Socket.IO sockets on this instance, and how many each: an event is
    /// emitted to the rooms of these only, not to one empty room per member of a big chat.
    sio_users: RwLock<HashMap<UserId, usize>>,
    next_id: AtomicU64,
    queue_len: usize,
    /// Connections closed for being too slow, by kind.
    slow: Family<SocketLabels, Counter>,
}

impl Hub {
    pub fn new(queue_len: usize, slow: Family<SocketLabels, Counter>) -> Self {
        Self {
            ws: RwLock::default(),
            sio: OnceLock::new(),
            sio_users: RwLock::default(),
            next_id: AtomicU64::new(1),
            queue_len,
            slow,
        }
    }

    /// Connects the Socket.IO server; done once, when the router is built.
    pub fn attach_socketio(&self, io: Box<dyn SocketIoRooms>) {
        if self.sio.set(io).is_err() {
            tracing::error!("a second Socket.IO server was attached to one hub; it gets no events");
        }
    }

    pub fn register_ws(&self, me: Principal) -> WsConnection {
        let (tx, frames) = mpsc::channel(self.queue_len);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let closing = Arc::new(AtomicU8::new(0));
        let handle = WsHandle { id, session_id: me.session_id, tx, closing: closing.clone() };
        self.write().entry(me.user_id).or_default().push(handle);
        WsConnection { id, frames, closing }
    }

    pub fn unregister_ws(&self, user_id: UserId, id: u64) {
        let mut ws = self.write();
        if let Some(handles) = ws.get_mut(&user_id) {
            handles.retain(|h| h.id != id);
            if handles.is_empty() {
                ws.remove(&user_id);
            }
        }
    }

    /// A Socket.IO socket of `user_id` is about to join its rooms (counted before it joins, so
    /// no event can miss it).
    pub fn sio_joined(&self, user_id: UserId) {
        *self.write_sio_users().entry(user_id).or_default() += 1;
    }

    /// A Socket.IO socket of `user_id` is gone.
    pub fn sio_left(&self, user_id: UserId) {
        let mut users = self.write_sio_users();
        if let Some(count) = users.get_mut(&user_id) {
            *count -= 1;
            if *count == 0 {
                users.remove(&user_id);
            }
        }
    }

    /// Of `users`, those connected to this instance: (with WebSocket connections, with Socket.IO
    /// sockets). Walks the smaller side: the audience, or (for a sorted audience bigger than the
    /// people connected here, as a big group's is) the connected people.
    fn connected_among(&self, users: &[UserId]) -> (Vec<UserId>, Vec<UserId>) {
        let ws = self.read();
        let sio = self.sio_users.read().unwrap_or_else(PoisonError::into_inner);
        let wanted = |user_id: &&UserId| users.binary_search(*user_id).is_ok();
        if users.len() > ws.len() + sio.len() && users.is_sorted() {
            (ws.keys().filter(wanted).copied().collect(), sio.keys().filter(wanted).copied().collect())
        } else {
            (
                users.iter().filter(|u| ws.contains_key(u)).copied().collect(),
                users.iter().filter(|u| sio.contains_key(u)).copied().collect(),
            )
        }
    }

    /// Open WebSocket connections on this instance.
    pub fn ws_count(&self) -> usize {
        self.read().values().map(Vec::len).sum()
    }

    /// Open Socket.IO sockets on this instance.
    pub fn sio_count(&self) -> usize {
        self.io().map_or(0, |io| io.count())
    }

    /// Enqueues an event for every connection of `to` on this instance.
    pub fn deliver(&self, to: Recipients<'_>, event: &str, data: &RawValue) {
        let ((ws_users, sio_users), session) = match to {
            Recipients::Users(users) => (self.connected_among(users), None),
            Recipients::Session(session) => ((vec![], vec![]), Some(session)),
        };
        let frame = Outbound::Event(ws_frame(event, data));
        let mut slow = Vec::new();
        {
            let ws = self.read();
            let mut offer = |user_id: &UserId, handle: &WsHandle| {
                if let Err(mpsc::error::TrySendError::Full(_)) = handle.tx.try_send(frame.clone()) {
                    slow.push((*user_id, handle.id));
                }
            };
            match session {
                None => {
                    for user_id in &ws_users {
                        for handle in ws.get(user_id).into_iter().flatten() {
                            offer(user_id, handle);
                        }
                    }
                }
                // A session-addressed event is rare (revocation notices); a scan is fine.
                Some(session_id) => {
                    for (user_id, handles) in ws.iter() {
                        for handle in handles.iter().filter(|h| h.session_id == session_id) {
                            offer(user_id, handle);
                        }
                    }
                }
            }
        }
        for (user_id, id) in slow {
            tracing::info!(%user_id, connection = id, "WebSocket client too slow; closing it");
            self.slow.get_or_create(&WEBSOCKET).inc();
            self.remove_ws(user_id, |h| h.id == id, CloseReason::TooSlow);
        }
        if let Some(io) = self.io() {
            let dropped: usize = match session {
                None => sio_users.iter().map(|user_id| io.emit(&user_room(*user_id), event, data)).sum(),
                Some(session_id) => io.emit(&session_room(session_id), event, data),
            };
            if dropped > 0 {
                self.slow.get_or_create(&SOCKET_IO).inc_by(dropped as u64);
            }
        }
    }

    /// Tells the connections of a user (or of one of their sessions) why, then closes them.
    pub fn close(&self, user_id: UserId, session: Option<SessionId>, notice: &Notice) {
        let matches = |h: &WsHandle| session.is_none_or(|s| h.session_id == s);
        let farewell = serde_json::value::to_raw_value(notice).ok().map(|data| (notice.name(), data));
        if let Some((event, data)) = &farewell {
            let frame = Outbound::Farewell(ws_frame(event, data));
            for handle in self.read().get(&user_id).into_iter().flatten().filter(|h| matches(h)) {
                // Best effort: a full queue is closed all the same.
                let _ = handle.tx.try_send(frame.clone());
            }
        }
        self.remove_ws(user_id, matches, notice.close_reason());
        if let Some(io) = self.io() {
            let room = match session {
                Some(session_id) => session_room(session_id),
                None => user_room(user_id),
            };
            if let Some((event, data)) = &farewell {
                io.emit(&room, event, data);
            }
            io.disconnect(&room);
        }
    }

    /// For a stopping server: every WebSocket connection is closed with 1012 (service restart)
    /// and every Socket.IO transport is closed, which Socket.IO clients answer by reconnecting
    /// (a Socket.IO `disconnect` packet would tell them not to).
    pub async fn close_everything(&self) {
        let users: Vec<UserId> = self.read().keys().copied().collect();
        for user_id in users {
            self.remove_ws(user_id, |_| true, CloseReason::Restarting);
        }
        if let Some(io) = self.io() {
            io.close_all().await;
        }
    }

    /// Unregisters matching connections and marks them closed; dropping their sender ends their
    /// queue, which wakes the connection's task to close it.
    fn remove_ws(&self, user_id: UserId, matches: impl Fn(&WsHandle) -> bool, reason: CloseReason) {
        let mut ws = self.write();
        let Some(handles) = ws.get_mut(&user_id) else { return };
        handles.retain(|h| {
            if matches(h) {
                // Closed on a revocation, then found too slow: the first reason stands.
                let _ = h.closing.compare_exchange(0, reason as u8, Ordering::AcqRel, Ordering::Acquire);
                false
            } else {
                true
            }
        });
        if handles.is_empty() {
            ws.remove(&user_id);
        }
    }

    fn io(&self) -> Option<&dyn SocketIoRooms> {
        self.sio.get().map(AsRef::as_ref)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<UserId, Vec<WsHandle>>> {
        self.ws.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_sio_users(&self) -> RwLockWriteGuard<'_, HashMap<UserId, usize>> {
        self.sio_users.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<UserId, Vec<WsHandle>>> {
        self.ws.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The Socket.IO room of every socket of a user.
pub fn user_room(user_id: UserId) -> String {
    format!("user:{user_id}")
}

/// The Socket.IO room of the sockets of one session.
pub fn session_room(session_id: SessionId) -> String {
    format!("session:{session_id}")
}

/// `{"event": …, "data": …}`, the plain WebSocket frame.
pub fn ws_frame(event: &str, data: &RawValue) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Frame<'a> {
        event: &'a str,
        data: &'a RawValue,
    }
    serde_json::to_string(&Frame { event, data }).unwrap_or_default().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> Principal {
        Principal { user_id: UserId::new(), session_id: SessionId::new() }
    }

    fn raw(value: serde_json::Value) -> Box<RawValue> {
        serde_json::value::to_raw_value(&value).unwrap()
    }

    #[test]
    fn an_event_reaches_every_connection_of_its_users_and_no_one_else() {
        let hub = Hub::new(8, Family::default());
        let (alice, bob) = (principal(), principal());
        let alice_phone = Principal { session_id: SessionId::new(), ..alice };
        let mut a1 = hub.register_ws(alice);
        let mut a2 = hub.register_ws(alice_phone);
        let mut b = hub.register_ws(bob);

        hub.deliver(Recipients::Users(&[alice.user_id]), "user.avatar_updated", &raw(serde_json::json!({"x": 1})));

        let expected = Outbound::Event(r#"{"event":"user.avatar_updated","data":{"x":1}}"#.into());
        assert_eq!(a1.frames.try_recv().unwrap(), expected);
        assert_eq!(a2.frames.try_recv().unwrap(), expected);
        assert!(b.frames.try_recv().is_err());
    }

    /// Records the rooms emitted to.
    #[derive(Default, Clone)]
    struct Rooms(Arc<std::sync::Mutex<Vec<String>>>);

    impl SocketIoRooms for Rooms {
        fn emit(&self, room: &str, _: &str, _: &RawValue) -> usize {
            self.0.lock().unwrap().push(room.to_owned());
            0
        }
        fn disconnect(&self, _: &str) {}
        fn count(&self) -> usize {
            0
        }
        fn close_all(&self) -> futures::future::BoxFuture<'_, ()> {
            Box::pin(async {})
        }
    }

    #[test]
    fn a_big_audience_reaches_exactly_the_members_connected_here_and_empty_rooms_get_no_emit() {
        let hub = Hub::new(8, Family::default());
        let rooms = Rooms::default();
        hub.attach_socketio(Box::new(rooms.clone()));
        let (on_ws, on_sio, outsider) = (principal(), principal(), principal());
        let mut ws = hub.register_ws(on_ws);
        hub.sio_joined(on_sio.user_id);
        let mut outside = hub.register_ws(outsider);
        hub.sio_joined(outsider.user_id);
        let mut members: Vec<UserId> = (0..10_000).map(|_| UserId::new()).collect();
        members.extend([on_ws.user_id, on_sio.user_id]);
        let data = raw(serde_json::json!({}));
        // Sorted and bigger than this instance's population: the connected people are walked.
        // Unsorted: the audience is.
        let mut sorted = members.clone();
        sorted.sort_unstable();
        for audience in [sorted, members] {
            hub.deliver(Recipients::Users(&audience), "message.created", &data);
            assert!(ws.frames.try_recv().is_ok());
            assert!(outside.frames.try_recv().is_err());
            assert_eq!(std::mem::take(&mut *rooms.0.lock().unwrap()), vec![user_room(on_sio.user_id)]);
        }
        // Gone from Socket.IO: no more emits to its room.
        hub.sio_left(on_sio.user_id);
        hub.deliver(Recipients::Users(&[on_sio.user_id]), "message.created", &data);
        assert!(rooms.0.lock().unwrap().is_empty());
    }

    #[test]
    fn a_full_queue_closes_that_connection_only() {
        let hub = Hub::new(2, Family::default());
        let me = principal();
        let mut reader = hub.register_ws(me);
        let stalled = hub.register_ws(Principal { session_id: SessionId::new(), ..me });
        let to = [me.user_id];
        for i in 0..3 {
            hub.deliver(Recipients::Users(&to), "tick", &raw(serde_json::json!(i)));
            assert!(reader.frames.try_recv().is_ok(), "the reader keeps up");
        }
        assert_eq!(stalled.close_reason(), Some(CloseReason::TooSlow));
        assert_eq!(hub.slow.get_or_create(&WEBSOCKET).get(), 1);
        assert_eq!(reader.close_reason(), None);
        assert_eq!(hub.ws_count(), 1);
    }

    #[test]
    fn closing_a_session_sends_the_notice_then_ends_the_queue() {
        let hub = Hub::new(8, Family::default());
        let me = principal();
        let mut revoked = hub.register_ws(me);
        let mut other = hub.register_ws(Principal { session_id: SessionId::new(), ..me });
        let notice =
            Notice::SessionRevoked(crate::realtime::events::SessionRevoked { session_id: me.session_id.uuid() });

        hub.close(me.user_id, Some(me.session_id), &notice);

        let Outbound::Farewell(frame) = revoked.frames.try_recv().unwrap() else { panic!("not a farewell") };
        assert!(frame.as_str().starts_with(r#"{"event":"session.revoked""#), "{frame}");
        assert_eq!(revoked.frames.try_recv(), Err(mpsc::error::TryRecvError::Disconnected));
        assert_eq!(revoked.close_reason(), Some(CloseReason::SessionRevoked));
        assert!(other.frames.try_recv().is_err() && other.close_reason().is_none());
    }
}
