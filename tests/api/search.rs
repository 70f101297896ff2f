//! Message search: substrings in any script, case folded, only my chats, never deleted text,
//! edits at once, keyset pages without gaps, and bad queries refused by field.

use std::collections::HashSet;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Person, TestApp, TestResponse};

async fn search(app: &TestApp, who: &Person, query: &str) -> TestResponse {
    app.get(&format!("/api/v1/search/messages?{query}"), Some(&who.token)).await
}

/// The texts found for `q`, newest first.
async fn found(app: &TestApp, who: &Person, q: &str) -> Vec<String> {
    let response = search(app, who, &format!("q={}", urlencode(q))).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    results(&response).iter().map(|r| r["message"]["text"].as_str().unwrap().to_owned()).collect()
}

fn results(response: &TestResponse) -> Vec<Value> {
    response.data()["results"].as_array().unwrap().clone()
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[tokio::test]
async fn part_words_are_found_in_every_script_whatever_their_case() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.group(&alice, "world", &[&bob]).await;
    for text in [
        "Our FRIENDSHIP is strong",
        "Привет, как ДЕЛА у тебя?",
        "明日は東京タワーに行きます",
        "我们明天去北京看长城",
        "Grüße aus KÖLN",
        "nothing to see",
    ] {
        app.say(&alice, &chat, text).await;
    }
    assert_eq!(found(&app, &bob, "ship").await, ["Our FRIENDSHIP is strong"]);
    assert_eq!(found(&app, &bob, "дела").await, ["Привет, как ДЕЛА у тебя?"]);
    assert_eq!(found(&app, &bob, "東京タワー").await, ["明日は東京タワーに行きます"]);
    assert_eq!(found(&app, &bob, "北京看").await, ["我们明天去北京看长城"]);
    assert_eq!(found(&app, &bob, "köln").await, ["Grüße aus KÖLN"]);
    assert_eq!(found(&app, &bob, "s strong").await, ["Our FRIENDSHIP is strong"], "spaces are part of the phrase");
    assert!(found(&app, &bob, "東京に").await.is_empty(), "characters must be consecutive");
    assert!(found(&app, &bob, "100%").await.is_empty(), "LIKE wildcards are plain characters");

    let response = search(&app, &bob, &format!("q={}", urlencode("タワー"))).await;
    let hit = &results(&response)[0];
    assert_eq!(hit["snippet"], json!({"before": "明日は東京", "match": "タワー", "after": "に行きます"}));
    assert_eq!(hit["chat"], json!({"id": chat, "type": "group", "title": "world"}));
    assert_eq!(hit["message"]["author"]["id"], json!(alice.id));
    assert_eq!(response.data()["next_before"], Value::Null);
}

#[tokio::test]
async fn nobody_finds_messages_of_chats_they_are_not_in() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol) = (app.person("alice").await, app.person("bob").await, app.person("carol").await);
    let chat = app.direct(&alice, &bob).await;
    app.say(&alice, &chat, "the secret password is swordfish").await;
    assert_eq!(found(&app, &bob, "swordfish").await.len(), 1);
    assert!(found(&app, &carol, "swordfish").await.is_empty());
    search(&app, &carol, &format!("q=swordfish&chat_id={chat}")).await.assert_fail(StatusCode::NOT_FOUND);
    search(&app, &carol, &format!("q=sw&chat_id={chat}")).await.assert_fail(StatusCode::NOT_FOUND);

    // A member removed from a group finds nothing of it any more.
    let group = app.group(&alice, "club", &[&carol]).await;
    app.say(&alice, &group, "meet at the lighthouse").await;
    assert_eq!(found(&app, &carol, "lighthouse").await.len(), 1);
    app.call(Method::DELETE, &format!("/api/v1/chats/{group}/members/{}", carol.id), &alice.token)
        .await
        .assert_status(StatusCode::OK);
    assert!(found(&app, &carol, "lighthouse").await.is_empty());
}

#[tokio::test]
async fn edits_are_found_at_once_and_deleted_messages_never() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.direct(&alice, &bob).await;
    let message = app.say(&alice, &chat, "blueberry pie tonight").await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/chats/{chat}/messages/{message}");
    assert_eq!(found(&app, &bob, "berry").await.len(), 1);

    app.send_json(Method::PATCH, &path, json!({"text": "apple tart tonight"}), Some(&alice.token))
        .await
        .assert_status(StatusCode::OK);
    assert!(found(&app, &bob, "berry").await.is_empty(), "the old text is gone from the index");
    assert_eq!(found(&app, &bob, "TART").await, ["apple tart tonight"]);

    app.call(Method::DELETE, &path, &alice.token).await.assert_status(StatusCode::OK);
    assert!(found(&app, &bob, "tart").await.is_empty());
    assert!(found(&app, &bob, "tonight").await.is_empty());

    // A deleted chat takes its messages out of the index, which stays consistent.
    let group = app.group(&alice, "gone", &[&bob]).await;
    app.say(&alice, &group, "ephemeral words").await;
    app.call(Method::DELETE, &format!("/api/v1/chats/{group}"), &alice.token).await.assert_status(StatusCode::OK);
    assert!(found(&app, &bob, "ephemeral").await.is_empty());
    assert!(app.state.store.search_index_intact().await.unwrap());
}

