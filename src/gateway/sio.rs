//! Socket.IO v4 at `/socket.io/`, namespace `/`, with socketioxide.
//!
//! The handshake's `auth.token` is checked in the connect middleware exactly as an HTTP bearer
//! token is (signature, lifetime, live session); a refusal reaches the client as `connect_error`
//! whose message starts with the same stable reason as the HTTP 401 (`session_revoked: …`).
//! Each socket joins `user:<id>` and `session:<id>`. With Redis configured the server runs on
//! the socketioxide-redis adapter, so rooms and everything addressed through `io` span the
//! instances; Parlor's own events come through the bus and are delivered here socket by
//! socket, so a socket whose queue is full can be closed (DESIGN §13 says why).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::Router;
use axum::extract::{OriginalUri, Request};
use axum::http::{HeaderValue, Uri};
use serde::Deserialize;
use serde_json::value::RawValue;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Data, Event, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::{SendError, SocketError, SocketIo};
use socketioxide_redis::{RedisAdapter, RedisAdapterConfig, RedisAdapterCtr};
use tower::ServiceBuilder;
use tower_http::request_id::RequestId;

use super::commands::{self, Allowance};
use super::events::{GatewayEvent, SocketError as ErrorEvent};
use crate::app::{App, AppState};
use crate::auth::{AuthFailure, Principal};
use crate::error::{AppError, jsend_of};
use crate::realtime::Event as _;
use crate::realtime::{SocketIoRooms, session_room, user_room};
use crate::telemetry::SOCKET_IO;

/// Where Socket.IO is served.
const PATH: &str = "/socket.io";

/// The root namespace's sockets on this instance; none once the server is closed (socketioxide's
/// `local()` would panic then).
fn local_sockets<A: Adapter>(io: &SocketIo<A>, room: Option<&str>) -> Vec<socketioxide::extract::SocketRef<A>> {
    let Some(root) = io.of("/") else { return Vec::new() };
    match room {
        Some(room) => root.local().to(room.to_owned()).sockets(),
        None => root.local().sockets(),
    }
}

impl<A: Adapter> SocketIoRooms for SocketIo<A> {
    fn emit(&self, room: &str, event: &str, data: &RawValue) -> usize {
        let mut dropped = 0;
        for socket in local_sockets(self, Some(room)) {
            if let Err(SendError::Socket(SocketError::InternalChannelFull)) = socket.emit(event, data) {
                tracing::info!(socket = %socket.id, "Socket.IO client too slow; disconnecting it");
                let _ = socket.disconnect();
                dropped += 1;
            }
        }
        dropped
    }

    fn disconnect(&self, room: &str) {
        for socket in local_sockets(self, Some(room)) {
            let _ = socket.disconnect();
        }
    }

    fn count(&self) -> usize {
        local_sockets(self, None).len()
    }

    fn close_all(&self) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(self.close())
    }
}

/// The application, for handlers. Weak: the Socket.IO server belongs to the application.
#[derive(Clone)]
struct Parlor(Weak<App>);

impl Parlor {
    fn app(&self) -> Result<Arc<App>, Refused> {
        self.0.upgrade().ok_or(Refused("unavailable", "the server is shutting down"))
    }
}

/// The handshake's `auth` object.
#[derive(Debug, Deserialize)]
struct HandshakeAuth {
    token: Option<String>,
}

/// A refused handshake, shown to the client as `connect_error` with `"<reason>: <message>"`.
#[derive(Debug)]
struct Refused(&'static str, &'static str);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0, self.1)
    }
}

impl From<AuthFailure> for Refused {
    fn from(failure: AuthFailure) -> Self {
        Self(failure.reason(), failure.message())
    }
}

/// Mounts Socket.IO on `router` and connects it to the hub.
pub async fn mount<S: Clone + Send + Sync + 'static>(router: Router<S>, state: &AppState) -> anyhow::Result<Router<S>> {
    let config = &state.config.realtime;
    let ping = Duration::from_secs(config.ping_interval_secs);
    let frame_bytes = config.max_frame_bytes;
    let builder = SocketIo::builder()
        .req_path(PATH)
        .ping_interval(ping)
        .ping_timeout(ping)
        // A refused client's transport stays open this long; honest clients connect at once.
        .connect_timeout(Duration::from_secs(5))
        .max_buffer_size(config.queue_len)
        .max_payload(frame_bytes as u64)
        .ws_max_message_size(frame_bytes)
        .ws_max_frame_size(frame_bytes)
        .ws_read_buffer_size(super::ws::READ_BUFFER)
        .with_state(Parlor(Arc::downgrade(&state.0)));
    let hub = &state.realtime.hub;
    let Some(client) = state.realtime.bus.redis_client() else {
        let (layer, io) = builder.build_layer();
        io.ns("/", on_connect.with(authenticate));
        hub.attach_socketio(Box::new(io));
        return Ok(router.layer(ServiceBuilder::new().map_request(own_head).layer(layer)));
    };
    let adapter_config = RedisAdapterConfig::new().with_prefix(format!("{}:socket.io", state.config.redis_prefix));
    let adapter = RedisAdapterCtr::new_with_redis_config(client, adapter_config).await?;
    let (layer, io) = builder.with_adapter::<RedisAdapter<_>>(adapter).build_layer();
    io.ns("/", on_connect.with(authenticate)).await.map_err(|err| anyhow::anyhow!("Socket.IO adapter: {err}"))?;
    hub.attach_socketio(Box::new(io));
    Ok(router.layer(ServiceBuilder::new().map_request(own_head).layer(layer)))
}

