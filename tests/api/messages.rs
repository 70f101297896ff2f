//! Messages: sending and its limits, idempotent retries, history pages under concurrent sends,
//! edits, tombstones, likes under races, forwards, read markers, and deleted authors.

use std::collections::HashSet;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Person, TestApp, texts};

fn ids(response: &crate::helpers::TestResponse) -> Vec<String> {
    response.data()["messages"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
}

async fn post(app: &TestApp, who: &Person, path: &str, body: Value) -> crate::helpers::TestResponse {
    app.send_json(Method::POST, path, body, Some(&who.token)).await
}

#[tokio::test]
async fn history_is_newest_first_in_keyset_pages_both_ways() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.direct(&alice, &bob).await;
    for i in 0..7 {
        app.say(if i % 2 == 0 { &alice } else { &bob }, &chat, &format!("m{i}")).await;
    }
    let first = app.history(&bob, &chat, "limit=3").await;
    assert_eq!(texts(&first), ["m6", "m5", "m4"]);
    let before = first.data()["next_before"].as_str().unwrap().to_owned();
    let second = app.history(&bob, &chat, &format!("before={before}&limit=3")).await;
    assert_eq!(texts(&second), ["m3", "m2", "m1"]);
    let last =
        app.history(&bob, &chat, &format!("before={}&limit=3", second.data()["next_before"].as_str().unwrap())).await;
    assert_eq!(texts(&last), ["m0"]);
    assert_eq!(last.data()["next_before"], Value::Null, "nothing older");

    // Forward from the oldest: the oldest newer ones first in line, each page newest first.
    let oldest = ids(&last)[0].clone();
    let forward = app.history(&bob, &chat, &format!("after={oldest}&limit=2")).await;
    assert_eq!(texts(&forward), ["m2", "m1"]);
    let next =
        app.history(&bob, &chat, &format!("after={}&limit=100", forward.data()["next_after"].as_str().unwrap())).await;
    assert_eq!(texts(&next), ["m6", "m5", "m4", "m3"]);
    let caught_up = app.history(&bob, &chat, &format!("after={}", next.data()["next_after"].as_str().unwrap())).await;
    assert_eq!(texts(&caught_up), Vec::<String>::new());
    assert_eq!(caught_up.data()["next_after"], next.data()["next_after"], "the cursor stays usable for later");

    let message = &first.data()["messages"][0];
    for field in [
        "id",
        "chat_id",
        "author",
        "type",
        "text",
        "reply_to",
        "forwarded_from",
        "like_count",
        "liked_by_me",
        "created_at",
        "edited_at",
    ] {
        assert!(message.get(field).is_some(), "message has no {field}: {message}");
    }
    assert_eq!(message["author"]["username"], "alice");

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("before=nope", "before"),
        (&format!("before={oldest}&after={oldest}")[..], "after"),
    ] {
        let response = app.history(&bob, &chat, query).await;
        response.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(response.data()[field].is_string(), "{query}: {}", response.text);
    }
    assert_eq!(
        app.history(&bob, &chat, "limit=1000").await.data()["messages"].as_array().unwrap().len(),
        7,
        "capped, not refused"
    );
}

