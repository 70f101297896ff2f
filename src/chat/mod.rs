//! The messenger: what members do to chats and messages, who may do it, and the events that tell
//! everyone concerned. HTTP handlers and Socket.IO commands both call in here.
//!
//! Authorization lives in one place: [`Chats::member_of`] answers 404 `chat_not_found` to anyone
//! who is not a member (a chat's existence is nobody else's business), and [`require`] checks a
//! member's role against [`crate::domain::chat::allowed`]. Events are addressed to the chat's
//! members at the moment of the change, on every instance, so a removed member hears nothing
//! more from the moment the removal commits.

pub mod attachment;
pub mod events;
pub mod search;
pub mod view;

use std::sync::Arc;

use serde::Serialize;
use uuid::Uuid;

use self::view::{ChatView, MessageView};
use crate::domain::chat::{Action, allowed, refusal};
use crate::domain::{AttachmentId, ChatId, Emoji, MessageId, UserId};
use crate::domain::{ChatKind, ChatTitle, ClientId, MessageKind, MessageText, Role};
use crate::error::AppError;
use crate::limits::Limits;
use crate::media::{Collector, Media};
use crate::presence::Presence;
use crate::realtime::{Audience, Realtime};
use crate::store::{
    Actor, Chat, ChatCursor, Cursor, Forwarded, MAX_DISTINCT_REACTIONS, Member, Message, NewMessage, Pin, Reacted,
    Removal, Store,
};
use events::{ChatChanged, ChatEvent, ChatRead, LikeChanged, MemberRemoved, MessageCreated, ReactionChanged};

/// Most users one request may add to a group.
pub const MAX_MEMBERS_PER_REQUEST: usize = 1000;
/// Largest history page.
pub const MAX_PAGE: u64 = 100;
/// History page size when none is asked for.
pub const DEFAULT_PAGE: u64 = 50;

/// A message a member sends, validated as a whole by [`SendMessage::draft`].
#[derive(Debug, Clone)]
pub struct Draft {
    pub kind: MessageKind,
    pub text: Option<MessageText>,
    pub attachment_id: Option<AttachmentId>,
    pub reply_to: Option<MessageId>,
    pub client_id: Option<ClientId>,
}

/// A new chat, as clients ask for it (HTTP body and the socket command `chat.create`):
/// `{"type": "direct", "user_id"}` or `{"type": "group", "title", "member_ids"}`.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"type": "group", "title": "Book club", "member_ids": ["01936b2f-0a11-7d42-8e3c-5b6a7c8d9e0f"]}))]
pub struct NewChat {
    /// `direct` or `group`.
    #[serde(rename = "type")]
    pub kind: String,
    /// For `direct`: the other person.
    pub user_id: Option<Uuid>,
    /// For `group`: 1–128 characters.
    pub title: Option<String>,
    /// For `group`: who joins besides me (at most 1000; I become the owner).
    #[serde(default)]
    pub member_ids: Vec<Uuid>,
}

/// Where a history page starts and how long it is, from what a client sent: `before` or `after`
/// (not both), `limit` from 1 (larger than [`MAX_PAGE`] is capped; [`DEFAULT_PAGE`] when absent).
/// Problems go into `errors`, keyed by field.
pub fn history_page(
    before: Option<Uuid>,
    after: Option<Uuid>,
    limit: Option<u64>,
    errors: &mut crate::error::FieldErrors,
) -> (Cursor, u64) {
    let limit = match limit {
        None => DEFAULT_PAGE,
        Some(n @ 1..) => n.min(MAX_PAGE),
        Some(0) => {
            errors.insert("limit".into(), limit_rule());
            DEFAULT_PAGE
        }
    };
    let cursor = match (before, after) {
        (Some(_), Some(_)) => {
            errors.insert("after".into(), "cannot be combined with before".into());
            Cursor::Latest
        }
        (Some(id), None) => Cursor::Before(id.into()),
        (None, Some(id)) => Cursor::After(id.into()),
        (None, None) => Cursor::Latest,
    };
    (cursor, limit)
}

/// What a page size must be.
pub fn limit_rule() -> String {
    format!("must be a whole number from 1 to {MAX_PAGE}")
}

