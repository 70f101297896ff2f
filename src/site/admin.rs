//! `/admin/…`: the operator's pages. Each calls the [`crate::admin::Admin`] service the JSON API
//! calls, reads its query with the same parsers, and answers 404 to anyone signed in who is not
//! an active administrator (signed-out visitors go to the login page, as on every page).

use axum::Router;
use axum::extract::{Path, RawForm, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::{Value, context};
use serde::Deserialize;
use time::OffsetDateTime;

use super::pages::{error_page, forbidden, page_error};
use super::{Templates, WebUser, display_name, local_path, visitor_of};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::collections::HashMap;

use crate::admin::AuditView;
use crate::admin::query::{AuditQuery, ChatQuery, MessageQuery, UserQuery};
use crate::app::AppState;
use crate::chat::view::MessageView;
use crate::domain::{ChatId, MessageId, User, UserId};
use crate::error::{AppError, FieldErrors};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(users))
        .route("/admin/users", get(users))
        .route("/admin/users/{id}", get(user))
        .route("/admin/users/{id}/{action}", post(user_action))
        .route("/admin/chats", get(chats))
        .route("/admin/chats/{id}", get(chat))
        .route("/admin/chats/{id}/delete", post(delete_chat))
        .route("/admin/messages", get(messages))
        .route("/admin/messages/{id}/delete", post(delete_message))
        .route("/admin/audit", get(audit))
}

/// How admin pages show a time.
fn when(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    at.to_offset(time::UtcOffset::UTC).format(&format).unwrap_or_default()
}

/// The visitor of an admin page: an active administrator, with their page session. Signed-out
/// visitors go to the login page; everyone else gets the 404 page.
struct Operator {
    user: User,
    web: WebUser,
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let web = WebUser::from_request_parts(parts, app).await?;
        let user = app.admin.require(web.principal.user_id).await.map_err(error_page)?;
        Ok(Self { user, web })
    }
}

impl Operator {
    fn id(&self) -> UserId {
        self.user.id
    }

    /// The context every admin page starts with.
    fn base(&self) -> Value {
        context! { me => visitor_of(&self.user), csrf_token => self.web.csrf_token() }
    }
}

/// `path?query` with `key=value` set, for the next page's link.
fn next_link(path: &str, raw: Option<&str>, key: &str, value: impl ToString) -> String {
    let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default()).unwrap_or_default();
    pairs.retain(|(k, v)| k != key && !v.trim().is_empty());
    pairs.push((key.to_owned(), value.to_string()));
    format!("{path}?{}", serde_urlencoded::to_string(&pairs).unwrap_or_default())
}

/// A query's raw values, to show back in its filter form.
fn raw_values(raw: Option<&str>) -> std::collections::HashMap<String, String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw.unwrap_or_default())
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// What a filtered list shows: a page of rows with the link to the next, or, when the query
/// itself is wrong, no rows and each bad parameter's message for its field (422).
struct Listing {
    rows: Vec<Value>,
    next: Option<String>,
    errors: FieldErrors,
}

impl Listing {
    /// Parses the query and loads its page of `(id, row)`s; the next page starts after the last id.
    async fn load<Q, Id: ToString>(
        path: &str,
        raw: Option<&str>,
        key: &str,
        parsed: Result<Q, AppError>,
        load: impl AsyncFnOnce(Q) -> Result<(Vec<(Id, Value)>, bool), AppError>,
    ) -> Result<Self, AppError> {
        match parsed {
            Ok(query) => {
                let (rows, more) = load(query).await?;
                let next = rows.last().filter(|_| more).map(|(id, _)| next_link(path, raw, key, id.to_string()));
                Ok(Self { rows: rows.into_iter().map(|(_, row)| row).collect(), next, errors: FieldErrors::new() })
            }
            Err(AppError::Fields { fields, .. }) => Ok(Self { rows: vec![], next: None, errors: fields }),
            Err(other) => Err(other),
        }
    }

    fn status(&self) -> StatusCode {
        if self.errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY }
    }
}

fn user_row(user: &User) -> Value {
    context! {
        id => user.id.to_string(),
        name => display_name(user),
        username => user.username.clone(),
        email => user.email.clone(),
        phone => user.phone.clone(),
        full_name => [user.first_name.as_deref(), user.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" "),
        is_admin => user.is_admin,
        is_active => user.is_active,
        created_at => when(user.created_at),
    }
}