#[tokio::test]
async fn pages_have_no_gaps_or_repeats_while_messages_keep_arriving() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol) = (app.person("alice").await, app.person("bob").await, app.person("carol").await);
    let chat = app.group(&alice, "busy", &[&bob, &carol]).await;
    let mut before_reading = HashSet::new();
    for i in 0..30 {
        before_reading.insert(app.say(&alice, &chat, &format!("old {i}")).await["id"].as_str().unwrap().to_owned());
    }
    let first = app.history(&carol, &chat, "limit=5").await;
    let start = ids(&first)[0].clone();

    // Two writers keep sending while carol pages back through the past and forward through the new.
    let writers = async {
        let mut sent = HashSet::new();
        for i in 0..20 {
            let (text_a, text_b) = (format!("new a{i}"), format!("new b{i}"));
            let (a, b) = futures::join!(app.say(&alice, &chat, &text_a), app.say(&bob, &chat, &text_b));
            sent.insert(a["id"].as_str().unwrap().to_owned());
            sent.insert(b["id"].as_str().unwrap().to_owned());
        }
        sent
    };
    let reader = async {
        let mut seen: Vec<String> = ids(&first);
        let mut cursor = first.data()["next_before"].as_str().map(str::to_owned);
        while let Some(before) = cursor {
            let page = app.history(&carol, &chat, &format!("before={before}&limit=4")).await;
            seen.extend(ids(&page));
            cursor = page.data()["next_before"].as_str().map(str::to_owned);
            tokio::task::yield_now().await;
        }
        seen
    };
    let (sent, past) = futures::join!(writers, reader);
    let unique: HashSet<&String> = past.iter().collect();
    assert_eq!(unique.len(), past.len(), "no message twice");
    assert!(before_reading.iter().all(|id| unique.contains(id)), "every old message once");
    assert_eq!(past.len(), 31, "30 messages and the opening, none of the new");

    // Catching up from the newest seen yields exactly what was sent meanwhile, oldest pages first.
    let mut newer = Vec::new();
    let mut after = start;
    loop {
        let page = app.history(&carol, &chat, &format!("after={after}&limit=7")).await;
        let page_ids = ids(&page);
        if page_ids.is_empty() {
            break;
        }
        newer.extend(page_ids.into_iter().rev());
        after = page.data()["next_after"].as_str().unwrap().to_owned();
    }
    assert_eq!(newer.len(), sent.len());
    assert_eq!(newer.iter().cloned().collect::<HashSet<_>>(), sent);
    let mut sorted = newer.clone();
    sorted.sort();
    assert_eq!(newer, sorted, "ids rise in send order");
}

