//! The web site: server-rendered pages for people with a browser, on the same accounts, the
//! same sessions table and the same services as the API (SPEC §3).
//!
//! A page's session is a `parlor_session` cookie holding an opaque secret; the session row keeps
//! only its hash, so every way a session ends (logout, password change, reset, deletion,
//! deactivation) ends the page's too, on every instance. Every state-changing form carries a
//! `csrf_token` derived from that secret ([`crate::auth::csrf_token`]): another site can make a
//! browser send the cookie, but cannot read it, so it cannot compute the token.

mod admin;
pub mod assets;
mod chats;
mod pages;
mod profile;

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, RawForm};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Router, middleware};
use axum_extra::extract::cookie::{Cookie, SameSite};
use minijinja::Environment;

use crate::app::AppState;
use crate::auth::{Principal, csrf_token};
use crate::config::Config;
use crate::domain::User;

pub use crate::web::SESSION_COOKIE;

pub fn router(state: &AppState) -> Router<AppState> {
    let templates = Arc::new(templates());
    let headers = SecurityHeaders::new(&state.config);
    pages::router()
        .merge(chats::router(&state.config))
        .merge(profile::router(&state.config))
        .merge(admin::router())
        .layer(axum::Extension(Templates(templates)))
        .layer(middleware::from_fn(move |request, next: middleware::Next| {
            let headers = headers.clone();
            async move { headers.apply(next.run(request).await) }
        }))
}

/// The page templates, compiled into the binary.
fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    env.add_function("asset", |name: &str| assets::template_url(name));
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("login.html", include_str!("templates/login.html")),
        ("register.html", include_str!("templates/register.html")),
        ("chats.html", include_str!("templates/chats.html")),
        ("chat.html", include_str!("templates/chat.html")),
        ("forward.html", include_str!("templates/forward.html")),
        ("profile.html", include_str!("templates/profile.html")),
        ("admin.html", include_str!("templates/admin.html")),
        ("admin_users.html", include_str!("templates/admin_users.html")),
        ("admin_user.html", include_str!("templates/admin_user.html")),
        ("admin_chats.html", include_str!("templates/admin_chats.html")),
        ("admin_chat.html", include_str!("templates/admin_chat.html")),
        ("admin_messages.html", include_str!("templates/admin_messages.html")),
        ("admin_audit.html", include_str!("templates/admin_audit.html")),
    ] {
        // A template that does not compile is a bug of the build: the tests render every page.
        env.add_template(name, source).unwrap_or_else(|err| panic!("template {name}: {err}"));
    }
    env
}

#[derive(Clone)]
pub struct Templates(Arc<Environment<'static>>);

impl Templates {
    /// Renders a page with `status`; a rendering error is a 500, logged.
    pub fn page(&self, status: StatusCode, name: &str, context: minijinja::Value) -> Response {
        match self.0.get_template(name).and_then(|template| template.render(context)) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(err) => {
                tracing::error!(template = name, error = %err, "rendering a page failed");
                (StatusCode::INTERNAL_SERVER_ERROR, Html("<h1>Something went wrong</h1>".to_owned())).into_response()
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Templates {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Templates>().cloned().expect("the site router adds its templates"))
    }
}

/// The signed-in visitor of a page: the session's principal and the cookie's secret (for the
/// CSRF token). Signed-out visitors are sent to `/login?next=<this path>`.
#[derive(Debug, Clone)]
pub struct WebUser {
    pub principal: Principal,
    pub secret: String,
}

impl WebUser {
    pub fn csrf_token(&self) -> String {
        csrf_token(&self.secret)
    }

    /// Whether a submitted form's token is this session's (compared in constant time).
    pub fn csrf_ok(&self, submitted: &str) -> bool {
        tokens_match(&self.csrf_token(), submitted)
    }
}

/// Whether a submitted CSRF token is the expected one, compared in constant time.
fn tokens_match(expected: &str, submitted: &str) -> bool {
    expected.len() == submitted.len()
        && expected.bytes().zip(submitted.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match <Self as OptionalFromRequestParts<AppState>>::from_request_parts(parts, state).await {
            Ok(Some(user)) => Ok(user),
            _ => Err(to_login(parts.uri.path_and_query().map_or("/", |p| p.as_str()))),
        }
    }
}

impl OptionalFromRequestParts<AppState> for WebUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        let Some(secret) = crate::web::session_cookie(&parts.headers) else { return Ok(None) };
        Ok(state.auth.authenticate_web(&secret).await.ok().map(|principal| Self { principal, secret }))
    }
}

