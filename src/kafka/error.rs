//! The Kafka layer's one error type. A broker's refusal carries a typed
//! [`Context`] (the operation, topic, partition, broker or id it concerned),
//! a broken connection keeps its I/O cause as its `source()`, and [`KafkaError::kind`]
//! is the one classification that the HTTP status map and the metrics both read.

use std::fmt;
use std::sync::Arc;

pub(crate) use kafka_protocol::ResponseError;

/// Something the Kafka cluster did or did not do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KafkaError {
    /// A broker could not be reached, or a connection to it broke. Retried
    /// where fresh metadata may lead elsewhere (another leader, another
    /// coordinator); see [`KafkaError::ClusterUnreachable`] for when no broker
    /// answers at all.
    #[error("Kafka is unreachable: {reason}")]
    Unreachable {
        /// What failed, naming the broker's address.
        reason: String,
        /// The I/O error behind it, when there is one.
        #[source]
        source: Option<Arc<std::io::Error>>,
    },
    /// Not one broker answered: every known broker and every bootstrap server
    /// was tried and each refused or failed. Never retried, so that a request
    /// fails at once instead of waiting out its timeout while Kafka is down.
    #[error("Kafka is unreachable: no broker answered ({0})")]
    ClusterUnreachable(String),
    /// The deadline of the operation passed first.
    #[error("Kafka did not answer in time: {0}")]
    Timeout(String),
    /// The topic does not exist (and was not created).
    #[error("topic '{0}' does not exist")]
    UnknownTopic(String),
    /// The topic exists but has no such partition.
    #[error("topic '{topic}' has no partition {partition} (it has {count})")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
        /// How many partitions the topic has.
        count: usize,
    },
    /// A broker answered with an error code.
    #[error("{context}: {error} ({message})")]
    Broker {
        /// The error code the broker sent.
        error: ResponseError,
        /// Where: the operation, and the topic, partition, broker or id.
        context: Context,
        /// The broker's own message or the code's description.
        message: String,
    },
    /// A consumer group has live members, so offsets cannot be committed for it
    /// from outside.
    #[error("consumer group '{group}' is in use by live members ({state}); read with another groupId, or stop its consumers")]
    GroupInUse {
        /// The group.
        group: String,
        /// How many members it has (0 when only the commit told).
        members: usize,
        /// Its state, or the error that revealed the members.
        state: String,
    },
    /// A newer producer with the same transactional id took over.
    #[error("transaction '{0}' was fenced by a newer request with the same transactionId; its records were aborted")]
    Fenced(String),
    /// A response or stored batch could not be decoded.
    #[error("Kafka protocol error: {0}")]
    Protocol(String),
    /// The broker runs a Kafka release that lacks a call this needs (an API,
    /// or a version of one): the message names the broker, its release and
    /// what it lacks. Trying again does not help; only a newer Kafka does.
    #[error("{0}")]
    Unsupported(String),
    /// A broker refused this service's credentials (SASL) or the TLS
    /// handshake failed (an untrusted certificate). Trying again does not
    /// help: the configuration must change. The message names the broker and
    /// the reason, never a secret.
    #[error("{0}")]
    Auth(String),
    /// A partition has no leader this service can reach now, and none is
    /// coming soon: Kafka names no leader for it in fresh metadata (the
    /// brokers holding its in-sync replicas are down), or its leader cannot
    /// be connected to after a metadata refresh. Final for the request, so
    /// that one partition never holds the others up until the timeout; the
    /// request's other partitions are served.
    #[error("topic '{topic}' partition {partition} is unavailable: {reason}")]
    PartitionUnavailable {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// Why: no leader, or the leader that cannot be reached and how.
        reason: String,
    },
    /// Kafka refuses to create the topic because its name differs from an
    /// existing topic's only by '.' versus '_' (Kafka's metric names cannot
    /// tell them apart). Waiting does not help: another name must be used.
    #[error("topic '{topic}' cannot be created: it collides with an existing topic ({message}); Kafka does not allow two topic names that differ only by '.' and '_': use the existing topic or another name")]
    TopicCollision {
        /// The topic that was to be created.
        topic: String,
        /// The broker's own message, which names the existing topic.
        message: String,
    },
    /// A write whose request may have reached the broker before its
    /// connection broke, its time ran out or the broker failed it without
    /// saying whether it was appended: its records may or may not be in the
    /// log. Never sent again.
    #[error("{0}; the request may have reached the broker, so these records may or may not have been written")]
    MaybeWritten(Box<KafkaError>),
}

