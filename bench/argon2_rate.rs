//! The raw argon2id verification rate of this machine with Parlor's parameters, on every core:
//! the ceiling that login throughput is compared against (`bench/auth.sh`).
//!
//! `cargo run --release --example argon2_rate -- [seconds]`

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = std::env::args().nth(1).map_or(Ok(10), |s| s.parse())?;
    let config = parlor::config::AuthConfig::default();
    let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism, None)
        .map_err(|e| e.to_string())?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let hash = argon2.hash_password(b"correct horse battery").map_err(|e| e.to_string())?.to_string();
    let threads = std::thread::available_parallelism()?.get();
    let done = AtomicU64::new(0);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let parsed = PasswordHash::new(&hash).expect("valid hash");
                while Instant::now() < deadline {
                    assert!(argon2.verify_password(b"correct horse battery", &parsed).is_ok());
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    std::io::Write::write_all(
        &mut std::io::stdout(),
        format!(
            "argon2id m={} t={} p={} on {threads} threads: {rate:.1} verifications/s\n",
            config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism
        )
        .as_bytes(),
    )?;
    Ok(())
}
