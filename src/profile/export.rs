//! The self-service data export: a ZIP of everything that is the account holder's own, written
//! while it is sent.
//!
//! The archive is produced by a task into one end of an in-memory pipe of [`PIPE`] bytes while
//! the response body reads the other end, and every list is read from the store a page at a
//! time, so an export holds a page of rows and a pipe's worth of bytes whatever the account's
//! size. A failure part way through ends the body with an error (the client sees a broken
//! transfer, never a short archive that looks whole).
//!
//! Only the holder's own data goes in: their profile and sessions, their chats as memberships
//! (with who else is in them, by id and name), the messages they wrote (a forward of someone
//! else's message keeps its reference but not the other person's text), their reactions and
//! likes, their avatar's original and the files they uploaded.

use async_zip::base::write::ZipFileWriter;
use async_zip::{Compression, ZipEntryBuilder};
use bytes::Bytes;
use futures::{AsyncWriteExt, Stream, StreamExt};
use serde::Serialize;
use time::OffsetDateTime;
use tokio_util::compat::Compat;
use uuid::Uuid;

use super::Profiles;
use crate::domain::{MessageId, UserId};
use crate::error::AppError;
use crate::store::{Message, Store};

/// Bytes in flight between the archive writer and the response.
const PIPE: usize = 64 * 1024;
/// Rows read from the store at a time.
const PAGE: u64 = 500;

type Zip = ZipFileWriter<Compat<tokio::io::DuplexStream>>;
type Lines<'a> = async_zip::base::write::EntryStreamWriter<'a, Compat<tokio::io::DuplexStream>>;

/// Appends one JSON line per row.
async fn write_lines<T: Serialize>(entry: &mut Lines<'_>, rows: impl IntoIterator<Item = T>) -> anyhow::Result<()> {
    let mut chunk = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut chunk, &row)?;
        chunk.push(b'\n');
    }
    entry.write_all(&chunk).await?;
    Ok(())
}

#[derive(Serialize)]
struct ProfileRecord {
    id: Uuid,
    username: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    gender: crate::domain::Gender,
    show_presence: bool,
    is_admin: bool,
    has_avatar: bool,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    exported_at: OffsetDateTime,
}

#[derive(Serialize)]
struct SessionRecord {
    id: Uuid,
    user_agent: Option<String>,
    ip: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    last_used_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

#[derive(Serialize)]
struct ChatRecord {
    id: Uuid,
    #[serde(rename = "type")]
    kind: crate::domain::ChatKind,
    title: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    role: crate::domain::Role,
    #[serde(with = "time::serde::rfc3339")]
    joined_at: OffsetDateTime,
    last_read_message_id: Option<Uuid>,
    pinned: bool,
    members: Vec<MemberRecord>,
}

#[derive(Serialize)]
struct MemberRecord {
    id: Uuid,
    username: Option<String>,
    role: crate::domain::Role,
}

#[derive(Serialize)]
struct MessageRecord {
    id: Uuid,
    chat_id: Uuid,
    #[serde(rename = "type")]
    kind: crate::domain::MessageKind,
    /// `null` for a forward of someone else's message: their words are not mine to export.
    text: Option<String>,
    attachment_id: Option<Uuid>,
    reply_to: Option<Uuid>,
    forwarded_from: Option<ForwardRecord>,
    client_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    edited_at: Option<OffsetDateTime>,
}

#[derive(Serialize)]
struct ForwardRecord {
    chat_id: Uuid,
    message_id: Uuid,
    author_id: Option<Uuid>,
}

impl MessageRecord {
    fn new(me: UserId, message: Message) -> Self {
        let someone_elses = message.forwarded.is_some_and(|f| f.author_id != Some(me));
        Self {
            id: message.id.into(),
            chat_id: message.chat_id.into(),
            kind: message.kind,
            text: if someone_elses { None } else { message.text },
            attachment_id: message.attachment_id.map(Into::into),
            reply_to: message.reply_to.map(Into::into),
            forwarded_from: message.forwarded.map(|f| ForwardRecord {
                chat_id: f.chat_id.into(),
                message_id: f.message_id.into(),
                author_id: f.author_id.map(Into::into),
            }),
            client_id: message.client_id,
            created_at: message.created_at,
            edited_at: message.edited_at,
        }
    }
}

#[derive(Serialize)]
struct ReactionRecord {
    message_id: Uuid,
    /// The emoji, or `null` for a like.
    emoji: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

/// A file name safe inside the archive: no directories, no control characters, never empty.
fn archive_name(raw: &str) -> String {
    let name: String = raw
        .chars()
        .map(|c| if c.is_control() || matches!(c, '/' | '\\' | ':') { '_' } else { c })
        .collect::<String>()
        .trim_matches(|c: char| c == '.' || c.is_whitespace())
        .chars()
        .take(120)
        .collect();
    if name.is_empty() { "file".to_owned() } else { name }
}

/// An archive being written, and what it may fail with.
struct Archive {
    zip: Zip,
}

impl Archive {
    async fn json(&mut self, name: &str, value: &impl Serialize) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec_pretty(value)?;
        self.zip.write_entry_whole(ZipEntryBuilder::new(name.into(), Compression::Deflate), &bytes).await?;
        Ok(())
    }

