//! `/api/v1/admin/…`: the operator's operations as JSON, for administrators' bearer tokens.
//! Every rule, the admin check included, lives in [`crate::admin`]; non-admins get 404.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::{App, AppState};
use crate::domain::User;
use crate::error::AppError;
use crate::http::ids::UserPath;
use crate::http::me::UserView;
use crate::http::principal::AuthUser;
use crate::web::{JSend, JSendFail, Unauthenticated};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(deactivate)).routes(routes!(reactivate))
}

/// An account as administrators see it: the profile, the role and whether it may sign in.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserView {
    #[serde(flatten)]
    pub user: UserView,
    pub is_admin: bool,
    /// `false` once deactivated: it cannot sign in and has no sessions.
    pub is_active: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserData {
    pub user: AdminUserView,
}

fn data(app: &App, user: User) -> JSend<AdminUserData> {
    let (is_admin, is_active) = (user.is_admin, user.is_active);
    JSend::ok(AdminUserData { user: AdminUserView { user: UserView::new(app, user), is_admin, is_active } })
}

/// Deactivate an account: it cannot sign in by API or site, and every session and socket of it
/// ends at once, on every instance. Audited.
#[utoipa::path(
    post, path = "/admin/users/{id}/deactivate", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Deactivated (or already was)", body = JSend<AdminUserData>),
        Unauthenticated,
        (status = 404, description = "Not an administrator, or no such user", body = JSendFail),
        (status = 409, description = "Your own account (`own_account`)", body = JSendFail),
    )
)]
async fn deactivate(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    UserPath(id): UserPath,
) -> Result<JSend<AdminUserData>, AppError> {
    let user = app.admin.deactivate(me.user_id, id).await?;
    Ok(data(&app, user))
}

/// Let a deactivated account sign in again. Audited.
#[utoipa::path(
    post, path = "/admin/users/{id}/reactivate", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Active (or already was)", body = JSend<AdminUserData>),
        Unauthenticated,
        (status = 404, description = "Not an administrator, or no such user", body = JSendFail),
    )
)]
async fn reactivate(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    UserPath(id): UserPath,
) -> Result<JSend<AdminUserData>, AppError> {
    let user = app.admin.reactivate(me.user_id, id).await?;
    Ok(data(&app, user))
}
