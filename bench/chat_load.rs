//! Chat benchmark for `bench/chats.sh`: the whole application in this process (release build)
//! on the database named, requests through the full router (extractors, auth, JSON).
//!
//! ```text
//! chat_load <database url> [messages in the big chat, default 1000000]
//! ```
//!
//! With `PARLOR_BENCH_LISTS_ONLY` set, section 6 alone on a fresh database; with
//! `PARLOR_BENCH_SENDS_ONLY`, section 2 alone.
//!
//! 1. History pages, p50/p99 over 500 requests each: the newest page and one 90 % deep, in a
//!    chat of 10,000 messages and in one of N (seeded in bulk, in one chat); and the newest page
//!    of the first again once each of its messages carries reactions.
//! 2. Send throughput: 2,000 messages into a direct chat, sequentially and 8 at a time; 8,000
//!    from eight senders each into a direct chat of their own; 2,000 one at a time into groups
//!    of 1,000 and 10,000 members, offline, beside the direct chat's rate.
//! 3. Send throughput into a group of 1,000 members, each with a WebSocket open on a real
//!    loopback listener: how fast messages are accepted, and when every member has them.
//! 4. `GET /api/v1/chats` for a user in 500 chats, p50/p99 over 200 requests.
//! 5. The web site's pages on a page session (SPEC §3): `/chats/{id}` in the chats of section 1
//!    (10,000 and N messages; the newest page of history with members and forms) and `/chats`
//!    for the user in 500 chats, p50/p99 over 200 requests each.
//! 6. `GET /api/v1/chats?limit=50` for the same user in 5,000 chats (three pinned): the first
//!    page and page 91, p50/p99 over 200 requests each.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode, header};
use futures::StreamExt;
use http_body_util::BodyExt;
use parlor::app::{AppBuilder, AppState};
use parlor::auth::{ClientInfo, TokenKeys};
use parlor::config::Config;
use parlor::domain::UserId;
use parlor::domain::{ChatTitle, Gender, Username};
use parlor::store::{NewUser, Store};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, TransactionTrait};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

struct Bench {
    app: AppState,
    router: axum::Router,
}

struct Person {
    id: UserId,
    token: String,
    /// The secret of a page session (`parlor_session` cookie).
    cookie: String,
}

impl Bench {
    async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
        let (status, bytes) = self.fetch(method, path, token, body).await;
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// The status and the whole body, unparsed: what timed runs measure, so that the figures are
    /// the server's and not this client's JSON parsing.
    async fn fetch(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Bytes) {
        let mut request =
            Request::builder().method(method).uri(path).header(header::AUTHORIZATION, format!("Bearer {token}"));
        let body = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let response = self.router.clone().oneshot(request.body(body).unwrap()).await.unwrap();
        let status = response.status();
        (status, response.into_body().collect().await.unwrap().to_bytes())
    }

    /// A page of the web site, as a signed-in browser asks for it.
    async fn page(&self, path: &str, cookie: &str) -> (StatusCode, Bytes) {
        let request = Request::builder()
            .uri(path)
            .header(header::COOKIE, format!("parlor_session={cookie}"))
            .body(Body::empty())
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        (status, response.into_body().collect().await.unwrap().to_bytes())
    }

    /// An account with a token session and a page session, without the password hashing
    /// registration would cost.
    async fn person(&self, name: &str) -> Person {
        let user = self
            .app
            .store
            .create_user(
                None,
                NewUser {
                    username: Some(Username::parse(name).unwrap()),
                    email: None,
                    phone: None,
                    first_name: None,
                    last_name: None,
                    gender: Gender::Unspecified,
                    password_hash: "$argon2id$unused".to_owned(),
                    is_admin: false,
                },
            )
            .await
            .unwrap();
        let client = ClientInfo { ip: [127, 0, 0, 1].into(), user_agent: Some("chat_load".into()) };
        let pair = self.app.auth.open_session(user.id, &client).await.unwrap();
        let web = self.app.auth.open_web_session(user.id, &client).await.unwrap();
        Person { id: user.id, token: pair.access_token, cookie: web.secret }
    }

