//! Clients that hang up mid-request. Whatever point a request's future is dropped at, no pooled
//! connection is left inside a transaction, no lock outlives its request, and every write that
//! was acknowledged afterwards is still there once the pool's connections are recycled.
//!
//! On PostgreSQL the checks read `pg_stat_activity` and `pg_locks` from a connection of their
//! own, then end every connection of the test's database and count the acknowledged writes
//! from a fresh one. On SQLite the same load runs and every acknowledged write is read back.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use futures::StreamExt;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement, TransactionTrait};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tower::ServiceExt;

use crate::helpers::{Person, TestApp, texts};
use crate::sockets::ws_connect;

/// A connection of the test's own to the application's PostgreSQL database.
struct Watcher {
    db: DatabaseConnection,
}

impl Watcher {
    /// `None` on SQLite.
    async fn of(app: &TestApp) -> Option<Self> {
        let admin_url = std::env::var("PARLOR_TEST_DATABASE_URL").ok()?;
        let app_db = app.state.store.connection();
        let row = app_db
            .query_one_raw(Statement::from_string(app_db.get_database_backend(), "SELECT current_database() AS name"))
            .await
            .expect("current_database")
            .expect("a row");
        let name: String = row.try_get("", "name").expect("name");
        let base = admin_url.split('?').next().unwrap_or(&admin_url);
        let server = &base[..base.rfind('/').expect("database URL has a path")];
        let db = Database::connect(format!("{server}/{name}")).await.expect("watcher connects");
        Some(Self { db })
    }

    async fn count(&self, sql: &str) -> i64 {
        let row = self
            .db
            .query_one_raw(Statement::from_string(self.db.get_database_backend(), sql))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .expect("a row");
        row.try_get_by_index(0).expect("a count")
    }

    /// The application's connections that are not idle, with their last statements.
    async fn busy(&self) -> String {
        let sql = "SELECT coalesce(string_agg(format('%s %s (%s) for %s', pid, state, left(query, 60), \
                   now() - state_change), '; '), 'none') FROM pg_stat_activity \
                   WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'";
        let row = self.db.query_one_raw(Statement::from_string(self.db.get_database_backend(), sql)).await;
        row.ok().flatten().and_then(|r| r.try_get_by_index::<String>(0).ok()).unwrap_or_default()
    }

