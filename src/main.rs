//! The `parlor` binary: parse the command line and hand over to the library.

use clap::Parser;

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
