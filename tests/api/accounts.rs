//! Registration, login, refresh rotation, logout.

use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, token};

#[tokio::test]
async fn registering_returns_the_account_and_a_token_pair() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json(
            "/api/v1/auth/register",
            json!({"identifier": "Alice", "password": PASSWORD, "email": "Alice@Example.org", "first_name": "Alice", "gender": "female"}),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    assert_eq!(response.body["status"], "success");
    let data = response.data();
    assert_eq!(data["user"]["username"], "Alice");
    assert_eq!(data["user"]["email"], "alice@example.org");
    assert_eq!(data["user"]["gender"], "female");
    assert_eq!(data["user"]["avatar"], serde_json::Value::Null);
    assert_eq!(data["token_type"], "Bearer");
    assert_eq!(data["expires_in"], 900);
    assert_eq!(token(data, "refresh_token").len(), 43);
    assert!(data["user"].get("password_hash").is_none());
}

#[tokio::test]
async fn each_kind_of_identifier_registers_and_logs_in() {
    let app = TestApp::spawn().await;
    for (registered, login_as) in
        [("bob_smith", "BOB_SMITH"), ("Carol@Example.org", "carol@example.ORG"), ("+1 (415) 555-2671", "+14155552671")]
    {
        let created = app.register(registered).await;
        let response = app.login(login_as, PASSWORD).await;
        assert_eq!(response.status, StatusCode::OK, "{login_as}: {}", response.text);
        assert_eq!(response.data()["user"]["id"], created["user"]["id"]);
        let me = app.get("/api/v1/me", Some(&token(response.data(), "access_token"))).await;
        assert_eq!(me.status, StatusCode::OK);
        assert_eq!(me.data()["user"]["id"], created["user"]["id"]);
    }
    let phone = app.login("+14155552671", PASSWORD).await;
    assert_eq!(phone.data()["user"]["phone"], "+14155552671");
}

#[tokio::test]
async fn identifiers_are_unique_whatever_their_case() {
    let app = TestApp::spawn().await;
    app.register("dave").await;
    app.register("dave@example.org").await;
    for (identifier, field) in [("DAVE", "username"), ("Dave@Example.ORG", "email")] {
        let response =
            app.post_json("/api/v1/auth/register", json!({"identifier": identifier, "password": PASSWORD})).await;
        response.assert_fail(StatusCode::CONFLICT);
        assert_eq!(response.data()[field], "is already taken", "{}", response.text);
    }
    // An identifier given as an extra field is checked too.
    let response = app
        .post_json(
            "/api/v1/auth/register",
            json!({"identifier": "erin", "email": "DAVE@example.org", "password": PASSWORD}),
        )
        .await;
    response.assert_fail(StatusCode::CONFLICT);
    assert_eq!(response.data()["email"], "is already taken");
}

#[tokio::test]
async fn a_bad_registration_reports_every_field_at_once() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json(
            "/api/v1/auth/register",
            json!({"identifier": "ok_name", "password": "short", "email": "not-an-email", "gender": "robot", "phone": "12345"}),
        )
        .await;
    response.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    let data = response.data();
    for field in ["password", "email", "gender", "phone"] {
        assert!(data[field].is_string(), "{field} missing in {data}");
    }
    assert_eq!(data["password"], "must be at least 8 characters");
}

#[tokio::test]
async fn common_passwords_and_confusable_usernames_are_refused() {
    let app = TestApp::spawn().await;
    let response =
        app.post_json("/api/v1/auth/register", json!({"identifier": "frank", "password": "Password1"})).await;
    // "password1" is in the list (compared case-insensitively).
    response.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.data()["password"].as_str().unwrap().contains("common"));

    for name in ["\u{0430}dmin", "ad\u{200B}min"] {
        let response = app.post_json("/api/v1/auth/register", json!({"identifier": name, "password": PASSWORD})).await;
        response.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(response.data()["identifier"].is_string(), "{}", response.text);
    }
}

#[tokio::test]
async fn unknown_account_and_wrong_password_get_the_same_answer() {
    let app = TestApp::spawn().await;
    app.register("grace").await;
    let wrong_password = app.login("grace", "not the password").await;
    let no_such_user = app.login("heidi", "not the password").await;
    wrong_password.assert_fail(StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password.status, no_such_user.status);
    assert_eq!(wrong_password.text, no_such_user.text);
    assert_eq!(wrong_password.header("www-authenticate"), no_such_user.header("www-authenticate"));
    assert_eq!(wrong_password.reason(), "invalid_credentials");
}

