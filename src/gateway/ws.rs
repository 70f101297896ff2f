//! Plain WebSocket at `/api/v1/ws`: JSON text frames `{"event": …, "data": …}`, and the
//! commands of [`super::commands`] as frames `{"event", "data", "id"}`, each answered by
//! `{"event": "ack", "id", "data": <JSend>}` (a command without `id` is run unanswered).
//! Commands run one at a time, in the order they came, while events wait in the queue.
//!
//! Authenticated before the upgrade, by `Authorization: Bearer` or `?access_token=` (browsers
//! cannot set headers on a WebSocket; the request log redacts it). A browser's `Origin` must be
//! allowed. The server pings every `realtime.ping_interval_secs` and closes a connection that has
//! not answered by the next ping. Frames larger than `realtime.max_frame_bytes` close the
//! connection with 1009.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as Frame, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::commands::{self, Allowance};
use super::events::{GatewayEvent, SocketError};
use crate::app::AppState;
use crate::auth::{AuthFailure, Principal};
use crate::error::{AppError, Refusal, jsend_of};
use crate::realtime::Event as _;
use crate::realtime::{CloseReason, Outbound, ws_frame};
use crate::telemetry::RequestUser;
use crate::telemetry::WEBSOCKET;
use crate::web::Unauthenticated;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(connect))
}

/// Bytes read from the socket at a time, allocated per connection. Client frames are small JSON
/// (a larger one is read in several steps); tungstenite's 128 KiB default would cost that much
/// memory per idle connection.
pub const READ_BUFFER: usize = 1024;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct WsQuery {
    /// The access token, for clients that cannot send headers (browsers). Prefer the header.
    access_token: Option<String>,
}

/// Opens a WebSocket for live events (the AsyncAPI document at `/api/v1/asyncapi.json` lists
/// them). Frames are JSON text: `{"event": "user.avatar_updated", "data": {…}}`. The web site's
/// pages authenticate with their `parlor_session` cookie instead of a token.
#[utoipa::path(
    get, path = "/ws", tag = "realtime",
    params(WsQuery),
    security(("bearer" = [])),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket handshake (`not_a_websocket`)", body = crate::web::JSendFail,
            example = json!({"status": "fail", "data": {"reason": "not_a_websocket", "message": "this route only accepts WebSocket upgrades"}})),
        Unauthenticated,
        (status = 403, description = "A browser origin that is not allowed (`origin_not_allowed`)", body = crate::web::JSendFail),
    )
)]
async fn connect(
    State(app): State<AppState>,
    Query(query): Query<WsQuery>,
    mut parts: Parts,
) -> Result<Response, AppError> {
    if !super::origin_allowed(&app.config, &parts.headers) {
        return Err(AppError::fail(Refusal::Forbidden, "origin_not_allowed", "this origin may not open sockets here"));
    }
    let token = crate::web::bearer_token(&parts.headers).map(str::to_owned).or(query.access_token);
    let me = match (token.filter(|t| !t.is_empty()), crate::web::session_cookie(&parts.headers)) {
        (Some(token), _) => app.auth.authenticate(&token).await?,
        // The site's pages: the browser sends the session cookie, and the origin check above
        // keeps other sites' pages from riding on it.
        (None, Some(secret)) => app.auth.authenticate_web(&secret).await?,
        (None, None) => return Err(AuthFailure::Missing.into()),
    };
    if let Some(slot) = parts.extensions.get::<RequestUser>() {
        slot.set(me.user_id.uuid());
    }
    let upgrade = <WebSocketUpgrade as axum::extract::FromRequestParts<AppState>>::from_request_parts(&mut parts, &app)
        .await
        .map_err(|_| {
            AppError::fail(Refusal::BadRequest, "not_a_websocket", "this route only accepts WebSocket upgrades")
        })?;
    let frame_bytes = app.config.realtime.max_frame_bytes;
    Ok(upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(frame_bytes)
        .max_frame_size(frame_bytes)
        .on_upgrade(move |socket| serve(app, me, socket)))
}

/// One connection, until either side ends it.
async fn serve(app: AppState, me: Principal, socket: WebSocket) {
    let open = app.metrics.sockets.get_or_create(&WEBSOCKET).clone();
    open.inc();
    run(&app, me, socket).await;
    open.dec();
}

