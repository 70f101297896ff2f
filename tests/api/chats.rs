//! Chats: direct and group, roles, members, pins, the chat list, deletion, and that nobody
//! outside a chat learns anything about it.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Person, TestApp};

fn member_roles(chat: &Value) -> Vec<(String, String)> {
    chat["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["username"].as_str().unwrap_or("<deleted>").to_owned(), m["role"].as_str().unwrap().to_owned()))
        .collect()
}

async fn chat_of(app: &TestApp, who: &Person, chat: &str) -> Value {
    let response = app.get(&format!("/api/v1/chats/{chat}"), Some(&who.token)).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    response.data()["chat"].clone()
}

#[tokio::test]
async fn a_direct_chat_is_unique_per_pair_whoever_opens_it() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);

    let first = app
        .send_json(Method::POST, "/api/v1/chats", json!({"type": "direct", "user_id": bob.id}), Some(&alice.token))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let chat = &first.data()["chat"];
    assert_eq!(chat["type"], "direct");
    assert_eq!(chat["title"], Value::Null);
    assert_eq!(member_roles(chat), [("alice".into(), "member".into()), ("bob".into(), "member".into())]);

    let again = app
        .send_json(Method::POST, "/api/v1/chats", json!({"type": "direct", "user_id": bob.id}), Some(&alice.token))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.data()["chat"]["id"], chat["id"]);
    let reverse = app
        .send_json(Method::POST, "/api/v1/chats", json!({"type": "direct", "user_id": alice.id}), Some(&bob.token))
        .await;
    assert_eq!(reverse.status, StatusCode::OK);
    assert_eq!(reverse.data()["chat"]["id"], chat["id"]);

    for (body, field) in [
        (json!({"type": "direct", "user_id": alice.id}), "user_id"),
        (json!({"type": "direct", "user_id": uuid::Uuid::now_v7()}), "user_id"),
        (json!({"type": "direct", "user_id": "bob"}), "user_id"),
        (json!({"type": "direct"}), "user_id"),
        (json!({"type": "channel"}), "type"),
        (json!({"type": "group"}), "title"),
        (json!({"type": "group", "title": "  "}), "title"),
        (json!({"type": "group", "title": "x", "member_ids": [uuid::Uuid::now_v7()]}), "member_ids"),
    ] {
        let response = app.send_json(Method::POST, "/api/v1/chats", body.clone(), Some(&alice.token)).await;
        response.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(response.data()[field].is_string(), "{body} → {}", response.text);
    }
}

