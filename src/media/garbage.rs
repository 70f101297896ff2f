//! Collecting media no row points at any more: every prefix is queued in the database before
//! its objects are written or orphaned, and deleted (then unqueued) here, now or by the sweeper.

use std::sync::Arc;

use super::{Media, retry_backoff};
use crate::store::{Store, StoreError, now};

/// How many queued prefixes one sweep handles.
const SWEEP_BATCH: u64 = 100;

/// Deletes queued media. Cheap to clone.
#[derive(Clone)]
pub struct Collector {
    store: Store,
    media: Arc<Media>,
}

impl Collector {
    pub fn new(store: Store, media: Arc<Media>) -> Self {
        Self { store, media }
    }

    /// Deletes the objects under a queued prefix and unqueues it; on failure, schedules a retry.
    /// Never fails the caller: the queue entry is what guarantees the deletion. While a backup
    /// holds media (`media_holds`), the deletion waits for the hold's end instead.
    pub async fn collect(&self, prefix: &str, attempts: u32) {
        match self.store.media_held_until().await {
            Ok(None) => {}
            Ok(Some(until)) => {
                tracing::debug!(%prefix, %until, "media held by a backup; deleting later");
                if let Err(err) = self.store.media_retry_at(prefix, attempts, until).await {
                    tracing::warn!(%prefix, error = %err, "updating the media garbage list failed");
                }
                return;
            }
            // Left queued and due: the sweeper tries again.
            Err(err) => {
                tracing::warn!(%prefix, error = %err, "reading media holds failed; deleting later");
                return;
            }
        }
        let result = match self.media.delete_prefix(prefix).await {
            Ok(()) => self.store.media_collected(prefix).await,
            Err(err) => {
                let retry_at = now() + retry_backoff(attempts);
                tracing::warn!(%prefix, attempts = attempts + 1, error = %err, "deleting media failed; will retry");
                self.store.media_retry_at(prefix, attempts + 1, retry_at).await
            }
        };
        if let Err(err) = result {
            tracing::warn!(%prefix, error = %err, "updating the media garbage list failed");
        }
    }

    /// One pass of the sweeper: collects every queued prefix that is due. Returns how many
    /// prefixes it tried.
    pub async fn sweep(&self) -> Result<usize, StoreError> {
        let due = self.store.due_media_garbage(SWEEP_BATCH).await?;
        for garbage in &due {
            self.collect(&garbage.prefix, garbage.attempts).await;
        }
        Ok(due.len())
    }
}