    /// Starts a file of JSON lines, written with [`write_lines`] as pages are read.
    async fn lines(&mut self, name: &str) -> anyhow::Result<Lines<'_>> {
        Ok(self.zip.write_entry_stream(ZipEntryBuilder::new(name.into(), Compression::Deflate)).await?)
    }

    /// Copies a stored object into the archive as it arrives (stored, not compressed: images
    /// are compressed already, and files may be).
    async fn object(&mut self, name: &str, media: &crate::media::Media, key: &str) -> anyhow::Result<()> {
        let mut source = media.read(key).await?;
        let mut entry = self.zip.write_entry_stream(ZipEntryBuilder::new(name.into(), Compression::Stored)).await?;
        while let Some(chunk) = source.next().await {
            entry.write_all(&chunk?).await?;
        }
        entry.close().await?;
        Ok(())
    }
}

impl Profiles {
    /// Starts an export of my data: checks the daily limit, records it in the audit log, and
    /// returns the archive's bytes as they are written.
    pub async fn export(
        &self,
        me: UserId,
    ) -> Result<impl Stream<Item = Result<Bytes, std::io::Error>> + use<>, AppError> {
        let user = self.current_user(me).await?;
        let limits = &self.limits;
        limits.acquire(limits.exports, &me.to_string()).await?;
        self.store.record_export(me).await?;
        let (writer, reader) = tokio::io::duplex(PIPE);
        let (store, media) = (self.store.clone(), self.media.clone());
        let task = tokio::spawn(async move {
            let mut archive = Archive { zip: ZipFileWriter::with_tokio(writer) };
            let result = write_export(&mut archive, &store, &media, user).await;
            match result {
                Ok(()) => archive.zip.close().await.map(|_| ()).map_err(anyhow::Error::from),
                Err(err) => Err(err),
            }
        });
        // After the last byte, the body ends with an error if the archive could not be finished.
        let outcome = futures::stream::once(async move {
            match task.await {
                Ok(Ok(())) => None,
                Ok(Err(err)) => {
                    tracing::warn!(user_id = %me, error = %format!("{err:#}"), "data export failed part way");
                    Some(Err(std::io::Error::other("the export could not be finished")))
                }
                Err(err) => {
                    tracing::error!(user_id = %me, error = %err, "data export task failed");
                    Some(Err(std::io::Error::other("the export could not be finished")))
                }
            }
        })
        .filter_map(std::future::ready);
        Ok(tokio_util::io::ReaderStream::new(reader).chain(outcome))
    }
}