#[tokio::test]
async fn concurrent_openings_of_one_direct_chat_make_one_chat() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let opens = (0..6).map(|i| {
        let (me, other) = if i % 2 == 0 { (&alice, &bob) } else { (&bob, &alice) };
        app.send_json(Method::POST, "/api/v1/chats", json!({"type": "direct", "user_id": other.id}), Some(&me.token))
    });
    let answers = futures::future::join_all(opens).await;
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .map(|r| r.data()["chat"]["id"].as_str().unwrap_or_else(|| panic!("{}", r.text)).to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let list = app.get("/api/v1/chats", Some(&alice.token)).await;
    assert_eq!(list.data()["chats"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_group_has_an_owner_members_and_a_system_message_opening_it() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol) = (app.person("alice").await, app.person("bob").await, app.person("carol").await);
    let chat = app.group(&alice, "Book club", &[&bob, &carol, &bob, &alice]).await;

    let view = chat_of(&app, &bob, &chat).await;
    assert_eq!(view["title"], "Book club");
    assert_eq!(
        member_roles(&view),
        [("alice".into(), "owner".into()), ("bob".into(), "member".into()), ("carol".into(), "member".into())],
        "duplicates and the owner in member_ids are ignored"
    );
    let opening = &view["last_message"];
    assert_eq!(opening["type"], "system");
    assert_eq!(opening["system"], json!({"action": "created", "title": "Book club"}));
    assert_eq!(opening["author"]["username"], "alice");
    assert_eq!(view["unread_count"], 1, "bob has not read alice's opening");
    assert_eq!(chat_of(&app, &alice, &chat).await["unread_count"], 0, "nobody's own messages are unread");
}

#[tokio::test]
async fn someone_outside_a_chat_gets_404_for_everything_about_it() {
    let app = TestApp::spawn().await;
    let (alice, bob, mallory) = (app.person("alice").await, app.person("bob").await, app.person("mallory").await);
    let chat = app.group(&alice, "Secret", &[&bob]).await;
    let mid = app.say(&alice, &chat, "hello").await["id"].as_str().unwrap().to_owned();
    let elsewhere = app.direct(&mallory, &alice).await;
    let t = Some(mallory.token.as_str());

    let requests: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/v1/chats/{chat}"), None),
        (Method::PATCH, format!("/api/v1/chats/{chat}"), Some(json!({"title": "Mine"}))),
        (Method::DELETE, format!("/api/v1/chats/{chat}"), None),
        (Method::POST, format!("/api/v1/chats/{chat}/members"), Some(json!({"user_ids": [mallory.id]}))),
        (Method::DELETE, format!("/api/v1/chats/{chat}/members/{}", bob.id), None),
        (Method::DELETE, format!("/api/v1/chats/{chat}/members/{}", mallory.id), None),
        (Method::PATCH, format!("/api/v1/chats/{chat}/members/{}", mallory.id), Some(json!({"role": "owner"}))),
        (Method::PUT, format!("/api/v1/chats/{chat}/pin"), None),
        (Method::DELETE, format!("/api/v1/chats/{chat}/pin"), None),
        (Method::GET, format!("/api/v1/chats/{chat}/messages"), None),
        (Method::POST, format!("/api/v1/chats/{chat}/messages"), Some(json!({"text": "let me in"}))),
        (Method::PATCH, format!("/api/v1/chats/{chat}/messages/{mid}"), Some(json!({"text": "edited"}))),
        (Method::DELETE, format!("/api/v1/chats/{chat}/messages/{mid}"), None),
        (Method::PUT, format!("/api/v1/chats/{chat}/messages/{mid}/like"), None),
        (Method::DELETE, format!("/api/v1/chats/{chat}/messages/{mid}/like"), None),
        (Method::POST, format!("/api/v1/chats/{chat}/messages/{mid}/forward"), Some(json!({"to_chat_id": elsewhere}))),
        (Method::POST, format!("/api/v1/chats/{chat}/read"), Some(json!({"message_id": mid}))),
        (Method::GET, "/api/v1/chats/not-a-uuid".to_owned(), None),
        (Method::GET, format!("/api/v1/chats/{}", uuid::Uuid::now_v7()), None),
    ];
    for (method, path, body) in requests {
        let response = match body {
            Some(body) => app.send_json(method.clone(), &path, body, t).await,
            None => app.call(method.clone(), &path, &mallory.token).await,
        };
        response.assert_fail(StatusCode::NOT_FOUND);
        assert_eq!(response.reason(), "chat_not_found", "{method} {path}: {}", response.text);
    }
    // Nothing changed meanwhile.
    let view = chat_of(&app, &alice, &chat).await;
    assert_eq!(view["title"], "Secret");
    assert_eq!(view["members"].as_array().unwrap().len(), 2);
    assert_eq!(app.history(&alice, &chat, "").await.data()["messages"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn roles_decide_who_renames_adds_removes_and_promotes() {
    let app = TestApp::spawn().await;
    let [owner, admin, member, other, newcomer] = [
        app.person("owner").await,
        app.person("admin").await,
        app.person("member").await,
        app.person("other").await,
        app.person("newcomer").await,
    ];
    let chat = app.group(&owner, "Team", &[&admin, &member, &other]).await;
    let path = |rest: &str| format!("/api/v1/chats/{chat}{rest}");
    let promote = app
        .send_json(
            Method::PATCH,
            &path(&format!("/members/{}", admin.id)),
            json!({"role": "admin"}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(promote.status, StatusCode::OK, "{}", promote.text);
    assert!(member_roles(&promote.data()["chat"]).contains(&("admin".into(), "admin".into())));

    // A member can do none of it.
    let rename = app.send_json(Method::PATCH, &path(""), json!({"title": "Mine"}), Some(&member.token)).await;
    rename.assert_fail(StatusCode::FORBIDDEN);
    assert_eq!(rename.reason(), "not_allowed");
    app.send_json(Method::POST, &path("/members"), json!({"user_ids": [newcomer.id]}), Some(&member.token))
        .await
        .assert_fail(StatusCode::FORBIDDEN);
    app.call(Method::DELETE, &path(&format!("/members/{}", other.id)), &member.token)
        .await
        .assert_fail(StatusCode::FORBIDDEN);

    // An admin renames, adds and removes members, but not admins or the owner, and sets no roles.
    let renamed = app.send_json(Method::PATCH, &path(""), json!({"title": "Team B"}), Some(&admin.token)).await;
    assert_eq!((renamed.status, &renamed.data()["chat"]["title"]), (StatusCode::OK, &json!("Team B")));
    let added =
        app.send_json(Method::POST, &path("/members"), json!({"user_ids": [newcomer.id]}), Some(&admin.token)).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.text);
    assert!(member_roles(&added.data()["chat"]).contains(&("newcomer".into(), "member".into())));
    assert_eq!(
        app.call(Method::DELETE, &path(&format!("/members/{}", other.id)), &admin.token).await.status,
        StatusCode::OK
    );
    app.call(Method::DELETE, &path(&format!("/members/{}", owner.id)), &admin.token)
        .await
        .assert_fail(StatusCode::FORBIDDEN);
    app.send_json(
        Method::PATCH,
        &path(&format!("/members/{}", member.id)),
        json!({"role": "admin"}),
        Some(&admin.token),
    )
    .await
    .assert_fail(StatusCode::FORBIDDEN);
    app.send_json(Method::DELETE, &path(""), json!({}), Some(&admin.token)).await.assert_fail(StatusCode::FORBIDDEN);

    // Bad roles and removing a non-member.
    let bad = app
        .send_json(
            Method::PATCH,
            &path(&format!("/members/{}", member.id)),
            json!({"role": "king"}),
            Some(&owner.token),
        )
        .await;
    bad.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    let gone = app.call(Method::DELETE, &path(&format!("/members/{}", other.id)), &owner.token).await;
    gone.assert_fail(StatusCode::NOT_FOUND);
    assert_eq!(gone.reason(), "member_not_found");

    // Handing over: the new owner is owner, the old one an admin.
    let handed = app
        .send_json(
            Method::PATCH,
            &path(&format!("/members/{}", member.id)),
            json!({"role": "owner"}),
            Some(&owner.token),
        )
        .await;
    let roles = member_roles(&handed.data()["chat"]);
    assert!(
        roles.contains(&("member".into(), "owner".into())) && roles.contains(&("owner".into(), "admin".into())),
        "{roles:?}"
    );
    app.call(Method::DELETE, &path(""), &owner.token).await.assert_fail(StatusCode::FORBIDDEN);

    // The history records what happened, in order.
    let history = app.history(&member, &chat, "").await;
    let actions: Vec<&str> = history.data()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .filter_map(|m| m["system"]["action"].as_str())
        .collect();
    assert_eq!(actions, ["created", "renamed", "members_added", "member_removed"]);
}

#[tokio::test]
async fn an_owner_who_leaves_hands_over_and_the_last_one_out_deletes_the_group() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol) = (app.person("alice").await, app.person("bob").await, app.person("carol").await);
    let chat = app.group(&alice, "Hand-over", &[&bob, &carol]).await;
    let path = |rest: &str| format!("/api/v1/chats/{chat}{rest}");
    app.send_json(
        Method::PATCH,
        &path(&format!("/members/{}", carol.id)),
        json!({"role": "admin"}),
        Some(&alice.token),
    )
    .await;

    assert_eq!(
        app.call(Method::DELETE, &path(&format!("/members/{}", alice.id)), &alice.token).await.status,
        StatusCode::OK
    );
    let view = chat_of(&app, &bob, &chat).await;
    assert_eq!(
        member_roles(&view),
        [("bob".into(), "member".into()), ("carol".into(), "owner".into())],
        "the admin inherits"
    );
    assert_eq!(view["last_message"]["system"], json!({"action": "member_left", "user_id": alice.id}));
    app.get(&path(""), Some(&alice.token)).await.assert_fail(StatusCode::NOT_FOUND);

    app.call(Method::DELETE, &path(&format!("/members/{}", carol.id)), &carol.token).await;
    assert_eq!(
        member_roles(&chat_of(&app, &bob, &chat).await),
        [("bob".into(), "owner".into())],
        "else the oldest member"
    );
    let mid = app.say(&bob, &chat, "anyone?").await["id"].as_str().unwrap().to_owned();
    app.call(Method::DELETE, &path(&format!("/members/{}", bob.id)), &bob.token).await;
    app.get(&path(""), Some(&bob.token)).await.assert_fail(StatusCode::NOT_FOUND);
    let chat_id = chat.parse().unwrap();
    assert!(
        app.state.store.message(chat_id, mid.parse().unwrap()).await.unwrap().is_none(),
        "messages went with the group"
    );
}

#[tokio::test]
async fn a_direct_chat_has_no_title_roles_or_third_member_and_either_member_deletes_it() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol) = (app.person("alice").await, app.person("bob").await, app.person("carol").await);
    let chat = app.direct(&alice, &bob).await;
    let path = |rest: &str| format!("/api/v1/chats/{chat}{rest}");
    app.send_json(Method::PATCH, &path(""), json!({"title": "Us"}), Some(&alice.token))
        .await
        .assert_fail(StatusCode::FORBIDDEN);
    app.send_json(Method::POST, &path("/members"), json!({"user_ids": [carol.id]}), Some(&alice.token))
        .await
        .assert_fail(StatusCode::FORBIDDEN);
    let leave = app.call(Method::DELETE, &path(&format!("/members/{}", alice.id)), &alice.token).await;
    leave.assert_fail(StatusCode::CONFLICT);
    assert_eq!(leave.reason(), "direct_chat");

    let mid = app.say(&alice, &chat, "bye").await["id"].as_str().unwrap().to_owned();
    app.send_json(Method::PUT, &format!("/api/v1/chats/{chat}/messages/{mid}/like"), json!({}), Some(&bob.token)).await;
    assert_eq!(app.call(Method::DELETE, &path(""), &bob.token).await.status, StatusCode::OK);
    app.get(&path(""), Some(&alice.token)).await.assert_fail(StatusCode::NOT_FOUND);
    assert!(app.state.store.message(chat.parse().unwrap(), mid.parse().unwrap()).await.unwrap().is_none());
    assert_ne!(app.direct(&alice, &bob).await, chat, "opening it again makes a new one");
}