/// What kind of failure a [`KafkaError`] is: the one classification the
/// HTTP layer's status map and the metrics both read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No broker could be reached, or a connection broke.
    Unreachable,
    /// Kafka did not answer within the deadline.
    Timeout,
    /// The topic does not exist.
    UnknownTopic,
    /// The topic has no such partition.
    UnknownPartition,
    /// A broker answered with an error code; what the code means for the caller.
    Broker(Refusal),
    /// A consumer group has live members.
    GroupInUse,
    /// A newer producer with the same transactional id took over.
    Fenced,
    /// A response or stored batch could not be decoded.
    Protocol,
    /// The broker's Kafka release lacks what this needs.
    Unsupported,
    /// A broker refused the credentials, or the TLS handshake failed.
    Auth,
    /// A partition has no leader that can be reached now.
    PartitionUnavailable,
}

/// What a failed write did, as far as its error tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFate {
    /// Nothing was sent to a broker: the records were not written.
    NotSent,
    /// A broker refused the records in a way that proves nothing was
    /// appended, or every attempt was refused so until the deadline: the
    /// records were not written.
    NotWritten,
    /// The request may have reached the broker: the records may or may not
    /// be in the log.
    Unknown,
}

/// What a broker's error code means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The topic or partition is unknown to the broker.
    UnknownTopicOrPartition,
    /// The offset is outside the partition's range.
    OffsetOutOfRange,
    /// The topic's policy (e.g. `cleanup.policy=compact`) forbids the call.
    PolicyViolation,
    /// The request itself is wrong: an invalid topic, record or timestamp,
    /// records larger than the broker accepts.
    InvalidRequest,
    /// This service's principal is not allowed to do it.
    NotAuthorized,
    /// The broker does not support the request's version of the call
    /// (UNSUPPORTED_VERSION): its Kafka release is too old for it, or a
    /// feature it needs is not enabled there.
    Unsupported,
    /// What it would create exists already (a topic).
    AlreadyExists,
    /// The topic cannot be created because its name collides with an
    /// existing topic's.
    TopicCollision,
    /// The broker is briefly unable to serve it; trying later may work.
    Unavailable,
    /// Anything else.
    Other,
}

/// The call a broker refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Asking which brokers lead a topic's partitions.
    Metadata,
    /// Waiting for a topic's partitions to have leaders.
    Leaders,
    /// Sending to a broker by id.
    Route,
    /// Reading a broker's configuration.
    DescribeBroker,
    /// Reading a topic's configuration.
    DescribeTopic,
    /// Negotiating protocol versions.
    ApiVersions,
    /// Finding a group's or transaction's coordinator.
    FindCoordinator,
    /// Creating a topic.
    CreateTopic,
    /// Deleting a topic.
    DeleteTopic,
    /// Writing records.
    Produce,
    /// Reading records.
    Fetch,
    /// Looking up offsets.
    ListOffsets,
    /// Deleting records below an offset.
    DeleteRecords,
    /// Listing consumer groups.
    ListGroups,
    /// Describing a consumer group.
    DescribeGroup,
    /// Reading a group's committed offsets.
    FetchGroupOffsets,
    /// Committing a group's offsets.
    CommitGroupOffsets,
    /// Opening a transaction.
    InitProducerId,
    /// Adding partitions to a transaction.
    AddPartitionsToTxn,
    /// Committing a transaction.
    CommitTxn,
    /// Aborting a transaction.
    AbortTxn,
}

/// Where a broker refused: the operation and what it concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The call.
    pub operation: Operation,
    /// The topic, when the call concerned one.
    pub topic: Option<String>,
    /// The partition, when the call concerned one.
    pub partition: Option<i32>,
    /// The broker, by id or address, when the call concerned one.
    pub broker: Option<String>,
    /// The consumer group or transactional id, when the call concerned one.
    pub id: Option<String>,
}

impl Context {
    /// A context of `operation` alone.
    pub fn of(operation: Operation) -> Context {
        Context {
            operation,
            topic: None,
            partition: None,
            broker: None,
            id: None,
        }
    }

    /// The same, about `topic`.
    pub fn topic(mut self, topic: &str) -> Context {
        self.topic = Some(topic.to_string());
        self
    }

    /// The same, about `partition` (of the topic).
    pub fn partition(mut self, partition: i32) -> Context {
        self.partition = Some(partition);
        self
    }

    /// The same, about a broker.
    pub fn broker(mut self, broker: impl fmt::Display) -> Context {
        self.broker = Some(broker.to_string());
        self
    }

