//! The RFC 6749 token endpoint, RFC 7009 revocation and the JWKS document.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, token};

fn assert_oauth_error(response: &crate::helpers::TestResponse, status: StatusCode, error: &str) {
    assert_eq!(response.status, status, "{}", response.text);
    assert_eq!(response.body["error"], error, "{}", response.text);
    assert!(response.body["error_description"].is_string());
    assert!(response.body.get("status").is_none(), "RFC JSON, not JSend");
    assert_eq!(response.header("cache-control"), "no-store");
}

#[tokio::test]
async fn the_password_grant_answers_in_rfc_6749_json_and_is_not_cached() {
    let app = TestApp::spawn().await;
    app.register("olivia@example.org").await;
    let response = app
        .post_form(
            "/oauth/token",
            "grant_type=password&username=olivia%40example.org&password=correct+horse+battery&scope=",
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.header("cache-control"), "no-store");
    assert_eq!(response.header("pragma"), "no-cache");
    assert!(response.header("content-type").starts_with("application/json"));
    let body = &response.body;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body.get("status").is_none());
    assert_eq!(app.get("/api/v1/me", Some(&token(body, "access_token"))).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_refresh_grant_rotates_and_detects_reuse() {
    let app = TestApp::with_config(|config| config.auth.refresh_reuse_grace_secs = 0).await;
    let first = app.register("peggy").await;
    let old = token(&first, "refresh_token");
    let response = app.post_form("/oauth/token", &format!("grant_type=refresh_token&refresh_token={old}")).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_ne!(token(&response.body, "refresh_token"), old);
    let replay = app.post_form("/oauth/token", &format!("grant_type=refresh_token&refresh_token={old}")).await;
    assert_oauth_error(&replay, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn token_endpoint_errors_use_rfc_codes() {
    let app = TestApp::spawn().await;
    app.register("quentin").await;
    let cases = [
        ("grant_type=password&username=quentin&password=wrong+password", "invalid_grant"),
        ("grant_type=password&username=nobody&password=wrong+password", "invalid_grant"),
        ("grant_type=client_credentials", "unsupported_grant_type"),
        ("username=quentin&password=x", "invalid_request"),
        ("grant_type=password&username=quentin", "invalid_request"),
        ("grant_type=password&grant_type=password&username=quentin&password=x", "invalid_request"),
        ("grant_type=refresh_token", "invalid_request"),
    ];
    for (form, error) in cases {
        let response = app.post_form("/oauth/token", form).await;
        assert_oauth_error(&response, StatusCode::BAD_REQUEST, error);
    }
    let json_body = app.post_json("/oauth/token", json!({"grant_type": "password"})).await;
    assert_oauth_error(&json_body, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_session() {
    let app = TestApp::spawn().await;
    let data = app.register("rupert").await;
    let response = app
        .post_form("/oauth/revoke", &format!("token={}&token_type_hint=refresh_token", token(&data, "refresh_token")))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    app.get("/api/v1/me", Some(&token(&data, "access_token"))).await.assert_fail(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoking_an_access_token_ends_its_session() {
    let app = TestApp::spawn().await;
    let data = app.register("sybil").await;
    let response = app.post_form("/oauth/revoke", &format!("token={}", token(&data, "access_token"))).await;
    assert_eq!(response.status, StatusCode::OK);
    let refresh = app.post_json("/api/v1/auth/refresh", json!({"refresh_token": token(&data, "refresh_token")})).await;
    refresh.assert_fail(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoking_an_unknown_token_succeeds_and_a_missing_one_does_not() {
    let app = TestApp::spawn().await;
    assert_eq!(app.post_form("/oauth/revoke", "token=nonsense").await.status, StatusCode::OK);
    assert_oauth_error(
        &app.post_form("/oauth/revoke", "token_type_hint=refresh_token").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
}

#[tokio::test]
async fn issued_tokens_verify_against_the_published_jwks() {
    let app = TestApp::spawn().await;
    let data = app.register("trent").await;
    let access = token(&data, "access_token");
    let jwks = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(jwks.status, StatusCode::OK);
    let set: JwkSet = serde_json::from_value(jwks.body.clone()).expect("a valid JWK set");
    let kid = jsonwebtoken::decode_header(&access).unwrap().kid.expect("kid");
    let jwk = set.find(&kid).expect("the signing key is published");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["parlor"]);
    let claims =
        jsonwebtoken::decode::<Value>(&access, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap().claims;
    assert_eq!(claims["sub"], data["user"]["id"]);
    for claim in ["sid", "jti", "iat", "exp", "iss", "aud"] {
        assert!(claims.get(claim).is_some(), "claim {claim} missing");
    }
}

#[tokio::test]
async fn the_token_endpoint_refuses_an_oversized_body() {
    let app = TestApp::spawn().await;
    let request = TestApp::request(Method::POST, "/oauth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("grant_type=password&username={}&password={PASSWORD}", "a".repeat(100_000))))
        .unwrap();
    let response = app.send(request).await;
    assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.body["error"], "invalid_request");
}
