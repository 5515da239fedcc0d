//! The protocol versions this service speaks, and what it makes of brokers
//! that speak older ones.
//!
//! Each call is written for one version of its API (the constants below):
//! the newest that still names topics (later Produce and Fetch versions
//! address topics by id only). When a broker's newest version of an API is
//! older, a connection sends the broker's newest instead, down to the oldest
//! the call can use ([`OLDER`]: versions whose requests and answers carry
//! everything the call sends and reads). Every call the service needs
//! ([`REQUIRED`]) is checked when a connection opens, so a broker too old for
//! the service is reported at once, naming its release and what it lacks,
//! instead of failing a request later. Optional calls (the KIP-848 group
//! description, group types in ListGroups) ask [`Negotiated::supports`] first.
//!
//! Kafka's protocol does not say which release a broker runs; [`release`]
//! tells it from the APIs and versions the broker offers, which is what
//! matters here anyway.

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

/// Calls that work with older versions of their API too, and the oldest
/// each can use: there the request carries everything the call sets and the
/// answer everything it reads. Kafka 2.8 needs both.
const OLDER: [(ApiKey, i16); 2] = [
    // v7 only adds the max-timestamp query (-3), which this service never asks.
    (ApiKey::ListOffsets, 6),
    // v12 only makes topic names nullable (topics by id), which this service does not use.
    (ApiKey::Metadata, 11),
];

/// The oldest Kafka release that has every version of [`REQUIRED`] (with [`OLDER`]).
pub const OLDEST_RELEASE: &str = "2.8";

/// Every call the service needs, with the version it is written for and
/// what it is needed for (named when a broker lacks it).
const REQUIRED: [(ApiKey, i16, &str); 14] = [
    (ApiKey::InitProducerId, INIT_PRODUCER_ID, "transactions"),
    (
        ApiKey::AddPartitionsToTxn,
        ADD_PARTITIONS_TO_TXN,
        "transactions",
    ),
    (ApiKey::EndTxn, END_TXN, "transactions"),
    (
        ApiKey::FindCoordinator,
        FIND_COORDINATOR,
        "consumer groups and transactions",
    ),
    (ApiKey::OffsetFetch, OFFSET_FETCH, "consumer groups"),
    (ApiKey::OffsetCommit, OFFSET_COMMIT, "consumer groups"),
    (ApiKey::DescribeGroups, DESCRIBE_GROUPS, "consumer groups"),
    (
        ApiKey::DescribeConfigs,
        DESCRIBE_CONFIGS,
        "topic and broker settings",
    ),
    (ApiKey::Produce, PRODUCE, "writing records"),
    (ApiKey::Fetch, FETCH, "reading records"),
    (ApiKey::ListOffsets, LIST_OFFSETS, "offsets"),
    (ApiKey::Metadata, METADATA, "topics and leaders"),
    (ApiKey::DeleteRecords, DELETE_RECORDS, "deleting records"),
    (ApiKey::CreateTopics, CREATE_TOPICS, "creating topics"),
];

/// The oldest version of `key` a call written for `version` can send.
fn oldest(key: i16, version: i16) -> i16 {
    OLDER
        .iter()
        .find(|(k, _)| *k as i16 == key)
        .map_or(version, |(_, oldest)| (*oldest).min(version))
}

/// `v7` or `v6 to v7`: the versions of `key` a call written for `version` can send.
fn range(key: i16, version: i16) -> String {
    match oldest(key, version) {
        o if o < version => format!("v{o} to v{version}"),
        _ => format!("v{version}"),
    }
}

/// An API key's name (`Metadata`), or its number when the crate does not know it.
fn name(key: i16) -> String {
    ApiKey::try_from(key).map_or_else(|_| format!("API {key}"), |k| format!("{k:?}"))
}

/// What one broker offers, as its ApiVersions answer said, and the
/// release that tells.
#[derive(Debug, Clone)]
pub struct Negotiated {
    /// (key, oldest version, newest version) of every API the broker offers.
    apis: Vec<(i16, i16, i16)>,
    /// [`release`] of `apis`.
    release: &'static str,
}

