//! Presence benchmark for `bench/presence.sh`: many users online at once, each in a group of 50,
//! their connections flapping (closed and opened again after a moment), against a running
//! Parlor in another process, whose CPU time is read from `/proc`.
//!
//! ```text
//! presence_load seed <data dir> <users> <tokens file>
//! presence_load flap <http://host:port> <server pid> <tokens file> <seconds> <flap every, seconds>
//! ```
//!
//! `seed` writes the accounts, groups and sessions straight into the data directory's database
//! (no password hashing), and one access token per line. `flap` opens one plain WebSocket per
//! user, measures the server idle for 10 s, then lets every connection flap once per the given
//! period on average (each flap: close, 0.2–2 s away, reconnect) and reports the server's CPU,
//! the flaps made and the `presence.changed` frames every client received.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

#[path = "load_client.rs"]
mod load_client;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use parlor::app::App;
use parlor::auth::ClientInfo;
use parlor::config::Config;
use parlor::domain::{ChatTitle, Gender, Username};
use parlor::store::NewUser;
use tokio_tungstenite::tungstenite::Message;

use load_client::{Kind, cpu_secs, open};

const GROUP: usize = 50;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("seed") if args.len() == 5 => seed(&args[2], args[3].parse()?, &args[4]).await,
        Some("flap") if args.len() == 7 => {
            let addr: SocketAddr = args[2].trim_start_matches("http://").parse()?;
            flap(addr, args[3].parse()?, &args[4], args[5].parse()?, args[6].parse()?).await
        }
        _ => anyhow::bail!(
            "usage: presence_load seed <data dir> <users> <tokens file>\n       presence_load flap <url> <pid> <tokens file> <seconds> <flap every>"
        ),
    }
}

async fn seed(data_dir: &str, users: usize, tokens: &str) -> anyhow::Result<()> {
    let config = Config { data_dir: data_dir.into(), ..Config::default() };
    let app = App::from_config(config).await?;
    let client = ClientInfo { ip: [127, 0, 0, 1].into(), user_agent: Some("presence_load".into()) };
    let started = Instant::now();
    let mut lines = String::new();
    let mut ids = Vec::with_capacity(users);
    for i in 0..users {
        let new = NewUser {
            username: Some(Username::parse(&format!("p{i:06}")).unwrap()),
            email: None,
            phone: None,
            first_name: None,
            last_name: None,
            gender: Gender::Unspecified,
            password_hash: "$argon2id$unused".to_owned(),
            is_admin: false,
        };
        let user = app.store.create_user(None, new).await?;
        let pair = app.auth.open_session(user.id, &client).await?;
        lines.push_str(&pair.access_token);
        lines.push('\n');
        ids.push(user.id);
    }
    for group in ids.chunks(GROUP) {
        let title = ChatTitle::parse("presence").unwrap();
        app.chats.create_group(group[0], title, group[1..].to_vec()).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    std::fs::write(tokens, lines)?;
    println!(
        "  seeded {users} users in groups of {GROUP}, a session each, in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What every client counts.
#[derive(Default)]
struct Counts {
    connected: AtomicUsize,
    presence_frames: AtomicU64,
    flaps: AtomicU64,
    failures: AtomicU64,
}

async fn flap(addr: SocketAddr, pid: u32, tokens: &str, seconds: u64, every: f64) -> anyhow::Result<()> {
    let tokens: Vec<String> = std::fs::read_to_string(tokens)?.lines().map(str::to_owned).collect();
    let users = tokens.len();
    let counts = Arc::new(Counts::default());
    let flapping = Arc::new(AtomicBool::new(false));
    let gate = Arc::new(tokio::sync::Semaphore::new(128));
    let started = Instant::now();
    for (i, token) in tokens.into_iter().enumerate() {
        let (counts, flapping, gate) = (counts.clone(), flapping.clone(), gate.clone());
        tokio::spawn(async move {
            let source = Ipv4Addr::new(127, 0, 0, 1 + (i % 250) as u8);
            let mut random = Random(0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1));
            let mut first = true;
            loop {
                let permit = gate.acquire().await.unwrap();
                let mut ws = match open(addr, source, Kind::Ws, &token).await {
                    Ok(ws) => ws,
                    Err(_) => {
                        counts.failures.fetch_add(1, Ordering::Relaxed);
                        drop(permit);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                };
                drop(permit);
                if first {
                    counts.connected.fetch_add(1, Ordering::Relaxed);
                    first = false;
                }
                // Online for an exponentially distributed while (mean `every`), counted from when
                // flapping starts, so the connections do not all close at once.
                let stay = Duration::from_secs_f64(every * random.exponential());
                let mut online_until = None;
                loop {
                    let now = tokio::time::Instant::now();
                    if online_until.is_none() && flapping.load(Ordering::Relaxed) {
                        online_until = Some(now + stay);
                    }
                    let deadline = online_until.unwrap_or(now + Duration::from_millis(500));
                    match tokio::time::timeout_at(deadline, ws.next()).await {
                        Ok(Some(Ok(Message::Text(text)))) => {
                            if text.as_str().starts_with(r#"{"event":"presence.changed""#) {
                                counts.presence_frames.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Ok(Some(Ok(_))) => {}
                        Ok(_) => break,
                        Err(_) if online_until.is_some() => break,
                        Err(_) => {}
                    }
                }
                drop(ws);
                counts.flaps.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs_f64(0.2 + 1.8 * random.unit())).await;
            }
        });
    }
    while counts.connected.load(Ordering::Relaxed) < users && started.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let connected = counts.connected.load(Ordering::Relaxed);
    println!("  {connected} users connected in {:.1} s", started.elapsed().as_secs_f64());
    // The first announcements (everyone coming online) pass.
    tokio::time::sleep(Duration::from_secs(12)).await;

    let measure = |label: &'static str, secs: u64| {
        let counts = counts.clone();
        async move {
            let (cpu, frames, flaps) = (
                cpu_secs(pid).unwrap(),
                counts.presence_frames.load(Ordering::Relaxed),
                counts.flaps.load(Ordering::Relaxed),
            );
            let at = Instant::now();
            tokio::time::sleep(Duration::from_secs(secs)).await;
            let wall = at.elapsed().as_secs_f64();
            let cpu = cpu_secs(pid).unwrap() - cpu;
            let frames = counts.presence_frames.load(Ordering::Relaxed) - frames;
            let flaps = counts.flaps.load(Ordering::Relaxed) - flaps;
            println!(
                "  {label}: {:.0} flaps/s; server CPU {:.1} % of one core; presence.changed received {:.0}/s (≈ {:.0} announcements/s to {} others each)",
                flaps as f64 / wall,
                100.0 * cpu / wall,
                frames as f64 / wall,
                frames as f64 / wall / (GROUP - 1) as f64,
                GROUP - 1,
            );
        }
    };
    measure("idle    ", 10).await;
    flapping.store(true, Ordering::Relaxed);
    measure("flapping", seconds).await;
    println!("  connection failures: {}", counts.failures.load(Ordering::Relaxed));
    Ok(())
}

/// xorshift64*: enough randomness for spreading flaps, without a dependency.
struct Random(u64);

impl Random {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn exponential(&mut self) -> f64 {
        -(1.0 - self.unit()).ln()
    }
}
