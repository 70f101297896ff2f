//! `POST /api/v1/attachments`: uploads for `image` and `file` messages.

use axum::extract::{DefaultBodyLimit, Request, State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::multipart_file;
use crate::app::AppState;
use crate::chat::attachment::clean_file_name;
use crate::chat::view::AttachmentView;
use crate::config::Config;
use crate::error::AppError;
use crate::http::principal::AuthUser;
use crate::web::{JSend, JSendFail, Unauthenticated};

pub fn router(config: &Config) -> OpenApiRouter<AppState> {
    // Room for the file plus the multipart framing.
    let limit = config.media.attachment_bytes + 64 * 1024;
    OpenApiRouter::new().routes(routes!(upload)).layer(DefaultBodyLimit::max(limit))
}

/// The upload, as a multipart body.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the body
struct Upload {
    /// Any file, at most 25 MiB by default; its name is kept for display.
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentData {
    pub attachment: AttachmentView,
}

/// Upload a file or image to send.
///
/// Send it as multipart field `file`, then send a message with `type` `image` or `file` and this
/// `attachment_id` within 24 hours; only the uploader may attach it, and only once. At most 20
/// uploads (256 MiB) may wait for their message at once, and 100 be made an hour (by default). The type is
/// sniffed from the bytes: a JPEG, PNG, WebP or GIF that decodes becomes an `image` (turned
/// upright, stripped of metadata, stored as JPEG with a preview of at most 400 pixels a side);
/// anything else is a `file`, stored byte for byte and served as a download.
#[utoipa::path(
    post, path = "/attachments", tag = "messages",
    security(("bearer" = [])),
    request_body(content = Upload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored", body = JSend<AttachmentData>),
        (status = 400, description = "Malformed multipart", body = JSendFail),
        Unauthenticated,
        (status = 409, description = "`upload_quota`: too many uploads (or bytes) wait for a message already", body = JSendFail),
        (status = 413, description = "Over the size limit", body = JSendFail),
        (status = 415, description = "Not multipart", body = JSendFail),
        (status = 422, description = "No `file` field, or an empty one", body = JSendFail),
        (status = 429, description = "Too many uploads; see `Retry-After`", body = JSendFail),
        (status = 503, description = "Media storage unavailable", body = crate::web::JSendError),
    )
)]
async fn upload(
    State(app): State<AppState>,
    AuthUser(me): AuthUser,
    request: Request,
) -> Result<JSend<AttachmentData>, AppError> {
    app.chats.may_upload(me.user_id).await?;
    let (name, bytes) = multipart_file(request, &app, "file", app.config.media.attachment_bytes).await?;
    let attachment = app.chats.upload_attachment(me.user_id, clean_file_name(name.as_deref()), bytes).await?;
    Ok(JSend::created(AttachmentData { attachment: AttachmentView::new(&app.media, &attachment).await }))
}