#[tokio::test]
async fn the_chat_list_shows_pins_first_then_recent_activity_with_unread_counts() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let first = app.group(&alice, "first", &[&bob]).await;
    let second = app.group(&alice, "second", &[&bob]).await;
    let third = app.group(&alice, "third", &[&bob]).await;
    app.say(&alice, &first, "news in first").await;
    let titles = |response: &crate::helpers::TestResponse| -> Vec<String> {
        response.data()["chats"].as_array().unwrap().iter().map(|c| c["title"].as_str().unwrap().to_owned()).collect()
    };
    let list = app.get("/api/v1/chats", Some(&bob.token)).await;
    assert_eq!(titles(&list), ["first", "third", "second"], "by last activity");
    assert_eq!(list.data()["chats"][0]["unread_count"], 2);
    assert_eq!(list.data()["chats"][0]["last_message"]["text"], "news in first");

    app.call(Method::PUT, &format!("/api/v1/chats/{second}/pin"), &bob.token).await;
    let pinned = app.call(Method::PUT, &format!("/api/v1/chats/{third}/pin"), &bob.token).await;
    assert_eq!(pinned.data()["chat"]["pinned"], true);
    app.call(Method::PUT, &format!("/api/v1/chats/{third}/pin"), &bob.token).await;
    let list = app.get("/api/v1/chats", Some(&bob.token)).await;
    assert_eq!(titles(&list), ["second", "third", "first"], "pins in pin order, pinning twice keeps the place");
    assert_eq!(
        titles(&app.get("/api/v1/chats", Some(&alice.token)).await),
        ["first", "third", "second"],
        "pins are mine"
    );

    app.call(Method::DELETE, &format!("/api/v1/chats/{second}/pin"), &bob.token).await;
    assert_eq!(titles(&app.get("/api/v1/chats", Some(&bob.token)).await), ["third", "first", "second"]);

    // Reading moves the unread count.
    let newest = list.data()["chats"][2]["last_message"]["id"].clone();
    let read = app
        .send_json(
            Method::POST,
            &format!("/api/v1/chats/{first}/read"),
            json!({"message_id": newest}),
            Some(&bob.token),
        )
        .await;
    assert_eq!(read.data()["unread_count"], 0, "{}", read.text);
    assert_eq!(chat_of(&app, &bob, &first).await["unread_count"], 0);
}