/// A message to send, as clients write it (HTTP body and Socket.IO `message.send`).
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"type": "text", "text": "See you at eight?", "client_id": "a1b2c3"}))]
pub struct SendMessage {
    /// `text` (the default), `image` or `file`; never `system`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Required for `text`; a caption for `image` and `file`. 1–4000 characters, not blank.
    pub text: Option<String>,
    /// An upload of yours from `POST /api/v1/attachments`, for `image` and `file`; usable once.
    pub attachment_id: Option<Uuid>,
    /// A message of this chat that this one answers.
    pub reply_to: Option<Uuid>,
    /// Your own id for this message (1–64 printable ASCII): sending again with it returns the
    /// first message instead of a second one.
    pub client_id: Option<String>,
}

impl SendMessage {
    /// Validates every field, reporting every problem at once.
    pub fn draft(self) -> Result<Draft, AppError> {
        let mut errors = crate::error::FieldErrors::new();
        let kind = match self.kind.as_deref().map(MessageKind::parse) {
            None => Some(MessageKind::Text),
            Some(Some(MessageKind::System)) => {
                errors.insert("type".into(), "system messages are written by the server".into());
                None
            }
            Some(Some(kind)) => Some(kind),
            Some(None) => {
                errors.insert("type".into(), "must be one of text, image, file".into());
                None
            }
        };
        let text = self.text.map(|t| MessageText::parse(&t)).transpose().unwrap_or_else(|m| {
            errors.insert("text".into(), m);
            None
        });
        let client_id = self.client_id.map(|c| ClientId::parse(&c)).transpose().unwrap_or_else(|m| {
            errors.insert("client_id".into(), m);
            None
        });
        // What the type asks of the other fields.
        let needs = match (kind, &text, self.attachment_id) {
            (Some(MessageKind::Text), None, _) if !errors.contains_key("text") => Some(("text", "is required")),
            (Some(MessageKind::Text), _, Some(_)) => Some(("attachment_id", "send an image or file message to attach")),
            (Some(MessageKind::Image | MessageKind::File), _, None) => {
                Some(("attachment_id", "is required for image and file messages"))
            }
            _ => None,
        };
        if let Some((field, message)) = needs {
            errors.insert(field.into(), message.into());
        }
        match kind {
            Some(kind) if errors.is_empty() => Ok(Draft {
                kind,
                text,
                attachment_id: self.attachment_id.map(Into::into),
                reply_to: self.reply_to.map(Into::into),
                client_id,
            }),
            _ => Err(AppError::invalid_fields(errors)),
        }
    }
}

/// A history page as sent to clients.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryView {
    /// Newest first.
    pub messages: Vec<MessageView>,
    /// Pass as `before` for the next older page; `null` when there is nothing older.
    pub next_before: Option<Uuid>,
    /// Pass as `after` for newer messages (also later, to catch up); `null` only for an empty chat.
    pub next_after: Option<Uuid>,
}

/// A member's read marker and what is left unread.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReadView {
    pub chat_id: Uuid,
    pub last_read_id: Option<Uuid>,
    pub unread_count: u64,
    /// Unread messages that mention me.
    pub mention_count: u64,
}

pub fn chat_not_found() -> AppError {
    AppError::not_found("chat_not_found", "no such chat")
}

pub fn member_not_found() -> AppError {
    AppError::not_found("member_not_found", "no such member")
}

pub fn message_not_found() -> AppError {
    AppError::not_found("message_not_found", "no such message in this chat")
}

/// A chat as events carry it: each reader's own pin, unread count and like are theirs to keep,
/// so they come as `false` and `0`.
fn shared(view: &ChatView) -> ChatChanged {
    let mut chat = view.clone();
    chat.pinned = false;
    chat.unread_count = 0;
    chat.mention_count = 0;
    if let Some(last) = &mut chat.last_message {
        last.liked_by_me = false;
    }
    ChatChanged { chat }
}

/// 403 unless the member's role allows `action` in this chat.
pub fn require(chat: &Chat, member: &Member, action: Action) -> Result<(), AppError> {
    if allowed(chat.kind, member.role, action) {
        return Ok(());
    }
    Err(AppError::forbidden("not_allowed", refusal(chat.kind, action)))
}

