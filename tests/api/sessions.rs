//! Own sessions and password change.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, token};

const NEW_PASSWORD: &str = "staple fence orbit";

#[tokio::test]
async fn sessions_list_devices_and_mark_the_current_one() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    let phone = app
        .send(
            TestApp::request(Method::POST, "/api/v1/auth/login")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::USER_AGENT, "ParlorPhone/1.0")
                .body(Body::from(json!({"identifier": "alice", "password": PASSWORD}).to_string()))
                .unwrap(),
        )
        .await;
    let phone_token = token(phone.data(), "access_token");
    let response = app.get("/api/v1/me/sessions", Some(&phone_token)).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let sessions = response.data()["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "registration and login");
    assert_eq!(sessions[0]["user_agent"], "ParlorPhone/1.0", "newest first");
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[1]["current"], false);
    for field in ["id", "created_at", "last_used_at", "expires_at", "ip"] {
        assert!(sessions[0].get(field).is_some(), "{field}");
    }
    app.get("/api/v1/me/sessions", None).await.assert_fail(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn ending_a_session_kills_its_tokens_only() {
    let app = TestApp::spawn().await;
    let first = app.register("bob").await;
    let second = app.login("bob", PASSWORD).await.data().clone();
    let (t1, t2) = (token(&first, "access_token"), token(&second, "access_token"));
    let sessions = app.get("/api/v1/me/sessions", Some(&t2)).await;
    let first_id = sessions.data()["sessions"][1]["id"].as_str().unwrap().to_owned();

    let ended = app.call(Method::DELETE, &format!("/api/v1/me/sessions/{first_id}"), &t2).await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.text);
    let refused = app.get("/api/v1/me", Some(&t1)).await;
    refused.assert_fail(StatusCode::UNAUTHORIZED);
    assert_eq!(refused.reason(), "session_revoked");
    let refresh = app.post_json("/api/v1/auth/refresh", json!({"refresh_token": token(&first, "refresh_token")})).await;
    refresh.assert_fail(StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/api/v1/me", Some(&t2)).await.status, StatusCode::OK);
    // Gone now, and never someone else's.
    app.call(Method::DELETE, &format!("/api/v1/me/sessions/{first_id}"), &t2).await.assert_fail(StatusCode::NOT_FOUND);
    let other = app.register("carol").await;
    let other_session = app.get("/api/v1/me/sessions", Some(&token(&other, "access_token"))).await.data()["sessions"]
        [0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = app.call(Method::DELETE, &format!("/api/v1/me/sessions/{other_session}"), &t2).await;
    response.assert_fail(StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/me", Some(&token(&other, "access_token"))).await.status, StatusCode::OK);
    app.call(Method::DELETE, "/api/v1/me/sessions/not-a-uuid", &t2).await.assert_fail(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn changing_the_password_ends_every_other_session() {
    let app = TestApp::spawn().await;
    let other = app.register("dave").await;
    let this = app.login("dave", PASSWORD).await.data().clone();
    let t = token(&this, "access_token");
    let response = app
        .send_json(
            Method::PUT,
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
            Some(&t),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);

    assert_eq!(app.get("/api/v1/me", Some(&t)).await.status, StatusCode::OK, "this session stays");
    app.get("/api/v1/me", Some(&token(&other, "access_token"))).await.assert_fail(StatusCode::UNAUTHORIZED);
    app.post_json("/api/v1/auth/refresh", json!({"refresh_token": token(&other, "refresh_token")}))
        .await
        .assert_fail(StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("dave", PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("dave", NEW_PASSWORD).await.status, StatusCode::OK);
    let refreshed =
        app.post_json("/api/v1/auth/refresh", json!({"refresh_token": token(&this, "refresh_token")})).await;
    assert_eq!(refreshed.status, StatusCode::OK, "this session's refresh token still works");
}

#[tokio::test]
async fn a_password_change_needs_the_current_password_and_a_good_new_one() {
    let app = TestApp::spawn().await;
    let t = token(&app.register("erin@example.org").await, "access_token");
    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    for (body, field) in [
        (change("wrong password", NEW_PASSWORD), "current_password"),
        (change(PASSWORD, "short"), "new_password"),
        (change(PASSWORD, "password123"), "new_password"),
        (change(PASSWORD, "erin@example.org"), "new_password"),
        (change(PASSWORD, PASSWORD), "new_password"),
    ] {
        let response = app.send_json(Method::PUT, "/api/v1/me/password", body, Some(&t)).await;
        response.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(response.data().get(field).is_some(), "{field}: {}", response.text);
    }
    app.send_json(Method::PUT, "/api/v1/me/password", json!({"current_password": PASSWORD}), Some(&t))
        .await
        .assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    app.send_json(Method::PUT, "/api/v1/me/password", change(PASSWORD, NEW_PASSWORD), None)
        .await
        .assert_fail(StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("erin@example.org", PASSWORD).await.status, StatusCode::OK, "nothing changed");
}

#[tokio::test]
async fn guessing_the_current_password_is_rate_limited() {
    let app = TestApp::spawn().await;
    let t = token(&app.register("frank").await, "access_token");
    let guess = json!({"current_password": "not it at all", "new_password": NEW_PASSWORD});
    for _ in 0..10 {
        app.send_json(Method::PUT, "/api/v1/me/password", guess.clone(), Some(&t))
            .await
            .assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let limited = app.send_json(Method::PUT, "/api/v1/me/password", guess, Some(&t)).await;
    limited.assert_fail(StatusCode::TOO_MANY_REQUESTS);
    assert!(!limited.header("retry-after").is_empty());
}
