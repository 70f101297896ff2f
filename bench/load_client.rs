//! What the socket load clients share: opening a socket from a chosen loopback address (so
//! ephemeral ports never run out), a bare HTTP request, and reading a process's CPU time and
//! memory from `/proc`.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Ws,
    #[allow(dead_code)] // not every client speaks Socket.IO
    Sio,
}

pub type Socket = tokio_tungstenite::WebSocketStream<TcpStream>;

pub async fn open(addr: SocketAddr, source: Ipv4Addr, kind: Kind, token: &str) -> anyhow::Result<Socket> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))?;
    let stream = socket.connect(addr).await?;
    let url = match kind {
        Kind::Ws => format!("ws://{addr}/api/v1/ws"),
        Kind::Sio => format!("ws://{addr}/socket.io/?EIO=4&transport=websocket"),
    };
    let mut request = url.into_client_request()?;
    if kind == Kind::Ws {
        request.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
    }
    // tungstenite's default 128 KiB read buffer is zero-filled before every read: with it, this
    // client spent more than half its CPU in memset and slowed the deliveries it measures.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await?;
    if kind == Kind::Sio {
        let open = ws.next().await.ok_or_else(|| anyhow::anyhow!("no open packet"))??;
        anyhow::ensure!(open.to_text()?.starts_with('0'), "not an Engine.IO open packet");
        ws.send(Message::text(format!("40{}", serde_json::json!({ "token": token })))).await?;
        loop {
            let answer = ws.next().await.ok_or_else(|| anyhow::anyhow!("no connect answer"))??;
            match answer.to_text()? {
                "2" => ws.send(Message::text("3")).await?,
                text if text.starts_with("40") => break,
                text => anyhow::bail!("refused: {text}"),
            }
        }
    }
    Ok(ws)
}

/// User + system CPU time of a process so far (clock ticks of 10 ms).
#[allow(dead_code)] // not every client reads CPU time
pub fn cpu_secs(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("").split_whitespace().collect();
    let ticks: u64 = fields.get(11).unwrap_or(&"0").parse::<u64>()? + fields.get(12).unwrap_or(&"0").parse::<u64>()?;
    Ok(ticks as f64 / 100.0)
}

#[allow(dead_code)] // not every client reads memory
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).ok_or_else(|| anyhow::anyhow!("no VmRSS"))?;
    Ok(line.split_whitespace().nth(1).unwrap_or("0").parse()?)
}

/// One HTTP/1.1 request with `Connection: close`; enough for the few calls a load client makes.
#[allow(dead_code)] // not every client makes requests
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{auth}Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response.split_whitespace().nth(1).unwrap_or("0").parse()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}
