//! The persistence boundary. Everything above it speaks in domain types; everything below is
//! SeaORM, which renders each query for SQLite or PostgreSQL, chosen by the URL scheme.

mod attachments;
mod audit;
mod browse;
mod chats;
mod columns;
pub mod entity;
mod export;
mod keys;
mod media;
mod members;
mod mentions;
mod messages;
pub mod migration;
mod pins;
mod presence;
mod reactions;
mod resets;
mod roster;
mod search;
mod secrets;
mod sessions;
mod users;

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, SqlErr};
use sea_orm_migration::MigratorTrait;
use time::OffsetDateTime;

use crate::domain::{SessionId, UserId};

pub use attachments::{ATTACH_WITHIN, Attachment};
pub use audit::{AuditEntry, AuditRecord};
pub use browse::{AuditFilter, Slice};
pub use chats::{Chat, ChatCursor, CreatedChat};
pub use export::OwnReaction;
pub use keys::StoredKey;
pub use media::Garbage;
pub use members::{Actor, Member};
pub use messages::{Cursor, Forwarded, Likes, Message, NewMessage, Page, Sent};
pub use pins::Pin;
pub use reactions::{MAX_DISTINCT_REACTIONS, Reacted, ReactionCount};
pub use resets::ResetOutcome;
pub use roster::{LeftGroup, Removal};
pub use search::Found;
pub use sessions::{Credential, NewSession, Rotation, SessionInfo};
pub use users::{DeletedUser, Directory, NewUser, ProfileChange};

/// A failed write, already in the product's terms.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique identifier (`username`, `email`, `phone`) belongs to someone else.
    #[error("{0} is already taken")]
    Taken(&'static str),
    /// The change would break a rule only the stored row can tell (field, message).
    #[error("{0}: {1}")]
    Invalid(&'static str, &'static str),
    /// The actor's role, read under the chat's lock, does not allow the change.
    #[error("not allowed: {0}")]
    NotAllowed(&'static str),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<StoreError> for crate::error::AppError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Taken(field) => Self::taken(field),
            StoreError::Invalid(field, message) => Self::invalid(field, message),
            StoreError::NotAllowed(message) => Self::forbidden("not_allowed", message),
            StoreError::Db(db) => Self::Internal(db.into()),
        }
    }
}

/// Maps a unique-constraint violation to the field it protects: the one place that knows how
/// SQLite (`UNIQUE constraint failed: users.email`) and PostgreSQL (`…constraint "users_email_key"`)
/// name them.
fn on_constraint(err: DbErr) -> StoreError {
    if let Some(SqlErr::UniqueConstraintViolation(detail)) = err.sql_err() {
        for field in ["username", "email", "phone"] {
            if detail.contains(field) {
                return StoreError::Taken(field);
            }
        }
    }
    StoreError::Db(err)
}

/// Timestamps are UTC at microsecond precision, so they round-trip identically on both databases.
pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1000 * 1000).unwrap_or(now)
}

/// The advisory lock instances take turns on to migrate one PostgreSQL database ("parlor" in ASCII).
const MIGRATION_LOCK: i64 = 0x7061_726c_6f72;

/// Connections that read an SQLite file, all opened at start.
const SQLITE_READERS: u32 = 8;
/// PostgreSQL connections an instance holds at most unless configured
/// (`database_max_connections`).
pub const DEFAULT_PG_CONNECTIONS: u32 = 20;

/// Pages of write-ahead log after which an SQLite writer copies the log into the database itself,
/// inside the commit that crossed the mark, with every other writer waiting behind it. That is a
/// backstop: the server checkpoints on a reader connection every second
/// ([`Store::checkpoint`]), off the writers' path, and SQLite's default mark of 1,000 pages
/// (4 MiB) would put the copy and its `fsync` back in a busy server's commits.
const AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// The size the write-ahead log file is cut back to when a checkpoint has copied all of it and
/// the log starts again: connections are never closed (closing the last one is what removes the
/// file), so without a limit the file would stay as large as the largest burst ever made it.
const JOURNAL_SIZE_LIMIT_BYTES: u32 = 16 * 1024 * 1024;

/// Every SQLite connection: WAL, `synchronous = NORMAL` (a commit survives the process being
/// killed; a power cut may lose the last commits but never corrupts the file), a 5 s busy timeout
/// for writers of other processes, foreign keys on, and the checkpoint mark and log size above.
fn sqlite_options(options: sea_orm::sqlx::sqlite::SqliteConnectOptions) -> sea_orm::sqlx::sqlite::SqliteConnectOptions {
    options
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true)
        .pragma("wal_autocheckpoint", AUTOCHECKPOINT_PAGES.to_string())
        .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT_BYTES.to_string())
}

/// What one [`Store::checkpoint`] found and did, in pages of the write-ahead log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpointed {
    /// Another connection was checkpointing (a writer past the mark above, a command beside
    /// the server): nothing done, try again later.
    Busy,
    /// `log` pages in the log, `copied` of them now in the database file; fewer than `log`
    /// while a reader still needs the rest.
    Done { log: i64, copied: i64 },
}

