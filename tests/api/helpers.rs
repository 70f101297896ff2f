//! `TestApp`: the whole router over a fresh database, driven in-process with `oneshot`.
//!
//! The database is in-memory SQLite, or — when `PARLOR_TEST_DATABASE_URL` names a PostgreSQL
//! server — a new database created on that server for this test alone.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use futures::StreamExt;
use futures::stream::BoxStream;
use http_body_util::BodyExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult,
};
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
    pub data_dir: tempfile::TempDir,
    /// The media storage: in memory, and able to fail on demand.
    pub storage: Arc<FlakyStore>,
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
    pub fn assert_status(&self, status: StatusCode) -> &Self {
        assert_eq!(self.status, status, "body: {}", self.text);
        self
    }

    #[track_caller]
    pub fn assert_fail(&self, status: StatusCode) -> &Self {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(self.body["status"], "fail", "body: {}", self.text);
        self
    }
}

/// A database several application instances of one test share: a SQLite file in `dir`, or a new
/// PostgreSQL database.
pub async fn shared_database_url(dir: &std::path::Path) -> String {
    if std::env::var("PARLOR_TEST_DATABASE_URL").is_ok() {
        return test_database_url().await;
    }
    format!("sqlite://{}?mode=rwc", dir.join("shared.db").display())
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
        Self::build(adjust, None).await
    }

    /// On a database in files, as `parlor serve` runs: a SQLite file in `dir`, or a new
    /// PostgreSQL database.
    pub async fn on_file_database(dir: &std::path::Path, adjust: impl FnOnce(&mut Config)) -> Self {
        let url = shared_database_url(dir).await;
        Self::build_on(adjust, None, Some(url)).await
    }

    /// On PostgreSQL, the application reaches its database through a proxy that holds every
    /// answer of the server back by `delay`, so each round trip is a window a test can hit;
    /// on SQLite the same as [`Self::with_config`].
    pub async fn with_slow_database(delay: std::time::Duration, adjust: impl FnOnce(&mut Config)) -> Self {
        Self::build(adjust, Some(delay)).await
    }

    async fn build(adjust: impl FnOnce(&mut Config), database_delay: Option<std::time::Duration>) -> Self {
        Self::build_on(adjust, database_delay, None).await
    }

    async fn build_on(
        adjust: impl FnOnce(&mut Config),
        database_delay: Option<std::time::Duration>,
        database_url: Option<String>,
    ) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config =
            Config { data_dir: data_dir.path().to_owned(), trust_forwarded_for: true, ..Config::default() };
        // With a Redis server named, the bus, Socket.IO adapter and limiter run on it, each test
        // under its own prefix.
        if let Ok(url) = std::env::var("PARLOR_TEST_REDIS_URL") {
            config.redis_url = Some(url.into());
            config.redis_prefix = format!("parlor-t-{}", uuid::Uuid::now_v7().simple());
        }
        if let Some(url) = &database_url {
            config.database_url = Some(url.clone().into());
        }
        adjust(&mut config);
        config.validate().expect("test config is valid");
        let mut url = match database_url {
            Some(url) => url,
            None => test_database_url().await,
        };
        if let (Some(delay), true) = (database_delay, url.starts_with("postgres")) {
            url = DelayingProxy::in_front_of(&url, delay).await;
        }
        let store = Store::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        let keys = TokenKeys::from_keys(&[generate_signing_key().expect("key")], &config.auth).expect("keys");
        let storage = Arc::new(FlakyStore::default());
        let media = Media::new(storage.clone(), false, &config);
        let app = AppBuilder::new(config, store, keys).media(media).build().await.expect("app");
        let state = AppState(Arc::new(app));
        let router = parlor::http::router(state.clone()).await.expect("router");
        Self { router, state, data_dir, storage }
    }

    /// Serves the router on a real loopback listener (port 0), for socket clients.
    pub async fn listen(&self) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (router, config) = (self.router.clone(), self.state.config.server.clone());
        tokio::spawn(async move {
            parlor::http::listener::serve(listener, router, &config, true, std::future::pending(), async {}).await
        });
        addr
    }

    /// Sends `body` as JSON with any method, optionally authenticated.
    pub async fn send_json(&self, method: Method, path: &str, body: Value, token: Option<&str>) -> TestResponse {
        let mut request = Self::request(method, path).header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(request.body(Body::from(body.to_string())).expect("request")).await
    }

    /// A body-less request with any method, authenticated.
    pub async fn call(&self, method: Method, path: &str, token: &str) -> TestResponse {
        let request = Self::request(method, path).header(header::AUTHORIZATION, format!("Bearer {token}"));
        self.send(request.body(Body::empty()).expect("request")).await
    }

    /// `PUT /api/v1/me/avatar` as multipart with one file field.
    pub async fn upload_avatar(&self, token: &str, field: &str, bytes: &[u8]) -> TestResponse {
        let boundary = "parlor-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"avatar.svg\"\r\n\
             Content-Type: image/svg+xml\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let request = Self::request(Method::PUT, "/api/v1/me/avatar")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
            .body(Body::from(body))
            .expect("request");
        self.send(request).await
    }

    /// `POST /api/v1/attachments` as multipart, with the file name and a (claimed) type.
    pub async fn upload_attachment(&self, token: &str, name: &str, claimed_type: &str, bytes: &[u8]) -> TestResponse {
        let boundary = "parlor-test-boundary-Qm9vbXNoYWth";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: {claimed_type}\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let request = Self::request(Method::POST, "/api/v1/attachments")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
            .body(Body::from(body))
            .expect("request");
        self.send(request).await
    }

    /// The bodies of the mails in the outbox, oldest first.
    pub fn outbox(&self) -> Vec<String> {
        let dir = self.data_dir.path().join("outbox");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "eml")).collect()
            })
            .unwrap_or_default();
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files.iter().map(|p| std::fs::read_to_string(p).expect("read mail")).collect()
    }

    /// Waits (up to 5 s) for the outbox to hold `n` mails; the mail is sent in the background.
    pub async fn wait_for_mails(&self, n: usize) -> Vec<String> {
        for _ in 0..100 {
            let mails = self.outbox();
            if mails.len() >= n {
                return mails;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("expected {n} mails in the outbox, found {}", self.outbox().len());
    }

    /// Keys of every stored object.
    pub async fn stored_keys(&self) -> Vec<String> {
        use futures::TryStreamExt;
        let mut keys: Vec<String> =
            self.storage.list(None).map_ok(|meta| meta.location.to_string()).try_collect().await.expect("list");
        keys.sort();
        keys
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

/// The 8-digit code in a reset mail.
pub fn code_in(mail: &str) -> String {
    mail.split(|c: char| !c.is_ascii_digit()).find(|run| run.len() == 8).expect("a code in the mail").to_owned()
}

/// In-memory object storage that can be told to fail, to show what a storage outage does.
#[derive(Debug)]
pub struct FlakyStore {
    inner: InMemory,
    /// Puts still allowed before they fail; negative: never fail.
    puts_before_failing: AtomicI64,
    failing_deletes: AtomicBool,
}

impl Default for FlakyStore {
    fn default() -> Self {
        Self {
            inner: InMemory::new(),
            puts_before_failing: AtomicI64::new(-1),
            failing_deletes: AtomicBool::new(false),
        }
    }
}

impl FlakyStore {
    pub fn fail_puts_after(&self, n: i64) {
        self.puts_before_failing.store(n, Ordering::SeqCst);
    }

    pub fn heal(&self) {
        self.puts_before_failing.store(-1, Ordering::SeqCst);
        self.failing_deletes.store(false, Ordering::SeqCst);
    }

    pub fn fail_deletes(&self) {
        self.failing_deletes.store(true, Ordering::SeqCst);
    }

    fn outage() -> object_store::Error {
        object_store::Error::Generic { store: "flaky", source: "storage is down".into() }
    }
}

impl fmt::Display for FlakyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FlakyStore")
    }
}

#[async_trait]
impl ObjectStore for FlakyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let left = self.puts_before_failing.load(Ordering::SeqCst);
        if left == 0 {
            return Err(Self::outage());
        }
        if left > 0 {
            self.puts_before_failing.fetch_sub(1, Ordering::SeqCst);
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        if self.failing_deletes.load(Ordering::SeqCst) {
            return locations.map(|_| Err(Self::outage())).boxed();
        }
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// A PNG of `width` × `height` in one colour.
pub fn png(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(width, height, image::Rgb(rgb));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).expect("encode png");
    out.into_inner()
}

/// Registers `identifier` and returns its access token.
pub async fn access_token(app: &TestApp, identifier: &str) -> String {
    token(&app.register(identifier).await, "access_token")
}

/// A registered user, as chat tests use them.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: String,
    pub token: String,
}

