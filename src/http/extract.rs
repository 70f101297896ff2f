//! `ApiJson<T>`: the JSON body extractor whose every refusal is a JSend fail.
//!
//! Wrong content type → 415, body over the limit → 413, a body that stalls or takes too long
//! (the router's body timeouts) → 408, malformed JSON → 400, well-formed JSON of the wrong shape
//! → 422 keyed by the field at fault (`{"password": "is required"}`).

use axum::body::Bytes;
use axum::extract::multipart::MultipartError;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::{AppError, Refusal};
use crate::json::parse_json;

#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_content_type(req.headers(), is_json) {
            return Err(AppError::fail(
                Refusal::UnsupportedMediaType,
                "unsupported_media_type",
                "expected Content-Type: application/json",
            ));
        }
        let bytes = read_body(req, state).await?;
        // serde's derive also accepts an array for a struct (fields by position); API bodies are
        // objects, and a body of any other shape is refused before it reaches a handler.
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|b| *b != b'{') && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() {
            return Err(AppError::invalid("body", "must be a JSON object"));
        }
        parse_json(&bytes).map(Self)
    }
}

/// An optional JSON body: a request with no body and no `Content-Type` is `None`; any other is
/// read as `ApiJson` would, with the same refusals.
impl<S: Send + Sync, T: DeserializeOwned> axum::extract::OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        if req.headers().contains_key(header::CONTENT_TYPE) {
            return <Self as FromRequest<S>>::from_request(req, state).await.map(Some);
        }
        let bytes = read_body(req, state).await?;
        if bytes.is_empty() {
            Ok(None)
        } else {
            Err(AppError::fail(
                Refusal::UnsupportedMediaType,
                "unsupported_media_type",
                "expected Content-Type: application/json",
            ))
        }
    }
}

fn is_json(mime: &str) -> bool {
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Whether the request's media type (parameters ignored) satisfies `accept`.
pub fn has_content_type(headers: &HeaderMap, accept: impl Fn(&str) -> bool) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| accept(&mime.trim().to_ascii_lowercase()))
}

/// The whole body, within the route's size limit.
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, AppError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::fail(Refusal::PayloadTooLarge, "body_too_large", "the request body is too large")
        } else if timed_out(&rejection) {
            body_timeout()
        } else {
            AppError::bad_request("unreadable_body", "the request body could not be read")
        }
    })
}

/// Whether reading a body failed on one of the router's body timeouts.
fn timed_out(err: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(err), |err| err.source()).any(|err| err.is::<tower_http::timeout::TimeoutError>())
}

fn body_timeout() -> AppError {
    AppError::fail(Refusal::RequestTimeout, "body_timeout", "the request body did not arrive in time")
}

/// The bytes and file name of the multipart field `field`, at most `max` bytes: 415 if the body
/// is not multipart, 413 past the limit, 422 if the field is missing.
pub async fn multipart_file<S: Send + Sync>(
    request: Request,
    state: &S,
    field_name: &str,
    max: usize,
) -> Result<(Option<String>, Bytes), AppError> {
    let too_large =
        || AppError::fail(Refusal::PayloadTooLarge, "body_too_large", format!("the file must be at most {max} bytes"));
    let invalid = |err: MultipartError| {
        if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else if timed_out(&err) {
            body_timeout()
        } else {
            AppError::bad_request("invalid_multipart", err.body_text())
        }
    };
    if !has_content_type(request.headers(), |mime| mime == "multipart/form-data") {
        return Err(AppError::fail(
            Refusal::UnsupportedMediaType,
            "unsupported_media_type",
            format!("send multipart/form-data with a `{field_name}` field"),
        ));
    }
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(|err| AppError::bad_request("invalid_multipart", err.body_text()))?;
    loop {
        let Some(mut field) = multipart.next_field().await.map_err(invalid)? else {
            return Err(AppError::invalid(field_name, "is required"));
        };
        if field.name() != Some(field_name) {
            continue;
        }
        let file_name = field.file_name().map(str::to_owned);
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(invalid)? {
            if bytes.len() + chunk.len() > max {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok((file_name, Bytes::from(bytes)));
    }
}

/// A keyset page a list route was asked for: `after` (a cursor the route parses) and `limit`.
pub struct PageQuery<C> {
    pub after: Option<C>,
    pub limit: u64,
}

/// Reads `?after=…&limit=…`: `None` when neither is given (the whole list), else the page, with
/// `limit` from 1 (capped at `max`; `default` when absent). Every bad parameter is a 422 keyed
/// by its name; `after_rule` says what an `after` must be.
pub fn page_query<C>(
    raw: Option<&str>,
    parse_after: impl Fn(&str) -> Option<C>,
    after_rule: &str,
    default: u64,
    max: u64,
) -> Result<Option<PageQuery<C>>, AppError> {
    let pairs = crate::web::query_pairs(raw)?;
    let (mut after, mut limit, mut paged) = (None, default, false);
    let mut errors = crate::error::FieldErrors::new();
    for (key, value) in pairs {
        match key.as_str() {
            "after" => {
                paged = true;
                match parse_after(&value) {
                    Some(cursor) => after = Some(cursor),
                    None => {
                        errors.insert(key, after_rule.to_owned());
                    }
                }
            }
            "limit" => {
                paged = true;
                match value.parse::<u64>() {
                    Ok(n @ 1..) => limit = n.min(max),
                    _ => {
                        errors.insert(key, format!("must be a whole number from 1 to {max}"));
                    }
                }
            }
            _ => {}
        }
    }
    if !errors.is_empty() {
        return Err(AppError::invalid_fields(errors));
    }
    Ok(paged.then_some(PageQuery { after, limit }))
}