/// The messenger's use cases: one method per thing a member does. Cheap to clone.
#[derive(Clone)]
pub struct Chats {
    store: Store,
    limits: Arc<Limits>,
    media: Arc<Media>,
    realtime: Arc<Realtime>,
    /// For members' presence in chat views.
    presence: Presence,
    collector: Collector,
}

impl Chats {
    pub fn new(
        store: Store,
        limits: Arc<Limits>,
        media: Arc<Media>,
        realtime: Arc<Realtime>,
        presence: Presence,
        collector: Collector,
    ) -> Self {
        Self { store, limits, media, realtime, presence, collector }
    }

    /// The chat and my membership, or 404 for anyone else: the one check every chat route makes.
    pub async fn member_of(&self, chat_id: ChatId, me: UserId) -> Result<(Chat, Member), AppError> {
        self.store.membership(chat_id, me).await?.ok_or_else(chat_not_found)
    }

    /// One chat as I see it.
    pub async fn chat_view(&self, me: UserId, chat: Chat, member: Member) -> Result<ChatView, AppError> {
        let mut views = self.render_chats(me, vec![(chat, member)], None).await?;
        views.pop().ok_or_else(chat_not_found)
    }

    /// A chat of mine as I see it now, or 404.
    async fn my_chat(&self, chat_id: ChatId, me: UserId) -> Result<ChatView, AppError> {
        let (chat, member) = self.member_of(chat_id, me).await?;
        self.chat_view(me, chat, member).await
    }

    /// Renders the chat for `reader` and tells every member `chat.updated`; returns the view.
    async fn announce_chat(&self, chat_id: ChatId, reader: UserId) -> Result<ChatView, AppError> {
        let view = self.my_chat(chat_id, reader).await?;
        self.tell_members(chat_id, ChatEvent::Updated(shared(&view))).await?;
        Ok(view)
    }

    /// Tells every current member of a chat.
    async fn tell_members(&self, chat_id: ChatId, event: ChatEvent) -> Result<(), AppError> {
        let members = self.store.member_ids(chat_id).await?;
        if !members.is_empty() {
            self.realtime.emit(Audience::Users(members), &event).await;
        }
        Ok(())
    }

    async fn announce_message(&self, message: Message, reader: UserId) -> Result<MessageView, AppError> {
        self.announce_sent(message, reader, None).await
    }

    /// Renders a new message for `reader` and tells every member; with the roster version it
    /// was sent to, as that version's members (each instance finds them itself).
    async fn announce_sent(
        &self,
        message: Message,
        reader: UserId,
        roster: Option<i64>,
    ) -> Result<MessageView, AppError> {
        let chat_id = message.chat_id;
        let view = self.render_new_message(reader, message).await?;
        let mut shared = view.clone();
        shared.liked_by_me = false;
        let event = ChatEvent::MessageCreated(MessageCreated { message: shared });
        match roster {
            Some(roster) => self.realtime.emit(Audience::Members { chat_id, roster }, &event).await,
            None => self.tell_members(chat_id, event).await?,
        }
        Ok(view)
    }

    /// My chats: pinned first, then by last activity.
    pub async fn list_chats(&self, me: UserId) -> Result<Vec<ChatView>, AppError> {
        let chats = self.store.chats_of(me).await?;
        Ok(self.render_chats(me, chats, None).await?)
    }

    /// A page of my chats in list order, and the cursor of the next page if there is one.
    pub async fn chats_page(
        &self,
        me: UserId,
        after: Option<ChatCursor>,
        limit: u64,
    ) -> Result<(Vec<ChatView>, Option<ChatCursor>), AppError> {
        let (page, next) = self.store.chats_page(me, after, limit).await?;
        let unread = page.iter().map(|(chat, _, unread)| (chat.id, *unread)).collect();
        let chats = page.into_iter().map(|(chat, member, _)| (chat, member)).collect();
        Ok((self.render_chats(me, chats, Some(unread)).await?, next))
    }

