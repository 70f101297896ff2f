//! `/media/…`: stored media served by Parlor itself. Avatars are served here in the embedded
//! default (behind a CDN or nginx, `public_media_url` points their URLs elsewhere); attachments
//! are served here always, through signed links, unless their links are presigned bucket URLs.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use object_store::{Attribute, ObjectStoreExt};

use crate::app::AppState;
use crate::error::AppError;
use crate::media::links::LinkError;
use crate::media::{AVATARS, IMMUTABLE};

pub fn router() -> axum::Router<AppState> {
    axum::Router::new().route("/media/{*key}", axum::routing::get(get_media))
}

/// Keys are versioned, so a key names its bytes for good: the ETag is derived from the key and
/// a revalidation needs no storage read.
fn etag(key: &str) -> String {
    format!("\"{}\"", &crate::digest::sha256_hex(key.as_bytes())[..32])
}

fn content_type(key: &str) -> &'static str {
    match key.rsplit_once('.').map(|(_, ext)| ext) {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        _ => "application/octet-stream",
    }
}

/// The bytes of a stored file, for the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub struct MediaBytes(Vec<u8>);

/// A stored file: an avatar variant, or an attachment's file through a signed link.
///
/// An avatar's URL names its bytes for good, so the answer may be cached forever: `Cache-Control:
/// public, max-age=31536000, immutable`, an `ETag`, `X-Content-Type-Options: nosniff`.
///
/// Attachments (`attachments/…`) open only with the `expires` and `signature` of a link that
/// Parlor gave a member of the chat (the `url` and `preview_url` of an attachment, valid for
/// about `media.attachment_link_secs`, an hour by default): `Cache-Control: private` for the
/// rest of the link's life, 403 without a valid link. Once a link has expired, read the message
/// again for a new one.
///
/// With `public_media_url` set, avatar URLs point elsewhere (a CDN or the bucket); attachment
/// links still come here unless they are presigned bucket URLs (`media.presigned_attachments`).
/// The key may contain slashes (`avatars/<user>/<version>/50x50.jpg`).
#[utoipa::path(
    get, path = "/media/{key}", tag = "media",
    params(
        ("key" = String, Path, description = "The object key, slashes included", example = "avatars/01936b2e-4f6a-7cc1-9a51-3f0e2d8c4b10/0193a1f0c2d47e8f9a0b1c2d3e4f5a6b/50x50.jpg"),
        ("expires" = Option<u64>, Query, description = "An attachment link's expiry, Unix seconds"),
        ("signature" = Option<String>, Query, description = "An attachment link's signature"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer"),
    ),
    responses(
        (status = 200, description = "The file, with its stored type", content_type = "image/jpeg", body = MediaBytes),
        (status = 304, description = "Unchanged (`If-None-Match` matched)"),
        (status = 403, description = "An attachment without a valid link (`media_link_invalid`) or with an expired one (`media_link_expired`)", body = crate::web::JSendFail,
            example = json!({"status": "fail", "data": {"message": "this link has expired: read the message again for a new one", "reason": "media_link_expired"}})),
        (status = 404, description = "No such file (`media_not_found`)", body = crate::web::JSendFail,
            example = json!({"status": "fail", "data": {"message": "no such file", "reason": "media_not_found"}})),
        (status = 503, description = "Media storage unavailable", body = crate::web::JSendError),
    )
)]
pub async fn get_media(
    State(app): State<AppState>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let not_found = || AppError::not_found("media_not_found", "no such file");
    let path = object_store::path::Path::parse(&key).map_err(|_| not_found())?;
    // Only avatars are public. An attachment opens through a link Parlor signed, still valid.
    let private = if !key.starts_with(AVATARS) {
        let query: Vec<(String, String)> = serde_urlencoded::from_str(query.as_deref().unwrap_or_default())
            .map_err(|_| AppError::forbidden("media_link_invalid", "this link is not valid"))?;
        let field = |name: &str| query.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
        let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
        match app.media.links().check(path.as_ref(), field("expires"), field("signature"), now) {
            Ok(left) => Some(app.media.attachment_cache_control(left)),
            Err(LinkError::Invalid) => {
                return Err(AppError::forbidden(
                    "media_link_invalid",
                    "attachments open only through the link in their message",
                ));
            }
            Err(LinkError::Expired) => {
                return Err(AppError::forbidden(
                    "media_link_expired",
                    "this link has expired: read the message again for a new one",
                ));
            }
        }
    } else {
        None
    };
    let tag = etag(&key);
    let storage_error = |err: object_store::Error| match err {
        object_store::Error::NotFound { .. } => not_found(),
        err => {
            tracing::error!(%key, error = %err, "reading media failed");
            AppError::Unavailable("media storage")
        }
    };
    let revalidating = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|candidate| candidate.trim() == tag || candidate.trim() == "*"));
    let mut response = if revalidating {
        // The client has these bytes: only confirm they still exist.
        app.media.store().head(&path).await.map_err(storage_error)?;
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let object = app.media.store().get(&path).await.map_err(storage_error)?;
        // The type recorded with the object where the backend keeps one (S3), else by extension.
        let kind = object
            .attributes
            .get(&Attribute::ContentType)
            .and_then(|value| HeaderValue::from_str(value.as_ref()).ok())
            .unwrap_or_else(|| HeaderValue::from_static(content_type(&key)));
        let length = object.meta.size;
        // Streamed from storage: an original can be several megabytes.
        let mut response = Body::from_stream(object.into_stream()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, kind);
        response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        response
    };
    let out = response.headers_mut();
    let cache = match private {
        Some(cache) => HeaderValue::from_str(&cache).unwrap_or_else(|_| HeaderValue::from_static("private, no-cache")),
        None => HeaderValue::from_static(IMMUTABLE),
    };
    out.insert(header::CACHE_CONTROL, cache);
    out.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    out.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    if let Ok(value) = HeaderValue::from_str(&tag) {
        out.insert(header::ETAG, value);
    }
    // A `file` attachment is the sender's bytes, whatever they are: downloaded, never rendered.
    if key.ends_with("/file") {
        out.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment"));
    }
    Ok(response)
}
