//! The pages and their forms. Each handler reads the form, calls a service, and renders a page
//! or redirects (303) after a change, so a reload never repeats it.

use axum::Router;
use axum::extract::{Path, Query, RawForm, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use minijinja::context;
use serde::Deserialize;

use super::{SESSION_COOKIE, Templates, WebUser, local_path, session_cookie};
use crate::app::AppState;
use crate::auth::ClientInfo;
use crate::auth::accounts::Registration;
use crate::chat::view::{ChatView, MessageView};
use crate::domain::{ChatId, MessageId};
use crate::error::AppError;
use crate::store::Cursor;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/login", get(login_page).post(login))
        .route("/register", get(register_page).post(register))
        .route("/logout", post(logout))
        .route("/chats", get(chats).post(start_chat))
        .route("/chats/{id}", get(chat))
        .route("/chats/{id}/messages", post(send))
        .route("/chats/{id}/messages/{mid}/{action}", post(message_action))
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
    let err = match app.accounts.login_web(&form.identifier, &form.password, &client).await {
        Ok((_, session)) => {
            let jar = jar.add(session_cookie(&app.config, session.secret));
            return (jar, Redirect::to(&next)).into_response();
        }
        Err(err) => AppError::from(err),
    };
    let (status, _, error) = page_error(err);
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
pub(super) fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, "this form has expired or did not come from Parlor; reload the page and try again")
        .into_response()
}

async fn chats(State(app): State<AppState>, templates: Templates, me: WebUser) -> Response {
    chats_page(&app, &templates, &me, StatusCode::OK, None).await
}

async fn chats_page(
    app: &AppState,
    templates: &Templates,
    me: &WebUser,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let Some(visitor) = super::visitor(app, me).await else { return super::to_login("/chats") };
    let chats = match app.chats.list_chats(me.principal.user_id).await {
        Ok(chats) => chats,
        Err(err) => return error_page(err),
    };
    let rows: Vec<minijinja::Value> = chats.iter().map(|chat| chat_row(chat, me.principal.user_id.uuid())).collect();
    templates.page(
        status,
        "chats.html",
        context! { me => visitor, csrf_token => me.csrf_token(), chats => rows, error },
    )
}

/// A refusal that has no form to show it beside: a plain page with the API's status and words.
pub(super) fn error_page(err: AppError) -> Response {
    let (status, fields, error) = page_error(err);
    let text = error.or_else(|| fields.into_iter().next().map(|(field, message)| format!("{field} {message}")));
    (status, text.unwrap_or_default()).into_response()
}

#[derive(Debug, Default, Deserialize)]
struct StartForm {
    csrf_token: String,
    username: Option<String>,
    title: Option<String>,
    members: Option<String>,
}

