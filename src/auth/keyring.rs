//! Where the access-token signing keys come from, and how every instance comes to agree on them.
//!
//! Key files win: a keys directory set in the configuration (a mounted Kubernetes Secret, say),
//! or PEM files already in `<data_dir>/keys`, are loaded as they always were. Otherwise the keys
//! live in the database (`signing_keys`), as Keycloak keeps a realm's keys: the first instance
//! to start generates generation 1 (the primary key makes two instances starting at once agree on
//! one), the others load it, and every instance reloads the set every [`RELOAD_EVERY`].
//!
//! Rotation (`parlor rotate-keys`) adds the next generation. A new key is published before it
//! signs: it verifies at once, and becomes the signing key only once it has been in the table
//! for [`PUBLISH_FOR`], by when every instance has loaded it, so no instance ever meets a token
//! from a key it does not know. The key it replaces stays in the JWKS and keeps verifying until
//! the last token it can have signed has expired (the access lifetime plus the leeway), after
//! which the next rotation deletes it.

use std::sync::{Arc, Weak};
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use time::OffsetDateTime;

use super::tokens::{TokenKeys, generate_signing_key, key_id};
use crate::config::{AuthConfig, Config};
use crate::store::{Store, StoredKey};

/// How often an instance reads the stored keys again.
pub const RELOAD_EVERY: Duration = Duration::from_secs(30);
/// How long a new key verifies before it signs: several reloads, so every instance knows it.
pub const PUBLISH_FOR: Duration = Duration::from_secs(120);
/// The tokens' clock leeway (`TokenKeys`' validation), which a retired key must outlive too.
const LEEWAY: Duration = Duration::from_secs(30);

/// The signing keys in use now; cheap to read on every request.
pub struct KeyRing {
    current: ArcSwap<TokenKeys>,
    /// Set when the keys live in the database and are reloaded from it.
    shared: Option<(Store, AuthConfig)>,
}

impl From<TokenKeys> for KeyRing {
    /// Fixed keys: from files, or made by a test.
    fn from(keys: TokenKeys) -> Self {
        Self { current: ArcSwap::from_pointee(keys), shared: None }
    }
}

impl KeyRing {
    /// The keys of this configuration: its key files if there are any, else the database's,
    /// generating the first if there is none, reloaded in the background while the ring lives.
    pub async fn open(config: &Config, store: &Store) -> anyhow::Result<Arc<Self>> {
        if let Some(dir) = key_files(config) {
            tracing::info!(dir = %dir.display(), "signing keys from files");
            return Ok(Arc::new(TokenKeys::load_or_generate(&dir, &config.auth)?.into()));
        }
        let keys = load_shared(store, &config.auth).await?;
        let ring =
            Arc::new(Self { current: ArcSwap::from_pointee(keys), shared: Some((store.clone(), config.auth.clone())) });
        tokio::spawn(reload_while_alive(Arc::downgrade(&ring)));
        Ok(ring)
    }

    /// The keys to sign and verify with now.
    pub fn current(&self) -> Arc<TokenKeys> {
        self.current.load_full()
    }

    /// Reads the stored keys again (a no-op for key files).
    pub async fn reload(&self) -> anyhow::Result<()> {
        if let Some((store, config)) = &self.shared {
            self.current.store(Arc::new(load_shared(store, config).await?));
        }
        Ok(())
    }
}

async fn reload_while_alive(ring: Weak<KeyRing>) {
    loop {
        tokio::time::sleep(RELOAD_EVERY).await;
        let Some(ring) = ring.upgrade() else { return };
        if let Err(err) = ring.reload().await {
            tracing::warn!(error = %err, "reloading the signing keys failed; the loaded ones stay in use");
        }
    }
}

/// The key directory to use, if keys come from files: the configured one, or the default one
/// when it already holds keys (an installation from before keys were shared).
fn key_files(config: &Config) -> Option<std::path::PathBuf> {
    if let Some(dir) = &config.auth.keys_dir {
        return Some(dir.clone());
    }
    let dir = config.keys_dir();
    let has_keys = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(Result::ok).any(|e| e.path().extension().is_some_and(|x| x == "pem")))
        .unwrap_or(false);
    has_keys.then_some(dir)
}

/// The stored keys in use, generating the first generation when there is none.
async fn load_shared(store: &Store, config: &AuthConfig) -> anyhow::Result<TokenKeys> {
    let mut rows = store.signing_keys().await.context("reading the signing keys")?;
    if rows.is_empty() {
        let key = generate_signing_key()?;
        let pem = key.to_pkcs8_pem(LineEnding::LF).context("encoding a new signing key")?;
        if store.add_signing_key(1, &key_id(&key), &pem).await.context("storing the first signing key")? {
            tracing::info!("generated the first signing key, shared through the database");
        }
        // Ours, or the one another instance stored first.
        rows = store.signing_keys().await.context("reading the signing keys")?;
    }
    let ttl = Duration::from_secs(config.access_ttl_secs);
    let (verifying, signer) = in_use(&rows, OffsetDateTime::now_utc(), ttl).context("no signing key stored")?;
    // `TokenKeys` signs with the last key it is given.
    let mut keys = Vec::with_capacity(verifying.len());
    for row in verifying.iter().filter(|row| row.generation != signer.generation).chain([&signer]) {
        keys.push(
            SigningKey::from_pkcs8_pem(&row.private_key)
                .with_context(|| format!("stored signing key {} is not an Ed25519 PKCS#8 key", row.generation))?,
        );
    }
    TokenKeys::from_keys(&keys, config)
}