#[tokio::test]
async fn pins_go_where_position_says_and_the_others_make_room() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let mut chats = Vec::new();
    for title in ["a", "b", "c", "d"] {
        chats.push(app.group(&alice, title, &[&bob]).await);
    }
    let pins = |list: crate::helpers::TestResponse| -> Vec<String> {
        list.data()["chats"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|chat| chat["pinned"] == true)
            .map(|chat| chat["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let pin = |chat: usize, body: Option<serde_json::Value>| {
        let path = format!("/api/v1/chats/{}/pin", chats[chat]);
        let app = &app;
        let token = bob.token.clone();
        async move {
            match body {
                Some(body) => app.send_json(Method::PUT, &path, body, Some(&token)).await,
                None => app.call(Method::PUT, &path, &token).await,
            }
        }
    };
    for chat in 0..3 {
        assert_eq!(pin(chat, None).await.status, StatusCode::OK);
    }
    assert_eq!(pins(app.get("/api/v1/chats", Some(&bob.token)).await), ["a", "b", "c"]);
    // A new pin at the front; a pinned one moved to the middle; past the end is last.
    pin(3, Some(json!({"position": 0}))).await.assert_status(StatusCode::OK);
    assert_eq!(pins(app.get("/api/v1/chats", Some(&bob.token)).await), ["d", "a", "b", "c"]);
    pin(2, Some(json!({"position": 1}))).await.assert_status(StatusCode::OK);
    assert_eq!(pins(app.get("/api/v1/chats", Some(&bob.token)).await), ["d", "c", "a", "b"]);
    pin(3, Some(json!({"position": 99}))).await.assert_status(StatusCode::OK);
    assert_eq!(pins(app.get("/api/v1/chats", Some(&bob.token)).await), ["c", "a", "b", "d"]);
    // No position: a pinned chat stays where it is (an empty object says the same).
    pin(0, Some(json!({}))).await.assert_status(StatusCode::OK);
    pin(0, None).await.assert_status(StatusCode::OK);
    assert_eq!(pins(app.get("/api/v1/chats", Some(&bob.token)).await), ["c", "a", "b", "d"]);
    // Unpinning closes the gap; pinning again goes last.
    app.call(Method::DELETE, &format!("/api/v1/chats/{}/pin", chats[0]), &bob.token)
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(pins(app.get("/api/v1/chats", Some(&bob.token)).await), ["c", "b", "d"]);
    pin(0, None).await.assert_status(StatusCode::OK);
    assert_eq!(pins(app.get("/api/v1/chats", Some(&bob.token)).await), ["c", "b", "d", "a"]);
    assert!(pins(app.get("/api/v1/chats", Some(&alice.token)).await).is_empty(), "pins are mine");

    // Bad places are refused, keyed by the field; nothing moves.
    for bad in [json!({"position": -1}), json!({"position": 1.5}), json!({"position": "first"})] {
        let refused = pin(3, Some(bad.clone())).await;
        refused.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(refused.data()["position"].is_string(), "{bad}: {}", refused.text);
    }
    let not_json = app
        .send(
            TestApp::request(Method::PUT, &format!("/api/v1/chats/{}/pin", chats[3]))
                .header(axum::http::header::AUTHORIZATION, format!("Bearer {}", bob.token))
                .body(axum::body::Body::from("position=0"))
                .unwrap(),
        )
        .await;
    not_json.assert_fail(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(pins(app.get("/api/v1/chats", Some(&bob.token)).await), ["c", "b", "d", "a"]);

    // Moves at once still leave one order, each chat once, and the next move lands exactly.
    let moves = (0..4).flat_map(|round| (0..4).map(move |chat| (chat, (chat + round) % 4)));
    let answers =
        futures::future::join_all(moves.map(|(chat, place)| pin(chat, Some(json!({"position": place}))))).await;
    assert!(answers.iter().all(|answer| answer.status == StatusCode::OK));
    let mut order = pins(app.get("/api/v1/chats", Some(&bob.token)).await);
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, ["a", "b", "c", "d"], "{order:?}");
    pin(0, Some(json!({"position": 2}))).await.assert_status(StatusCode::OK);
    order.retain(|title| title != "a");
    order.insert(2, "a".to_owned());
    assert_eq!(pins(app.get("/api/v1/chats", Some(&bob.token)).await), order);
}

#[tokio::test]
async fn the_chat_list_costs_the_same_number_of_queries_for_3_chats_as_for_30() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol) = (app.person("alice").await, app.person("bob").await, app.person("carol").await);
    let mut count_for = Vec::new();
    for target in [3, 30] {
        while app.get("/api/v1/chats", Some(&alice.token)).await.data()["chats"].as_array().unwrap().len() < target {
            let chat = app.group(&alice, "g", &[&bob, &carol]).await;
            let mid = app.say(&bob, &chat, "hi").await["id"].clone();
            app.send_json(
                Method::PUT,
                &format!("/api/v1/chats/{chat}/messages/{}/like", mid.as_str().unwrap()),
                json!({}),
                Some(&carol.token),
            )
            .await;
        }
        // Warm the caches the same way both times, then count one listing.
        app.get("/api/v1/chats", Some(&alice.token)).await;
        let before = app.state.store.query_count();
        let list = app.get("/api/v1/chats", Some(&alice.token)).await;
        count_for.push(app.state.store.query_count() - before);
        assert_eq!(list.data()["chats"][0]["last_message"]["like_count"], 1);
    }
    assert_eq!(count_for[0], count_for[1], "queries for 3 chats vs 30: {count_for:?}");
    assert!(count_for[1] <= 11, "{count_for:?}");
}

