//! Typed settings: built-in defaults, then `parlor.toml`, then `PARLOR_*` environment variables.
//!
//! Nested keys use a double underscore in the environment: `[auth] access_ttl_secs` is
//! `PARLOR_AUTH__ACCESS_TTL_SECS`. URLs that may carry passwords are [`SecretString`]s, so the
//! `Debug` output of a `Config` never shows them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Argon2id floor: OWASP's minimum for argon2id (m = 19 MiB, t = 2, p = 1).
pub const ARGON2_MIN_MEMORY_KIB: u32 = 19 * 1024;
pub const ARGON2_MIN_ITERATIONS: u32 = 2;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Where the SQLite file, signing keys, logs, media and outbox live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: `sqlite://<data_dir>/parlor.db`.
    pub database_url: Option<SecretString>,
    /// PostgreSQL connections this instance may hold at once (opened as needed). Every
    /// instance's share must fit under the server's `max_connections` (100 by default) with
    /// room for others: six instances at the default take 120. Unused on SQLite.
    pub database_max_connections: u32,
    /// Redis for the cross-instance bus, Socket.IO adapter and shared limits; unset: in-process.
    pub redis_url: Option<SecretString>,
    /// Prefix of every Redis key and channel, so several deployments can share one server.
    pub redis_prefix: String,
    /// Local media directory; default `<data_dir>/media`. Unused when `s3.bucket` is set.
    pub media_dir: Option<PathBuf>,
    /// Base URL media is served from (a CDN, nginx or the bucket); default `<public_url>/media`,
    /// served by Parlor itself.
    pub public_media_url: Option<String>,
    /// Base of absolute URLs, e.g. `https://chat.example.com`; default `http://<bind>`.
    pub public_url: Option<String>,
    /// SMTP server for outgoing mail (`smtp://user:pass@host:587?tls=required`, `smtps://…`);
    /// unset: each mail is written as an `.eml` file to `<data_dir>/outbox/`.
    pub smtp_url: Option<SecretString>,
    /// `From:` of outgoing mail.
    pub mail_from: String,
    /// Log filter for stdout and the JSON log file (`tracing` env-filter syntax).
    pub log: String,
    /// Trust the last `X-Forwarded-For` hop as the client address (only behind your own proxy).
    pub trust_forwarded_for: bool,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub media: MediaConfig,
    pub s3: S3Config,
    pub realtime: RealtimeConfig,
    pub server: ServerConfig,
}

/// The connections themselves: how long a client may take, and how many it may hold.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Seconds a request's head (request line and headers) may take to arrive, counted from the
    /// connection's opening or the previous answer: a kept-alive connection idle this long is
    /// closed too.
    pub header_timeout_secs: u64,
    /// Longest pause, in seconds, between two pieces of a request body.
    pub body_idle_secs: u64,
    /// Seconds a whole request body may take to arrive.
    pub body_timeout_secs: u64,
    /// Open connections one client address may hold (an IPv6 address counts by its /64); 0: no
    /// cap. Not applied with `trust_forwarded_for`, where every connection is the proxy's: cap
    /// there (the nginx configuration does).
    pub connections_per_address: u32,
    /// Open connections the server holds in all (sockets and HTTP); past that a connection is
    /// answered 503 `server_full` and closed, except `/healthz` and `/readyz`, answered from a small
    /// reserve so a full instance is not taken for dead. 0 (the default): the process's descriptor limit
    /// less [`DESCRIPTOR_RESERVE`] for the database, files, and the refusals themselves.
    pub max_connections: u32,
    /// Seconds a stopping server gives requests in flight to finish.
    pub shutdown_grace_secs: u64,
}

