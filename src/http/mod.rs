//! The HTTP surface: one module per resource, merged into one router.

pub mod admin;
pub mod attachments;
pub mod auth;
pub mod chats;
pub mod docs;
pub mod extract;
pub mod ids;
pub mod listener;
pub mod log;
pub mod me;
pub mod media;
pub mod messages;
pub mod oauth;
pub mod ops;
pub mod presence;
pub mod principal;
pub mod search;
pub mod users;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::middleware::Next;
use axum::response::Response;
use axum::{Extension, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tracing::Instrument;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::app::AppState;
use crate::config::Config;
use crate::error::{AppError, Refusal};
use crate::web::error;

/// Every documented route, with the OpenAPI document they make up.
fn api_router(config: &Config) -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .merge(auth::router())
        .merge(me::router(config))
        .merge(users::router())
        .merge(presence::router())
        .merge(chats::router())
        .merge(messages::router())
        .merge(search::router())
        .merge(attachments::router(config))
        .merge(admin::router())
        .merge(crate::gateway::ws::router())
        .merge(crate::gateway::asyncapi::router());
    OpenApiRouter::with_openapi(docs::ApiDoc::openapi()).nest("/api/v1", v1).merge(oauth::router()).merge(ops::router())
}

/// The OpenAPI 3.1 document, as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    docs::with_password_flow(api_router(&Config::default()).split_for_parts().1)
}

/// The whole application router, Socket.IO included. Starts the application's real-time
/// background work ([`crate::realtime::start`]); build one router per application.
pub async fn router(state: AppState) -> anyhow::Result<Router> {
    let (routes, openapi) = api_router(&state.config).split_for_parts();
    let openapi = docs::with_password_flow(openapi);
    let body_limit = state.config.limits.json_body_bytes;
    let routes = routes
        .merge(media::router())
        .merge(crate::site::router(&state))
        .merge(SwaggerUi::new("/docs").url("/api/v1/openapi.json", openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    // Socket.IO answers `/socket.io/` itself, before routing; everything else passes through.
    let routes = crate::gateway::sio::mount(routes, &state).await?;
    crate::realtime::start(&state.realtime);
    Ok(routes
        .layer(Extension(crate::gateway::asyncapi::Rendered::new(&state.config)))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), body_timeouts))
        .layer(CatchPanicLayer::custom(|_panic| error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")))
        .layer(middleware::from_fn(head_limits))
        .layer(middleware::from_fn_with_state(state.clone(), security_headers))
        .layer(middleware::from_fn_with_state(state.clone(), log::log_request))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(middleware::from_fn(run_to_completion))
        .with_state(state))
}

/// The longest request target (path and query) answered; longer ones get a JSend 414. hyper
/// itself answers a bare 414 past 64 KiB.
const MAX_TARGET_BYTES: usize = 8 * 1024;
/// The most header bytes (names and values) a request may carry; more gets a JSend 431. hyper
/// itself answers a bare 431 past its 400 KiB read buffer or 100 header fields.
const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Refuses, in JSend, a request whose target or headers are larger than any client of the API
/// needs (browsers send a few KiB), before anything reads them.
async fn head_limits(request: Request, next: Next) -> Response {
    let target = request.uri().path_and_query().map_or(0, |target| target.as_str().len());
    if target > MAX_TARGET_BYTES {
        return error_response(AppError::fail(
            Refusal::UriTooLong,
            "uri_too_long",
            format!("the request target must be at most {MAX_TARGET_BYTES} bytes"),
        ));
    }
    let headers: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if headers > MAX_HEADER_BYTES {
        return error_response(AppError::fail(
            Refusal::HeadersTooLarge,
            "headers_too_large",
            format!("the request's headers must be at most {MAX_HEADER_BYTES} bytes together"),
        ));
    }
    next.run(request).await
}

fn error_response(err: AppError) -> Response {
    axum::response::IntoResponse::into_response(err)
}

/// Bounds how long a request body may take: no pause between two of its pieces longer than
/// `server.body_idle_secs`, the whole of it within `server.body_timeout_secs`. Reading a body
/// that runs out of time is a 408 ([`extract`]).
async fn body_timeouts(State(app): State<AppState>, request: Request, next: Next) -> Response {
    use axum::body::{Body, HttpBody};
    use tower_http::timeout::{DeadlineBody, TimeoutBody};
    let server = &app.config.server;
    let (idle, whole) = (Duration::from_secs(server.body_idle_secs), Duration::from_secs(server.body_timeout_secs));
    let request = request.map(|body| {
        if body.is_end_stream() { body } else { Body::new(DeadlineBody::new(whole, TimeoutBody::new(idle, body))) }
    });
    next.run(request).await
}

/// The API documentation page's policy: Swagger UI's own scripts and styles (its React sets
/// inline styles), its icons as `data:` images, and requests to this origin only.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
     font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Headers every answer carries unless its route set its own (pages and media set stricter
/// ones): no content sniffing, no framing by other sites, and behind TLS, HSTS. The
/// documentation page gets a whole content security policy.
async fn security_headers(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let docs = request.uri().path().starts_with("/docs");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.entry(header::X_CONTENT_TYPE_OPTIONS).or_insert(HeaderValue::from_static("nosniff"));
    let policy = if docs { DOCS_CSP } else { "frame-ancestors 'none'" };
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(policy));
    if app.config.public_url.as_deref().is_some_and(|url| url.starts_with("https://")) {
        headers
            .entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    response
}

/// Runs a request that may change something to its end even when its client hangs up.
///
/// hyper drops a request's future when the connection closes. A transaction cut short that
/// way rolls back, but a handler stopped after its commit would never announce the change
/// (the message is stored, its `message.created` never sent) nor tidy up after it (the old
/// avatar's objects wait for the sweeper). Here the handler finishes and only its answer is
/// lost, as if the network had lost it; a retry with the same `client_id` finds the stored
/// message. Reads are dropped with their client: there is nothing of theirs to finish.
async fn run_to_completion(request: Request, next: Next) -> Response {
    if request.method().is_safe() {
        return next.run(request).await;
    }
    Finish::new(next.run(request).in_current_span()).await
}

/// A future that runs in its caller's task and, if dropped before it is done, is handed to a
/// task of its own to finish. Spawning every write up front instead cost a hop between tasks
/// per request (a tenth of the sends into a busy group on SQLite).
struct Finish<F: Future + Send + 'static>(Option<Pin<Box<F>>>)
where
    F::Output: Send + 'static;

impl<F: Future + Send + 'static> Finish<F>
where
    F::Output: Send + 'static,
{
    fn new(work: F) -> Self {
        Self(Some(Box::pin(work)))
    }
}

impl<F: Future + Send + 'static> Future for Finish<F>
where
    F::Output: Send + 'static,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // Polled again after it was done: futures may do anything then; this one never wakes.
        let Some(work) = self.0.as_mut() else { return Poll::Pending };
        let output = std::task::ready!(work.as_mut().poll(cx));
        self.0 = None;
        Poll::Ready(output)
    }
}

