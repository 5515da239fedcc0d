//! Flags and environment variables. Every flag `--some-flag` can also be set
//! with `KAFKA_RECORDS_SOME_FLAG`; a flag wins over the variable.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

mod security;
pub use crate::kafka::Secret;
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

    /// Most record requests (POST, GET and DELETE of records) served at once;
    /// beyond it they get 503 with `Retry-After` at once. Waiting GETs count.
    #[arg(long, env = "KAFKA_RECORDS_MAX_CONCURRENT_REQUESTS", default_value_t = 4096, value_parser = at_least_one)]
    pub max_concurrent_requests: usize,

    /// Most records in one POST; more get 413 and nothing is written.
    #[arg(long, env = "KAFKA_RECORDS_MAX_RECORDS_PER_REQUEST", default_value_t = 100_000, value_parser = at_least_one)]
    pub max_records_per_request: usize,

    /// Largest `limit` a GET may ask for; more gets 400.
    #[arg(long, env = "KAFKA_RECORDS_MAX_LIMIT", default_value_t = 100_000, value_parser = at_least_one)]
    pub max_limit: usize,

    /// Longest `timeout` a request may ask for; longer gets 400.
    #[arg(long, env = "KAFKA_RECORDS_MAX_TIMEOUT", default_value = "5m", value_parser = humantime::parse_duration)]
    pub max_timeout: Duration,

    /// Most bytes one GET response holds (its JSON body; the fetched records
    /// are bounded by it too). A read stops before exceeding it and leaves
    /// the rest for the next page; one record is returned even if larger.
    #[arg(long, env = "KAFKA_RECORDS_MAX_RESPONSE_BYTES", default_value_t = 32 * 1024 * 1024, value_parser = at_least_one)]
    pub max_response_bytes: usize,

    /// Most records a GET with a `filter` scans; it then answers with what it
    /// found and a `next` cursor to go on from.
    #[arg(long, env = "KAFKA_RECORDS_MAX_SCAN_RECORDS", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_scan_records: u64,

    /// Longest a stream (NDJSON or Server-Sent Events) may last; a stream's
    /// `timeout` may ask for less.
    #[arg(long, env = "KAFKA_RECORDS_MAX_STREAM_DURATION", default_value = "24h", value_parser = positive_duration)]
    pub max_stream_duration: Duration,

    /// Refuse writes: POST and DELETE of records answer 403.
    #[arg(long, env = "KAFKA_RECORDS_READ_ONLY")]
    pub read_only: bool,

    /// Require `Authorization: Bearer TOKEN` on every route but /healthy and the page's files.
    /// Prefer --auth-token-file, which keeps the token out of process lists.
    #[arg(long, env = "KAFKA_RECORDS_AUTH_TOKEN", hide_env_values = true, conflicts_with = "auth_token_file", value_parser = secret)]
    pub auth_token: Option<Secret>,

    /// A file holding the bearer token (surrounding whitespace ignored).
    #[arg(long, env = "KAFKA_RECORDS_AUTH_TOKEN_FILE", value_parser = token_file)]
    pub auth_token_file: Option<Secret>,

    /// On SIGINT/SIGTERM, how long requests in flight may take to finish
    /// before the process exits anyway.
    #[arg(long, env = "KAFKA_RECORDS_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,

    /// The longest a client may take to send a request head (counted from
    /// when the connection opens or its previous response ends, so it also
    /// closes idle keep-alive connections) and, after it, the request body;
    /// also the longest a response may wait for the client to read more of it.
    /// Slow or silent clients are cut off after it (408 for a slow body).
    #[arg(long, env = "KAFKA_RECORDS_CLIENT_TIMEOUT", default_value = "10s", value_parser = positive_duration)]
    pub client_timeout: Duration,

    /// Web origins (SCHEME://HOST[:PORT]) whose pages may call this service
    /// from a browser, answered with CORS headers. Requests from any other
    /// origin are refused (403). `*` allows every origin (only sensible with
    /// a bearer token).
    #[arg(long, env = "KAFKA_RECORDS_CORS_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = origin)]
    pub cors_allowed_origins: Vec<String>,

    /// Host names (HOST or HOST:PORT) requests may name in their `Host`
    /// header; others get 421. Loopback names are always allowed when
    /// listening on loopback; with no list, listening elsewhere accepts any.
    #[arg(long, env = "KAFKA_RECORDS_ALLOWED_HOSTS", value_delimiter = ',', value_parser = allowed_host)]
    pub allowed_hosts: Vec<String>,

    /// Log format.
    #[arg(long, env = "KAFKA_RECORDS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Base URL of a Schema Registry's Confluent-compatible REST API (e.g.
    /// http://localhost:8081), for the `avro`, `protobuf` and `jsonschema`
    /// serializers and deserializers.
    #[arg(long, env = "KAFKA_RECORDS_SCHEMA_REGISTRY_URL")]
    pub schema_registry_url: Option<String>,

    /// USER:PASSWORD for the Schema Registry (HTTP basic authentication).
    #[arg(
        long,
        env = "KAFKA_RECORDS_SCHEMA_REGISTRY_USER_INFO",
        hide_env_values = true
    )]
    pub schema_registry_user_info: Option<String>,

    /// A bearer token for the Schema Registry.
    #[arg(
        long,
        env = "KAFKA_RECORDS_SCHEMA_REGISTRY_BEARER_TOKEN",
        hide_env_values = true
    )]
    pub schema_registry_bearer_token: Option<String>,

    /// PEM file of the CA certificates that sign the Schema Registry's
    /// certificate (an https URL); default: the platform's trusted roots.
    #[arg(long, env = "KAFKA_RECORDS_SCHEMA_REGISTRY_CA_FILE")]
    pub schema_registry_ca_file: Option<std::path::PathBuf>,

    /// Whether schema text given on a POST (`keySchema`/`valueSchema`) is
    /// registered under `<topic>-key`/`<topic>-value`; with `false` it must
    /// already be there.
    #[arg(long, env = "KAFKA_RECORDS_SCHEMA_REGISTRY_AUTO_REGISTER", default_value_t = true, action = clap::ArgAction::Set)]
    pub schema_registry_auto_register: bool,

    // ---- Security towards Kafka (TLS, SASL): keep this block last. ----
    // The flags live in config/security.rs; `security.load()` checks them.
    /// TLS and SASL towards the brokers.
    #[command(flatten)]
    pub security: SecurityArgs,
    // ---- End of the security block. ----
}

