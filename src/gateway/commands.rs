//! The commands a client sends over either socket: on Socket.IO an event with an
//! acknowledgement, on the plain WebSocket a frame `{"event", "data", "id"}` answered by
//! `{"event": "ack", "id", "data"}`. Each runs the same service call as its HTTP route and is
//! answered with the same JSend envelope, so a chat client needs no HTTP after login.
//!
//! A connection may run `realtime.commands_per_second` commands a second on average, in bursts
//! of [`BURST_SECONDS`] seconds' worth; a command past that is not run and is answered with
//! `rate_limited` and the seconds to wait.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::App;
use crate::chat::{NewChat, SendMessage, history_page};
use crate::domain::{Emoji, MessageText, UserId};
use crate::error::{AppError, FieldErrors};
use crate::json::parse_value;
use crate::realtime::EventDoc;

pub const MESSAGE_SEND: &str = "message.send";
pub const TYPING: &str = "typing";
pub const CHAT_READ: &str = "chat.read";
pub const CHATS_LIST: &str = "chats.list";
pub const CHAT_CREATE: &str = "chat.create";
pub const MESSAGES_HISTORY: &str = "messages.history";
pub const MESSAGE_EDIT: &str = "message.edit";
pub const MESSAGE_DELETE: &str = "message.delete";
pub const MESSAGE_LIKE: &str = "message.like";
pub const MESSAGE_UNLIKE: &str = "message.unlike";
pub const MESSAGE_REACT: &str = "message.react";
pub const MESSAGE_UNREACT: &str = "message.unreact";

/// Every command, by name.
pub const NAMES: [&str; 12] = [
    MESSAGE_SEND,
    TYPING,
    CHAT_READ,
    CHATS_LIST,
    CHAT_CREATE,
    MESSAGES_HISTORY,
    MESSAGE_EDIT,
    MESSAGE_DELETE,
    MESSAGE_LIKE,
    MESSAGE_UNLIKE,
    MESSAGE_REACT,
    MESSAGE_UNREACT,
];

/// A burst may be this many seconds' worth of commands.
pub const BURST_SECONDS: u32 = 3;

/// Runs the command `name` as `me` with its payload; `None` if there is no such command. A
/// payload of `null` (a command sent without one) reads as `{}`.
pub async fn run(app: &App, me: UserId, name: &str, data: Value) -> Option<Result<Value, AppError>> {
    let data = if data.is_null() { json!({}) } else { data };
    let chats = &app.chats;
    let outcome = match name {
        MESSAGE_SEND => {
            async {
                let command: SendCommand = parse_value(data)?;
                let (message, _) = chats.send_message(me, command.chat_id.into(), command.message.draft()?).await?;
                Ok(json!({ "message": message }))
            }
            .await
        }
        TYPING => {
            async {
                let command: ChatCommand = parse_value(data)?;
                chats.typing(me, command.chat_id.into()).await?;
                Ok(Value::Null)
            }
            .await
        }
        CHAT_READ => {
            async {
                let command: ReadCommand = parse_value(data)?;
                to_value(chats.mark_read(me, command.chat_id.into(), command.message_id.into()).await?)
            }
            .await
        }
        CHATS_LIST => {
            async {
                let _: ListCommand = parse_value(data)?;
                Ok(json!({ "chats": chats.list_chats(me).await? }))
            }
            .await
        }
        CHAT_CREATE => {
            async {
                let (chat, _) = chats.create_chat(me, parse_value::<NewChat>(data)?).await?;
                Ok(json!({ "chat": chat }))
            }
            .await
        }
        MESSAGES_HISTORY => {
            async {
                let command: HistoryCommand = parse_value(data)?;
                let mut errors = FieldErrors::new();
                let (cursor, limit) = history_page(command.before, command.after, command.limit, &mut errors);
                if !errors.is_empty() {
                    return Err(AppError::invalid_fields(errors));
                }
                to_value(chats.history(me, command.chat_id.into(), cursor, limit).await?)
            }
            .await
        }
        MESSAGE_EDIT => {
            async {
                let command: EditCommand = parse_value(data)?;
                let text = MessageText::parse(&command.text).map_err(|message| AppError::invalid("text", message))?;
                let message = chats.edit_message(me, command.chat_id.into(), command.message_id.into(), text).await?;
                Ok(json!({ "message": message }))
            }
            .await
        }
        MESSAGE_DELETE => {
            async {
                let command: MessageCommand = parse_value(data)?;
                let message = chats.delete_message(me, command.chat_id.into(), command.message_id.into()).await?;
                Ok(json!({ "message": message }))
            }
            .await
        }
        MESSAGE_LIKE | MESSAGE_UNLIKE => {
            async {
                let command: MessageCommand = parse_value(data)?;
                let liked = name == MESSAGE_LIKE;
                let message = chats.set_like(me, command.chat_id.into(), command.message_id.into(), liked).await?;
                Ok(json!({ "message": message }))
            }
            .await
        }
        MESSAGE_REACT | MESSAGE_UNREACT => {
            async {
                let command: ReactCommand = parse_value(data)?;
                let emoji = Emoji::parse(&command.emoji).map_err(|message| AppError::invalid("emoji", message))?;
                let add = name == MESSAGE_REACT;
                let (chat, message) = (command.chat_id.into(), command.message_id.into());
                Ok(json!({ "message": chats.set_reaction(me, chat, message, emoji, add).await? }))
            }
            .await
        }
        _ => return None,
    };
    Some(outcome)
}

