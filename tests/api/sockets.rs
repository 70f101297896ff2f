//! Socket clients for the integration tests: a plain WebSocket client, and a minimal Socket.IO v4
//! client speaking the wire protocol over the websocket transport (Engine.IO packet `0` open,
//! `2`/`3` ping/pong, `4` message; Socket.IO `0` connect, `1` disconnect, `2` event, `4`
//! connect_error). The official clients are exercised end to end in `e2e/`.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(5);

/// What a socket saw next.
#[derive(Debug, PartialEq)]
pub enum Seen {
    Event(String, Value),
    Closed(Option<(u16, String)>),
}

/// Opens `/api/v1/ws` with a bearer header, or fails with the HTTP refusal (status, JSON body).
pub async fn ws_connect(addr: SocketAddr, token: Option<&str>, origin: Option<&str>) -> Result<Ws, (u16, Value)> {
    let mut request = format!("ws://{addr}/api/v1/ws").into_client_request().unwrap();
    if let Some(token) = token {
        request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().as_deref().map(|b| serde_json::from_slice(b).unwrap()).unwrap_or(Value::Null);
            Err((response.status().as_u16(), body))
        }
        Err(err) => panic!("WebSocket handshake failed: {err}"),
    }
}

/// The next event or close on a plain WebSocket (pings are answered by tungstenite).
pub async fn ws_next(ws: &mut Ws) -> Seen {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next()).await.expect("nothing arrived in time");
        match frame {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                return Seen::Event(frame["event"].as_str().unwrap().to_owned(), frame["data"].clone());
            }
            Some(Ok(Message::Close(frame))) => {
                return Seen::Closed(frame.map(|CloseFrame { code, reason }| (code.into(), reason.to_string())));
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Seen::Closed(None),
        }
    }
}

/// The payload of the next event called `name` on a WebSocket, skipping others.
pub async fn ws_until(ws: &mut Ws, name: &str) -> Value {
    loop {
        match ws_next(ws).await {
            Seen::Event(event, data) if event == name => return data,
            Seen::Event(..) => continue,
            closed => panic!("closed while waiting for {name}: {closed:?}"),
        }
    }
}

/// Nothing arrives within `wait`.
/// Sends a command frame over the plain WebSocket and waits for its `ack` (events meanwhile are
/// skipped); returns the whole ack frame.
pub async fn ws_command(ws: &mut Ws, event: &str, data: Value, id: Value) -> Value {
    let frame = serde_json::json!({ "event": event, "data": data, "id": id });
    ws.send(Message::text(frame.to_string())).await.unwrap();
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next()).await.expect("no ack in time");
        let Some(Ok(Message::Text(text))) = frame else { panic!("closed before the ack: {frame:?}") };
        let frame: Value = serde_json::from_str(&text).unwrap();
        if frame["event"] == "ack" && frame["id"] == id {
            return frame;
        }
    }
}

/// Sends a raw text frame over the plain WebSocket.
pub async fn ws_send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text.to_owned())).await.unwrap();
}

pub async fn ws_quiet(ws: &mut Ws, wait: Duration) -> bool {
    tokio::time::timeout(wait, ws.next()).await.is_err()
}

pub struct Sio {
    ws: Ws,
    /// Events that arrived while waiting for an acknowledgement.
    pending: std::collections::VecDeque<Seen>,
    next_ack: u64,
}

/// Connects a Socket.IO client to namespace `/` with `auth: {token}`; `Err` carries the
/// `connect_error` message.
pub async fn sio_connect(addr: SocketAddr, token: &str) -> Result<Sio, String> {
    sio_connect_with(addr, serde_json::json!({ "token": token }), None).await
}

