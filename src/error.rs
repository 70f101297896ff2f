//! The one error type of the services and the interfaces, and the JSend body it becomes.
//!
//! A failure says what kind of refusal it is ([`Refusal`]), with a stable `reason` for programs
//! and a `message` for people; it knows nothing of HTTP. Each interface says it its own way:
//! `jsend.rs` turns it into an HTTP response (status, headers, JSend body), a socket
//! acknowledgement carries the same JSend body ([`jsend_of`]). Every `/api/v1` response is JSend:
//! `success` for 2xx, `fail` (field-keyed, or `message` + `reason`) for 4xx, `error` for 5xx with
//! no internals.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

/// Field name → message, as in `{"password": "must be at least 8 characters"}`.
pub type FieldErrors = BTreeMap<String, String>;

/// What kind of refusal a failure is: the client's request cannot be served as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed: unreadable JSON, a wrong code.
    BadRequest,
    /// No valid credentials.
    Unauthorized,
    /// Known, but not allowed.
    Forbidden,
    /// No such thing (or none that is any of the caller's business).
    NotFound,
    MethodNotAllowed,
    /// The state of things forbids it: taken, deleted, a direct chat.
    Conflict,
    PayloadTooLarge,
    /// The request (its body) did not arrive in time.
    RequestTimeout,
    /// The request target is longer than any route needs.
    UriTooLong,
    /// The request's headers are larger than any client needs.
    HeadersTooLarge,
    UnsupportedMediaType,
    /// Well-formed but invalid: field validation.
    Unprocessable,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A refusal with a stable `reason` for programs and a `message` for people.
    #[error("{kind:?}: {reason}")]
    Fail { kind: Refusal, reason: &'static str, message: Cow<'static, str> },
    /// A refusal whose data is keyed by the offending field names (validation, conflicts).
    #[error("{kind:?}: invalid fields {fields:?}")]
    Fields { kind: Refusal, fields: FieldErrors },
    /// Too many requests; try again after this long.
    #[error("rate limited for {0:?}")]
    RateLimited(Duration),
    /// A dependency (database, bus, storage) is down.
    #[error("unavailable: {0}")]
    Unavailable(&'static str),
    /// Anything unexpected: logged in full, answered without internals.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn fail(kind: Refusal, reason: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Fail { kind, reason, message: message.into() }
    }

    pub fn bad_request(reason: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::fail(Refusal::BadRequest, reason, message)
    }

    pub fn unauthorized(reason: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::fail(Refusal::Unauthorized, reason, message)
    }

    pub fn forbidden(reason: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::fail(Refusal::Forbidden, reason, message)
    }

    pub fn not_found(reason: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::fail(Refusal::NotFound, reason, message)
    }

    pub fn conflict(reason: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::fail(Refusal::Conflict, reason, message)
    }

    /// A body of a type the route does not take.
    pub fn unsupported_media_type(reason: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::fail(Refusal::UnsupportedMediaType, reason, message)
    }

    /// A body that is well-formed but cannot be used.
    pub fn unprocessable(reason: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::fail(Refusal::Unprocessable, reason, message)
    }

    /// A validation failure of one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::invalid_fields(FieldErrors::from([(field.to_owned(), message.into())]))
    }

    /// Validation failures of several fields at once, so a form can show every problem in one
    /// round trip.
    pub fn invalid_fields(fields: FieldErrors) -> Self {
        Self::Fields { kind: Refusal::Unprocessable, fields }
    }

    /// The value of `field` belongs to someone else.
    pub fn taken(field: &str) -> Self {
        Self::Fields {
            kind: Refusal::Conflict,
            fields: FieldErrors::from([(field.to_owned(), "is already taken".to_owned())]),
        }
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    /// The kind of refusal, for a failure the client caused.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            Self::Fail { kind, .. } | Self::Fields { kind, .. } => Some(*kind),
            Self::RateLimited(_) | Self::Unavailable(_) | Self::Internal(_) => None,
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

/// The JSend body of a command's outcome, for a socket acknowledgement: the same envelope the
/// HTTP route answers. A payload that does not serialise is a 500, logged.
pub fn jsend_of<T: Serialize>(outcome: Result<T, AppError>) -> Value {
    match outcome.and_then(|data| serde_json::to_value(data).map_err(|err| AppError::Internal(err.into()))) {
        Ok(data) => json!({ "status": "success", "data": data }),
        Err(err) => err.jsend(),
    }
}