async fn users(State(app): State<AppState>, templates: Templates, me: Operator, RawQuery(raw): RawQuery) -> Response {
    let raw = raw.as_deref();
    let listing = Listing::load("/admin/users", raw, "after", UserQuery::parse(raw), async |query: UserQuery| {
        let page = app.admin.users(me.id(), query.q.as_deref(), query.after, query.limit).await?;
        Ok((page.items.iter().map(|u| (u.id, user_row(u))).collect(), page.more))
    })
    .await;
    let listing = match listing {
        Ok(listing) => listing,
        Err(err) => return error_page(err),
    };
    let q = raw_values(raw).get("q").cloned().unwrap_or_default();
    let (status, Listing { rows, next, errors }) = (listing.status(), listing);
    templates.page(status, "admin_users.html", context! { users => rows, next, q, errors, ..me.base() })
}

/// A user id from the path; anything unparsable names no account.
fn user_id(raw: &str) -> Result<UserId, AppError> {
    raw.parse().map_err(|_| crate::profile::user_not_found())
}

async fn user(State(app): State<AppState>, templates: Templates, me: Operator, Path(id): Path<String>) -> Response {
    user_page(&app, &templates, &me, &id, StatusCode::OK, None, None).await
}

async fn user_page(
    app: &AppState,
    templates: &Templates,
    me: &Operator,
    id: &str,
    status: StatusCode,
    notice: Option<&str>,
    confirm_error: Option<&str>,
) -> Response {
    let found = async { app.admin.user(me.id(), user_id(id)?).await }.await;
    let (user, sessions) = match found {
        Ok(found) => found,
        Err(err) => return error_page(err),
    };
    let sessions: Vec<Value> = sessions
        .iter()
        .map(|s| context! { user_agent => s.user_agent.clone(), ip => s.ip.clone(), last_used_at => when(s.last_used_at) })
        .collect();
    let own = user.id == me.id();
    templates.page(
        status,
        "admin_user.html",
        context! { user => user_row(&user), sessions, own, notice, confirm_error, ..me.base() },
    )
}

#[derive(Debug, Default, Deserialize)]
struct ConfirmForm {
    confirm: Option<String>,
}

/// `deactivate`, `reactivate` or `delete` (confirmed) an account.
async fn user_action(
    State(app): State<AppState>,
    templates: Templates,
    me: Operator,
    Path((id, action)): Path<(String, String)>,
    raw: RawForm,
) -> Response {
    // Checked after the admin check (the extractor), so non-admins see 404 whatever they send.
    let Some(form) = super::signed::<ConfirmForm>(&me.web, raw) else { return forbidden() };
    let user = match user_id(&id) {
        Ok(user) => user,
        Err(err) => return error_page(err),
    };
    let done = match action.as_str() {
        "deactivate" => app.admin.deactivate(me.id(), user).await.map(|_| "The account is deactivated."),
        "reactivate" => app.admin.reactivate(me.id(), user).await.map(|_| "The account is active again."),
        "delete" if form.confirm.as_deref().map(str::trim) != Some("delete") => {
            let error = Some("type “delete” to confirm");
            return user_page(&app, &templates, &me, &id, StatusCode::UNPROCESSABLE_ENTITY, None, error).await;
        }
        "delete" => match app.admin.delete_user(me.id(), user).await {
            Ok(()) => return Redirect::to("/admin/audit?entity=user&action=delete").into_response(),
            Err(err) => Err(err),
        },
        _ => Err(AppError::not_found("not_found", "no such action")),
    };
    match done {
        Ok(notice) => user_page(&app, &templates, &me, &id, StatusCode::OK, Some(notice), None).await,
        Err(err @ AppError::Fail { .. }) if crate::web::status(&err) == StatusCode::CONFLICT => {
            let (status, _, error) = page_error(err);
            user_page(&app, &templates, &me, &id, status, error.as_deref(), None).await
        }
        Err(err) => error_page(err),
    }
}