    /// Starts a chat as asked: my direct chat with someone (`true` when it is new, else the one
    /// we have) or a group I own (always new).
    pub async fn create_chat(&self, me: UserId, new: NewChat) -> Result<(ChatView, bool), AppError> {
        let invalid = |field: &str, message: &str| AppError::invalid(field, message);
        match ChatKind::parse(&new.kind) {
            Some(ChatKind::Direct) => {
                let other = new.user_id.ok_or_else(|| invalid("user_id", "is required for a direct chat"))?;
                self.open_direct_chat(me, other.into()).await
            }
            Some(ChatKind::Group) => {
                let title = new.title.as_deref().ok_or_else(|| "is required for a group".to_owned());
                let title = title.and_then(ChatTitle::parse).map_err(|message| invalid("title", &message))?;
                let members = new.member_ids.into_iter().map(Into::into).collect();
                Ok((self.create_group(me, title, members).await?, true))
            }
            None => Err(invalid("type", "must be direct or group")),
        }
    }

    /// Opens (or returns) my direct chat with `other`. `true` when it is new.
    pub async fn open_direct_chat(&self, me: UserId, other: UserId) -> Result<(ChatView, bool), AppError> {
        if other == me {
            return Err(AppError::invalid("user_id", "a direct chat needs someone other than you"));
        }
        if self.store.user(other).await?.is_none() {
            return Err(AppError::invalid("user_id", "no such user"));
        }
        let created = self.store.open_direct_chat(me, other).await?;
        let view = self.my_chat(created.chat.id, me).await?;
        if created.created {
            self.realtime.emit(Audience::Users(vec![me, other]), &ChatEvent::Created(shared(&view))).await;
        }
        Ok((view, created.created))
    }

    /// Creates a group I own, with the given members.
    pub async fn create_group(
        &self,
        me: UserId,
        title: ChatTitle,
        member_ids: Vec<UserId>,
    ) -> Result<ChatView, AppError> {
        let others = self.existing_users(member_ids, me).await?;
        let created = self.store.create_group(me, title, &others).await?;
        let view = self.my_chat(created.chat.id, me).await?;
        let everyone = created.members.iter().map(|m| m.user_id).collect();
        self.realtime.emit(Audience::Users(everyone), &ChatEvent::Created(shared(&view))).await;
        tracing::info!(chat_id = %view.id, members = created.members.len(), "group created");
        Ok(view)
    }

    /// The ids, without me and duplicates, if every one names an account; else 422.
    async fn existing_users(&self, ids: Vec<UserId>, me: UserId) -> Result<Vec<UserId>, AppError> {
        if ids.len() > MAX_MEMBERS_PER_REQUEST {
            return Err(AppError::invalid("member_ids", format!("at most {MAX_MEMBERS_PER_REQUEST} users at a time")));
        }
        let mut wanted = Vec::with_capacity(ids.len());
        for id in ids {
            if id != me && !wanted.contains(&id) {
                wanted.push(id);
            }
        }
        let found = self.store.users(wanted.iter().copied()).await?;
        if let Some(unknown) = wanted.iter().find(|id| !found.contains_key(id)) {
            return Err(AppError::invalid("member_ids", format!("no such user: {unknown}")));
        }
        Ok(wanted)
    }

    /// Renames a group (owner or admin).
    pub async fn rename_chat(&self, me: UserId, chat_id: ChatId, title: ChatTitle) -> Result<ChatView, AppError> {
        let (chat, member) = self.member_of(chat_id, me).await?;
        require(&chat, &member, Action::Rename)?;
        let message = self.store.rename_chat(me, chat_id, title).await?.ok_or_else(chat_not_found)?;
        self.announce_message(message, me).await?;
        self.announce_chat(chat_id, me).await
    }

    /// Deletes a chat with its messages and attachments (a group: its owner; a direct chat:
    /// either member).
    pub async fn delete_chat(&self, me: UserId, chat_id: ChatId) -> Result<(), AppError> {
        let (chat, member) = self.member_of(chat_id, me).await?;
        require(&chat, &member, Action::DeleteChat)?;
        self.erase_chat(Actor::Member(me), chat_id).await
    }

    /// Deletes any chat as an operator (the admin service has checked the role; the store checks
    /// it again under the chat's lock). Its members are told as when its owner deletes it.
    pub async fn moderate_chat(&self, operator: UserId, chat_id: ChatId) -> Result<(), AppError> {
        self.erase_chat(Actor::Operator(operator), chat_id).await
    }