#[tokio::test]
async fn a_retry_with_the_same_client_id_returns_the_first_message() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.direct(&alice, &bob).await;
    let path = format!("/api/v1/chats/{chat}/messages");
    let body = json!({"text": "once", "client_id": "c-1"});
    let first = post(&app, &alice, &path, body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.data()["message"]["client_id"], "c-1");
    let retry = post(&app, &alice, &path, body.clone()).await;
    assert_eq!(retry.status, StatusCode::OK);
    assert_eq!(retry.data()["message"]["id"], first.data()["message"]["id"]);

    let racing =
        futures::future::join_all((0..5).map(|_| post(&app, &alice, &path, json!({"text": "x", "client_id": "c-2"}))))
            .await;
    let created = racing.iter().filter(|r| r.status == StatusCode::CREATED).count();
    let distinct: HashSet<&Value> = racing.iter().map(|r| &r.data()["message"]["id"]).collect();
    assert_eq!((created, distinct.len()), (1, 1), "{:?}", racing.iter().map(|r| &r.text).collect::<Vec<_>>());

    let bobs = post(&app, &bob, &path, body).await;
    assert_eq!(bobs.status, StatusCode::CREATED, "client ids are each sender's own");
    assert_eq!(app.history(&alice, &chat, "").await.data()["messages"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn bad_messages_are_refused_by_field() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol) = (app.person("alice").await, app.person("bob").await, app.person("carol").await);
    let chat = app.direct(&alice, &bob).await;
    let other = app.direct(&alice, &carol).await;
    let foreign = app.say(&alice, &other, "elsewhere").await["id"].clone();
    let path = format!("/api/v1/chats/{chat}/messages");
    for (body, field) in [
        (json!({"text": "a".repeat(4001)}), "text"),
        (json!({"text": "   "}), "text"),
        (json!({}), "text"),
        (json!({"type": "system", "text": "I am the server"}), "type"),
        (json!({"type": "video", "text": "x"}), "type"),
        (json!({"type": "image"}), "attachment_id"),
        (json!({"type": "image", "attachment_id": uuid::Uuid::now_v7()}), "attachment_id"),
        (json!({"text": "x", "reply_to": foreign}), "reply_to"),
        (json!({"text": "x", "reply_to": "nope"}), "reply_to"),
        (json!({"text": "x", "client_id": "has spaces"}), "client_id"),
        (json!({"text": 42}), "text"),
    ] {
        let response = post(&app, &alice, &path, body.clone()).await;
        response.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(response.data()[field].is_string(), "{body} → {}", response.text);
    }
    assert_eq!(post(&app, &alice, &path, json!({"text": "é".repeat(4000)})).await.status, StatusCode::CREATED);
    assert_eq!(
        app.history(&alice, &chat, "").await.data()["messages"].as_array().unwrap().len(),
        1,
        "nothing half-written"
    );

    let reply = post(
        &app,
        &bob,
        &path,
        json!({"text": "yes", "reply_to": app.history(&bob, &chat, "").await.data()["messages"][0]["id"]}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert!(reply.data()["message"]["reply_to"].is_string());
}

#[tokio::test]
async fn message_sending_is_rate_limited_per_user() {
    let app = TestApp::with_config(|c| c.limits.messages_per_minute = 3).await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.direct(&alice, &bob).await;
    for i in 0..3 {
        app.say(&alice, &chat, &format!("{i}")).await;
    }
    let refused = post(&app, &alice, &format!("/api/v1/chats/{chat}/messages"), json!({"text": "one more"})).await;
    refused.assert_fail(StatusCode::TOO_MANY_REQUESTS);
    assert!(!refused.header("retry-after").is_empty());
    app.say(&bob, &chat, "bob is not limited by alice").await;
}

#[tokio::test]
async fn authors_edit_their_messages_and_deletion_leaves_a_tombstone() {
    let app = TestApp::spawn().await;
    let (owner, bob, carol) = (app.person("owner").await, app.person("bob").await, app.person("carol").await);
    let chat = app.group(&owner, "g", &[&bob, &carol]).await;
    let bobs = app.say(&bob, &chat, "typo").await["id"].as_str().unwrap().to_owned();
    let path = |mid: &str| format!("/api/v1/chats/{chat}/messages/{mid}");

    let edited = app.send_json(Method::PATCH, &path(&bobs), json!({"text": "fixed"}), Some(&bob.token)).await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    assert_eq!(edited.data()["message"]["text"], "fixed");
    assert!(edited.data()["message"]["edited_at"].is_string());
    app.send_json(Method::PATCH, &path(&bobs), json!({"text": "mine now"}), Some(&owner.token))
        .await
        .assert_fail(StatusCode::FORBIDDEN);
    app.send_json(Method::PATCH, &path(&bobs), json!({"text": ""}), Some(&bob.token))
        .await
        .assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    app.call(Method::DELETE, &path(&bobs), &carol.token).await.assert_fail(StatusCode::FORBIDDEN);

    app.send_json(Method::PUT, &format!("{}/like", path(&bobs)), json!({}), Some(&carol.token)).await;
    let deleted = app.call(Method::DELETE, &path(&bobs), &owner.token).await;
    assert_eq!(deleted.status, StatusCode::OK, "the owner deletes anyone's: {}", deleted.text);
    let tombstone = &deleted.data()["message"];
    assert_eq!(
        (tombstone["deleted"].clone(), tombstone["text"].clone(), tombstone["like_count"].clone()),
        (json!(true), Value::Null, json!(0))
    );
    assert_eq!(
        app.call(Method::DELETE, &path(&bobs), &bob.token).await.status,
        StatusCode::OK,
        "deleting twice is fine"
    );
    let history = app.history(&carol, &chat, "").await;
    assert_eq!(history.data()["messages"][0]["id"], bobs.as_str(), "the tombstone keeps its place");
    assert_eq!(history.data()["messages"][0]["text"], Value::Null);

    let gone = app.send_json(Method::PATCH, &path(&bobs), json!({"text": "back"}), Some(&bob.token)).await;
    gone.assert_fail(StatusCode::CONFLICT);
    assert_eq!(gone.reason(), "message_deleted");
    app.call(Method::PUT, &format!("{}/like", path(&bobs)), &carol.token).await.assert_fail(StatusCode::CONFLICT);
    let missing = app.call(Method::DELETE, &path(&uuid::Uuid::now_v7().to_string()), &bob.token).await;
    missing.assert_fail(StatusCode::NOT_FOUND);
    assert_eq!(missing.reason(), "message_not_found");
}

#[tokio::test]
async fn likes_are_one_per_user_and_counts_hold_under_races() {
    let app = TestApp::spawn().await;
    let owner = app.person("owner").await;
    let mut fans = Vec::new();
    for i in 0..12 {
        fans.push(app.person(&format!("fan{i}")).await);
    }
    let chat = app.group(&owner, "fans", &fans.iter().collect::<Vec<_>>()).await;
    let mid = app.say(&owner, &chat, "like me").await["id"].as_str().unwrap().to_owned();
    let like = format!("/api/v1/chats/{chat}/messages/{mid}/like");

    let answers =
        futures::future::join_all(fans.iter().chain(fans.iter()).map(|fan| app.call(Method::PUT, &like, &fan.token)))
            .await;
    assert!(
        answers.iter().all(|r| r.status == StatusCode::OK),
        "{:?}",
        answers.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    let history = app.history(&fans[0], &chat, "limit=1").await;
    assert_eq!(history.data()["messages"][0]["like_count"], 12);
    assert_eq!(history.data()["messages"][0]["liked_by_me"], true);
    assert_eq!(app.history(&owner, &chat, "limit=1").await.data()["messages"][0]["liked_by_me"], false);

    let unliked =
        futures::future::join_all(fans[..5].iter().map(|fan| app.call(Method::DELETE, &like, &fan.token))).await;
    assert!(unliked.iter().all(|r| r.status == StatusCode::OK));
    let again = app.call(Method::DELETE, &like, &fans[0].token).await;
    assert_eq!(
        (again.data()["message"]["like_count"].clone(), again.data()["message"]["liked_by_me"].clone()),
        (json!(7), json!(false))
    );
}

#[tokio::test]
async fn a_forward_names_its_origin_and_needs_both_chats() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol) = (app.person("alice").await, app.person("bob").await, app.person("carol").await);
    let source = app.direct(&alice, &bob).await;
    let target = app.group(&bob, "friends", &[&carol]).await;
    let last = app.direct(&carol, &alice).await;
    let original = app.say(&alice, &source, "worth sharing").await;
    let mid = original["id"].as_str().unwrap();

    let app = &app;
    let forward = |who: &Person, from: &str, mid: &str, to: &str| {
        let path = format!("/api/v1/chats/{from}/messages/{mid}/forward");
        let (token, body) = (who.token.clone(), json!({"to_chat_id": to}));
        async move { app.send_json(Method::POST, &path, body, Some(&token)).await }
    };
    let shared = forward(&bob, &source, mid, &target).await;
    assert_eq!(shared.status, StatusCode::CREATED, "{}", shared.text);
    let copy = &shared.data()["message"];
    assert_eq!(copy["text"], "worth sharing");
    assert_eq!(copy["author"]["username"], "bob");
    assert_eq!(copy["forwarded_from"]["chat_id"], source.as_str());
    assert_eq!(copy["forwarded_from"]["message_id"], mid);
    assert_eq!(copy["forwarded_from"]["author"]["username"], "alice");

    let onward = forward(&carol, &target, copy["id"].as_str().unwrap(), &last).await;
    assert_eq!(onward.data()["message"]["forwarded_from"]["message_id"], mid, "a forward of a forward names the first");

    forward(&alice, &source, mid, &target).await.assert_fail(StatusCode::NOT_FOUND);
    forward(&carol, &source, mid, &target).await.assert_fail(StatusCode::NOT_FOUND);
    let bad = app
        .send_json(
            Method::POST,
            &format!("/api/v1/chats/{source}/messages/{mid}/forward"),
            json!({"to_chat_id": 7}),
            Some(&bob.token),
        )
        .await;
    bad.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn read_markers_only_move_forward_and_unread_counts_follow() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.direct(&alice, &bob).await;
    let mut sent = Vec::new();
    for i in 0..4 {
        sent.push(app.say(&alice, &chat, &format!("{i}")).await["id"].as_str().unwrap().to_owned());
    }
    app.say(&bob, &chat, "mine").await;
    let app = &app;
    let read = |mid: String| {
        let path = format!("/api/v1/chats/{chat}/read");
        let token = bob.token.clone();
        async move { app.send_json(Method::POST, &path, json!({"message_id": mid}), Some(&token)).await }
    };
    let first = read(sent[1].clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(
        (first.data()["unread_count"].clone(), first.data()["last_read_id"].clone()),
        (json!(2), json!(sent[1]))
    );
    let back = read(sent[0].clone()).await;
    assert_eq!(
        (back.data()["unread_count"].clone(), back.data()["last_read_id"].clone()),
        (json!(2), json!(sent[1])),
        "never back"
    );
    assert_eq!(read(sent[3].clone()).await.data()["unread_count"], 0);
    read(uuid::Uuid::now_v7().to_string()).await.assert_fail(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unread_counts_drop_deleted_messages_and_start_when_you_join() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol) = (app.person("alice").await, app.person("bob").await, app.person("carol").await);
    let chat = app.group(&alice, "club", &[&bob]).await;
    let unread = |who: &Person| {
        let (app, chat, token) = (&app, chat.clone(), who.token.clone());
        async move {
            let response = app.get(&format!("/api/v1/chats/{chat}"), Some(&token)).await;
            assert_eq!(response.status, StatusCode::OK, "{}", response.text);
            response.data()["chat"]["unread_count"].as_u64().unwrap()
        }
    };
    let said: Vec<String> = [
        app.say(&alice, &chat, "one").await,
        app.say(&alice, &chat, "two").await,
        app.say(&alice, &chat, "three").await,
    ]
    .iter()
    .map(|m| m["id"].as_str().unwrap().to_owned())
    .collect();
    // The `created` record and three messages.
    assert_eq!(unread(&bob).await, 4);
    let read = app
        .send_json(
            Method::POST,
            &format!("/api/v1/chats/{chat}/read"),
            json!({"message_id": said[0]}),
            Some(&bob.token),
        )
        .await;
    assert_eq!(read.data()["unread_count"], 2, "{}", read.text);

    // Deleting a message bob has not read takes it off his count; one he has read changes nothing.
    let delete = |mid: &str| {
        let (app, path, token) = (&app, format!("/api/v1/chats/{chat}/messages/{mid}"), alice.token.clone());
        async move { app.call(Method::DELETE, &path, &token).await }
    };
    assert_eq!(delete(&said[2]).await.status, StatusCode::OK);
    assert_eq!(unread(&bob).await, 1);
    assert_eq!(delete(&said[0]).await.status, StatusCode::OK);
    assert_eq!(unread(&bob).await, 1);
    assert_eq!(delete(&said[2]).await.status, StatusCode::OK, "deleting again is harmless");
    assert_eq!(unread(&bob).await, 1);

    // Carol joins: what was said before is not unread for her, the record of her joining is.
    let add = app
        .send_json(
            Method::POST,
            &format!("/api/v1/chats/{chat}/members"),
            json!({"user_ids": [carol.id]}),
            Some(&alice.token),
        )
        .await;
    assert!(add.status.is_success(), "{}", add.text);
    assert_eq!(unread(&carol).await, 1);
    app.say(&bob, &chat, "welcome").await;
    assert_eq!((unread(&carol).await, unread(&bob).await, unread(&alice).await), (2, 2, 1));
}

#[tokio::test]
async fn a_deleted_authors_messages_stay_shown_as_a_deleted_account() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol) = (app.person("alice").await, app.person("bob").await, app.person("carol").await);
    let group = app.group(&bob, "bob's group", &[&alice, &carol]).await;
    let direct = app.direct(&alice, &bob).await;
    app.say(&bob, &group, "in the group").await;
    app.say(&bob, &direct, "just us").await;
    let mid = app.say(&alice, &group, "liked by bob").await["id"].as_str().unwrap().to_owned();
    app.call(Method::PUT, &format!("/api/v1/chats/{group}/messages/{mid}/like"), &bob.token).await;

    assert_eq!(app.call(Method::DELETE, "/api/v1/me", &bob.token).await.status, StatusCode::OK);

    let history = app.history(&carol, &group, "").await;
    let bobs =
        history.data()["messages"].as_array().unwrap().iter().find(|m| m["text"] == "in the group").unwrap().clone();
    assert_eq!(bobs["author"], json!({"id": bob.id, "username": null, "avatar": null, "deleted": true}));
    assert_eq!(history.data()["messages"][0]["system"], json!({"action": "member_left", "user_id": bob.id}));
    assert_eq!(history.data()["messages"][1]["like_count"], 0, "the deleted account's likes go with it");
    let group_view = app.get(&format!("/api/v1/chats/{group}"), Some(&carol.token)).await;
    let roles: Vec<&str> =
        group_view.data()["chat"]["members"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["owner", "member"], "alice (oldest after bob) owns the group now");

    let direct_view = app.get(&format!("/api/v1/chats/{direct}"), Some(&alice.token)).await;
    assert_eq!(direct_view.status, StatusCode::OK, "the direct chat stays readable");
    let deleted_member =
        direct_view.data()["chat"]["members"].as_array().unwrap().iter().find(|m| m["deleted"] == true).cloned();
    assert_eq!(deleted_member.unwrap()["id"], bob.id.as_str());
    assert_eq!(texts(&app.history(&alice, &direct, "").await), ["just us"]);
}

