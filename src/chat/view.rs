//! Chats and messages as clients see them, in HTTP answers and socket events alike, and the
//! renderer that builds them in a fixed number of queries however many there are.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{AttachmentId, ChatId, ChatKind, MessageId, MessageKind, Role, SystemEvent, User, UserId};
use crate::media::{AttachmentLinks, AvatarUrls, Media};
use crate::presence::PresenceView;
use crate::store::{Attachment, Chat, Likes, Member, Message, ReactionCount};

/// Someone in a chat: a member or an author. A deleted account keeps only its id, with
/// `deleted: true`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-4f6a-7cc1-9a51-3f0e2d8c4b10", "username": "alice", "avatar": null, "deleted": false
}))]
pub struct PersonView {
    pub id: Uuid,
    pub username: Option<String>,
    pub avatar: Option<AvatarUrls>,
    /// The account was deleted; `username` and `avatar` are `null`.
    pub deleted: bool,
}

/// A member of a chat, with their role, how far they have read (a read receipt) and presence.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b2e-4f6a-7cc1-9a51-3f0e2d8c4b10", "username": "alice", "avatar": null, "deleted": false,
    "role": "owner", "last_read_message_id": "01936b31-2c4d-7e5f-8a9b-0c1d2e3f4a5b",
    "presence": {"user_id": "01936b2e-4f6a-7cc1-9a51-3f0e2d8c4b10", "status": "online", "last_seen_at": null}
}))]
pub struct MemberView {
    pub id: Uuid,
    pub username: Option<String>,
    pub avatar: Option<AvatarUrls>,
    pub deleted: bool,
    pub role: Role,
    /// The newest message this member has marked read; `null` before their first read marker.
    pub last_read_message_id: Option<Uuid>,
    /// Online, offline (with `last_seen_at`), or `hidden` if they hide it or the account is gone.
    pub presence: PresenceView,
}

/// A file or image carried by a message (or just uploaded).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b35-6a7b-7c8d-9e0f-1a2b3c4d5e6f", "type": "image",
    "url": "http://127.0.0.1:8080/media/attachments/01936b356a7b7c8d9e0f1a2b3c4d5e6f/original.jpg?expires=1795010400&signature=kq3V…",
    "preview_url": "http://127.0.0.1:8080/media/attachments/01936b356a7b7c8d9e0f1a2b3c4d5e6f/preview.jpg?expires=1795010400&signature=Zt8a…",
    "file_name": "beach.jpg", "content_type": "image/jpeg", "size": 284511, "width": 1600, "height": 1200
}))]
pub struct AttachmentView {
    pub id: Uuid,
    /// `image` (decoded, stripped of metadata, with a preview) or `file` (kept byte for byte).
    #[serde(rename = "type")]
    pub kind: String,
    /// A link for members, valid for half an hour to an hour (`media.attachment_link_secs`);
    /// read the message again for a fresh one. Without a valid link the file is not served.
    pub url: String,
    /// An `image`'s preview, at most 400 pixels a side, linked like `url`; `null` for a `file`.
    pub preview_url: Option<String>,
    pub file_name: String,
    /// Sniffed from the bytes, never taken from the upload's claims.
    pub content_type: String,
    pub size: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

impl AttachmentView {
    /// The attachment with fresh links to its files, for a member.
    pub async fn new(media: &Media, attachment: &Attachment) -> Self {
        let AttachmentLinks { url, preview_url } =
            media.attachment_links(&attachment.storage_key, attachment.kind == "image").await;
        Self {
            id: attachment.id.into(),
            kind: attachment.kind.clone(),
            url,
            preview_url,
            file_name: attachment.file_name.clone(),
            content_type: attachment.content_type.clone(),
            size: attachment.size,
            width: attachment.width,
            height: attachment.height,
        }
    }
}

/// Where a forwarded message first appeared.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ForwardedView {
    pub chat_id: Uuid,
    pub message_id: Uuid,
    pub author: Option<PersonView>,
}

