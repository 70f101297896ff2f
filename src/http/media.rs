//! `/media/…`: stored media served by Parlor itself, for the embedded default. Behind a CDN or
//! nginx, set `public_media_url` and this route is simply not used.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use object_store::{Attribute, ObjectStoreExt};

use crate::app::AppState;
use crate::error::AppError;
use crate::media::IMMUTABLE;

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

/// A stored file, such as an avatar variant.
///
/// The URL names its bytes for good, so the answer may be cached forever: `Cache-Control:
/// public, max-age=31536000, immutable`, an `ETag`, `X-Content-Type-Options: nosniff`. With
/// `public_media_url` set, media URLs point elsewhere (a CDN or the bucket) and this route is not
/// used. The key may contain slashes (`avatars/<user>/<version>/50x50.jpg`).
#[utoipa::path(
    get, path = "/media/{key}", tag = "media",
    params(
        ("key" = String, Path, description = "The object key, slashes included", example = "avatars/01936b2e-4f6a-7cc1-9a51-3f0e2d8c4b10/0193a1f0c2d47e8f9a0b1c2d3e4f5a6b/50x50.jpg"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer"),
    ),
    responses(
        (status = 200, description = "The file, with its stored type", content_type = "image/jpeg", body = MediaBytes),
        (status = 304, description = "Unchanged (`If-None-Match` matched)"),
        (status = 404, description = "No such file (`media_not_found`)", body = crate::web::JSendFail,
            example = json!({"status": "fail", "data": {"message": "no such file", "reason": "media_not_found"}})),
        (status = 503, description = "Media storage unavailable", body = crate::web::JSendError),
    )
)]
pub async fn get_media(
    State(app): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let not_found = || AppError::not_found("media_not_found", "no such file");
    let path = object_store::path::Path::parse(&key).map_err(|_| not_found())?;
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
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
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
