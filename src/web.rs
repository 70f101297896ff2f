//! HTTP as both interfaces speak it (`http/`, and the WebSocket upgrade in `gateway/`): an
//! [`AppError`] as a response (status, headers, JSend body), the typed success envelope
//! [`JSend`], the schemas and response sets the OpenAPI document shows for them, and the bearer
//! token of a request.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::error::{AppError, Refusal};

/// A query string's `key=value` pairs, decoded; a malformed one is a 400 `invalid_query`.
pub fn query_pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, AppError> {
    serde_urlencoded::from_str(raw.unwrap_or_default())
        .map_err(|_| AppError::bad_request("invalid_query", "the query string is malformed"))
}

/// The token of an `Authorization: Bearer …` header (the scheme is case-insensitive).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The cookie of a web site session (`site/`); sockets opened from its pages send it too.
pub const SESSION_COOKIE: &str = "parlor_session";

/// The secret of the request's `parlor_session` cookie, if it has one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    let jar = axum_extra::extract::cookie::CookieJar::from_headers(headers);
    jar.get(SESSION_COOKIE).map(|cookie| cookie.value().to_owned()).filter(|value| !value.is_empty())
}

/// The status code of an error.
pub fn status(err: &AppError) -> StatusCode {
    match err {
        AppError::Fail { kind, .. } | AppError::Fields { kind, .. } => match kind {
            Refusal::BadRequest => StatusCode::BAD_REQUEST,
            Refusal::Unauthorized => StatusCode::UNAUTHORIZED,
            Refusal::Forbidden => StatusCode::FORBIDDEN,
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::Conflict => StatusCode::CONFLICT,
            Refusal::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Refusal::UriTooLong => StatusCode::URI_TOO_LONG,
            Refusal::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Refusal::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Refusal::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        },
        AppError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = status(&self);
        let mut response = (status, Json(self.jsend())).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Fail { kind: Refusal::Unauthorized, reason, .. } => {
                headers.insert(header::WWW_AUTHENTICATE, www_authenticate(reason));
            }
            Self::RateLimited(retry_after) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after.as_secs().max(1)));
            }
            _ => {}
        }
        response
    }
}

/// RFC 6750 §3: `error="invalid_token"` when a token was presented and refused, bare realm when
/// none was sent.
fn www_authenticate(reason: &str) -> HeaderValue {
    let value = match reason {
        "missing_token" | "invalid_credentials" => r#"Bearer realm="parlor""#,
        _ => r#"Bearer realm="parlor", error="invalid_token""#,
    };
    HeaderValue::from_static(value)
}

/// `{"status":"error","message":…}`
pub fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "status": "error", "message": message }))).into_response()
}

/// A successful JSend response with a typed payload, so handlers stay typed and documented.
#[derive(Debug, Serialize, ToSchema)]
pub struct JSend<T> {
    /// Always `success`.
    #[schema(example = "success")]
    pub status: &'static str,
    pub data: T,
    #[serde(skip)]
    #[schema(ignore)]
    pub http: StatusCode,
}

impl<T: Serialize> JSend<T> {
    pub fn ok(data: T) -> Self {
        Self { status: "success", data, http: StatusCode::OK }
    }

    pub fn created(data: T) -> Self {
        Self { status: "success", data, http: StatusCode::CREATED }
    }
}

impl<T: Serialize> IntoResponse for JSend<T> {
    /// Serialised straight into the body: going through a `Value` first would build (and free)
    /// a tree of maps as big as the answer.
    fn into_response(self) -> Response {
        (self.http, Json(self)).into_response()
    }
}

/// Schema of every JSend `fail` body, for the OpenAPI document.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "fail", "data": {"message": "the access token has expired", "reason": "token_expired"}}))]
pub struct JSendFail {
    /// Always `fail`.
    #[schema(example = "fail")]
    pub status: String,
    /// Field name → message for validation failures; otherwise `message` and `reason`.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// Schema of every JSend `error` body (5xx).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "error", "message": "internal server error"}))]
pub struct JSendError {
    /// Always `error`.
    pub status: String,
    pub message: String,
}

/// The 401 of every route behind a bearer token, for `responses(...)`.
#[derive(utoipa::IntoResponses)]
#[response(status = 401, description = "No valid access token")]
#[allow(dead_code, reason = "a description for the document, never built")]
pub struct Unauthenticated(JSendFail);

/// The refusals of every route that reads a JSON body (section 7 of the design), for
/// `responses(...)`.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code, reason = "a description for the document, never built")]
pub enum JsonBodyRefused {
    #[response(status = 400, description = "Malformed JSON (`invalid_json`)")]
    Malformed(JSendFail),
    #[response(status = 415, description = "Not JSON (`unsupported_media_type`)")]
    NotJson(JSendFail),
}
