//! Media: the image pipeline and the object storage its results live in.
//!
//! Storage is any `object_store` backend: the local file system by default, S3-compatible by
//! configuration, in memory for tests. Keys are versioned (`avatars/<user>/<uuid v7>/400x400.jpg`),
//! so a URL always names the same bytes and can be cached forever; a new avatar gets new keys.
//! Avatars are public; attachments are read through short-lived signed links ([`links`]).

mod garbage;
pub mod image;
pub mod links;

pub use garbage::Collector;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::signer::{Method, SignedUrlOptions, Signer};
use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreExt, PutOptions, PutPayload};
use secrecy::ExposeSecret;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use utoipa::ToSchema;

use self::image::{ImageError, PipelineLimits, Variant};
use self::links::Links;
use crate::config::Config;

/// `Cache-Control` of stored media: keys are versioned, so their bytes never change.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Where avatars live: the only public media. Anything else (attachments) opens only through a
/// signed link, so no spelling of another prefix (`ATTACHMENTS/` on a case-insensitive file
/// system, say) can reach it without one.
pub const AVATARS: &str = "avatars/";

/// Where media are stored, how they are processed, and the URLs they are served at.
pub struct Media {
    store: Arc<dyn ObjectStore>,
    /// Whether the backend keeps per-object attributes (S3 does; the file system does not).
    keeps_attributes: bool,
    base_url: String,
    /// Where Parlor's own attachment links point: its `/media` route, whatever serves avatars.
    link_base_url: String,
    limits: PipelineLimits,
    /// Images being processed at once: each holds a decoded canvas in memory.
    permits: Arc<Semaphore>,
    links: Links,
    /// Set when attachment links are presigned bucket URLs (`media.presigned_attachments`).
    presigner: Option<Arc<AmazonS3>>,
}

/// The links to one attachment's files, for a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentLinks {
    pub url: String,
    pub preview_url: Option<String>,
}

/// The avatar's URLs: the original and the squares.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
#[schema(example = json!({
    "original": "http://127.0.0.1:8080/media/avatars/01936b2e…/0193a1f0…/original.jpg",
    "50x50": "http://127.0.0.1:8080/media/avatars/01936b2e…/0193a1f0…/50x50.jpg",
    "100x100": "http://127.0.0.1:8080/media/avatars/01936b2e…/0193a1f0…/100x100.jpg",
    "400x400": "http://127.0.0.1:8080/media/avatars/01936b2e…/0193a1f0…/400x400.jpg"
}))]
pub struct AvatarUrls {
    pub original: String,
    #[serde(rename = "50x50")]
    pub s50: String,
    #[serde(rename = "100x100")]
    pub s100: String,
    #[serde(rename = "400x400")]
    pub s400: String,
}