/// A history page of a small chat beside a huge one must be a range of the `(chat_id, id)` index,
/// also in the generic plan PostgreSQL switches prepared statements to, where statistics skewed by
/// the huge chat once made a walk of the primary key look cheaper (m0005).
#[tokio::test]
async fn history_of_a_small_chat_beside_a_huge_one_uses_the_chat_index() {
    use sea_orm::sea_query::Query;
    use sea_orm::{ConnectionTrait, TransactionTrait};

    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let (huge, small) = (app.group(&alice, "huge", &[&bob]).await, app.group(&alice, "small", &[&bob]).await);
    let db = app.state.store.connection();
    let author = uuid::Uuid::parse_str(&alice.id).unwrap();
    let at = parlor::store::now();
    for _ in 0..10 {
        let mut insert = Query::insert()
            .into_table("messages")
            .columns(["id", "chat_id", "author_id", "kind", "text", "created_at"])
            .to_owned();
        for _ in 0..1000 {
            let chat = uuid::Uuid::parse_str(&huge).unwrap();
            insert.values_panic([
                uuid::Uuid::now_v7().into(),
                chat.into(),
                author.into(),
                "text".into(),
                "x".into(),
                at.into(),
            ]);
        }
        db.execute(&insert).await.unwrap();
    }
    app.say(&alice, &small, "hello").await;
    let postgres = app.state.store.backend() == "postgres";
    // One connection for the lot: a prepared statement and a setting live on their connection.
    let db = db.begin().await.unwrap();
    let plan = if postgres {
        db.execute_unprepared("ANALYZE messages").await.unwrap();
        db.execute_unprepared("SET plan_cache_mode = force_generic_plan").await.unwrap();
        db.execute_unprepared(
            "PREPARE page(uuid, uuid) AS SELECT id FROM messages WHERE chat_id = $1 AND id < $2 ORDER BY id DESC LIMIT 51",
        )
        .await
        .unwrap();
        let explain = format!("EXPLAIN EXECUTE page('{small}', 'ffffffff-ffff-ffff-ffff-ffffffffffff')");
        db.query_all_raw(sea_orm::Statement::from_string(db.get_database_backend(), explain)).await.unwrap()
    } else {
        db.execute_unprepared("ANALYZE messages").await.unwrap();
        let explain = format!(
            "EXPLAIN QUERY PLAN SELECT id FROM messages WHERE chat_id = x'{}' AND id < x'ffffffffffffffffffffffffffffffff' ORDER BY id DESC LIMIT 51",
            small.replace('-', "")
        );
        db.query_all_raw(sea_orm::Statement::from_string(db.get_database_backend(), explain)).await.unwrap()
    };
    let plan: Vec<String> = plan
        .iter()
        .map(|row| row.try_get::<String>("", if postgres { "QUERY PLAN" } else { "detail" }).unwrap())
        .collect();
    db.rollback().await.unwrap();
    assert!(plan.iter().any(|line| line.contains("ix_messages_chat_id")), "{plan:#?}");
    let page = app.get(&format!("/api/v1/chats/{small}/messages"), Some(&bob.token)).await;
    assert_eq!(texts(&page).first().map(String::as_str), Some("hello"));
}