#[tokio::test]
async fn pages_have_no_gaps_or_repeats_while_messages_arrive() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.direct(&alice, &bob).await;
    let mut existing = Vec::new();
    for i in 0..25 {
        existing.push(app.say(&alice, &chat, &format!("needle number {i}")).await["id"].as_str().unwrap().to_owned());
        app.say(&bob, &chat, &format!("hay {i}")).await;
    }
    // More needles arrive all the while the pages are read, from a sender of their own.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let (router, stop, token) = (app.router.clone(), stop.clone(), alice.token.clone());
        let path = format!("/api/v1/chats/{chat}/messages");
        tokio::spawn(async move {
            use tower::ServiceExt;
            let mut sent = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let request = axum::http::Request::post(&path)
                    .header("authorization", format!("Bearer {token}"))
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(json!({"text": "a late needle"}).to_string()))
                    .unwrap();
                assert_eq!(router.clone().oneshot(request).await.unwrap().status(), StatusCode::CREATED);
                sent += 1;
                // Paced: alice may send 120 messages a minute, and a send now takes well under
                // a millisecond, so an unpaced sender reaches the limit while the pages are read.
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            sent
        })
    };
    let (mut seen, mut before) = (Vec::new(), None::<String>);
    loop {
        let query = match &before {
            Some(cursor) => format!("q=needle&limit=7&before={cursor}"),
            None => "q=needle&limit=7".to_owned(),
        };
        let page = search(&app, &bob, &query).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        seen.extend(results(&page).iter().map(|r| r["message"]["id"].as_str().unwrap().to_owned()));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        match page.data()["next_before"].as_str() {
            Some(cursor) => before = Some(cursor.to_owned()),
            None => break,
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(sender.await.unwrap() > 0, "messages did arrive meanwhile");
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no result twice");
    let old: HashSet<&String> = existing.iter().collect();
    let walked: Vec<&String> = seen.iter().filter(|id| old.contains(id)).collect();
    assert_eq!(walked, existing.iter().rev().collect::<Vec<_>>(), "every needle that existed, newest first");
    // Late ones found on the way came in order too: ids rise in commit order within a chat.
    assert!(seen.windows(2).all(|pair| pair[0] > pair[1]), "newest first throughout");
}

#[tokio::test]
async fn short_queries_need_a_chat_and_bad_parameters_are_refused_by_name() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.direct(&alice, &bob).await;
    app.say(&alice, &chat, "go 北 ok").await;
    app.say(&alice, &chat, "nothing").await;

    let short = search(&app, &bob, "q=ok").await;
    short.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(short.data()["q"], "must be at least 3 characters, unless chat_id is given");
    let in_chat = search(&app, &bob, &format!("q=OK&chat_id={chat}")).await;
    assert_eq!(results(&in_chat).len(), 1, "{}", in_chat.text);
    let one = search(&app, &bob, &format!("q={}&chat_id={chat}", urlencode("北"))).await;
    assert_eq!(results(&one)[0]["snippet"]["match"], "北");

    for (query, field) in [
        ("", "q"),
        ("q=%20%20", "q"),
        ("q=abc&limit=0", "limit"),
        ("q=abc&limit=x", "limit"),
        ("q=abc&before=nope", "before"),
        ("q=abc&before=-4", "before"),
        ("q=abc&chat_id=7", "chat_id"),
    ] {
        let response = search(&app, &bob, query).await;
        response.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(response.data().get(field).is_some(), "{query}: {}", response.text);
    }
    let long = format!("q={}", "x".repeat(201));
    search(&app, &bob, &long).await.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    app.get("/api/v1/search/messages?q=abc", None).await.assert_fail(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn searches_are_rate_limited_per_user() {
    let app = TestApp::with_config(|config| config.limits.searches_per_minute = 3).await;
    let alice = app.person("alice").await;
    for _ in 0..3 {
        search(&app, &alice, "q=abc").await.assert_status(StatusCode::OK);
    }
    let refused = search(&app, &alice, "q=abc").await;
    refused.assert_fail(StatusCode::TOO_MANY_REQUESTS);
    assert!(!refused.header("retry-after").is_empty());
}