impl Config {
    /// The Schema Registry client the flags describe, if any.
    pub fn schema_registry(&self) -> Result<Option<crate::codec::registry::Registry>, String> {
        let Some(url) = &self.schema_registry_url else {
            for (given, flag) in [
                (
                    self.schema_registry_user_info.is_some(),
                    "--schema-registry-user-info",
                ),
                (
                    self.schema_registry_bearer_token.is_some(),
                    "--schema-registry-bearer-token",
                ),
                (
                    self.schema_registry_ca_file.is_some(),
                    "--schema-registry-ca-file",
                ),
            ] {
                if given {
                    return Err(format!("{flag} needs --schema-registry-url"));
                }
            }
            return Ok(None);
        };
        crate::codec::registry::Registry::new(&crate::codec::registry::RegistryConfig {
            url: url.clone(),
            user_info: self.schema_registry_user_info.clone(),
            bearer_token: self.schema_registry_bearer_token.clone(),
            ca_file: self.schema_registry_ca_file.clone(),
            auto_register: self.schema_registry_auto_register,
        })
        .map(Some)
    }
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

/// A secret as given; checked by [`Config::check`], because clap's own
/// errors would repeat the value.
fn secret(text: &str) -> Result<Secret, String> {
    Ok(Secret::new(text.trim()))
}

/// A bearer token read from a file.
fn token_file(path: &str) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read '{path}': {e}"))?;
    check_token(text.trim())
        .map(Secret::new)
        .map_err(|e| format!("'{path}': {e}"))
}

/// Tokens are what a client can put in a header: printable ASCII, no spaces.
fn check_token(text: &str) -> Result<&str, String> {
    if text.is_empty() {
        return Err("the token is empty".into());
    }
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the token must be printable ASCII without spaces".into());
    }
    Ok(text)
}

/// A duration longer than zero.
fn positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be longer than zero".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A web origin as browsers send it: `SCHEME://HOST[:PORT]`, or `*`.
fn origin(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text == "*" {
        return Ok(text.to_string());
    }
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or_else(|| {
            format!("'{text}' is not an origin: expected http://HOST[:PORT] or https://HOST[:PORT]")
        })?;
    if rest.is_empty() || rest.contains('/') {
        return Err(format!(
            "'{text}' is not an origin: expected SCHEME://HOST[:PORT] with no path"
        ));
    }
    Ok(text.to_ascii_lowercase())
}

/// A host name a request may name: `HOST` or `HOST:PORT`.
fn allowed_host(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() || text.contains('/') || text.contains(char::is_whitespace) {
        return Err(format!("'{text}' is not HOST or HOST:PORT"));
    }
    Ok(text.to_ascii_lowercase())
}

/// A count of 1 or more.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{text}' is not a whole number of 1 or more")),
    }
}

impl Config {
    /// Checks what clap cannot without printing a secret; the error names the flag.
    pub fn check(&self) -> Result<(), String> {
        if let Some(token) = &self.auth_token {
            check_token(token.expose()).map_err(|e| format!("invalid --auth-token: {e}"))?;
        }
        Ok(())
    }

    /// The bearer token every route but /healthy and the page's files require, if any.
    pub fn auth_token(&self) -> Option<&Secret> {
        self.auth_token.as_ref().or(self.auth_token_file.as_ref())
    }

    /// The defaults, pointed at `bootstrap` and listening on a free loopback port.
    pub fn for_bootstrap(bootstrap: &str) -> Config {
        let mut config = Config::parse_from(["kafka-records"]);
        config.bootstrap_servers = bootstrap.split(',').map(str::to_string).collect();
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config
    }
}