    async fn erase_chat(&self, actor: Actor, chat_id: ChatId) -> Result<(), AppError> {
        let members = self.store.member_ids(chat_id).await?;
        let garbage = self.store.delete_chat(actor, chat_id).await?.ok_or_else(chat_not_found)?;
        let by = actor.user_id();
        let event = ChatEvent::Deleted(events::ChatDeleted { chat_id: chat_id.into(), by: by.into() });
        self.realtime.emit(Audience::Users(members), &event).await;
        for prefix in garbage {
            self.collector.collect(&prefix, 0).await;
        }
        tracing::info!(%chat_id, %by, "chat deleted");
        Ok(())
    }

    /// Adds members to a group (owner or admin). Users already in it are left as they are.
    pub async fn add_members(&self, me: UserId, chat_id: ChatId, user_ids: Vec<UserId>) -> Result<ChatView, AppError> {
        let (chat, member) = self.member_of(chat_id, me).await?;
        require(&chat, &member, Action::AddMembers)?;
        let ids = self.existing_users(user_ids, me).await?;
        let (added, message) = self.store.add_members(me, chat_id, &ids).await?.ok_or_else(chat_not_found)?;
        let view = self.my_chat(chat_id, me).await?;
        if let Some(message) = message {
            let new_ids: Vec<UserId> = added.iter().map(|m| m.user_id).collect();
            let members = view.members.iter().filter(|m| new_ids.contains(&m.id.into())).cloned().collect();
            let event =
                ChatEvent::MembersAdded(events::MembersAdded { chat_id: chat_id.into(), members, by: me.into() });
            self.tell_members(chat_id, event).await?;
            self.realtime.emit(Audience::Users(new_ids), &ChatEvent::Created(shared(&view))).await;
            self.announce_message(message, me).await?;
        }
        Ok(view)
    }

    /// Removes a member (owner or admin, by role), or leaves when `user_id` is me. An owner who
    /// leaves hands the group to the longest-standing admin, else member.
    pub async fn remove_member(&self, me: UserId, chat_id: ChatId, user_id: UserId) -> Result<(), AppError> {
        let (chat, member) = self.member_of(chat_id, me).await?;
        if chat.kind == crate::domain::ChatKind::Direct {
            return Err(AppError::conflict("direct_chat", "nobody leaves a direct chat; delete it instead"));
        }
        if user_id != me {
            let target = self.store.membership(chat_id, user_id).await?;
            let (_, target) = target.ok_or_else(member_not_found)?;
            require(&chat, &member, Action::RemoveMember(target.role))?;
        }
        let audience = self.store.member_ids(chat_id).await?;
        let removal = self.store.remove_member(me, chat_id, user_id).await?;
        let removal = removal.ok_or_else(member_not_found)?;
        self.after_removal(chat_id, user_id, me, audience, removal).await
    }

    /// Tells everyone concerned about a removal and cleans up after it.
    async fn after_removal(
        &self,
        chat_id: ChatId,
        user_id: UserId,
        by: UserId,
        audience: Vec<UserId>,
        removal: Removal,
    ) -> Result<(), AppError> {
        let event =
            ChatEvent::MemberRemoved(MemberRemoved { chat_id: chat_id.into(), user_id: user_id.into(), by: by.into() });
        self.realtime.emit(Audience::Users(audience), &event).await;
        if removal.chat_deleted {
            for prefix in removal.garbage {
                self.collector.collect(&prefix, 0).await;
            }
            return Ok(());
        }
        if let Some(message) = removal.message {
            self.announce_message(message, removal.new_owner.unwrap_or(by)).await?;
        }
        if let Some(owner) = removal.new_owner {
            self.announce_chat(chat_id, owner).await?;
        }
        Ok(())
    }

    /// Changes a member's role (owner only). Making someone owner hands the group over.
    pub async fn set_role(
        &self,
        me: UserId,
        chat_id: ChatId,
        user_id: UserId,
        role: Role,
    ) -> Result<ChatView, AppError> {
        let (chat, member) = self.member_of(chat_id, me).await?;
        require(&chat, &member, Action::ChangeRoles)?;
        if user_id == me {
            return Err(AppError::invalid("role", "make someone else owner to step down"));
        }
        let changed = self.store.set_role(me, chat_id, user_id, role).await?;
        let changed = changed.ok_or_else(member_not_found)?;
        if changed.is_empty() { self.my_chat(chat_id, me).await } else { self.announce_chat(chat_id, me).await }
    }

