//! Kafka transactions for one POST: InitProducerId, AddPartitionsToTxn,
//! transactional produce, EndTxn.
//!
//! Each request opens the transactional id afresh (InitProducerId), which is
//! what makes a newer request fence an older one still running: the
//! coordinator bumps the producer epoch and aborts the older transaction, and
//! every later call of the older request is refused as fenced.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kafka_protocol::messages::{
    add_partitions_to_txn_request::AddPartitionsToTxnTopic, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse, InitProducerIdRequest,
    InitProducerIdResponse, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::{Request, StrBytes};
use tokio::time::Instant;

use super::super::cluster::{Cluster, CoordinatorKind};
use super::super::error::{check, Context, KafkaError, Operation, ResponseError};
use super::super::leader::timeout;
use super::super::versions;
use super::topic_name;

/// The longest a transaction may stay open before the coordinator aborts it
/// by itself (the broker's default `transaction.max.timeout.ms`).
const MAX_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// An open transaction.
pub struct Transaction {
    cluster: Cluster,
    id: String,
    /// Producer id from InitProducerId.
    pub producer_id: i64,
    /// Producer epoch from InitProducerId.
    pub producer_epoch: i16,
}

fn txn_id(id: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(id.to_string()))
}

/// An InitProducerId request opening transaction `id` for `timeout_ms`.
pub(super) fn build_init_producer_request(id: &str, timeout_ms: i32) -> InitProducerIdRequest {
    InitProducerIdRequest::default()
        .with_transactional_id(Some(txn_id(id)))
        .with_transaction_timeout_ms(timeout_ms)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}

/// The producer id and epoch the coordinator gave transaction `id`.
pub(super) fn read_init_producer_response(
    id: &str,
    response: InitProducerIdResponse,
) -> Result<(i64, i16), KafkaError> {
    check(
        response.error_code,
        || Context::of(Operation::InitProducerId).id(id),
        None,
    )?;
    Ok((response.producer_id.0, response.producer_epoch))
}

/// An AddPartitionsToTxn request registering `topics`' partitions.
pub(super) fn build_add_partitions_request(
    id: &str,
    producer: (i64, i16),
    topics: &[(String, Vec<i32>)],
) -> AddPartitionsToTxnRequest {
    AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(txn_id(id))
        .with_v3_and_below_producer_id(ProducerId(producer.0))
        .with_v3_and_below_producer_epoch(producer.1)
        .with_v3_and_below_topics(
            topics
                .iter()
                .map(|(t, ps)| {
                    AddPartitionsToTxnTopic::default()
                        .with_name(topic_name(t))
                        .with_partitions(ps.clone())
                })
                .collect(),
        )
}

/// The first partition the coordinator refused, as the cause: partitions
/// refused only because another one failed say so and are passed over.
pub(super) fn read_add_partitions_response(
    id: &str,
    response: AddPartitionsToTxnResponse,
) -> Result<(), KafkaError> {
    for t in response.results_by_topic_v3_and_below {
        for p in t.results_by_partition {
            let Some(error) = ResponseError::try_from_code(p.partition_error_code) else {
                continue;
            };
            if error == ResponseError::OperationNotAttempted {
                continue;
            }
            return Err(match error {
                ResponseError::UnknownTopicOrPartition => KafkaError::UnknownPartition {
                    topic: t.name.0.to_string(),
                    partition: p.partition_index,
                    count: 0,
                },
                _ => {
                    let context = Context::of(Operation::AddPartitionsToTxn)
                        .id(id)
                        .topic(t.name.0.as_str())
                        .partition(p.partition_index);
                    KafkaError::broker(error, context, None).fenced_for(id)
                }
            });
        }
    }
    Ok(())
}

/// An EndTxn request committing (`true`) or aborting transaction `id`.
pub(super) fn build_end_txn_request(id: &str, producer: (i64, i16), commit: bool) -> EndTxnRequest {
    EndTxnRequest::default()
        .with_transactional_id(txn_id(id))
        .with_producer_id(ProducerId(producer.0))
        .with_producer_epoch(producer.1)
        .with_committed(commit)
}

/// The coordinator's refusal to end transaction `id`, if it refused.
pub(super) fn read_end_txn_response(
    id: &str,
    commit: bool,
    response: EndTxnResponse,
) -> Result<(), KafkaError> {
    let operation = if commit {
        Operation::CommitTxn
    } else {
        Operation::AbortTxn
    };
    check(response.error_code, || Context::of(operation).id(id), None).map_err(|e| e.fenced_for(id))
}

/// Why ending a transaction was not confirmed, by what is known of the
/// EndTxn requests: whether one may have reached the coordinator unanswered.
#[derive(Debug, Clone)]
pub enum EndFailure {
    /// No EndTxn was sent (no coordinator could be reached in time): the
    /// transaction is as it was, still open.
    NotSent(KafkaError),
    /// Every EndTxn sent was answered, with a refusal: the transaction did
    /// not end as asked.
    Refused(KafkaError),
    /// An EndTxn was sent and no answer came for it (the connection broke,
    /// the deadline passed): the coordinator may or may not have acted on it.
    Unconfirmed(KafkaError),
}

