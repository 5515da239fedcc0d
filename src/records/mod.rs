//! The three use cases of the API, one file each, free of HTTP types:
//! [`post`] writes records, [`get`] reads them, [`delete`] truncates.

pub mod cursor;
pub mod delete;
pub mod filter;
pub mod get;
pub mod groups;
pub mod post;
pub mod topics;
pub mod view;

use std::time::Duration;

use crate::kafka::{ErrorKind, KafkaError};

/// Why a use case could not do what was asked. The HTTP layer maps each
/// variant to a status code in one place.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RecordsError {
    /// The request itself is wrong; nothing was done.
    #[error("{0}")]
    Invalid(String),
    /// Stored bytes cannot be decoded as the request asked.
    #[error("{0}")]
    Undecodable(String),
    /// What the request names does not exist (a consumer group).
    #[error("{0}")]
    NotFound(String),
    /// The request needs something this version does not do yet.
    #[error("{0}")]
    Unsupported(String),
    /// A transaction did not commit, or its commit was not confirmed: what
    /// became of its records is in `outcome`, and the message says it.
    #[error("{}", outcome.describe(transaction, cause))]
    Transaction {
        /// The transactional id.
        transaction: String,
        /// What is known of its records.
        outcome: TxnOutcome,
        /// Why it failed.
        cause: Box<RecordsError>,
    },
    /// Every record was written and committed, but the records were not yet
    /// visible to read_committed readers when the timeout passed.
    #[error("{0}")]
    NotYetVisible(String),
    /// The Schema Registry did not answer (or answered with a server error).
    #[error("{0}")]
    RegistryUnavailable(String),
    /// Kafka refused, failed or did not answer in time.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
}

impl RecordsError {
    /// The kind of the Kafka error behind this one, `None` when Kafka was not
    /// the cause (an invalid request, undecodable data). An aborted
    /// transaction is of the kind of the error that aborted it.
    pub fn kafka_kind(&self) -> Option<ErrorKind> {
        match self {
            RecordsError::Kafka(e) => Some(e.kind()),
            RecordsError::Transaction { cause, .. } => cause.kafka_kind(),
            RecordsError::NotYetVisible(_) => Some(ErrorKind::Timeout),
            RecordsError::Invalid(_)
            | RecordsError::NotFound(_)
            | RecordsError::Undecodable(_)
            | RecordsError::RegistryUnavailable(_)
            | RecordsError::Unsupported(_) => None,
        }
    }
}

/// What became of a transaction that did not commit, or whose commit was
/// not confirmed: each says only what is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOutcome {
    /// It failed before any of its records was sent: nothing was written.
    NothingWritten,
    /// Its abort was confirmed (by the coordinator, or by a newer producer
    /// fencing it): none of its records became visible.
    Aborted,
    /// It was not committed and its abort was not confirmed: none of its
    /// records is visible, and the coordinator aborts it at its timeout.
    NotCommitted,
    /// The commit was sent but not confirmed: either every record became
    /// visible or none did.
    Unknown,
}

impl TxnOutcome {
    fn describe(self, id: &str, cause: &RecordsError) -> String {
        match self {
            TxnOutcome::NothingWritten => format!(
                "transaction '{id}' failed before any record was sent: none of its records was written: {cause}"
            ),
            TxnOutcome::Aborted => format!(
                "transaction '{id}' was aborted and none of its records became visible: {cause}"
            ),
            TxnOutcome::NotCommitted => format!(
                "transaction '{id}' was not committed and none of its records became visible (its abort was not confirmed; the coordinator aborts it when the transaction timeout passes): {cause}"
            ),
            TxnOutcome::Unknown => format!(
                "transaction '{id}': outcome unknown: the commit was sent but not confirmed, so it may or may not have committed (then every record became visible, else none did): {cause}"
            ),
        }
    }
}

/// A partition a request over every partition of a topic left out because
/// it cannot be served now (see [`KafkaError::PartitionUnavailable`]).
#[derive(Debug, Clone)]
pub struct Unavailable {
    /// The partition.
    pub partition: i32,
    /// Why.
    pub error: KafkaError,
}

impl Unavailable {
    /// Partitions that could not be served, from each one's error.
    pub fn from_errors(errors: Vec<(i32, KafkaError)>) -> Vec<Unavailable> {
        errors
            .into_iter()
            .map(|(partition, error)| Unavailable { partition, error })
            .collect()
    }

    /// Why the partition cannot be served, without its topic and number.
    pub fn reason(&self) -> String {
        match &self.error {
            KafkaError::PartitionUnavailable { reason, .. } => reason.clone(),
            other => other.to_string(),
        }
    }

    /// The error of a request none of whose partitions could be served:
    /// the first partition's, naming the others.
    pub fn all(topic: &str, mut unavailable: Vec<Unavailable>) -> RecordsError {
        if unavailable.is_empty() {
            return RecordsError::Kafka(KafkaError::UnknownTopic(topic.to_string()));
        }
        let first = unavailable.remove(0);
        let error = match first.error {
            KafkaError::PartitionUnavailable {
                topic,
                partition,
                reason,
            } if !unavailable.is_empty() => {
                let others: Vec<String> = unavailable
                    .iter()
                    .map(|u| u.partition.to_string())
                    .collect();
                KafkaError::PartitionUnavailable {
                    topic,
                    partition,
                    reason: format!(
                        "{reason}; partition{} {} {} unavailable too",
                        if others.len() > 1 { "s" } else { "" },
                        others.join(", "),
                        if others.len() > 1 { "are" } else { "is" }
                    ),
                }
            }
            other => other,
        };
        RecordsError::Kafka(error)
    }
}

