//! `/api/v1/me`: the caller's own profile.

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::domain::{Gender, User};
use crate::error::{AppError, JSend};
use axum::extract::State;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_me))
}

/// A profile as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-4f6a-7cc1-9a51-3f0e2d8c4b10", "username": "alice", "email": "alice@example.org",
    "phone": null, "first_name": "Alice", "last_name": null, "gender": "unspecified", "avatar": null,
    "created_at": "2026-11-21T10:00:00Z"
}))]
pub struct UserView {
    pub id: Uuid,
    pub username: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub gender: Gender,
    /// `null`, or URLs of the original and its 50×50, 100×100 and 400×400 squares.
    #[schema(value_type = Option<Object>)]
    pub avatar: Option<Value>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            phone: user.phone,
            first_name: user.first_name,
            last_name: user.last_name,
            gender: user.gender,
            avatar: None,
            created_at: user.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserData {
    pub user: UserView,
}

/// Your own profile.
#[utoipa::path(
    get, path = "/me", tag = "profile",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Your profile", body = JSend<UserData>),
        (status = 401, description = "No valid access token (`missing_token`, `invalid_token`, `token_expired`, `session_revoked`)", body = crate::error::JSendFail),
    )
)]
async fn get_me(State(app): State<AppState>, AuthUser(me): AuthUser) -> Result<JSend<UserData>, AppError> {
    let user = app.current_user(me.user_id).await?;
    Ok(JSend::ok(UserData { user: user.into() }))
}