async fn chats(State(app): State<AppState>, templates: Templates, me: Operator, RawQuery(raw): RawQuery) -> Response {
    let page = async {
        let query = ChatQuery::parse(raw.as_deref())?;
        app.admin.chats(me.id(), query.after, query.limit).await
    }
    .await;
    let page = match page {
        Ok(page) => page,
        Err(err) => return error_page(err),
    };
    let next = page
        .more
        .then(|| page.items.last().map(|c| next_link("/admin/chats", raw.as_deref(), "after", c.id)))
        .flatten();
    let chats: Vec<Value> = page
        .items
        .iter()
        .map(|c| {
            context! {
                id => c.id.to_string(),
                title => c.title.clone(),
                kind => c.kind.as_str(),
                member_count => c.member_count,
                last_activity_at => when(c.last_activity_at),
            }
        })
        .collect();
    templates.page(StatusCode::OK, "admin_chats.html", context! { chats, next, ..me.base() })
}

fn chat_id(raw: &str) -> Result<ChatId, AppError> {
    raw.parse().map_err(|_| crate::chat::chat_not_found())
}

async fn chat(State(app): State<AppState>, templates: Templates, me: Operator, Path(id): Path<String>) -> Response {
    chat_page(&app, &templates, &me, &id, StatusCode::OK, None).await
}

async fn chat_page(
    app: &AppState,
    templates: &Templates,
    me: &Operator,
    id: &str,
    status: StatusCode,
    confirm_error: Option<&str>,
) -> Response {
    let detail = match async { app.admin.chat(me.id(), chat_id(id)?).await }.await {
        Ok(detail) => detail,
        Err(err) => return error_page(err),
    };
    let members: Vec<Value> = detail
        .members
        .iter()
        .map(|m| {
            context! {
                id => m.id.to_string(),
                name => m.username.clone(),
                deleted => m.deleted,
                role => m.role.as_str(),
                avatar => m.avatar.as_ref().map(|a| a.s50.clone()),
            }
        })
        .collect();
    let names: Vec<&str> = detail.members.iter().filter_map(|m| m.username.as_deref()).collect();
    let name = detail.chat.title.clone().unwrap_or_else(|| format!("Direct chat of {}", names.join(" and ")));
    let chat = context! {
        id => detail.chat.id.to_string(),
        name,
        kind => detail.chat.kind.as_str(),
        created_at => when(detail.chat.created_at),
        last_activity_at => when(detail.chat.last_activity_at),
    };
    templates.page(status, "admin_chat.html", context! { chat, members, confirm_error, ..me.base() })
}

async fn delete_chat(
    State(app): State<AppState>,
    templates: Templates,
    me: Operator,
    Path(id): Path<String>,
    raw: RawForm,
) -> Response {
    // Checked after the admin check (the extractor), so non-admins see 404 whatever they send.
    let Some(form) = super::signed::<ConfirmForm>(&me.web, raw) else { return forbidden() };
    if form.confirm.as_deref().map(str::trim) != Some("delete") {
        let error = Some("type “delete” to confirm");
        return chat_page(&app, &templates, &me, &id, StatusCode::UNPROCESSABLE_ENTITY, error).await;
    }
    match async { app.admin.delete_chat(me.id(), chat_id(&id)?).await }.await {
        Ok(()) => Redirect::to("/admin/chats").into_response(),
        Err(err) => error_page(err),
    }
}

/// The fields of a filter form with their labels, values shown back and messages.
fn filter_fields(
    fields: &[(&str, &str, Option<&str>)],
    values: &std::collections::HashMap<String, String>,
    errors: &FieldErrors,
) -> Vec<Value> {
    fields
        .iter()
        .map(|&(name, label, kind)| {
            context! { name, label, kind, value => values.get(name).cloned().unwrap_or_default(), error => errors.get(name) }
        })
        .collect()
}

fn message_row(m: &MessageView) -> Value {
    let author = match &m.author {
        Some(p) => p.username.clone().unwrap_or_else(|| "deleted account".to_owned()),
        None => "Parlor".to_owned(),
    };
    context! {
        id => m.id.to_string(),
        chat_id => m.chat_id.to_string(),
        author,
        author_id => m.author.as_ref().filter(|p| !p.deleted).map(|p| p.id.to_string()),
        text => m.text.clone().unwrap_or_else(|| format!("[{}]", <&str>::from(m.kind))),
        deleted => m.deleted,
        created_at => when(m.created_at),
    }
}

