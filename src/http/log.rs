//! One structured log line and one metrics sample per request.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Uri;
use axum::middleware::Next;
use axum::response::Response;

use crate::app::AppState;
use crate::telemetry::{RequestLabels, RequestUser};

/// Query parameters whose values never reach a log.
const SECRET_PARAMS: &[&str] =
    &["access_token", "refresh_token", "token", "code", "password", "client_secret", "id_token"];

pub async fn log_request(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let user = RequestUser::default();
    req.extensions_mut().insert(user.clone());
    let method = req.method().clone();
    let path = redacted(req.uri());
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();

    let response = next.run(req).await;

    let latency = started.elapsed();
    let status = response.status().as_u16();
    tracing::info!(
        target: "parlor::request",
        request_id,
        method = %method,
        path,
        status,
        latency_ms = latency.as_secs_f64() * 1000.0,
        user_id = user.get().map(tracing::field::display),
        "request"
    );
    let labels = RequestLabels { method: method.to_string(), route, status };
    state.metrics.requests.get_or_create(&labels).inc();
    state.metrics.latency.get_or_create(&labels).observe(latency.as_secs_f64());
    response
}

/// The path and query with the values of secret parameters replaced.
pub fn redacted(uri: &Uri) -> String {
    let Some(query) = uri.query() else { return uri.path().to_owned() };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if SECRET_PARAMS.iter().any(|s| key.eq_ignore_ascii_case(s)) => format!("{key}=[REDACTED]"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{}?{}", uri.path(), query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_query_values_are_redacted() {
        let uri: Uri = "/api/v1/ws?access_token=eyJabc&room=5&Token=x".parse().unwrap();
        assert_eq!(redacted(&uri), "/api/v1/ws?access_token=[REDACTED]&room=5&Token=[REDACTED]");
        let plain: Uri = "/api/v1/me".parse().unwrap();
        assert_eq!(redacted(&plain), "/api/v1/me");
    }
}