fn to_value(data: impl serde::Serialize) -> Result<Value, AppError> {
    serde_json::to_value(data).map_err(|err| AppError::Internal(err.into()))
}

/// One connection's allowance of commands: a token bucket, full at the start.
#[derive(Debug)]
pub struct Allowance {
    per_second: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Allowance {
    pub fn new(per_second: u32) -> Self {
        let per_second = f64::from(per_second.max(1));
        let burst = per_second * f64::from(BURST_SECONDS);
        Self { per_second, burst, tokens: burst, at: Instant::now() }
    }

    /// Spends one command, or refuses with how long until one may be sent.
    pub fn spend(&mut self) -> Result<(), AppError> {
        let now = Instant::now();
        let earned = now.duration_since(self.at).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + earned).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.per_second;
            Err(AppError::RateLimited(Duration::from_secs_f64(wait).max(Duration::from_millis(1))))
        }
    }
}

/// `message.send`: send a message, as `POST /api/v1/chats/{chat_id}/messages` would.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(example = json!({"chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f", "text": "See you at eight?", "client_id": "a1b2c3"}))]
pub struct SendCommand {
    pub chat_id: Uuid,
    #[serde(flatten)]
    pub message: SendMessage,
}

/// `typing`: tell the chat's other members that I am typing (repeat every few seconds).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(example = json!({"chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f"}))]
pub struct ChatCommand {
    pub chat_id: Uuid,
}

/// `chat.read`: move my read marker, as `POST /api/v1/chats/{chat_id}/read` would.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(example = json!({"chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f", "message_id": "01936b31-2c4d-7e5f-8a9b-0c1d2e3f4a5b"}))]
pub struct ReadCommand {
    pub chat_id: Uuid,
    pub message_id: Uuid,
}

/// `chats.list`: my chats, as `GET /api/v1/chats` would list them. No fields (`{}` or nothing).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(example = json!({}))]
pub struct ListCommand {}

/// `messages.history`: a page of a chat's history, as `GET /api/v1/chats/{chat_id}/messages`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(example = json!({"chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f", "before": "01936b31-2c4d-7e5f-8a9b-0c1d2e3f4a5b", "limit": 50}))]
pub struct HistoryCommand {
    pub chat_id: Uuid,
    /// Messages older than this message id (the previous page's `next_before`).
    pub before: Option<Uuid>,
    /// Messages newer than this message id (`next_after`).
    pub after: Option<Uuid>,
    /// 1–100 (larger values are capped); default 50.
    pub limit: Option<u64>,
}

/// `message.edit`: change my message's text, as `PATCH …/messages/{message_id}` would.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(example = json!({"chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f", "message_id": "01936b31-2c4d-7e5f-8a9b-0c1d2e3f4a5b", "text": "See you at nine?"}))]
pub struct EditCommand {
    pub chat_id: Uuid,
    pub message_id: Uuid,
    pub text: String,
}

/// `message.delete`, `message.like`, `message.unlike`: one message of a chat.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(example = json!({"chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f", "message_id": "01936b31-2c4d-7e5f-8a9b-0c1d2e3f4a5b"}))]
pub struct MessageCommand {
    pub chat_id: Uuid,
    pub message_id: Uuid,
}

