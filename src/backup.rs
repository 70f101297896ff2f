//! `parlor backup DIR` and `parlor restore DIR`: a consistent copy of everything a deployment
//! keeps (database, media, key files), taken while the server runs, and put back.
//!
//! Consistency rests on two facts. The database copy is one snapshot: SQLite's `VACUUM INTO`,
//! or `pg_dump`, which reads in one repeatable-read transaction. And every object the snapshot
//! names is still in storage when it is copied: objects are written before the rows that name
//! them (§11 of the design), and while the backup runs no instance deletes any (a hold in
//! `media_holds` postpones every deletion to the hold's end). Objects written after the
//! snapshot may be copied or not; no row of the snapshot names them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::auth::tokens::write_private;
use crate::config::Config;
use crate::media::Media;
use crate::store::Store;

/// How long a hold lasts unless renewed: a backup that dies stops holding media this soon.
const HOLD_FOR: Duration = Duration::from_secs(10 * 60);
/// How often a running backup renews its hold.
const RENEW_EVERY: Duration = Duration::from_secs(60);
/// Objects copied at once.
const COPIES_AT_ONCE: usize = 8;

const SQLITE_FILE: &str = "parlor.db";
const POSTGRES_FILE: &str = "parlor.pgdump";
const MANIFEST: &str = "manifest.json";

/// What a backup holds, written beside it as `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: u32,
    pub parlor_version: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// `sqlite` (`parlor.db`) or `postgres` (`parlor.pgdump`, `pg_dump`'s custom format).
    pub database: String,
    pub objects: u64,
    pub object_bytes: u64,
    /// Key files copied (`keys/`): only when the signing keys are files, not in the database.
    pub key_files: u64,
}

/// Backs up the deployment `config` describes, through its open `store` and `media`, into
/// `dir`, which must be new or empty.
pub async fn backup(config: &Config, store: &Store, media: &Media, dir: &Path) -> anyhow::Result<Manifest> {
    prepare_empty(dir)?;
    let created_at = OffsetDateTime::now_utc();
    store.hold_media("backup", created_at + HOLD_FOR).await.context("holding media deletions")?;
    let renewing = tokio::spawn({
        let store = store.clone();
        async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                if let Err(err) = store.hold_media("backup", OffsetDateTime::now_utc() + HOLD_FOR).await {
                    tracing::warn!(error = %err, "renewing the backup's media hold failed");
                }
            }
        }
    });
    let result = copy_everything(config, store, media, dir, created_at).await;
    renewing.abort();
    if let Err(err) = store.release_media_hold("backup").await {
        tracing::warn!(error = %err, "releasing the backup's media hold failed; it ends by itself");
    }
    let manifest = result?;
    write_private(&dir.join(MANIFEST), &serde_json::to_vec_pretty(&manifest)?)?;
    Ok(manifest)
}

async fn copy_everything(
    config: &Config,
    store: &Store,
    media: &Media,
    dir: &Path,
    created_at: OffsetDateTime,
) -> anyhow::Result<Manifest> {
    let database = store.backend();
    match database {
        "sqlite" => store.sqlite_snapshot(&dir.join(SQLITE_FILE)).await.context("copying the SQLite database")?,
        "postgres" => pg_dump(&config.database_url(), &dir.join(POSTGRES_FILE)).await?,
        other => bail!("cannot back up a {other} database"),
    }
    let (objects, object_bytes) = copy_objects(media.store().as_ref(), &local_store(&dir.join("media"))?).await?;
    let key_files = copy_key_files(&config.keys_dir(), &dir.join("keys"))?;
    Ok(Manifest {
        format: 1,
        parlor_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at,
        database: database.to_owned(),
        objects,
        object_bytes,
        key_files,
    })
}