#[tokio::test]
async fn a_refresh_rotates_the_pair() {
    let app = TestApp::spawn().await;
    let first = app.register("ivan").await;
    let response =
        app.post_json("/api/v1/auth/refresh", json!({"refresh_token": token(&first, "refresh_token")})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let second = response.data();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["access_token"], first["access_token"]);
    assert_eq!(app.get("/api/v1/me", Some(&token(second, "access_token"))).await.status, StatusCode::OK);
    let third = app.post_json("/api/v1/auth/refresh", json!({"refresh_token": token(second, "refresh_token")})).await;
    assert_eq!(third.status, StatusCode::OK, "the new refresh token works in turn");
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_session() {
    // No grace: a replay straight after the rotation counts as one.
    let app = TestApp::with_config(|config| config.auth.refresh_reuse_grace_secs = 0).await;
    let first = app.register("judy").await;
    let stolen = token(&first, "refresh_token");
    let rotated = app.post_json("/api/v1/auth/refresh", json!({"refresh_token": stolen})).await;
    let legit = rotated.data().clone();

    let replay = app.post_json("/api/v1/auth/refresh", json!({"refresh_token": stolen})).await;
    replay.assert_fail(StatusCode::UNAUTHORIZED);
    assert_eq!(replay.reason(), "refresh_token_reused");

    // The legitimate holder's tokens died with the session.
    let me = app.get("/api/v1/me", Some(&token(&legit, "access_token"))).await;
    me.assert_fail(StatusCode::UNAUTHORIZED);
    assert_eq!(me.reason(), "session_revoked");
    let refresh = app.post_json("/api/v1/auth/refresh", json!({"refresh_token": token(&legit, "refresh_token")})).await;
    refresh.assert_fail(StatusCode::UNAUTHORIZED);
    assert_eq!(refresh.reason(), "invalid_refresh_token");
}

#[tokio::test]
async fn concurrent_uses_of_one_refresh_token_rotate_it_once_and_the_loser_leaves_the_session_alive() {
    let app = TestApp::spawn().await;
    let first = app.register("kim").await;
    let body = json!({"refresh_token": token(&first, "refresh_token")});
    let (a, b) =
        tokio::join!(app.post_json("/api/v1/auth/refresh", body.clone()), app.post_json("/api/v1/auth/refresh", body));
    let (winner, loser) = if a.status == StatusCode::OK { (a, b) } else { (b, a) };
    assert_eq!(winner.status, StatusCode::OK, "{}", winner.text);
    loser.assert_fail(StatusCode::CONFLICT);
    assert_eq!(loser.reason(), "refresh_conflict");
    // The winner's pair is good: the race revoked nothing.
    app.get("/api/v1/me", Some(&token(winner.data(), "access_token"))).await.assert_status(StatusCode::OK);
    let next =
        app.post_json("/api/v1/auth/refresh", json!({"refresh_token": token(winner.data(), "refresh_token")})).await;
    next.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn a_rotated_refresh_token_is_a_race_within_the_grace_time_and_a_replay_after_it() {
    let app = TestApp::with_config(|config| config.auth.refresh_reuse_grace_secs = 1).await;
    let first = app.register("kira").await;
    let old = token(&first, "refresh_token");
    let rotated = app.post_json("/api/v1/auth/refresh", json!({"refresh_token": old})).await;
    rotated.assert_status(StatusCode::OK);
    let again = app.post_json("/api/v1/auth/refresh", json!({"refresh_token": old})).await;
    again.assert_fail(StatusCode::CONFLICT);
    assert_eq!(again.reason(), "refresh_conflict");
    app.get("/api/v1/me", Some(&token(rotated.data(), "access_token"))).await.assert_status(StatusCode::OK);

    // Rotated twice: the first token is no longer the one the live token came from, so even
    // within the grace time presenting it is a replay.
    let twice =
        app.post_json("/api/v1/auth/refresh", json!({"refresh_token": token(rotated.data(), "refresh_token")})).await;
    twice.assert_status(StatusCode::OK);
    let replay = app.post_json("/api/v1/auth/refresh", json!({"refresh_token": old})).await;
    replay.assert_fail(StatusCode::UNAUTHORIZED);
    assert_eq!(replay.reason(), "refresh_token_reused");
    let me = app.get("/api/v1/me", Some(&token(twice.data(), "access_token"))).await;
    assert_eq!(me.reason(), "session_revoked");

    // After the grace time, the token just rotated is a replay too.
    let second = app.login("kira", PASSWORD).await.data().clone();
    let old = token(&second, "refresh_token");
    app.post_json("/api/v1/auth/refresh", json!({"refresh_token": old})).await.assert_status(StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let late = app.post_json("/api/v1/auth/refresh", json!({"refresh_token": old})).await;
    late.assert_fail(StatusCode::UNAUTHORIZED);
    assert_eq!(late.reason(), "refresh_token_reused");
}

#[tokio::test]
async fn an_unknown_refresh_token_is_refused() {
    let app = TestApp::spawn().await;
    let response = app.post_json("/api/v1/auth/refresh", json!({"refresh_token": "made-up"})).await;
    response.assert_fail(StatusCode::UNAUTHORIZED);
    assert_eq!(response.reason(), "invalid_refresh_token");
}

#[tokio::test]
async fn logout_ends_the_session_at_once_and_only_that_one() {
    let app = TestApp::spawn().await;
    let phone = app.register("laura").await;
    let laptop = app.login("laura", PASSWORD).await.data().clone();
    let access = token(&phone, "access_token");

    let out = app.post_json_from("/api/v1/auth/logout", json!({}), Some(&access), None).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.text);
    assert_eq!(out.body, json!({"status": "success", "data": null}));

    let me = app.get("/api/v1/me", Some(&access)).await;
    me.assert_fail(StatusCode::UNAUTHORIZED);
    assert_eq!(me.reason(), "session_revoked");
    let refresh = app.post_json("/api/v1/auth/refresh", json!({"refresh_token": token(&phone, "refresh_token")})).await;
    refresh.assert_fail(StatusCode::UNAUTHORIZED);

    assert_eq!(app.get("/api/v1/me", Some(&token(&laptop, "access_token"))).await.status, StatusCode::OK);
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused_with_a_bearer_challenge() {
    let app = TestApp::spawn().await;
    let data = app.register("mallory").await;

    let none = app.get("/api/v1/me", None).await;
    none.assert_fail(StatusCode::UNAUTHORIZED);
    assert_eq!(none.reason(), "missing_token");
    assert_eq!(none.header("www-authenticate"), r#"Bearer realm="parlor""#);

    for bad in ["garbage", "a.b.c", token(&data, "refresh_token").as_str()] {
        let response = app.get("/api/v1/me", Some(bad)).await;
        response.assert_fail(StatusCode::UNAUTHORIZED);
        assert_eq!(response.reason(), "invalid_token", "{bad}");
        assert!(response.header("www-authenticate").contains(r#"error="invalid_token""#));
    }
}

#[tokio::test]
async fn answers_that_carry_tokens_are_never_cached() {
    let app = TestApp::spawn().await;
    let registered = app.post_json("/api/v1/auth/register", json!({"identifier": "nora", "password": PASSWORD})).await;
    let login = app.login("nora", PASSWORD).await;
    let refresh =
        app.post_json("/api/v1/auth/refresh", json!({"refresh_token": token(login.data(), "refresh_token")})).await;
    let refused = app.login("nora", "wrong password entirely").await;
    for (what, response) in [("register", &registered), ("login", &login), ("refresh", &refresh), ("refusal", &refused)]
    {
        assert_eq!(response.header("cache-control"), "no-store", "{what}");
    }
}

#[tokio::test]
async fn fields_a_client_may_not_set_are_ignored_at_registration() {
    let app = TestApp::spawn().await;
    let chosen_id = "01936b31-2c4d-7e5f-8a9b-0c1d2e3f4a5b";
    let body = json!({
        "identifier": "mona", "password": PASSWORD,
        "is_admin": true, "is_active": false, "id": chosen_id, "created_at": "2000-01-01T00:00:00Z",
        "password_hash": "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
    });
    let response = app.post_json("/api/v1/auth/register", body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    let user = &response.data()["user"];
    assert_ne!(user["id"], chosen_id);
    assert_ne!(user["created_at"].as_str().unwrap_or_default().get(..4), Some("2000"), "{user}");

    // Not an administrator, still active, and the password is the one given.
    let token = token(response.data(), "access_token");
    assert_eq!(app.call(axum::http::Method::GET, "/api/v1/admin/users", &token).await.status, StatusCode::NOT_FOUND);
    let id: parlor::domain::UserId = user["id"].as_str().unwrap().parse().unwrap();
    let stored = app.state.store.user(id).await.unwrap().expect("the account");
    assert!(!stored.is_admin && stored.is_active, "{stored:?}");
    assert_eq!(app.login("mona", PASSWORD).await.status, StatusCode::OK);
}
