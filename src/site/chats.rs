//! The chat pages: `/chats` (my chats, starting one) and `/chats/{id}` (history, sending,
//! likes, edits, deletions, forwards, and the members with their roles). Every action is a form
//! post answered by a redirect (303), so the pages work without JavaScript; `chat.js` adds the
//! live updates.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;

use super::pages::{error_page, forbidden, page_error};
use super::{SignedForm, Templates, WebUser};
use crate::app::AppState;
use crate::chat::view::{ChatView, MessageView};
use crate::config::Config;
use crate::domain::chat::{Action, allowed};
use crate::domain::{ChatId, ChatKind, ChatTitle, MessageId, MessageText, Role, UserId};
use crate::error::AppError;
use crate::store::{Cursor, Pin};

pub fn router(config: &Config) -> Router<AppState> {
    // Room for the file and the form around it; the attachment pipeline checks the rest.
    let attachment_limit = config.media.attachment_bytes.saturating_add(64 * 1024);
    Router::new()
        .route("/chats", get(chats).post(start_chat))
        .route("/chats/{id}", get(chat))
        .route("/chats/{id}/messages", post(send))
        .route("/chats/{id}/attachments", post(attach).layer(DefaultBodyLimit::max(attachment_limit)))
        .route("/chats/{id}/messages/{mid}/forward", get(forward_page).post(forward))
        .route("/chats/{id}/messages/{mid}/{action}", post(message_action))
        .route("/chats/{id}/members", post(add_members))
        .route("/chats/{id}/members/{uid}/{action}", post(member_action))
        .route("/chats/{id}/{action}", post(chat_action))
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

#[derive(Debug, Default, Deserialize)]
struct StartForm {
    username: Option<String>,
    title: Option<String>,
    members: Option<String>,
}

/// Starts a direct chat (`username`) or a group (`title`, `members`), then shows it.
async fn start_chat(
    State(app): State<AppState>,
    templates: Templates,
    SignedForm { me, form }: SignedForm<StartForm>,
) -> Response {
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
    let my_role = view.members.iter().find(|m| m.id == mine.uuid()).map_or(Role::Member, |m| m.role);
    let may = |action| allowed(view.kind, my_role, action);
    let members: Vec<minijinja::Value> = view
        .members
        .iter()
        .map(|m| {
            let name = m.username.clone().unwrap_or_else(|| "deleted account".to_owned());
            let avatar = m.avatar.as_ref().map(|a| a.s50.clone());
            let me_too = m.id == mine.uuid();
            context! {
                id => m.id.to_string(),
                name,
                role => <&str>::from(m.role),
                avatar,
                removable => !me_too && may(Action::RemoveMember(m.role)),
                role_editable => !me_too && m.role != Role::Owner && may(Action::ChangeRoles),
            }
        })
        .collect();
    let moderates = may(Action::DeleteOthersMessage);
    // Newest at the bottom, as people read a conversation.
    let messages: Vec<minijinja::Value> =
        history.messages.iter().rev().map(|m| message_row(m, mine.uuid(), moderates)).collect();
    let chat = context! {
        id => view.id.to_string(),
        name => row.get_attr("name").ok(),
        title => view.title.clone(),
        group => view.kind == ChatKind::Group,
        members,
        may_rename => may(Action::Rename),
        may_add => may(Action::AddMembers),
        may_delete => may(Action::DeleteChat),
        unread_count => view.unread_count,
        pinned => view.pinned,
    };
    templates.page(
        status,
        "chat.html",
        context! {
            me => visitor,
            csrf_token => me.csrf_token(),
            chat,
            messages,
            older => history.next_before.map(|id| id.to_string()),
            // The newest message on this page, when it is the chat's newest: what reading it marks.
            newest => before.is_none().then(|| history.messages.first().map(|m| m.id.to_string())).flatten(),
            at_end => before.is_none(),
            error,
            text,
        },
    )
}

/// A message as its line in the chat; `moderates` when I may delete others' messages.
fn message_row(message: &MessageView, me: uuid::Uuid, moderates: bool) -> minijinja::Value {
    let author = match &message.author {
        Some(person) => person.username.clone().unwrap_or_else(|| "deleted account".to_owned()),
        None => "Parlor".to_owned(),
    };
    let text = match (&message.text, &message.system) {
        (Some(text), _) => Some(text.clone()),
        (None, Some(system)) => Some(system_text(system)),
        (None, None) => None,
    };
    let mine = message.author.as_ref().is_some_and(|p| p.id == me);
    let attachment = message.attachment.as_ref().map(|a| {
        context! {
            url => a.url.clone(),
            preview => a.preview_url.clone(),
            name => a.file_name.clone(),
            image => a.kind == "image",
            size => a.size,
        }
    });
    context! {
        id => message.id.to_string(),
        author,
        avatar => message.author.as_ref().and_then(|p| p.avatar.as_ref()).map(|a| a.s50.clone()),
        text,
        attachment,
        deleted => message.deleted,
        edited => message.edited_at.is_some(),
        forwarded => message.forwarded_from.is_some(),
        system => message.kind == crate::domain::MessageKind::System,
        like_count => message.like_count,
        liked_by_me => message.liked_by_me,
        mine,
        editable => mine && message.kind == crate::domain::MessageKind::Text,
        deletable => mine || moderates,
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
    text: String,
}

async fn send(
    State(app): State<AppState>,
    templates: Templates,
    Path(id): Path<String>,
    SignedForm { me, form }: SignedForm<SendForm>,
) -> Response {
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

#[derive(Debug, Default, Deserialize)]
struct MessageForm {
    text: Option<String>,
    to_chat_id: Option<String>,
}

/// `like`, `unlike`, `delete` or `edit` (`text`) one message, then back to the chat.
async fn message_action(
    State(app): State<AppState>,
    templates: Templates,
    Path((id, mid, action)): Path<(String, String, String)>,
    SignedForm { me, form }: SignedForm<MessageForm>,
) -> Response {
    let done = async {
        let chat_id = chat_id(&id)?;
        let message_id: MessageId = mid.parse().map_err(|_| crate::chat::message_not_found())?;
        let user = me.principal.user_id;
        let here = format!("/chats/{id}#message-{mid}");
        match action.as_str() {
            "like" => app.chats.set_like(user, chat_id, message_id, true).await.map(|_| here),
            "unlike" => app.chats.set_like(user, chat_id, message_id, false).await.map(|_| here),
            "delete" => app.chats.delete_message(user, chat_id, message_id).await.map(|_| here),
            "edit" => {
                let text = MessageText::parse(form.text.as_deref().unwrap_or_default())
                    .map_err(|m| AppError::invalid("text", m))?;
                app.chats.edit_message(user, chat_id, message_id, text).await.map(|_| here)
            }
            _ => Err(AppError::not_found("not_found", "no such action")),
        }
    }
    .await;
    after_change(&app, &templates, &me, &id, done).await
}

/// After a change made on a chat page: on to where it leads, or the chat page again with the
/// refusal above its form when the page can show it (a field, a conflict, a role), else the
/// refusal on its own page.
async fn after_change(
    app: &AppState,
    templates: &Templates,
    me: &WebUser,
    id: &str,
    done: Result<String, AppError>,
) -> Response {
    match done {
        Ok(to) => Redirect::to(&to).into_response(),
        Err(err) if matches!(crate::web::status(&err).as_u16(), 403 | 409 | 422) => {
            let (status, fields, error) = page_error(err);
            let error =
                error.or_else(|| fields.into_iter().next().map(|(field, message)| format!("{field}: {message}")));
            chat_page(app, templates, me, id, None, status, error, String::new()).await
        }
        Err(err) => error_page(err),
    }
}

/// A file sent to the chat: the `file` field of a multipart form, with an optional caption in
/// `text`, after its `csrf_token`. Pictures become `image` messages, anything else a `file`.
async fn attach(
    State(app): State<AppState>,
    templates: Templates,
    me: WebUser,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Response {
    let (mut token, mut text, mut file) = (None, None, None);
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let file_name = field.file_name().map(str::to_owned);
                match field.bytes().await {
                    Ok(bytes) if name == "csrf_token" => token = Some(String::from_utf8_lossy(&bytes).into_owned()),
                    Ok(bytes) if name == "text" => text = Some(String::from_utf8_lossy(&bytes).into_owned()),
                    Ok(bytes) if name == "file" => file = Some((file_name.unwrap_or_else(|| "file".to_owned()), bytes)),
                    Ok(_) => {}
                    Err(_) => return upload_refused(&app, &templates, &me, &id).await,
                }
            }
            Ok(None) => break,
            Err(_) => return upload_refused(&app, &templates, &me, &id).await,
        }
    }
    if !me.csrf_ok(token.as_deref().unwrap_or_default()) {
        return forbidden();
    }
    let sent = async {
        let chat_id = chat_id(&id)?;
        let user = me.principal.user_id;
        app.chats.member_of(chat_id, user).await?;
        let (file_name, bytes) =
            file.filter(|(_, b)| !b.is_empty()).ok_or_else(|| AppError::invalid("file", "choose a file to send"))?;
        let attachment = app.chats.upload_attachment(user, file_name, bytes).await?;
        let draft = crate::chat::SendMessage {
            kind: Some(attachment.kind.clone()),
            text: text.filter(|t| !t.trim().is_empty()),
            attachment_id: Some(attachment.id.uuid()),
            reply_to: None,
            client_id: None,
        }
        .draft()?;
        let (message, _) = app.chats.send_message(user, chat_id, draft).await?;
        Ok(format!("/chats/{id}#message-{}", message.id))
    }
    .await;
    after_change(&app, &templates, &me, &id, sent).await
}

async fn upload_refused(app: &AppState, templates: &Templates, me: &WebUser, id: &str) -> Response {
    let error = format!("the upload is malformed or larger than {} bytes", app.config.media.attachment_bytes);
    chat_page(app, templates, me, id, None, StatusCode::BAD_REQUEST, Some(error), String::new()).await
}

/// Where to forward a message: my other chats, to pick one.
async fn forward_page(
    State(app): State<AppState>,
    templates: Templates,
    me: WebUser,
    Path((id, mid)): Path<(String, String)>,
) -> Response {
    let Some(visitor) = super::visitor(&app, &me).await else { return super::to_login(&format!("/chats/{id}")) };
    let mine = me.principal.user_id;
    let found = async {
        let chat_id = chat_id(&id)?;
        let message_id: MessageId = mid.parse().map_err(|_| crate::chat::message_not_found())?;
        let (_, _, message) = app.chats.message_in(mine, chat_id, message_id).await?;
        let chats = app.chats.list_chats(mine).await?;
        Ok::<_, AppError>((chat_id, message, chats))
    }
    .await;
    let (here, message, chats) = match found {
        Ok(found) => found,
        Err(err) => return error_page(err),
    };
    let targets: Vec<minijinja::Value> = chats
        .iter()
        .filter(|c| c.id != here.uuid())
        .map(|c| context! { id => c.id.to_string(), name => chat_row(c, mine.uuid()).get_attr("name").ok() })
        .collect();
    let text = message.text.clone().unwrap_or_else(|| format!("[{}]", <&str>::from(message.kind)));
    templates.page(
        StatusCode::OK,
        "forward.html",
        context! { me => visitor, csrf_token => me.csrf_token(), chat_id => id, message_id => mid, text, targets },
    )
}

/// Forwards a message to `to_chat_id`, then shows it there.
async fn forward(
    State(app): State<AppState>,
    templates: Templates,
    Path((id, mid)): Path<(String, String)>,
    SignedForm { me, form }: SignedForm<MessageForm>,
) -> Response {
    let done = async {
        let chat_id = chat_id(&id)?;
        let message_id: MessageId = mid.parse().map_err(|_| crate::chat::message_not_found())?;
        let to: ChatId = form
            .to_chat_id
            .as_deref()
            .and_then(|raw| raw.parse().ok())
            .ok_or_else(|| AppError::invalid("to_chat_id", "choose a chat to forward to"))?;
        let copy = app.chats.forward_message(me.principal.user_id, chat_id, message_id, to).await?;
        Ok(format!("/chats/{to}#message-{}", copy.id))
    }
    .await;
    after_change(&app, &templates, &me, &id, done).await
}

#[derive(Debug, Default, Deserialize)]
struct MembersForm {
    members: String,
}

/// The accounts named in a comma-separated list of identifiers, each known or refused by name.
async fn named_users(app: &AppState, names: &str) -> Result<Vec<UserId>, AppError> {
    let mut ids = Vec::new();
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let user =
            app.profiles.find(name).await.map_err(|_| AppError::invalid("members", format!("no such user: {name}")))?;
        ids.push(user.id);
    }
    Ok(ids)
}