#[tokio::test]
async fn a_message_of_one_of_my_chats_is_not_found_under_another_of_my_chats() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol) = (app.person("alice").await, app.person("bob").await, app.person("carol").await);
    let with_bob = app.direct(&alice, &bob).await;
    let with_carol = app.direct(&alice, &carol).await;
    let bobs = app.say(&bob, &with_bob, "for alice only").await["id"].as_str().unwrap().to_owned();
    app.say(&carol, &with_carol, "hi").await;

    // Alice is a member of both chats; the message id belongs to one, the path names the other.
    let wrong = format!("/api/v1/chats/{with_carol}/messages/{bobs}");
    for (method, path, body) in [
        (Method::PATCH, wrong.clone(), json!({"text": "edited"})),
        (Method::DELETE, wrong.clone(), json!({})),
        (Method::PUT, format!("{wrong}/like"), json!({})),
        (Method::PUT, format!("{wrong}/reactions/%F0%9F%91%8D"), json!({})),
        (Method::POST, format!("{wrong}/forward"), json!({"to_chat_id": with_carol})),
    ] {
        let response = app.send_json(method.clone(), &path, body, Some(&alice.token)).await;
        response.assert_fail(StatusCode::NOT_FOUND);
        assert_eq!(response.reason(), "message_not_found", "{method} {path}: {}", response.text);
    }
    let read = format!("/api/v1/chats/{with_carol}/read");
    let marker = app.send_json(Method::POST, &read, json!({"message_id": bobs}), Some(&alice.token)).await;
    marker.assert_fail(StatusCode::NOT_FOUND);
    assert_eq!(marker.reason(), "message_not_found", "{}", marker.text);

    // Nothing happened to the message, and nothing arrived in the other chat.
    let history = app.history(&bob, &with_bob, "").await;
    let message = &history.data()["messages"][0];
    assert_eq!(message["text"], "for alice only");
    assert_eq!(message["like_count"], 0, "{message}");
    assert_eq!(texts(&app.history(&carol, &with_carol, "").await), ["hi"]);
}