/// How pages name an account: its username, else its e-mail, else its phone.
pub fn display_name(user: &User) -> String {
    user.username.clone().or(user.email.clone()).or(user.phone.clone()).unwrap_or_default()
}

/// The signed-in visitor as the header shows them (`me` in every template).
pub fn visitor_of(user: &User) -> minijinja::Value {
    minijinja::context! { name => display_name(user), id => user.id.to_string(), is_admin => user.is_admin }
}

/// [`visitor_of`] the session's account; `None` if it is gone.
pub async fn visitor(app: &AppState, me: &WebUser) -> Option<minijinja::Value> {
    let user = app.profiles.current_user(me.principal.user_id).await.ok()?;
    Some(visitor_of(&user))
}

/// A state-changing form of a signed-in visitor, read only once it carries this session's
/// `csrf_token`: without it the answer is 403 and the handler never runs, so nothing changes.
/// Signed-out visitors go to the login page, as on every page. (The form types need no token
/// field of their own: it is read apart.)
pub struct SignedForm<T> {
    pub me: WebUser,
    pub form: T,
}

impl<T: for<'de> serde::Deserialize<'de> + Default + Send> FromRequest<AppState> for SignedForm<T> {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let me = <WebUser as FromRequestParts<AppState>>::from_request_parts(&mut parts, state).await?;
        let raw = RawForm::from_request(axum::extract::Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = signed(&me, raw).ok_or_else(pages::forbidden)?;
        Ok(Self { me, form })
    }
}

/// A form's fields, if it carries `me`'s CSRF token; `None` (answer [`pages::forbidden`]) if not.
pub fn signed<T: for<'de> serde::Deserialize<'de> + Default>(me: &WebUser, raw: RawForm) -> Option<T> {
    let token: pages::CsrfForm = serde_urlencoded::from_bytes(&raw.0).unwrap_or_default();
    me.csrf_ok(&token.csrf_token).then(|| pages::form(raw))
}

/// 303 to the login page, coming back to `next` after.
pub fn to_login(next: &str) -> Response {
    let query = serde_urlencoded::to_string([("next", local_path(next))]).unwrap_or_default();
    Redirect::to(&format!("/login?{query}")).into_response()
}

/// `next` if it is a path on this site, else `/chats`: a login link cannot send anyone elsewhere.
pub fn local_path(next: &str) -> &str {
    let local = next.starts_with('/') && !next.starts_with("//") && !next.contains('\\');
    if local && !next.starts_with("/login") { next } else { "/chats" }
}

/// The cookie of a new web session.
pub fn session_cookie(config: &Config, secret: String) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, secret))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(config.public_url().starts_with("https://"))
        .path("/")
        .max_age(time::Duration::days(i64::try_from(config.auth.refresh_ttl_days).unwrap_or(30)))
        .build()
}

/// The response headers of every page: no framing, no inline script, no referrer elsewhere.
#[derive(Clone)]
struct SecurityHeaders {
    csp: HeaderValue,
}

impl SecurityHeaders {
    fn new(config: &Config) -> Self {
        // Media may live on another origin (a CDN or a bucket); images from there are allowed.
        let media = config.media_base_url();
        let media_origin = media.split('/').take(3).collect::<Vec<_>>().join("/");
        // The page's own socket, named outright: not every browser counts ws: as 'self'.
        let public = config.public_url();
        let host = public.split('/').nth(2).unwrap_or_default();
        let socket_origin =
            if public.starts_with("https://") { format!("wss://{host}") } else { format!("ws://{host}") };
        let csp = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' {media_origin}; \
             connect-src 'self' {socket_origin}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        );
        Self { csp: HeaderValue::from_str(&csp).unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'")) }
    }

    fn apply(&self, mut response: Response) -> Response {
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        // Pages are per person and per moment; static files say otherwise themselves.
        if !headers.contains_key(header::CACHE_CONTROL) {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_a_local_path_or_the_chat_list() {
        assert_eq!(local_path("/chats?x=1"), "/chats?x=1");
        assert_eq!(local_path("/profile"), "/profile");
        for bad in ["https://evil.example/", "//evil.example/", "/\\evil.example", "evil", "", "/login?next=/x"] {
            assert_eq!(local_path(bad), "/chats", "{bad}");
        }
    }

    #[test]
    fn every_template_compiles() {
        let env = templates();
        let names =
            ["base.html", "login.html", "register.html", "chats.html", "chat.html", "forward.html", "profile.html"];
        let admin = ["admin.html", "admin_users.html", "admin_user.html", "admin_chats.html", "admin_chat.html"];
        for name in names.into_iter().chain(admin).chain(["admin_messages.html", "admin_audit.html"]) {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }
}