#[tokio::test]
async fn a_malformed_id_in_any_path_is_the_404_of_what_it_names() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.group(&alice, "Ids", &[&bob]).await;
    let mid = app.say(&alice, &chat, "hello").await["id"].as_str().unwrap().to_owned();
    let requests = [
        (Method::GET, "/api/v1/chats/not-a-uuid".to_owned(), None, "chat_not_found"),
        (Method::POST, "/api/v1/chats/42/messages".to_owned(), Some(json!({"text": "hi"})), "chat_not_found"),
        (Method::PUT, format!("/api/v1/chats/x/messages/{mid}/like"), None, "chat_not_found"),
        (Method::PATCH, format!("/api/v1/chats/{chat}/messages/x"), Some(json!({"text": "hi"})), "message_not_found"),
        (Method::PUT, format!("/api/v1/chats/{chat}/messages/{mid}x/like"), None, "message_not_found"),
        (Method::DELETE, format!("/api/v1/chats/{chat}/members/bob"), None, "member_not_found"),
        (Method::PATCH, format!("/api/v1/chats/{chat}/members/x"), Some(json!({"role": "admin"})), "member_not_found"),
        (Method::GET, "/api/v1/users/alice".to_owned(), None, "user_not_found"),
        (Method::DELETE, "/api/v1/me/sessions/current".to_owned(), None, "session_not_found"),
    ];
    for (method, path, body, reason) in requests {
        let response = match body {
            Some(body) => app.send_json(method.clone(), &path, body, Some(&alice.token)).await,
            None => app.call(method.clone(), &path, &alice.token).await,
        };
        response.assert_fail(StatusCode::NOT_FOUND);
        assert_eq!(response.reason(), reason, "{method} {path}: {}", response.text);
    }
    let page = app.history(&bob, &chat, "").await;
    assert_eq!(page.data()["messages"][0]["text"], "hello", "nothing changed");
    assert_eq!(page.data()["messages"][0]["like_count"], 0);
}