#[tokio::test]
async fn a_send_runs_a_handful_of_statements_whatever_the_size_of_its_chat() {
    let app = TestApp::spawn().await;
    let alice = app.person("alice").await;
    let mut others = Vec::new();
    for i in 0..12 {
        others.push(app.person(&format!("member{i}")).await);
    }
    let direct = app.direct(&alice, &others[0]).await;
    let group = app.group(&alice, "Many", &others.iter().collect::<Vec<_>>()).await;
    let mut count_for = Vec::new();
    for chat in [&direct, &group] {
        // Warm the caches (sessions, verified tokens, users) the same way both times.
        app.say(&alice, chat, "first").await;
        let before = app.state.store.query_count();
        app.say(&alice, chat, "second").await;
        count_for.push(app.state.store.query_count() - before);
    }
    assert_eq!(count_for[0], count_for[1], "statements for a direct chat vs a group of 13: {count_for:?}");
    // The chat's UPDATE (also its lock and the audience's version), the author's (also the
    // membership check), the INSERT and its search entry, sent as one (one statement on
    // PostgreSQL, one string of them on SQLite); the author and the audience are kept.
    assert_eq!(count_for, [1, 1], "one statement sent per send");
}

/// A chat whose last message id is ahead of this instance's clock (another instance's clock is
/// ahead, or it was) still takes sends, each above the last, in order.
#[tokio::test]
async fn sends_into_a_chat_whose_last_id_is_ahead_of_the_clock_still_land_in_order() {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.direct(&alice, &bob).await;
    let first = app.say(&alice, &chat, "before").await["id"].as_str().unwrap().to_owned();
    // The chat's last id an hour ahead: a UUID v7 starts with its millisecond timestamp.
    let ahead = uuid::Uuid::from_u128(uuid::Uuid::parse_str(&first).unwrap().as_u128() + (3_600_000u128 << 80));
    let db = app.state.store.connection();
    let set = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => "UPDATE chats SET last_message_id = $1 WHERE id = $2",
        _ => "UPDATE chats SET last_message_id = ? WHERE id = ?",
    };
    let chat_id = uuid::Uuid::parse_str(&chat).unwrap();
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        db.get_database_backend(),
        set,
        [ahead.into(), chat_id.into()],
    ))
    .await
    .unwrap();
    let mut ids = vec![ahead];
    for text in ["one", "two", "three"] {
        let sent = app.say(&alice, &chat, text).await;
        ids.push(uuid::Uuid::parse_str(sent["id"].as_str().unwrap()).unwrap());
    }
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "each id above the last: {ids:?}");
    let history = app.history(&bob, &chat, "").await;
    assert_eq!(texts(&history), ["three", "two", "one", "before"]);
}
