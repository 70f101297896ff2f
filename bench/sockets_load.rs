//! Socket load client for `bench/sockets.sh`: opens many idle authenticated connections to a
//! running Parlor, reports the server's RSS per connection, then fans events out to all of them
//! and reports delivery latency.
//!
//! ```text
//! sockets_load <http://host:port> <server pid> <ws|sio> <connections> [events]
//! ```
//!
//! Connections come from 127.0.0.1…127.0.0.254 in turn, so ephemeral ports never run out. Every
//! connection belongs to one user (one session), so each avatar upload is one event delivered to
//! all of them; its `at` (server clock, µs) against the arrival time on this machine gives the
//! latency. Socket.IO is spoken on the websocket transport directly (Engine.IO v4 framing).
#![allow(clippy::print_stdout, clippy::unwrap_used)]

#[path = "load_client.rs"]
mod load_client;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use futures::{SinkExt, StreamExt};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{Mutex, Semaphore};
use tokio_tungstenite::tungstenite::Message;

use load_client::{Kind, cpu_secs, http, open, rss_kib};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, pid, kind, count, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: sockets_load <http://host:port> <server pid> <ws|sio> <connections> [events]");
    };
    let addr: SocketAddr = base.trim_start_matches("http://").parse()?;
    let pid: u32 = pid.parse()?;
    let kind = if kind == "sio" { Kind::Sio } else { Kind::Ws };
    let count: usize = count.parse()?;
    let events: usize = rest.first().map(|e| e.parse()).transpose()?.unwrap_or(20);

    let (_, body) = http(addr, "POST", "/api/v1/auth/register", None, &serde_json::json!({
        "identifier": format!("load_{}", &uuid::Uuid::now_v7().simple().to_string()[20..]), "password": "correct horse battery"
    }).to_string()).await?;
    let token = serde_json::from_str::<serde_json::Value>(&body)?["data"]["access_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("register failed: {body}"))?
        .to_owned();

    let before = rss_kib(pid)?;
    let latencies = Arc::new(Mutex::new(Vec::<u64>::with_capacity(count * events)));
    let connected = Arc::new(AtomicUsize::new(0));
    let received = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(256));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let source = Ipv4Addr::new(127, 0, 0, 1 + (i % 254) as u8);
        let (token, gate, connected, received, latencies) =
            (token.clone(), gate.clone(), connected.clone(), received.clone(), latencies.clone());
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.unwrap();
            let mut ws = match open(addr, source, kind, &token).await {
                Ok(ws) => ws,
                Err(err) => {
                    eprintln!("connection {i} failed: {err}");
                    return;
                }
            };
            drop(permit);
            connected.fetch_add(1, Ordering::Relaxed);
            let mut mine = Vec::new();
            while let Some(Ok(frame)) = ws.next().await {
                let Message::Text(text) = frame else { continue };
                let text = text.as_str();
                if kind == Kind::Sio && text == "2" {
                    let _ = ws.send(Message::text("3")).await;
                    continue;
                }
                // Arrival is when the frame is read, before this client spends time on it.
                let now = OffsetDateTime::now_utc();
                let Some(at) = event_time(text) else { continue };
                mine.push(u64::try_from((now - at).whole_microseconds()).unwrap_or(0));
                received.fetch_add(1, Ordering::Relaxed);
                if mine.len() == events {
                    break;
                }
            }
            latencies.lock().await.extend(mine);
            // Stay connected until the run ends, so the server's count stays put.
            std::future::pending::<()>().await;
        }));
    }
    while connected.load(Ordering::Relaxed) < count && started.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let open_count = connected.load(Ordering::Relaxed);
    let connect_secs = started.elapsed().as_secs_f64();
    // Let allocations settle (buffers shrink, the first pings pass) before measuring.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = rss_kib(pid)?;
    let per_conn = (after.saturating_sub(before)) as f64 * 1024.0 / open_count.max(1) as f64;
    println!(
        "{{\"kind\":\"{}\",\"connections\":{open_count},\"connect_secs\":{connect_secs:.1},\"rss_before_kib\":{before},\"rss_after_kib\":{after},\"rss_per_connection_bytes\":{per_conn:.0}}}",
        if kind == Kind::Ws { "websocket" } else { "socket.io" }
    );

    // Fan-out: one avatar change at a time, each delivered to every connection.
    let (server_cpu, client_cpu) = (cpu_secs(pid)?, cpu_secs(std::process::id())?);
    let image = base64::engine::general_purpose::STANDARD.encode(PNG);
    let body = serde_json::json!({ "image": format!("data:image/png;base64,{image}") }).to_string();
    for n in 1..=events {
        let (status, reply) = http(addr, "PUT", "/api/v1/me/avatar", Some(&token), &body).await?;
        anyhow::ensure!(status == 200, "avatar upload failed: {status} {reply}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while received.load(Ordering::Relaxed) < n * open_count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let (server_cpu, client_cpu) = (cpu_secs(pid)? - server_cpu, cpu_secs(std::process::id())? - client_cpu);
    tokio::time::sleep(Duration::from_millis(500)).await;
    for task in &tasks {
        task.abort();
    }
    let mut all = latencies.lock().await.clone();
    all.sort_unstable();
    let pct = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied();
    let ms = |v: Option<u64>| v.map_or(f64::NAN, |v| v as f64 / 1000.0);
    println!(
        "{{\"kind\":\"{}\",\"fanout_to\":{open_count},\"events\":{events},\"deliveries\":{},\"expected\":{},\"p50_ms\":{:.1},\"p99_ms\":{:.1},\"max_ms\":{:.1},\"server_cpu_secs\":{server_cpu:.2},\"client_cpu_secs\":{client_cpu:.2}}}",
        if kind == Kind::Ws { "websocket" } else { "socket.io" },
        all.len(),
        open_count * events,
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(all.last().copied()),
    );
    Ok(())
}

/// `at` of a `user.avatar_updated` event, in either framing (the only event this load raises,
/// and its only `"at"` field), read without parsing the whole frame.
fn event_time(frame: &str) -> Option<OffsetDateTime> {
    let (_, rest) = frame.split_once(r#""at":""#)?;
    let (at, _) = rest.split_once('"')?;
    OffsetDateTime::parse(at, &Rfc3339).ok()
}

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53, 0xde, 0x00, 0x00, 0x00, 0x0c, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0x00, 0x00, 0x03, 0x01, 0x01, 0x00, 0xc9, 0xfe, 0x92, 0xef,
    0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];