/// Socket.IO and plain WebSocket connections.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RealtimeConfig {
    /// Browser origins allowed to open sockets (`https://app.example.com`), or `*` for any.
    /// The origin of `public_url` is always allowed; clients that send no `Origin` (not
    /// browsers) are not affected.
    pub allowed_origins: Vec<String>,
    /// Events waiting for one connection; a connection that falls this far behind is closed.
    pub queue_len: usize,
    /// Largest frame (and message) a client may send on `/api/v1/ws`, bytes.
    pub max_frame_bytes: usize,
    /// Seconds between keep-alive pings.
    pub ping_interval_secs: u64,
    /// Seconds to wait for the answer to a ping before closing the connection.
    pub ping_timeout_secs: u64,
    /// Commands one connection may send a second, on average (bursts of three seconds' worth).
    pub commands_per_second: u32,
    /// How long a user stays online after their instance stops answering (a crash), seconds:
    /// each instance renews its claim on its users' presence every third of this.
    pub presence_expiry_secs: u64,
    /// At most one `presence.changed` per user in this many seconds; a change within it is
    /// announced (if it still holds) when it ends.
    pub presence_quiet_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Lifetime of access tokens (JWT), seconds.
    pub access_ttl_secs: u64,
    /// Lifetime of a session (and so of its refresh tokens) without being refreshed, days.
    pub refresh_ttl_days: u64,
    /// `iss` claim written and required.
    pub issuer: String,
    /// `aud` claim written and required.
    pub audience: String,
    /// Directory of Ed25519 signing keys (PKCS#8 PEM); default `<data_dir>/keys`.
    pub keys_dir: Option<PathBuf>,
    /// Argon2id memory cost, KiB.
    pub argon2_memory_kib: u32,
    /// Argon2id iterations.
    pub argon2_iterations: u32,
    /// Argon2id lanes.
    pub argon2_parallelism: u32,
    /// How long a session check stays cached in-process, seconds; revocation invalidates at once.
    pub session_cache_secs: u64,
    /// A refresh token presented again within this many seconds of its rotation is taken for a
    /// race between two requests of its own holder (409, the session lives); later, for a replay
    /// by someone else (the session is revoked).
    pub refresh_reuse_grace_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    /// Largest JSON body accepted, bytes.
    pub json_body_bytes: usize,
    /// Failed logins for one account from one address before 429.
    pub login_failures_per_account: u32,
    /// Failed logins from one address, all accounts together, before 429.
    pub login_failures_per_address: u32,
    /// Failed logins for one account from addresses it has no session from, all of them
    /// together, before those addresses get 429 (its own known addresses still log in).
    pub login_failures_per_account_from_new_addresses: u32,
    /// Window of the login failure limits, seconds.
    pub login_window_secs: u64,
    /// Registrations from one address per hour.
    pub registrations_per_hour: u32,
    /// Token refreshes from one address per hour.
    pub refreshes_per_hour: u32,
    /// Password-reset mails for one e-mail address per hour.
    pub password_resets_per_account_hour: u32,
    /// Password-reset requests and failed confirmations from one address per hour.
    pub password_resets_per_address_hour: u32,
    /// Messages one user may send (or forward) per minute, across all chats and instances.
    pub messages_per_minute: u32,
    /// Message searches one user may run per minute.
    pub searches_per_minute: u32,
    /// Data exports one user may download per day.
    pub exports_per_day: u32,
    /// Attachment uploads one user may make per hour, on all instances together.
    pub uploads_per_hour: u32,
    /// Uploads one user may have waiting for a message at once (sent or expired ones free
    /// their place).
    pub unsent_uploads: u32,
    /// Bytes those waiting uploads may hold together.
    pub unsent_upload_bytes: u64,
}