/// Starts a direct chat (`username`) or a group (`title`, `members`), then shows it.
async fn start_chat(State(app): State<AppState>, templates: Templates, me: WebUser, raw: RawForm) -> Response {
    let form: StartForm = form(raw);
    if !me.csrf_ok(&form.csrf_token) {
        return forbidden();
    }
    let started = async {
        if let Some(title) = form.title.as_deref() {
            let title = crate::domain::ChatTitle::parse(title).map_err(|m| AppError::invalid("title", m))?;
            let mut members = Vec::new();
            for name in form.members.as_deref().unwrap_or_default().split(',').map(str::trim).filter(|n| !n.is_empty())
            {
                let user = app
                    .profiles
                    .find(name)
                    .await
                    .map_err(|_| AppError::invalid("members", format!("no such user: {name}")))?;
                members.push(user.id);
            }
            app.chats.create_group(me.principal.user_id, title, members).await
        } else {
            let name = form.username.as_deref().unwrap_or_default().trim();
            let other = app.profiles.find(name).await.map_err(|_| AppError::invalid("username", "no such user"))?;
            app.chats.open_direct_chat(me.principal.user_id, other.id).await.map(|(chat, _)| chat)
        }
    }
    .await;
    match started {
        Ok(chat) => Redirect::to(&format!("/chats/{}", chat.id)).into_response(),
        Err(err) => {
            let (status, fields, error) = page_error(err);
            let error =
                error.or_else(|| fields.into_iter().next().map(|(field, message)| format!("{field}: {message}")));
            chats_page(&app, &templates, &me, status, error).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct HistoryQuery {
    before: Option<String>,
}

/// A chat id from the path; anything unparsable names no chat.
fn chat_id(raw: &str) -> Result<ChatId, AppError> {
    raw.parse().map_err(|_| crate::chat::chat_not_found())
}

async fn chat(
    State(app): State<AppState>,
    templates: Templates,
    me: WebUser,
    Path(id): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Response {
    let before = query.before.as_deref().and_then(|b| b.parse::<MessageId>().ok());
    chat_page(&app, &templates, &me, &id, before, StatusCode::OK, None, String::new()).await
}

#[allow(clippy::too_many_arguments)]
async fn chat_page(
    app: &AppState,
    templates: &Templates,
    me: &WebUser,
    id: &str,
    before: Option<MessageId>,
    status: StatusCode,
    error: Option<String>,
    text: String,
) -> Response {
    let Some(visitor) = super::visitor(app, me).await else { return super::to_login(&format!("/chats/{id}")) };
    let mine = me.principal.user_id;
    let view = async {
        let chat_id = chat_id(id)?;
        let (chat, member) = app.chats.member_of(chat_id, mine).await?;
        let view = app.chats.chat_view(mine, chat, member).await?;
        let cursor = before.map_or(Cursor::Latest, Cursor::Before);
        let history = app.chats.history(mine, chat_id, cursor, crate::chat::DEFAULT_PAGE).await?;
        Ok::<_, AppError>((view, history))
    }
    .await;
    let (view, history) = match view {
        Ok(found) => found,
        Err(err) => return error_page(err),
    };
    let row = chat_row(&view, mine.uuid());
    let members: Vec<minijinja::Value> = view
        .members
        .iter()
        .map(|m| {
            let name = m.username.clone().unwrap_or_else(|| "deleted account".to_owned());
            let avatar = m.avatar.as_ref().map(|a| a.s50.clone());
            context! { id => m.id.to_string(), name, role => <&str>::from(m.role), avatar }
        })
        .collect();
    // Newest at the bottom, as people read a conversation.
    let messages: Vec<minijinja::Value> = history.messages.iter().rev().map(|m| message_row(m, mine.uuid())).collect();
    let chat = context! { id => view.id.to_string(), name => row.get_attr("name").ok(), members };
    templates.page(
        status,
        "chat.html",
        context! {
            me => visitor,
            csrf_token => me.csrf_token(),
            chat,
            messages,
            older => history.next_before.map(|id| id.to_string()),
            error,
            text,
        },
    )
}

/// A message as its line in the chat.
fn message_row(message: &MessageView, me: uuid::Uuid) -> minijinja::Value {
    let author = match &message.author {
        Some(person) => person.username.clone().unwrap_or_else(|| "deleted account".to_owned()),
        None => "Parlor".to_owned(),
    };
    let text = match (&message.text, &message.system) {
        (Some(text), _) => text.clone(),
        (None, Some(system)) => system_text(system),
        (None, None) => format!("[{}]", <&str>::from(message.kind)),
    };
    context! {
        id => message.id.to_string(),
        author,
        avatar => message.author.as_ref().and_then(|p| p.avatar.as_ref()).map(|a| a.s50.clone()),
        text,
        deleted => message.deleted,
        system => message.kind == crate::domain::MessageKind::System,
        like_count => message.like_count,
        liked_by_me => message.liked_by_me,
        mine => message.author.as_ref().is_some_and(|p| p.id == me),
    }
}

/// What a system message records, in words.
fn system_text(event: &crate::domain::SystemEvent) -> String {
    use crate::domain::SystemEvent;
    match event {
        SystemEvent::Created { title } => format!("created the group “{title}”"),
        SystemEvent::Renamed { title } => format!("renamed the group to “{title}”"),
        SystemEvent::MembersAdded { user_ids } => format!("added {} member(s)", user_ids.len()),
        SystemEvent::MemberLeft { .. } => "left the group".to_owned(),
        SystemEvent::MemberRemoved { .. } => "removed a member".to_owned(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct SendForm {
    csrf_token: String,
    text: String,
}

async fn send(
    State(app): State<AppState>,
    templates: Templates,
    me: WebUser,
    Path(id): Path<String>,
    raw: RawForm,
) -> Response {
    let form: SendForm = form(raw);
    if !me.csrf_ok(&form.csrf_token) {
        return forbidden();
    }
    let sent = async {
        let chat_id = chat_id(&id)?;
        let draft = crate::chat::SendMessage {
            kind: None,
            text: Some(form.text.clone()),
            attachment_id: None,
            reply_to: None,
            client_id: None,
        }
        .draft()?;
        app.chats.send_message(me.principal.user_id, chat_id, draft).await
    }
    .await;
    match sent {
        Ok(_) => Redirect::to(&format!("/chats/{id}")).into_response(),
        Err(err @ AppError::Fields { .. }) => {
            let (status, fields, _) = page_error(err);
            let error = fields.into_iter().next().map(|(field, message)| format!("{field} {message}"));
            chat_page(&app, &templates, &me, &id, None, status, error, form.text).await
        }
        Err(err) => error_page(err),
    }
}

/// `like`, `unlike` or `delete` one message, then back to the chat.
async fn message_action(
    State(app): State<AppState>,
    me: WebUser,
    Path((id, mid, action)): Path<(String, String, String)>,
    raw: RawForm,
) -> Response {
    let form: CsrfForm = form(raw);
    if !me.csrf_ok(&form.csrf_token) {
        return forbidden();
    }
    let done = async {
        let chat_id = chat_id(&id)?;
        let message_id: MessageId = mid.parse().map_err(|_| crate::chat::message_not_found())?;
        let user = me.principal.user_id;
        match action.as_str() {
            "like" => app.chats.set_like(user, chat_id, message_id, true).await.map(drop),
            "unlike" => app.chats.set_like(user, chat_id, message_id, false).await.map(drop),
            "delete" => app.chats.delete_message(user, chat_id, message_id).await.map(drop),
            _ => Err(AppError::not_found("not_found", "no such action")),
        }
    }
    .await;
    match done {
        Ok(()) => Redirect::to(&format!("/chats/{id}#message-{mid}")).into_response(),
        Err(err) => error_page(err),
    }
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
    let last_message = chat.last_message.as_ref().map(|m| match (&m.text, &m.system, m.deleted) {
        (_, _, true) => "message deleted".to_owned(),
        (Some(text), _, _) => text.clone(),
        (None, Some(system), _) => {
            let who = m.author.as_ref().and_then(|a| a.username.clone()).unwrap_or_else(|| "someone".to_owned());
            format!("{who} {}", system_text(system))
        }
        (None, None, _) => format!("[{}]", <&str>::from(m.kind)),
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
