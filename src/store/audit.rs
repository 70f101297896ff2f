//! Audit log writes (always inside the caller's transaction) and reads.

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::entity::audit_log;
use super::{Store, now};

/// One change: who did what to which record, with its state before and after (no secrets).
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor_id: Option<Uuid>,
    pub entity: &'static str,
    pub entity_id: String,
    pub action: &'static str,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: Uuid,
    pub at: OffsetDateTime,
    pub actor_id: Option<Uuid>,
    pub entity: String,
    pub entity_id: String,
    pub action: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl AuditEntry {
    /// Writes the entry on `conn`, which should be the transaction making the change.
    pub(super) async fn write(self, conn: &impl ConnectionTrait) -> Result<(), DbErr> {
        audit_log::ActiveModel {
            id: Set(Uuid::now_v7()),
            at: Set(now()),
            actor_id: Set(self.actor_id),
            entity: Set(self.entity.to_owned()),
            entity_id: Set(self.entity_id),
            action: Set(self.action.to_owned()),
            before: Set(self.before),
            after: Set(self.after),
        }
        .insert(conn)
        .await?;
        Ok(())
    }
}

impl Store {
    /// The history of one record, oldest first.
    pub async fn audit_trail(&self, entity: &str, entity_id: &str) -> Result<Vec<AuditRecord>, DbErr> {
        let rows = audit_log::Entity::find()
            .filter(audit_log::Column::Entity.eq(entity))
            .filter(audit_log::Column::EntityId.eq(entity_id))
            .order_by_asc(audit_log::Column::Id)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| AuditRecord {
                id: row.id,
                at: row.at,
                actor_id: row.actor_id,
                entity: row.entity,
                entity_id: row.entity_id,
                action: row.action,
                before: row.before,
                after: row.after,
            })
            .collect())
    }
}