/// Avatar and attachment processing.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MediaConfig {
    /// Largest avatar upload accepted, bytes (the raw file; base64 bodies may be 4/3 of it).
    pub avatar_bytes: usize,
    /// Largest message attachment accepted, bytes.
    pub attachment_bytes: usize,
    /// Largest image accepted, width × height, checked from the header before decoding.
    pub max_pixels: u64,
    /// Images processed at once; default: one per core.
    pub workers: Option<usize>,
    /// JPEG quality of stored images, 1–100.
    pub jpeg_quality: u8,
    /// How long an attachment link stays valid, seconds (60–604800). A link handed out now
    /// expires between half of this and all of it from now; a removed member's links die with it.
    pub attachment_link_secs: u64,
    /// Attachment links are presigned S3 URLs, straight to the bucket (`s3.endpoint` must be
    /// reachable by clients), instead of Parlor's own signed `/media/attachments/…` links.
    pub presigned_attachments: bool,
}

/// S3-compatible object storage for media (AWS S3, Garage, MinIO…). Set `bucket` to use it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct S3Config {
    pub bucket: Option<String>,
    /// Endpoint URL for non-AWS servers, e.g. `http://127.0.0.1:3900`; path-style requests.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    /// Allow a plain `http://` endpoint (a server on loopback or a private network).
    pub allow_http: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            database_max_connections: crate::store::DEFAULT_PG_CONNECTIONS,
            redis_url: None,
            redis_prefix: "parlor".to_owned(),
            media_dir: None,
            public_media_url: None,
            public_url: None,
            smtp_url: None,
            mail_from: "Parlor <parlor@localhost>".to_owned(),
            log: "info".to_owned(),
            trust_forwarded_for: false,
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            media: MediaConfig::default(),
            s3: S3Config::default(),
            realtime: RealtimeConfig::default(),
            server: ServerConfig::default(),
        }
    }
}

/// Descriptors the automatic `server.max_connections` leaves for everything but connections.
pub const DESCRIPTOR_RESERVE: u64 = 1000;

impl ServerConfig {
    /// The server-wide connection cap in force: `max_connections`, or when 0 the descriptor
    /// limit less [`DESCRIPTOR_RESERVE`] (no cap if the limit cannot be read or is unlimited).
    pub fn connection_limit(&self) -> u32 {
        if self.max_connections > 0 {
            return self.max_connections;
        }
        descriptor_limit()
            .map(|limit| u32::try_from(limit.saturating_sub(DESCRIPTOR_RESERVE).max(1)).unwrap_or(0))
            .unwrap_or(0)
    }
}

#[cfg(unix)]
fn descriptor_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

#[cfg(not(unix))]
fn descriptor_limit() -> Option<u64> {
    None
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            header_timeout_secs: 20,
            body_idle_secs: 30,
            body_timeout_secs: 300,
            connections_per_address: 256,
            max_connections: 0,
            shutdown_grace_secs: 30,
        }
    }
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            queue_len: 256,
            max_frame_bytes: 64 * 1024,
            ping_interval_secs: 25,
            ping_timeout_secs: 20,
            commands_per_second: 10,
            presence_expiry_secs: 30,
            presence_quiet_secs: 10,
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            avatar_bytes: 10 * 1024 * 1024,
            attachment_bytes: 25 * 1024 * 1024,
            max_pixels: 40_000_000,
            workers: None,
            jpeg_quality: 85,
            attachment_link_secs: 3600,
            presigned_attachments: false,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_ttl_secs: 15 * 60,
            refresh_ttl_days: 30,
            issuer: "parlor".to_owned(),
            audience: "parlor".to_owned(),
            keys_dir: None,
            argon2_memory_kib: ARGON2_MIN_MEMORY_KIB,
            argon2_iterations: ARGON2_MIN_ITERATIONS,
            argon2_parallelism: 1,
            session_cache_secs: 30,
            refresh_reuse_grace_secs: 10,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            json_body_bytes: 64 * 1024,
            login_failures_per_account: 10,
            login_failures_per_address: 100,
            login_failures_per_account_from_new_addresses: 50,
            login_window_secs: 15 * 60,
            registrations_per_hour: 200,
            refreshes_per_hour: 1000,
            password_resets_per_account_hour: 5,
            password_resets_per_address_hour: 30,
            messages_per_minute: 120,
            searches_per_minute: 60,
            exports_per_day: 3,
            uploads_per_hour: 100,
            unsent_uploads: 20,
            unsent_upload_bytes: 256 * 1024 * 1024,
        }
    }
}