impl TestApp {
    /// Registers `username` and returns its id and access token.
    pub async fn person(&self, username: &str) -> Person {
        let data = self.register(username).await;
        Person { id: data["user"]["id"].as_str().unwrap().to_owned(), token: token(&data, "access_token") }
    }

    /// `owner` creates a group with `members`; returns the chat id.
    pub async fn group(&self, owner: &Person, title: &str, members: &[&Person]) -> String {
        let ids: Vec<&str> = members.iter().map(|p| p.id.as_str()).collect();
        let body = json!({"type": "group", "title": title, "member_ids": ids});
        let response = self.send_json(Method::POST, "/api/v1/chats", body, Some(&owner.token)).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
        response.data()["chat"]["id"].as_str().unwrap().to_owned()
    }

    /// `a` opens the direct chat with `b`; returns its id.
    pub async fn direct(&self, a: &Person, b: &Person) -> String {
        let body = json!({"type": "direct", "user_id": b.id});
        let response = self.send_json(Method::POST, "/api/v1/chats", body, Some(&a.token)).await;
        assert!(response.status.is_success(), "{}", response.text);
        response.data()["chat"]["id"].as_str().unwrap().to_owned()
    }

    /// `who` sends a text message; returns the message.
    pub async fn say(&self, who: &Person, chat: &str, text: &str) -> Value {
        let path = format!("/api/v1/chats/{chat}/messages");
        let response = self.send_json(Method::POST, &path, json!({"text": text}), Some(&who.token)).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
        response.data()["message"].clone()
    }

