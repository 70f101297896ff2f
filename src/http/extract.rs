//! `ApiJson<T>`: the JSON body extractor whose every refusal is a JSend fail.
//!
//! Wrong content type → 415, body over the limit → 413, malformed JSON → 400, well-formed JSON
//! of the wrong shape → 422 keyed by the field at fault (`{"password": "is required"}`).

use axum::body::Bytes;
use axum::extract::multipart::MultipartError;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::error::AppError;

#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_content_type(req.headers(), is_json) {
            return Err(AppError::fail(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
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
            AppError::fail(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "the request body is too large")
        } else {
            AppError::bad_request("unreadable_body", "the request body could not be read")
        }
    })
}

/// The bytes and file name of the multipart field `field`, at most `max` bytes: 415 if the body
/// is not multipart, 413 past the limit, 422 if the field is missing.
pub async fn multipart_file<S: Send + Sync>(
    request: Request,
    state: &S,
    field_name: &str,
    max: usize,
) -> Result<(Option<String>, Bytes), AppError> {
    let too_large = || {
        AppError::fail(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", format!("the file must be at most {max} bytes"))
    };
    let invalid = |err: MultipartError| {
        if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            AppError::bad_request("invalid_multipart", err.body_text())
        }
    };
    if !has_content_type(request.headers(), |mime| mime == "multipart/form-data") {
        return Err(AppError::fail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
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

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(shape_error)?;
    deserializer
        .end()
        .map_err(|_| AppError::bad_request("invalid_json", "the body has trailing characters after the JSON value"))?;
    Ok(value)
}

/// Reads an already parsed JSON value (a socket payload) with the same field-keyed errors.
pub fn parse_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, AppError> {
    serde_path_to_error::deserialize(value).map_err(shape_error)
}

fn shape_error(err: serde_path_to_error::Error<serde_json::Error>) -> AppError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    match inner.classify() {
        Category::Data => data_error(&path, &inner),
        Category::Syntax | Category::Eof | Category::Io => {
            AppError::bad_request("invalid_json", format!("the body is not valid JSON: {inner}"))
        }
    }
}

/// Keys a shape error by its field: serde reports a missing field at the parent, so take the
/// name from the message there.
fn data_error(path: &str, err: &serde_json::Error) -> AppError {
    let message = err.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message);
    if let Some(field) = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
        let key = if path == "." { field.to_owned() } else { format!("{path}.{field}") };
        return AppError::invalid(&key, "is required");
    }
    let key = if path == "." { "body" } else { path };
    AppError::invalid(key, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        age: Option<u8>,
    }

    fn fields(err: AppError) -> (StatusCode, Vec<String>) {
        match err {
            AppError::Fields { status, fields } => (status, fields.into_keys().collect()),
            other => (other.status(), vec![]),
        }
    }

    #[test]
    fn wrong_types_are_keyed_by_field() {
        let err = parse_json::<Body>(br#"{"name": "a", "age": "old"}"#).unwrap_err();
        assert_eq!(fields(err), (StatusCode::UNPROCESSABLE_ENTITY, vec!["age".to_owned()]));
    }

    #[test]
    fn missing_fields_are_keyed_by_field() {
        let err = parse_json::<Body>(br#"{"age": 3}"#).unwrap_err();
        assert_eq!(fields(err), (StatusCode::UNPROCESSABLE_ENTITY, vec!["name".to_owned()]));
    }

    #[test]
    fn malformed_json_and_trailing_garbage_are_bad_requests() {
        for body in [&br#"{"name": "#[..], b"not json", br#"{"name":"a"} extra"#, b""] {
            assert_eq!(parse_json::<Body>(body).unwrap_err().status(), StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        let deep = "[".repeat(100_000);
        assert_eq!(parse_json::<serde_json::Value>(deep.as_bytes()).unwrap_err().status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_non_object_body_is_keyed_as_body() {
        let err = parse_json::<Body>(br#""just a string""#).unwrap_err();
        assert_eq!(fields(err), (StatusCode::UNPROCESSABLE_ENTITY, vec!["body".to_owned()]));
    }
}
