//! `App`: the resources and services a request may need, built once at start, and no use case
//! of its own. Handlers, socket commands and pages call the services (`app.accounts`,
//! `app.profiles`, `app.chats`); the resources are there for what the interfaces do themselves
//! (authenticate, count, serve media); the rate limits and the mailer belong to the services
//! that apply and send them. `AppState(Arc<App>)` is the one piece of shared state;
//! tests build an `App` with their own parts through [`AppBuilder`].

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;

use crate::admin::Admin;
use crate::auth::{Accounts, Auth, KeyRing, PasswordHasher, TokenKeys};
use crate::chat::Chats;
use crate::config::Config;
use crate::limits::{Limits, MemoryLimiter, RateLimiter, RedisLimiter};
use crate::mail::Mailer;
use crate::media::{Collector, Media};
use crate::presence::Presence;
use crate::profile::Profiles;
use crate::realtime::presence::Timing;
use crate::realtime::{Bus, Hub, Realtime, Tracker};
use crate::store::Store;
use crate::telemetry::Metrics;

pub struct App {
    // Resources.
    pub config: Config,
    pub store: Store,
    pub auth: Arc<Auth>,
    pub media: Arc<Media>,
    pub metrics: Metrics,
    pub realtime: Arc<Realtime>,
    // Services.
    pub accounts: Accounts,
    pub profiles: Profiles,
    pub chats: Chats,
    pub presence: Presence,
    pub collector: Collector,
    pub admin: Admin,
}

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

impl App {
    /// The production wiring: connect and migrate the database, load (or create) signing keys.
    pub async fn from_config(config: Config) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
        let store = Store::connect_with(&config.database_url(), config.database_max_connections)
            .await
            .context("connecting to the database")?;
        store.migrate().await.context("running migrations")?;
        let keys = KeyRing::open(&config, &store).await?;
        AppBuilder::with_key_ring(config, store, keys).build().await
    }
}

/// Builds an [`App`] from its parts; anything not given gets the default implementation.
pub struct AppBuilder {
    config: Config,
    store: Store,
    keys: Arc<KeyRing>,
    media: Option<Media>,
}

impl AppBuilder {
    /// With fixed keys (tests and benchmarks).
    pub fn new(config: Config, store: Store, keys: TokenKeys) -> Self {
        Self::with_key_ring(config, store, Arc::new(keys.into()))
    }

    pub fn with_key_ring(config: Config, store: Store, keys: Arc<KeyRing>) -> Self {
        Self { config, store, keys, media: None }
    }

    pub fn media(mut self, media: Media) -> Self {
        self.media = Some(media);
        self
    }

    /// Connects to Redis when `redis_url` is set: the bus, the Socket.IO adapter and the rate
    /// limiter then span every instance on it.
    pub async fn build(self) -> anyhow::Result<App> {
        let Self { config, store, keys, media } = self;
        let bus = match &config.redis_url {
            None => Bus::local(),
            Some(url) => {
                let client = redis_client(url.expose_secret()).context("redis_url")?;
                Bus::redis(client, &config.redis_prefix).await.context("connecting to Redis (redis_url)")?
            }
        };
        let limiter: Box<dyn RateLimiter> = match bus.redis_client() {
            Some(client) => Box::new(RedisLimiter::new(client.clone(), &config.redis_prefix).await?),
            None => Box::new(MemoryLimiter::default()),
        };
        let mut media = match media {
            Some(media) => media,
            None => Media::from_config(&config)?,
        };
        media.set_link_secret(store.shared_secret("attachment_links").await.context("reading the shared secrets")?);
        let media = Arc::new(media);
        let mailer = Arc::new(Mailer::from_config(&config)?);
        let hasher = PasswordHasher::new(&config.auth)?;
        let auth = Arc::new(Auth::new(
            store.clone(),
            hasher,
            keys,
            Duration::from_secs(config.auth.session_cache_secs),
            Duration::from_secs(config.auth.refresh_ttl_days * 24 * 3600),
            Duration::from_secs(config.auth.refresh_reuse_grace_secs),
        ));
        let limits = Arc::new(Limits::new(&config.limits, limiter));
        let metrics = Metrics::new();
        let hub = Hub::new(config.realtime.queue_len, metrics.slow_sockets.clone());
        let timing = Timing {
            expiry: Duration::from_secs(config.realtime.presence_expiry_secs),
            quiet: Duration::from_secs(config.realtime.presence_quiet_secs),
        };
        let (tracker, news) = Tracker::start(bus.redis_client().map(|c| (c, config.redis_prefix.as_str())), timing)
            .await
            .context("connecting to Redis for presence")?;
        let realtime = Arc::new(Realtime::new(hub, bus, tracker, auth.session_cache(), store.clone()));
        let presence = Presence::new(store.clone(), realtime.clone(), news);

        let collector = Collector::new(store.clone(), media.clone());
        let accounts = Accounts::new(store.clone(), auth.clone(), limits.clone(), mailer);
        let chats = Chats::new(
            store.clone(),
            limits.clone(),
            media.clone(),
            realtime.clone(),
            presence.clone(),
            collector.clone(),
        );
        let profiles = Profiles::new(
            store.clone(),
            auth.clone(),
            limits.clone(),
            media.clone(),
            realtime.clone(),
            collector.clone(),
            chats.clone(),
            presence.clone(),
        );
        let admin = Admin::new(store.clone(), auth.clone(), profiles.clone(), chats.clone());
        Ok(App { config, store, auth, media, metrics, realtime, accounts, profiles, chats, presence, collector, admin })
    }
}

/// A Redis client speaking RESP3, which the Socket.IO adapter needs.
fn redis_client(url: &str) -> redis::RedisResult<redis::Client> {
    if url.contains("protocol=") {
        return redis::Client::open(url);
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    redis::Client::open(format!("{url}{separator}protocol=resp3"))
}
