//! The chat commands over both socket kinds: each answers with the JSend of its HTTP route, and a
//! connection's commands are rate limited.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::sockets::{Seen, Sio, sio_connect, ws_command, ws_connect, ws_next, ws_quiet, ws_send, ws_until};

async fn sio(addr: std::net::SocketAddr, token: &str) -> Sio {
    sio_connect(addr, token).await.expect("Socket.IO connects")
}

#[tokio::test]
async fn a_socket_io_client_does_everything_a_chat_needs_without_http() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let mut alice_sio = sio(addr, &alice.token).await;
    let mut bob_sio = sio(addr, &bob.token).await;

    // Nothing yet; a command without a payload is fine.
    let listed = alice_sio.call_bare("chats.list").await;
    assert_eq!(listed, json!({"status": "success", "data": {"chats": []}}));

    let created =
        alice_sio.call("chat.create", json!({"type": "group", "title": "Plans", "member_ids": [bob.id]})).await;
    assert_eq!(created["status"], "success", "{created}");
    let chat = created["data"]["chat"]["id"].as_str().unwrap().to_owned();
    assert_eq!(bob_sio.until("chat.created").await["chat"]["id"], chat.as_str());
    let direct = alice_sio.call("chat.create", json!({"type": "direct", "user_id": bob.id})).await;
    let again = alice_sio.call("chat.create", json!({"type": "direct", "user_id": bob.id})).await;
    assert_eq!(direct["data"]["chat"]["id"], again["data"]["chat"]["id"], "a direct chat is unique per pair");

    let sent = alice_sio.call("message.send", json!({"chat_id": chat, "text": "eight?"})).await;
    let message = sent["data"]["message"]["id"].as_str().unwrap().to_owned();
    let edited = alice_sio.call("message.edit", json!({"chat_id": chat, "message_id": message, "text": "nine?"})).await;
    assert_eq!(
        (edited["status"].as_str(), edited["data"]["message"]["text"].as_str()),
        (Some("success"), Some("nine?"))
    );
    assert_eq!(bob_sio.until("message.updated").await["text"], "nine?");
    let liked = bob_sio.call("message.like", json!({"chat_id": chat, "message_id": message})).await;
    assert_eq!(
        (liked["data"]["message"]["like_count"].as_u64(), liked["data"]["message"]["liked_by_me"].as_bool()),
        (Some(1), Some(true))
    );
    let unliked = bob_sio.call("message.unlike", json!({"chat_id": chat, "message_id": message})).await;
    assert_eq!(unliked["data"]["message"]["like_count"], 0);
    let reacted = bob_sio.call("message.react", json!({"chat_id": chat, "message_id": message, "emoji": "🎉"})).await;
    assert_eq!(reacted["data"]["message"]["reactions"], json!([{"emoji": "🎉", "count": 1, "me": true}]), "{reacted}");
    assert_eq!(alice_sio.until("message.reacted").await["emoji"], "🎉");
    let refused =
        bob_sio.call("message.react", json!({"chat_id": chat, "message_id": message, "emoji": "party"})).await;
    assert_eq!(refused["data"]["emoji"], "must be one emoji");
    let unreacted =
        bob_sio.call("message.unreact", json!({"chat_id": chat, "message_id": message, "emoji": "🎉"})).await;
    assert_eq!(unreacted["data"]["message"]["reactions"], json!([]));

    // The history is the HTTP route's, page for page.
    let history = bob_sio.call("messages.history", json!({"chat_id": chat, "limit": 1})).await;
    let over_http = app.history(&bob, &chat, "limit=1").await;
    assert_eq!(history["data"], *over_http.data());
    assert_eq!(history["data"]["messages"][0]["text"], "nine?");
    let older =
        bob_sio.call("messages.history", json!({"chat_id": chat, "before": history["data"]["next_before"]})).await;
    assert_eq!(older["data"]["messages"][0]["type"], "system", "the group's creation, before the message");

    let deleted = bob_sio.call("message.delete", json!({"chat_id": chat, "message_id": message})).await;
    assert_eq!(deleted["data"]["reason"], "not_allowed", "bob is a member, not the author: {deleted}");
    let deleted = alice_sio.call("message.delete", json!({"chat_id": chat, "message_id": message})).await;
    assert_eq!(deleted["data"]["message"]["deleted"], true, "{deleted}");

    let mine = bob_sio.call("chats.list", json!({})).await;
    let titles: Vec<&Value> = mine["data"]["chats"].as_array().unwrap().iter().map(|chat| &chat["type"]).collect();
    assert_eq!(titles.len(), 2, "{mine}");
    let over_http = app.call(Method::GET, "/api/v1/chats", &bob.token).await;
    assert_eq!(mine["data"], *over_http.data());

    // Refusals are the HTTP route's, keyed by field.
    let refused = alice_sio.call("messages.history", json!({"chat_id": chat, "limit": 0, "before": "x"})).await;
    assert_eq!(refused["status"], "fail");
    assert!(refused["data"]["before"].is_string(), "{refused}");
    let refused = alice_sio.call("messages.history", json!({"chat_id": chat, "limit": 0})).await;
    assert_eq!(refused["data"]["limit"], "must be a whole number from 1 to 100");
    let refused = alice_sio.call("chat.create", json!({"type": "party"})).await;
    assert_eq!(refused["data"]["type"], "must be direct or group");
    let refused = alice_sio.call("message.edit", json!({"chat_id": chat, "message_id": message, "text": " "})).await;
    assert!(refused["data"]["text"].is_string(), "{refused}");
    let refused = alice_sio.call("chats.list", json!("everything")).await;
    assert_eq!(refused["status"], "fail", "{refused}");
}