impl EndFailure {
    /// The error behind it.
    pub fn error(&self) -> &KafkaError {
        match self {
            EndFailure::NotSent(e) | EndFailure::Refused(e) | EndFailure::Unconfirmed(e) => e,
        }
    }
}

impl Cluster {
    /// Opens a transaction under `id`, fencing any older producer of that id.
    /// `timeout` is how long the coordinator lets it stay open.
    pub async fn begin_transaction(
        &self,
        id: &str,
        timeout: Duration,
        deadline: Instant,
    ) -> Result<Transaction, KafkaError> {
        let timeout_ms = timeout
            .clamp(Duration::from_secs(1), MAX_TRANSACTION_TIMEOUT)
            .as_millis() as i32;
        let request = build_init_producer_request(id, timeout_ms);
        let (producer_id, producer_epoch) = self
            .ask_coordinator(
                CoordinatorKind::Transaction,
                id,
                deadline,
                request,
                versions::INIT_PRODUCER_ID,
                |response| read_init_producer_response(id, response),
            )
            .await?;
        Ok(Transaction {
            cluster: self.clone(),
            id: id.to_string(),
            producer_id,
            producer_epoch,
        })
    }
}

impl Transaction {
    /// The transactional id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn producer(&self) -> (i64, i16) {
        (self.producer_id, self.producer_epoch)
    }

    /// Sends `request` to the transaction's coordinator.
    async fn ask<R: Request + Clone, T>(
        &self,
        deadline: Instant,
        request: R,
        version: i16,
        read: impl Fn(R::Response) -> Result<T, KafkaError>,
    ) -> Result<T, KafkaError> {
        let kind = CoordinatorKind::Transaction;
        self.cluster
            .ask_coordinator(kind, &self.id, deadline, request, version, read)
            .await
    }

    /// Registers the partitions the transaction will write to.
    pub async fn add_partitions(
        &self,
        topics: &[(String, Vec<i32>)],
        deadline: Instant,
    ) -> Result<(), KafkaError> {
        let id = self.id.as_str();
        let request = build_add_partitions_request(id, self.producer(), topics);
        self.ask(deadline, request, versions::ADD_PARTITIONS_TO_TXN, |r| {
            read_add_partitions_response(id, r)
        })
        .await
    }

    /// Commits (`true`) or aborts the transaction, and says, when that is
    /// not confirmed, whether an EndTxn may have reached the coordinator.
    pub async fn end(&self, commit: bool, deadline: Instant) -> Result<(), EndFailure> {
        let id = self.id.as_str();
        let request = build_end_txn_request(id, self.producer(), commit);
        let sent = AtomicBool::new(false);
        let unanswered = AtomicBool::new(false);
        let kind = CoordinatorKind::Transaction;
        let result = self
            .cluster
            .with_coordinator(kind, id, deadline, |conn| {
                let request = request.clone();
                let (sent, unanswered) = (&sent, &unanswered);
                async move {
                    sent.store(true, Ordering::Relaxed);
                    let response = timeout(deadline, conn.call(request, versions::END_TXN))
                        .await
                        .inspect_err(|_| unanswered.store(true, Ordering::Relaxed))?;
                    read_end_txn_response(id, commit, response)
                }
            })
            .await;
        result.map_err(|e| {
            if !sent.load(Ordering::Relaxed) {
                EndFailure::NotSent(e)
            } else if unanswered.load(Ordering::Relaxed) {
                EndFailure::Unconfirmed(e)
            } else {
                EndFailure::Refused(e)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::add_partitions_to_txn_response::{
        AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
    };

    use super::*;
    use crate::kafka::error::ErrorKind;

    #[test]
    fn requests_carry_the_id_and_the_producer() {
        let init = build_init_producer_request("tx", 5000);
        assert_eq!(init.transactional_id.unwrap().0.as_str(), "tx");
        assert_eq!(init.transaction_timeout_ms, 5000);
        let end = build_end_txn_request("tx", (7, 2), true);
        assert_eq!(
            (end.producer_id.0, end.producer_epoch, end.committed),
            (7, 2, true)
        );
        let add = build_add_partitions_request("tx", (7, 2), &[("t".into(), vec![0, 3])]);
        assert_eq!(add.v3_and_below_topics[0].partitions, [0, 3]);
    }

    #[test]
    fn the_refused_partition_is_the_cause_not_the_ones_not_attempted() {
        let result = |index, error: ResponseError| {
            AddPartitionsToTxnPartitionResult::default()
                .with_partition_index(index)
                .with_partition_error_code(error.code())
        };
        let response =
            AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(vec![
                AddPartitionsToTxnTopicResult::default()
                    .with_name(topic_name("t"))
                    .with_results_by_partition(vec![
                        result(0, ResponseError::OperationNotAttempted),
                        result(1, ResponseError::TopicAuthorizationFailed),
                    ]),
            ]);
        let e = read_add_partitions_response("tx", response).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("adding t/1 to transaction 'tx': "),
            "{e}"
        );
    }

    #[test]
    fn an_old_epoch_is_a_fencing() {
        let response =
            EndTxnResponse::default().with_error_code(ResponseError::ProducerFenced.code());
        let e = read_end_txn_response("tx", true, response).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Fenced);
    }
}