/// A message. A deleted one stays in the history as a tombstone: `deleted: true`, no text,
/// attachment or likes.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b31-2c4d-7e5f-8a9b-0c1d2e3f4a5b", "chat_id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f",
    "author": {"id": "01936b2e-4f6a-7cc1-9a51-3f0e2d8c4b10", "username": "alice", "avatar": null, "deleted": false},
    "type": "text", "text": "See you at eight?", "system": null, "attachment": null, "reply_to": null,
    "forwarded_from": null, "like_count": 1, "liked_by_me": false,
    "reactions": [{"emoji": "👍", "count": 2, "me": true}], "mentions": [], "client_id": "a1b2c3",
    "created_at": "2026-11-21T10:15:02.481516Z", "edited_at": null, "deleted": false
}))]
pub struct MessageView {
    pub id: Uuid,
    pub chat_id: Uuid,
    pub author: Option<PersonView>,
    #[serde(rename = "type")]
    pub kind: MessageKind,
    pub text: Option<String>,
    /// What a `system` message records (`action`: `created`, `renamed`, `members_added`,
    /// `member_left`, `member_removed`).
    pub system: Option<SystemEvent>,
    /// The file or image of an `image` or `file` message.
    pub attachment: Option<AttachmentView>,
    /// The message this one answers.
    pub reply_to: Option<Uuid>,
    pub forwarded_from: Option<ForwardedView>,
    pub like_count: u64,
    /// In socket events, always `false`: it is each reader's own.
    pub liked_by_me: bool,
    /// Emoji reactions, in order of first use (at most 20 different emoji).
    pub reactions: Vec<ReactionView>,
    /// The members this message mentions by `@username`, each once (a forwarded copy mentions
    /// nobody).
    pub mentions: Vec<Uuid>,
    /// The sender's own id for the message, if it gave one: how it recognises its message.
    pub client_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub edited_at: Option<OffsetDateTime>,
    pub deleted: bool,
}

/// One emoji's reactions on a message.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"emoji": "🎉", "count": 3, "me": false}))]
pub struct ReactionView {
    pub emoji: String,
    pub count: u64,
    /// Whether I reacted with it (in socket events, always `false`: it is each reader's own).
    pub me: bool,
}

/// A chat as one member sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b30-1a2b-7c3d-9e4f-5a6b7c8d9e0f", "type": "group", "title": "Book club",
    "members": [
        {"id": "01936b2e-4f6a-7cc1-9a51-3f0e2d8c4b10", "username": "alice", "avatar": null, "deleted": false, "role": "owner",
            "last_read_message_id": null,
            "presence": {"user_id": "01936b2e-4f6a-7cc1-9a51-3f0e2d8c4b10", "status": "online", "last_seen_at": null}},
        {"id": "01936b2f-0a11-7d42-8e3c-5b6a7c8d9e0f", "username": "bob", "avatar": null, "deleted": false, "role": "member",
            "last_read_message_id": null,
            "presence": {"user_id": "01936b2f-0a11-7d42-8e3c-5b6a7c8d9e0f", "status": "offline", "last_seen_at": "2026-11-21T09:58:40.102938Z"}}
    ],
    "pinned": false, "unread_count": 2, "mention_count": 1, "last_message": null,
    "created_at": "2026-11-21T10:00:00Z", "last_activity_at": "2026-11-21T10:15:02.481516Z"
}))]
pub struct ChatView {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: ChatKind,
    /// A group's title; `null` for a direct chat.
    pub title: Option<String>,
    /// Oldest member first.
    pub members: Vec<MemberView>,
    /// Whether I pinned it. In socket events, always `false`: it is each reader's own.
    pub pinned: bool,
    /// Messages by others after my read marker. In socket events, always `0`.
    pub unread_count: u64,
    /// Of those, the ones that mention me. In socket events, always `0`.
    pub mention_count: u64,
    pub last_message: Option<MessageView>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the newest message was sent (or the chat created): the list's order after pins.
    #[serde(with = "time::serde::rfc3339")]
    pub last_activity_at: OffsetDateTime,
}

/// Everything rendering needs beyond the rows themselves, fetched in one go.
struct Lookup<'a> {
    media: &'a Media,
    users: HashMap<UserId, User>,
    likes: HashMap<MessageId, Likes>,
    reactions: HashMap<MessageId, Vec<ReactionCount>>,
    mentions: HashMap<MessageId, Vec<UserId>>,
    attachments: HashMap<AttachmentId, AttachmentView>,
    /// Of the chat members among `users`.
    presence: HashMap<UserId, PresenceView>,
}

