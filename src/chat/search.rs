//! Message search: what a member may find, in what order, and how a result shows its match.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::view::MessageView;
use super::{Chats, chat_not_found};
use crate::domain::search::{MIN_INDEXED, SearchQuery, Snippet, snippet};
use crate::domain::{ChatId, ChatKind, UserId};
use crate::error::AppError;

/// Largest page of results.
pub const MAX_RESULTS: u64 = 50;
/// Page size when none is asked for.
pub const DEFAULT_RESULTS: u64 = 20;

/// What a member asks for, validated by the interface: `before` is the previous page's
/// `next_before`.
#[derive(Debug, Clone)]
pub struct Search {
    pub query: SearchQuery,
    pub chat_id: Option<ChatId>,
    pub before: Option<i64>,
    pub limit: u64,
}

/// Which chat a result is in.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatRef {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: ChatKind,
    /// A group's title; `null` for a direct chat.
    pub title: Option<String>,
}

/// One message found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchResult {
    pub chat: ChatRef,
    pub message: MessageView,
    /// The first match in the message's text.
    pub snippet: Snippet,
}

/// A page of results, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"results": [], "next_before": "18342"}))]
pub struct SearchPage {
    pub results: Vec<SearchResult>,
    /// Pass as `before` for the next (older) page; `null` on the last one. Opaque.
    pub next_before: Option<String>,
}

/// What a query too short for the index needs.
pub fn short_query_rule() -> String {
    format!("must be at least {MIN_INDEXED} characters, unless chat_id is given")
}

impl Chats {
    /// Messages of my chats (or of one of them) whose text contains the query, newest first.
    /// A chat I am not in is 404 like everywhere else; deleted messages are never found.
    pub async fn search_messages(&self, me: UserId, search: Search) -> Result<SearchPage, AppError> {
        let Search { query, chat_id, before, limit } = search;
        if !query.indexed() && chat_id.is_none() {
            return Err(AppError::invalid("q", short_query_rule()));
        }
        if let Some(chat_id) = chat_id {
            self.member_of(chat_id, me).await?;
        }
        let limits = &self.limits;
        limits.acquire(limits.searches, &me.to_string()).await?;
        let mut found = self.store.search_messages(me, &query, chat_id, before, limit + 1).await?;
        let more = found.len() as u64 > limit;
        found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_before = if more { found.last().map(|f| f.seq.to_string()) } else { None };
        let chat_ids: Vec<ChatId> = found.iter().map(|f| f.message.chat_id).collect();
        let chats = self.store.chats_by_ids(&chat_ids).await?;
        let messages = self.render_messages(me, found.into_iter().map(|f| f.message).collect()).await?;
        let mut results = Vec::with_capacity(messages.len());
        for message in messages {
            let chat = chats.get(&ChatId::from(message.chat_id)).ok_or_else(chat_not_found)?;
            // Found by the index, so the text holds the query; a text edited since the page was
            // read is shown as it is now.
            let snippet = message.text.as_deref().and_then(|text| snippet(text, &query)).unwrap_or_else(|| Snippet {
                before: String::new(),
                matched: String::new(),
                after: message.text.clone().unwrap_or_default(),
            });
            results.push(SearchResult {
                chat: ChatRef { id: chat.id.into(), kind: chat.kind, title: chat.title.clone() },
                message,
                snippet,
            });
        }
        Ok(SearchPage { results, next_before })
    }
}
