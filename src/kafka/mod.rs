//! Everything that speaks Kafka. Nothing above this module sees a Kafka crate.
//!
//! - [`Cluster`] (`cluster`): the one shared handle and its metadata cache;
//! - `leader`: routing calls to leaders, coordinators or any broker, and the
//!   one retry loop;
//! - `availability`: which partitions can be served now, and metadata
//!   current enough for what a request names;
//! - `ops`: the operations (produce, fetch, offsets, delete, admin, groups,
//!   transactions), each a pure request builder and response reader;
//! - `batch`: the record batch format, including read_committed filtering;
//! - `watch`: long polls shared between GETs waiting on the same partitions;
//! - `conn`, `pool`: pipelined connections, by purpose, and the count of
//!   requests sent ([`requests_sent`]);
//! - [`partitioner`]: the Java client's murmur2 partitioner;
//! - `security` and `sasl`: TLS and SASL on every new connection.
//!
//! Why the client is our own is told in ARCHITECTURE.md.

mod availability;
mod batch;
mod cluster;
mod conn;
mod error;
#[cfg(test)]
mod fake;
mod leader;
mod ops;
pub mod partitioner;
mod pool;
mod sasl;
mod security;
mod versions;
mod watch;

pub use availability::{Availability, Need};
pub use batch::{
    decode as decode_records, encode as encode_records, record_size, FetchedRecord, Header,
    ProduceRecord, ProducerState, BATCH_OVERHEAD,
};
pub use cluster::{Cluster, ClusterConfig, TopicInfo};
pub use conn::requests_sent;
pub use error::{Context, ErrorKind, KafkaError, Operation, Refusal, WriteFate};
#[cfg(test)]
pub(crate) use fake::{EndScript, FakeBroker, ProduceScript, Script};
pub use ops::{
    EndFailure, FetchedPartition, GroupDescription, GroupListing, GroupMember, LastStable,
    OffsetQuery, PartitionLayout, ProduceAck, TopicLayout, Transaction,
};
pub use sasl::{SaslConfig, SaslMechanism, Secret};
pub use security::{Security, TlsConfig, TlsFile, TlsSetupError};

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