impl Lookup<'_> {
    fn person(&self, user_id: UserId) -> PersonView {
        let id = user_id.uuid();
        match self.users.get(&user_id) {
            Some(user) => {
                PersonView { id, username: user.username.clone(), avatar: self.media.avatar_of(user), deleted: false }
            }
            None => PersonView { id, username: None, avatar: None, deleted: true },
        }
    }

    fn member(&self, member: &Member) -> MemberView {
        let PersonView { id, username, avatar, deleted } = self.person(member.user_id);
        MemberView {
            id,
            username,
            avatar,
            deleted,
            role: member.role,
            last_read_message_id: member.last_read_id.map(Into::into),
            presence: self
                .presence
                .get(&member.user_id)
                .cloned()
                .unwrap_or_else(|| PresenceView::hidden(member.user_id)),
        }
    }

    fn message(&self, message: Message) -> MessageView {
        let likes = self.likes.get(&message.id).copied().unwrap_or_default();
        MessageView {
            id: message.id.into(),
            chat_id: message.chat_id.into(),
            author: message.author_id.map(|id| self.person(id)),
            kind: message.kind,
            text: message.text,
            system: message.system,
            attachment: message.attachment_id.and_then(|id| self.attachments.get(&id)).cloned(),
            reply_to: message.reply_to.map(Into::into),
            forwarded_from: message.forwarded.map(|f| ForwardedView {
                chat_id: f.chat_id.into(),
                message_id: f.message_id.into(),
                author: f.author_id.map(|id| self.person(id)),
            }),
            like_count: likes.count,
            liked_by_me: likes.mine,
            reactions: self
                .reactions
                .get(&message.id)
                .map(|reactions| {
                    reactions
                        .iter()
                        .map(|r| ReactionView { emoji: r.emoji.clone(), count: r.count, me: r.mine })
                        .collect()
                })
                .unwrap_or_default(),
            mentions: self
                .mentions
                .get(&message.id)
                .map(|users| users.iter().map(|id| id.uuid()).collect())
                .unwrap_or_default(),
            client_id: message.client_id,
            created_at: message.created_at,
            edited_at: message.edited_at,
            deleted: message.deleted_at.is_some(),
        }
    }
}

/// The people a message names.
fn people_of(message: &Message) -> impl Iterator<Item = UserId> {
    message.author_id.into_iter().chain(message.forwarded.and_then(|f| f.author_id))
}