/// Adds the members named in `members` (usernames, e-mails or phones, separated by commas).
async fn add_members(
    State(app): State<AppState>,
    templates: Templates,
    Path(id): Path<String>,
    SignedForm { me, form }: SignedForm<MembersForm>,
) -> Response {
    let done = async {
        let chat_id = chat_id(&id)?;
        let ids = named_users(&app, &form.members).await?;
        if ids.is_empty() {
            return Err(AppError::invalid("members", "name at least one person"));
        }
        app.chats.add_members(me.principal.user_id, chat_id, ids).await?;
        Ok(format!("/chats/{id}"))
    }
    .await;
    after_change(&app, &templates, &me, &id, done).await
}

#[derive(Debug, Default, Deserialize)]
struct MemberForm {
    role: Option<String>,
}

/// `remove` a member, or give them a `role` (`member` or `admin`; `owner` hands the group over).
async fn member_action(
    State(app): State<AppState>,
    templates: Templates,
    Path((id, uid, action)): Path<(String, String, String)>,
    SignedForm { me, form }: SignedForm<MemberForm>,
) -> Response {
    let done = async {
        let chat_id = chat_id(&id)?;
        let user_id: UserId = uid.parse().map_err(|_| crate::chat::member_not_found())?;
        let mine = me.principal.user_id;
        match action.as_str() {
            "remove" => app.chats.remove_member(mine, chat_id, user_id).await?,
            "role" => {
                let role = form
                    .role
                    .as_deref()
                    .and_then(Role::parse)
                    .ok_or_else(|| AppError::invalid("role", "must be one of member, admin, owner"))?;
                app.chats.set_role(mine, chat_id, user_id, role).await?;
            }
            _ => return Err(AppError::not_found("not_found", "no such action")),
        }
        Ok(format!("/chats/{id}#members"))
    }
    .await;
    after_change(&app, &templates, &me, &id, done).await
}