    /// Pins or unpins a chat for me.
    pub async fn pin_chat(&self, me: UserId, chat_id: ChatId, pin: Pin) -> Result<ChatView, AppError> {
        // Pins are a member's own: no role to check, and the store answers for membership.
        if !self.store.set_pinned(me, chat_id, pin).await? {
            return Err(chat_not_found());
        }
        self.my_chat(chat_id, me).await
    }

    /// Sends a message; a repeated `client_id` returns the first one (`false`) and sends nothing.
    pub async fn send_message(
        &self,
        me: UserId,
        chat_id: ChatId,
        draft: Draft,
    ) -> Result<(MessageView, bool), AppError> {
        // The store checks membership under the chat's lock; no read of it first.
        let limits = &self.limits;
        limits.acquire(limits.messages, &me.to_string()).await?;
        let new = NewMessage {
            chat_id,
            author_id: me,
            kind: draft.kind,
            text: draft.text.map(MessageText::into_inner),
            system: None,
            attachment_id: draft.attachment_id,
            reply_to: draft.reply_to,
            forwarded: None,
            client_id: draft.client_id.map(ClientId::into_inner),
        };
        let sent = self.store.send_message(new).await?.ok_or_else(chat_not_found)?;
        if !sent.created {
            let view = self.render_messages(me, vec![sent.message]).await?.pop().ok_or_else(message_not_found)?;
            return Ok((view, false));
        }
        Ok((self.announce_sent(sent.message, me, sent.roster).await?, true))
    }

    /// A page of history, newest first.
    pub async fn history(
        &self,
        me: UserId,
        chat_id: ChatId,
        cursor: Cursor,
        limit: u64,
    ) -> Result<HistoryView, AppError> {
        self.member_of(chat_id, me).await?;
        let page = self.store.history(chat_id, cursor, limit).await?;
        let newest = page.messages.first().map(|m| m.id);
        let oldest = page.messages.last().map(|m| m.id);
        let next_before = match cursor {
            Cursor::After(after) if page.messages.is_empty() => Some(after),
            Cursor::After(_) => oldest,
            _ if page.more => oldest,
            _ => None,
        };
        let next_after = match cursor {
            Cursor::After(after) => newest.or(Some(after)),
            Cursor::Before(_) | Cursor::Latest => newest,
        };
        let messages = self.render_messages(me, page.messages).await?;
        Ok(HistoryView { messages, next_before: next_before.map(Into::into), next_after: next_after.map(Into::into) })
    }

    /// One live message of a chat I am in, or 404.
    pub async fn message_in(
        &self,
        me: UserId,
        chat_id: ChatId,
        message_id: MessageId,
    ) -> Result<(Chat, Member, Message), AppError> {
        let (chat, member) = self.member_of(chat_id, me).await?;
        let message = self.store.message(chat_id, message_id).await?.ok_or_else(message_not_found)?;
        Ok((chat, member, message))
    }

    fn refuse_tombstone(message: &Message) -> Result<(), AppError> {
        if message.deleted_at.is_some() {
            return Err(AppError::conflict("message_deleted", "the message was deleted"));
        }
        Ok(())
    }

    /// Edits the text of my own message.
    pub async fn edit_message(
        &self,
        me: UserId,
        chat_id: ChatId,
        message_id: MessageId,
        text: MessageText,
    ) -> Result<MessageView, AppError> {
        let (_, _, message) = self.message_in(me, chat_id, message_id).await?;
        Self::refuse_tombstone(&message)?;
        if message.author_id != Some(me) || message.kind == MessageKind::System {
            return Err(AppError::forbidden("not_allowed", "only its author may edit a message"));
        }
        let edited = self.store.edit_message(me, chat_id, message_id, text.into_inner()).await?;
        let edited = edited.ok_or_else(message_not_found)?;
        let view = self.render_messages(me, vec![edited]).await?.pop().ok_or_else(message_not_found)?;
        let event = ChatEvent::MessageUpdated(events::MessageUpdated {
            chat_id: chat_id.into(),
            message_id: message_id.into(),
            text: view.text.clone(),
            mentions: view.mentions.clone(),
            edited_at: view.edited_at.unwrap_or_else(crate::store::now),
        });
        self.tell_members(chat_id, event).await?;
        Ok(view)
    }

