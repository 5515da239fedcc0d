//! The `kafka-records` binary: flags and environment into a config, then serve.

use std::io::Write as _;

use clap::{CommandFactory as _, Parser as _};
use kafka_records::config::{Config, LogFormat};
use kafka_records::server::Server;
use tracing_subscriber::EnvFilter;

/// mimalloc: reads build and drop many small values per record (a record's
/// fields, a filter's JSON); glibc's malloc and free took about 30% of a
/// search's CPU. Its `no_thp` feature keeps transparent huge pages off,
/// which otherwise grew a slow stream's memory about sixfold.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = Config::parse();
    // Flags clap cannot check alone (secrets, whose values clap's errors
    // would repeat, and security files) are checked before anything starts:
    // a mistake exits with code 2 naming the flag.
    if let Err(e) = config.check() {
        Config::command()
            .error(clap::error::ErrorKind::ValueValidation, e)
            .exit();
    }
    if let Err(e) = config.schema_registry() {
        Config::command()
            .error(clap::error::ErrorKind::ValueValidation, e)
            .exit();
    }
    let security = match config.security.load() {
        Ok(s) => s,
        Err(e) => Config::command()
            .error(clap::error::ErrorKind::ArgumentConflict, e)
            .exit(),
    };
    let filter =
        EnvFilter::try_from_env("KAFKA_RECORDS_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    let server = match Server::bind_secured(&config, security).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kafka-records: cannot listen on {}: {e}", config.listen);
            return std::process::ExitCode::from(2);
        }
    };
    match server.local_addr() {
        Ok(addr) => {
            // The one line on stdout: scripts and tests read the address from it.
            println!("listening on http://{addr}");
            std::io::stdout().flush().ok();
        }
        Err(e) => eprintln!("kafka-records: {e}"),
    }
    tracing::info!(
        bootstrap = %config.bootstrap_servers.join(","),
        security_protocol = ?config.security.security_protocol,
        "serving"
    );
    server.run(shutdown_signal()).await;
    std::process::ExitCode::SUCCESS
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
