//! Presence over real sockets: online while any socket is open, `last_seen_at`, who may see it,
//! `show_presence`, and `presence.changed` coalesced. With `PARLOR_TEST_REDIS_URL` set, the same
//! tests run on the Redis-backed registry.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Person, TestApp};
use crate::sockets::{Seen, Ws, sio_connect, ws_connect, ws_next};

/// How long a presence change may take to show (the worker runs as soon as it is told).
const SOON: Duration = Duration::from_secs(5);

async fn presence(app: &TestApp, viewer: &Person, ids: &[&str]) -> Vec<Value> {
    let response = app.get(&format!("/api/v1/presence?user_ids={}", ids.join(",")), Some(&viewer.token)).await;
    response.assert_status(StatusCode::OK);
    response.data()["presence"].as_array().unwrap().clone()
}

/// Waits until `viewer` sees `who` in `status`; returns that view.
async fn until_status(app: &TestApp, viewer: &Person, who: &Person, status: &str) -> Value {
    let started = Instant::now();
    loop {
        let view = presence(app, viewer, &[&who.id]).await.remove(0);
        if view["status"] == status {
            return view;
        }
        assert!(started.elapsed() < SOON, "still {view} after {SOON:?}, expected {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next `presence.changed` about `who`, skipping every other frame.
async fn next_change_of(ws: &mut Ws, who: &Person) -> Value {
    loop {
        match ws_next(ws).await {
            Seen::Event(name, data) if name == "presence.changed" && data["user_id"] == who.id => return data,
            Seen::Event(..) => continue,
            closed => panic!("closed while waiting for presence.changed: {closed:?}"),
        }
    }
}

/// No `presence.changed` about `who` arrives within `wait`.
async fn no_change_of(ws: &mut Ws, who: &Person, wait: Duration) {
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(frame) = tokio::time::timeout_at(deadline, ws_next(ws)).await {
        if let Seen::Event(name, data) = frame {
            assert!(!(name == "presence.changed" && data["user_id"] == who.id), "unexpected {data}");
        }
    }
}

#[tokio::test]
async fn a_socket_makes_its_user_online_to_the_people_they_share_a_chat_with_and_to_no_one_else() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let (alice, bob, carol) = (app.person("alice").await, app.person("bob").await, app.person("carol").await);
    let chat = app.direct(&alice, &bob).await;

    let before = presence(&app, &alice, &[&bob.id, &carol.id, &alice.id]).await;
    assert_eq!(before[0], json!({"user_id": bob.id, "status": "offline", "last_seen_at": null}), "never online yet");
    assert_eq!(before[1]["status"], "hidden", "no chat with carol");
    assert_eq!(before[2]["status"], "offline", "my own presence is mine to see");

    let _bob_ws = ws_connect(addr, Some(&bob.token), None).await.unwrap();
    let seen = until_status(&app, &alice, &bob, "online").await;
    assert_eq!(seen["last_seen_at"], Value::Null);
    assert_eq!(presence(&app, &bob, &[&bob.id]).await[0]["status"], "online", "bob sees himself");
    assert_eq!(presence(&app, &carol, &[&bob.id]).await[0]["status"], "hidden", "carol shares no chat with bob");
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_eq!(presence(&app, &alice, &[&unknown]).await[0]["status"], "hidden", "no such account reads the same");

    // Chat members carry it too, in the list and in the chat.
    let chats = app.call(Method::GET, "/api/v1/chats", &alice.token).await;
    let members = chats.data()["chats"][0]["members"].as_array().unwrap().clone();
    let bob_member = members.iter().find(|m| m["id"] == bob.id).unwrap();
    assert_eq!(bob_member["presence"]["status"], "online", "{bob_member}");
    let one = app.call(Method::GET, &format!("/api/v1/chats/{chat}"), &alice.token).await;
    let bob_member = one.data()["chat"]["members"].as_array().unwrap().iter().find(|m| m["id"] == bob.id).cloned();
    assert_eq!(bob_member.unwrap()["presence"]["status"], "online");
}

#[tokio::test]
async fn a_user_stays_online_until_their_last_socket_of_either_kind_closes_and_then_has_last_seen_at() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    app.direct(&alice, &bob).await;

    let ws = ws_connect(addr, Some(&bob.token), None).await.unwrap();
    let sio = sio_connect(addr, &bob.token).await.unwrap();
    until_status(&app, &alice, &bob, "online").await;
    drop(ws);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(presence(&app, &alice, &[&bob.id]).await[0]["status"], "online", "the Socket.IO socket is still open");

    let closed_at = time::OffsetDateTime::now_utc();
    drop(sio);
    until_status(&app, &alice, &bob, "offline").await;
    // The offline state shows as soon as the registry has it; `last_seen_at` is written just
    // after (the same batch, one statement), so it may lag by a moment.
    let started = Instant::now();
    let view = loop {
        let view = presence(&app, &alice, &[&bob.id]).await.remove(0);
        if view["last_seen_at"].is_string() || started.elapsed() > SOON {
            break view;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let last_seen = time::OffsetDateTime::parse(
        view["last_seen_at"].as_str().expect("last_seen_at once offline"),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(last_seen >= closed_at - Duration::from_secs(1) && last_seen <= time::OffsetDateTime::now_utc(), "{view}");
}

#[tokio::test]
async fn presence_changes_reach_chat_partners_coalesced_to_the_state_at_the_end_of_the_quiet_time() {
    let app = TestApp::with_config(|config| config.realtime.presence_quiet_secs = 2).await;
    let addr = app.listen().await;
    let (alice, bob, carol) = (app.person("alice").await, app.person("bob").await, app.person("carol").await);
    app.direct(&alice, &bob).await;
    let mut alice_ws = ws_connect(addr, Some(&alice.token), None).await.unwrap();
    let mut carol_ws = ws_connect(addr, Some(&carol.token), None).await.unwrap();

    let bob_ws = ws_connect(addr, Some(&bob.token), None).await.unwrap();
    let online = next_change_of(&mut alice_ws, &bob).await;
    assert_eq!(online, json!({"user_id": bob.id, "status": "online", "last_seen_at": null}));

    // A flap inside the quiet time: offline and back before it ends, so nothing is said.
    drop(bob_ws);
    until_status(&app, &alice, &bob, "offline").await;
    let bob_ws = ws_connect(addr, Some(&bob.token), None).await.unwrap();
    until_status(&app, &alice, &bob, "online").await;
    no_change_of(&mut alice_ws, &bob, Duration::from_millis(2500)).await;

    // Past the quiet time, a change is said at once.
    drop(bob_ws);
    let offline = next_change_of(&mut alice_ws, &bob).await;
    assert_eq!(offline["status"], "offline");
    assert!(offline["last_seen_at"].is_string(), "{offline}");

    // Back online inside the quiet time, still online at its end: said then.
    let offline_at = Instant::now();
    let _bob_ws = ws_connect(addr, Some(&bob.token), None).await.unwrap();
    let later = next_change_of(&mut alice_ws, &bob).await;
    assert_eq!(later["status"], "online");
    assert!(offline_at.elapsed() >= Duration::from_secs(1), "held back to the end of the quiet time");

    no_change_of(&mut carol_ws, &bob, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn show_presence_false_hides_it_from_everyone_else_at_once_and_true_shows_it_again() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.direct(&alice, &bob).await;
    let mut alice_ws = ws_connect(addr, Some(&alice.token), None).await.unwrap();
    let _bob_ws = ws_connect(addr, Some(&bob.token), None).await.unwrap();
    until_status(&app, &alice, &bob, "online").await;

    let me = app.send_json(Method::PATCH, "/api/v1/me", json!({"show_presence": "no"}), Some(&bob.token)).await;
    me.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(me.data()["show_presence"], "must be true or false");

    let me = app.send_json(Method::PATCH, "/api/v1/me", json!({"show_presence": false}), Some(&bob.token)).await;
    me.assert_status(StatusCode::OK);
    assert_eq!(me.data()["user"]["show_presence"], false);
    let hidden = loop {
        let change = next_change_of(&mut alice_ws, &bob).await;
        if change["status"] == "hidden" {
            break change;
        }
    };
    assert_eq!(hidden, json!({"user_id": bob.id, "status": "hidden", "last_seen_at": null}));
    assert_eq!(presence(&app, &alice, &[&bob.id]).await[0]["status"], "hidden");
    assert_eq!(presence(&app, &bob, &[&bob.id]).await[0]["status"], "online", "still his own to see");
    let one = app.call(Method::GET, &format!("/api/v1/chats/{chat}"), &alice.token).await;
    let bob_member = one.data()["chat"]["members"].as_array().unwrap().iter().find(|m| m["id"] == bob.id).cloned();
    assert_eq!(bob_member.unwrap()["presence"]["status"], "hidden");

    app.send_json(Method::PATCH, "/api/v1/me", json!({"show_presence": true}), Some(&bob.token))
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(next_change_of(&mut alice_ws, &bob).await["status"], "online");
    assert_eq!(presence(&app, &alice, &[&bob.id]).await[0]["status"], "online");
}

#[tokio::test]
async fn presence_requests_name_one_to_a_hundred_user_ids() {
    let app = TestApp::spawn().await;
    let alice = app.person("alice").await;
    for (query, message) in [
        ("", "name at least one user id, comma-separated"),
        ("?user_ids=", "name at least one user id, comma-separated"),
        ("?user_ids=nope", "`nope` is not a user id"),
    ] {
        let response = app.get(&format!("/api/v1/presence{query}"), Some(&alice.token)).await;
        response.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(response.data()["user_ids"], message, "{query}");
    }
    let many: Vec<String> = (0..101).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let response = app.get(&format!("/api/v1/presence?user_ids={}", many.join(",")), Some(&alice.token)).await;
    response.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.data()["user_ids"], "at most 100 user ids");
    // A hundred, each named twice, is fine: answered once each.
    let hundred = [&many[..100], &many[..100]].concat();
    let response = app.get(&format!("/api/v1/presence?user_ids={}", hundred.join(",")), Some(&alice.token)).await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.data()["presence"].as_array().unwrap().len(), 100);
    app.get("/api/v1/presence?user_ids=x", None).await.assert_fail(StatusCode::UNAUTHORIZED);
}