pub async fn sio_connect_with(addr: SocketAddr, auth: Value, origin: Option<&str>) -> Result<Sio, String> {
    let mut request = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket").into_client_request().unwrap();
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().unwrap());
    }
    let (ws, _) = tokio_tungstenite::connect_async(request).await.expect("Engine.IO handshake");
    let mut sio = Sio { ws, pending: Default::default(), next_ack: 1 };
    let open = sio.packet().await.expect("open packet");
    assert!(open.starts_with('0'), "Engine.IO open expected, got {open}");
    sio.ws.send(Message::text(format!("40{auth}"))).await.unwrap();
    let answer = sio.packet().await.expect("connect answer");
    if answer.starts_with("40") {
        Ok(sio)
    } else if let Some(error) = answer.strip_prefix("44") {
        let error: Value = serde_json::from_str(error).unwrap();
        Err(error["message"].as_str().unwrap_or_default().to_owned())
    } else {
        panic!("unexpected answer to CONNECT: {answer}")
    }
}

impl Sio {
    /// The next Engine.IO message packet's text, answering pings; `None` once closed.
    async fn packet(&mut self) -> Option<String> {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next()).await.expect("nothing arrived in time");
            match frame {
                Some(Ok(Message::Text(text))) if text.as_str() == "2" => {
                    self.ws.send(Message::text("3")).await.ok()?;
                }
                Some(Ok(Message::Text(text))) => return Some(text.to_string()),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Reads without answering pings until the server closes the connection: `Some(pings)` it
    /// sent meanwhile if that happens within `wait`, `None` if the connection is still open.
    pub async fn ignore_pings_until_closed(&mut self, wait: Duration) -> Option<usize> {
        let mut pings = 0;
        let reading = async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Text(text))) if text.as_str() == "2" => pings += 1,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                    Some(Ok(_)) => continue,
                }
            }
        };
        tokio::time::timeout(wait, reading).await.ok().map(|()| pings)
    }

    /// The next event, or `Closed` when the server disconnects the socket.
    pub async fn next(&mut self) -> Seen {
        if let Some(seen) = self.pending.pop_front() {
            return seen;
        }
        loop {
            let Some(packet) = self.packet().await else { return Seen::Closed(None) };
            if let Some(event) = packet.strip_prefix("42") {
                let event: Value = serde_json::from_str(event).unwrap();
                return Seen::Event(event[0].as_str().unwrap().to_owned(), event[1].clone());
            }
            if packet.starts_with("41") || packet == "1" {
                return Seen::Closed(None);
            }
        }
    }

    /// The payload of the next event called `name`, skipping others.
    pub async fn until(&mut self, name: &str) -> Value {
        loop {
            match self.next().await {
                Seen::Event(event, data) if event == name => return data,
                Seen::Event(..) => continue,
                closed => panic!("closed while waiting for {name}: {closed:?}"),
            }
        }
    }

    /// Nothing arrives within `wait`.
    pub async fn quiet(&mut self, wait: Duration) -> bool {
        self.pending.is_empty() && tokio::time::timeout(wait, self.next()).await.is_err()
    }

    /// Sends an event asking for an acknowledgement and returns it; events that arrive first
    /// are kept for [`Self::next`].
    pub async fn call(&mut self, event: &str, data: Value) -> Value {
        self.call_with(serde_json::json!([event, data])).await
    }

    /// A command with nothing but its name (no payload argument at all).
    pub async fn call_bare(&mut self, event: &str) -> Value {
        self.call_with(serde_json::json!([event])).await
    }

    async fn call_with(&mut self, arguments: Value) -> Value {
        let id = self.next_ack;
        self.next_ack += 1;
        let packet = format!("42{id}{arguments}");
        self.ws.send(Message::text(packet)).await.unwrap();
        let prefix = format!("43{id}");
        loop {
            let packet = self.packet().await.expect("closed before the acknowledgement");
            if let Some(ack) = packet.strip_prefix(&prefix) {
                let ack: Value = serde_json::from_str(ack).unwrap();
                return ack[0].clone();
            }
            if let Some(event) = packet.strip_prefix("42") {
                let event: Value = serde_json::from_str(event).unwrap();
                self.pending.push_back(Seen::Event(event[0].as_str().unwrap().to_owned(), event[1].clone()));
            }
        }
    }

    /// Sends an event without an ack.
    pub async fn emit(&mut self, event: &str, data: Value) {
        let packet = format!("42{}", serde_json::json!([event, data]));
        self.ws.send(Message::text(packet)).await.unwrap();
    }
}
