//! The `parlor` binary: parse the command line and hand over to the library.

use clap::Parser;

/// mimalloc instead of the system allocator: under glibc's malloc, the server's resident memory
/// kept climbing through a soak while its live heap stayed flat (heaptrack: 56.1 → 56.6 MiB
/// over four minutes, RSS +0.55 MiB a minute), the freed space of per-thread arenas (a password
/// hash takes 19 MiB on a blocking thread) held and not returned. mimalloc returns freed
/// segments to the system. DESIGN section 13, soak.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = parlor::cli::Cli::parse();
    match parlor::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // Tracing may not be set up yet (bad configuration): report on stderr directly.
            let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("parlor: {err:#}\n").as_bytes());
            std::process::ExitCode::FAILURE
        }
    }
}
