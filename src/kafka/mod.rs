//! Everything that speaks Kafka. Nothing above this module sees a Kafka crate.
//!
//! - [`Cluster`]: the one shared handle (metadata, connections, operations);
//! - `batch`: the record batch format, including read_committed filtering;
//! - `watch`: long polls shared between GETs waiting on the same partitions;
//! - [`partitioner`]: the Java client's murmur2 partitioner;
//! - `security` and `sasl`: TLS (rustls) and SASL (PLAIN, SCRAM-SHA-256/512)
//!   on every new connection, configured once with a [`Security`].
//!
//! The wire messages come from the `kafka-protocol` crate (generated from
//! Kafka's own schemas); connections, record batches and retries are ours.
//! `rskafka`, the other pure-Rust client, keeps headers in a map (losing
//! duplicates and null values), drops the aborted-transaction list of fetch
//! responses and pipelines waiting fetches with produce calls on one
//! connection, so it could serve none of the API's reads or writes exactly.

mod batch;
mod cluster;
mod conn;
mod error;
#[cfg(test)]
mod fake;
mod group;
pub mod partitioner;
mod pool;
mod sasl;
mod security;
mod txn;
mod versions;
mod watch;

pub use batch::{
    decode as decode_records, encode as encode_records, FetchedRecord, Header, ProduceRecord,
    ProducerState,
};
pub use cluster::{Cluster, ClusterConfig, FetchedPartition, OffsetQuery, ProduceAck, TopicInfo};
pub use error::{KafkaError, ResponseError};
pub use sasl::{SaslConfig, SaslMechanism, Secret};
pub use security::{Security, TlsConfig, TlsFile, TlsSetupError};
pub use txn::Transaction;

/// Creates a topic on the cluster at `bootstrap` (a comma-separated list), for
/// tests, benchmarks and tools. Waits until every partition has a leader.
pub async fn create_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> Result<(), KafkaError> {
    let cluster = Cluster::new(ClusterConfig {
        bootstrap: bootstrap.split(',').map(str::to_string).collect(),
    });
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    cluster
        .create_topic(topic, partitions, 1, configs, deadline)
        .await
}