/// A configuration problem, always naming the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Defaults → the TOML file (if it exists) → `PARLOR_*` environment, then validated.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        let config: Config = Figment::new()
            .merge(Toml::file(file))
            .merge(Env::prefixed("PARLOR_").split("__").ignore(&["config", "test_database_url", "test_redis_url"]))
            .extract()
            .map_err(|e| ConfigError(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError(format!("`{key}` {why}")));
        if let Some(url) = &self.database_url {
            let url = url.expose_secret();
            if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return bad("database_url", "must start with sqlite: or postgres://");
            }
        }
        if self.database_max_connections == 0 {
            return bad("database_max_connections", "must be at least 1");
        }
        for (key, url) in [("public_url", &self.public_url), ("public_media_url", &self.public_media_url)] {
            if let Some(url) = url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return bad(key, "must be an http:// or https:// URL");
            }
        }
        if let Some(url) = &self.smtp_url {
            let url = url.expose_secret();
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                return bad("smtp_url", "must start with smtp:// or smtps://");
            }
        }
        if self.mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return bad("mail_from", "must be a mailbox such as `Parlor <parlor@example.org>`");
        }
        let media = &self.media;
        if !(1024..=256 * 1024 * 1024).contains(&media.avatar_bytes) {
            return bad("media.avatar_bytes", "must be between 1024 and 268435456");
        }
        if !(1024..=1024 * 1024 * 1024).contains(&media.attachment_bytes) {
            return bad("media.attachment_bytes", "must be between 1024 and 1073741824");
        }
        if !(1..=1_000_000_000).contains(&media.max_pixels) {
            return bad("media.max_pixels", "must be between 1 and 1000000000");
        }
        if media.workers == Some(0) {
            return bad("media.workers", "must be at least 1");
        }
        if !(1..=100).contains(&media.jpeg_quality) {
            return bad("media.jpeg_quality", "must be between 1 and 100");
        }
        if !(60..=7 * 24 * 3600).contains(&media.attachment_link_secs) {
            return bad("media.attachment_link_secs", "must be between 60 and 604800");
        }
        if media.presigned_attachments && self.s3.bucket.is_none() {
            return bad("media.presigned_attachments", "needs S3 storage (`s3.bucket`)");
        }
        if let Some(bucket) = &self.s3.bucket {
            if bucket.is_empty() {
                return bad("s3.bucket", "must not be empty");
            }
            if let Some(endpoint) = &self.s3.endpoint
                && !(endpoint.starts_with("https://") || (self.s3.allow_http && endpoint.starts_with("http://")))
            {
                return bad("s3.endpoint", "must be an https:// URL (or http:// with `s3.allow_http`)");
            }
        }
        let server = &self.server;
        for (key, secs) in [
            ("server.header_timeout_secs", server.header_timeout_secs),
            ("server.body_idle_secs", server.body_idle_secs),
            ("server.body_timeout_secs", server.body_timeout_secs),
        ] {
            if !(1..=3600).contains(&secs) {
                return bad(key, "must be between 1 and 3600");
            }
        }
        if server.shutdown_grace_secs > 3600 {
            return bad("server.shutdown_grace_secs", "must be at most 3600");
        }
        if let Some(url) = &self.redis_url {
            let url = url.expose_secret();
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return bad("redis_url", "must start with redis:// or rediss://");
            }
        }
        if self.redis_prefix.is_empty() || self.redis_prefix.contains(['#', ' ']) {
            return bad("redis_prefix", "must be a non-empty word without `#` or spaces");
        }
        let realtime = &self.realtime;
        for origin in &realtime.allowed_origins {
            if origin != "*" && !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return bad("realtime.allowed_origins", "must hold `*` or origins such as https://app.example.com");
            }
        }
        if !(1..=65_536).contains(&realtime.queue_len) {
            return bad("realtime.queue_len", "must be between 1 and 65536");
        }
        if !(1024..=16 * 1024 * 1024).contains(&realtime.max_frame_bytes) {
            return bad("realtime.max_frame_bytes", "must be between 1024 and 16777216");
        }
        if !(1..=3600).contains(&realtime.ping_interval_secs) {
            return bad("realtime.ping_interval_secs", "must be between 1 and 3600");
        }
        if !(1..=3600).contains(&realtime.ping_timeout_secs) {
            return bad("realtime.ping_timeout_secs", "must be between 1 and 3600");
        }
        if !(1..=10_000).contains(&realtime.commands_per_second) {
            return bad("realtime.commands_per_second", "must be between 1 and 10000");
        }
        if !(3..=3600).contains(&realtime.presence_expiry_secs) {
            return bad("realtime.presence_expiry_secs", "must be between 3 and 3600");
        }
        if realtime.presence_quiet_secs > 3600 {
            return bad("realtime.presence_quiet_secs", "must be between 0 and 3600");
        }
        let auth = &self.auth;
        if auth.refresh_reuse_grace_secs > 60 {
            return bad("auth.refresh_reuse_grace_secs", "must be between 0 and 60");
        }
        if !(60..=24 * 3600).contains(&auth.access_ttl_secs) {
            return bad("auth.access_ttl_secs", "must be between 60 and 86400");
        }
        if !(1..=365).contains(&auth.refresh_ttl_days) {
            return bad("auth.refresh_ttl_days", "must be between 1 and 365");
        }
        if auth.argon2_memory_kib < ARGON2_MIN_MEMORY_KIB {
            return bad("auth.argon2_memory_kib", "must be at least 19456 (OWASP minimum)");
        }
        if auth.argon2_iterations < ARGON2_MIN_ITERATIONS {
            return bad("auth.argon2_iterations", "must be at least 2 (OWASP minimum)");
        }
        if !(1..=16).contains(&auth.argon2_parallelism) {
            return bad("auth.argon2_parallelism", "must be between 1 and 16");
        }
        if auth.issuer.is_empty() || auth.audience.is_empty() {
            return bad("auth.issuer", "and `auth.audience` must not be empty");
        }
        if auth.session_cache_secs > 300 {
            return bad("auth.session_cache_secs", "must be at most 300");
        }
        let limits = &self.limits;
        if !(1024..=16 * 1024 * 1024).contains(&limits.json_body_bytes) {
            return bad("limits.json_body_bytes", "must be between 1024 and 16777216");
        }
        for (key, value) in [
            ("limits.login_failures_per_account", limits.login_failures_per_account),
            ("limits.login_failures_per_address", limits.login_failures_per_address),
            (
                "limits.login_failures_per_account_from_new_addresses",
                limits.login_failures_per_account_from_new_addresses,
            ),
            ("limits.registrations_per_hour", limits.registrations_per_hour),
            ("limits.refreshes_per_hour", limits.refreshes_per_hour),
            ("limits.password_resets_per_account_hour", limits.password_resets_per_account_hour),
            ("limits.password_resets_per_address_hour", limits.password_resets_per_address_hour),
            ("limits.messages_per_minute", limits.messages_per_minute),
            ("limits.searches_per_minute", limits.searches_per_minute),
            ("limits.exports_per_day", limits.exports_per_day),
            ("limits.uploads_per_hour", limits.uploads_per_hour),
            ("limits.unsent_uploads", limits.unsent_uploads),
        ] {
            if value == 0 {
                return bad(key, "must be at least 1");
            }
        }
        if limits.unsent_upload_bytes < self.media.attachment_bytes as u64 {
            return bad("limits.unsent_upload_bytes", "must be at least `media.attachment_bytes`");
        }
        if limits.login_window_secs == 0 {
            return bad("limits.login_window_secs", "must be at least 1");
        }
        Ok(())
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose_secret().to_owned(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("parlor.db").display()),
        }
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.auth.keys_dir.clone().unwrap_or_else(|| self.data_dir.join("keys"))
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.data_dir.join("logs")
    }

    pub fn media_dir(&self) -> PathBuf {
        self.media_dir.clone().unwrap_or_else(|| self.data_dir.join("media"))
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }

    /// Where media URLs point: `public_media_url`, or Parlor's own `/media`.
    pub fn media_base_url(&self) -> String {
        match &self.public_media_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("{}/media", self.public_url()),
        }
    }

    /// Whether a browser at `origin` may open a socket.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        let own = self.public_url();
        let own_origin = own.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
        origin.eq_ignore_ascii_case(&own_origin)
            || self
                .realtime
                .allowed_origins
                .iter()
                .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }

    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.bind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_point_into_the_data_dir() {
        let config = Config::default();
        config.validate().unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url(), "sqlite://./data/parlor.db?mode=rwc");
        assert_eq!(config.keys_dir(), PathBuf::from("./data/keys"));
    }

    #[test]
    fn origins_are_compared_as_origins() {
        let mut config = Config { public_url: Some("https://chat.example.com/base/".into()), ..Config::default() };
        assert!(config.origin_allowed("https://chat.example.com"));
        assert!(config.origin_allowed("HTTPS://Chat.Example.com/"));
        assert!(!config.origin_allowed("https://chat.example.com.evil.net"));
        assert!(!config.origin_allowed("http://chat.example.com"));
        assert!(!config.origin_allowed("null"));
        config.realtime.allowed_origins = vec!["https://app.example.org".into()];
        assert!(config.origin_allowed("https://app.example.org"));
        assert!(!config.origin_allowed("https://other.example.org"));
        config.realtime.allowed_origins = vec!["*".into()];
        assert!(config.origin_allowed("https://other.example.org"));
    }

    #[test]
    fn a_weak_argon2_setting_is_refused_naming_the_key() {
        let mut config = Config::default();
        config.auth.argon2_memory_kib = 4096;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("auth.argon2_memory_kib"), "{err}");
    }

    #[test]
    fn an_unknown_database_scheme_is_refused_naming_the_key() {
        let config = Config { database_url: Some("mysql://x".into()), ..Config::default() };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("database_url"), "{err}");
    }

    #[test]
    fn a_database_pool_of_no_connections_is_refused_naming_the_key() {
        let config = Config { database_max_connections: 0, ..Config::default() };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("database_max_connections"), "{err}");
        assert!(Config { database_max_connections: 1, ..Config::default() }.validate().is_ok());
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let config = Config {
            database_url: Some("postgres://parlor:hunter2@db/parlor".into()),
            smtp_url: Some("smtp://mail:s3cret@mx".into()),
            ..Config::default()
        };
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2") && !printed.contains("s3cret"), "{printed}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's own Jail API
    fn environment_overrides_file_and_bad_values_name_their_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("parlor.toml", "bind = \"127.0.0.1:9000\"\n[auth]\naccess_ttl_secs = 600\n")?;
            jail.set_env("PARLOR_BIND", "127.0.0.1:9001");
            let config = Config::load(Path::new("parlor.toml")).map_err(|e| e.to_string())?;
            assert_eq!(config.bind.port(), 9001);
            assert_eq!(config.auth.access_ttl_secs, 600);

            jail.set_env("PARLOR_AUTH__ACCESS_TTL_SECS", "soon");
            let err = Config::load(Path::new("parlor.toml")).unwrap_err().to_string();
            assert!(err.to_lowercase().contains("access_ttl_secs"), "{err}");
            Ok(())
        });
    }
}
