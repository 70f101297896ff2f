//! Fan-out client for `bench/fanout.sh`: one group of many members, each with a socket open on
//! one of several instances, and messages sent into it on one instance.
//!
//! ```text
//! fanout_load seed <database url> <keys dir> <http://host:port> <members> <ids file>
//! fanout_load hold <ws|sio|mix> <ids file> <from> <to> <keys dir> <http://host:port>[,…] <stop file>
//! fanout_load send <http://host:port> <ids file> <keys dir>
//! ```
//!
//! `seed` writes the members straight into the database (no password hashing: nobody signs in
//! as them), each with a live session, and makes the first the owner of a group, created
//! through the API, that holds them all; their presence is hidden, so that connecting 100,000
//! sockets measures connecting rather than 100,000 × 100,000 presence notices. The ids file has
//! the chat id on its first line and then `user session` per member. Access tokens are signed
//! here with the instances' own key files, as a login would have them signed.
//!
//! `hold` opens one socket for each member `from..to` (every instance in turn; with `mix`, half
//! of each instance's on WebSocket and half on Socket.IO), answers pings, and times each
//! `message.created` from the message's `created_at` (the server's clock, on this machine) to
//! its arrival. It prints a JSON line a second (`opened`, `failed`, `retries`, `received`,
//! `closed`) and, once the stop file exists, writes its latencies (µs, one a line) to
//! `<stop file>.<from>` and exits.
//!
//! `send` posts one message as the owner and prints the server's answer time in ms.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

#[path = "load_client.rs"]
mod load_client;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use parlor::auth::TokenKeys;
use parlor::config::AuthConfig;
use parlor::domain::{SessionId, UserId};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, Database, TransactionTrait};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use load_client::{Kind, http, open};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("seed") => {
            let [_, _, url, keys, base, members, ids] = args.as_slice() else { anyhow::bail!("usage: see the header") };
            seed(url, Path::new(keys), addr(base)?, members.parse()?, Path::new(ids)).await
        }
        Some("hold") => {
            let [_, _, kind, ids, from, to, keys, bases, stop] = args.as_slice() else {
                anyhow::bail!("usage: see the header")
            };
            let bases = bases.split(',').map(addr).collect::<anyhow::Result<Vec<_>>>()?;
            hold(kind, Path::new(ids), from.parse()?, to.parse()?, Path::new(keys), &bases, PathBuf::from(stop)).await
        }
        Some("send") => {
            let [_, _, base, ids, keys] = args.as_slice() else { anyhow::bail!("usage: see the header") };
            send(addr(base)?, Path::new(ids), Path::new(keys)).await
        }
        _ => anyhow::bail!("usage: fanout_load seed|hold|send …"),
    }
}

fn addr(base: &str) -> anyhow::Result<SocketAddr> {
    Ok(base.trim_start_matches("http://").parse()?)
}

fn keys(dir: &Path) -> anyhow::Result<TokenKeys> {
    TokenKeys::load_or_generate(dir, &AuthConfig::default())
}

