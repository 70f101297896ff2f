//! Password reset by e-mail, with the mail read from the outbox.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, code_in, token};

const NEW_PASSWORD: &str = "staple fence orbit";

async fn ask(app: &TestApp, email: &str) -> crate::helpers::TestResponse {
    app.post_json("/api/v1/auth/password-reset", json!({"email": email})).await
}

async fn confirm(app: &TestApp, email: &str, code: &str, password: &str) -> crate::helpers::TestResponse {
    app.post_json(
        "/api/v1/auth/password-reset/confirm",
        json!({"email": email, "code": code, "new_password": password}),
    )
    .await
}

#[tokio::test]
async fn a_mailed_code_sets_a_new_password_once_and_ends_every_session() {
    let app = TestApp::spawn().await;
    let session = app.register("alice@example.org").await;
    let asked = ask(&app, "Alice@Example.org").await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.text);
    assert_eq!(asked.body, json!({"status": "success", "data": null}));

    let mail = app.wait_for_mails(1).await.remove(0);
    assert!(mail.contains("To: alice@example.org"), "{mail}");
    assert!(mail.contains("Subject: Your Parlor password reset code"), "{mail}");
    let code = code_in(&mail);

    let done = confirm(&app, "alice@example.org", &code, NEW_PASSWORD).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    app.get("/api/v1/me", Some(&token(&session, "access_token"))).await.assert_fail(StatusCode::UNAUTHORIZED);
    app.post_json("/api/v1/auth/refresh", json!({"refresh_token": token(&session, "refresh_token")}))
        .await
        .assert_fail(StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("alice@example.org", PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("alice@example.org", NEW_PASSWORD).await.status, StatusCode::OK);

    let replay = confirm(&app, "alice@example.org", &code, "another fine password").await;
    replay.assert_fail(StatusCode::BAD_REQUEST);
    assert_eq!(replay.reason(), "invalid_code", "single use");
}

#[tokio::test]
async fn an_unknown_address_gets_the_same_answer_and_no_mail() {
    let app = TestApp::spawn().await;
    app.register("bob@example.org").await;
    let known = ask(&app, "bob@example.org").await;
    let unknown = ask(&app, "nobody@example.org").await;
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));
    app.wait_for_mails(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.outbox().len(), 1, "only the real account got mail");
    let guess = confirm(&app, "nobody@example.org", "12345678", NEW_PASSWORD).await;
    guess.assert_fail(StatusCode::BAD_REQUEST);
    assert_eq!(guess.reason(), "invalid_code", "the same refusal as a wrong code");
}

#[tokio::test]
async fn five_wrong_codes_kill_the_code() {
    let app = TestApp::spawn().await;
    app.register("carol@example.org").await;
    ask(&app, "carol@example.org").await;
    let code = code_in(&app.wait_for_mails(1).await[0]);
    let wrong = if code == "00000000" { "11111111" } else { "00000000" };
    for _ in 0..5 {
        confirm(&app, "carol@example.org", wrong, NEW_PASSWORD).await.assert_fail(StatusCode::BAD_REQUEST);
    }
    let late = confirm(&app, "carol@example.org", &code, NEW_PASSWORD).await;
    late.assert_fail(StatusCode::BAD_REQUEST);
    assert_eq!(app.login("carol@example.org", PASSWORD).await.status, StatusCode::OK, "password unchanged");
}

#[tokio::test]
async fn a_new_request_replaces_the_old_code_and_an_expired_code_is_dead() {
    let app = TestApp::spawn().await;
    let created = app.register("dave@example.org").await;
    ask(&app, "dave@example.org").await;
    let first = code_in(&app.wait_for_mails(1).await[0]);
    ask(&app, "dave@example.org").await;
    let mails = app.wait_for_mails(2).await;
    let second = mails.iter().map(|m| code_in(m)).find(|c| *c != first).unwrap_or_else(|| first.clone());
    if second != first {
        confirm(&app, "dave@example.org", &first, NEW_PASSWORD).await.assert_fail(StatusCode::BAD_REQUEST);
    }

    // Expired: store a known code that ran out a second ago.
    let user_id: parlor::domain::UserId = created["user"]["id"].as_str().unwrap().parse().unwrap();
    let past = parlor::store::now() - time::Duration::seconds(1);
    app.state.store.put_reset_code(user_id, parlor::auth::reset::code_hash(user_id, "24681357"), past).await.unwrap();
    confirm(&app, "dave@example.org", "24681357", NEW_PASSWORD).await.assert_fail(StatusCode::BAD_REQUEST);
    assert_eq!(app.login("dave@example.org", PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_weak_password_is_refused_after_the_right_code_which_stays_usable() {
    let app = TestApp::spawn().await;
    app.register("erin@example.org").await;
    ask(&app, "erin@example.org").await;
    let code = code_in(&app.wait_for_mails(1).await[0]);
    for weak in ["short", "password123", "erin@example.org"] {
        let response = confirm(&app, "erin@example.org", &code, weak).await;
        response.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(response.data().get("new_password").is_some(), "{}", response.text);
    }
    assert_eq!(confirm(&app, "erin@example.org", &code, NEW_PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_requests_are_refused_by_field() {
    let app = TestApp::spawn().await;
    let response = ask(&app, "not an address").await;
    response.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.data().get("email").is_some());
    app.post_json("/api/v1/auth/password-reset", json!({})).await.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    let missing = app.post_json("/api/v1/auth/password-reset/confirm", json!({"email": "a@example.org"})).await;
    missing.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    for code in ["", "1234", "abcdefgh", "123456789"] {
        confirm(&app, "a@example.org", code, NEW_PASSWORD).await.assert_fail(StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn requests_are_rate_limited_per_address_known_or_not() {
    let app = TestApp::spawn().await;
    app.register("frank@example.org").await;
    for email in ["frank@example.org", "ghost@example.org"] {
        for _ in 0..5 {
            assert_eq!(ask(&app, email).await.status, StatusCode::ACCEPTED);
        }
        let limited = ask(&app, email).await;
        limited.assert_fail(StatusCode::TOO_MANY_REQUESTS);
        assert!(!limited.header("retry-after").is_empty());
    }
}

#[tokio::test]
async fn wrong_codes_from_one_client_are_rate_limited() {
    let app = TestApp::with_config(|c| c.limits.password_resets_per_address_hour = 3).await;
    for _ in 0..3 {
        let response = confirm(&app, "x@example.org", "12345678", NEW_PASSWORD).await;
        response.assert_fail(StatusCode::BAD_REQUEST);
    }
    let limited = confirm(&app, "x@example.org", "12345678", NEW_PASSWORD).await;
    limited.assert_fail(StatusCode::TOO_MANY_REQUESTS);
    let _: &Value = limited.data();
}