/// A Socket.IO request with its URI, header values and the extensions made from them copied
/// into allocations of their own.
///
/// hyper parses the URI and header values as slices of the buffer the request head was read into
/// (8–16 KiB), and engineioxide keeps the handshake's head, extensions included, for the socket's
/// whole life, so every idle socket used to keep that whole buffer alive (DESIGN §13).
fn own_head(request: Request) -> Request {
    if !request.uri().path().starts_with(PATH) {
        return request;
    }
    let (mut head, body) = request.into_parts();
    if let Ok(uri) = head.uri.to_string().parse::<Uri>() {
        // The router keeps the URI as it arrived, for nested routers.
        if let Some(original) = head.extensions.get_mut::<OriginalUri>() {
            original.0 = uri.clone();
        }
        head.uri = uri;
    }
    for value in head.headers.values_mut() {
        *value = owned(value);
    }
    // A client's own `x-request-id` becomes the request id as it arrived.
    if let Some(id) = head.extensions.get_mut::<RequestId>() {
        *id = RequestId::new(owned(id.header_value()));
    }
    Request::from_parts(head, body)
}

/// A copy of `value` in an allocation of its own.
fn owned(value: &HeaderValue) -> HeaderValue {
    match HeaderValue::from_bytes(value.as_bytes()) {
        Ok(mut copy) => {
            copy.set_sensitive(value.is_sensitive());
            copy
        }
        // Not reached: the bytes are those of a valid value.
        Err(_) => value.clone(),
    }
}

/// Connect middleware: a browser's origin, then the token, as on HTTP.
async fn authenticate<A: Adapter>(
    socket: SocketRef<A>,
    TryData(auth): TryData<HandshakeAuth>,
    State(parlor): State<Parlor>,
) -> Result<(), Refused> {
    let app = parlor.app()?;
    if !super::origin_allowed(&app.config, &socket.req_parts().headers) {
        return Err(Refused("origin_not_allowed", "this origin may not open sockets here"));
    }
    let token = auth.ok().and_then(|auth| auth.token).filter(|t| !t.is_empty());
    let token = token.ok_or(Refused(AuthFailure::Missing.reason(), "send the access token as auth: {token}"))?;
    let me = app.auth.authenticate(&token).await?;
    socket.extensions.insert(me);
    // The commands are heard from here on. socketioxide sends the client its CONNECT answer
    // when this middleware returns and only then spawns `on_connect`: a client that sends a
    // command the moment it is connected (as every client may) would otherwise race that task,
    // and a command arriving first found no handler and went unanswered.
    socket.extensions.insert(Budget(Arc::new(Mutex::new(Allowance::new(app.config.realtime.commands_per_second)))));
    for name in commands::NAMES {
        socket.on(name, command);
    }
    socket.on_fallback(unknown_event);
    Ok(())
}

async fn on_connect<A: Adapter>(socket: SocketRef<A>, State(parlor): State<Parlor>) {
    let Some(me) = socket.extensions.get::<Principal>() else { return };
    let Ok(app) = parlor.app() else { return };
    // Counted before joining the rooms, uncounted when gone: the hub emits to the rooms of the
    // users it counts.
    app.realtime.hub.sio_joined(me.user_id);
    socket.join([user_room(me.user_id), session_room(me.session_id)]);
    let open = app.metrics.sockets.get_or_create(&SOCKET_IO).clone();
    open.inc();
    app.realtime.presence.connected(me.user_id);
    let (realtime, user_id) = (app.realtime.clone(), me.user_id);
    socket.on_disconnect(async move || {
        open.dec();
        realtime.presence.disconnected(user_id);
        realtime.hub.sio_left(user_id);
    });
    // A revocation that landed between the middleware's check and joining the rooms missed
    // this socket; checking again after joining closes that gap.
    if !app.auth.session_live(me).await {
        let _ = socket.disconnect();
    }
}

