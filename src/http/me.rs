//! `/api/v1/me`: the caller's own account — profile, password, sessions, avatar, deletion.

use axum::extract::{DefaultBodyLimit, Request, State};

use crate::http::ids::SessionPath;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::extract::{ApiJson, has_content_type, multipart_file, read_body};
use crate::app::{App, AppState};
use crate::auth::ClientInfo;
use crate::config::Config;
use crate::domain::{Gender, SessionId, User};
use crate::error::{AppError, Refusal};
use crate::http::principal::AuthUser;
use crate::json::parse_json;
use crate::media::AvatarUrls;
use crate::profile::parse_profile_change;
use crate::store::SessionInfo;
use crate::web::{JSend, JSendFail, JsonBodyRefused, Unauthenticated};

pub fn router(config: &Config) -> OpenApiRouter<AppState> {
    // Room for the file plus multipart framing, or for its base64 (4/3 of it) in JSON.
    let avatar_body = config.media.avatar_bytes / 3 * 4 + 64 * 1024;
    OpenApiRouter::new()
        .routes(routes!(get_me, patch_me, delete_me))
        .routes(routes!(change_password))
        .routes(routes!(list_sessions))
        .routes(routes!(delete_session))
        .routes(routes!(export))
        .merge(
            OpenApiRouter::new().routes(routes!(put_avatar, delete_avatar)).layer(DefaultBodyLimit::max(avatar_body)),
        )
}

/// A profile as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-4f6a-7cc1-9a51-3f0e2d8c4b10", "username": "alice", "email": "alice@example.org",
    "phone": null, "first_name": "Alice", "last_name": null, "gender": "unspecified", "avatar": null,
    "show_presence": true, "created_at": "2026-11-21T10:00:00Z"
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
    pub avatar: Option<AvatarUrls>,
    /// Whether people who share a chat with you may see when you are online.
    pub show_presence: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl UserView {
    pub fn new(app: &App, user: User) -> Self {
        Self {
            id: user.id.into(),
            avatar: app.media.avatar_of(&user),
            username: user.username,
            email: user.email,
            phone: user.phone,
            first_name: user.first_name,
            last_name: user.last_name,
            gender: user.gender,
            show_presence: user.show_presence,
            created_at: user.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserData {
    pub user: UserView,
}

impl UserData {
    fn new(app: &App, user: User) -> JSend<Self> {
        JSend::ok(Self { user: UserView::new(app, user) })
    }
}

/// Your own profile.
#[utoipa::path(
    get, path = "/me", tag = "profile",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Your profile", body = JSend<UserData>),
        (status = 401, description = "No valid access token (`missing_token`, `invalid_token`, `token_expired`, `session_revoked`)", body = JSendFail),
    )
)]
async fn get_me(State(app): State<AppState>, AuthUser(me): AuthUser) -> Result<JSend<UserData>, AppError> {
    let user = app.profiles.current_user(me.user_id).await?;
    Ok(UserData::new(&app, user))
}

/// The editable profile fields; send only those to change.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"first_name": "Alice", "last_name": "Liddell", "gender": "female", "phone": null}))]
#[allow(dead_code)] // documents the body; the handler reads it as a map to tell absent from null
struct ProfilePatch {
    /// 3–32 of `A–Z a–z 0–9 _ .`, unique regardless of case; `null` removes it.
    username: Option<String>,
    /// Unique; `null` removes it.
    email: Option<String>,
    /// E.164 with its `+` country code, unique; `null` removes it.
    phone: Option<String>,
    /// At most 64 characters; `null` clears it.
    first_name: Option<String>,
    last_name: Option<String>,
    /// `female`, `male` or `unspecified`.
    gender: Option<Gender>,
    /// `false` hides when you are online from everyone else (they see `hidden`).
    show_presence: Option<bool>,
}