async fn run(app: &AppState, me: Principal, mut socket: WebSocket) {
    let mut connection = app.realtime.hub.register_ws(me);
    // A revocation between the handshake's check and the registration missed this connection.
    if !app.auth.session_live(me).await {
        close(&mut socket, CloseReason::SessionRevoked.close_frame()).await;
        app.realtime.hub.unregister_ws(me.user_id, connection.id);
        return;
    }
    app.realtime.presence.connected(me.user_id);
    let mut ping = tokio::time::interval(Duration::from_secs(app.config.realtime.ping_interval_secs));
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    let mut answered = true;
    let mut allowance = Allowance::new(app.config.realtime.commands_per_second);
    loop {
        tokio::select! {
            frame = connection.frames.recv() => {
                let closing = connection.close_reason();
                let text = match frame {
                    // Once closing, queued events are skipped; only the farewell goes out.
                    Some(Outbound::Event(_)) if closing.is_some() => continue,
                    Some(Outbound::Event(text) | Outbound::Farewell(text)) => text,
                    None => {
                        close(&mut socket, closing.unwrap_or(CloseReason::TooSlow).close_frame()).await;
                        break;
                    }
                };
                if socket.send(Frame::Text(text)).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Frame::Text(text))) => {
                    let Some(reply) = answer(app, me, &mut allowance, text.as_str()).await else { continue };
                    if socket.send(Frame::Text(reply)).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Frame::Binary(_))) => {
                    let reply = error_frame("bad_frame", "frames are JSON text; binary frames are not accepted".into());
                    if socket.send(Frame::Text(reply)).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Frame::Pong(_) | Frame::Ping(_))) => answered = true,
                Some(Ok(Frame::Close(_))) | None => break,
                Some(Err(err)) => {
                    if is_too_big(err) {
                        close(&mut socket, (1009, "frame_too_large")).await;
                    }
                    break;
                }
            },
            _ = ping.tick() => {
                if !answered {
                    close(&mut socket, (1001, "ping_timeout")).await;
                    break;
                }
                answered = false;
                if socket.send(Frame::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
        }
    }
    app.realtime.hub.unregister_ws(me.user_id, connection.id);
    app.realtime.presence.disconnected(me.user_id);
}

/// A frame or message over `max_frame_bytes`, as tungstenite reports it.
fn is_too_big(err: axum::Error) -> bool {
    matches!(err.into_inner().downcast_ref::<tungstenite::Error>(), Some(tungstenite::Error::Capacity(_)))
}

async fn close(socket: &mut WebSocket, (code, reason): (u16, &'static str)) {
    let _ = socket.send(Frame::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
}

/// A client frame: `{"event": …, "data": …, "id": …}`.
#[derive(Debug, Deserialize)]
pub struct ClientFrame {
    pub event: String,
    #[serde(default)]
    pub data: serde_json::Value,
    /// Asks for an `ack` frame that repeats it: a string or a number.
    pub id: Option<serde_json::Value>,
}

/// A client's text frame as a command, or the `error` frame that refuses it.
pub fn read_frame(text: &str) -> Result<ClientFrame, Utf8Bytes> {
    let frame = serde_json::from_str::<ClientFrame>(text)
        .map_err(|err| error_frame("bad_frame", format!("expected {{\"event\": …, \"data\": …}}: {err}")))?;
    if frame.id.as_ref().is_some_and(|id| !(id.is_string() || id.is_number())) {
        return Err(error_frame("bad_frame", "`id` must be a string or a number".into()));
    }
    Ok(frame)
}

/// The reply to a client's text frame: a command's `ack` (if it carried an `id`), or an `error`
/// event for a frame that is not a command.
async fn answer(app: &AppState, me: Principal, allowance: &mut Allowance, text: &str) -> Option<Utf8Bytes> {
    let frame = match read_frame(text) {
        Ok(frame) => frame,
        Err(refusal) => return Some(refusal),
    };
    let event = truncate(&frame.event, 64);
    if !commands::NAMES.contains(&frame.event.as_str()) {
        let message = format!("no such event: `{event}`");
        return Some(match frame.id {
            Some(id) => ack_frame(&id, Err(AppError::bad_request("unknown_event", message))),
            None => error_frame("unknown_event", message),
        });
    }
    let outcome = match allowance.spend() {
        Ok(()) => commands::run(app, me.user_id, &frame.event, frame.data)
            .await
            .unwrap_or_else(|| Err(AppError::bad_request("unknown_event", format!("no such event: `{event}`")))),
        Err(refused) => Err(refused),
    };
    frame.id.map(|id| ack_frame(&id, outcome))
}

fn ack_frame(id: &serde_json::Value, outcome: Result<serde_json::Value, AppError>) -> Utf8Bytes {
    let frame = serde_json::json!({ "event": "ack", "id": id, "data": jsend_of(outcome) });
    Utf8Bytes::from(frame.to_string())
}

fn truncate(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

fn error_frame(reason: &'static str, message: String) -> Utf8Bytes {
    let error = GatewayEvent::Error(SocketError { reason, message });
    match serde_json::value::to_raw_value(&error) {
        Ok(data) => ws_frame(error.name(), &data),
        Err(_) => Utf8Bytes::from_static(r#"{"event":"error","data":{"reason":"bad_frame"}}"#),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ack_frame_repeats_the_id_and_carries_the_jsend() {
        let ok: serde_json::Value =
            serde_json::from_str(ack_frame(&serde_json::json!(7), Ok(serde_json::json!({"chats": []}))).as_str())
                .unwrap();
        assert_eq!(
            ok,
            serde_json::json!({"event": "ack", "id": 7, "data": {"status": "success", "data": {"chats": []}}})
        );
        let failed: serde_json::Value = serde_json::from_str(
            ack_frame(&serde_json::json!("a"), Err(AppError::invalid("chat_id", "is required"))).as_str(),
        )
        .unwrap();
        assert_eq!(failed["data"]["status"], "fail");
        assert_eq!(failed["id"], "a");
    }
}
