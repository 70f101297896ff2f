//! The one error type of the HTTP API and the JSend envelope it renders into.
//!
//! Every `/api/v1` response is JSend: `success` for 2xx, `fail` (field-keyed, or `message` +
//! `reason`) for 4xx, `error` for 5xx with no internals. Handlers return `Result<_, AppError>`
//! and never build an envelope by hand.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// Field name → message, as in `{"password": "must be at least 8 characters"}`.
pub type FieldErrors = BTreeMap<String, String>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A 4xx with a stable `reason` for programs and a `message` for people.
    #[error("{status}: {reason}")]
    Fail { status: StatusCode, reason: &'static str, message: Cow<'static, str> },
    /// A 4xx whose data is keyed by the offending field names (422 validation, 409 conflicts).
    #[error("{status}: invalid fields {fields:?}")]
    Fields { status: StatusCode, fields: FieldErrors },
    /// 429 with `Retry-After`.
    #[error("rate limited for {0:?}")]
    RateLimited(Duration),
    /// A dependency (database, bus, storage) is down: 503.
    #[error("unavailable: {0}")]
    Unavailable(&'static str),
    /// Anything unexpected: logged in full, answered as a bare 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn fail(status: StatusCode, reason: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Fail { status, reason, message: message.into() }
    }

    pub fn bad_request(reason: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::fail(StatusCode::BAD_REQUEST, reason, message)
    }

    pub fn unauthorized(reason: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::fail(StatusCode::UNAUTHORIZED, reason, message)
    }

    pub fn forbidden(reason: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::fail(StatusCode::FORBIDDEN, reason, message)
    }

    pub fn not_found(reason: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::fail(StatusCode::NOT_FOUND, reason, message)
    }

    pub fn conflict(reason: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::fail(StatusCode::CONFLICT, reason, message)
    }

    /// 415: a body of a type the route does not take.
    pub fn unsupported_media_type(reason: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::fail(StatusCode::UNSUPPORTED_MEDIA_TYPE, reason, message)
    }

    /// 422 with a reason, for a body that is well-formed but cannot be used.
    pub fn unprocessable(reason: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::fail(StatusCode::UNPROCESSABLE_ENTITY, reason, message)
    }

    /// 422 for one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::invalid_fields(FieldErrors::from([(field.to_owned(), message.into())]))
    }

    /// 422 for several fields at once, so a form can show every problem in one round trip.
    pub fn invalid_fields(fields: FieldErrors) -> Self {
        Self::Fields { status: StatusCode::UNPROCESSABLE_ENTITY, fields }
    }

    /// 409: the value of `field` belongs to someone else.
    pub fn taken(field: &str) -> Self {
        Self::Fields {
            status: StatusCode::CONFLICT,
            fields: FieldErrors::from([(field.to_owned(), "is already taken".to_owned())]),
        }
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Fail { status, .. } | Self::Fields { status, .. } => *status,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl AppError {
    /// The JSend body of this error: what an HTTP response carries, and a socket
    /// acknowledgement too. A 5xx is logged here in full and answered without internals.
    pub fn jsend(&self) -> Value {
        match self {
            Self::Fail { reason, message, .. } => {
                json!({ "status": "fail", "data": { "message": message, "reason": reason } })
            }
            Self::Fields { fields, .. } => json!({ "status": "fail", "data": fields }),
            Self::RateLimited(retry_after) => {
                let secs = retry_after.as_secs().max(1);
                json!({
                    "status": "fail",
                    "data": {
                        "message": format!("too many requests; try again in {secs} s"),
                        "reason": "rate_limited",
                        "retry_after": secs,
                    },
                })
            }
            Self::Unavailable(what) => {
                tracing::warn!(dependency = what, "dependency unavailable");
                json!({ "status": "error", "message": "the service is temporarily unavailable" })
            }
            Self::Internal(err) => {
                tracing::error!(error = ?err, "internal error");
                json!({ "status": "error", "message": "internal server error" })
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(self.jsend())).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Fail { reason, .. } if status == StatusCode::UNAUTHORIZED => {
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

/// The JSend body of a command's outcome, for a socket acknowledgement: the same envelope the
/// HTTP route answers. A payload that does not serialise is a 500, logged.
pub fn jsend_of<T: Serialize>(outcome: Result<T, AppError>) -> Value {
    match outcome.and_then(|data| serde_json::to_value(data).map_err(|err| AppError::Internal(err.into()))) {
        Ok(data) => json!({ "status": "success", "data": data }),
        Err(err) => err.jsend(),
    }
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
