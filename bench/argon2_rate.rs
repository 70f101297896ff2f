//! The raw argon2id verification rate of this machine with Parlor's parameters, on every core:
//! the ceiling that login throughput is compared against (`bench/auth.sh`). Each thread hashes
//! into one buffer it keeps, as the server does, so the figure is argon2's own speed with nothing
//! of allocation in it.
//!
//! `cargo run --release --example argon2_rate -- [seconds]`

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Block, Params, Version};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = std::env::args().nth(1).map_or(Ok(10), |s| s.parse())?;
    let config = parlor::config::AuthConfig::default();
    let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism, None)
        .map_err(|e| e.to_string())?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = [7u8; 16];
    let mut expected = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let mut memory = vec![Block::new(); argon2.params().block_count()];
    argon2
        .hash_password_into_with_memory(b"correct horse battery", &salt, &mut expected, &mut memory)
        .map_err(|e| e.to_string())?;
    let threads = std::thread::available_parallelism()?.get();
    let done = AtomicU64::new(0);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut memory = vec![Block::new(); argon2.params().block_count()];
                let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
                while Instant::now() < deadline {
                    argon2
                        .hash_password_into_with_memory(b"correct horse battery", &salt, &mut output, &mut memory)
                        .expect("valid parameters");
                    assert_eq!(output, expected);
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