/// The chat id and every member's (user, session), the owner first.
fn read_ids(path: &Path) -> anyhow::Result<(Uuid, Vec<(UserId, SessionId)>)> {
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines();
    let chat = lines.next().ok_or_else(|| anyhow::anyhow!("empty ids file"))?.parse()?;
    let members = lines
        .map(|line| {
            let (user, session) = line.split_once(' ').ok_or_else(|| anyhow::anyhow!("bad line {line}"))?;
            Ok((user.parse::<Uuid>()?.into(), session.parse::<Uuid>()?.into()))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok((chat, members))
}

async fn seed(url: &str, keys_dir: &Path, base: SocketAddr, count: usize, ids: &Path) -> anyhow::Result<()> {
    let db = Database::connect(url).await?;
    let at = parlor::store::now();
    let expires = at + Duration::from_secs(86_400);
    let people: Vec<(Uuid, Uuid)> = (0..count).map(|_| (Uuid::now_v7(), Uuid::now_v7())).collect();
    let insert = |batch: &[(Uuid, Uuid)]| {
        let mut users = Query::insert()
            .into_table("users")
            .columns(["id", "username", "username_key", "password_hash", "show_presence", "created_at", "updated_at"])
            .to_owned();
        let mut sessions = Query::insert()
            .into_table("sessions")
            .columns(["id", "user_id", "created_at", "last_used_at", "expires_at"])
            .to_owned();
        for (user, session) in batch {
            let name = format!("f{}", user.simple());
            users.values_panic([
                (*user).into(),
                name.clone().into(),
                name.into(),
                "!".into(),
                false.into(),
                at.into(),
                at.into(),
            ]);
            sessions.values_panic([(*session).into(), (*user).into(), at.into(), at.into(), expires.into()]);
        }
        (users, sessions)
    };
    let txn = db.begin().await?;
    for batch in people.chunks(1000) {
        let (users, sessions) = insert(batch);
        txn.execute(&users).await?;
        txn.execute(&sessions).await?;
    }
    txn.commit().await?;

    // The group, through the API, as its owner would make it.
    let (owner, owner_session) = people[0];
    let token = keys(keys_dir)?.issue(owner.into(), owner_session.into())?;
    let body = serde_json::json!({ "type": "group", "title": "everyone" }).to_string();
    let (status, reply) = http(base, "POST", "/api/v1/chats", Some(&token), &body).await?;
    anyhow::ensure!(status == 201 || status == 200, "creating the group failed: {status} {reply}");
    let chat: Uuid = serde_json::from_str::<serde_json::Value>(&reply)?["data"]["chat"]["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no chat id in {reply}"))?
        .parse()?;

    // Everyone else joins, as adding them would leave them; the roster version moves on so
    // that no instance uses a member list it may have kept from before.
    let txn = db.begin().await?;
    for batch in people[1..].chunks(1000) {
        let mut members = Query::insert()
            .into_table("chat_members")
            .columns(["chat_id", "user_id", "role", "joined_at", "read_total"])
            .to_owned();
        for (user, _) in batch {
            members.values_panic([chat.into(), (*user).into(), "member".into(), at.into(), 0i64.into()]);
        }
        txn.execute(&members).await?;
    }
    let bump = Query::update()
        .table("chats")
        .value("roster_version", Expr::col("roster_version").add(1))
        .and_where(Expr::col("id").eq(chat))
        .to_owned();
    txn.execute(&bump).await?;
    txn.commit().await?;

    let mut file = std::io::BufWriter::new(std::fs::File::create(ids)?);
    writeln!(file, "{chat}")?;
    for (user, session) in &people {
        writeln!(file, "{user} {session}")?;
    }
    file.flush()?;
    println!("{{\"chat\":\"{chat}\",\"members\":{count}}}");
    Ok(())
}

#[derive(Default)]
struct Counts {
    opened: AtomicUsize,
    failed: AtomicUsize,
    retries: AtomicUsize,
    received: AtomicUsize,
    closed: AtomicUsize,
}

async fn hold(
    kind: &str,
    ids: &Path,
    from: usize,
    to: usize,
    keys_dir: &Path,
    bases: &[SocketAddr],
    stop: PathBuf,
) -> anyhow::Result<()> {
    let (_, members) = read_ids(ids)?;
    let keys = keys(keys_dir)?;
    let counts = Arc::new(Counts::default());
    let latencies = Arc::new(Mutex::new(Vec::<u64>::new()));
    // At most 64 handshakes at a time from each process, as a crowd of real clients would
    // arrive spread out.
    let gate = Arc::new(Semaphore::new(64));
    for i in from..to.min(members.len()) {
        let (user, session) = members[i];
        let token = keys.issue(user, session)?;
        let kind = match kind {
            "ws" => Kind::Ws,
            "sio" => Kind::Sio,
            // Each instance serves both kinds.
            _ if (i / bases.len()).is_multiple_of(2) => Kind::Ws,
            _ => Kind::Sio,
        };
        let (target, source) = (bases[i % bases.len()], Ipv4Addr::new(127, 0, 0, 1 + (i % 254) as u8));
        let (gate, counts, latencies) = (gate.clone(), counts.clone(), latencies.clone());
        tokio::spawn(async move {
            // A refused or dropped handshake (a busy instance closes a Socket.IO connection
            // that has not joined its namespace within `connect_timeout`) is tried again after
            // a jittered pause, as a client library would.
            let mut attempt: u32 = 0;
            let mut ws = loop {
                let permit = gate.clone().acquire_owned().await.unwrap();
                let result = open(target, source, kind, &token).await;
                drop(permit);
                match result {
                    Ok(ws) => break ws,
                    Err(_) if attempt < 8 => {
                        counts.retries.fetch_add(1, Ordering::Relaxed);
                        attempt += 1;
                        tokio::time::sleep(Duration::from_secs_f64(
                            fastrand::f64() * f64::from(1u32 << Ord::min(attempt, 4)),
                        ))
                        .await;
                    }
                    Err(err) => {
                        if counts.failed.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("member {i} could not connect: {err}");
                        }
                        return;
                    }
                }
            };
            counts.opened.fetch_add(1, Ordering::Relaxed);
            while let Some(Ok(frame)) = ws.next().await {
                let Message::Text(text) = frame else { continue };
                let text = text.as_str();
                if kind == Kind::Sio && text == "2" {
                    let _ = ws.send(Message::text("3")).await;
                    continue;
                }
                // Arrival is when the frame is read, before this client spends time on it.
                let now = OffsetDateTime::now_utc();
                if !text.contains("message.created") {
                    continue;
                }
                let Some(at) = created_at(text) else { continue };
                latencies.lock().unwrap().push(u64::try_from((now - at).whole_microseconds()).unwrap_or(0));
                counts.received.fetch_add(1, Ordering::Relaxed);
            }
            counts.closed.fetch_add(1, Ordering::Relaxed);
        });
    }
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let c = &counts;
        println!(
            "{{\"secs\":{},\"opened\":{},\"failed\":{},\"retries\":{},\"received\":{},\"closed\":{}}}",
            started.elapsed().as_secs(),
            c.opened.load(Ordering::Relaxed),
            c.failed.load(Ordering::Relaxed),
            c.retries.load(Ordering::Relaxed),
            c.received.load(Ordering::Relaxed),
            c.closed.load(Ordering::Relaxed)
        );
        if stop.exists() {
            break;
        }
    }
    let all = latencies.lock().unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create(format!("{}.{from}", stop.display()))?);
    for latency in all.iter() {
        writeln!(out, "{latency}")?;
    }
    out.flush()?;
    Ok(())
}

/// The message's `created_at`: the last one in the frame (an author's fields come before it,
/// `edited_at` after), read without parsing the whole frame.
fn created_at(frame: &str) -> Option<OffsetDateTime> {
    let (_, rest) = frame.rsplit_once(r#""created_at":""#)?;
    let (at, _) = rest.split_once('"')?;
    OffsetDateTime::parse(at, &Rfc3339).ok()
}

async fn send(base: SocketAddr, ids: &Path, keys_dir: &Path) -> anyhow::Result<()> {
    let (chat, members) = read_ids(ids)?;
    let (owner, session) = members[0];
    let token = keys(keys_dir)?.issue(owner, session)?;
    let body = serde_json::json!({ "text": "to everyone" }).to_string();
    let started = Instant::now();
    let (status, reply) = http(base, "POST", &format!("/api/v1/chats/{chat}/messages"), Some(&token), &body).await?;
    anyhow::ensure!(status == 201 || status == 200, "sending failed: {status} {reply}");
    println!("{:.1}", started.elapsed().as_secs_f64() * 1000.0);
    Ok(())
}
