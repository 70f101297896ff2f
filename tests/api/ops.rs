//! Health, readiness, metrics and the API documentation.

use axum::http::StatusCode;

use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["checks"]["database"], "ok");
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = TestApp::spawn().await;
    app.get("/api/v1/me", None).await;
    let metrics = app.get("/metrics", None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.text.contains(r#"parlor_http_requests_total{method="GET",route="/api/v1/me",status="401"} 1"#),
        "{}",
        metrics.text
    );
    assert!(metrics.text.contains("parlor_http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = TestApp::spawn().await;
    let doc = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.body["openapi"], "3.1.0");
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/oauth/token",
        "/oauth/revoke",
        "/.well-known/jwks.json",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(doc.body["paths"].get(path).is_some(), "{path} is not documented");
    }
    let login = &doc.body["paths"]["/api/v1/auth/login"]["post"];
    for status in ["200", "401", "422", "429"] {
        assert!(login["responses"].get(status).is_some(), "login's {status} is not documented");
    }
    assert_eq!(doc.body, serde_json::to_value(parlor::http::openapi()).unwrap(), "served = `parlor openapi`");
    // Client generators name methods by operation id: each must be unique.
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if let Some(id) = operation["operationId"].as_str() {
                assert!(ids.insert(id.to_owned()), "operation id {id} of {method} {path} is not unique");
            }
        }
    }
}

#[tokio::test]
async fn every_bearer_operation_also_takes_a_token_from_the_password_flow_that_swagger_ui_signs_in_with() {
    let app = TestApp::spawn().await;
    let doc = app.get("/api/v1/openapi.json", None).await;
    let scheme = &doc.body["components"]["securitySchemes"]["password"];
    assert_eq!(scheme["type"], "oauth2");
    assert_eq!(scheme["flows"]["password"]["tokenUrl"], "/oauth/token");
    let mut secured = 0;
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(security) = operation["security"].as_array() else { continue };
            let names: Vec<&str> =
                security.iter().flat_map(|r| r.as_object().unwrap().keys().map(String::as_str)).collect();
            if names.contains(&"bearer") {
                secured += 1;
                assert!(names.contains(&"password"), "{method} {path}: {names:?}");
            }
        }
    }
    assert!(secured > 40, "{secured} bearer operations");
    // The dialog posts the RFC 6749 form, with an empty client id; the token answers.
    app.register("swagger").await;
    let form = format!("grant_type=password&username=swagger&password={}&client_id=", PASSWORD.replace(' ', "+"));
    let token = app.post_form("/oauth/token", &form).await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.text);
    assert_eq!(token.body["token_type"], "Bearer");
}

#[tokio::test]
async fn swagger_ui_is_served_offline() {
    let app = TestApp::spawn().await;
    let page = app.get("/docs/", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("swagger-ui"), "{}", &page.text[..page.text.len().min(300)]);
    let bundle = app.get("/docs/swagger-ui-bundle.js", None).await;
    assert_eq!(bundle.status, StatusCode::OK, "the UI's script is vendored into the binary");
}

#[tokio::test]
async fn every_answer_forbids_sniffing_and_framing_and_behind_tls_asks_for_https() {
    let app = TestApp::spawn().await;
    for path in ["/api/v1/me", "/healthz", "/api/v1/nowhere", "/docs/"] {
        let response = app.get(path, None).await;
        assert_eq!(response.header("x-content-type-options"), "nosniff", "{path}");
        let policy = response.header("content-security-policy");
        assert!(policy == "frame-ancestors 'none'" || policy.ends_with("; frame-ancestors 'none'"), "{path}: {policy}");
        assert_eq!(response.header("strict-transport-security"), "", "{path}: not behind TLS");
    }
    let tls = TestApp::with_config(|config| config.public_url = Some("https://chat.example.org".to_owned())).await;
    let response = tls.get("/api/v1/me", None).await;
    assert_eq!(response.header("strict-transport-security"), "max-age=31536000; includeSubDomains");
}

#[tokio::test]
async fn no_answer_lets_another_origin_read_it_preflights_included() {
    let app = TestApp::spawn().await;
    let data = app.register("ursula").await;
    let token = crate::helpers::token(&data, "access_token");
    let from_elsewhere = |method: axum::http::Method, path: &str| {
        TestApp::request(method, path)
            .header("origin", "https://evil.example")
            .header("authorization", format!("Bearer {token}"))
    };
    let preflight = from_elsewhere(axum::http::Method::OPTIONS, "/api/v1/me")
        .header("access-control-request-method", "PATCH")
        .header("access-control-request-headers", "authorization, content-type")
        .body(axum::body::Body::empty())
        .unwrap();
    let login = TestApp::request(axum::http::Method::POST, "/api/v1/auth/login")
        .header("origin", "https://evil.example")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(format!(r#"{{"identifier":"ursula","password":"{PASSWORD}"}}"#)))
        .unwrap();
    let answers = [
        app.send(preflight).await,
        app.send(from_elsewhere(axum::http::Method::GET, "/api/v1/me").body(axum::body::Body::empty()).unwrap()).await,
        app.send(login).await,
        app.send(
            from_elsewhere(axum::http::Method::GET, "/api/v1/openapi.json").body(axum::body::Body::empty()).unwrap(),
        )
        .await,
    ];
    assert!(answers[0].status.is_client_error(), "a preflight is not granted: {}", answers[0].status);
    assert_eq!(
        answers[1].status,
        StatusCode::OK,
        "the request itself is served; only reading it is the browser's to refuse"
    );
    for answer in &answers {
        let granted: Vec<_> =
            answer.headers.keys().filter(|name| name.as_str().starts_with("access-control-")).collect();
        assert!(granted.is_empty(), "{granted:?} on {}", answer.status);
    }
}