impl super::Chats {
    async fn lookup(
        &self,
        reader: UserId,
        people: impl IntoIterator<Item = UserId>,
        messages: &[Message],
    ) -> Result<Lookup<'_>, crate::store::StoreError> {
        self.lookup_of(reader, people, messages, true).await
    }

    /// [`lookup`](Self::lookup), with likes and reactions only if `reacted`: a message just
    /// written has none.
    async fn lookup_of(
        &self,
        reader: UserId,
        people: impl IntoIterator<Item = UserId>,
        messages: &[Message],
        reacted: bool,
    ) -> Result<Lookup<'_>, crate::store::StoreError> {
        let members: HashSet<UserId> = people.into_iter().collect();
        let live = messages.iter().filter(|m| m.deleted_at.is_none());
        let live_ids: Vec<MessageId> = if reacted { live.clone().map(|m| m.id).collect() } else { Vec::new() };
        // Mentions are recorded from a message's text alone, so one whose text names nobody has
        // none to look up.
        let naming: Vec<MessageId> = live
            .filter(|m| m.text.as_deref().is_some_and(|text| !crate::domain::mention::mentioned(text).is_empty()))
            .map(|m| m.id)
            .collect();
        let attachment_ids: Vec<AttachmentId> = messages.iter().filter_map(|m| m.attachment_id).collect();
        // The reads depend on the messages only, not on each other: they go out together, so a
        // view costs the round trips of its longest chain (people, then their presence), not
        // of every read in turn.
        let people = async {
            let users = self.store.users(members.iter().copied().chain(messages.iter().flat_map(people_of))).await?;
            let presence = if members.is_empty() {
                HashMap::new()
            } else {
                self.presence.of_members(users.values().filter(|user| members.contains(&user.id))).await?
            };
            Ok::<_, crate::store::StoreError>((users, presence))
        };
        let reactions = async {
            if live_ids.is_empty() {
                return Ok((HashMap::new(), HashMap::new()));
            }
            tokio::try_join!(self.store.likes(&live_ids, reader), self.store.reactions(&live_ids, reader))
        };
        let ((users, presence), (likes, reactions), mentions, stored) =
            tokio::try_join!(people, reactions, self.store.mentions(&naming), self.store.attachments(&attachment_ids))?;
        let mut attachments = HashMap::new();
        for (id, attachment) in stored {
            attachments.insert(id, AttachmentView::new(&self.media, &attachment).await);
        }
        Ok(Lookup { media: &self.media, users, likes, reactions, mentions, attachments, presence })
    }

    /// Messages as `reader` sees them: at most seven queries (authors, like counts, own likes,
    /// reaction counts, own reactions, mentions, attachments) for any number of messages.
    pub async fn render_messages(
        &self,
        reader: UserId,
        messages: Vec<Message>,
    ) -> Result<Vec<MessageView>, crate::store::StoreError> {
        let lookup = self.lookup(reader, [], &messages).await?;
        Ok(messages.into_iter().map(|m| lookup.message(m)).collect())
    }

    /// A message just written, as `reader` sees it: its author, and its mentions and attachment
    /// if it has them (no likes or reactions yet).
    pub async fn render_new_message(
        &self,
        reader: UserId,
        message: Message,
    ) -> Result<MessageView, crate::store::StoreError> {
        let lookup = self.lookup_of(reader, [], std::slice::from_ref(&message), false).await?;
        Ok(lookup.message(message))
    }

    /// A chat's members as clients show them: names, avatars, roles and presence, in a fixed
    /// number of queries.
    pub async fn render_members(&self, members: &[Member]) -> Result<Vec<MemberView>, crate::store::StoreError> {
        let users = self.store.users(members.iter().map(|m| m.user_id)).await?;
        let presence = self.presence.of_members(users.values()).await?;
        let lookup = Lookup {
            media: &self.media,
            users,
            likes: HashMap::new(),
            reactions: HashMap::new(),
            mentions: HashMap::new(),
            attachments: HashMap::new(),
            presence,
        };
        Ok(members.iter().map(|m| lookup.member(m)).collect())
    }

    /// Chats as `reader` sees them, pinned first in pin order, then by last activity, newest
    /// first. A fixed number of queries however many chats: members, last messages, people and
    /// likes and my unread counts (unless `unread` has them already), each fetched for all chats
    /// at once.
    pub async fn render_chats(
        &self,
        reader: UserId,
        chats: Vec<(Chat, Member)>,
        unread: Option<HashMap<ChatId, u64>>,
    ) -> Result<Vec<ChatView>, crate::store::StoreError> {
        let ids: Vec<ChatId> = chats.iter().map(|(chat, _)| chat.id).collect();
        let last_ids: Vec<MessageId> = chats.iter().filter_map(|(chat, _)| chat.last_message_id).collect();
        let unread = async {
            match unread {
                Some(counted) => Ok(counted),
                None => self.store.unread_counts(reader, &ids).await,
            }
        };
        // Three reads of the same chats, independent of each other: together.
        let (mut members, mut unread, last) =
            tokio::try_join!(self.store.members_of_chats(&ids), unread, self.store.messages_by_ids(&last_ids))?;
        let mut last: HashMap<ChatId, Message> = last.into_iter().map(|m| (m.chat_id, m)).collect();
        let people: Vec<UserId> = members.values().flatten().map(|m| m.user_id).collect();
        let last_messages: Vec<Message> = last.values().cloned().collect();
        let lookup = self.lookup(reader, people, &last_messages).await?;
        let mut chats = chats;
        chats.sort_by(|(a, am), (b, bm)| match (am.pin_order, bm.pin_order) {
            (Some(x), Some(y)) => x.cmp(&y).then(a.id.cmp(&b.id)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => b.last_activity_at.cmp(&a.last_activity_at).then(b.id.cmp(&a.id)),
        });
        Ok(chats
            .into_iter()
            .map(|(chat, me)| ChatView {
                id: chat.id.into(),
                kind: chat.kind,
                title: chat.title,
                members: members.remove(&chat.id).unwrap_or_default().iter().map(|m| lookup.member(m)).collect(),
                pinned: me.pin_order.is_some(),
                unread_count: unread.remove(&chat.id).unwrap_or(0),
                mention_count: me.mention_count,
                last_message: last.remove(&chat.id).map(|m| lookup.message(m)),
                created_at: chat.created_at,
                last_activity_at: chat.last_activity_at,
            })
            .collect())
    }
}
