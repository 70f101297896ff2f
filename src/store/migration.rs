//! The one migration set, rendered by SeaQuery for SQLite and PostgreSQL alike.
//!
//! Migrations name tables and columns as strings, not through the entities, so that a later change
//! to an entity cannot silently rewrite history.

use sea_orm_migration::prelude::*;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(M0001Accounts)]
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
