//! Signing in and out, registration, and what every page shares: reading forms, showing a
//! service's refusal, refusing a form without its CSRF token. Each handler reads the form, calls
//! a service, and renders a page or redirects (303) after a change, so a reload never repeats it.

use axum::Router;
use axum::extract::{Query, RawForm, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use minijinja::context;
use serde::Deserialize;

use super::{SESSION_COOKIE, SignedForm, Templates, WebUser, local_path, session_cookie, tokens_match};
use crate::app::AppState;
use crate::auth::accounts::Registration;
use crate::auth::{ClientInfo, csrf_token};
use crate::error::AppError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/login", get(login_page).post(login))
        .route("/register", get(register_page).post(register))
        .route("/logout", post(logout))
        .route("/static/{name}", get(super::assets::serve))
}

/// A form body as fields; anything unreadable is an empty form, which the page then refuses.
pub(super) fn form<T: for<'de> Deserialize<'de> + Default>(RawForm(bytes): RawForm) -> T {
    serde_urlencoded::from_bytes(&bytes).unwrap_or_default()
}

async fn index(me: Option<WebUser>) -> Redirect {
    Redirect::to(if me.is_some() { "/chats" } else { "/login" })
}

#[derive(Debug, Default, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// The cookie that ties a sign-in or registration form to the browser that loaded it, against
/// login CSRF (another site signing a visitor into an account of its choosing): the form carries
/// the token of the cookie's secret. Another site can neither read the cookie nor, as it is
/// `SameSite=Strict`, have the browser send it with a post from its pages.
pub const FORM_COOKIE: &str = "parlor_form";