/// `message.react`, `message.unreact`: one emoji on one message.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(example = json!({"chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f", "message_id": "01936b31-2c4d-7e5f-8a9b-0c1d2e3f4a5b", "emoji": "🎉"}))]
pub struct ReactCommand {
    pub chat_id: Uuid,
    pub message_id: Uuid,
    /// One Unicode emoji.
    pub emoji: String,
}

/// Every command a client may send, with what the acknowledgement carries.
pub fn docs() -> Vec<EventDoc> {
    vec![
        EventDoc::of::<SendCommand>(
            MESSAGE_SEND,
            "Send a message. The reply is the JSend envelope its HTTP route would answer: `{status: \"success\", data: {message}}` with the stored message, or `{status: \"fail\", data: {…}}`.",
            "The server; the chat's members then hear `message.created`.",
        ),
        EventDoc::of::<ChatCommand>(
            TYPING,
            "Say that you are typing. Throttled per user; acknowledged with `{status: \"success\", data: null}`.",
            "The server; the chat's other members then hear `typing`.",
        ),
        EventDoc::of::<ReadCommand>(
            CHAT_READ,
            "Mark a chat read up to a message. The reply is the JSend envelope its HTTP route would answer: `data: {chat_id, last_read_id, unread_count}`.",
            "The server; the chat's members then hear `chat.read`.",
        ),
        EventDoc::of::<ListCommand>(
            CHATS_LIST,
            "List my chats. The reply is the JSend envelope its HTTP route would answer: `data: {chats}`.",
            "The server.",
        ),
        EventDoc::of::<NewChat>(
            CHAT_CREATE,
            "Start a direct chat (or get the existing one) or a group. The reply is the JSend envelope its HTTP route would answer: `data: {chat}`.",
            "The server; the new chat's members then hear `chat.created`.",
        ),
        EventDoc::of::<HistoryCommand>(
            MESSAGES_HISTORY,
            "A page of a chat's history, newest first. The reply is the JSend envelope its HTTP route would answer: `data: {messages, next_before, next_after}`.",
            "The server.",
        ),
        EventDoc::of::<EditCommand>(
            MESSAGE_EDIT,
            "Edit my message. The reply is the JSend envelope its HTTP route would answer: `data: {message}`.",
            "The server; the chat's members then hear `message.updated`.",
        ),
        EventDoc::of::<MessageCommand>(
            MESSAGE_DELETE,
            "Delete a message (mine, or any as a group's owner or admin). The reply is the JSend envelope its HTTP route would answer: `data: {message}`, a tombstone.",
            "The server; the chat's members then hear `message.deleted`.",
        ),
        EventDoc::of::<MessageCommand>(
            MESSAGE_LIKE,
            "Like a message. The reply is the JSend envelope its HTTP route would answer: `data: {message}`.",
            "The server; the chat's members then hear `message.liked`.",
        ),
        EventDoc::of::<MessageCommand>(
            MESSAGE_UNLIKE,
            "Take my like back. The reply is the JSend envelope its HTTP route would answer: `data: {message}`.",
            "The server; the chat's members then hear `message.unliked`.",
        ),
        EventDoc::of::<ReactCommand>(
            MESSAGE_REACT,
            "React to a message with one emoji (at most 20 different emoji a message). The reply is the JSend envelope its HTTP route would answer: `data: {message}` with its `reactions`.",
            "The server; the chat's members then hear `message.reacted`.",
        ),
        EventDoc::of::<ReactCommand>(
            MESSAGE_UNREACT,
            "Take my emoji reaction back. The reply is the JSend envelope its HTTP route would answer: `data: {message}`.",
            "The server; the chat's members then hear `message.unreacted`.",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allowance_gives_a_burst_then_one_command_per_share_of_a_second() {
        let mut allowance = Allowance::new(10);
        for _ in 0..30 {
            allowance.spend().unwrap();
        }
        match allowance.spend() {
            Err(AppError::RateLimited(wait)) => assert!(wait <= Duration::from_millis(100), "{wait:?}"),
            other => panic!("{other:?}"),
        }
        std::thread::sleep(Duration::from_millis(120));
        allowance.spend().unwrap();
    }

    #[test]
    fn every_command_is_documented_once() {
        let documented: Vec<&str> = docs().iter().map(|doc| doc.name).collect();
        assert_eq!(documented, NAMES);
    }
}
