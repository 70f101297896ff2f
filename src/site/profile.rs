//! `/profile`: my details, picture, password, sessions and account deletion, each a form that
//! calls the same service as the API's `/api/v1/me` routes.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use minijinja::context;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::pages::{error_page, forbidden, page_error};
use super::{SESSION_COOKIE, SignedForm, Templates, WebUser};
use crate::app::AppState;
use crate::auth::ClientInfo;
use crate::config::Config;
use crate::domain::SessionId;
use crate::error::FieldErrors;

pub fn router(config: &Config) -> Router<AppState> {
    // Room for the picture and the form around it; the image pipeline checks the rest.
    let avatar_limit = config.media.avatar_bytes.saturating_add(64 * 1024);
    Router::new()
        .route("/profile", get(show).post(update))
        .route("/profile/avatar", post(avatar).layer(DefaultBodyLimit::max(avatar_limit)))
        .route("/profile/password", post(password))
        .route("/profile/sessions/{id}/end", post(end_session))
        .route("/profile/delete", post(delete))
}

/// The detail fields, in order, with their labels.
const FIELDS: [(&str, &str); 6] = [
    ("username", "Username"),
    ("email", "E-mail"),
    ("phone", "Phone"),
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("gender", "Gender"),
];

/// What a re-rendered page shows besides the account itself.
#[derive(Default)]
struct Shown {
    status: Option<StatusCode>,
    /// Submitted detail values to show again instead of the stored ones.
    values: Option<Map<String, Value>>,
    field_errors: FieldErrors,
    password_errors: FieldErrors,
    delete_error: Option<String>,
    error: Option<String>,
    notice: Option<String>,
}

async fn render(app: &AppState, templates: &Templates, me: &WebUser, shown: Shown) -> Response {
    let user = match app.profiles.current_user(me.principal.user_id).await {
        Ok(user) => user,
        Err(_) => return super::to_login("/profile"),
    };
    let sessions = match app.accounts.sessions(me.principal).await {
        Ok(sessions) => sessions,
        Err(err) => return error_page(err),
    };
    let stored = |field: &str| -> String {
        match field {
            "username" => user.username.clone(),
            "email" => user.email.clone(),
            "phone" => user.phone.clone(),
            "first_name" => user.first_name.clone(),
            "last_name" => user.last_name.clone(),
            "gender" => Some(user.gender.as_str().to_owned()),
            _ => None,
        }
        .unwrap_or_default()
    };
    let fields: Vec<minijinja::Value> = FIELDS
        .iter()
        .map(|&(name, label)| {
            let value = match &shown.values {
                Some(values) => values.get(name).and_then(Value::as_str).unwrap_or_default().to_owned(),
                None => stored(name),
            };
            context! { name, label, value, error => shown.field_errors.get(name) }
        })
        .collect();
    let sessions: Vec<minijinja::Value> = sessions
        .iter()
        .map(|s| {
            let created_at = s.created_at.date().to_string();
            context! {
                id => s.id.to_string(),
                device => s.user_agent.clone().unwrap_or_else(|| "unknown device".to_owned()),
                ip => s.ip.clone().unwrap_or_default(),
                created_at,
                current => s.id == me.principal.session_id,
            }
        })
        .collect();
    templates.page(
        shown.status.unwrap_or(StatusCode::OK),
        "profile.html",
        context! {
            me => super::visitor_of(&user),
            csrf_token => me.csrf_token(),
            avatar => app.media.avatar_of(&user).map(|a| a.s100),
            fields,
            sessions,
            password_errors => shown.password_errors,
            delete_error => shown.delete_error,
            error => shown.error,
            notice => shown.notice,
        },
    )
}

async fn show(State(app): State<AppState>, templates: Templates, me: WebUser) -> Response {
    render(&app, &templates, &me, Shown::default()).await
}

/// The details form, as the API's profile edit reads it: every field given, blank clears.
async fn update(
    State(app): State<AppState>,
    templates: Templates,
    SignedForm { me, form: fields }: SignedForm<std::collections::HashMap<String, String>>,
) -> Response {
    let body: Map<String, Value> = FIELDS
        .iter()
        .filter_map(|(name, _)| fields.get(*name).map(|value| ((*name).to_owned(), Value::String(value.clone()))))
        .collect();
    let saved = async {
        let change = crate::profile::parse_profile_change(&body)?;
        app.profiles.update_profile(me.principal.user_id, change).await
    }
    .await;
    match saved {
        Ok(_) => Redirect::to("/profile").into_response(),
        Err(err) => {
            let (status, field_errors, error) = page_error(err);
            let shown = Shown { status: Some(status), values: Some(body), field_errors, error, ..Shown::default() };
            render(&app, &templates, &me, shown).await
        }
    }
}

