//! `TestApp`: the whole router over a fresh database, driven in-process with `oneshot`.
//!
//! The database is in-memory SQLite, or — when `PARLOR_TEST_DATABASE_URL` names a PostgreSQL
//! server — a new database created on that server for this test alone.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use parlor::app::{AppBuilder, AppState};
use parlor::auth::TokenKeys;
use parlor::auth::tokens::generate_signing_key;
use parlor::config::Config;
use parlor::media::Media;
use parlor::store::Store;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use tower::ServiceExt;

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    _data_dir: tempfile::TempDir,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// `data` of a JSend body.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    pub fn reason(&self) -> &str {
        self.body["data"]["reason"].as_str().unwrap_or_default()
    }

    #[track_caller]
    pub fn assert_fail(&self, status: StatusCode) -> &Self {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(self.body["status"], "fail", "body: {}", self.text);
        self
    }
}

/// A database for one test: in-memory SQLite, or a new PostgreSQL database.
async fn test_database_url() -> String {
    let Ok(admin_url) = std::env::var("PARLOR_TEST_DATABASE_URL") else {
        return "sqlite::memory:".to_owned();
    };
    let name = format!("parlor_t_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(admin_url.as_str()).await.expect("PARLOR_TEST_DATABASE_URL must be reachable");
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
    admin.close().await.ok();
    let base = admin_url.split('?').next().unwrap_or(&admin_url);
    let server = &base[..base.rfind('/').expect("database URL has a path")];
    format!("{server}/{name}")
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::with_config(|_| {}).await
    }

    pub async fn with_config(adjust: impl FnOnce(&mut Config)) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config =
            Config { data_dir: data_dir.path().to_owned(), trust_forwarded_for: true, ..Config::default() };
        adjust(&mut config);
        config.validate().expect("test config is valid");
        let store = Store::connect(&test_database_url().await).await.expect("connect");
        store.migrate().await.expect("migrate");
        let keys = TokenKeys::from_keys(&[generate_signing_key().expect("key")], &config.auth).expect("keys");
        let media = Media::in_memory(&config);
        let app = AppBuilder::new(config, store, keys).media(media).build().expect("app");
        let state = AppState(std::sync::Arc::new(app));
        Self { router: parlor::http::router(state.clone()), state, _data_dir: data_dir }
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self.router.clone().oneshot(request).await.expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        TestResponse { status, headers, body, text }
    }

    pub fn request(method: Method, path: &str) -> axum::http::request::Builder {
        Request::builder().method(method).uri(path)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> TestResponse {
        let mut request = Self::request(Method::GET, path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(request.body(Body::empty()).expect("request")).await
    }

    pub async fn post_json(&self, path: &str, body: Value) -> TestResponse {
        self.post_json_from(path, body, None, None).await
    }

    /// POSTs JSON, optionally authenticated and from a given client address.
    pub async fn post_json_from(&self, path: &str, body: Value, token: Option<&str>, ip: Option<&str>) -> TestResponse {
        let mut request = Self::request(Method::POST, path).header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(ip) = ip {
            request = request.header("x-forwarded-for", ip);
        }
        self.send(request.body(Body::from(body.to_string())).expect("request")).await
    }

    pub async fn post_form(&self, path: &str, form: &str) -> TestResponse {
        let request = Self::request(Method::POST, path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned()))
            .expect("request");
        self.send(request).await
    }

    /// Registers `identifier` with [`PASSWORD`] and returns the `data` of the answer.
    pub async fn register(&self, identifier: &str) -> Value {
        let response =
            self.post_json("/api/v1/auth/register", json!({"identifier": identifier, "password": PASSWORD})).await;
        assert_eq!(response.status, StatusCode::CREATED, "register {identifier}: {}", response.text);
        response.data().clone()
    }

    pub async fn login(&self, identifier: &str, password: &str) -> TestResponse {
        self.post_json("/api/v1/auth/login", json!({"identifier": identifier, "password": password})).await
    }
}

pub fn token(data: &Value, field: &str) -> String {
    data[field].as_str().unwrap_or_else(|| panic!("no {field} in {data}")).to_owned()
}
