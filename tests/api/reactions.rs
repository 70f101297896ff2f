//! Emoji reactions: one emoji per path, at most 20 different a message, counts exact under
//! concurrent reactions, on every message view, in a constant number of queries a page.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Person, TestApp};
use crate::sockets::{ws_connect, ws_quiet, ws_until};

/// `…/reactions/{emoji}`, the emoji percent-encoded as a client would send it.
fn path(chat: &str, message: &str, emoji: &str) -> String {
    let encoded: String = emoji.bytes().map(|b| format!("%{b:02X}")).collect();
    format!("/api/v1/chats/{chat}/messages/{message}/reactions/{encoded}")
}

async fn react(app: &TestApp, who: &Person, chat: &str, message: &str, emoji: &str) -> crate::helpers::TestResponse {
    app.call(Method::PUT, &path(chat, message, emoji), &who.token).await
}

fn reactions(response: &crate::helpers::TestResponse) -> Value {
    response.data()["message"]["reactions"].clone()
}

#[tokio::test]
async fn reactions_count_per_emoji_in_order_of_first_use_and_reach_every_member() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.group(&alice, "party", &[&bob]).await;
    let message = app.say(&alice, &chat, "we won").await["id"].as_str().unwrap().to_owned();
    let mut alice_ws = ws_connect(addr, Some(&alice.token), None).await.unwrap();

    let first = react(&app, &bob, &chat, &message, "🎉").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(reactions(&first), json!([{"emoji": "🎉", "count": 1, "me": true}]));
    let heard = ws_until(&mut alice_ws, "message.reacted").await;
    assert_eq!(heard, json!({"chat_id": chat, "message_id": message, "user_id": bob.id, "emoji": "🎉", "count": 1}));

    react(&app, &alice, &chat, &message, "👍🏽").await;
    let both = react(&app, &alice, &chat, &message, "🎉").await;
    assert_eq!(
        reactions(&both),
        json!([{"emoji": "🎉", "count": 2, "me": true}, {"emoji": "👍🏽", "count": 1, "me": true}]),
        "in order of first use"
    );
    // Unqualified and qualified spellings are one reaction; reacting twice changes nothing.
    react(&app, &bob, &chat, &message, "❤").await;
    let again = react(&app, &bob, &chat, &message, "❤️").await;
    assert_eq!(reactions(&again)[2], json!({"emoji": "❤️", "count": 1, "me": true}));
    for _ in 0..3 {
        ws_until(&mut alice_ws, "message.reacted").await;
    }
    assert!(ws_quiet(&mut alice_ws, std::time::Duration::from_millis(200)).await, "the repeat told nobody");

    // History shows each reader their own `me`.
    let history = app.history(&bob, &chat, "").await;
    let seen = &history.data()["messages"][0]["reactions"];
    assert_eq!(seen[0], json!({"emoji": "🎉", "count": 2, "me": true}));
    assert_eq!(seen[1], json!({"emoji": "👍🏽", "count": 1, "me": false}));

    // Bob's 🎉 was its first use; taken back, 🎉 counts from Alice's, which came after her 👍🏽.
    let taken = app.call(Method::DELETE, &path(&chat, &message, "🎉"), &bob.token).await;
    assert_eq!(
        reactions(&taken),
        json!([
            {"emoji": "👍🏽", "count": 1, "me": false},
            {"emoji": "🎉", "count": 1, "me": false},
            {"emoji": "❤️", "count": 1, "me": true},
        ])
    );
    assert_eq!(ws_until(&mut alice_ws, "message.unreacted").await["count"], 1);
    app.call(Method::DELETE, &path(&chat, &message, "🎉"), &alice.token).await;
    let gone = app.call(Method::DELETE, &path(&chat, &message, "🎉"), &alice.token).await;
    assert_eq!(gone.status, StatusCode::OK, "taking back twice is fine");
    assert_eq!(reactions(&gone).as_array().unwrap().len(), 2, "an emoji nobody holds is gone: {}", gone.text);

    // A deleted message keeps no reactions and takes none.
    app.call(Method::DELETE, &format!("/api/v1/chats/{chat}/messages/{message}"), &alice.token).await;
    let tombstone = app.history(&bob, &chat, "").await;
    assert_eq!(tombstone.data()["messages"][0]["reactions"], json!([]));
    let refused = react(&app, &bob, &chat, &message, "🎉").await;
    refused.assert_fail(StatusCode::CONFLICT);
    assert_eq!(refused.reason(), "message_deleted");
}