    /// Deletes a message, leaving a tombstone: my own, or anyone's for a group's owner or admins.
    pub async fn delete_message(
        &self,
        me: UserId,
        chat_id: ChatId,
        message_id: MessageId,
    ) -> Result<MessageView, AppError> {
        let (chat, member, message) = self.message_in(me, chat_id, message_id).await?;
        if message.author_id != Some(me) {
            require(&chat, &member, Action::DeleteOthersMessage)?;
        }
        self.erase_message(Actor::Member(me), message).await
    }

    /// Deletes any message as an operator, leaving a tombstone (the admin service has checked
    /// the role; the store checks it again under the chat's lock). The chat's members are told.
    pub async fn moderate_message(&self, operator: UserId, message_id: MessageId) -> Result<MessageView, AppError> {
        let message = self.store.message_anywhere(message_id).await?.ok_or_else(message_not_found)?;
        self.erase_message(Actor::Operator(operator), message).await
    }

    async fn erase_message(&self, actor: Actor, message: Message) -> Result<MessageView, AppError> {
        let (chat_id, message_id, by) = (message.chat_id, message.id, actor.user_id());
        let was_live = message.deleted_at.is_none();
        let (tombstone, garbage) =
            self.store.delete_message(actor, chat_id, message_id).await?.ok_or_else(message_not_found)?;
        if was_live {
            let event = ChatEvent::MessageDeleted(events::MessageDeleted {
                chat_id: chat_id.into(),
                message_id: message_id.into(),
                by: by.into(),
            });
            self.tell_members(chat_id, event).await?;
        }
        if let Some(prefix) = garbage {
            self.collector.collect(&prefix, 0).await;
        }
        self.render_messages(by, vec![tombstone]).await?.pop().ok_or_else(message_not_found)
    }

    /// Likes or unlikes a message; doing it twice changes nothing and tells nobody.
    pub async fn set_like(
        &self,
        me: UserId,
        chat_id: ChatId,
        message_id: MessageId,
        like: bool,
    ) -> Result<MessageView, AppError> {
        let (_, _, message) = self.message_in(me, chat_id, message_id).await?;
        Self::refuse_tombstone(&message)?;
        let changed =
            if like { self.store.like(me, message_id).await? } else { self.store.unlike(me, message_id).await? };
        let view = self.render_messages(me, vec![message]).await?.pop().ok_or_else(message_not_found)?;
        if changed {
            let change = LikeChanged {
                chat_id: chat_id.into(),
                message_id: message_id.into(),
                user_id: me.into(),
                like_count: view.like_count,
            };
            let event = if like { ChatEvent::MessageLiked(change) } else { ChatEvent::MessageUnliked(change) };
            self.tell_members(chat_id, event).await?;
        }
        Ok(view)
    }

    /// Reacts to a message with an emoji, or takes the reaction back; doing either twice changes
    /// nothing and tells nobody. A message holds at most 20 different emoji.
    pub async fn set_reaction(
        &self,
        me: UserId,
        chat_id: ChatId,
        message_id: MessageId,
        emoji: Emoji,
        add: bool,
    ) -> Result<MessageView, AppError> {
        let (_, _, message) = self.message_in(me, chat_id, message_id).await?;
        Self::refuse_tombstone(&message)?;
        let count = match self.store.react(me, message_id, emoji, add).await? {
            Reacted::Changed(count) => Some(count),
            Reacted::Unchanged(_) => None,
            Reacted::TooMany => {
                return Err(AppError::conflict(
                    "too_many_reactions",
                    format!("a message holds at most {MAX_DISTINCT_REACTIONS} different emoji"),
                ));
            }
            Reacted::Gone => return Err(AppError::conflict("message_deleted", "the message was deleted")),
        };
        // Reacting leaves the message row as it was; its reactions are read with the view.
        let view = self.render_messages(me, vec![message]).await?.pop().ok_or_else(message_not_found)?;
        if let Some(count) = count {
            let change = ReactionChanged {
                chat_id: chat_id.into(),
                message_id: message_id.into(),
                user_id: me.into(),
                emoji: emoji.as_str().to_owned(),
                count,
            };
            let event = if add { ChatEvent::MessageReacted(change) } else { ChatEvent::MessageUnreacted(change) };
            self.tell_members(chat_id, event).await?;
        }
        Ok(view)
    }