/// The role checks are made again inside the transaction of the change, on the roles as they
/// are then: called with a role that no longer allows it (here, never did), the store refuses.
#[tokio::test]
async fn the_store_refuses_a_change_the_actors_current_role_does_not_allow() {
    use parlor::domain::{ChatTitle, Role};
    use parlor::store::StoreError;

    let app = TestApp::spawn().await;
    let (alice, bob, carol) = (app.person("alice").await, app.person("bob").await, app.person("carol").await);
    let chat = app.group(&alice, "Book club", &[&bob, &carol]).await;
    let store = &app.state.store;
    let (chat_id, bob_id, carol_id) = (chat.parse().unwrap(), bob.id.parse().unwrap(), carol.id.parse().unwrap());
    fn refused<T>(result: Result<T, StoreError>) -> bool {
        matches!(result, Err(StoreError::NotAllowed(_)))
    }

    assert!(refused(store.rename_chat(bob_id, chat_id, ChatTitle::parse("Mine now").unwrap()).await));
    assert!(refused(store.add_members(bob_id, chat_id, &[carol_id]).await));
    assert!(refused(store.remove_member(bob_id, chat_id, carol_id).await));
    assert!(refused(store.set_role(bob_id, chat_id, bob_id, Role::Owner).await));
    assert!(refused(store.delete_chat(bob_id, chat_id).await));
    let carols = app.say(&carol, &chat, "mine").await;
    assert!(refused(store.delete_message(bob_id, chat_id, carols["id"].as_str().unwrap().parse().unwrap()).await));

    // Nothing changed: same title, same members and roles, the message still there.
    let view = app.get(&format!("/api/v1/chats/{chat}"), Some(&alice.token)).await;
    assert_eq!(view.data()["chat"]["title"], "Book club");
    let roles: Vec<_> = view.data()["chat"]["members"].as_array().unwrap().iter().map(|m| m["role"].clone()).collect();
    assert_eq!(roles, [json!("owner"), json!("member"), json!("member")]);
    let history = app.history(&alice, &chat, "").await;
    assert!(history.data()["messages"].as_array().unwrap().iter().any(|m| m["text"] == "mine"), "{}", history.text);

    // Once bob is an admin the same store call goes through.
    store.set_role(alice.id.parse().unwrap(), chat_id, bob_id, Role::Admin).await.unwrap().unwrap();
    store.rename_chat(bob_id, chat_id, ChatTitle::parse("Mine now").unwrap()).await.unwrap().unwrap();
}

