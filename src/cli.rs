//! The command line: `serve` (the default), `migrate`, `openapi`, `create-admin`,
//! `rotate-keys`, `export-static`, `backup` and `restore`.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::app::{App, AppState};
use crate::config::Config;
use crate::domain::{Email, NewPassword, Username};
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(name = "parlor", version, about = "Self-hosted user service and messenger back end")]
pub struct Cli {
    /// TOML configuration file; `PARLOR_*` environment variables override it.
    #[arg(long, env = "PARLOR_CONFIG", default_value = "parlor.toml", global = true)]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Create an administrator. The password is read from PARLOR_ADMIN_PASSWORD or standard input.
    CreateAdmin {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: Option<String>,
    },
    /// Add a new signing key shared through the database: every instance verifies with it at
    /// once and signs with it two minutes later; the old key verifies until its tokens expire.
    RotateKeys,
    /// Write the site's static files, under the content-hashed names pages link to, into DIR for
    /// a web server in front of Parlor to serve (deploy/nginx/parlor.conf).
    ExportStatic { dir: PathBuf },
    /// Write a consistent backup (database, media, key files) into DIR, a new directory, while
    /// the server runs. On PostgreSQL it runs `pg_dump`. docs/operations.md says how to restore.
    Backup { dir: PathBuf },
    /// Put a backup made by `parlor backup` into this configuration's empty database and new
    /// media storage, with no instance running. On PostgreSQL it runs `pg_restore`.
    Restore { dir: PathBuf },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            let json = crate::http::openapi().to_pretty_json().context("rendering the OpenAPI document")?;
            writeln!(std::io::stdout().lock(), "{json}")?;
            Ok(())
        }
        Command::Serve => serve(Config::load(&cli.config)?).await,
        Command::Migrate => {
            let config = Config::load(&cli.config)?;
            std::fs::create_dir_all(&config.data_dir)?;
            let store = Store::connect(&config.database_url()).await?;
            store.migrate().await?;
            writeln!(std::io::stderr(), "migrations applied ({})", store.backend())?;
            Ok(())
        }
        Command::CreateAdmin { username, email } => {
            create_admin(Config::load(&cli.config)?, &username, email.as_deref()).await
        }
        Command::RotateKeys => {
            let config = Config::load(&cli.config)?;
            std::fs::create_dir_all(&config.data_dir)?;
            let store = Store::connect(&config.database_url()).await?;
            store.migrate().await?;
            let kid = crate::auth::keyring::rotate(&config, &store).await?;
            writeln!(std::io::stderr(), "new signing key {kid}: verifying now, signing in two minutes")?;
            Ok(())
        }
        Command::Backup { dir } => {
            let config = Config::load(&cli.config)?;
            let store = Store::connect(&config.database_url()).await?;
            store.migrate().await?;
            let media = crate::media::Media::from_config(&config)?;
            let manifest = crate::backup::backup(&config, &store, &media, &dir).await?;
            writeln!(
                std::io::stderr(),
                "backup of the {} database, {} media objects ({} bytes) and {} key files in {}",
                manifest.database,
                manifest.objects,
                manifest.object_bytes,
                manifest.key_files,
                dir.display()
            )?;
            Ok(())
        }
        Command::Restore { dir } => {
            let config = Config::load(&cli.config)?;
            let manifest = crate::backup::restore(&config, &dir).await?;
            writeln!(
                std::io::stderr(),
                "restored the backup of {} ({} database, {} media objects); start parlor to use it",
                manifest.created_at.format(&time::format_description::well_known::Rfc3339)?,
                manifest.database,
                manifest.objects
            )?;
            Ok(())
        }
        Command::ExportStatic { dir } => {
            let names = crate::site::assets::export(&dir).with_context(|| format!("writing into {}", dir.display()))?;
            writeln!(std::io::stderr(), "{} static files in {}: {}", names.len(), dir.display(), names.join(", "))?;
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let _log_guard = crate::telemetry::init(&config.log, &config.logs_dir())?;
    let app = App::from_config(config).await?;
    let bind = app.config.bind;
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("binding {bind}"))?;
    tracing::info!(
        address = %listener.local_addr()?,
        database = app.store.backend(),
        public_url = %app.config.public_url(),
        "parlor is listening"
    );
    let state = AppState(Arc::new(app));
    tokio::spawn(sweep_media_garbage(state.collector.clone(), state.store.clone()));
    tokio::spawn(checkpoint_every_second(state.store.clone()));
    let router = crate::http::router(state.clone()).await?;
    let cap_per_address = !state.config.trust_forwarded_for;
    let farewell = tell_sockets_to_reconnect(&state);
    crate::http::listener::serve(listener, router, &state.config.server, cap_per_address, shutdown_signal(), farewell)
        .await;
    state.presence.leave().await;
    tracing::info!("parlor stopped");
    Ok(())
}