#[tokio::test]
async fn anything_but_one_emoji_is_a_422_keyed_emoji_and_strangers_find_no_message() {
    let app = TestApp::spawn().await;
    let (alice, stranger) = (app.person("alice").await, app.person("stranger").await);
    let chat = app.group(&alice, "mine", &[]).await;
    let message = app.say(&alice, &chat, "hi").await["id"].as_str().unwrap().to_owned();
    for bad in ["a", "👍👍", ":+1:", "\u{1F3FD}", " "] {
        let refused = react(&app, &alice, &chat, &message, bad).await;
        refused.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(refused.data()["emoji"], "must be one emoji", "{bad:?}");
    }
    let not_utf8 =
        app.call(Method::PUT, &format!("/api/v1/chats/{chat}/messages/{message}/reactions/%FF%FE"), &alice.token).await;
    not_utf8.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(not_utf8.data()["emoji"].is_string());
    let outsider = react(&app, &stranger, &chat, &message, "👍").await;
    outsider.assert_fail(StatusCode::NOT_FOUND);
    let no_message = react(&app, &alice, &chat, &uuid::Uuid::now_v7().to_string(), "👍").await;
    no_message.assert_fail(StatusCode::NOT_FOUND);
    let history = app.history(&alice, &chat, "").await;
    assert_eq!(history.data()["messages"][0]["reactions"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn at_most_twenty_different_emoji_even_when_people_react_at_once_and_counts_stay_exact() {
    let app = TestApp::spawn().await;
    let owner = app.person("owner").await;
    let mut people = Vec::new();
    for i in 0..30 {
        people.push(app.person(&format!("fan{i}")).await);
    }
    let refs: Vec<&Person> = people.iter().collect();
    let chat = app.group(&owner, "fans", &refs).await;
    let message = app.say(&owner, &chat, "react!").await["id"].as_str().unwrap().to_owned();
    let emoji: Vec<&str> = emojis::iter().filter(|e| e.skin_tone().is_none()).map(|e| e.as_str()).take(30).collect();

    // 30 people, 30 different emoji, all at once: 20 land, 10 are refused.
    let answers =
        futures::future::join_all(people.iter().zip(&emoji).map(|(who, e)| react(&app, who, &chat, &message, e))).await;
    let landed = answers.iter().filter(|a| a.status == StatusCode::OK).count();
    let refused: Vec<_> = answers.iter().filter(|a| a.status != StatusCode::OK).collect();
    assert_eq!(landed, 20);
    assert!(refused.iter().all(|a| a.status == StatusCode::CONFLICT && a.reason() == "too_many_reactions"));
    // Everyone piles onto one that is there: allowed, and counted exactly.
    let held = reactions(&react(&app, &owner, &chat, &message, emoji[0]).await);
    let taken =
        held.as_array().unwrap().iter().find(|r| r["me"] == true).unwrap()["emoji"].as_str().unwrap().to_owned();
    let answers = futures::future::join_all(people.iter().map(|who| react(&app, who, &chat, &message, &taken))).await;
    assert!(answers.iter().all(|a| a.status == StatusCode::OK));
    let history = app.history(&owner, &chat, "").await;
    let shown = history.data()["messages"][0]["reactions"].as_array().unwrap().clone();
    assert_eq!(shown.len(), 20);
    let piled = shown.iter().find(|r| r["emoji"] == taken.as_str()).unwrap();
    assert_eq!(piled["count"], 31, "the owner and all 30: {piled}");
}

#[tokio::test]
async fn a_history_page_costs_the_same_number_of_queries_for_3_messages_as_for_30() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.group(&alice, "busy", &[&bob]).await;
    let mut counts = Vec::new();
    for size in [3, 30] {
        let chat = if size == 3 { chat.clone() } else { app.group(&alice, "busier", &[&bob]).await };
        for i in 0..size {
            let message = app.say(&alice, &chat, &format!("m{i}")).await["id"].as_str().unwrap().to_owned();
            react(&app, &bob, &chat, &message, "👍").await;
            react(&app, &alice, &chat, &message, "🎉").await;
        }
        app.history(&bob, &chat, "limit=100").await;
        let before = app.state.store.query_count();
        let page = app.history(&bob, &chat, "limit=100").await;
        counts.push(app.state.store.query_count() - before);
        assert_eq!(page.data()["messages"][0]["reactions"][1], json!({"emoji": "🎉", "count": 1, "me": false}));
    }
    assert_eq!(counts[0], counts[1], "queries for a page of 3 and of 30: {counts:?}");
}