/// The browser's form secret, made (and set as a cookie on `jar`) if it has none yet.
fn form_secret(app: &AppState, jar: CookieJar) -> Result<(CookieJar, String), AppError> {
    if let Some(secret) = jar.get(FORM_COOKIE).map(|c| c.value().to_owned()).filter(|v| v.len() >= 32) {
        return Ok((jar, secret));
    }
    let secret = crate::auth::tokens::new_refresh_token()?;
    let cookie = Cookie::build((FORM_COOKIE, secret.clone()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(app.config.public_url().starts_with("https://"))
        .path("/")
        .build();
    Ok((jar.add(cookie), secret))
}

/// Whether a posted sign-in or registration form carries the token of this browser's form cookie.
fn form_token_ok(jar: &CookieJar, submitted: &str) -> bool {
    jar.get(FORM_COOKIE).is_some_and(|secret| tokens_match(&csrf_token(secret.value()), submitted))
}

/// The words for a sign-in or registration form that came without its token.
const FORM_EXPIRED: &str = "this form has expired or did not come from Parlor; please try again";

async fn login_page(
    State(app): State<AppState>,
    me: Option<WebUser>,
    templates: Templates,
    jar: CookieJar,
    Query(query): Query<NextQuery>,
) -> Response {
    let next = local_path(query.next.as_deref().unwrap_or("/chats")).to_owned();
    if me.is_some() {
        return Redirect::to(&next).into_response();
    }
    login_form(&app, &templates, jar, StatusCode::OK, context! { next, identifier => "" })
}

/// A signed-out form page (`login.html`, `register.html`) with `context`, its form tied to the
/// browser by the form cookie.
fn signed_out_form(
    app: &AppState,
    templates: &Templates,
    jar: CookieJar,
    status: StatusCode,
    template: &str,
    context: minijinja::Value,
) -> Response {
    match form_secret(app, jar) {
        Ok((jar, secret)) => {
            let context = context! { csrf_token => csrf_token(&secret), ..context };
            (jar, templates.page(status, template, context)).into_response()
        }
        Err(err) => error_page(err),
    }
}

/// The sign-in page with `context`.
fn login_form(
    app: &AppState,
    templates: &Templates,
    jar: CookieJar,
    status: StatusCode,
    context: minijinja::Value,
) -> Response {
    signed_out_form(app, templates, jar, status, "login.html", context)
}

#[derive(Debug, Default, Deserialize)]
struct LoginForm {
    identifier: String,
    password: String,
    next: Option<String>,
    csrf_token: String,
}

async fn login(
    State(app): State<AppState>,
    templates: Templates,
    client: ClientInfo,
    earlier: Option<WebUser>,
    jar: CookieJar,
    raw: RawForm,
) -> Response {
    let form: LoginForm = form(raw);
    let next = local_path(form.next.as_deref().unwrap_or("/chats")).to_owned();
    if !form_token_ok(&jar, &form.csrf_token) {
        let context = context! { next, identifier => form.identifier, error => FORM_EXPIRED };
        return login_form(&app, &templates, jar, StatusCode::FORBIDDEN, context);
    }
    let err = match app.accounts.login_web(&form.identifier, &form.password, &client).await {
        Ok((_, session)) => {
            end_earlier_session(&app, earlier).await;
            let jar = jar.add(session_cookie(&app.config, session.secret));
            return (jar, Redirect::to(&next)).into_response();
        }
        Err(err) => AppError::from(err),
    };
    let (status, _, error) = page_error(err);
    login_form(&app, &templates, jar, status, context! { next, identifier => form.identifier, error })
}

/// A browser that signs in (or registers) while it still holds a live page session leaves that
/// session behind: it is ended, so the cookie it replaces, if someone else knows it, opens nothing.
async fn end_earlier_session(app: &AppState, earlier: Option<WebUser>) {
    if let Some(earlier) = earlier
        && let Err(err) = app.accounts.logout(earlier.principal).await
    {
        // The new session stands; the old one ends when it expires. Logged by `jsend`.
        let _ = err.jsend();
    }
}

/// The fields of the registration form, in order, with their labels.
const REGISTER_FIELDS: [(&str, &str); 8] = [
    ("identifier", "Username, e-mail or phone"),
    ("password", "Password"),
    ("username", "Username (optional)"),
    ("email", "E-mail (optional)"),
    ("phone", "Phone (optional)"),
    ("first_name", "First name (optional)"),
    ("last_name", "Last name (optional)"),
    ("gender", "Gender"),
];

#[derive(Debug, Default, Deserialize)]
struct RegisterForm {
    identifier: String,
    password: String,
    username: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    gender: Option<String>,
    csrf_token: String,
}

impl RegisterForm {
    fn value(&self, field: &str) -> String {
        let value = match field {
            "identifier" => Some(&self.identifier),
            "username" => self.username.as_ref(),
            "email" => self.email.as_ref(),
            "phone" => self.phone.as_ref(),
            "first_name" => self.first_name.as_ref(),
            "last_name" => self.last_name.as_ref(),
            "gender" => self.gender.as_ref(),
            // The password is never sent back.
            _ => None,
        };
        value.cloned().unwrap_or_default()
    }
}

fn register_fields(form: &RegisterForm, errors: &crate::error::FieldErrors) -> Vec<minijinja::Value> {
    REGISTER_FIELDS
        .iter()
        .map(|&(name, label)| context! { name, label, value => form.value(name), error => errors.get(name) })
        .collect()
}

async fn register_page(
    State(app): State<AppState>,
    me: Option<WebUser>,
    templates: Templates,
    jar: CookieJar,
) -> Response {
    if me.is_some() {
        return Redirect::to("/chats").into_response();
    }
    let fields = register_fields(&RegisterForm::default(), &Default::default());
    register_form(&app, &templates, jar, StatusCode::OK, context! { fields })
}

/// The registration page with `context`.
fn register_form(
    app: &AppState,
    templates: &Templates,
    jar: CookieJar,
    status: StatusCode,
    context: minijinja::Value,
) -> Response {
    signed_out_form(app, templates, jar, status, "register.html", context)
}

async fn register(
    State(app): State<AppState>,
    templates: Templates,
    client: ClientInfo,
    earlier: Option<WebUser>,
    jar: CookieJar,
    raw: RawForm,
) -> Response {
    let form: RegisterForm = form(raw);
    if !form_token_ok(&jar, &form.csrf_token) {
        let fields = register_fields(&form, &Default::default());
        return register_form(&app, &templates, jar, StatusCode::FORBIDDEN, context! { fields, error => FORM_EXPIRED });
    }
    // Blank optional fields are not given.
    let given = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
    let input = Registration {
        identifier: form.identifier.clone(),
        password: form.password.clone(),
        username: given(&form.username),
        email: given(&form.email),
        phone: given(&form.phone),
        first_name: given(&form.first_name),
        last_name: given(&form.last_name),
        gender: given(&form.gender),
    };
    let err = match app.accounts.register_web(input, &client).await {
        Ok((_, session)) => {
            end_earlier_session(&app, earlier).await;
            let jar = jar.add(session_cookie(&app.config, session.secret));
            return (jar, Redirect::to("/chats")).into_response();
        }
        Err(err) => err,
    };
    let (status, errors, error) = page_error(err);
    let fields = register_fields(&form, &errors);
    register_form(&app, &templates, jar, status, context! { fields, error })
}

/// A service's refusal as a page shows it: field messages beside their fields, anything else
/// above the form, with the API's words and status.
pub(super) fn page_error(err: AppError) -> (StatusCode, crate::error::FieldErrors, Option<String>) {
    let status = crate::web::status(&err);
    match err {
        AppError::Fields { fields, .. } => (status, fields, None),
        AppError::Fail { message, .. } => (status, Default::default(), Some(message.into_owned())),
        AppError::RateLimited(retry) => {
            (status, Default::default(), Some(format!("too many requests; try again in {} s", retry.as_secs().max(1))))
        }
        other => {
            // Logged in full by `jsend`; the page says only that it failed.
            let _ = other.jsend();
            (status, Default::default(), Some("something went wrong; please try again".to_owned()))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct CsrfForm {
    pub csrf_token: String,
}

async fn logout(State(app): State<AppState>, jar: CookieJar, SignedForm { me, .. }: SignedForm<()>) -> Response {
    if let Err(err) = app.accounts.logout(me.principal).await {
        let _ = err.jsend();
        return (StatusCode::SERVICE_UNAVAILABLE, "could not sign out; please try again").into_response();
    }
    (jar.remove(Cookie::build(SESSION_COOKIE).path("/")), Redirect::to("/login")).into_response()
}

/// The answer to a form without this session's CSRF token: nothing was changed.
pub(super) fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, "this form has expired or did not come from Parlor; reload the page and try again")
        .into_response()
}

/// A refusal that has no form to show it beside: a plain page with the API's status and words.
pub(super) fn error_page(err: AppError) -> Response {
    let (status, fields, error) = page_error(err);
    let text = error.or_else(|| fields.into_iter().next().map(|(field, message)| format!("{field} {message}")));
    (status, text.unwrap_or_default()).into_response()
}