#[derive(Debug, Default, Deserialize)]
struct ChatForm {
    title: Option<String>,
    confirm: Option<String>,
    message_id: Option<String>,
    /// Sent by the page's script: answer 204 instead of the redirect a form post gets.
    quiet: Option<String>,
}

/// `rename` (`title`), `pin`, `unpin`, `leave`, `delete` (confirmed) the chat, mark it `read` up
/// to `message_id`, or say I am `typing` (answered 204: the page's script sends it).
async fn chat_action(
    State(app): State<AppState>,
    templates: Templates,
    Path((id, action)): Path<(String, String)>,
    SignedForm { me, form }: SignedForm<ChatForm>,
) -> Response {
    let mine = me.principal.user_id;
    let done = async {
        let chat_id = chat_id(&id)?;
        match action.as_str() {
            "rename" => {
                let title = ChatTitle::parse(form.title.as_deref().unwrap_or_default())
                    .map_err(|m| AppError::invalid("title", m))?;
                app.chats.rename_chat(mine, chat_id, title).await?;
                Ok(format!("/chats/{id}"))
            }
            "leave" => {
                app.chats.remove_member(mine, chat_id, mine).await?;
                Ok("/chats".to_owned())
            }
            "delete" if form.confirm.as_deref().map(str::trim) != Some("delete") => {
                Err(AppError::invalid("confirm", "type “delete” to confirm"))
            }
            "delete" => {
                app.chats.delete_chat(mine, chat_id).await?;
                Ok("/chats".to_owned())
            }
            "pin" | "unpin" => {
                let pin = if action == "pin" { Pin::Last } else { Pin::Off };
                app.chats.pin_chat(mine, chat_id, pin).await?;
                Ok(format!("/chats/{id}"))
            }
            "read" => {
                let message_id: MessageId = form
                    .message_id
                    .as_deref()
                    .and_then(|raw| raw.parse().ok())
                    .ok_or_else(crate::chat::message_not_found)?;
                app.chats.mark_read(mine, chat_id, message_id).await?;
                Ok(if form.quiet.is_some() { String::new() } else { format!("/chats/{id}") })
            }
            "typing" => {
                app.chats.typing(mine, chat_id).await?;
                Ok(String::new())
            }
            _ => Err(AppError::not_found("not_found", "no such action")),
        }
    }
    .await;
    match done {
        Ok(to) if to.is_empty() => StatusCode::NO_CONTENT.into_response(),
        done => after_change(&app, &templates, &me, &id, done).await,
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
