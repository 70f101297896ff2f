//! `/api/v1/users`: other people's public profiles and the directory.

use axum::extract::State;

use crate::http::ids::UserPath;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::{App, AppState};
use crate::domain::{Gender, User};
use crate::error::AppError;
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
    pub count_female: u64,
    pub count_male: u64,
    pub count_unspecified: u64,
}

/// The user directory: every account id and the gender counts (counted by the database).
#[utoipa::path(
    get, path = "/users", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The directory", body = JSend<DirectoryData>),
        Unauthenticated,
    )
)]
async fn list_users(State(app): State<AppState>, AuthUser(_me): AuthUser) -> Result<JSend<DirectoryData>, AppError> {
    let directory = app.profiles.directory().await?;
    Ok(JSend::ok(DirectoryData {
        user_ids: directory.user_ids.into_iter().map(Into::into).collect(),
        count_female: directory.female,
        count_male: directory.male,
        count_unspecified: directory.unspecified,
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
