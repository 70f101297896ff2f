//! Reconnect-storm client for `bench/storm.sh`: holds many authenticated sockets of one kind
//! spread over the instances named, and when they are dropped (an instance restarting) opens
//! each again with capped exponential backoff and full jitter, trying the next instance on each
//! attempt, as a client behind a load balancer would.
//!
//! ```text
//! storm_load <ws|sio> <connections> <http://host:port>[,<http://host:port>…] [deadline secs, default 120]
//! ```
//!
//! Prints a JSON line a second (connected, drops, reconnects, refusals by kind) and, once every
//! socket has been dropped at least once and is connected again, a summary with the time each
//! took to come back (p50/p99/max), holds the sockets 30 s more (for the script to read the
//! servers) and exits 0; exits 1 if the deadline (counted from the first
//! drop) passes first. A refusal is "clear" when it is an HTTP status (503 `server_full`, 429)
//! or a refused TCP connection (the instance is down); an attempt that gets no answer within
//! 10 s is a hang.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

#[path = "load_client.rs"]
mod load_client;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::sync::{Mutex, Semaphore};
use tokio_tungstenite::tungstenite::{self, Message};

use load_client::{Kind, http, open};

#[derive(Default)]
struct Counts {
    connected: AtomicUsize,
    drops: AtomicUsize,
    reconnects: AtomicUsize,
    /// Sockets that have been dropped and are back.
    back: AtomicUsize,
    refused_full: AtomicUsize,
    refused_address: AtomicUsize,
    refused_down: AtomicUsize,
    hangs: AtomicUsize,
    other: AtomicUsize,
}

const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const HOLD_AFTER: Duration = Duration::from_secs(30);