    /// Waits (up to 3 s) for every request still running, and every connection the pool is
    /// still taking back, to finish; then asserts that no connection of the application stays
    /// inside a transaction or holds a lock. A request's own transaction is left within
    /// milliseconds, so a state seen twice 20 ms apart with nothing else running is settled.
    async fn assert_no_transaction_left_open(&self) {
        let busy = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                    AND pid <> pg_backend_pid() AND state <> 'idle'";
        let locks = "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                     WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()";
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut settled = 0;
        while settled < 2 && Instant::now() < deadline {
            let quiet = self.count(busy).await == 0 && self.count(locks).await == 0;
            settled = if quiet { settled + 1 } else { 0 };
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(settled, 2, "pooled connections left inside a transaction: {}", self.busy().await);
    }

    /// Ends every other connection to the database, as a restart or the pool's recycling would:
    /// whatever a stale transaction held that was never committed is gone after this.
    async fn recycle_all_connections(&self) {
        self.count(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await;
    }
}

/// A request that may be hung up on.
fn request(method: Method, path: &str, body: serde_json::Value, who: &Person) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {}", who.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

/// Spins for `delay` on a blocking thread (timers are too coarse for this), so the request's
/// task can be aborted at any point of its work, not just at whole milliseconds.
async fn after(delay: Duration) {
    tokio::task::spawn_blocking(move || {
        let until = Instant::now() + delay;
        while Instant::now() < until {
            std::hint::spin_loop();
        }
    })
    .await
    .expect("spin");
}

/// `count` messages from `alice`, acknowledged.
async fn messages(app: &TestApp, alice: &Person, chat: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..count {
        ids.push(app.say(alice, chat, &format!("acked {i}")).await["id"].as_str().unwrap().to_owned());
    }
    ids
}

/// `bob` likes each message, acknowledged. A like is one statement outside any explicit
/// transaction, so on a connection left inside a stale transaction it would be acknowledged
/// and never committed.
async fn like_all(app: &TestApp, bob: &Person, chat: &str, ids: &[String]) {
    for id in ids {
        let liked = app.call(Method::PUT, &format!("/api/v1/chats/{chat}/messages/{id}/like"), &bob.token).await;
        assert_eq!(liked.status, StatusCode::OK, "{}", liked.text);
    }
}

/// Checks that the acknowledged writes survived: on PostgreSQL after ending every connection
/// and from a fresh one, on SQLite through the API.
async fn assert_acknowledged_writes_kept(app: &TestApp, watcher: Option<&Watcher>, bob: &Person, chat: &str, n: i64) {
    if let Some(watcher) = watcher {
        watcher.recycle_all_connections().await;
        let messages = watcher.count("SELECT count(*) FROM messages WHERE text LIKE 'acked %'").await;
        assert_eq!(messages, n, "acknowledged messages lost");
        let likes = watcher
            .count(
                "SELECT count(*) FROM message_likes l JOIN messages m ON m.id = l.message_id \
                 WHERE m.text LIKE 'acked %'",
            )
            .await;
        assert_eq!(likes, n, "acknowledged likes lost");
    } else {
        let page = app.history(bob, chat, "limit=100").await;
        let acked: Vec<_> = page.data()["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["text"].as_str().is_some_and(|t| t.starts_with("acked ")))
            .collect();
        assert_eq!(acked.len() as i64, n, "acknowledged messages lost");
        assert!(acked.iter().all(|m| m["like_count"] == 1), "acknowledged likes lost");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_whose_clients_hang_up_leave_no_transaction_open_and_lose_no_acknowledged_write() {
    // Each of the database's answers an extra millisecond late, so a request spends long
    // enough at each of its awaits for the sweep below to hang up there.
    let app = TestApp::with_slow_database(Duration::from_millis(1), |c| c.limits.messages_per_minute = 100_000).await;
    let watcher = Watcher::of(&app).await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.group(&alice, "Hang-ups", &[&bob]).await;
    let target = app.say(&alice, &chat, "like me").await["id"].as_str().unwrap().to_owned();
    let mut bobs_socket = ws_connect(app.listen().await, Some(&bob.token), None).await.expect("bob listens");

    // How long one send takes here, so the hang-ups sweep the whole of a request's work.
    let started = Instant::now();
    app.say(&alice, &chat, "warm-up").await;
    let span = started.elapsed().max(Duration::from_millis(1)) * 2;

    // Sends (a transaction under the chat's lock), likes (one statement) and profile edits
    // (a transaction on the user's row), each dropped at a point swept from 0 to `span`. A
    // later transaction on a connection left inside a stale one would end it too, so each
    // hang-up is checked for on its own.
    const HANGUPS: u32 = 90;
    for i in 0..HANGUPS {
        let request = match i % 3 {
            0 => {
                let text = format!("hung up {i}");
                request(Method::POST, &format!("/api/v1/chats/{chat}/messages"), json!({"text": text}), &alice)
            }
            1 => {
                let path = format!("/api/v1/chats/{chat}/messages/{target}/like");
                let method = if i % 2 == 0 { Method::PUT } else { Method::DELETE };
                request(method, &path, json!({}), &bob)
            }
            _ => request(Method::PATCH, "/api/v1/me", json!({"first_name": format!("N{i}")}), &alice),
        };
        let task = tokio::spawn(app.router.clone().oneshot(request));
        after(span * (i % 50) / 50).await;
        task.abort();
        let _ = task.await;
        if let Some(watcher) = &watcher {
            watcher.assert_no_transaction_left_open().await;
        }
    }

    // A send that was stored was also announced, though nobody was left to hear its answer.
    // Sends cut short finish in tasks of their own and may commit after a first look (on a
    // machine busy with other tests, later than a quiet spell on the socket): look again until
    // both agree, for at most 5 s.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut announced = BTreeSet::new();
    let stored = loop {
        while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_millis(300), bobs_socket.next()).await {
            let Message::Text(frame) = frame else { continue };
            let frame: serde_json::Value = serde_json::from_str(&frame).unwrap();
            let text = frame["data"]["message"]["text"].as_str().unwrap_or_default();
            if frame["event"] == "message.created" && text.starts_with("hung up") {
                announced.insert(text.to_owned());
            }
        }
        let stored: BTreeSet<String> = texts(&app.history(&bob, &chat, "limit=100").await)
            .into_iter()
            .filter(|text| text.starts_with("hung up"))
            .collect();
        if stored == announced || Instant::now() > deadline {
            break stored;
        }
    };
    assert_eq!(stored, announced, "stored sends that were never announced, or the reverse");

    let acked = messages(&app, &alice, &chat, 30).await;
    like_all(&app, &bob, &chat, &acked).await;
    if let Some(watcher) = &watcher {
        watcher.assert_no_transaction_left_open().await;
    }
    assert_acknowledged_writes_kept(&app, watcher.as_ref(), &bob, &chat, 30).await;
}

/// The bottom of it: a transaction whose future is dropped while its `BEGIN` is on the wire,
/// which is what a hang-up during a handler's first statement does. With each answer of the
/// database 10 ms late, a `begin` given 3 ms has checked a connection out and sent `BEGIN`,
/// and is still waiting for the answer when it is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_dropped_while_its_begin_is_in_flight_is_rolled_back() {
    let app = TestApp::with_slow_database(Duration::from_millis(10), |_| {}).await;
    let watcher = Watcher::of(&app).await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.direct(&alice, &bob).await;
    let acked = messages(&app, &alice, &chat, 10).await;
    let db = app.state.store.connection();
    for _ in 0..5 {
        let dropped = tokio::time::timeout(Duration::from_millis(3), db.begin()).await;
        assert!(dropped.is_err() || watcher.is_none(), "BEGIN was answered within 3 ms");
        // The connection goes back to the pool once the answer has been read.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    if let Some(watcher) = &watcher {
        watcher.assert_no_transaction_left_open().await;
    }
    like_all(&app, &bob, &chat, &acked).await;
    assert_acknowledged_writes_kept(&app, watcher.as_ref(), &bob, &chat, 10).await;
}

/// The safety net under both: a connection whose session is inside a transaction block that
/// no transaction object accounts for (here a bare `BEGIN` sent as a statement) has that block
/// rolled back when it comes back to the pool, before anyone else borrows it. PostgreSQL only:
/// on SQLite it returns at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_left_inside_an_untracked_transaction_is_never_lent_out_again() {
    let app = TestApp::spawn().await;
    let Some(watcher) = Watcher::of(&app).await else { return };
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.direct(&alice, &bob).await;
    let acked = messages(&app, &alice, &chat, 10).await;
    app.state.store.connection().execute_unprepared("BEGIN").await.expect("a bare BEGIN");

    watcher.assert_no_transaction_left_open().await;
    like_all(&app, &bob, &chat, &acked).await;
    assert_acknowledged_writes_kept(&app, Some(&watcher), &bob, &chat, 10).await;
}