/// The partitions a request serves: the one named (metadata that does not
/// know it is refreshed first, as partitions may have been added), else
/// every partition that can be served now, with the others and why. None
/// that can be served is a failure.
pub(crate) async fn partitions_to_serve(
    cluster: &crate::kafka::Cluster,
    topic: &str,
    partition: Option<i32>,
    need: crate::kafka::Need,
    deadline: tokio::time::Instant,
) -> Result<(Vec<i32>, Vec<Unavailable>), RecordsError> {
    let info = cluster.topic_for(topic, need, false, deadline).await?;
    if let Some(p) = partition {
        return Ok((vec![info.partition(p)?.id], Vec::new()));
    }
    let ids: Vec<i32> = info.partitions.iter().map(|p| p.id).collect();
    let checked = cluster.check_partitions(topic, &ids, deadline).await?;
    let unavailable = Unavailable::from_errors(checked.unavailable);
    if checked.available.is_empty() {
        return Err(Unavailable::all(topic, unavailable));
    }
    Ok((checked.available, unavailable))
}

/// Kafka's rules for a topic name: 1 to 249 characters of `[a-zA-Z0-9._-]`,
/// and not `.` or `..`.
pub fn check_topic_name(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("must not be empty".into());
    }
    if topic.len() > 249 {
        return Err(format!(
            "is {} characters long; Kafka allows at most 249",
            topic.len()
        ));
    }
    if topic == "." || topic == ".." {
        return Err("must not be '.' or '..'".into());
    }
    if let Some(c) = topic
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "contains {c:?}; Kafka allows only ASCII letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// The longest duration a request may give (365 days): far beyond any
/// sensible wait, and far enough below what a clock can add to "now" that a
/// deadline never overflows.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 86_400);

/// Parses a duration such as `5s`, `1500ms` or `1h` (humantime's syntax,
/// which accepts the API's units `days`, `day`, `h`, `m`, `s`, `ms`, `us`, `ns`),
/// at most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim()).map_err(|e| {
        format!(
            "'{text}' is not a duration ({e}); use a number and a unit such as 5s, 1500ms or 1h"
        )
    })?;
    if duration > MAX_DURATION {
        return Err(format!(
            "'{text}' is longer than the maximum of 365days; use a shorter duration"
        ));
    }
    Ok(duration)
}

/// The most bytes a consumer group id or transactional id may have. Kafka
/// sets no rule of its own, but its protocol carries strings of at most
/// 32767 bytes and brokers repeat the id inside their error messages, which
/// fail to encode when it is that long; 4096 leaves room for that.
pub const MAX_ID_BYTES: usize = 4096;

/// Checks a consumer group id or transactional id: not empty, at most
/// [`MAX_ID_BYTES`] bytes of UTF-8.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".into());
    }
    if id.len() > MAX_ID_BYTES {
        return Err(format!(
            "is {} bytes long; use at most {MAX_ID_BYTES} bytes",
            id.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{check_id, check_topic_name, parse_duration, MAX_DURATION, MAX_ID_BYTES};
    use std::time::Duration;

    #[test]
    fn durations_take_a_number_and_a_unit() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1000ms"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2days"), Ok(Duration::from_secs(2 * 86400)));
        assert_eq!(parse_duration("1day"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("3m"), Ok(Duration::from_secs(180)));
        assert_eq!(parse_duration("7us"), Ok(Duration::from_micros(7)));
        assert_eq!(parse_duration("9ns"), Ok(Duration::from_nanos(9)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in ["5", "s", "", "-1s", "five seconds", "5 parsecs", "1.5.2s"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains("is not a duration"), "{bad}: {e}");
        }
    }

    #[test]
    fn durations_are_at_most_a_year_so_deadlines_never_overflow() {
        assert_eq!(parse_duration("365days"), Ok(MAX_DURATION));
        for long in [
            "366days",
            "1year",
            "18446744073709551615s",
            "10000000000000000000s",
        ] {
            let e = parse_duration(long).unwrap_err();
            assert!(
                e.contains("longer than the maximum of 365days"),
                "{long}: {e}"
            );
        }
        // What the use cases do with a timeout: add it to the clock.
        let _ = tokio::time::Instant::now() + parse_duration("365days").unwrap();
    }

    #[test]
    fn ids_are_not_empty_and_not_too_long() {
        assert!(check_id("g").is_ok());
        assert!(check_id(&"é".repeat(MAX_ID_BYTES / 2)).is_ok());
        assert_eq!(check_id(""), Err("must not be empty".into()));
        let e = check_id(&"é".repeat(MAX_ID_BYTES / 2 + 1)).unwrap_err();
        assert!(e.contains("4098 bytes long; use at most 4096"), "{e}");
    }

    #[test]
    fn topic_names_follow_kafkas_rules() {
        assert!(check_topic_name("orders.v1_eu-west").is_ok());
        assert!(check_topic_name(&"a".repeat(249)).is_ok());
        assert!(check_topic_name(&"a".repeat(250)).is_err());
        assert!(check_topic_name("").is_err());
        assert!(check_topic_name("..").is_err());
        assert!(check_topic_name("a b").is_err());
        assert!(check_topic_name("é").is_err());
    }
}
