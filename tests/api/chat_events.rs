//! Chat events over real sockets: members hear every change, outsiders and removed members
//! hear nothing, and Socket.IO clients send, type and read through commands.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Person, TestApp, png};
use crate::sockets::{Sio, sio_connect, ws_connect, ws_quiet, ws_until};

const QUIET: Duration = Duration::from_millis(300);

async fn sio(app_addr: std::net::SocketAddr, who: &Person) -> Sio {
    sio_connect(app_addr, &who.token).await.unwrap()
}

#[tokio::test]
async fn members_hear_messages_likes_edits_and_renames_and_outsiders_hear_nothing() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let (alice, bob, mallory) = (app.person("alice").await, app.person("bob").await, app.person("mallory").await);
    let mut alice_sio = sio(addr, &alice).await;
    let mut bob_ws = ws_connect(addr, Some(&bob.token), None).await.unwrap();
    let mut mallory_sio = sio(addr, &mallory).await;

    let chat = app.group(&alice, "Plans", &[&bob]).await;
    let created = ws_until(&mut bob_ws, "chat.created").await;
    assert_eq!(
        (created["chat"]["id"].as_str(), created["chat"]["title"].as_str()),
        (Some(chat.as_str()), Some("Plans"))
    );
    assert_eq!(alice_sio.until("chat.created").await["chat"]["id"], chat.as_str());

    let sent = app.say(&alice, &chat, "dinner?").await;
    let heard = ws_until(&mut bob_ws, "message.created").await;
    assert_eq!(heard["message"]["id"], sent["id"]);
    assert_eq!(heard["message"]["text"], "dinner?");
    assert_eq!(heard["message"]["author"]["username"], "alice");
    assert_eq!(alice_sio.until("message.created").await["message"]["id"], sent["id"], "the sender's devices too");

    let mid = sent["id"].as_str().unwrap();
    app.call(Method::PUT, &format!("/api/v1/chats/{chat}/messages/{mid}/like"), &bob.token).await;
    let liked = alice_sio.until("message.liked").await;
    assert_eq!(liked, json!({"chat_id": chat, "message_id": mid, "user_id": bob.id, "like_count": 1}));
    app.call(Method::DELETE, &format!("/api/v1/chats/{chat}/messages/{mid}/like"), &bob.token).await;
    assert_eq!(alice_sio.until("message.unliked").await["like_count"], 0);

    app.send_json(
        Method::PATCH,
        &format!("/api/v1/chats/{chat}/messages/{mid}"),
        json!({"text": "lunch?"}),
        Some(&alice.token),
    )
    .await;
    let edited = ws_until(&mut bob_ws, "message.updated").await;
    assert_eq!((edited["text"].as_str(), edited["message_id"].as_str()), (Some("lunch?"), Some(mid)));

    app.send_json(Method::PATCH, &format!("/api/v1/chats/{chat}"), json!({"title": "Lunch"}), Some(&alice.token)).await;
    assert_eq!(ws_until(&mut bob_ws, "chat.updated").await["chat"]["title"], "Lunch");
    assert_eq!(alice_sio.until("chat.updated").await["chat"]["title"], "Lunch");

    app.call(Method::DELETE, &format!("/api/v1/chats/{chat}/messages/{mid}"), &alice.token).await;
    assert_eq!(ws_until(&mut bob_ws, "message.deleted").await["message_id"], mid);

    assert!(mallory_sio.quiet(QUIET).await, "an outsider hears nothing of it");
}

#[tokio::test]
async fn a_removed_member_hears_the_removal_and_then_nothing_more() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let (alice, bob, carol) = (app.person("alice").await, app.person("bob").await, app.person("carol").await);
    let chat = app.group(&alice, "Club", &[&bob, &carol]).await;
    let mut bob_sio = sio(addr, &bob).await;
    let mut carol_ws = ws_connect(addr, Some(&carol.token), None).await.unwrap();
    // A send first, so that the chat's member list is kept from it.
    app.say(&alice, &chat, "before").await;
    assert_eq!(bob_sio.until("message.created").await["message"]["text"], "before");

    let removed = app.call(Method::DELETE, &format!("/api/v1/chats/{chat}/members/{}", bob.id), &alice.token).await;
    assert_eq!(removed.status, StatusCode::OK);
    let notice = bob_sio.until("chat.member_removed").await;
    assert_eq!(notice, json!({"chat_id": chat, "user_id": bob.id, "by": alice.id}));
    assert_eq!(ws_until(&mut carol_ws, "chat.member_removed").await["user_id"], bob.id.as_str());

    app.say(&alice, &chat, "after bob").await;
    let system = ws_until(&mut carol_ws, "message.created").await;
    assert_eq!(system["message"]["system"], json!({"action": "member_removed", "user_id": bob.id}));
    assert_eq!(ws_until(&mut carol_ws, "message.created").await["message"]["text"], "after bob");
    assert!(bob_sio.quiet(QUIET).await, "bob is out of it at once");

    let added = app
        .send_json(
            Method::POST,
            &format!("/api/v1/chats/{chat}/members"),
            json!({"user_ids": [bob.id]}),
            Some(&alice.token),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK);
    assert_eq!(bob_sio.until("chat.created").await["chat"]["id"], chat.as_str(), "back in: he learns of the chat");
    let joined = ws_until(&mut carol_ws, "chat.member_added").await;
    assert_eq!(joined["members"][0]["id"], bob.id.as_str());
    app.say(&alice, &chat, "welcome back").await;
    loop {
        let created = bob_sio.until("message.created").await;
        if created["message"]["text"] == "welcome back" {
            break;
        }
    }
}

