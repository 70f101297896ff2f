//! The pages and their forms. Each handler reads the form, calls a service, and renders a page
//! or redirects (303) after a change, so a reload never repeats it.

use axum::Router;
use axum::extract::{Query, RawForm, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use minijinja::context;
use serde::Deserialize;

use super::{SESSION_COOKIE, Templates, WebUser, local_path, session_cookie};
use crate::app::AppState;
use crate::auth::ClientInfo;
use crate::auth::accounts::{LoginError, Registration};
use crate::chat::view::ChatView;
use crate::error::AppError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/login", get(login_page).post(login))
        .route("/register", get(register_page).post(register))
        .route("/logout", post(logout))
        .route("/chats", get(chats))
}

/// A form body as fields; anything unreadable is an empty form, which the page then refuses.
fn form<T: for<'de> Deserialize<'de> + Default>(RawForm(bytes): RawForm) -> T {
    serde_urlencoded::from_bytes(&bytes).unwrap_or_default()
}

async fn index(me: Option<WebUser>) -> Redirect {
    Redirect::to(if me.is_some() { "/chats" } else { "/login" })
}

#[derive(Debug, Default, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_page(me: Option<WebUser>, templates: Templates, Query(query): Query<NextQuery>) -> Response {
    let next = local_path(query.next.as_deref().unwrap_or("/chats")).to_owned();
    if me.is_some() {
        return Redirect::to(&next).into_response();
    }
    templates.page(StatusCode::OK, "login.html", context! { next, identifier => "" })
}

#[derive(Debug, Default, Deserialize)]
struct LoginForm {
    identifier: String,
    password: String,
    next: Option<String>,
}

async fn login(
    State(app): State<AppState>,
    templates: Templates,
    client: ClientInfo,
    jar: CookieJar,
    raw: RawForm,
) -> Response {
    let form: LoginForm = form(raw);
    let next = local_path(form.next.as_deref().unwrap_or("/chats")).to_owned();
    let (status, error) = match app.accounts.login_web(&form.identifier, &form.password, &client).await {
        Ok((_, session)) => {
            let jar = jar.add(session_cookie(&app.config, session.secret));
            return (jar, Redirect::to(&next)).into_response();
        }
        Err(err @ LoginError::InvalidCredentials) => (StatusCode::UNAUTHORIZED, err.to_string()),
        Err(err @ LoginError::Disabled) => (StatusCode::FORBIDDEN, err.to_string()),
        Err(LoginError::RateLimited(retry)) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed attempts; try again in {} s", retry.as_secs().max(1)),
        ),
        Err(LoginError::Internal(err)) => {
            tracing::error!(error = ?err, "web login failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "something went wrong; please try again".to_owned())
        }
    };
    templates.page(status, "login.html", context! { next, identifier => form.identifier, error })
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

async fn register_page(me: Option<WebUser>, templates: Templates) -> Response {
    if me.is_some() {
        return Redirect::to("/chats").into_response();
    }
    let fields = register_fields(&RegisterForm::default(), &Default::default());
    templates.page(StatusCode::OK, "register.html", context! { fields })
}

async fn register(
    State(app): State<AppState>,
    templates: Templates,
    client: ClientInfo,
    jar: CookieJar,
    raw: RawForm,
) -> Response {
    let form: RegisterForm = form(raw);
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
            let jar = jar.add(session_cookie(&app.config, session.secret));
            return (jar, Redirect::to("/chats")).into_response();
        }
        Err(err) => err,
    };
    let (status, errors, error) = page_error(err);
    let fields = register_fields(&form, &errors);
    templates.page(status, "register.html", context! { fields, error })
}

/// A service's refusal as a page shows it: field messages beside their fields, anything else
/// above the form, with the API's words and status.
fn page_error(err: AppError) -> (StatusCode, crate::error::FieldErrors, Option<String>) {
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
struct CsrfForm {
    csrf_token: String,
}

async fn logout(State(app): State<AppState>, me: WebUser, jar: CookieJar, raw: RawForm) -> Response {
    let form: CsrfForm = form(raw);
    if !me.csrf_ok(&form.csrf_token) {
        return forbidden();
    }
    if let Err(err) = app.accounts.logout(me.principal).await {
        let _ = err.jsend();
        return (StatusCode::SERVICE_UNAVAILABLE, "could not sign out; please try again").into_response();
    }
    (jar.remove(Cookie::build(SESSION_COOKIE).path("/")), Redirect::to("/login")).into_response()
}

/// The answer to a form without this session's CSRF token: nothing was changed.
fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, "this form has expired or did not come from Parlor; reload the page and try again")
        .into_response()
}

async fn chats(State(app): State<AppState>, templates: Templates, me: WebUser) -> Response {
    let user = match app.profiles.current_user(me.principal.user_id).await {
        Ok(user) => user,
        Err(_) => return super::to_login("/chats"),
    };
    let chats = match app.chats.list_chats(me.principal.user_id).await {
        Ok(chats) => chats,
        Err(err) => {
            let (status, _, error) = page_error(err);
            return (status, error.unwrap_or_default()).into_response();
        }
    };
    let name = user.username.clone().or(user.email.clone()).or(user.phone.clone()).unwrap_or_default();
    let rows: Vec<minijinja::Value> = chats.iter().map(|chat| chat_row(chat, me.principal.user_id.uuid())).collect();
    templates.page(
        StatusCode::OK,
        "chats.html",
        context! { me => context! { name }, csrf_token => me.csrf_token(), chats => rows },
    )
}

/// A chat as its line in the list: a group by its title, a direct chat by the other person.
fn chat_row(chat: &ChatView, me: uuid::Uuid) -> minijinja::Value {
    let other = chat.members.iter().find(|m| m.id != me);
    let name = match (&chat.title, other) {
        (Some(title), _) => title.clone(),
        (None, Some(other)) => other.username.clone().unwrap_or_else(|| "deleted account".to_owned()),
        (None, None) => "just you".to_owned(),
    };
    let avatar = match chat.title {
        None => other.and_then(|m| m.avatar.as_ref()).map(|a| a.s50.clone()),
        Some(_) => None,
    };
    let last_message = chat.last_message.as_ref().map(|m| match (&m.text, m.deleted) {
        (_, true) => "message deleted".to_owned(),
        (Some(text), _) => text.clone(),
        (None, _) => format!("[{}]", <&str>::from(m.kind)),
    });
    context! {
        id => chat.id.to_string(),
        name,
        avatar,
        pinned => chat.pinned,
        unread_count => chat.unread_count,
        last_message,
    }
}
