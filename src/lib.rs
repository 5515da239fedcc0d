//! kafka-records: read, write and truncate Apache Kafka topics over HTTP.
//!
//! A request flows down four layers, each calling only the one below:
//!
//! - [`http`]: the route table and its guards, one file per route family
//!   (decode a request, call one use case, render its answer), and the one
//!   map from errors to status codes;
//! - [`records`]: the use cases (`post`, `get`, `delete`), plain Rust types
//!   in and out, no HTTP and no JSON rendering;
//! - [`codec`]: the formats that turn JSON values into the bytes a Java
//!   client writes, and back;
//! - [`kafka`]: the shared cluster handle, routing and retries, and one file
//!   per operation family; the only code that speaks Kafka.
//!
//! [`server`] owns the listener, the connection limit and graceful shutdown;
//! `main.rs` turns flags and environment variables into a [`Config`].
//! [`metrics`] holds what `GET /metrics` reports; only [`http`] moves it.
//! ARCHITECTURE.md, beside the README, tells why the larger choices were made.
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