/// Full jitter over a capped exponential: 0–0.5 s, 0–1 s, 0–2 s, … up to 0–8 s.
fn backoff(attempt: u32) -> Duration {
    let cap = (0.5 * f64::from(1u32 << attempt.min(4))).min(8.0);
    Duration::from_secs_f64(fastrand::f64() * cap)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, kind, count, bases, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: storm_load <ws|sio> <connections> <http://host:port>[,…] [deadline secs]");
    };
    let kind = if kind == "sio" { Kind::Sio } else { Kind::Ws };
    let count: usize = count.parse()?;
    let deadline = Duration::from_secs(rest.first().map(|d| d.parse()).transpose()?.unwrap_or(120));
    let addrs: Vec<SocketAddr> =
        bases.split(',').map(|b| b.trim_start_matches("http://").parse()).collect::<Result<_, _>>()?;

    let (_, body) = http(addrs[0], "POST", "/api/v1/auth/register", None, &serde_json::json!({
        "identifier": format!("storm_{}", &uuid::Uuid::now_v7().simple().to_string()[20..]), "password": "correct horse battery"
    }).to_string()).await?;
    let token: Arc<str> = serde_json::from_str::<serde_json::Value>(&body)?["data"]["access_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("register failed: {body}"))?
        .into();

    let counts = Arc::new(Counts::default());
    let gaps = Arc::new(Mutex::new(Vec::<Duration>::with_capacity(count)));
    let first_drop = Arc::new(Mutex::new(None::<Instant>));
    // The first connections open 256 at a time; reconnections are paced by their backoff only.
    let gate = Arc::new(Semaphore::new(256));
    let started = Instant::now();
    for i in 0..count {
        let source = Ipv4Addr::new(127, 0, 0, 1 + (i % 254) as u8);
        let (token, counts, gaps, first_drop, gate, addrs) =
            (token.clone(), counts.clone(), gaps.clone(), first_drop.clone(), gate.clone(), addrs.clone());
        tokio::spawn(async move {
            let home = i % addrs.len();
            let mut dropped_at: Option<Instant> = None;
            let mut attempt = 0u32;
            let mut permit = Some(gate.acquire_owned().await.unwrap());
            loop {
                let addr = addrs[(home + attempt as usize) % addrs.len()];
                let outcome = tokio::time::timeout(ATTEMPT_TIMEOUT, open(addr, source, kind, &token)).await;
                let mut ws = match outcome {
                    Ok(Ok(ws)) => ws,
                    Ok(Err(err)) => {
                        classify(&err, &counts);
                        tokio::time::sleep(backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    Err(_) => {
                        counts.hangs.fetch_add(1, Ordering::Relaxed);
                        attempt += 1;
                        continue;
                    }
                };
                permit.take();
                attempt = 0;
                counts.connected.fetch_add(1, Ordering::Relaxed);
                if let Some(at) = dropped_at.take() {
                    counts.reconnects.fetch_add(1, Ordering::Relaxed);
                    let mut gaps = gaps.lock().await;
                    if gaps.len() < count {
                        gaps.push(at.elapsed());
                        counts.back.fetch_add(1, Ordering::Relaxed);
                    }
                }
                while let Some(Ok(frame)) = ws.next().await {
                    match frame {
                        Message::Text(text) if kind == Kind::Sio && text.as_str() == "2" => {
                            let _ = ws.send(Message::text("3")).await;
                        }
                        Message::Close(_) => break,
                        _ => {}
                    }
                }
                counts.connected.fetch_sub(1, Ordering::Relaxed);
                counts.drops.fetch_add(1, Ordering::Relaxed);
                first_drop.lock().await.get_or_insert_with(Instant::now);
                dropped_at = Some(Instant::now());
                tokio::time::sleep(backoff(0)).await;
            }
        });
    }

    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let c = &counts;
        let get = |n: &AtomicUsize| n.load(Ordering::Relaxed);
        println!(
            "{{\"t\":{:.0},\"connected\":{},\"drops\":{},\"reconnects\":{},\"refused_full\":{},\"refused_address\":{},\"refused_down\":{},\"hangs\":{},\"other\":{}}}",
            started.elapsed().as_secs_f64(),
            get(&c.connected),
            get(&c.drops),
            get(&c.reconnects),
            get(&c.refused_full),
            get(&c.refused_address),
            get(&c.refused_down),
            get(&c.hangs),
            get(&c.other)
        );
        let Some(first) = *first_drop.lock().await else { continue };
        let all_back = get(&c.back) >= count && get(&c.connected) == count;
        if all_back || first.elapsed() > deadline {
            let mut gaps = gaps.lock().await.clone();
            gaps.sort_unstable();
            let pct = |p: f64| {
                gaps.get(((gaps.len() as f64 * p) as usize).min(gaps.len().saturating_sub(1)))
                    .map_or(f64::NAN, Duration::as_secs_f64)
            };
            println!(
                "{{\"summary\":true,\"kind\":\"{}\",\"connections\":{count},\"back\":{},\"connected\":{},\"back_p50_s\":{:.2},\"back_p99_s\":{:.2},\"back_max_s\":{:.2},\"storm_secs\":{:.1},\"refused_full\":{},\"refused_address\":{},\"refused_down\":{},\"hangs\":{},\"other\":{}}}",
                if kind == Kind::Ws { "websocket" } else { "socket.io" },
                gaps.len(),
                get(&c.connected),
                pct(0.50),
                pct(0.99),
                gaps.last().map_or(f64::NAN, Duration::as_secs_f64),
                first.elapsed().as_secs_f64(),
                get(&c.refused_full),
                get(&c.refused_address),
                get(&c.refused_down),
                get(&c.hangs),
                get(&c.other)
            );
            // The sockets stay open a little longer, for the script to read the servers holding them.
            tokio::time::sleep(HOLD_AFTER).await;
            std::process::exit(if all_back { 0 } else { 1 });
        }
    }
}

/// Counts a failed attempt by what the client was told.
fn classify(err: &anyhow::Error, counts: &Counts) {
    let kind = match err.downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Http(response)) if response.status() == 503 => &counts.refused_full,
        Some(tungstenite::Error::Http(response)) if response.status() == 429 => &counts.refused_address,
        Some(tungstenite::Error::Io(io)) if io.kind() == std::io::ErrorKind::ConnectionRefused => &counts.refused_down,
        _ => match err.downcast_ref::<std::io::Error>() {
            Some(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => &counts.refused_down,
            _ => {
                if counts.other.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("attempt failed: {err:#}");
                }
                return;
            }
        },
    };
    kind.fetch_add(1, Ordering::Relaxed);
}
