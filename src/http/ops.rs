//! Operations endpoints: liveness, readiness, Prometheus metrics and the JWKS document.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::listener::AtCapacity;
use crate::app::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz)).routes(routes!(metrics)).routes(routes!(jwks))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", example = json!({"status": "ok"}))))]
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database (and, when configured, the bus) answer, and the server has room for
/// another connection. A server at `server.max_connections` still answers this and `/healthz`
/// (from a small reserve), so that an orchestrator stops sending it clients instead of taking it
/// for dead.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", example = json!({"status": "ok", "checks": {"database": "ok"}})),
        (status = 503, description = "A dependency is down, or the server is at its connection cap",
            example = json!({"status": "unavailable", "checks": {"database": "ok", "connections": "full"}})),
    ))]
async fn readyz(State(app): State<AppState>, full: Option<Extension<AtCapacity>>) -> Response {
    let database = match app.store.ping().await {
        Ok(()) => "ok",
        Err(err) => {
            tracing::warn!(error = %err, "readiness: database unreachable");
            "unavailable"
        }
    };
    let mut checks = json!({ "database": database });
    if app.realtime.bus.is_shared() {
        checks["bus"] = json!(match app.realtime.bus.ping().await {
            Ok(()) => "ok",
            Err(err) => {
                tracing::warn!(error = %err, "readiness: Redis unreachable");
                "unavailable"
            }
        });
    }
    if full.is_some() {
        checks["connections"] = json!("full");
    }
    let ready = checks.as_object().is_some_and(|c| c.values().all(|v| v == "ok"));
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({ "status": if ready { "ok" } else { "unavailable" }, "checks": checks });
    (status, Json(body)).into_response()
}

/// Request counts and latencies in the OpenMetrics text format (Prometheus reads it).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text format",
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")))]
async fn metrics(State(app): State<AppState>) -> Response {
    let mut response = app.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

/// The public keys that verify Parlor's access tokens (RFC 7517), for stateless verification
/// by other services.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "oauth",
    responses((status = 200, description = "JSON Web Key Set", example = json!({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", "alg": "EdDSA", "use": "sig"}
    ]}))))]
async fn jwks(State(app): State<AppState>) -> Response {
    let mut response = Json(app.auth.keys.current().jwks()).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}