    async fn group(&self, owner: &Person, members: &[UserId]) -> Uuid {
        let title = ChatTitle::parse("bench").unwrap();
        self.app.chats.create_group(owner.id, title, members.to_vec()).await.unwrap().id
    }
}

/// p50 and p99 of `samples`, in milliseconds.
fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0;
    (at(0.50), at(0.99))
}

/// More than the pool's connections (20 on PostgreSQL).
const WARM_UP: usize = 50;

async fn timed<F: std::future::Future<Output = (StatusCode, Bytes)>>(
    runs: usize,
    mut f: impl FnMut() -> F,
) -> (f64, f64) {
    // Warm-up, untimed: the first use of each pooled connection prepares its statements and
    // the first reads after a bulk load set hint bits, one-off costs that would otherwise be
    // this series' p99.
    for _ in 0..WARM_UP {
        f().await;
    }
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let (status, body) = f().await;
        samples.push(started.elapsed());
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    }
    percentiles(samples)
}

/// Writes `count` text messages into `chat` in batches, oldest first, as the application would
/// (time-ordered ids), and makes the newest the chat's last. Returns the ids, oldest first.
async fn seed(db: &DatabaseConnection, chat: Uuid, author: Uuid, count: usize) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(count);
    let at = parlor::store::now();
    let started = Instant::now();
    for batch in (0..count).collect::<Vec<_>>().chunks(2000) {
        let txn = db.begin().await.unwrap();
        // 500 rows per statement keeps under SQLite's and PostgreSQL's bound-parameter limits.
        for rows in batch.chunks(500) {
            let mut insert = Query::insert()
                .into_table("messages")
                .columns(["id", "chat_id", "author_id", "kind", "text", "created_at"])
                .to_owned();
            for i in rows {
                let id = Uuid::now_v7();
                ids.push(id);
                insert.values_panic([
                    id.into(),
                    chat.into(),
                    author.into(),
                    "text".into(),
                    format!("message {i}").into(),
                    at.into(),
                ]);
            }
            txn.execute(&insert).await.unwrap();
        }
        txn.commit().await.unwrap();
    }
    let last = *ids.last().unwrap();
    let update = Query::update()
        .table("chats")
        .value("last_message_id", last)
        .value("last_activity_at", at)
        .value("message_total", Expr::col("message_total").add(count as i64))
        .and_where(Expr::col("id").eq(chat))
        .to_owned();
    db.execute(&update).await.unwrap();
    // Unread for everyone but the author, as the send's bookkeeping would leave it.
    let own = Query::update()
        .table("chat_members")
        .value("own_since_read", Expr::col("own_since_read").add(count as i64))
        .and_where(Expr::col("chat_id").eq(chat))
        .and_where(Expr::col("user_id").eq(author))
        .to_owned();
    db.execute(&own).await.unwrap();
    // As after any bulk load: statistics and the visibility map now, rather than an autovacuum
    // competing with the timed runs for the CPU.
    let tidy = match db.get_database_backend() {
        DbBackend::Postgres => "VACUUM ANALYZE messages",
        _ => "ANALYZE messages",
    };
    db.execute_unprepared(tidy).await.unwrap();
    println!("  seeded {count} messages in {:.1} s", started.elapsed().as_secs_f64());
    ids
}

/// Sends timed by [`one_at_a_time`].
const SENDS: usize = 2000;

