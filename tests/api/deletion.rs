//! Deleting an account: everything personal goes, every token dies, the history stays.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, png, token};

#[tokio::test]
async fn a_deleted_account_is_gone_with_its_tokens_sessions_and_avatar() {
    let app = TestApp::spawn().await;
    let first = app.register("alice@example.org").await;
    let second = app.login("alice@example.org", PASSWORD).await.data().clone();
    let t = token(&first, "access_token");
    let id = first["user"]["id"].as_str().unwrap().to_owned();
    app.send_json(Method::PATCH, "/api/v1/me", json!({"username": "alice", "phone": "+14155552671"}), Some(&t)).await;
    app.upload_avatar(&t, "file", &png(40, 40, [1, 2, 3])).await;
    assert_eq!(app.stored_keys().await.len(), 4);

    let deleted = app.call(Method::DELETE, "/api/v1/me", &t).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);

    for session in [&first, &second] {
        let me = app.get("/api/v1/me", Some(&token(session, "access_token"))).await;
        me.assert_fail(StatusCode::UNAUTHORIZED);
        assert_eq!(me.reason(), "session_revoked");
        let refresh =
            app.post_json("/api/v1/auth/refresh", json!({"refresh_token": token(session, "refresh_token")})).await;
        refresh.assert_fail(StatusCode::UNAUTHORIZED);
    }
    assert!(app.stored_keys().await.is_empty(), "avatar objects deleted");
    app.get(&format!("/api/v1/users/{id}"), None).await.assert_fail(StatusCode::NOT_FOUND);
    for identifier in ["alice@example.org", "alice", "+14155552671"] {
        assert_eq!(app.login(identifier, PASSWORD).await.status, StatusCode::UNAUTHORIZED, "{identifier}");
    }
    let again = app.register("alice@example.org").await;
    assert_ne!(again["user"]["id"].as_str().unwrap(), id, "a new account, with a new id");
    let phone_again = app
        .send_json(
            Method::PATCH,
            "/api/v1/me",
            json!({"username": "alice", "phone": "+14155552671"}),
            Some(&token(&again, "access_token")),
        )
        .await;
    assert_eq!(phone_again.status, StatusCode::OK, "the old identifiers are free: {}", phone_again.text);
}

#[tokio::test]
async fn the_audit_trail_stays_without_the_personal_data() {
    let app = TestApp::spawn().await;
    let created = app.register("bob@example.org").await;
    let t = token(&created, "access_token");
    let id = created["user"]["id"].as_str().unwrap().to_owned();
    app.send_json(Method::PATCH, "/api/v1/me", json!({"first_name": "Robert", "phone": "+14155550199"}), Some(&t))
        .await;
    app.call(Method::DELETE, "/api/v1/me", &t).await;

    let trail = app.state.store.audit_trail("user", &id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["create", "update", "delete"]);
    let printed = format!("{trail:?}");
    for personal in ["bob@example.org", "Robert", "4155550199"] {
        assert!(!printed.contains(personal), "{personal} survived in the audit log: {printed}");
    }
    assert!(trail.iter().all(|r| r.actor_id.map(|a| a.to_string()) == Some(id.clone())), "who did it is kept");
    let sessions = app.state.store.sessions_of(id.parse().unwrap()).await.unwrap();
    assert!(sessions.is_empty());
}

#[tokio::test]
async fn avatar_files_are_deleted_once_storage_is_back() {
    let app = TestApp::spawn().await;
    let t = token(&app.register("carol").await, "access_token");
    app.upload_avatar(&t, "file", &png(40, 40, [1, 2, 3])).await;
    app.storage.fail_deletes();
    let deleted = app.call(Method::DELETE, "/api/v1/me", &t).await;
    assert_eq!(deleted.status, StatusCode::OK, "the account goes even while storage is down");
    app.get("/api/v1/me", Some(&t)).await.assert_fail(StatusCode::UNAUTHORIZED);
    assert_eq!(app.stored_keys().await.len(), 4);

    app.storage.heal();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.state.collector.sweep().await.unwrap(), 1);
    assert!(app.stored_keys().await.is_empty());
}

#[tokio::test]
async fn deleting_needs_a_live_token() {
    let app = TestApp::spawn().await;
    let created = app.register("dave").await;
    let t = token(&created, "access_token");
    app.call(Method::DELETE, "/api/v1/me", "not-a-token").await.assert_fail(StatusCode::UNAUTHORIZED);
    assert_eq!(app.call(Method::DELETE, "/api/v1/me", &t).await.status, StatusCode::OK);
    app.call(Method::DELETE, "/api/v1/me", &t).await.assert_fail(StatusCode::UNAUTHORIZED);
}