async fn write_export(
    archive: &mut Archive,
    store: &Store,
    media: &crate::media::Media,
    user: crate::domain::User,
) -> anyhow::Result<()> {
    let me = user.id;
    archive
        .json(
            "profile.json",
            &ProfileRecord {
                id: me.into(),
                username: user.username.clone(),
                email: user.email.clone(),
                phone: user.phone.clone(),
                first_name: user.first_name.clone(),
                last_name: user.last_name.clone(),
                gender: user.gender,
                show_presence: user.show_presence,
                is_admin: user.is_admin,
                has_avatar: user.avatar_key.is_some(),
                created_at: user.created_at,
                exported_at: crate::store::now(),
            },
        )
        .await?;
    let sessions: Vec<SessionRecord> = store
        .sessions_of(me)
        .await?
        .into_iter()
        .map(|s| SessionRecord {
            id: s.id.into(),
            user_agent: s.user_agent,
            ip: s.ip,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
        })
        .collect();
    archive.json("sessions.json", &sessions).await?;

    let chats = store.chats_of(me).await?;
    let mut chat_records = Vec::with_capacity(chats.len());
    for batch in chats.chunks(PAGE as usize) {
        let ids: Vec<_> = batch.iter().map(|(chat, _)| chat.id).collect();
        let members = store.members_of_chats(&ids).await?;
        let people = store.users(members.values().flatten().map(|m| m.user_id)).await?;
        for (chat, mine) in batch {
            chat_records.push(ChatRecord {
                id: chat.id.into(),
                kind: chat.kind,
                title: chat.title.clone(),
                created_at: chat.created_at,
                role: mine.role,
                joined_at: mine.joined_at,
                last_read_message_id: mine.last_read_id.map(Into::into),
                pinned: mine.pin_order.is_some(),
                members: members
                    .get(&chat.id)
                    .into_iter()
                    .flatten()
                    .map(|m| MemberRecord {
                        id: m.user_id.into(),
                        username: people.get(&m.user_id).and_then(|u| u.username.clone()),
                        role: m.role,
                    })
                    .collect(),
            });
        }
    }
    archive.json("chats.json", &chat_records).await?;
    drop(chat_records);

    let mut lines = archive.lines("messages.jsonl").await?;
    let mut after: Option<MessageId> = None;
    loop {
        let page = store.messages_written_by(me, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        write_lines(&mut lines, page.into_iter().map(|m| MessageRecord::new(me, m))).await?;
    }
    lines.close().await?;

    // Reactions, then likes (a like is the reaction without an emoji).
    let mut lines = archive.lines("reactions.jsonl").await?;
    let mut after = None;
    loop {
        let page = store.reactions_by(me, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.message_id, last.emoji.clone()));
        let records = page.into_iter().map(|r| ReactionRecord {
            message_id: r.message_id.into(),
            emoji: Some(r.emoji),
            created_at: r.created_at,
        });
        write_lines(&mut lines, records).await?;
    }
    let mut after = None;
    loop {
        let page = store.likes_by(me, after, PAGE).await?;
        let Some(&(last, _)) = page.last() else { break };
        after = Some(last);
        let records = page.into_iter().map(|(message_id, created_at)| ReactionRecord {
            message_id: message_id.into(),
            emoji: None,
            created_at,
        });
        write_lines(&mut lines, records).await?;
    }
    lines.close().await?;

    if let Some(prefix) = &user.avatar_key {
        archive.object("avatar/original.jpg", media, &format!("{prefix}/original.jpg")).await?;
    }
    let mut after = None;
    loop {
        let page = store.attachments_uploaded_by(me, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for attachment in page {
            let object = if attachment.kind == "image" { "original.jpg" } else { "file" };
            let name = format!("attachments/{}/{}", attachment.id, archive_name(&attachment.file_name));
            archive.object(&name, media, &format!("{}/{object}", attachment.storage_key)).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::archive_name;

    #[test]
    fn names_in_the_archive_cannot_leave_their_folder() {
        assert_eq!(archive_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(archive_name("C:\\boot.ini"), "C__boot.ini");
        assert_eq!(archive_name("a\u{0}b\nc.txt"), "a_b_c.txt");
        assert_eq!(archive_name(" .. "), "file");
        assert_eq!(archive_name("holiday.jpg"), "holiday.jpg");
    }
}