/// Sends `count` messages into `chat` as `who`, each after the last was answered; messages/s.
async fn one_at_a_time(bench: &Bench, chat: impl std::fmt::Display, who: &Person, count: usize) -> f64 {
    let path = format!("/api/v1/chats/{chat}/messages");
    let started = Instant::now();
    for i in 0..count {
        let (status, body) =
            bench.call(Method::POST, &path, &who.token, Some(json!({"text": format!("to all {i}")}))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    count as f64 / started.elapsed().as_secs_f64()
}

/// `count` accounts straight into the database (no password hashing: nobody signs in as
/// them), each a member of `chat` from now on, as joining would leave them.
async fn add_members(db: &DatabaseConnection, chat: Uuid, count: usize) {
    let at = parlor::store::now();
    let total = Query::select().column("message_total").from("chats").and_where(Expr::col("id").eq(chat)).to_owned();
    let total: i64 = db.query_one(&total).await.unwrap().unwrap().try_get("", "message_total").unwrap();
    let txn = db.begin().await.unwrap();
    for batch in (0..count).collect::<Vec<_>>().chunks(500) {
        let mut users = Query::insert()
            .into_table("users")
            .columns(["id", "username", "username_key", "password_hash", "created_at", "updated_at"])
            .to_owned();
        let mut members = Query::insert()
            .into_table("chat_members")
            .columns(["chat_id", "user_id", "role", "joined_at", "read_total"])
            .to_owned();
        for _ in batch {
            let id = Uuid::now_v7();
            let name = format!("m{}", id.simple());
            users.values_panic([id.into(), name.clone().into(), name.into(), "!".into(), at.into(), at.into()]);
            members.values_panic([chat.into(), id.into(), "member".into(), at.into(), total.into()]);
        }
        txn.execute(&users).await.unwrap();
        txn.execute(&members).await.unwrap();
    }
    txn.commit().await.unwrap();
}

/// Section 6: keyset pages of the chat list of someone in 5,000 chats (a few of them pinned),
/// `made` of which exist already.
async fn keyset_pages(bench: &Bench, db: &DatabaseConnection, busy: &Person, members: &[Person], made: usize) {
    for i in made..5000 {
        let others = vec![members[i % 999].id, members[(i + 1) % 999].id];
        let title = ChatTitle::parse(&format!("group {i}")).unwrap();
        bench.app.chats.create_group(busy.id, title, others).await.unwrap();
    }
    let (_, body) = bench.call(Method::GET, "/api/v1/chats?limit=3", &busy.token, None).await;
    for chat in body["data"]["chats"].as_array().unwrap() {
        let id: Uuid = chat["id"].as_str().unwrap().parse().unwrap();
        bench.app.chats.pin_chat(busy.id, id.into(), parlor::store::Pin::Last).await.unwrap();
    }
    let mut cursors = Vec::new();
    let mut next = String::new();
    loop {
        let path = format!("/api/v1/chats?limit=50{next}");
        let (_, body) = bench.call(Method::GET, &path, &busy.token, None).await;
        assert_eq!(body["data"]["chats"].as_array().map(Vec::len), Some(50));
        match body["data"]["next_after"].as_str() {
            Some(cursor) => {
                next = format!("&after={cursor}");
                cursors.push(next.clone());
            }
            None => break,
        }
    }
    assert_eq!(cursors.len(), 99, "5,000 chats in 100 pages of 50");
    let first = "/api/v1/chats?limit=50".to_owned();
    let deep = format!("/api/v1/chats?limit=50{}", cursors[89]);
    let (p50, p99) = timed(200, || bench.fetch(Method::GET, &first, &busy.token, None)).await;
    println!("  GET /api/v1/chats?limit=50, 5,000 chats, first page: p50 {p50:.2} ms  p99 {p99:.2} ms");
    let (p50, p99) = timed(200, || bench.fetch(Method::GET, &deep, &busy.token, None)).await;
    println!("  GET /api/v1/chats?limit=50, 5,000 chats, page 91:    p50 {p50:.2} ms  p99 {p99:.2} ms");
    if db.get_database_backend() == DbBackend::Postgres {
        // The seeding just wrote every row these read, faster than autovacuum samples them: the
        // same pages again with the planner's statistics, as a server that has been running has.
        db.execute_unprepared("ANALYZE").await.unwrap();
        let (p50, p99) = timed(200, || bench.fetch(Method::GET, &first, &busy.token, None)).await;
        println!("  the same first page after ANALYZE:                     p50 {p50:.2} ms  p99 {p99:.2} ms");
    }
}

/// Section 2: sends between two, from eight senders, and into big groups offline.
async fn sends(bench: &Arc<Bench>, db: &DatabaseConnection, alice: &Person, bob: &Person) {
    let direct = bench.app.chats.open_direct_chat(alice.id, bob.id).await.unwrap().0.id;
    let path = format!("/api/v1/chats/{direct}/messages");
    let rate = one_at_a_time(bench, direct, alice, SENDS).await;
    println!("  send, 2 members, one at a time: {rate:.0} messages/s");
    let started = Instant::now();
    let sends = futures::stream::iter(0..2000)
        .map(|i| {
            bench.call(
                Method::POST,
                &path,
                if i % 2 == 0 { &alice.token } else { &bob.token },
                Some(json!({"text": "hi"})),
            )
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    assert!(sends.iter().all(|(status, _)| *status == StatusCode::CREATED));
    println!("  send, 2 members, 8 at a time:   {:.0} messages/s", 2000.0 / started.elapsed().as_secs_f64());
    // Eight senders, each one at a time into a direct chat of their own, each on a task of its
    // own (goal: >= 2,000 messages/s on PostgreSQL, >= 2,500 on SQLite).
    let mut senders = Vec::new();
    for i in 0..8 {
        let (sender, reader) = (bench.person(&format!("sender{i}")).await, bench.person(&format!("reader{i}")).await);
        let chat = bench.app.chats.open_direct_chat(sender.id, reader.id).await.unwrap().0.id;
        senders.push((sender, chat));
    }
    let started = Instant::now();
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|(sender, chat)| {
            let bench = bench.clone();
            tokio::spawn(async move { one_at_a_time(&bench, chat, &sender, SENDS / 2).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    println!(
        "  send, 8 senders each into a direct chat of their own: {:.0} messages/s",
        (8 * SENDS / 2) as f64 / started.elapsed().as_secs_f64()
    );

    // 2b. The same sends into big groups, their members offline: a send's cost must not grow
    // with the group (goal: >= 0.8 x the direct chat's rate, one at a time).
    let direct_rate = one_at_a_time(bench, direct, alice, SENDS).await;
    println!("  send, 2 members, one at a time (again, beside the groups): {direct_rate:.0} messages/s");
    for size in [1_000, 10_000] {
        let group = bench.group(alice, &[bob.id]).await;
        add_members(db, group, size - 2).await;
        let rate = one_at_a_time(bench, group, alice, SENDS).await;
        println!(
            "  send, {size:>6}-member group, members offline, one at a time: {rate:.0} messages/s ({:.2} x direct)",
            rate / direct_rate
        );
    }
}

/// Reactions on these messages: each of `people` with each of three emoji.
async fn react_to_newest(db: &DatabaseConnection, messages: &[Uuid], people: &[Uuid]) {
    let mut insert = Query::insert()
        .into_table("message_reactions")
        .columns(["message_id", "emoji", "user_id", "created_at"])
        .to_owned();
    for message in messages {
        for emoji in ["👍", "🎉", "❤️"] {
            for person in people {
                insert.values_panic([(*message).into(), emoji.into(), (*person).into(), parlor::store::now().into()]);
            }
        }
    }
    db.execute(&insert).await.unwrap();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, rest @ ..] = args.as_slice() else { anyhow::bail!("usage: chat_load <database url> [messages]") };
    let big: usize = rest.first().map(|n| n.parse()).transpose()?.unwrap_or(1_000_000);
    let data_dir = tempfile::tempdir()?;
    let mut config = Config { data_dir: data_dir.path().to_owned(), ..Config::default() };
    config.limits.messages_per_minute = u32::MAX;
    // Section 3's 1,000 members come online within a few seconds: each reader is then sent 999
    // `presence.changed` in one burst, and readers in this process, sharing two cores with the
    // server, fall behind the 256 frames a connection may have waiting and are closed as too
    // slow. The queue is made deep enough for the burst; the timed sends start once it is over.
    config.realtime.queue_len = 4096;
    let store = Store::connect(url).await?;
    store.migrate().await?;
    let keys = TokenKeys::from_keys(&[parlor::auth::tokens::generate_signing_key()?], &config.auth)?;
    let app = AppState(Arc::new(AppBuilder::new(config, store, keys).build().await?));
    let router = parlor::http::router(app.clone()).await?;
    let bench = Arc::new(Bench { app, router });
    let db = Database::connect(url.as_str()).await?;
    println!("== {} ({})", bench.app.store.backend(), url.split('@').next_back().unwrap_or(url));
    if std::env::var_os("PARLOR_BENCH_LISTS_ONLY").is_some() {
        // Section 6 alone, on a fresh database: the keyset pages of a chat list.
        let mut members = Vec::with_capacity(999);
        for i in 0..999 {
            members.push(bench.person(&format!("member{i:04}")).await);
        }
        keyset_pages(&bench, &db, &bench.person("busy").await, &members, 0).await;
        return Ok(());
    }
    if std::env::var_os("PARLOR_BENCH_SENDS_ONLY").is_some() {
        // Section 2 alone, on a fresh database: the send rates.
        sends(&bench, &db, &bench.person("alice").await, &bench.person("bob").await).await;
        return Ok(());
    }

    // 1. History.
    let alice = bench.person("alice").await;
    let bob = bench.person("bob").await;
    let mut chat_pages = Vec::new();
    for count in [10_000, big] {
        let chat = bench.group(&alice, &[bob.id]).await;
        let ids = seed(&db, chat, alice.id.uuid(), count).await;
        let deep = ids[count / 10];
        let newest = format!("/api/v1/chats/{chat}/messages?limit=50");
        let past = format!("/api/v1/chats/{chat}/messages?limit=50&before={deep}");
        let (p50, p99) = timed(500, || bench.fetch(Method::GET, &newest, &bob.token, None)).await;
        println!("  history, {count:>9} messages, newest page:   p50 {p50:.2} ms  p99 {p99:.2} ms");
        let (p50, p99) = timed(500, || bench.fetch(Method::GET, &past, &bob.token, None)).await;
        println!("  history, {count:>9} messages, 90 % deep page: p50 {p50:.2} ms  p99 {p99:.2} ms");
        if count == 10_000 {
            // The same newest page once each of its 50 messages carries three emoji from two people.
            react_to_newest(&db, &ids[ids.len() - 50..], &[alice.id.uuid(), bob.id.uuid()]).await;
            let (p50, p99) = timed(500, || bench.fetch(Method::GET, &newest, &bob.token, None)).await;
            println!(
                "  history, {count:>9} messages, newest page, 3 reactions by 2 people on each: p50 {p50:.2} ms  p99 {p99:.2} ms"
            );
        }
        chat_pages.push((count, chat));
    }

    // 2. Sending between two.
    sends(&bench, &db, &alice, &bob).await;

    // 3. A group of 1,000, all online.
    let mut members = Vec::with_capacity(1000);
    for i in 0..999 {
        members.push(bench.person(&format!("member{i:04}")).await);
    }
    let owner = bench.person("owner").await;
    let group = bench.group(&owner, &members.iter().map(|m| m.id).collect::<Vec<_>>()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // The server's own listener, without its per-address cap: every reader is on loopback.
    let (router, server) = (bench.router.clone(), bench.app.config.server.clone());
    tokio::spawn(async move {
        parlor::http::listener::serve(listener, router, &server, false, std::future::pending(), async {}).await
    });
    const MESSAGES: usize = 200;
    let received = Arc::new(AtomicUsize::new(0));
    let frames = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for member in members.iter().chain(std::iter::once(&owner)) {
        let url = format!("ws://{addr}/api/v1/ws?access_token={}", member.token);
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
        let (received, frames) = (received.clone(), frames.clone());
        readers.push(tokio::spawn(async move {
            let mut mine = 0;
            while mine < MESSAGES {
                let Some(Ok(frame)) = ws.next().await else { break };
                frames.fetch_add(1, Ordering::Relaxed);
                if frame.to_text().is_ok_and(|t| t.contains("\"message.created\"") && t.contains("\"text\":\"load")) {
                    mine += 1;
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // The presence announcements of everyone coming online, over before the timed sends.
    let mut seen = usize::MAX;
    while frames.load(Ordering::Relaxed) != seen {
        seen = frames.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    println!("  1,000 members online; {seen} presence frames delivered before the sends");
    let path = format!("/api/v1/chats/{group}/messages");
    let started = Instant::now();
    for i in 0..MESSAGES {
        let (status, body) =
            bench.call(Method::POST, &path, &owner.token, Some(json!({"text": format!("load {i}")}))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let accepted = started.elapsed();
    for reader in readers {
        tokio::time::timeout(Duration::from_secs(120), reader).await??;
    }
    let delivered = started.elapsed();
    assert_eq!(received.load(Ordering::Relaxed), MESSAGES * 1000);
    println!(
        "  send, 1,000 members online: {:.0} messages/s accepted; all {} deliveries done in {:.2} s ({:.0} deliveries/s)",
        MESSAGES as f64 / accepted.as_secs_f64(),
        MESSAGES * 1000,
        delivered.as_secs_f64(),
        (MESSAGES * 1000) as f64 / delivered.as_secs_f64(),
    );

    // 4. The chat list of someone in 500 chats.
    let busy = bench.person("busy").await;
    for i in 0..500 {
        let others = [members[i % 999].id, members[(i + 1) % 999].id];
        let chat = bench.group(&busy, &others).await;
        let draft = parlor::chat::SendMessage {
            kind: None,
            text: Some(format!("news {i}")),
            attachment_id: None,
            reply_to: None,
            client_id: None,
        };
        bench.app.chats.send_message(others[0], chat.into(), draft.draft().unwrap()).await.unwrap();
    }
    let (p50, p99) = timed(200, || bench.fetch(Method::GET, "/api/v1/chats", &busy.token, None)).await;
    let (_, body) = bench.call(Method::GET, "/api/v1/chats", &busy.token, None).await;
    assert_eq!(body["data"]["chats"].as_array().map(Vec::len), Some(500));
    println!("  GET /api/v1/chats, 500 chats: p50 {p50:.2} ms  p99 {p99:.2} ms");

    // 5. The same reads as pages.
    for (count, chat) in chat_pages {
        let path = format!("/chats/{chat}");
        let (status, html) = bench.page(&path, &bob.cookie).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(String::from_utf8_lossy(&html).matches(r#"class="message""#).count(), 50, "a page of 50");
        let (p50, p99) = timed(200, || bench.page(&path, &bob.cookie)).await;
        println!("  page /chats/{{id}}, {count:>9} messages: p50 {p50:.2} ms  p99 {p99:.2} ms");
    }
    let (status, html) = bench.page("/chats", &busy.cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(String::from_utf8_lossy(&html).matches(r#"<a href="/chats/"#).count(), 500, "every chat listed");
    let (p50, p99) = timed(200, || bench.page("/chats", &busy.cookie)).await;
    println!("  page /chats, 500 chats: p50 {p50:.2} ms  p99 {p99:.2} ms");

    // 6. Keyset pages of the chat list of someone in 5,000 chats (a few of them pinned).
    keyset_pages(&bench, &db, &busy, &members, 500).await;
    Ok(())
}
