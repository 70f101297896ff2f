//! Audit log writes (always inside the caller's transaction) and reads.

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreError;
use super::entity::audit_log;
use super::{Store, now};
use crate::domain::UserId;

/// One change: who did what to which record, with its state before and after (no secrets).
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor_id: Option<UserId>,
    pub entity: &'static str,
    pub entity_id: String,
    pub action: &'static str,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// The user whose personal data the snapshots hold, if any.
    pub subject_id: Option<UserId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: Uuid,
    pub at: OffsetDateTime,
    pub actor_id: Option<UserId>,
    pub entity: String,
    pub entity_id: String,
    pub action: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl From<audit_log::Model> for AuditRecord {
    fn from(row: audit_log::Model) -> Self {
        Self {
            id: row.id,
            at: row.at,
            actor_id: row.actor_id,
            entity: row.entity,
            entity_id: row.entity_id,
            action: row.action,
            before: row.before,
            after: row.after,
        }
    }
}

/// A record the audit log follows: what the log calls it, which one it is, what it looked like
/// (never a secret), and whose personal data that holds.
pub(super) trait Audited {
    const ENTITY: &'static str;
    fn audit_id(&self) -> String;
    fn snapshot(&self) -> Option<Value>;
    fn subject(&self) -> Option<UserId> {
        None
    }
}

/// Writes one change of a record, on `conn`, which should be the transaction making it.
pub(super) async fn record<T: Audited>(
    conn: &impl ConnectionTrait,
    actor: Option<UserId>,
    action: &'static str,
    before: Option<&T>,
    after: Option<&T>,
) -> Result<(), DbErr> {
    match AuditEntry::of(actor, action, before, after) {
        Some(entry) => entry.write(conn).await,
        None => Ok(()),
    }
}

impl AuditEntry {
    /// The entry for a change from `before` to `after`; `None` when both are.
    pub(super) fn of<T: Audited>(
        actor: Option<UserId>,
        action: &'static str,
        before: Option<&T>,
        after: Option<&T>,
    ) -> Option<Self> {
        let record = after.or(before)?;
        Some(Self {
            actor_id: actor,
            entity: T::ENTITY,
            entity_id: record.audit_id(),
            action,
            before: before.and_then(Audited::snapshot),
            after: after.and_then(Audited::snapshot),
            subject_id: record.subject(),
        })
    }

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
            subject_id: Set(self.subject_id),
        }
        .insert(conn)
        .await?;
        Ok(())
    }
}

/// Snapshot fields that identify a person: blanked when their subject deletes the account.
const PERSONAL_FIELDS: [&str; 8] =
    ["username", "email", "phone", "first_name", "last_name", "ip", "user_agent", "avatar_key"];

/// A snapshot with its personal fields replaced by `"[deleted]"` (absent and null ones stay so).
pub(super) fn redacted(snapshot: Option<Value>) -> Option<Value> {
    let mut snapshot = snapshot?;
    if let Some(object) = snapshot.as_object_mut() {
        for field in PERSONAL_FIELDS {
            if let Some(value) = object.get_mut(field)
                && !value.is_null()
            {
                *value = Value::from("[deleted]");
            }
        }
    }
    Some(snapshot)
}

/// Scrubs the personal data of `subject` from every audit row, keeping who did what and when.
pub(super) async fn scrub_subject(conn: &impl ConnectionTrait, subject: UserId) -> Result<(), DbErr> {
    let rows = audit_log::Entity::find().filter(audit_log::Column::SubjectId.eq(subject)).all(conn).await?;
    for row in rows {
        let before = redacted(row.before.clone());
        let after = redacted(row.after.clone());
        if before != row.before || after != row.after {
            let mut active: audit_log::ActiveModel = row.into();
            active.before = Set(before);
            active.after = Set(after);
            active.update(conn).await?;
        }
    }
    Ok(())
}

impl Store {
    /// The history of one record, oldest first.
    pub async fn audit_trail(&self, entity: &str, entity_id: &str) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = audit_log::Entity::find()
            .filter(audit_log::Column::Entity.eq(entity))
            .filter(audit_log::Column::EntityId.eq(entity_id))
            .order_by_asc(audit_log::Column::Id)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(AuditRecord::from).collect())
    }
}