#[tokio::test]
async fn socket_io_clients_send_with_an_acknowledgement_type_and_read() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.direct(&alice, &bob).await;
    let bob_phone =
        app.login("bob", crate::helpers::PASSWORD).await.data()["access_token"].as_str().unwrap().to_owned();
    let mut alice_sio = sio(addr, &alice).await;
    let mut bob_sio = sio(addr, &bob).await;
    let mut bob_phone_ws = ws_connect(addr, Some(&bob_phone), None).await.unwrap();

    let ack =
        alice_sio.call("message.send", json!({"chat_id": chat, "text": "over the socket", "client_id": "s-1"})).await;
    assert_eq!(ack["status"], "success", "{ack}");
    let stored = &ack["data"]["message"];
    assert_eq!((stored["text"].as_str(), stored["client_id"].as_str()), (Some("over the socket"), Some("s-1")));
    let history = app.history(&bob, &chat, "").await;
    assert_eq!(history.data()["messages"][0]["id"], stored["id"], "the ack carries the stored message");
    assert_eq!(bob_sio.until("message.created").await["message"]["id"], stored["id"]);
    let retry =
        alice_sio.call("message.send", json!({"chat_id": chat, "text": "over the socket", "client_id": "s-1"})).await;
    assert_eq!(retry["data"]["message"]["id"], stored["id"], "idempotent over sockets too");

    let refused = alice_sio.call("message.send", json!({"chat_id": chat, "text": ""})).await;
    assert_eq!((refused["status"].as_str(), refused["data"]["text"].is_string()), (Some("fail"), true), "{refused}");
    let outside = alice_sio.call("message.send", json!({"chat_id": uuid::Uuid::now_v7(), "text": "hi"})).await;
    assert_eq!(outside["data"]["reason"], "chat_not_found");
    let shapeless = alice_sio.call("message.send", json!("just text")).await;
    assert_eq!(shapeless["status"], "fail", "{shapeless}");

    assert_eq!(alice_sio.until("message.created").await["message"]["id"], stored["id"], "her own, once");
    alice_sio.emit("typing", json!({"chat_id": chat})).await;
    assert_eq!(bob_sio.until("typing").await, json!({"chat_id": chat, "user_id": alice.id}));
    assert!(alice_sio.quiet(QUIET).await, "nobody hears their own typing");

    let read = bob_sio.call("chat.read", json!({"chat_id": chat, "message_id": stored["id"]})).await;
    assert_eq!((read["status"].as_str(), read["data"]["unread_count"].as_u64()), (Some("success"), Some(0)), "{read}");
    let other_device = ws_until(&mut bob_phone_ws, "chat.read").await;
    assert_eq!(
        other_device,
        json!({"chat_id": chat, "user_id": bob.id, "message_id": stored["id"], "unread_count": 0, "mention_count": 0})
    );
    // A read receipt for the other member, without the reader's own count.
    let receipt = alice_sio.until("chat.read").await;
    assert_eq!(receipt, json!({"chat_id": chat, "user_id": bob.id, "message_id": stored["id"]}));
    let members =
        app.call(Method::GET, &format!("/api/v1/chats/{chat}"), &alice.token).await.data()["chat"]["members"].clone();
    let bob_member = members.as_array().unwrap().iter().find(|member| member["id"] == bob.id.as_str()).unwrap().clone();
    assert_eq!(bob_member["last_read_message_id"], stored["id"]);
    let alice_member =
        members.as_array().unwrap().iter().find(|member| member["id"] == alice.id.as_str()).unwrap().clone();
    assert_eq!(alice_member["last_read_message_id"], json!(null), "alice has read nothing yet");
    // Reading the same message again moves nothing and tells nobody.
    bob_sio.call("chat.read", json!({"chat_id": chat, "message_id": stored["id"]})).await;
    assert!(alice_sio.quiet(QUIET).await);
}

#[tokio::test]
async fn an_avatar_change_reaches_everyone_who_shares_a_chat() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let (alice, bob, stranger) = (app.person("alice").await, app.person("bob").await, app.person("stranger").await);
    app.direct(&alice, &bob).await;
    let mut bob_ws = ws_connect(addr, Some(&bob.token), None).await.unwrap();
    let mut stranger_ws = ws_connect(addr, Some(&stranger.token), None).await.unwrap();

    let uploaded = app.upload_avatar(&alice.token, "file", &png(16, 16, [1, 2, 3])).await;
    assert_eq!(uploaded.status, StatusCode::OK);
    let event = ws_until(&mut bob_ws, "user.avatar_updated").await;
    assert_eq!((event["user_id"].as_str(), &event["avatar"]), (Some(alice.id.as_str()), &uploaded.data()["avatar"]));
    assert!(ws_quiet(&mut stranger_ws, QUIET).await);
}