impl Negotiated {
    /// What `response` says the broker offers.
    pub fn new(response: &ApiVersionsResponse) -> Negotiated {
        let apis: Vec<(i16, i16, i16)> = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, k.min_version, k.max_version))
            .collect();
        Negotiated {
            release: release(&apis),
            apis,
        }
    }

    /// The version to send of `key` for a call written for `version`: that
    /// one, or the broker's newest when it is older and the call can use it;
    /// `None` when the broker has no version the call can use.
    pub fn pick(&self, key: i16, version: i16) -> Option<i16> {
        let (_, min, max) = self.apis.iter().find(|(k, _, _)| *k == key)?;
        let v = version.min(*max);
        (v >= oldest(key, version) && v >= *min).then_some(v)
    }

    /// Whether a call written for `version` of `key` can be sent.
    pub fn supports(&self, key: i16, version: i16) -> bool {
        self.pick(key, version).is_some()
    }

    /// The error for a call of `key` (written for `version`) that the broker
    /// at `addr` cannot take: it names the broker's release and what it lacks.
    pub fn unsupported(&self, addr: &str, key: i16, version: i16) -> KafkaError {
        KafkaError::Unsupported(format!(
            "the broker at {addr} runs {release} (as the API versions it offers tell), \
             which lacks {api} {versions}",
            release = self.release,
            api = name(key),
            versions = range(key, version),
        ))
    }
}

/// The Kafka release whose protocol `apis` ((key, oldest, newest) of each
/// API a broker offers) is, told by APIs and versions each release added.
pub fn release(apis: &[(i16, i16, i16)]) -> &'static str {
    let has = |key: ApiKey, version: i16| {
        apis.iter()
            .any(|(k, _, max)| *k == key as i16 && *max >= version)
    };
    if has(ApiKey::Produce, 13) {
        "Kafka 4.1 or newer"
    } else if has(ApiKey::Produce, 12) {
        "Kafka 4.0"
    } else if has(ApiKey::AddRaftVoter, 0) {
        "Kafka 3.9"
    } else if has(ApiKey::ListGroups, 5) {
        "Kafka 3.8"
    } else if has(ApiKey::DescribeTopicPartitions, 0) {
        "Kafka 3.7"
    } else if has(ApiKey::ListOffsets, 7) {
        "Kafka 3.0 to 3.6"
    } else if has(ApiKey::Metadata, 11) {
        "Kafka 2.8"
    } else {
        "a Kafka release older than 2.8"
    }
}

