//! The one migration set, rendered by SeaQuery for SQLite and PostgreSQL alike.
//!
//! Migrations name tables and columns as strings, not through the entities, so that a later change
//! to an entity cannot silently rewrite history.

use sea_orm_migration::prelude::*;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001Accounts),
            Box::new(M0002Profiles),
            Box::new(M0003Chats),
            Box::new(M0004UnreadCounts),
            Box::new(M0005ChatStatistics),
            Box::new(M0006WebSessions),
            Box::new(M0007AdminLookups),
            Box::new(M0008SigningKeys),
            Box::new(M0009Reactions),
            Box::new(M0010Presence),
            Box::new(M0011SearchAndMentions),
            Box::new(M0012OwnReactions),
            Box::new(M0013UnsentUploads),
            Box::new(M0014ServerSecrets),
            Box::new(M0015MediaHolds),
            Box::new(M0016UnreadTotals),
            Box::new(M0017RosterVersions),
            Box::new(M0018ChatListIndex),
        ]
    }
}

/// Accounts, sessions with their refresh tokens, and the audit log.
struct M0001Accounts;

impl MigrationName for M0001Accounts {
    fn name(&self) -> &str {
        "m0001_accounts"
    }
}

fn uuid_pk(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).uuid().not_null().primary_key().take()
}

fn timestamp(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).timestamp_with_time_zone().not_null().take()
}

fn text_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).string().null().take()
}

