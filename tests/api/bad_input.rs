//! Every kind of bad input gets a JSend fail with the right status.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

async fn raw_post(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> crate::helpers::TestResponse {
    let mut request = TestApp::request(Method::POST, path);
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    app.send(request.body(body.into()).unwrap()).await
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = TestApp::spawn().await;
    for body in [r#"{"identifier": "x", "#, "not json", r#"{"identifier":"a","password":"b"} trailing"#, ""] {
        let response = raw_post(&app, "/api/v1/auth/login", Some("application/json"), body).await;
        response.assert_fail(StatusCode::BAD_REQUEST);
        assert_eq!(response.reason(), "invalid_json", "{body:?}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415() {
    let app = TestApp::spawn().await;
    for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
        let response = raw_post(&app, "/api/v1/auth/login", content_type, "identifier=a&password=b").await;
        response.assert_fail(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(response.reason(), "unsupported_media_type");
    }
    let with_charset = raw_post(&app, "/api/v1/auth/login", Some("application/json; charset=utf-8"), "{}").await;
    assert_eq!(with_charset.status, StatusCode::UNPROCESSABLE_ENTITY, "a charset parameter is fine");
}

#[tokio::test]
async fn wrong_types_and_missing_fields_are_a_422_keyed_by_field() {
    let app = TestApp::spawn().await;
    let response = app.post_json("/api/v1/auth/login", json!({"identifier": "alice", "password": 12345678})).await;
    response.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.data()["password"].as_str().unwrap().contains("invalid type"), "{}", response.text);

    let response = app.post_json("/api/v1/auth/register", json!({"password": PASSWORD})).await;
    response.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.data()["identifier"], "is required");

    // serde would map an array onto the fields by position; the API wants an object.
    for body in [json!(["alice", PASSWORD]), json!("alice"), json!(null)] {
        let response = app.post_json("/api/v1/auth/login", body).await;
        response.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(response.data()["body"], "must be a JSON object");
    }
}

#[tokio::test]
async fn an_oversized_body_is_a_413() {
    let app = TestApp::spawn().await;
    let huge = json!({"identifier": "a".repeat(70_000), "password": PASSWORD}).to_string();
    let response = raw_post(&app, "/api/v1/auth/register", Some("application/json"), huge).await;
    response.assert_fail(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.reason(), "body_too_large");
}

#[tokio::test]
async fn long_strings_inside_the_limit_are_refused_by_field() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json(
            "/api/v1/auth/register",
            json!({"identifier": "longname", "password": "x".repeat(129), "first_name": "y".repeat(65)}),
        )
        .await;
    response.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.data()["password"], "must be at most 128 characters");
    assert_eq!(response.data()["first_name"], "must be at most 64 characters");
}

#[tokio::test]
async fn deeply_nested_json_is_refused_cleanly() {
    let app = TestApp::spawn().await;
    let deep = format!(r#"{{"identifier": {}"#, "[".repeat(10_000));
    let response = raw_post(&app, "/api/v1/auth/login", Some("application/json"), deep).await;
    assert!(response.status.is_client_error(), "{}", response.status);
    assert_eq!(response.body["status"], "fail");
}

#[tokio::test]
async fn unknown_routes_are_a_jsend_404() {
    let app = TestApp::spawn().await;
    for path in ["/api/v1/nope", "/api/v2/me", "/nowhere"] {
        let response = app.get(path, None).await;
        response.assert_fail(StatusCode::NOT_FOUND);
        assert_eq!(response.reason(), "route_not_found");
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_jsend_405() {
    let app = TestApp::spawn().await;
    let response = app.get("/api/v1/auth/login", None).await;
    response.assert_fail(StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.reason(), "method_not_allowed");
    let delete = app.send(TestApp::request(Method::PUT, "/api/v1/me").body(Body::empty()).unwrap()).await;
    delete.assert_fail(StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let response = app.get("/healthz", None).await;
    assert_eq!(response.header("x-request-id").len(), 36);
    let echoed = app
        .send(
            TestApp::request(Method::GET, "/healthz")
                .header("x-request-id", "trace-me-42")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(echoed.header("x-request-id"), "trace-me-42");
}

#[tokio::test]
async fn spoofing_text_is_refused_keyed_by_its_field_and_file_names_are_neutralised() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);

    // A look-alike Cyrillic "а" in an address, at registration and in a profile change.
    let spoofed = "p\u{0430}ypal@example.com";
    let registered = app
        .post_json("/api/v1/auth/register", json!({"identifier": "mallory", "email": spoofed, "password": PASSWORD}))
        .await;
    registered.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(registered.body["data"]["email"].as_str().unwrap().contains("scripts"), "{}", registered.body);
    let as_identifier =
        app.post_json("/api/v1/auth/register", json!({"identifier": spoofed, "password": PASSWORD})).await;
    as_identifier.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(as_identifier.body["data"]["identifier"].is_string(), "{}", as_identifier.body);

    // Names that show nothing, or turn the rest of the line around.
    for (field, value) in [("first_name", "\u{200B}\u{200D}"), ("last_name", "admin\u{202E}"), ("email", spoofed)] {
        let changed = app.send_json(Method::PATCH, "/api/v1/me", json!({ field: value }), Some(&alice.token)).await;
        changed.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(changed.body["data"][field].is_string(), "{field}: {}", changed.body);
    }

    // A group title with an override, a message of zero-width characters only.
    let group = app
        .send_json(
            Method::POST,
            "/api/v1/chats",
            json!({"type": "group", "title": "team\u{202E}", "member_ids": [bob.id]}),
            Some(&alice.token),
        )
        .await;
    group.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(group.body["data"]["title"].as_str().unwrap().contains("bidirectional"), "{}", group.body);
    let chat = app.direct(&alice, &bob).await;
    let blank = app
        .send_json(
            Method::POST,
            &format!("/api/v1/chats/{chat}/messages"),
            json!({"text": "\u{200B}\u{2060}\u{FEFF}"}),
            Some(&alice.token),
        )
        .await;
    blank.assert_fail(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(blank.body["data"]["text"], "must contain visible characters");

    // A file name that would show as "…exe.pdf" is stored without its override.
    let uploaded = app.upload_attachment(&alice.token, "invoice\u{202E}fdp.exe", "application/pdf", b"MZ...").await;
    uploaded.assert_status(StatusCode::CREATED);
    assert_eq!(uploaded.data()["attachment"]["file_name"], "invoicefdp.exe");
}
