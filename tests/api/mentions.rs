//! Mentions: `@username` of a member is recorded on the message and counted, unread, in the
//! mentioned member's chat list; edits add and remove them, deletes and reads uncount them.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Person, TestApp};
use crate::sockets::{ws_connect, ws_until};

/// `who`'s (unread_count, mention_count) in `chat`, from the chat list.
async fn counts(app: &TestApp, who: &Person, chat: &str) -> (u64, u64) {
    let list = app.get("/api/v1/chats", Some(&who.token)).await;
    let chats = list.data()["chats"].as_array().unwrap();
    let view = chats.iter().find(|c| c["id"] == chat).unwrap();
    (view["unread_count"].as_u64().unwrap(), view["mention_count"].as_u64().unwrap())
}

fn sorted(ids: &[&str]) -> Value {
    let mut ids: Vec<&str> = ids.to_vec();
    ids.sort();
    json!(ids)
}

#[tokio::test]
async fn members_named_with_an_at_sign_are_mentioned_and_counted() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol, dave) =
        (app.person("alice").await, app.person("bob").await, app.person("Carol").await, app.person("dave").await);
    let chat = app.group(&alice, "team", &[&bob, &carol]).await;
    let message = app.say(&alice, &chat, "@bob and @carol, ask @dave (not here) and @alice.").await;
    assert_eq!(message["mentions"], sorted(&[&bob.id, &carol.id]), "members only, never the author");
    // Unread: the group's "created" notice and the message.
    assert_eq!(counts(&app, &bob, &chat).await, (2, 1));
    assert_eq!(counts(&app, &carol, &chat).await, (2, 1));
    assert_eq!(counts(&app, &alice, &chat).await, (0, 0));
    app.say(&bob, &chat, "ann@example.org is no mention of anyone").await;
    assert_eq!(counts(&app, &alice, &chat).await, (1, 0));
    let history = app.history(&dave, &chat, "").await;
    history.assert_fail(StatusCode::NOT_FOUND);
    let seen = app.history(&carol, &chat, "").await;
    assert_eq!(seen.data()["messages"][1]["mentions"], sorted(&[&bob.id, &carol.id]));

    // Reading past it clears the count; a new mention counts again.
    let read = app
        .send_json(
            Method::POST,
            &format!("/api/v1/chats/{chat}/read"),
            json!({"message_id": message["id"]}),
            Some(&bob.token),
        )
        .await;
    assert_eq!(read.data()["mention_count"], 0, "{}", read.text);
    assert_eq!(counts(&app, &bob, &chat).await, (0, 0), "Bob's own message is not unread; Alice's is read");
    app.say(&carol, &chat, "@BOB again").await;
    assert_eq!(counts(&app, &bob, &chat).await, (1, 1));
}

#[tokio::test]
async fn edits_add_and_remove_mentions_and_deletes_uncount_them() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let (alice, bob, carol) = (app.person("alice").await, app.person("bob").await, app.person("carol").await);
    let chat = app.group(&alice, "team", &[&bob, &carol]).await;
    let message = app.say(&alice, &chat, "hello @bob").await;
    let id = message["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/chats/{chat}/messages/{id}");
    let mut carol_ws = ws_connect(addr, Some(&carol.token), None).await.unwrap();

    let edited = app.send_json(Method::PATCH, &path, json!({"text": "hello @carol"}), Some(&alice.token)).await;
    assert_eq!(edited.data()["message"]["mentions"], json!([carol.id]), "{}", edited.text);
    assert_eq!(counts(&app, &bob, &chat).await, (2, 0), "no longer mentioned");
    assert_eq!(counts(&app, &carol, &chat).await, (2, 1), "mentioned now");
    let heard = ws_until(&mut carol_ws, "message.updated").await;
    assert_eq!(heard["mentions"], json!([carol.id]));

    // Once read, a mention added later is on the message but not unread.
    app.send_json(Method::POST, &format!("/api/v1/chats/{chat}/read"), json!({"message_id": id}), Some(&bob.token))
        .await
        .assert_status(StatusCode::OK);
    let both = app.send_json(Method::PATCH, &path, json!({"text": "hello @carol and @bob"}), Some(&alice.token)).await;
    assert_eq!(both.data()["message"]["mentions"], sorted(&[&bob.id, &carol.id]));
    assert_eq!(counts(&app, &bob, &chat).await, (0, 0));
    // Editing without changing whom it names changes no count.
    app.send_json(Method::PATCH, &path, json!({"text": "hi @carol and @bob!"}), Some(&alice.token)).await;
    assert_eq!(counts(&app, &carol, &chat).await, (2, 1));

    app.call(Method::DELETE, &path, &alice.token).await.assert_status(StatusCode::OK);
    assert_eq!(counts(&app, &carol, &chat).await, (1, 0));
    assert_eq!(counts(&app, &bob, &chat).await, (0, 0));
    let history = app.history(&carol, &chat, "").await;
    assert_eq!(history.data()["messages"][0]["mentions"], json!([]), "a tombstone mentions nobody");
}

#[tokio::test]
async fn a_forwarded_copy_mentions_nobody() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol) = (app.person("alice").await, app.person("bob").await, app.person("carol").await);
    let first = app.group(&alice, "one", &[&bob]).await;
    let second = app.group(&alice, "two", &[&bob, &carol]).await;
    let message = app.say(&alice, &first, "@bob look").await;
    let forward = app
        .send_json(
            Method::POST,
            &format!("/api/v1/chats/{first}/messages/{}/forward", message["id"].as_str().unwrap()),
            json!({"to_chat_id": second}),
            Some(&alice.token),
        )
        .await;
    assert!(forward.status.is_success(), "{}", forward.text);
    assert_eq!(forward.data()["message"]["mentions"], json!([]));
    assert_eq!(counts(&app, &bob, &second).await, (2, 0), "the notice and the copy, no mention");
}
