//! Argon2id hashing and verification, run on the blocking pool so it never stalls the async
//! runtime, with at most one hash per core in flight so a login burst cannot exhaust memory.

use std::sync::Arc;

use anyhow::Context;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::AuthConfig;

#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Arc<Argon2<'static>>,
    permits: Arc<Semaphore>,
    /// A hash of a random password with the same parameters: verified against when the account
    /// does not exist, so that "no such user" costs exactly as long as "wrong password".
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    pub fn new(config: &AuthConfig) -> anyhow::Result<Self> {
        let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism, None)
            .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).context("no system randomness")?;
        let dummy_hash = argon2.hash_password(&random).map_err(|e| anyhow::anyhow!("argon2: {e}"))?.to_string();
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(Self { argon2: Arc::new(argon2), permits: Arc::new(Semaphore::new(cores)), dummy_hash: dummy_hash.into() })
    }

    /// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) of `password` with a fresh salt.
    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let argon2 = Arc::clone(&self.argon2);
        let password = password.to_owned();
        self.run(move || {
            argon2
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|e| anyhow::anyhow!("argon2: {e}"))
        })
        .await?
    }

    /// Whether `password` matches `hash`; with no hash (no such account) it does the same work
    /// against the dummy hash and answers `false`.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> anyhow::Result<bool> {
        let argon2 = Arc::clone(&self.argon2);
        let password = password.to_owned();
        let exists = hash.is_some();
        let hash = hash.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let matched = self
            .run(move || {
                PasswordHash::new(&hash)
                    .is_ok_and(|parsed| argon2.verify_password(password.as_bytes(), &parsed).is_ok())
            })
            .await?;
        Ok(exists && matched)
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
        let _permit = self.permits.acquire().await.context("password hasher closed")?;
        tokio::task::spawn_blocking(work).await.context("password hashing task failed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> PasswordHasher {
        PasswordHasher::new(&AuthConfig::default()).unwrap()
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let hasher = hasher();
        let hash = hasher.hash("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(hasher.verify("correct horse battery", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("correct horse battery!", Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn the_same_password_hashes_differently_each_time() {
        let hasher = hasher();
        assert_ne!(hasher.hash("same password").await.unwrap(), hasher.hash("same password").await.unwrap());
    }

    #[tokio::test]
    async fn a_missing_account_never_verifies() {
        let hasher = hasher();
        assert!(!hasher.verify("anything at all", None).await.unwrap());
        assert!(!hasher.verify("anything at all", Some("not a phc string")).await.unwrap());
    }
}
