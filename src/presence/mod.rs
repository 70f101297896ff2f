//! Presence as people see it: who may see whom, `last_seen_at`, and `presence.changed`.
//!
//! The facts (who has a socket open anywhere) come from [`crate::realtime::presence`]. This
//! service adds the rules: a user's presence is visible to themselves and to the people who share
//! a chat with them, and to nobody else once they set `show_presence: false` (then it reads
//! `hidden`, like the presence of a stranger, so the setting itself is not given away).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};

use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{User, UserId};
use crate::error::AppError;
use crate::realtime::presence::News;
use crate::realtime::{Audience, Realtime};
use crate::store::{Store, StoreError, now};

/// Most users one presence request may ask about.
pub const MAX_USERS: usize = 100;

/// What one person may know of another's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A socket of theirs is open on some instance.
    Online,
    Offline,
    /// Not yours to know: no chat in common, `show_presence: false`, or no such account.
    Hidden,
}

/// A user's presence as the reader may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({
    "user_id": "01936b2e-4f6a-7cc1-9a51-3f0e2d8c4b10", "status": "offline",
    "last_seen_at": "2026-11-21T10:15:02.481516Z"
}))]
pub struct PresenceView {
    pub user_id: Uuid,
    pub status: Status,
    /// When their last socket closed; `null` while online, when hidden, or if they never had one.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen_at: Option<OffsetDateTime>,
}

impl PresenceView {
    pub fn hidden(user_id: UserId) -> Self {
        Self { user_id: user_id.uuid(), status: Status::Hidden, last_seen_at: None }
    }
}

crate::events! {
    /// What presence tells others.
    pub enum PresenceEvent {
        /// A user came online or went offline (at most one per user per `realtime.presence_quiet_secs`,
        /// the state at its end), or hid or showed their presence.
        Changed(PresenceView) = "presence.changed",
            to: "Every connection of everyone who shares a chat with that user (none while they hide it).",
    }
}

/// Presence rules over the tracker's facts. Cheap to clone.
#[derive(Clone)]
pub struct Presence {
    store: Store,
    realtime: Arc<Realtime>,
}

impl Presence {
    /// Also starts telling people what the tracker's `news` reports, until the tracker stops
    /// (it goes with the last reference to `realtime`, which this task does not keep).
    pub fn new(store: Store, realtime: Arc<Realtime>, news: mpsc::UnboundedReceiver<News>) -> Self {
        tokio::spawn(tell(store.clone(), Arc::downgrade(&realtime), news));
        Self { store, realtime }
    }

    /// `viewer`'s view of each of `user_ids`, in their order.
    pub async fn of(&self, viewer: UserId, user_ids: &[UserId]) -> Result<Vec<PresenceView>, AppError> {
        let others: Vec<UserId> = user_ids.iter().copied().filter(|id| *id != viewer).collect();
        let sharing = self.store.sharing_a_chat(viewer, &others).await?;
        let users = self.store.users(user_ids.iter().copied()).await?;
        let visible: Vec<UserId> = user_ids
            .iter()
            .copied()
            .filter(|id| users.get(id).is_some_and(|user| *id == viewer || (shows(user) && sharing.contains(id))))
            .collect();
        let known = self.facts(&visible).await?;
        Ok(user_ids.iter().map(|id| known.get(id).cloned().unwrap_or_else(|| PresenceView::hidden(*id))).collect())
    }

    /// The presence of chat members, for everyone in the chat (who share it by definition):
    /// `hidden` for those who hide it or whose account is gone.
    pub async fn of_members<'a>(
        &self,
        users: impl Iterator<Item = &'a User>,
    ) -> Result<HashMap<UserId, PresenceView>, StoreError> {
        let visible: Vec<UserId> = users.filter(|user| shows(user)).map(|user| user.id).collect();
        self.facts(&visible).await
    }

    /// After `user` turned `show_presence` on or off: the people who share a chat with them see
    /// their presence appear or become `hidden` at once.
    pub async fn visibility_changed(&self, user: &User) {
        let view = if shows(user) {
            match self.facts(&[user.id]).await {
                Ok(mut facts) => facts.remove(&user.id).unwrap_or_else(|| PresenceView::hidden(user.id)),
                Err(err) => return tracing::warn!(user_id = %user.id, error = %err, "reading presence failed"),
            }
        } else {
            PresenceView::hidden(user.id)
        };
        let audience = match self.store.chat_partners_of(&[user.id]).await {
            Ok(mut partners) => partners.remove(&user.id).unwrap_or_default(),
            Err(err) => return tracing::warn!(user_id = %user.id, error = %err, "reading chat partners failed"),
        };
        if !audience.is_empty() {
            self.realtime.emit(Audience::Users(audience), &PresenceEvent::Changed(view)).await;
        }
    }

    /// At a clean stop: this instance's users are offline now (with Redis, for the instances
    /// that stay), rather than once its claim expires.
    pub async fn leave(&self) {
        match self.realtime.presence.leave().await {
            Ok(gone) => {
                let announce = gone.iter().map(|user_id| (*user_id, false)).collect();
                report(&self.store, &self.realtime, News { gone_offline: gone, announce }).await;
            }
            Err(err) => tracing::warn!(error = %err, "withdrawing this instance's presence claim failed; it expires"),
        }
    }

    /// Online or offline with `last_seen_at`, for users whose presence the caller may see.
    async fn facts(&self, user_ids: &[UserId]) -> Result<HashMap<UserId, PresenceView>, StoreError> {
        if user_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let online = self.realtime.presence.online(user_ids).await;
        let offline: Vec<UserId> = user_ids.iter().copied().filter(|id| !online.contains(id)).collect();
        let last_seen = self.store.last_seen(offline).await?;
        Ok(user_ids
            .iter()
            .map(|id| {
                let view = if online.contains(id) {
                    PresenceView { user_id: id.uuid(), status: Status::Online, last_seen_at: None }
                } else {
                    PresenceView {
                        user_id: id.uuid(),
                        status: Status::Offline,
                        last_seen_at: last_seen.get(id).copied(),
                    }
                };
                (*id, view)
            })
            .collect())
    }
}

