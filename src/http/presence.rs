//! `/api/v1/presence`: who of a list of people is online, as far as the caller may know.

use axum::extract::{RawQuery, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::AppError;
use crate::http::principal::AuthUser;
use crate::presence::{PresenceView, parse_user_ids};
use crate::web::{JSend, JSendFail, Unauthenticated};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_presence))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; the handler reads it itself
struct PresenceQuery {
    /// Up to 100 user ids, comma-separated (repeats are answered once).
    #[param(example = "01936b2e-4f6a-7cc1-9a51-3f0e2d8c4b10,01936b2f-0a11-7d42-8e3c-5b6a7c8d9e0f")]
    user_ids: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PresenceData {
    /// One entry per distinct id asked about, in the order asked.
    pub presence: Vec<PresenceView>,
}

/// The presence of up to 100 people.
///
/// Each is `online`, `offline` (with `last_seen_at`, when their last socket closed) or `hidden`:
/// you see the presence of people you share a chat with, and your own, unless they set
/// `show_presence: false`. An id that names no account reads `hidden` too. Changes arrive as
/// `presence.changed` events.
#[utoipa::path(
    get, path = "/presence", tag = "presence",
    security(("bearer" = [])),
    params(PresenceQuery),
    responses(
        (status = 200, description = "Their presence", body = JSend<PresenceData>),
        (status = 400, description = "A malformed query string (`invalid_query`)", body = JSendFail),
        Unauthenticated,
        (status = 422, description = "`user_ids` missing, not user ids, or more than 100", body = JSendFail,
            example = json!({"status": "fail", "data": {"user_ids": "`nope` is not a user id"}})),
    )
)]
async fn get_presence(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    RawQuery(query): RawQuery,
) -> Result<JSend<PresenceData>, AppError> {
    let pairs = crate::web::query_pairs(query.as_deref())?;
    let text = pairs.into_iter().filter(|(key, _)| key == "user_ids").map(|(_, value)| value).collect::<Vec<_>>();
    let user_ids = parse_user_ids(&text.join(",")).map_err(|message| AppError::invalid("user_ids", message))?;
    Ok(JSend::ok(PresenceData { presence: app.presence.of(me.user_id, &user_ids).await? }))
}