/// Edit your profile.
///
/// Only the fields sent change; `null` (or an empty string) clears an optional field. An account
/// keeps at least one of username, e-mail and phone. `id`, `created_at`, roles, the password and
/// the avatar cannot be set here (422 naming the field), nor can unknown fields.
#[utoipa::path(
    patch, path = "/me", tag = "profile",
    security(("bearer" = [])),
    request_body = ProfilePatch,
    responses(
        JsonBodyRefused,
        (status = 200, description = "The updated profile", body = JSend<UserData>),
        Unauthenticated,
        (status = 409, description = "An identifier belongs to someone else", body = JSendFail,
            example = json!({"status": "fail", "data": {"username": "is already taken"}})),
        (status = 422, description = "Invalid or read-only fields", body = JSendFail,
            example = json!({"status": "fail", "data": {"phone": "must start with + and a country code", "id": "cannot be changed"}})),
    )
)]
async fn patch_me(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<JSend<UserData>, AppError> {
    let change = parse_profile_change(&body)?;
    let user = app.profiles.update_profile(me.user_id, change).await?;
    Ok(UserData::new(&app, user))
}

/// Delete your account.
///
/// Removes the account, its identifiers (free to register again, as a new account), sessions,
/// refresh tokens and avatar files. Every token of the account is refused from the next request
/// on. The audit log keeps the history of what happened, without the personal data.
#[utoipa::path(
    delete, path = "/me", tag = "profile",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted", body = JSend<Option<String>>, example = json!({"status": "success", "data": null})),
        Unauthenticated,
    )
)]
async fn delete_me(State(app): State<AppState>, AuthUser(me): AuthUser) -> Result<JSend<Option<String>>, AppError> {
    app.profiles.delete_account(Some(me.user_id), me.user_id).await?;
    Ok(JSend::ok(None))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"current_password": "correct horse battery", "new_password": "staple fence orbit"}))]
struct PasswordChange {
    current_password: String,
    /// 8–128 characters, not a common password, not your own identifier.
    new_password: String,
}

/// Change your password.
///
/// Every other session ends; this one stays signed in.
#[utoipa::path(
    put, path = "/me/password", tag = "profile",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        JsonBodyRefused,
        (status = 200, description = "Changed", body = JSend<Option<String>>, example = json!({"status": "success", "data": null})),
        Unauthenticated,
        (status = 422, description = "Wrong current password or weak new one", body = JSendFail,
            example = json!({"status": "fail", "data": {"current_password": "is incorrect"}})),
        (status = 429, description = "Too many wrong current passwords; see `Retry-After`", body = JSendFail),
    )
)]
async fn change_password(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    client: ClientInfo,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<JSend<Option<String>>, AppError> {
    app.profiles.change_password(me, &body.current_password, &body.new_password, &client).await?;
    Ok(JSend::ok(None))
}

/// A signed-in device.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-5a10-7c3e-b1d2-6e7f8a9b0c1d", "user_agent": "Parlor/2.1 (iPhone; iOS 19.1)",
    "ip": "203.0.113.7", "created_at": "2026-11-20T08:00:00Z", "last_used_at": "2026-11-21T09:30:00Z",
    "expires_at": "2026-12-21T09:30:00Z", "current": true
}))]
pub struct SessionView {
    pub id: Uuid,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When its refresh token was last used (or the sign-in).
    #[serde(with = "time::serde::rfc3339")]
    pub last_used_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The session of the token making this request.
    pub current: bool,
}

impl SessionView {
    /// The session as listed to someone whose own session is `current`.
    pub fn new(session: SessionInfo, current: Option<SessionId>) -> Self {
        Self {
            current: Some(session.id) == current,
            id: session.id.into(),
            user_agent: session.user_agent,
            ip: session.ip,
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            expires_at: session.expires_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionsData {
    pub sessions: Vec<SessionView>,
}

/// Your signed-in devices, newest first.
#[utoipa::path(
    get, path = "/me/sessions", tag = "profile",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Your sessions", body = JSend<SessionsData>),
        Unauthenticated,
    )
)]
async fn list_sessions(State(app): State<AppState>, AuthUser(me): AuthUser) -> Result<JSend<SessionsData>, AppError> {
    let sessions = app
        .accounts
        .sessions(me)
        .await?
        .into_iter()
        .map(|s: SessionInfo| SessionView::new(s, Some(me.session_id)))
        .collect();
    Ok(JSend::ok(SessionsData { sessions }))
}

