//! Signing keys shared through the database: instances with separate data directories accept
//! each other's tokens, rotation publishes a key to every instance before it signs, and key
//! files still win when given.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use parlor::app::{App, AppState};
use parlor::config::Config;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::helpers::{PASSWORD, shared_database_url};

/// One instance: its own data directory (so no key file is shared), the given database.
async fn instance(database_url: &str) -> (tempfile::TempDir, AppState, axum::Router) {
    let data_dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: data_dir.path().to_owned(),
        database_url: Some(database_url.to_owned().into()),
        ..Config::default()
    };
    let state = AppState(Arc::new(App::from_config(config).await.unwrap()));
    let router = parlor::http::router(state.clone()).await.unwrap();
    (data_dir, state, router)
}

async fn call(
    router: &axum::Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = match body {
        Some(json) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    let response = router.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// The key ids a JWKS lists, sorted.
fn kids(jwks: &Value) -> Vec<String> {
    let mut kids: Vec<String> =
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect();
    kids.sort();
    kids
}

#[tokio::test]
async fn two_instances_with_separate_data_dirs_share_the_keys_and_rotation_reaches_both() {
    let dir = tempfile::tempdir().unwrap();
    let url = shared_database_url(dir.path()).await;
    // SQLite: migrated first (one file is not meant for several instances). PostgreSQL: both
    // migrate at once too, taking turns on the migration lock.
    if url.starts_with("sqlite") {
        parlor::store::Store::connect(&url).await.unwrap().migrate().await.unwrap();
    }
    // Both start at once: the first key is generated once, whoever wins.
    let ((_a_dir, a, a_router), (_b_dir, b, b_router)) = tokio::join!(instance(&url), instance(&url));
    assert!(!a.config.keys_dir().exists() && !b.config.keys_dir().exists(), "no key file written");

    let body = json!({"identifier": "shared_key", "password": PASSWORD});
    let (status, registered) = call(&a_router, Method::POST, "/api/v1/auth/register", None, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    let token = registered["data"]["access_token"].as_str().unwrap().to_owned();
    let (status, me) = call(&b_router, Method::GET, "/api/v1/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "B accepts A's token: {me}");
    let (_, a_jwks) = call(&a_router, Method::GET, "/.well-known/jwks.json", None, None).await;
    let (_, b_jwks) = call(&b_router, Method::GET, "/.well-known/jwks.json", None, None).await;
    assert_eq!((kids(&a_jwks).len(), kids(&a_jwks)), (1, kids(&b_jwks)));

    // A rotation is published to both (here by a reload, as the background one would) and
    // verifies at once, while the old key keeps signing until every instance knows the new one.
    let new_kid = parlor::auth::keyring::rotate(&a.config, &a.store).await.unwrap();
    a.auth.keys.reload().await.unwrap();
    b.auth.keys.reload().await.unwrap();
    let (_, jwks) = call(&b_router, Method::GET, "/.well-known/jwks.json", None, None).await;
    let mut both = vec![kids(&a_jwks)[0].clone(), new_kid.clone()];
    both.sort();
    assert_eq!(kids(&jwks), both);
    let signed_by_new = a.auth.keys.current().jwks();
    assert_eq!(kids(&signed_by_new).len(), 2);
    let (status, _) = call(&b_router, Method::GET, "/api/v1/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "tokens of the old key still verify");
    let fresh = a
        .auth
        .keys
        .current()
        .issue(me["data"]["user"]["id"].as_str().unwrap().parse().unwrap(), parlor::domain::SessionId::new())
        .unwrap();
    let kid = jsonwebtoken::decode_header(&fresh).unwrap().kid.unwrap();
    assert_eq!(kid, kids(&a_jwks)[0], "the new key does not sign before it is published everywhere");

    let audit = a.store.audit_trail("signing_key", "2").await.unwrap();
    assert_eq!(audit.len(), 1, "the rotation is audited");
    assert!(!audit[0].after.as_ref().unwrap().to_string().contains("PRIVATE"), "never the key itself");
}

#[tokio::test]
async fn key_files_win_over_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = shared_database_url(dir.path()).await;
    let keys_dir = tempfile::tempdir().unwrap();
    let config = |data: &std::path::Path| Config {
        data_dir: data.to_owned(),
        database_url: Some(url.clone().into()),
        auth: parlor::config::AuthConfig { keys_dir: Some(keys_dir.path().to_owned()), ..Default::default() },
        ..Config::default()
    };
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = App::from_config(config(one.path())).await.unwrap();
    let b = App::from_config(config(two.path())).await.unwrap();
    assert_eq!(a.auth.keys.current().jwks(), b.auth.keys.current().jwks(), "the same mounted files");
    assert!(a.store.signing_keys().await.unwrap().is_empty(), "nothing stored");
    assert!(std::fs::read_dir(keys_dir.path()).unwrap().count() == 1);
    let refused = parlor::auth::keyring::rotate(&a.config, &a.store).await.unwrap_err();
    assert!(refused.to_string().contains("add a newer PEM file"), "{refused}");
}