/// On SIGTERM or Ctrl-C, once the listener is closed: every socket is told the server restarts
/// (WebSocket close 1012; Socket.IO's transport closed, which its clients answer by
/// reconnecting), and their tasks get a moment to send that.
async fn tell_sockets_to_reconnect(state: &AppState) {
    let open = state.realtime.hub.ws_count() + state.realtime.hub.sio_count();
    tracing::info!(sockets = open, "stopping: telling sockets to reconnect");
    state.realtime.hub.close_everything().await;
    let websockets = state.metrics.sockets.get_or_create(&crate::telemetry::WEBSOCKET).clone();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while websockets.get() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Once a minute: retries deletions of stored media that failed or were interrupted, and
/// forgets the rows of uploads that expired unsent (their objects are collected as garbage). With
/// several instances each sweeps; deleting an object or a row twice is harmless.
async fn sweep_media_garbage(collector: crate::media::Collector, store: crate::store::Store) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match collector.sweep().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(prefixes = n, "media sweep"),
            Err(err) => tracing::warn!(error = %err, "media sweep failed"),
        }
        match store.forget_expired_uploads(1000).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(uploads = n, "expired unsent uploads forgotten"),
            Err(err) => tracing::warn!(error = %err, "forgetting expired uploads failed"),
        }
    }
}

/// On an SQLite file, once a second: the write-ahead log is copied into the database beside the
/// writers ([`Store::checkpoint`](crate::store::Store::checkpoint)) rather than in a commit.
/// Returns at once on PostgreSQL.
async fn checkpoint_every_second(store: crate::store::Store) {
    use crate::store::Checkpointed;
    let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match store.checkpoint().await {
            Ok(None) => return,
            Ok(Some(Checkpointed::Busy)) => tracing::debug!("checkpoint busy: another connection checkpoints"),
            Ok(Some(Checkpointed::Done { log, copied })) if copied < log => {
                tracing::debug!(log_pages = log, copied_pages = copied, "checkpoint left pages a reader needs")
            }
            Ok(Some(Checkpointed::Done { .. })) => {}
            Err(err) => tracing::warn!(error = %err, "checkpoint failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
}

async fn create_admin(config: Config, username: &str, email: Option<&str>) -> anyhow::Result<()> {
    let username = Username::parse(username).map_err(|e| anyhow::anyhow!("username {e}"))?;
    let email = email.map(Email::parse_new).transpose().map_err(|e| anyhow::anyhow!("email {e}"))?;
    let password = match std::env::var("PARLOR_ADMIN_PASSWORD") {
        Ok(password) => password,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    if password.is_empty() {
        bail!("no password: set PARLOR_ADMIN_PASSWORD or pipe it on standard input");
    }
    let password = NewPassword::parse(&password, &[username.as_str()]).map_err(|e| anyhow::anyhow!("password {e}"))?;
    let app = App::from_config(config).await?;
    let user = app.accounts.create_admin(username, email, password).await?;
    writeln!(std::io::stderr(), "administrator created: {}", user.id)?;
    Ok(())
}
