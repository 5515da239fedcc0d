//! The Kafka layer's one error type. Each variant carries where it happened
//! (topic, partition, broker) so that the message a user reads says so; the
//! HTTP layer maps variants to status codes in one place.

pub use kafka_protocol::ResponseError;

/// Something the Kafka cluster did or did not do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KafkaError {
    /// A broker could not be reached, or a connection to it broke. Retried
    /// where fresh metadata may lead elsewhere (another leader, another
    /// coordinator); see [`KafkaError::ClusterUnreachable`] for when no broker
    /// answers at all.
    #[error("Kafka is unreachable: {0}")]
    Unreachable(String),
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
        /// Where: the topic and partition or the call.
        context: String,
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
    /// A broker refused this service's credentials (SASL) or the TLS
    /// handshake failed (an untrusted certificate). Trying again does not
    /// help: the configuration must change. The message names the broker and
    /// the reason, never a secret.
    #[error("{0}")]
    Auth(String),
}

impl KafkaError {
    /// A broker error at `context`.
    pub fn broker(error: ResponseError, context: impl Into<String>, message: Option<&str>) -> Self {
        KafkaError::Broker {
            error,
            context: context.into(),
            message: message
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| describe(error)),
        }
    }

    /// Whether trying again after refreshing metadata may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            KafkaError::Unreachable(_) => true,
            // The protocol crate calls CONCURRENT_TRANSACTIONS final, but it only
            // means "an earlier transaction of this id is still finishing":
            // Kafka's Java producer retries it, and so do we.
            KafkaError::Broker { error, .. } => {
                error.is_retriable() || *error == ResponseError::ConcurrentTransactions
            }
            _ => false,
        }
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
            KafkaError::Unreachable(_) | KafkaError::ClusterUnreachable(_) => true,
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
        _ => "the broker refused the request".into(),
    }
}

/// Turns a broker error code into `Err` when it is not 0.
pub fn check(
    code: i16,
    context: impl FnOnce() -> String,
    message: Option<&str>,
) -> Result<(), KafkaError> {
    match ResponseError::try_from_code(code) {
        None => Ok(()),
        Some(error) => Err(KafkaError::broker(error, context(), message)),
    }
}