/// Sign a device out.
///
/// Its access and refresh tokens stop working at once. Ending the current session is a logout.
#[utoipa::path(
    delete, path = "/me/sessions/{id}", tag = "profile",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Session id")),
    responses(
        (status = 200, description = "Ended", body = JSend<Option<String>>, example = json!({"status": "success", "data": null})),
        Unauthenticated,
        (status = 404, description = "No such session of yours", body = JSendFail),
    )
)]
async fn delete_session(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    SessionPath(id): SessionPath,
) -> Result<JSend<Option<String>>, AppError> {
    app.accounts.end_session(me, id).await?;
    Ok(JSend::ok(None))
}

/// The avatar as a base64 string or a `data:` URL.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"image": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="}))]
struct AvatarJson {
    /// Base64 (standard or URL-safe, padding optional) or a `data:image/…;base64,` URL.
    image: String,
}

/// The avatar as a multipart upload.
#[derive(Debug, ToSchema)]
#[schema(example = json!({"file": "(the bytes of me.jpg; any file name and part Content-Type)"}))]
#[allow(dead_code)] // documents the body
struct AvatarUpload {
    /// The image file: JPEG, PNG, WebP or GIF (first frame), at most 10 MiB by default.
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AvatarData {
    /// The original's URL.
    pub url: String,
    pub avatar: AvatarUrls,
}

/// Set your avatar.
///
/// Send the image as multipart field `file`, or as JSON `{"image": "<base64 or data: URL>"}`.
/// The real format is read from the bytes (JPEG, PNG, WebP, GIF; never SVG); the file name and
/// declared type are ignored. The image is turned upright by its EXIF orientation, stripped of
/// all metadata, and stored as a JPEG original plus 50×50, 100×100 and 400×400 centre-cropped
/// squares. Every URL is new; the previous avatar's files are deleted.
#[utoipa::path(
    put, path = "/me/avatar", tag = "profile",
    security(("bearer" = [])),
    request_body(content(
        (AvatarUpload = "multipart/form-data"),
        (AvatarJson = "application/json"),
    )),
    responses(
        (status = 200, description = "Avatar set", body = JSend<AvatarData>),
        (status = 400, description = "Malformed multipart, JSON or base64", body = JSendFail),
        Unauthenticated,
        (status = 413, description = "File over the size limit", body = JSendFail),
        (status = 415, description = "Not multipart or JSON (`unsupported_media_type`), or not a supported image (`unsupported_image`)", body = JSendFail,
            example = json!({"status": "fail", "data": {"message": "not a JPEG, PNG, WebP or GIF image", "reason": "unsupported_image"}})),
        (status = 422, description = "No `file`/`image` field, an empty or corrupt image (`invalid_image`), or too many pixels (`image_too_large`)", body = JSendFail,
            example = json!({"status": "fail", "data": {"message": "the image is 50000×50000 pixels; at most 40000000 pixels are accepted", "reason": "image_too_large"}})),
        (status = 503, description = "Media storage unavailable; the old avatar is unchanged", body = crate::web::JSendError),
    )
)]
async fn put_avatar(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    request: Request,
) -> Result<JSend<AvatarData>, AppError> {
    let bytes = read_avatar(&app, request).await?;
    let user = app.profiles.set_avatar(me.user_id, bytes).await?;
    let avatar =
        app.media.avatar_of(&user).ok_or_else(|| AppError::internal(anyhow::anyhow!("avatar not recorded")))?;
    Ok(JSend::ok(AvatarData { url: avatar.original.clone(), avatar }))
}

/// Remove your avatar and its files.
#[utoipa::path(
    delete, path = "/me/avatar", tag = "profile",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Removed (also when there was none)", body = JSend<UserData>),
        Unauthenticated,
    )
)]
async fn delete_avatar(State(app): State<AppState>, AuthUser(me): AuthUser) -> Result<JSend<UserData>, AppError> {
    let user = app.profiles.remove_avatar(me.user_id).await?;
    Ok(UserData::new(&app, user))
}