/// A new picture: the `file` field of a multipart form, after its `csrf_token`.
async fn avatar(State(app): State<AppState>, templates: Templates, me: WebUser, mut multipart: Multipart) -> Response {
    let (mut token, mut file) = (None, None);
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                match field.bytes().await {
                    Ok(bytes) if name == "csrf_token" => token = Some(String::from_utf8_lossy(&bytes).into_owned()),
                    Ok(bytes) if name == "file" => file = Some(bytes),
                    Ok(_) => {}
                    Err(_) => return too_large_or_bad(&app, &templates, &me).await,
                }
            }
            Ok(None) => break,
            Err(_) => return too_large_or_bad(&app, &templates, &me).await,
        }
    }
    if !me.csrf_ok(token.as_deref().unwrap_or_default()) {
        return forbidden();
    }
    let Some(bytes) = file.filter(|bytes| !bytes.is_empty()) else {
        let shown = Shown {
            status: Some(StatusCode::UNPROCESSABLE_ENTITY),
            error: Some("choose a picture to upload".to_owned()),
            ..Shown::default()
        };
        return render(&app, &templates, &me, shown).await;
    };
    match app.profiles.set_avatar(me.principal.user_id, bytes).await {
        Ok(_) => Redirect::to("/profile").into_response(),
        Err(err) => {
            let (status, _, error) = page_error(err);
            render(&app, &templates, &me, Shown { status: Some(status), error, ..Shown::default() }).await
        }
    }
}

async fn too_large_or_bad(app: &AppState, templates: &Templates, me: &WebUser) -> Response {
    let error = format!("the upload is malformed or larger than {} bytes", app.config.media.avatar_bytes);
    render(app, templates, me, Shown { status: Some(StatusCode::BAD_REQUEST), error: Some(error), ..Shown::default() })
        .await
}

#[derive(Debug, Default, Deserialize)]
struct PasswordForm {
    current_password: String,
    new_password: String,
}

/// Changes the password; every other session ends, this browser stays signed in.
async fn password(
    State(app): State<AppState>,
    templates: Templates,
    client: ClientInfo,
    SignedForm { me, form }: SignedForm<PasswordForm>,
) -> Response {
    match app.profiles.change_password(me.principal, &form.current_password, &form.new_password, &client).await {
        Ok(()) => {
            let notice = Some("password changed; every other session was signed out".to_owned());
            render(&app, &templates, &me, Shown { notice, ..Shown::default() }).await
        }
        Err(err) => {
            let (status, password_errors, error) = page_error(err);
            render(&app, &templates, &me, Shown { status: Some(status), password_errors, error, ..Shown::default() })
                .await
        }
    }
}

/// Signs a session out; signing out this browser's own leads to the login page.
async fn end_session(
    State(app): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    SignedForm { me, .. }: SignedForm<()>,
) -> Response {
    let Ok(session_id) = id.parse::<SessionId>() else { return error_page(crate::auth::accounts::session_not_found()) };
    if let Err(err) = app.accounts.end_session(me.principal, session_id).await {
        return error_page(err);
    }
    if session_id == me.principal.session_id {
        return (jar.remove(Cookie::build(SESSION_COOKIE).path("/")), Redirect::to("/login")).into_response();
    }
    Redirect::to("/profile").into_response()
}

#[derive(Debug, Default, Deserialize)]
struct DeleteForm {
    confirm: String,
}

/// Deletes the account once `delete` is typed to confirm it.
async fn delete(
    State(app): State<AppState>,
    templates: Templates,
    jar: CookieJar,
    SignedForm { me, form }: SignedForm<DeleteForm>,
) -> Response {
    if form.confirm.trim() != "delete" {
        let shown = Shown {
            status: Some(StatusCode::UNPROCESSABLE_ENTITY),
            delete_error: Some("type “delete” to confirm".to_owned()),
            ..Shown::default()
        };
        return render(&app, &templates, &me, shown).await;
    }
    let user = me.principal.user_id;
    match app.profiles.delete_account(Some(user), user).await {
        Ok(()) => (jar.remove(Cookie::build(SESSION_COOKIE).path("/")), Redirect::to("/register")).into_response(),
        Err(err) => error_page(err),
    }
}
