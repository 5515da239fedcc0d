//! Flags and environment variables. Every flag `--some-flag` can also be set
//! with `KAFKA_RECORDS_SOME_FLAG`; a flag wins over the variable.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

mod security;
pub use security::{SaslMechanismArg, SecurityArgs, SecurityError, SecurityProtocol};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// kafka-records: read, write and truncate Apache Kafka topics over HTTP.
#[derive(Debug, Clone, Parser)]
#[command(version, about, long_about = None)]
pub struct Config {
    /// Kafka brokers to bootstrap from, as HOST:PORT[,HOST:PORT...].
    #[arg(
        long,
        env = "KAFKA_RECORDS_BOOTSTRAP_SERVERS",
        default_value = "localhost:9092",
        value_delimiter = ',',
        value_parser = host_port
    )]
    pub bootstrap_servers: Vec<String>,

    /// Address to serve HTTP on. The default is loopback only: a service that
    /// can delete records should be opened to the network on purpose
    /// (e.g. 0.0.0.0:8001). Port 0 picks a free port.
    #[arg(long, env = "KAFKA_RECORDS_LISTEN", default_value = "127.0.0.1:8001")]
    pub listen: SocketAddr,

    /// Largest request body accepted, in bytes; larger bodies get 413 and
    /// nothing is written.
    #[arg(long, env = "KAFKA_RECORDS_MAX_BODY_BYTES", default_value_t = 32 * 1024 * 1024, value_parser = at_least_one)]
    pub max_body_bytes: usize,

    /// Most HTTP connections served at once; further clients wait to be accepted.
    #[arg(long, env = "KAFKA_RECORDS_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = at_least_one)]
    pub max_connections: usize,

    /// On SIGINT/SIGTERM, how long requests in flight may take to finish
    /// before the process exits anyway.
    #[arg(long, env = "KAFKA_RECORDS_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,

    /// Log format.
    #[arg(long, env = "KAFKA_RECORDS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    // ---- Security towards Kafka (TLS, SASL): keep this block last. ----
    // The flags live in config/security.rs; `security.load()` checks them.
    /// TLS and SASL towards the brokers.
    #[command(flatten)]
    pub security: SecurityArgs,
    // ---- End of the security block. ----
}

/// A `HOST:PORT` broker address.
fn host_port(text: &str) -> Result<String, String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("'{text}' is not HOST:PORT (e.g. localhost:9092)"))?;
    if host.is_empty() {
        return Err(format!("'{text}' has no host; expected HOST:PORT"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(text.to_string()),
        _ => Err(format!(
            "'{text}' has no valid port (1-65535); expected HOST:PORT"
        )),
    }
}

/// A count of 1 or more.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{text}' is not a whole number of 1 or more")),
    }
}

impl Config {
    /// The defaults, pointed at `bootstrap` and listening on a free loopback port.
    pub fn for_bootstrap(bootstrap: &str) -> Config {
        let mut config = Config::parse_from(["kafka-records"]);
        config.bootstrap_servers = bootstrap.split(',').map(str::to_string).collect();
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config
    }
}