    /// A page of history as `who` sees it, with a raw query string.
    pub async fn history(&self, who: &Person, chat: &str, query: &str) -> TestResponse {
        self.get(&format!("/api/v1/chats/{chat}/messages?{query}"), Some(&who.token)).await
    }
}

/// The `text` of each message in a history answer.
pub fn texts(response: &TestResponse) -> Vec<String> {
    response.data()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap_or("<none>").to_owned())
        .collect()
}

/// A TCP proxy in front of a database server that passes the client's bytes straight on and
/// holds each chunk of the server's answers back by a fixed delay, in order.
pub struct DelayingProxy;

impl DelayingProxy {
    /// Starts one for the host and port of `url` and returns `url` pointing at it.
    pub async fn in_front_of(url: &str, delay: std::time::Duration) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (scheme, rest) = url.split_once("://").expect("a URL");
        let (auth, rest) = rest.rsplit_once('@').map_or(("", rest), |(a, r)| (a, r));
        let (host_port, path) = rest.split_once('/').unwrap_or((rest, ""));
        let upstream = if host_port.contains(':') { host_port.to_owned() } else { format!("{host_port}:5432") };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let local = listener.local_addr().expect("proxy address");
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { continue };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                tokio::spawn(async move { tokio::io::copy(&mut client_read, &mut server_write).await });
                tokio::spawn(async move {
                    let mut buf = vec![0; 64 * 1024];
                    while let Ok(n @ 1..) = server_read.read(&mut buf).await {
                        tokio::time::sleep(delay).await;
                        if client_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let auth = if auth.is_empty() { String::new() } else { format!("{auth}@") };
        format!("{scheme}://{auth}{local}/{path}")
    }
}