#[tokio::test]
async fn the_chat_list_pages_by_keyset_in_list_order_and_without_parameters_is_whole() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let mut chats = Vec::new();
    for i in 0..7 {
        let chat = app.group(&alice, &format!("g{i}"), &[&bob]).await;
        app.say(&alice, &chat, "hi").await;
        chats.push(chat);
    }
    for pinned in [&chats[5], &chats[1]] {
        app.call(Method::PUT, &format!("/api/v1/chats/{pinned}/pin"), &bob.token).await;
    }
    let ids = |response: &crate::helpers::TestResponse| -> Vec<String> {
        response.data()["chats"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
    };
    let whole = app.get("/api/v1/chats", Some(&bob.token)).await;
    assert!(whole.data().get("next_after").is_none(), "no parameters: today's shape");
    let everything = ids(&whole);
    assert_eq!(everything.len(), 7);
    assert_eq!(everything[..2], [chats[5].clone(), chats[1].clone()], "pins first");

    // Pages of 3: the same chats in the same order, across the pinned/unpinned boundary.
    let mut paged = Vec::new();
    let mut query = "limit=3".to_owned();
    let mut pages = 0;
    loop {
        let page = app.get(&format!("/api/v1/chats?{query}"), Some(&bob.token)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        paged.extend(ids(&page));
        pages += 1;
        match page.data()["next_after"].as_str() {
            Some(next) => query = format!("limit=3&after={next}"),
            None => {
                assert!(page.data()["next_after"].is_null(), "a last page says null");
                break;
            }
        }
    }
    assert_eq!((paged, pages), (everything.clone(), 3));
    let one = app.get("/api/v1/chats?limit=2", Some(&bob.token)).await;
    assert_eq!(ids(&one), everything[..2], "a page that ends exactly at the pins");
    let next = one.data()["next_after"].as_str().unwrap().to_owned();
    let rest = app.get(&format!("/api/v1/chats?after={next}"), Some(&bob.token)).await;
    assert_eq!(ids(&rest), everything[2..], "default page size holds the rest");
    assert_eq!(rest.data()["chats"][0], whole.data()["chats"][2], "pages carry the same chat views");

    for (query, field) in
        [("after=nonsense", "after"), ("after=p1.x", "after"), ("limit=0", "limit"), ("limit=-4", "limit")]
    {
        let refused = app.get(&format!("/api/v1/chats?{query}"), Some(&bob.token)).await;
        refused.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(refused.data()[field].is_string(), "{query}: {}", refused.text);
    }
}

/// The chat list's ranges start from the index `(user_id, pin_order, chat_id)`: the pins are a
/// range of it (not a filter over every membership of mine), and the other chats' ids come from
/// it without reading the membership rows. On PostgreSQL a handful of rows would be scanned
/// whole, so sequential scans are off for the plan: the index must serve the shape.
#[tokio::test]
async fn the_chat_list_ranges_are_ranges_of_the_membership_index() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let chat = app.group(&alice, "g", &[&bob]).await;
    app.call(Method::PUT, &format!("/api/v1/chats/{chat}/pin"), &bob.token).await;
    let postgres = app.state.store.backend() == "postgres";
    let db = app.state.store.connection().begin().await.unwrap();
    let (me, explain, column) = if postgres {
        db.execute_unprepared("SET LOCAL enable_seqscan = off").await.unwrap();
        (format!("'{}'", bob.id), "EXPLAIN", "QUERY PLAN")
    } else {
        (format!("x'{}'", bob.id.replace('-', "")), "EXPLAIN QUERY PLAN", "detail")
    };
    for range in ["pin_order IS NOT NULL ORDER BY pin_order, chat_id", "pin_order IS NULL"] {
        let statement = format!("{explain} SELECT chat_id FROM chat_members WHERE user_id = {me} AND {range} LIMIT 51");
        let plan =
            db.query_all_raw(sea_orm::Statement::from_string(db.get_database_backend(), statement)).await.unwrap();
        let plan: Vec<String> = plan.iter().map(|row| row.try_get::<String>("", column).unwrap()).collect();
        assert!(plan.iter().any(|line| line.contains("ix_chat_members_list")), "{range}: {plan:#?}");
        if !postgres {
            assert!(plan.iter().any(|line| line.contains("COVERING INDEX")), "{range}: {plan:#?}");
        }
        assert!(!plan.iter().any(|line| line.contains("Filter")), "the pin condition is the index's: {plan:#?}");
    }
    db.rollback().await.unwrap();
}