    /// The same, about a consumer group or transactional id.
    pub fn id(mut self, id: &str) -> Context {
        self.id = Some(id.to_string());
        self
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let topic = self.topic.as_deref().unwrap_or("?");
        let id = self.id.as_deref().unwrap_or("?");
        let broker = self.broker.as_deref().unwrap_or("?");
        let at = match self.partition {
            Some(p) => format!("{topic}/{p}"),
            None => topic.to_string(),
        };
        match self.operation {
            Operation::Metadata => write!(f, "metadata of topic '{topic}'"),
            Operation::Leaders => write!(f, "topic '{topic}'"),
            Operation::Route => write!(f, "broker {broker}"),
            Operation::DescribeBroker => write!(f, "describing broker {broker}"),
            Operation::DescribeTopic => write!(f, "describing topic '{topic}'"),
            Operation::ApiVersions => write!(f, "ApiVersions from {broker}"),
            Operation::FindCoordinator => write!(f, "finding the coordinator of '{id}'"),
            Operation::CreateTopic => write!(f, "creating topic '{topic}'"),
            Operation::DeleteTopic => write!(f, "deleting topic '{topic}'"),
            Operation::Produce => write!(f, "producing to {at}"),
            Operation::Fetch => write!(f, "fetching from {at}"),
            Operation::ListOffsets => write!(f, "offsets of {at}"),
            Operation::DeleteRecords => write!(f, "deleting records of {at}"),
            Operation::ListGroups => write!(f, "listing groups"),
            Operation::DescribeGroup => write!(f, "describing group '{id}'"),
            Operation::FetchGroupOffsets => match self.topic {
                Some(_) => write!(f, "offset of group '{id}' for {at}"),
                None => write!(f, "offsets of group '{id}'"),
            },
            Operation::CommitGroupOffsets => {
                write!(f, "committing group '{id}' offset for {at}")
            }
            Operation::InitProducerId => write!(f, "opening transaction '{id}'"),
            Operation::AddPartitionsToTxn => write!(f, "adding {at} to transaction '{id}'"),
            Operation::CommitTxn => write!(f, "committing transaction '{id}'"),
            Operation::AbortTxn => write!(f, "aborting transaction '{id}'"),
        }
    }
}

