//! Argon2id hashing and verification on a few threads of their own, one per core, so hashing
//! never stalls the async runtime and a login burst queues instead of exhausting memory.
//!
//! Each thread keeps argon2's working memory (m KiB) from one hash to the next. The library's
//! `verify_password` allocates and zeroes its 19 MiB on every call; under a stream of logins those
//! pages were faulted in and cleared anew each time, about a tenth of the server's CPU (DESIGN §4).
//! Argon2 writes every block before it reads it, so a buffer is reused as it is, without clearing.
//! A thread that finishes a hash takes the next queued one itself: no other thread has to be
//! scheduled between two hashes.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use anyhow::Context;
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

use crate::config::AuthConfig;

/// Bytes of random salt in every new hash, the length the PHC string format recommends.
const SALT_LEN: usize = 16;

/// Every hash Parlor writes is argon2id, version 0x13; verification follows what the stored
/// string says.
const ALGORITHM: Algorithm = Algorithm::Argon2id;
const VERSION: Version = Version::V0x13;

/// Work for a hashing thread, given that thread's argon2 memory.
type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// A hashing thread's argon2 blocks, kept between hashes up to the configured size.
struct Memory {
    blocks: Vec<Block>,
    /// Blocks of the configured parameters: what is kept.
    keep: usize,
}

#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Arc<Argon2<'static>>,
    /// The queue the hashing threads take from; they end when the last hasher is dropped.
    jobs: crossbeam_channel::Sender<Job>,
    /// A hash of a random password with the same parameters: verified against when the account
    /// does not exist, so that "no such user" costs exactly as long as "wrong password".
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// A hasher with one hashing thread per core.
    pub fn new(config: &AuthConfig) -> anyhow::Result<Self> {
        Self::with_threads(config, std::thread::available_parallelism().map_or(2, usize::from))
    }

    fn with_threads(config: &AuthConfig, threads: usize) -> anyhow::Result<Self> {
        let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism, None)
            .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let keep = params.block_count();
        let argon2 = Argon2::new(ALGORITHM, VERSION, params);
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).context("no system randomness")?;
        let dummy_hash = hash_with(&argon2, &random, &mut Memory::new(keep))?;
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        for n in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    let mut memory = Memory::new(keep);
                    for job in queue {
                        // A panic drops the job's answer (its caller sees an error) and keeps
                        // the thread.
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut memory)));
                        memory.trim();
                    }
                })
                .context("cannot start a password hashing thread")?;
        }
        Ok(Self { argon2: Arc::new(argon2), jobs, dummy_hash: dummy_hash.into() })
    }

    /// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) of `password` with a fresh salt.
    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let argon2 = Arc::clone(&self.argon2);
        let password = password.to_owned();
        self.run(move |memory| hash_with(&argon2, password.as_bytes(), memory)).await?
    }

    /// Whether `password` matches `hash`; with no hash (no such account) it does the same work
    /// against the dummy hash and answers `false`.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> anyhow::Result<bool> {
        let password = password.to_owned();
        let exists = hash.is_some();
        let hash = hash.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let matched = self.run(move |memory| verify_with(password.as_bytes(), &hash, memory)).await??;
        Ok(exists && matched)
    }

    /// Queues `work` for the next free hashing thread and waits for its answer. Work whose caller
    /// has gone away (a client that hung up while its login waited) is skipped, not computed.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce(&mut Memory) -> T + Send + 'static) -> anyhow::Result<T> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            if !answer.is_closed() {
                let _ = answer.send(work(memory));
            }
        });
        self.jobs.send(job).ok().context("password hashing threads stopped")?;
        answered.await.context("password hashing failed")
    }
}

impl Memory {
    const fn new(keep: usize) -> Self {
        Self { blocks: Vec::new(), keep }
    }

    /// The first `count` blocks, growing the buffer to that size if it is shorter. A failed
    /// allocation is an error, not the abort `Vec::resize` would make of it.
    fn blocks(&mut self, count: usize) -> anyhow::Result<&mut [Block]> {
        if self.blocks.len() < count {
            self.blocks.try_reserve_exact(count - self.blocks.len()).context("no memory for argon2")?;
            self.blocks.resize(count, Block::new());
        }
        Ok(&mut self.blocks[..count])
    }

    /// Lets go of a buffer grown past the configured size, for a stored hash with a larger m
    /// than today's configuration: such hashes get their memory for one verification only.
    fn trim(&mut self) {
        if self.blocks.len() > self.keep {
            self.blocks = Vec::new();
        }
    }
}

/// `argon2`'s PHC string of `password` with a fresh random salt, computed in `memory`.
fn hash_with(argon2: &Argon2<'_>, password: &[u8], memory: &mut Memory) -> anyhow::Result<String> {
    let params = argon2.params();
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).context("no system randomness")?;
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2
        .hash_password_into_with_memory(password, &salt, &mut output, memory.blocks(params.block_count())?)
        .context("argon2")?;
    let phc = PasswordHash {
        algorithm: ALGORITHM.ident(),
        version: Some(VERSION.into()),
        params: ParamsString::try_from(params).context("argon2 parameters")?,
        salt: Some(Salt::new(&salt).context("argon2 salt")?),
        hash: Some(Output::new(&output).context("argon2 output")?),
    };
    Ok(phc.to_string())
}