/// How long a user row may be served from memory. Every write in this module invalidates its
/// row at once, here and (through the real-time bus) on every other instance; the lifetime
/// bounds staleness only if that news is lost.
const USER_CACHE_TTL: Duration = Duration::from_secs(30);

/// A cached fact that has gone stale. Each instance drops it from its own caches at once and
/// hands it on ([`Store::watch_stale`]) so the real-time bus can tell every other instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// A session ended: its access tokens must be refused everywhere.
    Session { user_id: UserId, session_id: SessionId },
    /// An account row changed or went away.
    User(UserId),
}

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// Where write transactions run: on an SQLite file a pool of one connection, so writers
    /// queue here for it, woken the moment the last one commits, instead of in SQLite's busy
    /// handler, which polls with sleeps of up to 100 ms; otherwise `db` itself.
    writer: DatabaseConnection,
    /// Accounts by id, read on nearly every authenticated request.
    users: moka::sync::Cache<UserId, crate::domain::User>,
    stale: std::sync::Arc<std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<Stale>>>,
    /// Statements executed so far, for tests that bound a route's query count.
    queries: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend()).finish_non_exhaustive()
    }
}

impl Store {
    /// Connects by URL: `sqlite://path?mode=rwc`, `sqlite::memory:` or `postgres://…` (with
    /// at most [`DEFAULT_PG_CONNECTIONS`]).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, DEFAULT_PG_CONNECTIONS).await
    }

    /// [`connect`](Self::connect), holding at most `pg_connections` on PostgreSQL (SQLite keeps
    /// its fixed writer and readers).
    pub async fn connect_with(url: &str, pg_connections: u32) -> Result<Self, StoreError> {
        let mut options = ConnectOptions::new(url.to_owned());
        // No ping before each checkout: on SQLite that is an extra round trip to the connection's
        // worker thread for every query; a dead connection surfaces as a query error anyway.
        options.sqlx_logging(false).acquire_timeout(Duration::from_secs(10)).test_before_acquire(false);
        let mut writer_options = None;
        if url.starts_with("sqlite:") {
            options.map_sqlx_sqlite_opts(sqlite_options);
            if url.contains(":memory:") || url.contains("mode=memory") {
                // Each connection to `:memory:` is its own database: keep exactly one, forever.
                options.max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None);
            } else {
                // A file's connections stay open for the life of the process: sqlx's default
                // idle timeout and lifetime would only close and reopen them, each time
                // dropping its page cache and parsing the schema again, and the descriptors
                // would step up and down with the load.
                options.idle_timeout(None).max_lifetime(None);
                let mut writer = options.clone();
                writer.max_connections(1);
                writer_options = Some(writer);
                options.max_connections(SQLITE_READERS);
            }
        } else {
            options.max_connections(pg_connections.max(1));
        }
        let mut db = Database::connect(options).await?;
        let mut writer = match writer_options {
            Some(options) => {
                // All the readers now, one after another: sqlx's `min_connections` would open
                // them from a task of its own too, and two connections switching a new file
                // to WAL at once fail with `database is locked`.
                let readers = db.get_sqlite_connection_pool();
                let mut opened = Vec::new();
                for _ in 0..SQLITE_READERS {
                    opened.push(
                        readers
                            .acquire()
                            .await
                            .map_err(|err| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(err.into())))?,
                    );
                }
                drop(opened);
                Database::connect(options).await?
            }
            None => db.clone(),
        };
        let queries = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        for connection in [&mut db, &mut writer] {
            let counter = queries.clone();
            connection.set_metric_callback(move |_| {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            });
        }
        let users = moka::sync::Cache::builder().max_capacity(100_000).time_to_live(USER_CACHE_TTL).build();
        Ok(Self { db, writer, users, stale: Default::default(), queries })
    }

    /// A transaction that writes. On SQLite it runs on the one writer connection (this process's
    /// writers queue for it), and its first statement takes the database's write lock (an
    /// `UPDATE` that matches nothing still does), so that against another process's writer (a
    /// command run beside the server) it waits its turn (`busy_timeout`) instead of failing with
    /// `database is locked`: a transaction that reads first and then writes cannot wait, because
    /// the snapshot it read may be gone. On PostgreSQL it is a plain `BEGIN`.
    pub(crate) async fn begin_write(&self) -> Result<sea_orm::DatabaseTransaction, DbErr> {
        let txn = self.begin_with_a_write().await?;
        if self.db.get_database_backend() == sea_orm::DbBackend::Sqlite {
            sea_orm::ConnectionTrait::execute_unprepared(&txn, "UPDATE users SET id = id WHERE 0").await?;
        }
        Ok(txn)
    }

    /// [`begin_write`](Self::begin_write) for a transaction whose first statement is a write
    /// (which takes SQLite's write lock itself): one statement fewer.
    pub(crate) async fn begin_with_a_write(&self) -> Result<sea_orm::DatabaseTransaction, DbErr> {
        sea_orm::TransactionTrait::begin(&self.writer).await
    }

    /// Applies the pending migrations. On PostgreSQL, instances starting at once take turns:
    /// each holds a session advisory lock, on a connection of its own, while the migrator runs
    /// on the others, so the second finds the schema made instead of racing to make it.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        if self.db.get_database_backend() != sea_orm::DbBackend::Postgres {
            return Ok(migration::Migrator::up(&self.db, None).await?);
        }
        let lock_failed = |err: sea_orm::sqlx::Error| DbErr::Custom(format!("migration lock: {err}"));
        let mut lock = self.db.get_postgres_connection_pool().acquire().await.map_err(lock_failed)?;
        sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *lock)
            .await
            .map_err(lock_failed)?;
        let migrated = migration::Migrator::up(&self.db, None).await;
        // Released with the session anyway, should this fail.
        let _ = sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *lock).await;
        Ok(migrated?)
    }

    /// Drops a user from the cache, here and (through [`Self::watch_stale`]) everywhere; every
    /// write to a user row calls this.
    pub fn forget_user(&self, user_id: UserId) {
        self.forget_user_locally(user_id);
        self.report_stale(Stale::User(user_id));
    }

    /// Drops a user from this instance's cache only: for news from other instances.
    pub fn forget_user_locally(&self, user_id: UserId) {
        self.users.invalidate(&user_id);
    }

    /// Empties this instance's user cache.
    pub fn forget_all_users_locally(&self) {
        self.users.invalidate_all();
    }

    /// Passes a stale fact to whoever watches (the bus); nobody watching is fine.
    pub fn report_stale(&self, stale: Stale) {
        if let Some(tx) = self.stale.get() {
            let _ = tx.send(stale);
        }
    }

    /// The feed of stale facts. There is one watcher; a second call gets `None`.
    pub fn watch_stale(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Stale>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.stale.set(tx).ok().map(|()| rx)
    }

    /// How many statements this store has executed.
    pub fn query_count(&self) -> u64 {
        self.queries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// For `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(self.db.ping().await?)
    }

    /// The connection itself, for tests and benchmarks that look at plans or bulk-load rows;
    /// the application goes through the methods.
    #[doc(hidden)]
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Whether the database has any table of its own (PostgreSQL's `public` schema, or SQLite's
    /// main database): a restore goes only into an empty one.
    pub async fn has_tables(&self) -> Result<bool, StoreError> {
        use sea_orm::{ConnectionTrait, Statement};
        let backend = self.db.get_database_backend();
        let sql = match backend {
            sea_orm::DatabaseBackend::Postgres => {
                "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public'"
            }
            _ => "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'",
        };
        let row = self.db.query_one_raw(Statement::from_string(backend, sql)).await?;
        Ok(row.map(|row| row.try_get::<i64>("", "n")).transpose()?.unwrap_or(0) > 0)
    }

    /// Copies the write-ahead log of an SQLite file into the database
    /// (`PRAGMA wal_checkpoint(PASSIVE)`) on a reader connection: the copy and its `fsync` then
    /// happen beside the writers, which go on appending to the log, instead of inside the commit
    /// that happened to fill it. Once a checkpoint has copied the whole log, the next write starts
    /// it again from the beginning (and cuts the file back to 16 MiB), so the log holds about a
    /// second's writes. `None` on PostgreSQL and on an in-memory database, which have no such log.
    pub async fn checkpoint(&self) -> Result<Option<Checkpointed>, StoreError> {
        use sea_orm::{ConnectionTrait, Statement};
        let backend = self.db.get_database_backend();
        if backend != sea_orm::DatabaseBackend::Sqlite {
            return Ok(None);
        }
        let row = self.db.query_one_raw(Statement::from_string(backend, "PRAGMA wal_checkpoint(PASSIVE)")).await?;
        let Some(row) = row else { return Ok(None) };
        let busy: i64 = row.try_get("", "busy")?;
        let log: i64 = row.try_get("", "log")?;
        let copied: i64 = row.try_get("", "checkpointed")?;
        Ok(match (busy, log) {
            // A passive checkpoint does not wait for another's lock.
            (1, _) => Some(Checkpointed::Busy),
            // 0, -1, -1: the database is not in WAL mode (in memory).
            (_, -1) => None,
            _ => Some(Checkpointed::Done { log, copied }),
        })
    }

    /// A consistent copy of a SQLite database, taken while it is in use (`VACUUM INTO`).
    pub async fn sqlite_snapshot(&self, file: &std::path::Path) -> Result<(), StoreError> {
        use sea_orm::ConnectionTrait;
        let path = file.to_str().ok_or_else(|| sea_orm::DbErr::Custom(format!("{} is not UTF-8", file.display())))?;
        self.db
            .execute_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DatabaseBackend::Sqlite,
                "VACUUM INTO ?",
                [path.into()],
            ))
            .await?;
        // An in-memory database "vacuums into" memory too.
        if !file.exists() {
            return Err(sea_orm::DbErr::Custom("an in-memory SQLite database cannot be backed up".to_owned()).into());
        }
        Ok(())
    }

    pub fn backend(&self) -> &'static str {
        match self.db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "postgres",
            sea_orm::DatabaseBackend::Sqlite => "sqlite",
            _ => "other",
        }
    }
}