impl KafkaError {
    /// A broker error at `context`.
    pub fn broker(error: ResponseError, context: Context, message: Option<&str>) -> Self {
        KafkaError::Broker {
            error,
            context,
            message: message
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| describe(error)),
        }
    }

    /// A broker that cannot be reached, without an I/O cause.
    pub fn unreachable(reason: impl Into<String>) -> Self {
        KafkaError::Unreachable {
            reason: reason.into(),
            source: None,
        }
    }

    /// A broker that cannot be reached because of `source`.
    pub fn unreachable_by(reason: impl Into<String>, source: std::io::Error) -> Self {
        KafkaError::Unreachable {
            reason: reason.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            KafkaError::Unreachable { .. } | KafkaError::ClusterUnreachable(_) => {
                ErrorKind::Unreachable
            }
            KafkaError::Timeout(_) => ErrorKind::Timeout,
            KafkaError::UnknownTopic(_) => ErrorKind::UnknownTopic,
            KafkaError::UnknownPartition { .. } => ErrorKind::UnknownPartition,
            KafkaError::Broker { error, .. } => ErrorKind::Broker(refusal(*error)),
            KafkaError::GroupInUse { .. } => ErrorKind::GroupInUse,
            KafkaError::Fenced(_) => ErrorKind::Fenced,
            KafkaError::Protocol(_) => ErrorKind::Protocol,
            KafkaError::Unsupported(_) => ErrorKind::Unsupported,
            KafkaError::Auth(_) => ErrorKind::Auth,
            KafkaError::PartitionUnavailable { .. } => ErrorKind::PartitionUnavailable,
            KafkaError::TopicCollision { .. } => ErrorKind::Broker(Refusal::TopicCollision),
            KafkaError::MaybeWritten(cause) => cause.kind(),
        }
    }

    /// What a write that failed with this error did to the log. Retries
    /// never change the answer: a write is sent again only after an attempt
    /// that proves nothing was appended ([`KafkaError::proves_nothing_written`]),
    /// and an attempt that may have appended is final and reported as
    /// [`KafkaError::MaybeWritten`].
    pub fn write_fate(&self) -> WriteFate {
        match self {
            KafkaError::MaybeWritten(_) => WriteFate::Unknown,
            // Only attempts that proved nothing was appended are retried until
            // the deadline, so a write that ran out of time was not written.
            KafkaError::Timeout(_) => WriteFate::NotWritten,
            KafkaError::Broker { error, .. } if may_have_appended(*error) => WriteFate::Unknown,
            KafkaError::Broker { .. } | KafkaError::Fenced(_) => WriteFate::NotWritten,
            // A response that cannot be read may have been an acknowledgement.
            KafkaError::Protocol(_) => WriteFate::Unknown,
            KafkaError::Unreachable { .. }
            | KafkaError::ClusterUnreachable(_)
            | KafkaError::UnknownTopic(_)
            | KafkaError::UnknownPartition { .. }
            | KafkaError::GroupInUse { .. }
            | KafkaError::Auth(_)
            | KafkaError::Unsupported(_)
            | KafkaError::PartitionUnavailable { .. }
            | KafkaError::TopicCollision { .. } => WriteFate::NotSent,
        }
    }

    /// This error of a write whose request may have reached the broker
    /// (see [`KafkaError::MaybeWritten`]).
    pub fn maybe_written(self) -> KafkaError {
        match self {
            e @ KafkaError::MaybeWritten(_) => e,
            e => KafkaError::MaybeWritten(Box::new(e)),
        }
    }

    /// Whether trying again after refreshing metadata may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            KafkaError::Unreachable { .. } => true,
            // The protocol crate calls CONCURRENT_TRANSACTIONS final, but it only
            // means "an earlier transaction of this id is still finishing":
            // Kafka's Java producer retries it, and so do we.
            KafkaError::Broker { error, .. } => {
                error.is_retriable() || *error == ResponseError::ConcurrentTransactions
            }
            _ => false,
        }
    }

    /// Whether a broker refused a write in a way that proves nothing was
    /// appended, so sending it again cannot duplicate records.
    pub fn proves_nothing_written(&self) -> bool {
        match self {
            KafkaError::Broker { error, .. } => matches!(
                error,
                ResponseError::NotLeaderOrFollower
                    | ResponseError::LeaderNotAvailable
                    | ResponseError::UnknownTopicOrPartition
                    | ResponseError::NotEnoughReplicas
                    | ResponseError::FencedLeaderEpoch
            ),
            _ => false,
        }
    }

    /// Whether a broker refused a write as larger than it accepts
    /// (`max.message.bytes`, or the segment size): nothing was appended, and
    /// the same records in smaller batches may be accepted.
    pub fn is_too_large(&self) -> bool {
        matches!(
            self,
            KafkaError::Broker {
                error: ResponseError::MessageTooLarge | ResponseError::RecordListTooLarge,
                ..
            }
        )
    }

    /// A refusal for an old producer epoch means a newer producer of
    /// `transactional_id` took over: this request was fenced.
    pub fn fenced_for(self, transactional_id: &str) -> KafkaError {
        match self {
            KafkaError::Broker {
                error: ResponseError::ProducerFenced | ResponseError::InvalidProducerEpoch,
                ..
            } => KafkaError::Fenced(transactional_id.to_string()),
            other => other,
        }
    }

    /// Whether the cached metadata is probably stale (leader moved, broker gone).
    pub fn invalidates_metadata(&self) -> bool {
        match self {
            KafkaError::Unreachable { .. } | KafkaError::ClusterUnreachable(_) => true,
            KafkaError::Broker { error, .. } => matches!(
                error,
                ResponseError::NotLeaderOrFollower
                    | ResponseError::LeaderNotAvailable
                    | ResponseError::UnknownTopicOrPartition
                    | ResponseError::FencedLeaderEpoch
                    | ResponseError::UnknownLeaderEpoch
                    | ResponseError::NotCoordinator
                    | ResponseError::CoordinatorNotAvailable
            ),
            _ => false,
        }
    }
}

/// Whether a produce refused with `error` may still have been appended:
/// the broker gave up waiting for its replicas, or failed without saying.
fn may_have_appended(error: ResponseError) -> bool {
    matches!(
        error,
        ResponseError::RequestTimedOut
            | ResponseError::NotEnoughReplicasAfterAppend
            | ResponseError::NetworkException
            | ResponseError::KafkaStorageError
            | ResponseError::UnknownServerError
    )
}

