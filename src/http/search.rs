//! `/api/v1/search/messages`: find messages of my chats by their text.

use axum::extract::{RawQuery, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::chat::search::{DEFAULT_RESULTS, MAX_RESULTS, Search, SearchPage};
use crate::domain::search::SearchQuery;
use crate::error::{AppError, FieldErrors};
use crate::http::principal::AuthUser;
use crate::web::{JSend, JSendFail, Unauthenticated};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search_messages))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; the handler reads it itself
struct SearchParams {
    /// What the text must contain (case does not matter): 3–200 characters, or 1–2 with
    /// `chat_id`.
    #[param(example = "東京タワー")]
    q: String,
    /// Only this chat of mine.
    chat_id: Option<Uuid>,
    /// The previous page's `next_before`.
    before: Option<String>,
    /// 1–50; default 20.
    limit: Option<u64>,
}

/// Reads the query string, every problem keyed by its parameter.
fn parse_search(raw: Option<&str>) -> Result<Search, AppError> {
    let mut errors = FieldErrors::new();
    let (mut query, mut chat_id, mut before, mut limit) = (None, None, None, DEFAULT_RESULTS);
    for (key, value) in crate::web::query_pairs(raw)? {
        match key.as_str() {
            "q" => match SearchQuery::parse(&value) {
                Ok(q) => query = Some(q),
                Err(message) => {
                    errors.insert(key, message);
                }
            },
            "chat_id" => match value.parse::<Uuid>() {
                Ok(id) => chat_id = Some(id.into()),
                Err(_) => {
                    errors.insert(key, "must be a chat id".into());
                }
            },
            "before" => match value.parse::<i64>() {
                Ok(seq) if seq > 0 => before = Some(seq),
                _ => {
                    errors.insert(key, "must be the next_before of an earlier page".into());
                }
            },
            "limit" => match value.parse::<u64>() {
                Ok(n @ 1..) => limit = n.min(MAX_RESULTS),
                _ => {
                    errors.insert(key, format!("must be a whole number from 1 to {MAX_RESULTS}"));
                }
            },
            _ => {}
        }
    }
    if query.is_none() && !errors.contains_key("q") {
        errors.insert("q".into(), "is required".into());
    }
    match query {
        Some(query) if errors.is_empty() => Ok(Search { query, chat_id, before, limit }),
        _ => Err(AppError::invalid_fields(errors)),
    }
}

/// Search the messages of my chats.
///
/// Finds messages whose text contains `q` anywhere, ignoring case, in any script: part-words
/// (`ship` finds "friendship"), Cyrillic, and Japanese or Chinese phrases without spaces alike.
/// Only chats I am a member of are searched, deleted messages never match, and an edit is
/// found at once. Results come newest first with their chat and a `snippet` (the first match
/// as written, with some context; `…` where the text goes on); `next_before` leads to older
/// ones. A query under 3 characters needs `chat_id`.
#[utoipa::path(
    get, path = "/search/messages", tag = "search",
    security(("bearer" = [])),
    params(SearchParams),
    responses(
        (status = 200, description = "A page of results", body = JSend<SearchPage>,
            example = json!({"status": "success", "data": {"results": [{
                "chat": {"id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f", "type": "group", "title": "Tokyo trip"},
                "message": {
                    "id": "01936b31-2c4d-7e5f-8a9b-0c1d2e3f4a5b", "chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f",
                    "author": {"id": "01936b2e-4f6a-7cc1-9a51-3f0e2d8c4b10", "username": "alice", "avatar": null, "deleted": false},
                    "type": "text", "text": "明日は東京タワーに行きます", "system": null, "attachment": null,
                    "reply_to": null, "forwarded_from": null, "like_count": 0, "liked_by_me": false,
                    "reactions": [], "mentions": [], "client_id": null,
                    "created_at": "2026-11-21T10:15:02.481516Z", "edited_at": null, "deleted": false
                },
                "snippet": {"before": "明日は", "match": "東京タワー", "after": "に行きます"}
            }], "next_before": null}})),
        (status = 400, description = "A malformed query string (`invalid_query`)", body = JSendFail),
        Unauthenticated,
        (status = 404, description = "`chat_id` is not a chat of mine (`chat_not_found`)", body = JSendFail),
        (status = 422, description = "`q` missing, blank, too long, or too short without `chat_id`; bad `chat_id`, `before` or `limit`",
            body = JSendFail,
            example = json!({"status": "fail", "data": {"q": "must be at least 3 characters, unless chat_id is given"}})),
        (status = 429, description = "Too many searches; see `Retry-After`", body = JSendFail),
    )
)]
async fn search_messages(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    RawQuery(query): RawQuery,
) -> Result<JSend<SearchPage>, AppError> {
    let search = parse_search(query.as_deref())?;
    Ok(JSend::ok(app.chats.search_messages(me.user_id, search).await?))
}