/// Keeps `last_seen_at` and announces changes until the tracker stops.
async fn tell(store: Store, realtime: Weak<Realtime>, mut news: mpsc::UnboundedReceiver<News>) {
    while let Some(mut batch) = news.recv().await {
        // Whatever queued up meanwhile goes out with it: a busy moment costs fewer, larger batches.
        while let Ok(more) = news.try_recv() {
            batch.gone_offline.extend(more.gone_offline);
            batch.announce.extend(more.announce);
        }
        let Some(realtime) = realtime.upgrade() else { return };
        report(&store, &realtime, batch).await;
    }
}

/// Keeps `last_seen_at` of those gone offline, then announces the changes (the latest word on
/// each user stands).
async fn report(store: &Store, realtime: &Realtime, news: News) {
    if let Err(err) = store.mark_last_seen(&news.gone_offline, now()).await {
        tracing::warn!(users = news.gone_offline.len(), error = %err, "recording last_seen_at failed");
    }
    let latest: HashMap<UserId, bool> = news.announce.into_iter().collect();
    if let Err(err) = announce_changes(store, realtime, latest).await {
        tracing::warn!(error = %err, "announcing presence changes failed");
    }
}

/// Tells the people who share a chat with each user, unless they hide their presence (their own
/// devices know already): three queries for the whole batch (accounts, `last_seen_at`, partners).
async fn announce_changes(
    store: &Store,
    realtime: &Realtime,
    changes: HashMap<UserId, bool>,
) -> Result<(), StoreError> {
    let users = store.users(changes.keys().copied()).await?;
    let shown: Vec<UserId> = changes.keys().copied().filter(|id| users.get(id).is_some_and(shows)).collect();
    let offline = shown.iter().copied().filter(|id| !changes[id]);
    let last_seen = store.last_seen(offline).await?;
    let mut partners = store.chat_partners_of(&shown).await?;
    for user_id in shown {
        let online = changes[&user_id];
        let status = if online { Status::Online } else { Status::Offline };
        let last_seen_at = if online { None } else { last_seen.get(&user_id).copied() };
        let view = PresenceView { user_id: user_id.uuid(), status, last_seen_at };
        let audience = partners.remove(&user_id).unwrap_or_default();
        if !audience.is_empty() {
            realtime.emit(Audience::Users(audience), &PresenceEvent::Changed(view)).await;
        }
    }
    Ok(())
}

/// Whether others may see `user`'s presence at all.
fn shows(user: &User) -> bool {
    user.show_presence && user.is_active
}

/// `user_ids=a,b,c`: at most [`MAX_USERS`] distinct ids, duplicates answered once.
pub fn parse_user_ids(text: &str) -> Result<Vec<UserId>, String> {
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    for part in text.split(',').map(str::trim).filter(|part| !part.is_empty()) {
        let id: UserId = part.parse().map_err(|_| format!("`{part}` is not a user id"))?;
        if seen.insert(id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err("name at least one user id, comma-separated".to_owned());
    }
    if ids.len() > MAX_USERS {
        return Err(format!("at most {MAX_USERS} user ids"));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_read_once_each_and_bounded() {
        let (a, b) = (UserId::new(), UserId::new());
        assert_eq!(parse_user_ids(&format!("{a}, {b},{a},")).unwrap(), vec![a, b]);
        assert!(parse_user_ids("").unwrap_err().contains("at least one"));
        assert!(parse_user_ids("nope").unwrap_err().contains("`nope` is not a user id"));
        let many: Vec<String> = (0..=MAX_USERS).map(|_| UserId::new().to_string()).collect();
        assert!(parse_user_ids(&many.join(",")).unwrap_err().contains("at most 100"));
    }
}
