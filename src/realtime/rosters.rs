//! Who hears of a chat's new messages: each chat's member ids as of a roster version, kept for
//! the chats that are busy, so that a message to a group of 10,000 does not read 10,000 rows.
//!
//! A send reads the chat's roster version with the chat's lock (`chats.roster_version`, raised
//! by every join and removal in its own transaction), so a kept list is used only when it is the
//! list of that very send, on whichever instance made the change; otherwise the list is read
//! again, with its version, in one statement. The bus carries the chat and the version
//! ([`super::Audience::Members`]), not the list: every instance keeps its own.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::{ChatId, UserId};
use crate::store::{Store, StoreError};

/// Member ids kept over all chats (16 bytes each).
const KEPT_IDS: u64 = 1_000_000;

/// A chat's member ids, sorted, and the roster version they are the list of.
struct Roster {
    version: i64,
    members: Arc<[UserId]>,
}

#[derive(Clone)]
pub struct Rosters {
    kept: moka::sync::Cache<ChatId, Arc<Roster>>,
}

impl Default for Rosters {
    fn default() -> Self {
        Self::new()
    }
}

impl Rosters {
    pub fn new() -> Self {
        let kept = moka::sync::Cache::builder()
            .weigher(|_, roster: &Arc<Roster>| u32::try_from(roster.members.len()).unwrap_or(u32::MAX).max(1))
            .max_capacity(KEPT_IDS)
            .time_to_idle(Duration::from_secs(600))
            .build();
        Self { kept }
    }

    /// The members of `chat_id` at roster `version`, sorted: the kept list if it is that
    /// version's, else the list read now (the version's or a later one, as a list read after
    /// the send would be), kept for the next send.
    pub async fn members(&self, store: &Store, chat_id: ChatId, version: i64) -> Result<Arc<[UserId]>, StoreError> {
        if let Some(kept) = self.kept.get(&chat_id).filter(|kept| kept.version == version) {
            return Ok(kept.members.clone());
        }
        let Some((version, members)) = store.roster(chat_id).await? else { return Ok(Arc::from([])) };
        let members: Arc<[UserId]> = members.into();
        self.kept.insert(chat_id, Arc::new(Roster { version, members: members.clone() }));
        Ok(members)
    }
}