/// The image bytes of an avatar upload, in either encoding, within the size limit.
async fn read_avatar(app: &AppState, request: Request) -> Result<Bytes, AppError> {
    let max = app.config.media.avatar_bytes;
    let too_large =
        || AppError::fail(Refusal::PayloadTooLarge, "body_too_large", format!("the image must be at most {max} bytes"));
    let headers = request.headers().clone();
    if has_content_type(&headers, |mime| mime == "multipart/form-data") {
        return Ok(multipart_file(request, app, "file", max).await?.1);
    }
    if has_content_type(&headers, |mime| mime == "application/json") {
        let body: AvatarJson = parse_json(&read_body(request, app).await?)?;
        let bytes = decode_base64_image(&body.image)?;
        if bytes.len() > max {
            return Err(too_large());
        }
        return Ok(Bytes::from(bytes));
    }
    Err(AppError::fail(
        Refusal::UnsupportedMediaType,
        "unsupported_media_type",
        "send multipart/form-data with a `file` field, or application/json with an `image` field",
    ))
}

/// Base64 in any common dialect, optionally as a `data:` URL.
fn decode_base64_image(raw: &str) -> Result<Vec<u8>, AppError> {
    let raw = raw.trim();
    let payload = match raw.strip_prefix("data:") {
        Some(url) => {
            let (meta, data) =
                url.split_once(',').ok_or_else(|| AppError::invalid("image", "is a data: URL without a comma"))?;
            if !meta.ends_with(";base64") {
                return Err(AppError::invalid("image", "must be a base64 data: URL"));
            }
            data
        }
        None => raw,
    };
    let compact: String = payload.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(&compact).ok())
        .ok_or_else(|| AppError::invalid("image", "is not valid base64"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_in_every_dialect_and_as_a_data_url() {
        let bytes = [0xFFu8, 0xD8, 0xFF, 0xE0, 0x3E, 0x3F];
        for encoded in [STANDARD.encode(bytes), STANDARD_NO_PAD.encode(bytes), URL_SAFE.encode(bytes)] {
            assert_eq!(decode_base64_image(&encoded).unwrap(), bytes);
            assert_eq!(decode_base64_image(&format!("data:image/jpeg;base64,{encoded}")).unwrap(), bytes);
        }
        assert_eq!(decode_base64_image("/9j/\n4D4/").unwrap(), bytes, "line breaks are ignored");
    }

    #[test]
    fn bad_base64_and_non_base64_data_urls_are_refused() {
        for bad in ["not base64!", "data:image/png,rawbytes", "data:image/png;base64"] {
            assert_eq!(
                crate::web::status(&decode_base64_image(bad).unwrap_err()),
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "{bad}"
            );
        }
    }
}

/// A ZIP archive's bytes.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub struct ZipBytes(Vec<u8>);

/// Download all my data.
///
/// A ZIP archive, sent as it is written: `profile.json`, `sessions.json`, `chats.json` (my
/// chats and memberships, with who else is in each), `messages.jsonl` (every message I wrote,
/// one JSON object a line, with its chat id; a forward of someone else's message keeps its
/// reference but not their text), `reactions.jsonl` (my reactions; likes have `emoji: null`),
/// `avatar/original.jpg` and `attachments/<id>/<file name>` (the files I uploaded). Nobody
/// else's messages are in it. A few a day (`limits.exports_per_day`, default 3); each is
/// recorded in the audit log. Should storage fail part way, the transfer breaks off rather
/// than ending in a short archive.
#[utoipa::path(
    get, path = "/me/export", tag = "profile",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The archive", content_type = "application/zip", body = ZipBytes,
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"parlor-export-….zip\"`"))),
        (status = 401, description = "No valid access token (`missing_token`, `invalid_token`, `token_expired`, `session_revoked`)", body = JSendFail),
        (status = 429, description = "Too many exports today; see `Retry-After`", body = JSendFail),
    )
)]
async fn export(State(app): State<AppState>, AuthUser(me): AuthUser) -> Result<axum::response::Response, AppError> {
    use axum::http::header;
    let bytes = app.profiles.export(me.user_id).await?;
    let date = OffsetDateTime::now_utc().date();
    let disposition = format!("attachment; filename=\"parlor-export-{}-{date}.zip\"", me.user_id);
    axum::response::Response::builder()
        .header(header::CONTENT_TYPE, "application/zip")
        .header(header::CONTENT_DISPOSITION, disposition)
        .header(header::CACHE_CONTROL, "no-store")
        .body(axum::body::Body::from_stream(bytes))
        .map_err(|err| AppError::Internal(err.into()))
}
