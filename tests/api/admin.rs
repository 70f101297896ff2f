//! The admin JSON API: deactivation ends everything of an account at once (SPEC §3).

use axum::http::{Method, StatusCode};
use parlor::domain::{NewPassword, Username};

use crate::helpers::{PASSWORD, TestApp, token};
use crate::sockets::{Seen, ws_connect, ws_next};

async fn admin_token(app: &TestApp) -> String {
    let username = Username::parse("root_admin").unwrap();
    let password = NewPassword::parse(PASSWORD, &["root_admin"]).unwrap();
    app.state.accounts.create_admin(username, None, password).await.unwrap();
    token(&app.login("root_admin", PASSWORD).await.body["data"], "access_token")
}

#[tokio::test]
async fn deactivation_ends_every_session_and_socket_at_once_and_reactivation_lets_the_account_back() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let admin = admin_token(&app).await;
    let quinn = app.register("quinn").await;
    let (quinn_id, quinn_token) = (quinn["user"]["id"].as_str().unwrap().to_owned(), token(&quinn, "access_token"));
    let mut socket = ws_connect(addr, Some(&quinn_token), None).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    // Nobody but an administrator finds the route; quinn cannot deactivate herself or others.
    let deactivate = format!("/api/v1/admin/users/{quinn_id}/deactivate");
    assert_eq!(app.call(Method::POST, &deactivate, &quinn_token).await.status, StatusCode::NOT_FOUND);

    let done = app.call(Method::POST, &deactivate, &admin).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.data()["user"]["is_active"], false);
    assert_eq!(app.get("/api/v1/me", Some(&quinn_token)).await.status, StatusCode::UNAUTHORIZED);
    let login = app.login("quinn", PASSWORD).await;
    assert_eq!(login.status, StatusCode::FORBIDDEN, "{}", login.text);
    assert_eq!(login.body["data"]["reason"], "account_disabled");
    loop {
        match ws_next(&mut socket).await {
            Seen::Closed(frame) => {
                assert_eq!(frame.map(|(code, _)| code), Some(4001), "closed as a revoked session");
                break;
            }
            Seen::Event(name, _) => assert_eq!(name, "session.revoked"),
        }
    }
    let trail = app.state.store.audit_trail("user", &quinn_id).await.unwrap();
    let record = trail.iter().find(|r| r.action == "deactivate").expect("the deactivation is audited");
    assert_eq!(record.before.as_ref().unwrap()["is_active"], true);
    assert_eq!(record.after.as_ref().unwrap()["is_active"], false);

    let again = app.call(Method::POST, &format!("/api/v1/admin/users/{quinn_id}/reactivate"), &admin).await;
    assert_eq!((again.status, &again.data()["user"]["is_active"]), (StatusCode::OK, &serde_json::json!(true)));
    assert_eq!(app.login("quinn", PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_administrator_cannot_deactivate_themself_and_unknown_ids_are_not_found() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let me = app.get("/api/v1/me", Some(&admin)).await;
    let own = format!("/api/v1/admin/users/{}/deactivate", me.data()["user"]["id"].as_str().unwrap());
    let refused = app.call(Method::POST, &own, &admin).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.body["data"]["reason"], "own_account");
    let unknown = format!("/api/v1/admin/users/{}/deactivate", uuid::Uuid::now_v7());
    assert_eq!(app.call(Method::POST, &unknown, &admin).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.call(Method::POST, "/api/v1/admin/users/nope/deactivate", &admin).await.status,
        StatusCode::NOT_FOUND
    );
}

/// Every admin route, as (method, path) with ids that exist.
fn admin_routes(user: &str, chat: &str, message: &str) -> Vec<(Method, String)> {
    vec![
        (Method::GET, "/api/v1/admin/users?q=a".into()),
        (Method::GET, format!("/api/v1/admin/users/{user}")),
        (Method::DELETE, format!("/api/v1/admin/users/{user}")),
        (Method::POST, format!("/api/v1/admin/users/{user}/deactivate")),
        (Method::POST, format!("/api/v1/admin/users/{user}/reactivate")),
        (Method::GET, "/api/v1/admin/chats".into()),
        (Method::GET, format!("/api/v1/admin/chats/{chat}")),
        (Method::DELETE, format!("/api/v1/admin/chats/{chat}")),
        (Method::GET, format!("/api/v1/admin/messages?chat_id={chat}")),
        (Method::DELETE, format!("/api/v1/admin/messages/{message}")),
        (Method::GET, "/api/v1/admin/audit?limit=0".into()),
    ]
}