/// Runs a client command as the socket's user and acknowledges it (when the client asked) with
/// the same JSend envelope HTTP would answer: `{status: "success", data}` or `fail`/`error`.
/// socketioxide runs each handler in a task of its own, so a command finishes even when its
/// socket closes meanwhile (only the acknowledgement is lost).
async fn command<A: Adapter>(
    socket: SocketRef<A>,
    Event(name): Event,
    // A command emitted with no payload at all (`emitWithAck("chats.list")`) has no data.
    TryData(data): TryData<serde_json::Value>,
    ack: AckSender<A>,
    State(parlor): State<Parlor>,
) {
    let (Some(me), Some(allowance)) = (socket.extensions.get::<Principal>(), socket.extensions.get::<Budget>()) else {
        return;
    };
    let spent = allowance.0.lock().map_or(Ok(()), |mut allowance| allowance.spend());
    let result = async {
        spent?;
        let app = parlor.app().map_err(|refused| AppError::Unavailable(refused.1))?;
        let data = data.unwrap_or(serde_json::Value::Null);
        commands::run(&app, me.user_id, &name, data).await.unwrap_or_else(|| Err(unknown(&name)))
    }
    .await;
    let _ = ack.send(&jsend_of(result));
}

/// A socket's command allowance, shared by its handlers.
#[derive(Clone)]
struct Budget(Arc<Mutex<Allowance>>);

/// Not reached: only known commands are routed to [`command`].
fn unknown(name: &str) -> AppError {
    AppError::bad_request("unknown_event", format!("no such command: `{name}`"))
}

async fn unknown_event<A: Adapter>(socket: SocketRef<A>, Event(event): Event, Data(_): Data<serde_json::Value>) {
    let error =
        GatewayEvent::Error(ErrorEvent { reason: "unknown_event", message: format!("no such event: `{event}`") });
    let _ = socket.emit(error.name(), &error);
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use bytes::Bytes;

    use super::*;

    /// A request as hyper hands it over: the URI and every header value sliced from `buffer`
    /// (`path_len` bytes of URI, then the key), and the extensions the router and the request-id
    /// layer add, made from those.
    fn request_in(buffer: &Bytes, path_len: usize) -> Request {
        let uri = Uri::from_maybe_shared(buffer.slice(..path_len)).unwrap();
        let mut request = Request::builder().uri(uri.clone()).body(Body::empty()).unwrap();
        request.extensions_mut().insert(OriginalUri(uri));
        let mut key = HeaderValue::from_maybe_shared(buffer.slice(path_len..)).unwrap();
        key.set_sensitive(true);
        let headers = request.headers_mut();
        headers.insert("sec-websocket-key", key);
        headers
            .append("x-forwarded-for", HeaderValue::from_maybe_shared(buffer.slice(path_len..path_len + 4)).unwrap());
        headers.append("x-forwarded-for", HeaderValue::from_maybe_shared(buffer.slice(path_len + 4..)).unwrap());
        let id = HeaderValue::from_maybe_shared(buffer.slice(path_len..path_len + 8)).unwrap();
        request.extensions_mut().insert(RequestId::new(id));
        request
    }

    #[test]
    fn a_socket_io_request_keeps_nothing_of_the_buffer_it_was_read_into() {
        for (uri, rest) in [
            ("/socket.io/?EIO=4&transport=websocket", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("http://chat.example.com/socket.io/?EIO=4&transport=polling&t=P1", "dGhlIHNhbXBsZSBub25jZQ=="),
        ] {
            let buffer = Bytes::from(format!("{uri}{rest}").into_bytes());
            let request = request_in(&buffer, uri.len());
            assert!(!buffer.is_unique());

            let owned = own_head(request);
            assert!(buffer.is_unique(), "the request for {uri} still holds the buffer it was read into");
            assert_eq!(owned.uri(), uri);
            assert_eq!(owned.extensions().get::<OriginalUri>().map(|original| &original.0), Some(owned.uri()));
            let key = &owned.headers()["sec-websocket-key"];
            assert_eq!(key, rest);
            assert!(key.is_sensitive());
            let forwarded: Vec<_> = owned.headers().get_all("x-forwarded-for").iter().collect();
            assert_eq!(forwarded, [&rest[..4], &rest[4..]]);
            assert_eq!(owned.extensions().get::<RequestId>().unwrap().header_value(), &rest[..8]);
        }
    }

    #[test]
    fn other_requests_are_passed_on_as_they_are() {
        let buffer = Bytes::from(b"/api/v1/medGhlIHNhbXBsZSBub25jZQ==".to_vec());
        let request = own_head(request_in(&buffer, 10));
        assert!(!buffer.is_unique());
        assert_eq!(request.uri(), "/api/v1/me");
    }
}
