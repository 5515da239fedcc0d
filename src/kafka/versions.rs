//! The protocol versions this service speaks.
//!
//! Fixed versions keep the code simple: each is the newest that still names
//! topics (later Produce and Fetch versions address topics by id only) and is
//! supported by every Kafka release from 3.0 through 4.x. A broker that lacks
//! one is reported at connection time instead of failing a request later.

use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};

use super::error::KafkaError;

/// Produce: flexible, acks, transactional id.
pub const PRODUCE: i16 = 9;
/// Fetch: flexible, last stable offset, aborted transactions, topic names.
pub const FETCH: i16 = 12;
/// ListOffsets: isolation level, timestamps.
pub const LIST_OFFSETS: i16 = 7;
/// Metadata: flexible, auto-creation flag, leader epochs.
pub const METADATA: i16 = 12;
/// DeleteRecords.
pub const DELETE_RECORDS: i16 = 2;
/// CreateTopics (tests and benchmarks create topics through it).
pub const CREATE_TOPICS: i16 = 7;

/// DeleteTopics: topics by name (optional: checked when a topic is deleted).
pub const DELETE_TOPICS: i16 = 4;

/// DescribeConfigs: whether brokers create topics on first use.
pub const DESCRIBE_CONFIGS: i16 = 4;

/// FindCoordinator: one key per request.
pub const FIND_COORDINATOR: i16 = 3;
/// OffsetFetch: flexible, require_stable.
pub const OFFSET_FETCH: i16 = 7;
/// OffsetCommit: flexible, group instance id.
pub const OFFSET_COMMIT: i16 = 8;
/// DescribeGroups: flexible.
pub const DESCRIBE_GROUPS: i16 = 5;

/// ConsumerGroupDescribe: groups of the KIP-848 consumer protocol (optional:
/// Kafka 3.7 and later).
pub const CONSUMER_GROUP_DESCRIBE: i16 = 0;
/// ListGroups: the group type (Kafka 3.8 and later; optional).
pub const LIST_GROUPS: i16 = 5;
/// ListGroups before group types (every group then is a classic one).
pub const LIST_GROUPS_WITHOUT_TYPES: i16 = 4;
/// InitProducerId: flexible, transaction timeout.
pub const INIT_PRODUCER_ID: i16 = 4;
/// AddPartitionsToTxn: the last client version (v4 and later batch for brokers).
pub const ADD_PARTITIONS_TO_TXN: i16 = 3;
/// EndTxn: flexible, before transaction protocol v2.
pub const END_TXN: i16 = 3;

/// SaslHandshake: v1 hands the mechanism's messages to SaslAuthenticate
/// (checked only when SASL is configured).
pub const SASL_HANDSHAKE: i16 = 1;
/// SaslAuthenticate: flexible, session lifetime.
pub const SASL_AUTHENTICATE: i16 = 2;

const REQUIRED: [(ApiKey, i16); 14] = [
    (ApiKey::InitProducerId, INIT_PRODUCER_ID),
    (ApiKey::AddPartitionsToTxn, ADD_PARTITIONS_TO_TXN),
    (ApiKey::EndTxn, END_TXN),
    (ApiKey::FindCoordinator, FIND_COORDINATOR),
    (ApiKey::OffsetFetch, OFFSET_FETCH),
    (ApiKey::OffsetCommit, OFFSET_COMMIT),
    (ApiKey::DescribeGroups, DESCRIBE_GROUPS),
    (ApiKey::DescribeConfigs, DESCRIBE_CONFIGS),
    (ApiKey::Produce, PRODUCE),
    (ApiKey::Fetch, FETCH),
    (ApiKey::ListOffsets, LIST_OFFSETS),
    (ApiKey::Metadata, METADATA),
    (ApiKey::DeleteRecords, DELETE_RECORDS),
    (ApiKey::CreateTopics, CREATE_TOPICS),
];

/// Fails when the broker at `addr` does not support a version we send.
pub fn check(addr: &str, versions: &ApiVersionsResponse) -> Result<(), KafkaError> {
    super::error::check(
        versions.error_code,
        || super::error::Context::of(super::error::Operation::ApiVersions).broker(addr),
        None,
    )?;
    for (key, version) in REQUIRED {
        let supported = versions.api_keys.iter().any(|k| {
            k.api_key == key as i16 && k.min_version <= version && version <= k.max_version
        });
        if !supported {
            return Err(KafkaError::Protocol(format!(
                "broker {addr} does not support {key:?} v{version}; kafka-records needs Kafka 3.0 or newer"
            )));
        }
    }
    Ok(())
}