/// Whether `password` gives the output stored in the PHC string `phc`, recomputed with the
/// algorithm, version, parameters and salt written there. Anything unreadable is a mismatch; only
/// a failure to get memory is an error.
fn verify_with(password: &[u8], phc: &str, memory: &mut Memory) -> anyhow::Result<bool> {
    let Ok(stored) = PasswordHash::new(phc) else { return Ok(false) };
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else { return Ok(false) };
    let Ok(algorithm) = Algorithm::try_from(stored.algorithm.as_str()) else { return Ok(false) };
    let Ok(version) = stored.version.map_or(Ok(Version::default()), Version::try_from) else { return Ok(false) };
    let Ok(params) = Params::try_from(&stored) else { return Ok(false) };
    let blocks = memory.blocks(params.block_count())?;
    let argon2 = Argon2::new(algorithm, version, params);
    let mut output = [0u8; Output::MAX_LENGTH];
    let output = &mut output[..expected.len()];
    Ok(argon2.hash_password_into_with_memory(password, salt, output, blocks).is_ok()
        // `Output` compares in constant time.
        && Output::new(output).is_ok_and(|computed| computed == *expected))
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
        // The stand-in hash costs what a real one does: same algorithm and parameters.
        let dummy = PasswordHash::new(&hasher.dummy_hash).unwrap();
        let real = hasher.hash("anything at all").await.unwrap();
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!((dummy.algorithm, dummy.version, &dummy.params), (real.algorithm, real.version, &real.params));
        assert_eq!(dummy.hash.map(|h| h.len()), real.hash.map(|h| h.len()));
    }

    /// A PHC string as the library writes it, with parameters of the caller's choosing.
    fn library_hash(password: &str, params: Params) -> String {
        use argon2::password_hash::PasswordHasher as _;
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params).hash_password(password.as_bytes()).unwrap().to_string()
    }

    #[tokio::test]
    async fn hashes_written_here_verify_with_the_library_and_the_library_s_verify_here() {
        use argon2::password_hash::PasswordVerifier as _;
        let hasher = hasher();
        let ours = hasher.hash("correct horse battery").await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse battery", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"correct horse batterY", &parsed).is_err());
        // Other parameters than the configured ones, as an older hash may carry: they are read
        // from the string.
        let theirs = library_hash("correct horse battery", Params::new(8192, 1, 2, None).unwrap());
        assert!(hasher.verify("correct horse battery", Some(&theirs)).await.unwrap());
        assert!(!hasher.verify("correct horse batterY", Some(&theirs)).await.unwrap());
    }

    #[tokio::test]
    async fn damaged_or_foreign_hashes_never_verify() {
        let hasher = hasher();
        let hash = hasher.hash("correct horse battery").await.unwrap();
        let (head, output) = hash.rsplit_once('$').unwrap();
        let flipped = if output.starts_with('A') { "B" } else { "A" };
        let damaged = format!("{head}${flipped}{}", &output[1..]);
        let without_output = head.to_owned();
        let foreign = hash.replacen("argon2id", "scrypt", 1);
        for stored in [damaged, without_output, foreign] {
            assert!(!hasher.verify("correct horse battery", Some(&stored)).await.unwrap(), "{stored}");
        }
    }

    #[tokio::test]
    async fn one_thread_s_memory_serves_hash_after_hash_whatever_it_held_before() {
        let hasher = PasswordHasher::with_threads(&AuthConfig::default(), 1).unwrap();
        let larger = library_hash("another password", Params::new(32 * 1024, 2, 1, None).unwrap());
        let hash = hasher.hash("correct horse battery").await.unwrap();
        for _ in 0..2 {
            assert!(hasher.verify("another password", Some(&larger)).await.unwrap());
            assert!(!hasher.verify("correct horse battery!", Some(&hash)).await.unwrap());
            assert!(hasher.verify("correct horse battery", Some(&hash)).await.unwrap());
        }
        let kept = hasher.run(|memory| memory.blocks.len()).await.unwrap();
        let configured = AuthConfig::default().argon2_memory_kib as usize;
        assert_eq!(kept, configured, "the configured size is kept; the larger buffer was let go");
    }

    #[tokio::test]
    async fn work_whose_caller_went_away_is_skipped_and_a_panic_keeps_the_thread() {
        let hasher = PasswordHasher::with_threads(&AuthConfig::default(), 1).unwrap();
        use futures::FutureExt as _;
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, busy_started) = std::sync::mpsc::channel::<()>();
        let busy = hasher.run(move |_| {
            started.send(()).unwrap();
            held.recv().unwrap();
        });
        let mut busy = std::pin::pin!(busy);
        assert!((&mut busy).now_or_never().is_none());
        busy_started.recv().unwrap();
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Polled once, the work is queued behind the busy job; then the caller goes away.
        let flag = Arc::clone(&ran);
        let abandoned = hasher.run(move |_| flag.store(true, std::sync::atomic::Ordering::SeqCst));
        assert!(abandoned.now_or_never().is_none());
        release.send(()).unwrap();
        busy.await.unwrap();
        let panicked: anyhow::Result<()> = hasher.run(|_| panic!("inside a hash")).await;
        assert!(panicked.is_err());
        assert!(hasher.verify("anything at all", None).await.is_ok(), "the thread survived the panic");
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst), "the abandoned work was not run");
    }
}