/// What a broker's error code means for the caller.
fn refusal(error: ResponseError) -> Refusal {
    match error {
        ResponseError::UnknownTopicOrPartition => Refusal::UnknownTopicOrPartition,
        ResponseError::OffsetOutOfRange => Refusal::OffsetOutOfRange,
        ResponseError::PolicyViolation => Refusal::PolicyViolation,
        ResponseError::TopicAlreadyExists => Refusal::AlreadyExists,
        ResponseError::InvalidTopicException
        | ResponseError::InvalidPartitions
        | ResponseError::InvalidReplicationFactor
        | ResponseError::InvalidReplicaAssignment
        | ResponseError::InvalidConfig
        | ResponseError::InvalidRequest
        | ResponseError::InvalidTimestamp
        | ResponseError::InvalidRecord
        | ResponseError::RecordListTooLarge
        | ResponseError::MessageTooLarge => Refusal::InvalidRequest,
        ResponseError::TopicAuthorizationFailed | ResponseError::ClusterAuthorizationFailed => {
            Refusal::NotAuthorized
        }
        ResponseError::UnsupportedVersion => Refusal::Unsupported,
        e if e.is_retriable() => Refusal::Unavailable,
        _ => Refusal::Other,
    }
}

/// A short human description of a broker error code.
fn describe(error: ResponseError) -> String {
    match error {
        ResponseError::OffsetOutOfRange => "offset is outside the partition's range".into(),
        ResponseError::PolicyViolation => "the topic's policy forbids this".into(),
        ResponseError::NotEnoughReplicas | ResponseError::NotEnoughReplicasAfterAppend => {
            "not enough in-sync replicas".into()
        }
        ResponseError::RequestTimedOut => "the broker timed out".into(),
        ResponseError::RecordListTooLarge | ResponseError::MessageTooLarge => {
            "the records are larger than the broker accepts".into()
        }
        ResponseError::TopicAuthorizationFailed => "not authorized for this topic".into(),
        ResponseError::UnsupportedVersion => {
            "the broker does not support this call: its Kafka release is too old for it, or the feature is not enabled there".into()
        }
        _ => "the broker refused the request".into(),
    }
}

/// Turns a broker error code into `Err` when it is not 0.
pub fn check(
    code: i16,
    context: impl FnOnce() -> Context,
    message: Option<&str>,
) -> Result<(), KafkaError> {
    match ResponseError::try_from_code(code) {
        None => Ok(()),
        Some(error) => Err(KafkaError::broker(error, context(), message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_broker_refusal_names_its_operation_topic_and_partition() {
        let e = KafkaError::broker(
            ResponseError::NotEnoughReplicas,
            Context::of(Operation::Produce).topic("orders").partition(3),
            None,
        );
        let text = e.to_string();
        assert!(text.starts_with("producing to orders/3: "), "{text}");
        assert!(text.ends_with("(not enough in-sync replicas)"), "{text}");
        let KafkaError::Broker { context, .. } = &e else {
            unreachable!()
        };
        assert_eq!(context.topic.as_deref(), Some("orders"));
        assert_eq!(context.partition, Some(3));
        assert_eq!(e.kind(), ErrorKind::Broker(Refusal::Unavailable));
    }

    #[test]
    fn a_broken_connection_keeps_its_io_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let e = KafkaError::unreachable_by("connection to 127.0.0.1:9092 closed", io);
        assert_eq!(e.kind(), ErrorKind::Unreachable);
        assert!(e.is_retriable());
        let source = e.source().expect("the I/O error is the source");
        assert!(source.to_string().contains("reset by peer"), "{source}");
    }

    #[test]
    fn refusals_that_prove_nothing_was_written_are_the_only_ones_a_write_retries() {
        let refused = |error| KafkaError::broker(error, Context::of(Operation::Produce), None);
        assert!(refused(ResponseError::NotLeaderOrFollower).proves_nothing_written());
        assert!(refused(ResponseError::NotEnoughReplicas).proves_nothing_written());
        // Appended, but not yet on enough replicas: sending again would duplicate.
        assert!(!refused(ResponseError::NotEnoughReplicasAfterAppend).proves_nothing_written());
        assert!(!refused(ResponseError::RequestTimedOut).proves_nothing_written());
        assert!(!KafkaError::unreachable("x").proves_nothing_written());
    }

    #[test]
    fn error_codes_map_to_what_they_mean_for_the_caller() {
        let kind = |error| KafkaError::broker(error, Context::of(Operation::Fetch), None).kind();
        assert_eq!(
            kind(ResponseError::OffsetOutOfRange),
            ErrorKind::Broker(Refusal::OffsetOutOfRange)
        );
        assert_eq!(
            kind(ResponseError::MessageTooLarge),
            ErrorKind::Broker(Refusal::InvalidRequest)
        );
        assert_eq!(
            kind(ResponseError::TopicAuthorizationFailed),
            ErrorKind::Broker(Refusal::NotAuthorized)
        );
        assert_eq!(
            kind(ResponseError::UnknownServerError),
            ErrorKind::Broker(Refusal::Other)
        );
    }
}
