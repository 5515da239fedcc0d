//! kafka-records: read, write and truncate Apache Kafka topics over HTTP.
//!
//! A request flows through four layers, each calling only the one below:
//!
//! - [`http`]: routing, strict parsing of queries and bodies into typed
//!   requests, JSON out, and the one map from errors to status codes;
//! - [`records`]: the three use cases, one file each (`post`, `get`,
//!   `delete`), with no HTTP types;
//! - [`codec`]: the typed serializers that turn JSON values into the bytes a
//!   Java client writes, and back;
//! - [`kafka`]: the shared cluster handle (metadata, connections, produce,
//!   fetch, offsets, deletes), the only code that speaks Kafka.
//!
//! [`server`] owns the listener, the connection limit and graceful shutdown;
//! `main.rs` turns flags and environment variables into a [`Config`].
//! [`metrics`] holds what `GET /metrics` reports; only [`http`] moves it,
//! counting from the results and errors the use cases return.
#![deny(rust_2018_idioms, unsafe_code)]
#![warn(missing_docs, clippy::clone_on_ref_ptr)]

pub mod codec;
pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod kafka;
pub mod metrics;
pub mod records;
pub mod server;

pub use config::Config;