/// Puts the backup in `dir` back into the deployment `config` describes: its database must be
/// empty (a new SQLite file, or a PostgreSQL database with no tables) and its media storage
/// new. Run it with no instance started.
pub async fn restore(config: &Config, dir: &Path) -> anyhow::Result<Manifest> {
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(dir.join(MANIFEST)).with_context(|| format!("reading {}", dir.join(MANIFEST).display()))?,
    )
    .context("the backup's manifest.json is not one Parlor wrote")?;
    if manifest.format != 1 {
        bail!("this backup has format {}; this Parlor reads format 1", manifest.format);
    }
    std::fs::create_dir_all(&config.data_dir)?;
    let url = config.database_url();
    match (manifest.database.as_str(), url.starts_with("sqlite:")) {
        ("sqlite", true) => {
            let target = config.data_dir.join(SQLITE_FILE);
            if config.database_url.is_some() {
                bail!("restore a SQLite backup into the default database (<data_dir>/parlor.db): unset database_url");
            }
            if target.exists() {
                bail!("{} exists: restore into a new data directory", target.display());
            }
            std::fs::copy(dir.join(SQLITE_FILE), &target).context("copying the database file")?;
        }
        ("postgres", false) => {
            let store = Store::connect(&url).await?;
            if store.has_tables().await? {
                bail!("the database at database_url has tables: restore into an empty one");
            }
            drop(store);
            pg_restore(&url, &dir.join(POSTGRES_FILE)).await?;
        }
        (backup, _) => bail!("this is a {backup} backup; restore it into a {backup} database"),
    }
    let media = Media::from_config(config)?;
    copy_objects(&local_store(&dir.join("media"))?, media.store().as_ref()).await.context("restoring media")?;
    copy_key_files(&dir.join("keys"), &config.keys_dir())?;
    Ok(manifest)
}

fn prepare_empty(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!("{} is not empty: back up into a new directory", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // A backup holds every secret the deployment has.
    #[cfg(unix)]
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    Ok(())
}

fn local_store(dir: &Path) -> anyhow::Result<LocalFileSystem> {
    std::fs::create_dir_all(dir)?;
    Ok(LocalFileSystem::new_with_prefix(dir)?)
}

/// Copies every object of `from` into `to`, a few at a time: how many, and their bytes.
async fn copy_objects(from: &dyn ObjectStore, to: &dyn ObjectStore) -> anyhow::Result<(u64, u64)> {
    let copied: Vec<u64> = from
        .list(None)
        .map_err(anyhow::Error::from)
        .map_ok(|meta| async move {
            let bytes = from.get(&meta.location).await?.bytes().await?;
            let size = bytes.len() as u64;
            to.put(&meta.location, PutPayload::from(bytes)).await?;
            Ok::<_, anyhow::Error>(size)
        })
        .try_buffer_unordered(COPIES_AT_ONCE)
        .try_collect()
        .await
        .context("copying media")?;
    Ok((copied.len() as u64, copied.iter().sum()))
}

/// Copies the `*.pem` key files of `from`, if any, into `to` (readable by the owner only).
fn copy_key_files(from: &Path, to: &Path) -> anyhow::Result<u64> {
    let Ok(entries) = std::fs::read_dir(from) else { return Ok(0) };
    let files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "pem"))
        .collect();
    if !files.is_empty() {
        std::fs::create_dir_all(to)?;
    }
    for file in &files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        write_private(&to.join(file.file_name().unwrap_or_default()), &bytes)?;
    }
    Ok(files.len() as u64)
}

/// `url` without its password, and the password: given to `pg_dump`/`pg_restore` in
/// `PGPASSWORD`, never on a command line that `ps` shows.
fn split_password(url: &str) -> anyhow::Result<(String, Option<String>)> {
    let mut parsed = url::Url::parse(url).context("database_url is not a URL")?;
    let password = parsed.password().map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned());
    let _ = parsed.set_password(None);
    Ok((parsed.to_string(), password))
}

async fn pg_dump(url: &str, file: &Path) -> anyhow::Result<()> {
    let (url, password) = split_password(url)?;
    let mut command = tokio::process::Command::new("pg_dump");
    command.arg("--format=custom").arg("--no-owner").arg("--file").arg(file).arg("--dbname").arg(&url);
    run_pg_tool(command, password, "pg_dump").await
}

async fn pg_restore(url: &str, file: &Path) -> anyhow::Result<()> {
    let (url, password) = split_password(url)?;
    let mut command = tokio::process::Command::new("pg_restore");
    command.arg("--no-owner").arg("--exit-on-error").arg("--dbname").arg(&url).arg(file);
    run_pg_tool(command, password, "pg_restore").await
}

async fn run_pg_tool(mut command: tokio::process::Command, password: Option<String>, name: &str) -> anyhow::Result<()> {
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let output = command
        .output()
        .await
        .with_context(|| format!("running {name}: install the PostgreSQL client tools of the server's version"))?;
    if !output.status.success() {
        bail!("{name} failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}
