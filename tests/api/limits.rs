//! Rate limits on login, registration and refresh.

use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, token};

async fn login_from(app: &TestApp, identifier: &str, password: &str, ip: &str) -> crate::helpers::TestResponse {
    app.post_json_from("/api/v1/auth/login", json!({"identifier": identifier, "password": password}), None, Some(ip))
        .await
}

#[tokio::test]
async fn ten_failed_logins_for_an_account_from_one_address_then_429() {
    let app = TestApp::spawn().await;
    app.register("victor").await;
    for attempt in 1..=10 {
        let response = login_from(&app, "victor", "wrong password", "198.51.100.7").await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let limited = login_from(&app, "victor", PASSWORD, "198.51.100.7").await;
    limited.assert_fail(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.reason(), "rate_limited");
    let retry_after: u64 = limited.header("retry-after").parse().expect("Retry-After in seconds");
    assert!((1..=900).contains(&retry_after), "{retry_after}");

    // The owner, from elsewhere, is not locked out; other accounts from that address are not either.
    assert_eq!(login_from(&app, "victor", PASSWORD, "203.0.113.9").await.status, StatusCode::OK);
    app.register("walter").await;
    assert_eq!(login_from(&app, "walter", PASSWORD, "198.51.100.7").await.status, StatusCode::OK);
}

#[tokio::test]
async fn failures_spread_over_many_addresses_slow_the_account_for_new_addresses_only() {
    let app = TestApp::with_config(|config| config.limits.login_failures_per_account_from_new_addresses = 5).await;
    app.register("yvonne").await;
    // The owner signs in from home once: that address is hers from now on.
    assert_eq!(login_from(&app, "yvonne", PASSWORD, "192.0.2.10").await.status, StatusCode::OK);

    // Five addresses, one wrong password each: each under its own limit, together at the account's.
    for i in 1..=5 {
        let response = login_from(&app, "yvonne", "wrong password", &format!("203.0.113.{i}")).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "address {i}");
    }
    let stuffed = login_from(&app, "yvonne", PASSWORD, "203.0.113.99").await;
    stuffed.assert_fail(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(stuffed.reason(), "rate_limited", "a new address waits, even with the right password");

    // Her own address is not locked out, and its failures are its own to count.
    assert_eq!(login_from(&app, "yvonne", "wrong password", "192.0.2.10").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(login_from(&app, "yvonne", PASSWORD, "192.0.2.10").await.status, StatusCode::OK);
    // Nor is anyone else from the addresses that tried.
    app.register("zelda").await;
    assert_eq!(login_from(&app, "zelda", PASSWORD, "203.0.113.1").await.status, StatusCode::OK);
    // An account that does not exist is limited the same way (no telling it apart).
    for i in 1..=5 {
        login_from(&app, "nobody_here", "wrong password", &format!("198.51.100.{i}")).await;
    }
    assert_eq!(login_from(&app, "nobody_here", "x", "198.51.100.99").await.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_oauth_password_grant_shares_the_login_limit() {
    let app = TestApp::with_config(|c| c.limits.login_failures_per_account = 2).await;
    app.register("xavier").await;
    for _ in 0..2 {
        login_from(&app, "xavier", "wrong password", "192.0.2.1").await;
    }
    let response = app.post_form("/oauth/token", "grant_type=password&username=xavier&password=wrong").await;
    // The form request has no X-Forwarded-For, so it comes from another (unspecified) address.
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    let app = TestApp::with_config(|c| c.limits.login_failures_per_account = 2).await;
    app.register("xavier").await;
    for _ in 0..2 {
        app.post_form("/oauth/token", "grant_type=password&username=xavier&password=wrong").await;
    }
    let limited =
        app.post_form("/oauth/token", "grant_type=password&username=xavier&password=correct+horse+battery").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{}", limited.text);
    assert!(!limited.header("retry-after").is_empty());
}

#[tokio::test]
async fn one_address_can_register_a_hundred_accounts_an_hour() {
    let app = TestApp::spawn().await;
    for n in 0..100 {
        let response = app
            .post_json_from(
                "/api/v1/auth/register",
                json!({"identifier": format!("office_{n}"), "password": PASSWORD}),
                None,
                Some("198.51.100.50"),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "registration {n}: {}", response.text);
    }
}

#[tokio::test]
async fn registrations_past_the_hourly_limit_get_429() {
    let app = TestApp::with_config(|c| c.limits.registrations_per_hour = 3).await;
    for n in 0..3 {
        let body = json!({"identifier": format!("yolanda{n}"), "password": PASSWORD});
        assert_eq!(
            app.post_json_from("/api/v1/auth/register", body, None, Some("192.0.2.77")).await.status,
            StatusCode::CREATED
        );
    }
    let body = json!({"identifier": "yolanda9", "password": PASSWORD});
    let limited = app.post_json_from("/api/v1/auth/register", body.clone(), None, Some("192.0.2.77")).await;
    limited.assert_fail(StatusCode::TOO_MANY_REQUESTS);
    assert!(!limited.header("retry-after").is_empty());
    assert_eq!(
        app.post_json_from("/api/v1/auth/register", body, None, Some("192.0.2.78")).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn refreshes_past_the_hourly_limit_get_429() {
    let app = TestApp::with_config(|c| c.limits.refreshes_per_hour = 2).await;
    let mut data = app.register("zoe").await;
    for _ in 0..2 {
        let response =
            app.post_json("/api/v1/auth/refresh", json!({"refresh_token": token(&data, "refresh_token")})).await;
        assert_eq!(response.status, StatusCode::OK);
        data = response.data().clone();
    }
    let limited = app.post_json("/api/v1/auth/refresh", json!({"refresh_token": token(&data, "refresh_token")})).await;
    limited.assert_fail(StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn failures_across_many_accounts_from_one_address_hit_the_address_limit() {
    let app = TestApp::with_config(|config| config.limits.login_failures_per_address = 5).await;
    app.register("zelda").await;
    // One wrong password each for five names, taken and unknown: under every account's limit.
    for name in ["zelda", "nobody1", "nobody2", "nobody3", "nobody4"] {
        let response = login_from(&app, name, "wrong password", "198.51.100.20").await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{name}");
    }
    let limited = login_from(&app, "zelda", PASSWORD, "198.51.100.20").await;
    limited.assert_fail(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.reason(), "rate_limited");
    assert_eq!(login_from(&app, "zelda", PASSWORD, "198.51.100.21").await.status, StatusCode::OK);
}

/// A wrong-password login for yusuf with `X-Forwarded-For: forwarded`.
async fn login_forwarded(app: &TestApp, forwarded: String) -> crate::helpers::TestResponse {
    let request = TestApp::request(axum::http::Method::POST, "/api/v1/auth/login")
        .header("content-type", "application/json")
        .header("x-forwarded-for", forwarded)
        .body(axum::body::Body::from(json!({"identifier": "yusuf", "password": "wrong password"}).to_string()))
        .unwrap();
    app.send(request).await
}

#[tokio::test]
async fn x_forwarded_for_is_ignored_unless_trusted_and_then_only_its_last_entry_counts() {
    // Not trusted: a new forged address each time, and still the 11th attempt is limited.
    let untrusting = TestApp::with_config(|config| config.trust_forwarded_for = false).await;
    untrusting.register("yusuf").await;
    for i in 1..=10 {
        assert_eq!(
            login_forwarded(&untrusting, format!("203.0.113.{i}")).await.status,
            StatusCode::UNAUTHORIZED,
            "{i}"
        );
    }
    assert_eq!(login_forwarded(&untrusting, "203.0.113.99".to_owned()).await.status, StatusCode::TOO_MANY_REQUESTS);

    // Trusted (behind nginx, which appends the peer): entries a client puts in front change nothing.
    let trusting = TestApp::spawn().await;
    trusting.register("yusuf").await;
    for i in 1..=10 {
        let forwarded = format!("203.0.113.{i}, 198.51.100.30");
        assert_eq!(login_forwarded(&trusting, forwarded).await.status, StatusCode::UNAUTHORIZED, "{i}");
    }
    let limited = login_forwarded(&trusting, "203.0.113.99, 198.51.100.30".to_owned()).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        login_forwarded(&trusting, "198.51.100.31".to_owned()).await.status,
        StatusCode::UNAUTHORIZED,
        "another peer"
    );
}