impl<F: Future + Send + 'static> Drop for Finish<F>
where
    F::Output: Send + 'static,
{
    fn drop(&mut self) {
        // Outside a runtime (the process is ending) there is nobody left to finish it for.
        if let (Some(rest), Ok(runtime)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(rest);
        }
    }
}

async fn not_found() -> AppError {
    AppError::not_found("route_not_found", "no such route")
}

async fn method_not_allowed() -> Result<Response, AppError> {
    Err(AppError::fail(Refusal::MethodNotAllowed, "method_not_allowed", "this route does not accept that method"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use futures::FutureExt;

    use super::*;

    #[tokio::test]
    async fn work_dropped_half_way_is_finished_by_a_task_of_its_own() {
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let finished = Arc::new(AtomicBool::new(false));
        let done = finished.clone();
        let mut work = Finish::new(async move {
            let _ = wait.await;
            done.store(true, Ordering::SeqCst);
        });
        assert!((&mut work).now_or_never().is_none(), "the work waits for its signal");
        drop(work);
        go.send(()).unwrap();
        for _ in 0..100 {
            if finished.load(Ordering::SeqCst) {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the dropped work was not finished");
    }

    #[tokio::test]
    async fn work_awaited_to_its_end_runs_in_its_callers_task_and_answers() {
        let same_task = tokio::spawn(async {
            let caller = tokio::task::id();
            Finish::new(async move { tokio::task::id() == caller }).await
        });
        assert!(same_task.await.unwrap(), "it ran in another task");
    }
}
