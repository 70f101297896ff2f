//! `/api/v1/users`: other people's public profiles and the directory.

use axum::extract::{RawQuery, State};

use crate::http::ids::UserPath;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::{App, AppState};
use crate::domain::{Gender, User, UserId};
use crate::error::AppError;
use crate::http::extract::{PageQuery, page_query};
use crate::http::principal::AuthUser;
use crate::media::AvatarUrls;
use crate::web::{JSend, JSendFail, Unauthenticated};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_users)).routes(routes!(get_user))
}

/// A profile as anyone sees it: never an e-mail address or phone number.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-4f6a-7cc1-9a51-3f0e2d8c4b10", "username": "alice", "first_name": "Alice",
    "last_name": null, "gender": "female", "avatar": null, "created_at": "2026-11-21T10:00:00Z"
}))]
pub struct PublicUserView {
    pub id: Uuid,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub gender: Gender,
    pub avatar: Option<AvatarUrls>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl PublicUserView {
    pub fn new(app: &App, user: User) -> Self {
        Self {
            id: user.id.into(),
            avatar: app.media.avatar_of(&user),
            username: user.username,
            first_name: user.first_name,
            last_name: user.last_name,
            gender: user.gender,
            created_at: user.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicUserData {
    pub user: PublicUserView,
}

/// Every account id, with how many accounts there are of each gender.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "user_ids": ["01936b2e-4f6a-7cc1-9a51-3f0e2d8c4b10", "01936b2f-0a11-7d42-8e3c-5b6a7c8d9e0f"],
    "count_female": 1, "count_male": 0, "count_unspecified": 1
}))]
pub struct DirectoryData {
    /// Oldest account first.
    pub user_ids: Vec<Uuid>,
    /// Over all accounts, whichever page this is.
    pub count_female: u64,
    pub count_male: u64,
    pub count_unspecified: u64,
    /// Only when a page was asked for (`limit` or `after`): the `after` of the next page, or
    /// `null` on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Uuid>, nullable)]
    pub next_after: Option<Option<Uuid>>,
}

/// A page of the directory.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; the handler reads it field by field
struct DirectoryQuery {
    /// Accounts after this id (the previous page's `next_after`).
    after: Option<Uuid>,
    /// 1–1000 (larger values are capped); default 100 when `after` is given.
    limit: Option<u64>,
}

/// Largest directory page, and its size when none is asked for.
const MAX_DIRECTORY_PAGE: u64 = 1000;
const DEFAULT_DIRECTORY_PAGE: u64 = 100;

/// The user directory: every account id and the gender counts (counted by the database).
///
/// Without parameters, every id; with `limit` or `after`, one keyset page of ids (oldest first)
/// and `next_after` for the next. The counts are always over every account.
#[utoipa::path(
    get, path = "/users", tag = "users",
    security(("bearer" = [])),
    params(DirectoryQuery),
    responses(
        (status = 200, description = "The directory", body = JSend<DirectoryData>),
        Unauthenticated,
        (status = 422, description = "Bad `after` or `limit`", body = JSendFail,
            example = json!({"status": "fail", "data": {"limit": "must be a whole number from 1 to 1000"}})),
    )
)]
async fn list_users(
    State(app): State<AppState>,
    AuthUser(_me): AuthUser,
    RawQuery(query): RawQuery,
) -> Result<JSend<DirectoryData>, AppError> {
    let page = page_query(
        query.as_deref(),
        |raw| raw.parse::<UserId>().ok(),
        "must be a user id",
        DEFAULT_DIRECTORY_PAGE,
        MAX_DIRECTORY_PAGE,
    )?;
    // One more than asked, to tell whether another page follows.
    let directory = app.profiles.directory(page.as_ref().map(|p| (p.after, p.limit + 1))).await?;
    let mut user_ids: Vec<Uuid> = directory.user_ids.into_iter().map(Into::into).collect();
    let next_after = page.map(|PageQuery { limit, .. }| {
        let more = user_ids.len() as u64 > limit;
        user_ids.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        more.then(|| user_ids.last().copied()).flatten()
    });
    Ok(JSend::ok(DirectoryData {
        user_ids,
        count_female: directory.female,
        count_male: directory.male,
        count_unspecified: directory.unspecified,
        next_after,
    }))
}

/// A user's public profile: no e-mail or phone, whoever asks.
#[utoipa::path(
    get, path = "/users/{id}", tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The public profile", body = JSend<PublicUserData>),
        (status = 404, description = "No such user (`user_not_found`)", body = JSendFail),
    )
)]
async fn get_user(State(app): State<AppState>, UserPath(id): UserPath) -> Result<JSend<PublicUserData>, AppError> {
    let user = app.profiles.user(id).await?;
    Ok(JSend::ok(PublicUserData { user: PublicUserView::new(&app, user) }))
}