#[async_trait::async_trait]
impl MigrationTrait for M0001Accounts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("users")
                    .col(uuid_pk("id"))
                    .col(text_null("username"))
                    .col(ColumnDef::new("username_key").string().null().unique_key())
                    .col(ColumnDef::new("email").string().null().unique_key())
                    .col(ColumnDef::new("phone").string().null().unique_key())
                    .col(ColumnDef::new("password_hash").string().not_null())
                    .col(text_null("first_name"))
                    .col(text_null("last_name"))
                    .col(ColumnDef::new("gender").string().not_null().default("unspecified"))
                    .col(ColumnDef::new("is_admin").boolean().not_null().default(false))
                    .col(ColumnDef::new("is_active").boolean().not_null().default(true))
                    .col(timestamp("created_at"))
                    .col(timestamp("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(Index::create().name("ix_users_gender").table("users").col("gender").to_owned()).await?;

        manager
            .create_table(
                Table::create()
                    .table("sessions")
                    .col(uuid_pk("id"))
                    .col(ColumnDef::new("user_id").uuid().not_null())
                    .col(text_null("user_agent"))
                    .col(text_null("ip"))
                    .col(timestamp("created_at"))
                    .col(timestamp("last_used_at"))
                    .col(timestamp("expires_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sessions_user")
                            .from("sessions", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("ix_sessions_user").table("sessions").col("user_id").to_owned())
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("refresh_tokens")
                    .col(ColumnDef::new("token_hash").string().not_null().primary_key())
                    .col(ColumnDef::new("session_id").uuid().not_null())
                    .col(timestamp("created_at"))
                    .col(ColumnDef::new("rotated_at").timestamp_with_time_zone().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_refresh_tokens_session")
                            .from("refresh_tokens", "session_id")
                            .to("sessions", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("ix_refresh_tokens_session").table("refresh_tokens").col("session_id").to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("audit_log")
                    .col(uuid_pk("id"))
                    .col(timestamp("at"))
                    .col(ColumnDef::new("actor_id").uuid().null())
                    .col(ColumnDef::new("entity").string().not_null())
                    .col(ColumnDef::new("entity_id").string().not_null())
                    .col(ColumnDef::new("action").string().not_null())
                    .col(ColumnDef::new("before").json_binary().null())
                    .col(ColumnDef::new("after").json_binary().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_log_entity")
                    .table("audit_log")
                    .col("entity")
                    .col("entity_id")
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

/// Avatars, password-reset codes, the media garbage list, and the audit log's `subject_id`.
struct M0002Profiles;

impl MigrationName for M0002Profiles {
    fn name(&self) -> &str {
        "m0002_profiles"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0002Profiles {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // `avatars/<user id>/<version>`: the common prefix of the avatar's stored variants.
        manager.alter_table(Table::alter().table("users").add_column(text_null("avatar_key")).to_owned()).await?;

        manager
            .create_table(
                Table::create()
                    .table("password_resets")
                    .col(uuid_pk("user_id"))
                    .col(ColumnDef::new("code_hash").string().not_null())
                    .col(ColumnDef::new("attempts").integer().not_null().default(0))
                    .col(timestamp("created_at"))
                    .col(timestamp("expires_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_password_resets_user")
                            .from("password_resets", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // Stored objects to delete: written in the transaction that orphans them (or, for a new
        // upload, before its objects are written, with a grace period), removed once they are gone.
        manager
            .create_table(
                Table::create()
                    .table("media_garbage")
                    .col(ColumnDef::new("prefix").string().not_null().primary_key())
                    .col(timestamp("not_before"))
                    .col(ColumnDef::new("attempts").integer().not_null().default(0))
                    .col(timestamp("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("ix_media_garbage_not_before").table("media_garbage").col("not_before").to_owned(),
            )
            .await?;

        // The user whose personal data an audit row holds, so deleting an account can scrub them.
        manager
            .alter_table(
                Table::alter().table("audit_log").add_column(ColumnDef::new("subject_id").uuid().null()).to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("ix_audit_log_subject").table("audit_log").col("subject_id").to_owned())
            .await?;
        backfill_audit_subjects(manager).await
    }
}

/// Rows written before `subject_id` existed: a user row is its own subject; a session row's
/// subject is the `user_id` in its snapshot.
async fn backfill_audit_subjects(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let select = Query::select()
        .columns(["id", "entity", "entity_id", "before", "after"])
        .from("audit_log")
        .and_where(Expr::col("entity").is_in(["user", "session"]))
        .to_owned();
    for row in db.query_all(&select).await? {
        let id: uuid::Uuid = row.try_get("", "id")?;
        let entity: String = row.try_get("", "entity")?;
        let subject = if entity == "user" {
            row.try_get::<String>("", "entity_id")?.parse::<uuid::Uuid>().ok()
        } else {
            ["before", "after"].iter().find_map(|column| {
                let snapshot: Option<serde_json::Value> = row.try_get("", column).ok().flatten();
                snapshot?.get("user_id")?.as_str()?.parse::<uuid::Uuid>().ok()
            })
        };
        if let Some(subject) = subject {
            let update = Query::update()
                .table("audit_log")
                .value("subject_id", subject)
                .and_where(Expr::col("id").eq(id))
                .to_owned();
            db.execute(&update).await?;
        }
    }
    Ok(())
}

/// Chats, their members (with roles, read markers and pins), messages, likes and attachments.
///
/// Message ids are UUID v7, so they sort by time: history pages are keyset ranges over
/// `(chat_id, id)`. `chat_members.user_id` and `messages.author_id` have no foreign key to `users`:
/// a deleted account's direct chats and group messages outlive it (SPEC §2), shown as a deleted
/// account; the store removes its group memberships itself.
struct M0003Chats;

impl MigrationName for M0003Chats {
    fn name(&self) -> &str {
        "m0003_chats"
    }
}

fn uuid_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).uuid().null().take()
}

fn cascade(
    name: &str,
    from: (&'static str, &'static str),
    to: (&'static str, &'static str),
) -> ForeignKeyCreateStatement {
    ForeignKey::create().name(name).from(from.0, from.1).to(to.0, to.1).on_delete(ForeignKeyAction::Cascade).take()
}

#[async_trait::async_trait]
impl MigrationTrait for M0003Chats {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("chats")
                    .col(uuid_pk("id"))
                    .col(ColumnDef::new("kind").string().not_null())
                    .col(text_null("title"))
                    // `<smaller user id>:<larger user id>` for direct chats: one chat per pair.
                    .col(ColumnDef::new("direct_key").string().null().unique_key())
                    .col(uuid_null("created_by"))
                    .col(timestamp("created_at"))
                    .col(timestamp("last_activity_at"))
                    .col(uuid_null("last_message_id"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("chat_members")
                    .col(ColumnDef::new("chat_id").uuid().not_null())
                    .col(ColumnDef::new("user_id").uuid().not_null())
                    .col(ColumnDef::new("role").string().not_null())
                    .col(timestamp("joined_at"))
                    .col(uuid_null("last_read_id"))
                    // Set while pinned: the member's pins sort by it.
                    .col(ColumnDef::new("pin_order").big_integer().null())
                    .primary_key(Index::create().col("chat_id").col("user_id"))
                    .foreign_key(&mut cascade("fk_chat_members_chat", ("chat_members", "chat_id"), ("chats", "id")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("ix_chat_members_user").table("chat_members").col("user_id").to_owned())
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("attachments")
                    .col(uuid_pk("id"))
                    .col(uuid_null("uploader_id"))
                    .col(ColumnDef::new("kind").string().not_null())
                    // The prefix of its stored objects: `attachments/<id>/…`.
                    .col(ColumnDef::new("storage_key").string().not_null())
                    .col(ColumnDef::new("file_name").string().not_null())
                    .col(ColumnDef::new("content_type").string().not_null())
                    .col(ColumnDef::new("size").big_integer().not_null())
                    .col(ColumnDef::new("width").integer().null())
                    .col(ColumnDef::new("height").integer().null())
                    .col(ColumnDef::new("attached_at").timestamp_with_time_zone().null())
                    .col(timestamp("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("ix_attachments_uploader").table("attachments").col("uploader_id").to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("messages")
                    .col(uuid_pk("id"))
                    .col(ColumnDef::new("chat_id").uuid().not_null())
                    .col(uuid_null("author_id"))
                    .col(ColumnDef::new("kind").string().not_null())
                    .col(ColumnDef::new("text").text().null())
                    // What a `system` message records, e.g. `{"action": "renamed", "title": …}`.
                    .col(ColumnDef::new("system").json_binary().null())
                    .col(uuid_null("attachment_id"))
                    .col(uuid_null("reply_to"))
                    .col(uuid_null("forwarded_chat_id"))
                    .col(uuid_null("forwarded_message_id"))
                    .col(uuid_null("forwarded_author_id"))
                    .col(text_null("client_id"))
                    .col(timestamp("created_at"))
                    .col(ColumnDef::new("edited_at").timestamp_with_time_zone().null())
                    .col(ColumnDef::new("deleted_at").timestamp_with_time_zone().null())
                    .foreign_key(&mut cascade("fk_messages_chat", ("messages", "chat_id"), ("chats", "id")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("ix_messages_chat_id").table("messages").col("chat_id").col("id").to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_messages_client_id")
                    .table("messages")
                    .col("chat_id")
                    .col("author_id")
                    .col("client_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("ix_messages_attachment").table("messages").col("attachment_id").to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("message_likes")
                    .col(ColumnDef::new("message_id").uuid().not_null())
                    .col(ColumnDef::new("user_id").uuid().not_null())
                    .col(timestamp("created_at"))
                    .primary_key(Index::create().col("message_id").col("user_id"))
                    .foreign_key(&mut cascade(
                        "fk_message_likes_message",
                        ("message_likes", "message_id"),
                        ("messages", "id"),
                    ))
                    .foreign_key(&mut cascade("fk_message_likes_user", ("message_likes", "user_id"), ("users", "id")))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

/// Each member's unread count, kept on the membership: written where messages are written, read
/// with the membership. Counting at read time left the chat list to a query plan that one busy
/// chat's statistics could turn into a scan of every message on PostgreSQL.
struct M0004UnreadCounts;

impl MigrationName for M0004UnreadCounts {
    fn name(&self) -> &str {
        "m0004_unread_counts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0004UnreadCounts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("chat_members")
                    .add_column(ColumnDef::new("unread_count").big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        // What the chat list counted until now: live messages by others after the read marker.
        let (m, cm) = ("messages", "chat_members");
        let unread = Query::select()
            .expr(Expr::col((m, "id")).count())
            .from(m)
            .and_where(Expr::col((m, "chat_id")).equals((cm, "chat_id")))
            .and_where(
                Expr::col((cm, "last_read_id")).is_null().or(Expr::col((m, "id")).gt(Expr::col((cm, "last_read_id")))),
            )
            .and_where(Expr::col((m, "deleted_at")).is_null())
            .and_where(
                Expr::col((m, "author_id")).is_null().or(Expr::col((m, "author_id")).ne(Expr::col((cm, "user_id")))),
            )
            .to_owned();
        let backfill =
            Query::update().table(cm).value("unread_count", Expr::SubQuery(None, Box::new(unread.into()))).to_owned();
        manager.get_connection().execute(&backfill).await?;
        Ok(())
    }
}

/// Tells PostgreSQL's planner to expect many chats in `messages`, whatever its sample says.
///
/// When one chat holds most messages, `ANALYZE` samples little else and estimates `chat_id` to
/// have two or three distinct values. A prepared history query (`chat_id = $1 … ORDER BY id DESC
/// LIMIT 51`) then looks as if half the table matched, and its generic plan, which PostgreSQL
/// switches to after five executions, walks the primary key backwards through the busy chat's
/// rows: 380 ms for a two-message chat beside a million-message one, 0.1 ms with the `(chat_id, id)`
/// index this setting makes it pick. -0.05 means a chat per twenty messages; the index is the
/// right choice for any number, so the estimate only has to make one chat a small part of the
/// table, at ten thousand messages as at a million. SQLite's planner does not need it.
struct M0005ChatStatistics;

impl MigrationName for M0005ChatStatistics {
    fn name(&self) -> &str {
        "m0005_chat_statistics"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0005ChatStatistics {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() == sea_orm::DbBackend::Postgres {
            db.execute_unprepared("ALTER TABLE messages ALTER COLUMN chat_id SET (n_distinct = -0.05)").await?;
        }
        Ok(())
    }
}

/// Web sessions: a session row of the site carries the hash of its cookie's secret, so the site's
/// sessions live in the same table as the API's and end the same ways.
struct M0006WebSessions;

impl MigrationName for M0006WebSessions {
    fn name(&self) -> &str {
        "m0006_web_sessions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0006WebSessions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table("sessions").add_column(text_null("web_secret_hash")).to_owned())
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_sessions_web_secret_hash")
                    .table("sessions")
                    .col("web_secret_hash")
                    .unique()
                    .to_owned(),
            )
            .await
    }
}

/// What the admin looks up besides a chat's history: an author's messages and an actor's audit
/// rows, newest first, each a range of one index.
struct M0007AdminLookups;

impl MigrationName for M0007AdminLookups {
    fn name(&self) -> &str {
        "m0007_admin_lookups"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0007AdminLookups {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create().name("ix_messages_author").table("messages").col("author_id").col("id").to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("ix_audit_log_actor").table("audit_log").col("actor_id").col("id").to_owned(),
            )
            .await
    }
}

/// Signing keys in the database, so instances with separate data directories share them.
struct M0008SigningKeys;

impl MigrationName for M0008SigningKeys {
    fn name(&self) -> &str {
        "m0008_signing_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0008SigningKeys {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("signing_keys")
                    .col(ColumnDef::new("generation").big_integer().not_null().primary_key())
                    .col(ColumnDef::new("kid").string().not_null())
                    .col(ColumnDef::new("private_key").text().not_null())
                    .col(timestamp("created_at"))
                    .to_owned(),
            )
            .await
    }
}

/// Emoji reactions: one row per person, message and emoji. The key leads with the message, so a
/// page's reactions are one range scan per message.
struct M0009Reactions;

impl MigrationName for M0009Reactions {
    fn name(&self) -> &str {
        "m0009_reactions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0009Reactions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("message_reactions")
                    .col(ColumnDef::new("message_id").uuid().not_null())
                    .col(ColumnDef::new("emoji").string_len(64).not_null())
                    .col(ColumnDef::new("user_id").uuid().not_null())
                    .col(timestamp("created_at"))
                    .primary_key(Index::create().col("message_id").col("emoji").col("user_id"))
                    .foreign_key(&mut cascade(
                        "fk_message_reactions_message",
                        ("message_reactions", "message_id"),
                        ("messages", "id"),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_message_reactions_user",
                        ("message_reactions", "user_id"),
                        ("users", "id"),
                    ))
                    .to_owned(),
            )
            .await
    }
}

/// Presence: whether others may see it (a profile setting), and when each account was last
/// online. `last_seen_at` lives in a table of its own: it is written every time someone's last
/// socket closes, and so must not touch the account row (which edits lock and caches hold).
struct M0010Presence;

impl MigrationName for M0010Presence {
    fn name(&self) -> &str {
        "m0010_presence"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0010Presence {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .add_column(ColumnDef::new("show_presence").boolean().not_null().default(true))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("user_presence")
                    .col(ColumnDef::new("user_id").uuid().not_null().primary_key())
                    .col(timestamp("last_seen_at"))
                    .foreign_key(&mut cascade("fk_user_presence_user", ("user_presence", "user_id"), ("users", "id")))
                    .to_owned(),
            )
            .await
    }
}

/// Message search and mentions.
///
/// `message_search` holds each live text in its folded form ([`crate::domain::search::fold`]),
/// numbered by `seq` in the order it was indexed, which is the order results come in and pages
/// are cut by. The index over it is each backend's own substring index: on SQLite an FTS5 table
/// with the `trigram` tokenizer, kept in step by triggers (it holds no copy of the text, reading
/// it from `message_search`); on PostgreSQL a `pg_trgm` GIN index. Both match any three
/// characters in a row, so no language depends on spaces between words.
///
/// `message_mentions` names the members a message mentions; `chat_members.mention_count` counts
/// the unread ones, kept like `unread_count`. Existing messages are indexed and their mentions
/// found (against today's members) here, oldest first.
struct M0011SearchAndMentions;

impl MigrationName for M0011SearchAndMentions {
    fn name(&self) -> &str {
        "m0011_search_and_mentions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0011SearchAndMentions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = db.get_database_backend() == sea_orm::DbBackend::Postgres;
        manager
            .create_table(
                Table::create()
                    .table("message_search")
                    .col(ColumnDef::new("seq").big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new("message_id").uuid().not_null().unique_key())
                    .col(ColumnDef::new("chat_id").uuid().not_null())
                    .col(ColumnDef::new("body").text().not_null())
                    .foreign_key(&mut cascade(
                        "fk_message_search_message",
                        ("message_search", "message_id"),
                        ("messages", "id"),
                    ))
                    .foreign_key(&mut cascade("fk_message_search_chat", ("message_search", "chat_id"), ("chats", "id")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("message_mentions")
                    .col(ColumnDef::new("message_id").uuid().not_null())
                    .col(ColumnDef::new("user_id").uuid().not_null())
                    .col(ColumnDef::new("chat_id").uuid().not_null())
                    .primary_key(Index::create().col("message_id").col("user_id"))
                    .foreign_key(&mut cascade(
                        "fk_message_mentions_message",
                        ("message_mentions", "message_id"),
                        ("messages", "id"),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_message_mentions_user",
                        ("message_mentions", "user_id"),
                        ("users", "id"),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_message_mentions_member")
                    .table("message_mentions")
                    .col("user_id")
                    .col("chat_id")
                    .col("message_id")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("chat_members")
                    .add_column(ColumnDef::new("mention_count").big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        // The index is built once the texts are in: one pass over them, not one update a row.
        backfill_search_and_mentions(db).await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_message_search_chat")
                    .table("message_search")
                    .col("chat_id")
                    .col("seq")
                    .to_owned(),
            )
            .await?;
        if postgres {
            db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm").await?;
            db.execute_unprepared(
                "CREATE INDEX ix_message_search_body ON message_search USING gin (body gin_trgm_ops)",
            )
            .await?;
        } else {
            // The text is folded already, so the tokenizer compares it as it is.
            db.execute_unprepared(
                "CREATE VIRTUAL TABLE message_search_fts USING fts5(body, content='message_search', \
                 content_rowid='seq', tokenize='trigram case_sensitive 1')",
            )
            .await?;
            db.execute_unprepared(
                "CREATE TRIGGER message_search_indexed AFTER INSERT ON message_search BEGIN \
                 INSERT INTO message_search_fts(rowid, body) VALUES (new.seq, new.body); END",
            )
            .await?;
            db.execute_unprepared(
                "CREATE TRIGGER message_search_unindexed AFTER DELETE ON message_search BEGIN \
                 INSERT INTO message_search_fts(message_search_fts, rowid, body) VALUES ('delete', old.seq, old.body); END",
            )
            .await?;
            db.execute_unprepared(
                "CREATE TRIGGER message_search_reindexed AFTER UPDATE ON message_search BEGIN \
                 INSERT INTO message_search_fts(message_search_fts, rowid, body) VALUES ('delete', old.seq, old.body); \
                 INSERT INTO message_search_fts(rowid, body) VALUES (new.seq, new.body); END",
            )
            .await?;
            db.execute_unprepared("INSERT INTO message_search_fts(message_search_fts) VALUES ('rebuild')").await?;
        }
        Ok(())
    }
}

/// A data export reads one account's reactions and likes; their keys lead with the message, so
/// these indexes make each a range instead of a scan of everyone's.
struct M0012OwnReactions;

impl MigrationName for M0012OwnReactions {
    fn name(&self) -> &str {
        "m0012_own_reactions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0012OwnReactions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_message_reactions_user")
                    .table("message_reactions")
                    .col("user_id")
                    .col("message_id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_message_likes_user")
                    .table("message_likes")
                    .col("user_id")
                    .col("message_id")
                    .to_owned(),
            )
            .await
    }
}

/// Uploads no message carries yet: the sweeper finds the expired ones by age, and only those
/// rows are in the index (attached ones are most of the table and never looked up this way).
struct M0013UnsentUploads;

impl MigrationName for M0013UnsentUploads {
    fn name(&self) -> &str {
        "m0013_unsent_uploads"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0013UnsentUploads {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The same partial-index statement on SQLite and PostgreSQL.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_attachments_unsent ON attachments (created_at) WHERE attached_at IS NULL",
            )
            .await?;
        Ok(())
    }
}

/// Secrets every instance shares, such as the key that signs attachment links.
struct M0014ServerSecrets;

impl MigrationName for M0014ServerSecrets {
    fn name(&self) -> &str {
        "m0014_server_secrets"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0014ServerSecrets {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("server_secrets")
                    .col(ColumnDef::new("name").string().not_null().primary_key())
                    .col(ColumnDef::new("value").text().not_null())
                    .col(timestamp("created_at"))
                    .to_owned(),
            )
            .await
    }
}

/// Holds on deleting media, set by a backup while it copies objects.
struct M0015MediaHolds;

impl MigrationName for M0015MediaHolds {
    fn name(&self) -> &str {
        "m0015_media_holds"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0015MediaHolds {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("media_holds")
                    .col(ColumnDef::new("name").string().not_null().primary_key())
                    .col(timestamp("until"))
                    .to_owned(),
            )
            .await
    }
}

/// Unread counts at a constant cost per message, as differences of totals: the chat counts every
/// message it was ever sent (`message_total`), each member how many of them are at or before
/// their read marker (`read_total`) and how many after it are their own (`own_since_read`); the
/// unread count is the difference less the others' deleted messages after the marker, which a
/// partial index of tombstones finds (see `members::unread_counts`). A send writes the chat
/// row it already wrote and its author's membership, instead of every other member's.
///
/// The totals are derived from the read markers, which is what `unread_count` counted; the
/// column goes.
struct M0016UnreadTotals;

impl MigrationName for M0016UnreadTotals {
    fn name(&self) -> &str {
        "m0016_unread_totals"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0016UnreadTotals {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let total = |name: &'static str| ColumnDef::new(name).big_integer().not_null().default(0).to_owned();
        manager.alter_table(Table::alter().table("chats").add_column(total("message_total")).to_owned()).await?;
        for column in ["read_total", "own_since_read"] {
            manager.alter_table(Table::alter().table("chat_members").add_column(total(column)).to_owned()).await?;
        }
        let (m, c, cm) = ("messages", "chats", "chat_members");
        let db = manager.get_connection();
        let in_chat = Query::select()
            .expr(Expr::col((m, "id")).count())
            .from(m)
            .and_where(Expr::col((m, "chat_id")).equals((c, "id")))
            .to_owned();
        db.execute(
            &Query::update().table(c).value("message_total", Expr::SubQuery(None, Box::new(in_chat.into()))).to_owned(),
        )
        .await?;
        let read = Query::select()
            .expr(Expr::col((m, "id")).count())
            .from(m)
            .and_where(Expr::col((m, "chat_id")).equals((cm, "chat_id")))
            .and_where(Expr::col((m, "id")).lte(Expr::col((cm, "last_read_id"))))
            .to_owned();
        let own = Query::select()
            .expr(Expr::col((m, "id")).count())
            .from(m)
            .and_where(Expr::col((m, "chat_id")).equals((cm, "chat_id")))
            .and_where(Expr::col((m, "author_id")).equals((cm, "user_id")))
            .and_where(
                Expr::col((cm, "last_read_id")).is_null().or(Expr::col((m, "id")).gt(Expr::col((cm, "last_read_id")))),
            )
            .to_owned();
        let backfill = Query::update()
            .table(cm)
            .value("read_total", Expr::SubQuery(None, Box::new(read.into())))
            .value("own_since_read", Expr::SubQuery(None, Box::new(own.into())))
            .to_owned();
        db.execute(&backfill).await?;
        // The same statement on both backends; SeaQuery's index builder has no WHERE.
        db.execute_unprepared(
            "CREATE INDEX idx_messages_tombstones ON messages (chat_id, id) WHERE deleted_at IS NOT NULL",
        )
        .await?;
        db.execute_unprepared("ALTER TABLE chat_members DROP COLUMN unread_count").await?;
        Ok(())
    }
}

/// A version of each chat's member list, raised by every join and removal in the transaction
/// that makes it: a send reads it with the chat's lock, so an instance can keep the list of a
/// big group and know, without reading it again, whether it is still the list of that send.
struct M0017RosterVersions;

impl MigrationName for M0017RosterVersions {
    fn name(&self) -> &str {
        "m0017_roster_versions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0017RosterVersions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let version = ColumnDef::new("roster_version").big_integer().not_null().default(0).to_owned();
        manager.alter_table(Table::alter().table("chats").add_column(version).to_owned()).await
    }
}

/// A member's chat list reads their memberships by `user_id`, their pins in pin order and the
/// rest by chat id: `(user_id, pin_order, chat_id)` finds the pins without reading the other
/// memberships, and gives the other chats' ids without reading the membership rows (an
/// index-only range on both databases). It also serves every read by `user_id` alone, so it
/// replaces `ix_chat_members_user`.
struct M0018ChatListIndex;

impl MigrationName for M0018ChatListIndex {
    fn name(&self) -> &str {
        "m0018_chat_list_index"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0018ChatListIndex {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let list = Index::create()
            .name("ix_chat_members_list")
            .table("chat_members")
            .col("user_id")
            .col("pin_order")
            .col("chat_id")
            .to_owned();
        manager.create_index(list).await?;
        manager.drop_index(Index::drop().name("ix_chat_members_user").table("chat_members").to_owned()).await
    }
}

/// Indexes every live text and records its mentions of today's members, a thousand messages a
/// round, then counts each member's unread mentions.
async fn backfill_search_and_mentions(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    use crate::domain::{mention, search};
    let mut after: Option<uuid::Uuid> = None;
    loop {
        let mut page = Query::select()
            .columns(["id", "chat_id", "author_id", "text", "forwarded_message_id"])
            .from("messages")
            .and_where(Expr::col("deleted_at").is_null())
            .and_where(Expr::col("text").is_not_null())
            .order_by("id", Order::Asc)
            .limit(1000)
            .to_owned();
        if let Some(after) = after {
            page.and_where(Expr::col("id").gt(after));
        }
        let rows = db.query_all(&page).await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.try_get("", "id")?);
        let mut index =
            Query::insert().into_table("message_search").columns(["message_id", "chat_id", "body"]).to_owned();
        for row in &rows {
            let (id, chat_id, text): (uuid::Uuid, uuid::Uuid, String) =
                (row.try_get("", "id")?, row.try_get("", "chat_id")?, row.try_get("", "text")?);
            index.values_panic([id.into(), chat_id.into(), search::fold(&text).into()]);
            let author: Option<uuid::Uuid> = row.try_get("", "author_id")?;
            let forwarded: Option<uuid::Uuid> = row.try_get("", "forwarded_message_id")?;
            let keys = mention::mentioned(&text);
            if keys.is_empty() || forwarded.is_some() {
                continue;
            }
            let members = Query::select()
                .column(("users", "id"))
                .from("users")
                .inner_join("chat_members", Expr::col(("chat_members", "user_id")).equals(("users", "id")))
                .and_where(Expr::col(("chat_members", "chat_id")).eq(chat_id))
                .and_where(Expr::col(("users", "username_key")).is_in(keys))
                .to_owned();
            let mut mentions =
                Query::insert().into_table("message_mentions").columns(["message_id", "user_id", "chat_id"]).to_owned();
            let mut any = false;
            for member in db.query_all(&members).await? {
                let user_id: uuid::Uuid = member.try_get("", "id")?;
                if Some(user_id) != author {
                    mentions.values_panic([id.into(), user_id.into(), chat_id.into()]);
                    any = true;
                }
            }
            if any {
                db.execute(&mentions).await?;
            }
        }
        db.execute(&index).await?;
    }
    let (mm, cm) = ("message_mentions", "chat_members");
    let unread = Query::select()
        .expr(Expr::col((mm, "message_id")).count())
        .from(mm)
        .and_where(Expr::col((mm, "chat_id")).equals((cm, "chat_id")))
        .and_where(Expr::col((mm, "user_id")).equals((cm, "user_id")))
        .and_where(
            Expr::col((cm, "last_read_id"))
                .is_null()
                .or(Expr::col((mm, "message_id")).gt(Expr::col((cm, "last_read_id")))),
        )
        .to_owned();
    let count =
        Query::update().table(cm).value("mention_count", Expr::SubQuery(None, Box::new(unread.into()))).to_owned();
    db.execute(&count).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Database};

    use super::*;

    #[tokio::test]
    async fn m0002_finds_the_subject_of_audit_rows_written_before_it() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        Migrator::up(&db, Some(1)).await.unwrap();
        let (user, session, admin) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let at = crate::store::now();
        let insert = Query::insert()
            .into_table("audit_log")
            .columns(["id", "at", "actor_id", "entity", "entity_id", "action", "before", "after"])
            .values_panic([
                uuid::Uuid::now_v7().into(),
                at.into(),
                user.into(),
                "user".into(),
                user.to_string().into(),
                "create".into(),
                Option::<serde_json::Value>::None.into(),
                serde_json::json!({"email": "a@example.org"}).into(),
            ])
            .values_panic([
                uuid::Uuid::now_v7().into(),
                at.into(),
                admin.into(),
                "session".into(),
                session.to_string().into(),
                "revoke".into(),
                serde_json::json!({"user_id": user.to_string(), "ip": "203.0.113.9"}).into(),
                Option::<serde_json::Value>::None.into(),
            ])
            .to_owned();
        db.execute(&insert).await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        let subjects = db
            .query_all(&Query::select().column("subject_id").from("audit_log").to_owned())
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<Option<uuid::Uuid>>("", "subject_id").unwrap())
            .collect::<Vec<_>>();
        assert_eq!(subjects, [Some(user), Some(user)], "the session row's subject is its user, not the admin");
    }

    #[tokio::test]
    async fn m0004_counts_what_each_member_had_unread() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        Migrator::up(&db, Some(3)).await.unwrap();
        let (chat, ann, ben) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let at = crate::store::now();
        let ids: Vec<uuid::Uuid> = (0..4).map(|_| uuid::Uuid::now_v7()).collect();
        let chats = Query::insert()
            .into_table("chats")
            .columns(["id", "kind", "created_at", "last_activity_at"])
            .values_panic([chat.into(), "group".into(), at.into(), at.into()])
            .to_owned();
        // Ann read the first message; Ben read nothing.
        let members = Query::insert()
            .into_table("chat_members")
            .columns(["chat_id", "user_id", "role", "joined_at", "last_read_id"])
            .values_panic([chat.into(), ann.into(), "owner".into(), at.into(), Some(ids[0]).into()])
            .values_panic([chat.into(), ben.into(), "member".into(), at.into(), Option::<uuid::Uuid>::None.into()])
            .to_owned();
        // By Ben, Ben, Ann, Ben; the second is deleted.
        let mut messages = Query::insert()
            .into_table("messages")
            .columns(["id", "chat_id", "author_id", "kind", "created_at", "deleted_at"])
            .to_owned();
        for (i, (author, deleted)) in [(ben, false), (ben, true), (ann, false), (ben, false)].into_iter().enumerate() {
            let deleted_at = deleted.then_some(at);
            messages.values_panic([
                ids[i].into(),
                chat.into(),
                author.into(),
                "text".into(),
                at.into(),
                deleted_at.into(),
            ]);
        }
        for insert in [chats, members, messages] {
            db.execute(&insert).await.unwrap();
        }
        // Up to m0004 only: m0016 derives the counts from totals and drops the column.
        Migrator::up(&db, Some(1)).await.unwrap();
        let select = Query::select().columns(["user_id", "unread_count"]).from("chat_members").to_owned();
        let mut counts: Vec<(uuid::Uuid, i64)> = db
            .query_all(&select)
            .await
            .unwrap()
            .iter()
            .map(|row| (row.try_get("", "user_id").unwrap(), row.try_get("", "unread_count").unwrap()))
            .collect();
        counts.sort();
        let mut expected = vec![(ann, 1), (ben, 1)];
        expected.sort();
        assert_eq!(counts, expected, "Ann: Ben's last (his deleted one and her own do not count); Ben: Ann's one");
    }
    #[tokio::test]
    async fn m0011_indexes_existing_texts_and_counts_their_unread_mentions() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        Migrator::up(&db, Some(10)).await.unwrap();
        let (chat, ann, ben) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let at = crate::store::now();
        let ids: Vec<uuid::Uuid> = (0..4).map(|_| uuid::Uuid::now_v7()).collect();
        let mut users = Query::insert()
            .into_table("users")
            .columns(["id", "username", "username_key", "password_hash", "created_at", "updated_at"])
            .to_owned();
        for (id, name) in [(ann, "Ann"), (ben, "ben")] {
            users.values_panic([id.into(), name.into(), name.to_lowercase().into(), "x".into(), at.into(), at.into()]);
        }
        let chats = Query::insert()
            .into_table("chats")
            .columns(["id", "kind", "created_at", "last_activity_at"])
            .values_panic([chat.into(), "group".into(), at.into(), at.into()])
            .to_owned();
        // Ben read the first message.
        let members = Query::insert()
            .into_table("chat_members")
            .columns(["chat_id", "user_id", "role", "joined_at", "last_read_id"])
            .values_panic([chat.into(), ann.into(), "owner".into(), at.into(), Option::<uuid::Uuid>::None.into()])
            .values_panic([chat.into(), ben.into(), "member".into(), at.into(), Some(ids[0]).into()])
            .to_owned();
        // Ann mentions Ben (read), Ben mentions Ann, Ann mentions Ben (deleted), Ann mentions Ben.
        let mut messages = Query::insert()
            .into_table("messages")
            .columns(["id", "chat_id", "author_id", "kind", "text", "created_at", "deleted_at"])
            .to_owned();
        for (i, (author, text, deleted)) in [
            (ann, "@ben 東京タワー", false),
            (ben, "@ANN Привет", false),
            (ann, "@ben secret", true),
            (ann, "again @ben", false),
        ]
        .into_iter()
        .enumerate()
        {
            let (text, deleted_at) = if deleted { (None, Some(at)) } else { (Some(text), None) };
            messages.values_panic([
                ids[i].into(),
                chat.into(),
                author.into(),
                "text".into(),
                text.into(),
                at.into(),
                deleted_at.into(),
            ]);
        }
        for insert in [users, chats, members, messages] {
            db.execute(&insert).await.unwrap();
        }
        Migrator::up(&db, None).await.unwrap();
        let counts = Query::select().columns(["user_id", "mention_count"]).from("chat_members").to_owned();
        let mut counts: Vec<(uuid::Uuid, i64)> = db
            .query_all(&counts)
            .await
            .unwrap()
            .iter()
            .map(|row| (row.try_get("", "user_id").unwrap(), row.try_get("", "mention_count").unwrap()))
            .collect();
        counts.sort();
        let mut expected = vec![(ann, 1), (ben, 1)];
        expected.sort();
        assert_eq!(counts, expected, "Ben: the last one (the first is read, the third deleted); Ann: Ben's");
        let found = |phrase: &'static str| {
            let db = &db;
            async move {
                let sql = format!(
                    "SELECT s.message_id FROM message_search_fts f JOIN message_search s ON s.seq = f.rowid \
                     WHERE f.body MATCH '\"{phrase}\"'"
                );
                let rows =
                    db.query_all_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Sqlite, sql)).await.unwrap();
                rows.iter().map(|row| row.try_get::<uuid::Uuid>("", "message_id").unwrap()).collect::<Vec<_>>()
            }
        };
        assert_eq!(found("東京タ").await, [ids[0]]);
        assert_eq!(found("привет").await, [ids[1]], "indexed folded");
        assert!(found("secret").await.is_empty(), "deleted texts are not indexed");
    }
}