impl Media {
    /// The configured backend: S3 when `s3.bucket` is set, else the local media directory.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let s3 = &config.s3;
        if let Some(bucket) = &s3.bucket {
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket).with_allow_http(s3.allow_http);
            if let Some(endpoint) = &s3.endpoint {
                builder = builder.with_endpoint(endpoint).with_virtual_hosted_style_request(false);
            }
            if let Some(region) = &s3.region {
                builder = builder.with_region(region);
            }
            if let Some(key) = &s3.access_key_id {
                builder = builder.with_access_key_id(key);
            }
            if let Some(secret) = &s3.secret_access_key {
                builder = builder.with_secret_access_key(secret.expose_secret());
            }
            let store = Arc::new(builder.build().context("configuring S3 storage (`s3.*`)")?);
            let mut media = Self::new(store.clone(), true, config);
            if config.media.presigned_attachments {
                media.presigner = Some(store);
            }
            return Ok(media);
        }
        let dir = config.media_dir();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating media directory {}", dir.display()))?;
        // Automatic cleanup removes a deleted avatar's emptied directories too.
        let store = LocalFileSystem::new_with_prefix(&dir)
            .with_context(|| format!("opening media directory {}", dir.display()))?
            .with_automatic_cleanup(true);
        Ok(Self::new(Arc::new(store), false, config))
    }

    /// Media kept in memory, for tests.
    pub fn in_memory(config: &Config) -> Self {
        Self::new(Arc::new(InMemory::new()), false, config)
    }

    pub fn new(store: Arc<dyn ObjectStore>, keeps_attributes: bool, config: &Config) -> Self {
        let workers =
            config.media.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
        Self {
            store,
            keeps_attributes,
            base_url: config.media_base_url(),
            link_base_url: format!("{}/media", config.public_url()),
            limits: PipelineLimits { max_pixels: config.media.max_pixels, jpeg_quality: config.media.jpeg_quality },
            permits: Arc::new(Semaphore::new(workers)),
            links: Links::of_this_process(config.media.attachment_link_secs),
            presigner: None,
        }
    }

    /// Signs attachment links with `secret`, the one every instance shares.
    pub fn set_link_secret(&mut self, secret: Vec<u8>) {
        self.links = Links::new(secret, self.links.lifetime_secs());
    }

    pub fn links(&self) -> &Links {
        &self.links
    }

    /// `Cache-Control` of an attachment file: for the member's own cache, no longer than a link.
    pub fn attachment_cache_control(&self, max_age: u64) -> String {
        format!("private, max-age={max_age}")
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Runs the image pipeline on the blocking pool, at most `media.workers` at a time. The
    /// header checks run first and inline: they are cheap, and refusing a bomb must not queue.
    pub async fn process_image(&self, bytes: Bytes) -> Result<Vec<Variant>, ImageError> {
        image::inspect(&bytes, self.limits.max_pixels)?;
        let _permit = self.permits.acquire().await.map_err(|_| ImageError::Corrupt("shutting down".to_owned()))?;
        let limits = self.limits;
        tokio::task::spawn_blocking(move || image::process(&bytes, limits))
            .await
            .map_err(|err| ImageError::Corrupt(format!("the image worker failed: {err}")))?
    }

    /// Runs the attachment pipeline (original and preview) like [`Self::process_image`].
    pub async fn process_attachment_image(&self, bytes: Bytes) -> Result<[Variant; 2], ImageError> {
        image::inspect(&bytes, self.limits.max_pixels)?;
        let _permit = self.permits.acquire().await.map_err(|_| ImageError::Corrupt("shutting down".to_owned()))?;
        let limits = self.limits;
        tokio::task::spawn_blocking(move || image::attachment(&bytes, limits))
            .await
            .map_err(|err| ImageError::Corrupt(format!("the image worker failed: {err}")))?
    }

    /// Stores one attachment file as `key` with its type, for members only.
    pub async fn put_attachment_file(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<(), object_store::Error> {
        let mut options = PutOptions::default();
        if self.keeps_attributes {
            options.attributes = Attributes::from_iter([
                (Attribute::ContentType, content_type.to_owned()),
                (Attribute::CacheControl, self.attachment_cache_control(self.links.lifetime_secs())),
            ]);
        }
        self.store.put_opts(&Path::from(key), PutPayload::from(bytes), options).await?;
        Ok(())
    }

    /// A stored object's bytes, as they arrive from storage.
    pub async fn read(
        &self,
        key: &str,
    ) -> Result<futures::stream::BoxStream<'static, Result<Bytes, object_store::Error>>, object_store::Error> {
        Ok(self.store.get(&Path::from(key)).await?.into_stream())
    }

    /// Links to the attachment stored under `prefix` (`original.jpg` and `preview.jpg` for an
    /// image, `file` for a file), valid for about `media.attachment_link_secs`.
    pub async fn attachment_links(&self, prefix: &str, image: bool) -> AttachmentLinks {
        let (main, preview) = if image { ("original.jpg", Some("preview.jpg")) } else { ("file", None) };
        let url = self.attachment_link(&format!("{prefix}/{main}"), !image).await;
        let preview_url = match preview {
            Some(name) => Some(self.attachment_link(&format!("{prefix}/{name}"), false).await),
            None => None,
        };
        AttachmentLinks { url, preview_url }
    }

    async fn attachment_link(&self, key: &str, download: bool) -> String {
        let now = OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
        if let Some(s3) = &self.presigner {
            let left = self.links.expiry(now) - now;
            // The bucket answers with these headers instead of the stored ones.
            let mut query = vec![("response-cache-control".to_owned(), self.attachment_cache_control(left))];
            if download {
                query.push(("response-content-disposition".to_owned(), "attachment".to_owned()));
            }
            let options = SignedUrlOptions::new().with_query(query);
            match s3.signed_url_opts(Method::GET, &Path::from(key), Duration::from_secs(left), &options).await {
                Ok(url) => return url.to_string(),
                Err(err) => {
                    tracing::error!(%key, error = %err, "presigning an attachment link failed; Parlor's own link instead")
                }
            }
        }
        format!("{}/{key}?{}", self.link_base_url, self.links.query(key, now))
    }

    /// Writes every variant under `prefix`. On failure, whatever was written is deleted again
    /// (best effort; the caller has queued the prefix for collection anyway).
    pub async fn put_variants(&self, prefix: &str, variants: Vec<Variant>) -> Result<(), object_store::Error> {
        let uploads = variants.into_iter().map(|variant| {
            let path = Path::from(format!("{prefix}/{}.jpg", variant.name));
            let mut options = PutOptions::default();
            if self.keeps_attributes {
                options.attributes = Attributes::from_iter([
                    (Attribute::ContentType, "image/jpeg"),
                    (Attribute::CacheControl, IMMUTABLE),
                ]);
            }
            let store = Arc::clone(&self.store);
            async move { store.put_opts(&path, PutPayload::from(variant.jpeg), options).await }
        });
        let results = futures::future::join_all(uploads).await;
        if let Some(Err(err)) = results.into_iter().find(Result::is_err) {
            if let Err(cleanup) = self.delete_prefix(prefix).await {
                tracing::warn!(%prefix, error = %cleanup, "could not remove a partial upload; left for the sweeper");
            }
            return Err(err);
        }
        Ok(())
    }

    /// Deletes every object under `prefix` (an avatar's or an attachment's files); files
    /// already gone count as deleted.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<(), object_store::Error> {
        let listed: Vec<_> = self.store.list(Some(&Path::from(prefix))).collect().await;
        let mut paths = Vec::with_capacity(listed.len());
        for meta in listed {
            paths.push(Ok(meta?.location));
        }
        let mut results = self.store.delete_stream(futures::stream::iter(paths).boxed());
        while let Some(result) = results.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// The public URLs of an account's avatar, if it has one.
    pub fn avatar_of(&self, user: &crate::domain::User) -> Option<AvatarUrls> {
        user.avatar_key.as_deref().map(|prefix| self.avatar_urls(prefix))
    }

    /// The public URLs of the avatar stored under `prefix`.
    pub fn avatar_urls(&self, prefix: &str) -> AvatarUrls {
        let url = |file: &str| format!("{}/{prefix}/{file}", self.base_url);
        AvatarUrls {
            original: url("original.jpg"),
            s50: url("50x50.jpg"),
            s100: url("100x100.jpg"),
            s400: url("400x400.jpg"),
        }
    }
}

/// How long a new upload's prefix stays off the garbage sweeper's list: longer than any upload.
pub const UPLOAD_GRACE: Duration = Duration::from_secs(15 * 60);

/// Backoff before retrying a failed deletion: 1 s, 2 s, 4 s… up to an hour.
pub fn retry_backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(12)).min(Duration::from_secs(3600))
}