/// What the broker at `addr` offers; fails when it lacks a call the service
/// needs, naming the broker's release, the call and what it is for.
pub fn check(addr: &str, versions: &ApiVersionsResponse) -> Result<Negotiated, KafkaError> {
    super::error::check(
        versions.error_code,
        || super::error::Context::of(super::error::Operation::ApiVersions).broker(addr),
        None,
    )?;
    let negotiated = Negotiated::new(versions);
    for (key, version, purpose) in REQUIRED {
        if !negotiated.supports(key as i16, version) {
            let lacks = negotiated.unsupported(addr, key as i16, version);
            return Err(KafkaError::Unsupported(format!(
                "{lacks} ({purpose}); kafka-records needs Kafka {OLDEST_RELEASE} or newer"
            )));
        }
    }
    Ok(negotiated)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::api_versions_response::ApiVersion;

    use super::*;

    /// An ApiVersions answer offering `apis` as (key, oldest, newest).
    fn offering(apis: &[(ApiKey, i16, i16)]) -> ApiVersionsResponse {
        ApiVersionsResponse::default().with_api_keys(
            apis.iter()
                .map(|(k, min, max)| {
                    ApiVersion::default()
                        .with_api_key(*k as i16)
                        .with_min_version(*min)
                        .with_max_version(*max)
                })
                .collect(),
        )
    }

    /// What a broker of Kafka 2.8 offers of the calls this service makes.
    fn kafka_2_8() -> Vec<(ApiKey, i16, i16)> {
        vec![
            (ApiKey::Produce, 0, 9),
            (ApiKey::Fetch, 0, 12),
            (ApiKey::ListOffsets, 0, 6),
            (ApiKey::Metadata, 0, 11),
            (ApiKey::OffsetCommit, 0, 8),
            (ApiKey::OffsetFetch, 0, 7),
            (ApiKey::FindCoordinator, 0, 3),
            (ApiKey::DescribeGroups, 0, 5),
            (ApiKey::ListGroups, 0, 4),
            (ApiKey::CreateTopics, 0, 7),
            (ApiKey::DeleteTopics, 0, 6),
            (ApiKey::DeleteRecords, 0, 2),
            (ApiKey::InitProducerId, 0, 4),
            (ApiKey::AddPartitionsToTxn, 0, 3),
            (ApiKey::EndTxn, 0, 3),
            (ApiKey::DescribeConfigs, 0, 4),
        ]
    }

    /// Kafka 2.8's offer with `changes`: APIs replaced or added.
    fn changed(changes: &[(ApiKey, i16, i16)]) -> Vec<(ApiKey, i16, i16)> {
        let mut apis: Vec<_> = kafka_2_8()
            .into_iter()
            .filter(|(k, _, _)| !changes.iter().any(|(c, _, _)| c == k))
            .collect();
        apis.extend_from_slice(changes);
        apis
    }

    #[test]
    fn a_kafka_2_8_broker_gets_the_older_versions_that_carry_the_same_calls() {
        let n = check("b:9092", &offering(&kafka_2_8())).expect("Kafka 2.8 is enough");
        assert_eq!(n.release, "Kafka 2.8");
        assert_eq!(n.pick(ApiKey::ListOffsets as i16, LIST_OFFSETS), Some(6));
        assert_eq!(n.pick(ApiKey::Metadata as i16, METADATA), Some(11));
        assert_eq!(n.pick(ApiKey::Fetch as i16, FETCH), Some(FETCH));
        // Optional calls: no group types, no KIP-848 groups.
        assert!(!n.supports(ApiKey::ListGroups as i16, LIST_GROUPS));
        assert!(n.supports(ApiKey::ListGroups as i16, LIST_GROUPS_WITHOUT_TYPES));
        assert!(!n.supports(
            ApiKey::ConsumerGroupDescribe as i16,
            CONSUMER_GROUP_DESCRIBE
        ));
    }

    #[test]
    fn newer_brokers_get_the_versions_the_calls_are_written_for() {
        let apis = changed(&[
            (ApiKey::ListOffsets, 1, 10),
            (ApiKey::Metadata, 0, 13),
            (ApiKey::Produce, 3, 13),
            (ApiKey::ListGroups, 0, 5),
        ]);
        let n = check("b:9092", &offering(&apis)).unwrap();
        assert_eq!(n.release, "Kafka 4.1 or newer");
        assert_eq!(n.pick(ApiKey::ListOffsets as i16, LIST_OFFSETS), Some(7));
        assert_eq!(n.pick(ApiKey::Metadata as i16, METADATA), Some(12));
        assert_eq!(n.pick(ApiKey::Produce as i16, PRODUCE), Some(9));
        assert!(n.supports(ApiKey::ListGroups as i16, LIST_GROUPS));
    }

    #[test]
    fn a_broker_too_old_is_refused_naming_its_release_and_what_it_lacks() {
        let apis = changed(&[(ApiKey::Metadata, 0, 10)]);
        let e = check("b:9092", &offering(&apis)).unwrap_err();
        assert_eq!(e.kind(), super::super::error::ErrorKind::Unsupported);
        let text = e.to_string();
        for needle in [
            "the broker at b:9092",
            "a Kafka release older than 2.8",
            "Metadata v11 to v12",
            "topics and leaders",
            "kafka-records needs Kafka 2.8 or newer",
        ] {
            assert!(text.contains(needle), "{needle:?} not in: {text}");
        }
        // A call the broker lacks altogether.
        let apis: Vec<_> = kafka_2_8()
            .into_iter()
            .filter(|(k, _, _)| *k != ApiKey::DeleteRecords)
            .collect();
        let text = check("b:9092", &offering(&apis)).unwrap_err().to_string();
        assert!(
            text.contains("lacks DeleteRecords v2 (deleting records)"),
            "{text}"
        );
    }

    #[test]
    fn releases_are_told_by_what_each_one_added() {
        let with = |changes: &[(ApiKey, i16, i16)]| {
            let apis: Vec<(i16, i16, i16)> = changed(changes)
                .into_iter()
                .map(|(k, min, max)| (k as i16, min, max))
                .collect();
            release(&apis)
        };
        assert_eq!(with(&[]), "Kafka 2.8");
        assert_eq!(with(&[(ApiKey::ListOffsets, 0, 7)]), "Kafka 3.0 to 3.6");
        assert_eq!(
            with(&[(ApiKey::DescribeTopicPartitions, 0, 0)]),
            "Kafka 3.7"
        );
        assert_eq!(with(&[(ApiKey::ListGroups, 0, 5)]), "Kafka 3.8");
        assert_eq!(with(&[(ApiKey::AddRaftVoter, 0, 0)]), "Kafka 3.9");
        assert_eq!(with(&[(ApiKey::Produce, 3, 12)]), "Kafka 4.0");
        assert_eq!(with(&[(ApiKey::Produce, 3, 13)]), "Kafka 4.1 or newer");
        assert_eq!(release(&[]), "a Kafka release older than 2.8");
    }
}