async fn messages(
    State(app): State<AppState>,
    templates: Templates,
    me: Operator,
    RawQuery(raw): RawQuery,
) -> Response {
    let raw = raw.as_deref();
    let parsed = MessageQuery::parse(raw);
    let listing = Listing::load("/admin/messages", raw, "before", parsed, async |q: MessageQuery| {
        let page = app.admin.messages(me.id(), q.chat_id, q.author_id, q.before, q.limit).await?;
        Ok((page.items.iter().map(|m| (m.id, message_row(m))).collect(), page.more))
    })
    .await;
    let listing = match listing {
        Ok(listing) => listing,
        Err(err) => return error_page(err),
    };
    let fields = [("chat_id", "Chat id", None), ("author_id", "Author's user id", None)];
    let fields = filter_fields(&fields, &raw_values(raw), &listing.errors);
    let back = match raw {
        Some(query) if !query.is_empty() => format!("/admin/messages?{query}"),
        _ => "/admin/messages".to_owned(),
    };
    let (status, Listing { rows, next, .. }) = (listing.status(), listing);
    templates.page(status, "admin_messages.html", context! { messages => rows, next, fields, back, ..me.base() })
}

#[derive(Debug, Default, Deserialize)]
struct ModerateForm {
    back: Option<String>,
}

async fn delete_message(State(app): State<AppState>, me: Operator, Path(id): Path<String>, raw: RawForm) -> Response {
    // Checked after the admin check (the extractor), so non-admins see 404 whatever they send.
    let Some(form) = super::signed::<ModerateForm>(&me.web, raw) else { return forbidden() };
    let deleted = async {
        let message_id: MessageId = id.parse().map_err(|_| crate::chat::message_not_found())?;
        app.admin.delete_message(me.id(), message_id).await
    }
    .await;
    match deleted {
        Ok(_) => {
            let back = local_path(form.back.as_deref().unwrap_or("/admin/messages"));
            let back = if back.starts_with("/admin/") { back } else { "/admin/messages" };
            Redirect::to(&format!("{back}#message-{id}")).into_response()
        }
        Err(err) => error_page(err),
    }
}

/// The audit filter's fields: name, label and input type.
const AUDIT_FIELDS: [(&str, &str, Option<&str>); 6] = [
    ("entity", "Entity (user, session, chat, chat_member, message, …)", None),
    ("entity_id", "Entity id", None),
    ("actor_id", "Actor's user id", None),
    ("action", "Action (create, update, delete, deactivate, …)", None),
    ("since", "From (UTC)", Some("datetime-local")),
    ("until", "Until (UTC)", Some("datetime-local")),
];

/// A snapshot value as the diff shows it: text as itself, anything else as JSON, absence as a dash.
fn shown(value: Option<&serde_json::Value>) -> String {
    match value {
        None => "—".to_owned(),
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

fn audit_row(entry: &AuditView, actors: &HashMap<UserId, User>) -> Value {
    let actor =
        entry.actor_id.map(|id| actors.get(&id.into()).map_or_else(|| "a deleted account".to_owned(), display_name));
    let changes: Vec<Value> = entry
        .changes
        .iter()
        .map(|c| context! { field => c.field.clone(), before => shown(c.before.as_ref()), after => shown(c.after.as_ref()) })
        .collect();
    context! {
        id => entry.id.to_string(),
        at => when(entry.at),
        actor_id => entry.actor_id.map(|id| id.to_string()),
        actor,
        entity => entry.entity.clone(),
        entity_id => entry.entity_id.clone(),
        action => entry.action.clone(),
        changes,
    }
}

async fn audit(State(app): State<AppState>, templates: Templates, me: Operator, RawQuery(raw): RawQuery) -> Response {
    let raw = raw.as_deref();
    let listing = Listing::load("/admin/audit", raw, "before", AuditQuery::parse(raw), async |q: AuditQuery| {
        let page = app.admin.audit(me.id(), &q.filter, q.before, q.limit).await?;
        let actors = app.store.users(page.items.iter().filter_map(|e| e.actor_id.map(UserId::from))).await?;
        Ok((page.items.iter().map(|e| (e.id, audit_row(e, &actors))).collect(), page.more))
    })
    .await;
    let listing = match listing {
        Ok(listing) => listing,
        Err(err) => return error_page(err),
    };
    let fields = filter_fields(&AUDIT_FIELDS, &raw_values(raw), &listing.errors);
    let (status, Listing { rows, next, .. }) = (listing.status(), listing);
    templates.page(status, "admin_audit.html", context! { entries => rows, next, fields, ..me.base() })
}