#[tokio::test]
async fn a_plain_websocket_client_sends_commands_and_reads_acks() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.direct(&alice, &bob).await;
    let mut alice_ws = ws_connect(addr, Some(&alice.token), None).await.unwrap();
    let mut bob_ws = ws_connect(addr, Some(&bob.token), None).await.unwrap();

    let ack =
        ws_command(&mut alice_ws, "message.send", json!({"chat_id": chat, "text": "hi", "client_id": "w-1"}), json!(1))
            .await;
    assert_eq!(ack["data"]["status"], "success", "{ack}");
    let message = ack["data"]["data"]["message"]["id"].clone();
    assert_eq!(ws_until(&mut bob_ws, "message.created").await["message"]["id"], message);
    let listed = ws_command(&mut bob_ws, "chats.list", json!({}), json!("list")).await;
    assert_eq!(listed["data"]["data"]["chats"][0]["last_message"]["id"], message);
    assert_eq!(listed["data"]["data"]["chats"][0]["unread_count"], 1);
    let read = ws_command(&mut bob_ws, "chat.read", json!({"chat_id": chat, "message_id": message}), json!(2)).await;
    assert_eq!(read["data"]["data"]["unread_count"], 0);
    let history = ws_command(&mut bob_ws, "messages.history", json!({"chat_id": chat}), json!(3)).await;
    assert_eq!(history["data"]["data"]["messages"][0]["id"], message);

    // Refusals: the HTTP route's JSend, under the frame's id.
    let outside =
        ws_command(&mut alice_ws, "message.send", json!({"chat_id": uuid::Uuid::now_v7(), "text": "hi"}), json!(4))
            .await;
    assert_eq!(
        (outside["data"]["status"].as_str(), outside["data"]["data"]["reason"].as_str()),
        (Some("fail"), Some("chat_not_found"))
    );
    let unknown = ws_command(&mut alice_ws, "chat.explode", json!({}), json!(5)).await;
    assert_eq!(unknown["data"]["data"]["reason"], "unknown_event");
    // Without an id a command runs and nothing answers; a bad id is a bad frame.
    ws_send(&mut alice_ws, &json!({"event": "message.send", "data": {"chat_id": chat, "text": "quietly"}}).to_string())
        .await;
    assert_eq!(ws_until(&mut bob_ws, "message.created").await["message"]["text"], "quietly");
    loop {
        match ws_next(&mut alice_ws).await {
            Seen::Event(event, data) if event == "message.created" && data["message"]["text"] == "quietly" => break,
            Seen::Event(event, data) => assert_ne!(event, "ack", "a command without id was answered: {data}"),
            closed => panic!("{closed:?}"),
        }
    }
    assert!(ws_quiet(&mut alice_ws, std::time::Duration::from_millis(100)).await, "and no ack after it");
    ws_send(&mut alice_ws, &json!({"event": "chats.list", "id": {"no": 1}}).to_string()).await;
    assert_eq!(ws_until(&mut alice_ws, "error").await["reason"], "bad_frame");
    let status = app.call(Method::GET, "/api/v1/chats", &alice.token).await.status;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn each_connection_gets_its_own_command_allowance() {
    let app = TestApp::with_config(|config| config.realtime.commands_per_second = 2).await;
    let addr = app.listen().await;
    let alice = app.person("alice").await;
    let mut ws = ws_connect(addr, Some(&alice.token), None).await.unwrap();
    // A burst of three seconds' worth (6), then refusals that say when to come back.
    for id in 0..6 {
        let ack = ws_command(&mut ws, "chats.list", json!({}), json!(id)).await;
        assert_eq!(ack["data"]["status"], "success", "command {id}: {ack}");
    }
    let refused = ws_command(&mut ws, "chats.list", json!({}), json!(6)).await;
    assert_eq!(refused["data"]["data"]["reason"], "rate_limited", "{refused}");
    assert!(refused["data"]["data"]["retry_after"].as_u64().unwrap() >= 1);
    let mut sio = sio(addr, &alice.token).await;
    for _ in 0..6 {
        assert_eq!(sio.call("chats.list", json!({})).await["status"], "success", "a connection of its own");
    }
    assert_eq!(sio.call("chats.list", json!({})).await["data"]["reason"], "rate_limited");
    // Half a second earns one more.
    tokio::time::sleep(std::time::Duration::from_millis(550)).await;
    assert_eq!(ws_command(&mut ws, "chats.list", json!({}), json!(7)).await["data"]["status"], "success");
}
