//! Attachments: an upload is sniffed (never trusted by its name or declared type), images get a
//! stripped original and a preview, and everything is stored before the row that names it.

use bytes::Bytes;

use crate::domain::{AttachmentId, UserId};
use crate::error::{AppError, Refusal};
use crate::media::image::sniff;
use crate::store::{ATTACH_WITHIN, Attachment, now};

/// Longest stored file name, in characters.
const MAX_FILE_NAME: usize = 255;

/// The name a client gave the file, without any directory, control characters, invisible
/// characters or bidirectional controls (which could show `…fdp.exe` as `…exe.pdf`).
pub fn clean_file_name(raw: Option<&str>) -> String {
    let base = raw.unwrap_or_default().rsplit(['/', '\\']).next().unwrap_or_default();
    let base = crate::domain::unicode::without_invisibles(base);
    let name: String = base.chars().filter(|c| !c.is_control()).take(MAX_FILE_NAME).collect();
    let name = name.trim();
    if name.is_empty() || name == "." || name == ".." { "file".to_owned() } else { name.to_owned() }
}

impl super::Chats {
    /// Refuses an upload before its body is read: `me` is over `limits.uploads_per_hour`, or has
    /// a full quota of uploads waiting for a message. Counts nothing; [`Self::upload_attachment`]
    /// checks again with the file's size.
    pub async fn may_upload(&self, me: UserId) -> Result<(), AppError> {
        self.limits.check(self.limits.uploads, &me.to_string()).await?;
        self.within_unsent_quota(me, 0).await
    }

    /// Whether `me`'s uploads waiting for a message leave room for one more of `size` bytes.
    async fn within_unsent_quota(&self, me: UserId, size: u64) -> Result<(), AppError> {
        let (max_count, max_bytes) = self.limits.unsent_uploads;
        let waiting = self.store.unsent_upload_sizes(me, u64::from(max_count)).await?;
        let bytes: u64 = waiting.iter().sum();
        if waiting.len() >= max_count as usize || bytes + size > max_bytes {
            return Err(AppError::fail(
                Refusal::Conflict,
                "upload_quota",
                format!(
                    "you have {} uploads ({bytes} bytes) waiting for a message, and at most {max_count} \
                     ({max_bytes} bytes) may wait: send them, or let them expire after 24 hours",
                    waiting.len()
                ),
            ));
        }
        Ok(())
    }

    /// Stores an upload for a later `image` or `file` message of `me`'s. Pictures Parlor can
    /// decode become `image`s (oriented, stripped of metadata, with a preview); anything else,
    /// a damaged picture included, is kept byte for byte as a `file` of its sniffed type.
    pub async fn upload_attachment(&self, me: UserId, file_name: String, bytes: Bytes) -> Result<Attachment, AppError> {
        if bytes.is_empty() {
            return Err(AppError::invalid("file", "is empty"));
        }
        self.within_unsent_quota(me, bytes.len() as u64).await?;
        self.limits.acquire(self.limits.uploads, &me.to_string()).await?;
        let id = AttachmentId::new();
        let prefix = format!("attachments/{}", id.uuid().simple());
        let image = match sniff(&bytes) {
            Some(_) => self.media.process_attachment_image(bytes.clone()).await.ok(),
            None => None,
        };
        let (kind, content_type, width, height, files) = match image {
            Some([original, preview]) => (
                "image",
                "image/jpeg".to_owned(),
                Some(original.width),
                Some(original.height),
                vec![("original.jpg", original.jpeg.into()), ("preview.jpg", preview.jpeg.into())],
            ),
            None => {
                let content_type = infer::get(&bytes).map_or("application/octet-stream", |t| t.mime_type());
                ("file", content_type.to_owned(), None, None, vec![("file", bytes)])
            }
        };
        let size = files.first().map_or(0, |(_, bytes): &(&str, Bytes)| bytes.len() as u64);
        // Queued before anything is written: an upload no message carries in time is collected.
        self.store.discard_media(&prefix, now() + ATTACH_WITHIN).await?;
        for (name, bytes) in files {
            let stored_type = if name == "file" { content_type.as_str() } else { "image/jpeg" };
            if let Err(err) = self.media.put_attachment_file(&format!("{prefix}/{name}"), bytes, stored_type).await {
                tracing::error!(%prefix, error = %err, "storing an attachment failed");
                self.collector.collect(&prefix, 0).await;
                return Err(AppError::Unavailable("media storage"));
            }
        }
        let attachment = Attachment {
            id,
            uploader_id: Some(me),
            kind: kind.to_owned(),
            storage_key: prefix,
            file_name,
            content_type,
            size,
            width,
            height,
            created_at: now(),
        };
        let attachment = self.store.create_attachment(attachment).await?;
        tracing::info!(attachment_id = %id, kind, size, "attachment stored");
        Ok(attachment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_directories_and_control_characters() {
        assert_eq!(clean_file_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(clean_file_name(Some("C:\\Users\\me\\report.pdf")), "report.pdf");
        assert_eq!(clean_file_name(Some("bad\u{0}\nname.txt")), "badname.txt");
        assert_eq!(clean_file_name(Some("invoice\u{202E}fdp.exe")), "invoicefdp.exe");
        assert_eq!(clean_file_name(Some("\u{200B}")), "file");
        assert_eq!(clean_file_name(Some("..")), "file");
        assert_eq!(clean_file_name(None), "file");
        assert_eq!(clean_file_name(Some(&"n".repeat(300))).len(), MAX_FILE_NAME);
    }
}