    /// Forwards a message into another chat I am in; the copy names where it first came from.
    pub async fn forward_message(
        &self,
        me: UserId,
        chat_id: ChatId,
        message_id: MessageId,
        to_chat_id: ChatId,
    ) -> Result<MessageView, AppError> {
        let (_, _, original) = self.message_in(me, chat_id, message_id).await?;
        self.store
            .membership(to_chat_id, me)
            .await?
            .ok_or_else(|| AppError::not_found("chat_not_found", "no such chat to forward to"))?;
        Self::refuse_tombstone(&original)?;
        if original.kind == MessageKind::System {
            return Err(AppError::invalid("message_id", "system messages cannot be forwarded"));
        }
        let limits = &self.limits;
        limits.acquire(limits.messages, &me.to_string()).await?;
        // A forward of a forward still names the first author.
        let origin = original.forwarded.unwrap_or(Forwarded {
            chat_id: original.chat_id,
            message_id: original.id,
            author_id: original.author_id,
        });
        let new = NewMessage {
            chat_id: to_chat_id,
            author_id: me,
            kind: original.kind,
            text: original.text,
            system: None,
            attachment_id: original.attachment_id,
            reply_to: None,
            forwarded: Some(origin),
            client_id: None,
        };
        let sent = self.store.send_message(new).await?.ok_or_else(chat_not_found)?;
        self.announce_sent(sent.message, me, sent.roster).await
    }

    /// Moves my read marker forward to `message_id` and tells every member (a read receipt): my
    /// own devices with my unread count, the others without it.
    pub async fn mark_read(&self, me: UserId, chat_id: ChatId, message_id: MessageId) -> Result<ReadView, AppError> {
        self.message_in(me, chat_id, message_id).await?;
        let (moved, member, unread_count) =
            self.store.mark_read(me, chat_id, message_id).await?.ok_or_else(chat_not_found)?;
        let (last_read_id, mention_count) = (member.last_read_id, member.mention_count);
        if moved {
            let receipt = |counts: Option<(u64, u64)>| {
                ChatEvent::Read(ChatRead {
                    chat_id: chat_id.into(),
                    user_id: me.into(),
                    message_id: message_id.into(),
                    unread_count: counts.map(|(unread, _)| unread),
                    mention_count: counts.map(|(_, mentions)| mentions),
                })
            };
            self.realtime.emit(Audience::Users(vec![me]), &receipt(Some((unread_count, mention_count)))).await;
            let others: Vec<UserId> =
                self.store.member_ids(chat_id).await?.into_iter().filter(|id| *id != me).collect();
            if !others.is_empty() {
                self.realtime.emit(Audience::Users(others), &receipt(None)).await;
            }
        }
        Ok(ReadView {
            chat_id: chat_id.into(),
            last_read_id: last_read_id.map(Into::into),
            unread_count,
            mention_count,
        })
    }

    /// Tells the other members that I am typing. Throttled per user; extra calls are dropped.
    pub async fn typing(&self, me: UserId, chat_id: ChatId) -> Result<(), AppError> {
        self.member_of(chat_id, me).await?;
        let limits = &self.limits;
        if limits.limiter.acquire(limits.typing, &me.to_string()).await.is_err() {
            return Ok(());
        }
        let others: Vec<UserId> = self.store.member_ids(chat_id).await?.into_iter().filter(|id| *id != me).collect();
        if !others.is_empty() {
            let event = ChatEvent::Typing(events::Typing { chat_id: chat_id.into(), user_id: me.into() });
            self.realtime.emit(Audience::Users(others), &event).await;
        }
        Ok(())
    }

    /// After an account is deleted: tells each group it was taken out of.
    pub async fn after_account_deleted(&self, user_id: UserId, left: Vec<crate::store::LeftGroup>) {
        for group in left {
            let audience = match self.store.member_ids(group.chat_id).await {
                Ok(ids) => ids,
                Err(err) => {
                    tracing::warn!(chat_id = %group.chat_id, error = %err, "reading members failed");
                    continue;
                }
            };
            if let Err(err) = self.after_removal(group.chat_id, user_id, user_id, audience, group.removal).await {
                tracing::warn!(chat_id = %group.chat_id, error = %err, "announcing a deleted member failed");
            }
        }
    }
}