#[tokio::test]
async fn every_admin_route_is_not_found_for_everyone_else_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (ann, bob) = (app.person("ann").await, app.person("bob").await);
    let chat = app.group(&ann, "Book club", &[&bob]).await;
    let message = app.say(&bob, &chat, "hello").await["id"].as_str().unwrap().to_owned();
    for (method, path) in admin_routes(&bob.id, &chat, &message) {
        let answer = app.call(method.clone(), &path, &ann.token).await;
        answer.assert_fail(StatusCode::NOT_FOUND);
        assert_eq!(answer.reason(), "not_found", "{method} {path}");
        let anonymous =
            app.send(TestApp::request(method.clone(), &path).body(axum::body::Body::empty()).unwrap()).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    assert_eq!(app.login("bob", PASSWORD).await.status, StatusCode::OK, "bob is still there and active");
    assert_eq!(crate::helpers::texts(&app.history(&ann, &chat, "").await)[0], "hello");
}

#[tokio::test]
async fn users_are_found_by_any_identifier_in_keyset_pages() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    app.register("Fiona_Gale").await;
    app.register("fiona@example.com").await;
    app.register("+14155552671").await;
    app.register("george").await;

    let found = |q: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let answer = app.call(Method::GET, &format!("/api/v1/admin/users?q={q}"), admin).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
            let users = answer.data()["users"].as_array().unwrap().clone();
            users.iter().map(|u| u["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(found("FIONA").await.len(), 2, "username in any case and e-mail");
    assert_eq!(found("5552671").await.len(), 1, "phone");
    assert_eq!(found("%25").await.len(), 0, "a LIKE wildcard is matched literally");
    assert_eq!(found("_").await.len(), 2, "only the usernames with an underscore (root_admin too)");

    // Five accounts (the admin too), two a page: three pages, no repeats, then the end.
    let mut seen = Vec::new();
    let mut path = "/api/v1/admin/users?limit=2".to_owned();
    loop {
        let page = app.call(Method::GET, &path, &admin).await;
        let users = page.data()["users"].as_array().unwrap();
        seen.extend(users.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        assert!(users.iter().all(|u| u["is_active"] == true && u.get("is_admin").is_some()));
        match page.data()["next_after"].as_str() {
            Some(after) => path = format!("/api/v1/admin/users?limit=2&after={after}"),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (5, 5));

    let bad = app.call(Method::GET, "/api/v1/admin/users?after=nope&limit=500", &admin).await;
    bad.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.data()["after"].is_string() && bad.data()["limit"].is_string(), "{}", bad.text);
}

#[tokio::test]
async fn an_administrator_views_and_deletes_an_account_and_the_log_says_who() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let admin_id = app.get("/api/v1/me", Some(&admin)).await.data()["user"]["id"].as_str().unwrap().to_owned();
    let rita = app.person("rita").await;

    let view = app.call(Method::GET, &format!("/api/v1/admin/users/{}", rita.id), &admin).await;
    assert_eq!(view.status, StatusCode::OK, "{}", view.text);
    assert_eq!(view.data()["user"]["username"], "rita");
    assert_eq!(view.data()["sessions"].as_array().unwrap().len(), 1);

    let own = app.call(Method::DELETE, &format!("/api/v1/admin/users/{admin_id}"), &admin).await;
    own.assert_fail(StatusCode::CONFLICT);
    let deleted = app.call(Method::DELETE, &format!("/api/v1/admin/users/{}", rita.id), &admin).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    assert_eq!(app.get("/api/v1/me", Some(&rita.token)).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.call(Method::GET, &format!("/api/v1/admin/users/{}", rita.id), &admin).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.call(Method::DELETE, &format!("/api/v1/admin/users/{}", rita.id), &admin).await.status,
        StatusCode::NOT_FOUND
    );

    let log = app
        .call(Method::GET, &format!("/api/v1/admin/audit?entity=user&entity_id={}&action=delete", rita.id), &admin)
        .await;
    let entries = log.data()["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", log.text);
    assert_eq!(entries[0]["actor_id"], admin_id.as_str());
    assert_eq!(entries[0]["before"]["username"], "[deleted]", "no personal data outlives the account");
    assert!(entries[0]["after"].is_null());
}

#[tokio::test]
async fn chats_are_listed_with_members_and_deleted_by_an_operator_who_is_no_member() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let admin = admin_token(&app).await;
    let (ann, bob, cy) = (app.person("ann").await, app.person("bob").await, app.person("cyd").await);
    let group = app.group(&ann, "Choir", &[&bob, &cy]).await;
    let direct = app.direct(&ann, &bob).await;

    let list = app.call(Method::GET, "/api/v1/admin/chats?limit=1", &admin).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert_eq!(list.data()["chats"][0]["id"], group.as_str());
    assert_eq!(list.data()["chats"][0]["member_count"], 3);
    let after = list.data()["next_after"].as_str().unwrap().to_owned();
    let next = app.call(Method::GET, &format!("/api/v1/admin/chats?limit=1&after={after}"), &admin).await;
    assert_eq!(
        (next.data()["chats"][0]["id"].as_str(), &next.data()["next_after"]),
        (Some(direct.as_str()), &serde_json::Value::Null)
    );

    let detail = app.call(Method::GET, &format!("/api/v1/admin/chats/{group}"), &admin).await;
    let members = detail.data()["chat"]["members"].as_array().unwrap();
    assert_eq!(members.iter().map(|m| m["role"].as_str().unwrap()).collect::<Vec<_>>(), ["owner", "member", "member"]);
    assert_eq!(detail.data()["chat"]["title"], "Choir");

    let mut socket = ws_connect(addr, Some(&bob.token), None).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let deleted = app.call(Method::DELETE, &format!("/api/v1/admin/chats/{group}"), &admin).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    match ws_next(&mut socket).await {
        Seen::Event(name, data) => {
            assert_eq!((name.as_str(), data["chat_id"].as_str()), ("chat.deleted", Some(group.as_str())))
        }
        other => panic!("expected chat.deleted, got {other:?}"),
    }
    assert_eq!(app.history(&ann, &group, "").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.call(Method::GET, &format!("/api/v1/admin/chats/{group}"), &admin).await.status,
        StatusCode::NOT_FOUND
    );
    let log = app.call(Method::GET, &format!("/api/v1/admin/audit?entity=chat&entity_id={group}"), &admin).await;
    let actions: Vec<&str> =
        log.data()["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["delete", "create"], "newest first");
}

#[tokio::test]
async fn messages_are_found_by_chat_and_author_and_moderation_leaves_a_tombstone_and_an_audit_row() {
    let app = TestApp::spawn().await;
    let addr = app.listen().await;
    let admin = admin_token(&app).await;
    let admin_id = app.get("/api/v1/me", Some(&admin)).await.data()["user"]["id"].as_str().unwrap().to_owned();
    let (ann, bob) = (app.person("ann").await, app.person("bob").await);
    let group = app.group(&ann, "Market", &[&bob]).await;
    let other = app.direct(&ann, &bob).await;
    let spam = app.say(&bob, &group, "buy cheap watches").await["id"].as_str().unwrap().to_owned();
    app.say(&ann, &group, "please stop").await;
    app.say(&bob, &other, "hi ann").await;

    let by_bob = app.call(Method::GET, &format!("/api/v1/admin/messages?author_id={}", bob.id), &admin).await;
    assert_eq!(crate::helpers::texts(&by_bob), ["hi ann", "buy cheap watches"]);
    let bobs_here = format!("/api/v1/admin/messages?author_id={}&chat_id={group}", bob.id);
    assert_eq!(crate::helpers::texts(&app.call(Method::GET, &bobs_here, &admin).await), ["buy cheap watches"]);
    let first = app.call(Method::GET, &format!("/api/v1/admin/messages?chat_id={group}&limit=1"), &admin).await;
    let before = first.data()["next_before"].as_str().unwrap().to_owned();
    let older =
        app.call(Method::GET, &format!("/api/v1/admin/messages?chat_id={group}&limit=1&before={before}"), &admin).await;
    assert_eq!(crate::helpers::texts(&older), ["buy cheap watches"]);

    let mut socket = ws_connect(addr, Some(&ann.token), None).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let removed = app.call(Method::DELETE, &format!("/api/v1/admin/messages/{spam}"), &admin).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text);
    assert_eq!(
        (removed.data()["message"]["deleted"].as_bool(), &removed.data()["message"]["text"]),
        (Some(true), &serde_json::Value::Null)
    );
    match ws_next(&mut socket).await {
        Seen::Event(name, data) => {
            assert_eq!((name.as_str(), data["message_id"].as_str()), ("message.deleted", Some(spam.as_str())));
            assert_eq!(data["by"], admin_id.as_str());
        }
        other => panic!("expected message.deleted, got {other:?}"),
    }
    let history = app.history(&ann, &group, "").await;
    let tombstone =
        history.data()["messages"].as_array().unwrap().iter().find(|m| m["id"] == spam.as_str()).unwrap().clone();
    assert_eq!(tombstone["deleted"], true);

    let log = app
        .call(Method::GET, &format!("/api/v1/admin/audit?entity=message&entity_id={spam}&actor_id={admin_id}"), &admin)
        .await;
    let entries = log.data()["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", log.text);
    assert_eq!(entries[0]["action"], "delete");
    assert_eq!(entries[0]["before"]["text"], "buy cheap watches");
    assert!(entries[0]["changes"].as_array().unwrap().iter().any(|c| c["field"] == "text" && c["after"].is_null()));
    let unknown = app.call(Method::DELETE, &format!("/api/v1/admin/messages/{}", uuid::Uuid::now_v7()), &admin).await;
    unknown.assert_fail(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_audit_log_filters_by_actor_action_and_time_and_pages_by_keyset() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let ann = app.person("ann").await;
    let started = time::OffsetDateTime::now_utc();
    for name in ["Ann A", "Ann B", "Ann C"] {
        let body = serde_json::json!({"first_name": name});
        let changed = app.send_json(Method::PATCH, "/api/v1/me", body, Some(&ann.token)).await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    }
    let since = started.format(&time::format_description::well_known::Rfc3339).unwrap().replace('+', "%2B");
    let base = format!("/api/v1/admin/audit?entity=user&actor_id={}&action=update&since={since}&limit=2", ann.id);
    let first = app.call(Method::GET, &base, &admin).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let names = |page: &crate::helpers::TestResponse| -> Vec<String> {
        page.data()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["after"]["first_name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&first), ["Ann C", "Ann B"]);
    let change = &first.data()["entries"][0]["changes"];
    assert!(
        change
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"] == "first_name" && c["before"] == "Ann B" && c["after"] == "Ann C"),
        "{change}"
    );
    let before = first.data()["next_before"].as_str().unwrap();
    let second = app.call(Method::GET, &format!("{base}&before={before}"), &admin).await;
    assert_eq!((names(&second), &second.data()["next_before"]), (vec!["Ann A".to_owned()], &serde_json::Value::Null));

    let until = started.format(&time::format_description::well_known::Rfc3339).unwrap().replace('+', "%2B");
    let earlier = app
        .call(Method::GET, &format!("/api/v1/admin/audit?actor_id={}&action=update&until={until}", ann.id), &admin)
        .await;
    assert!(earlier.data()["entries"].as_array().unwrap().is_empty(), "{}", earlier.text);

    let bad = app.call(Method::GET, "/api/v1/admin/audit?since=yesterday&actor_id=7", &admin).await;
    bad.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.data()["since"].is_string() && bad.data()["actor_id"].is_string(), "{}", bad.text);
}