/// Whether the key at `index` can no longer have signed a live token: it stopped signing when
/// the next generation began to ([`PUBLISH_FOR`] after that one was stored), and every token it
/// signed before has expired since.
fn retired(rows: &[StoredKey], index: usize, now: OffsetDateTime, access_ttl: Duration) -> bool {
    rows.get(index + 1).is_some_and(|next| next.created_at + PUBLISH_FOR + access_ttl + LEEWAY <= now)
}

/// Of the stored keys (oldest generation first): those that verify at `now`, and the one that
/// signs. The signer is the newest key published for [`PUBLISH_FOR`], or the first key while
/// it is the only one. A key verifies until every token it can have signed has expired.
fn in_use(rows: &[StoredKey], now: OffsetDateTime, access_ttl: Duration) -> Option<(Vec<StoredKey>, StoredKey)> {
    let first = rows.first()?;
    let signer = rows.iter().rev().find(|row| row.created_at + PUBLISH_FOR <= now).unwrap_or(first).clone();
    let verifying = rows
        .iter()
        .enumerate()
        .filter(|(index, _)| !retired(rows, *index, now, access_ttl))
        .map(|(_, row)| row.clone())
        .collect();
    Some((verifying, signer))
}

/// Adds the next generation of signing key (`parlor rotate-keys`) and deletes the keys no live
/// token can name any more. Returns the new key's id. Instances start signing with it after
/// [`PUBLISH_FOR`]; the one it replaces verifies until its tokens have expired.
pub async fn rotate(config: &Config, store: &Store) -> anyhow::Result<String> {
    if let Some(dir) = key_files(config) {
        anyhow::bail!(
            "signing keys come from files in {}: add a newer PEM file there instead (see docs/DESIGN.md §3)",
            dir.display()
        );
    }
    let key = generate_signing_key()?;
    let pem = key.to_pkcs8_pem(LineEnding::LF).context("encoding a new signing key")?;
    let kid = key_id(&key);
    loop {
        let rows = store.signing_keys().await?;
        let next = rows.last().map_or(1, |row| row.generation + 1);
        if store.add_signing_key(next, &kid, &pem).await? {
            let ttl = Duration::from_secs(config.auth.access_ttl_secs);
            let retired: Vec<i64> = rows
                .iter()
                .enumerate()
                .filter(|(index, _)| retired(&rows, *index, OffsetDateTime::now_utc(), ttl))
                .map(|(_, row)| row.generation)
                .collect();
            store.delete_signing_keys(&retired).await?;
            return Ok(kid);
        }
        // Another rotation took this generation at the same moment: take the next.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(generation: i64, created_at: OffsetDateTime) -> StoredKey {
        StoredKey { generation, kid: format!("k{generation}"), private_key: String::new(), created_at }
    }

    fn generations(keys: &[StoredKey]) -> Vec<i64> {
        keys.iter().map(|k| k.generation).collect()
    }

    const TTL: Duration = Duration::from_secs(900);

    #[test]
    fn the_first_key_signs_at_once() {
        let now = OffsetDateTime::now_utc();
        let (verifying, signer) = in_use(&[row(1, now)], now, TTL).unwrap();
        assert_eq!((generations(&verifying), signer.generation), (vec![1], 1));
        assert!(in_use(&[], now, TTL).is_none());
    }

    #[test]
    fn a_new_key_verifies_at_once_and_signs_once_published() {
        let start = OffsetDateTime::now_utc() - time::Duration::days(1);
        let rotated = start + time::Duration::hours(1);
        let rows = [row(1, start), row(2, rotated)];
        let (verifying, signer) = in_use(&rows, rotated + time::Duration::seconds(5), TTL).unwrap();
        assert_eq!((generations(&verifying), signer.generation), (vec![1, 2], 1), "published, not yet signing");
        let (verifying, signer) = in_use(&rows, rotated + PUBLISH_FOR, TTL).unwrap();
        assert_eq!((generations(&verifying), signer.generation), (vec![1, 2], 2));
    }

    #[test]
    fn a_replaced_key_verifies_until_its_last_token_has_expired() {
        let start = OffsetDateTime::now_utc() - time::Duration::days(1);
        let rotated = start + time::Duration::hours(1);
        let rows = [row(1, start), row(2, rotated)];
        let stopped_signing = rotated + PUBLISH_FOR;
        let last_valid = stopped_signing + TTL + LEEWAY - time::Duration::seconds(1);
        assert_eq!(generations(&in_use(&rows, last_valid, TTL).unwrap().0), [1, 2]);
        assert_eq!(generations(&in_use(&rows, last_valid + time::Duration::seconds(2), TTL).unwrap().0), [2]);
    }
}