#[tokio::test]
async fn the_user_directory_pages_by_id_with_counts_over_everyone() {
    let app = TestApp::spawn().await;
    let mut people = Vec::new();
    for name in ["ann", "ben", "cat", "dan", "eve"] {
        people.push(app.person(name).await);
    }
    let whole = app.get("/api/v1/users", Some(&people[0].token)).await;
    assert!(whole.data().get("next_after").is_none());
    let everyone = whole.data()["user_ids"].clone();
    let first = app.get("/api/v1/users?limit=2", Some(&people[0].token)).await;
    assert_eq!(first.data()["user_ids"], json!(everyone.as_array().unwrap()[..2]));
    assert_eq!(first.data()["count_unspecified"], whole.data()["count_unspecified"], "counts are over everyone");
    let after = first.data()["next_after"].as_str().unwrap().to_owned();
    let second = app.get(&format!("/api/v1/users?limit=3&after={after}"), Some(&people[0].token)).await;
    assert_eq!(second.data()["user_ids"], json!(everyone.as_array().unwrap()[2..]));
    assert!(second.data()["next_after"].is_null(), "{}", second.text);
    let refused = app.get("/api/v1/users?after=me&limit=0", Some(&people[0].token)).await;
    refused.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.data()["after"].is_string() && refused.data()["limit"].is_string(), "{}", refused.text);
}
