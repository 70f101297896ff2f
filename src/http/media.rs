//! `/media/…`: stored media served by Parlor itself, for the embedded default. Behind a CDN or
//! nginx, set `public_media_url` and this route is simply not used.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use object_store::{Attribute, ObjectStoreExt};
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::error::AppError;
use crate::media::IMMUTABLE;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new().route("/media/{*key}", axum::routing::get(get_media))
}

/// Keys are versioned, so a key names its bytes for good: the ETag is derived from the key and
/// a revalidation needs no storage read.
fn etag(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("\"{}\"", digest[..16].iter().map(|b| format!("{b:02x}")).collect::<String>())
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

async fn get_media(
    State(app): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let not_found = || AppError::not_found("media_not_found", "no such file");
    let path = object_store::path::Path::parse(&key).map_err(|_| not_found())?;
    let tag = etag(&key);
    let object = match app.media.store().get(&path).await {
        Ok(object) => object,
        Err(object_store::Error::NotFound { .. }) => return Err(not_found()),
        Err(err) => {
            tracing::error!(%key, error = %err, "reading media failed");
            return Err(AppError::Unavailable("media storage"));
        }
    };
    // The type recorded with the object where the backend keeps one (S3), else by extension.
    let stored_type = object.attributes.get(&Attribute::ContentType).map(|value| value.as_ref().to_owned());
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|candidate| candidate.trim() == tag || candidate.trim() == "*"))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let bytes = object.bytes().await.map_err(|err| {
            tracing::error!(%key, error = %err, "reading media failed");
            AppError::Unavailable("media storage")
        })?;
        let mut response = bytes.into_response();
        let kind = stored_type
            .and_then(|t| HeaderValue::from_str(&t).ok())
            .unwrap_or_else(|| HeaderValue::from_static(content_type(&key)));
        response.headers_mut().insert(header::CONTENT_TYPE, kind);
        response
    };
    let out = response.headers_mut();
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    out.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    out.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    if let Ok(value) = HeaderValue::from_str(&tag) {
        out.insert(header::ETAG, value);
    }
    Ok(response)
}
