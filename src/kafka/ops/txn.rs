//! Kafka transactions for one POST: InitProducerId, AddPartitionsToTxn,
//! transactional produce, EndTxn.
//!
//! Each request opens the transactional id afresh (InitProducerId), which is
//! what makes a newer request fence an older one still running: the
//! coordinator bumps the producer epoch and aborts the older transaction, and
//! every later call of the older request is refused as fenced.

use std::time::Duration;

use kafka_protocol::messages::{
    add_partitions_to_txn_request::AddPartitionsToTxnTopic, AddPartitionsToTxnRequest,
    EndTxnRequest, InitProducerIdRequest, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use super::super::cluster::{Cluster, CoordinatorKind};
use super::super::error::{Context, KafkaError, Operation, ResponseError};
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
        self.with_coordinator(
            CoordinatorKind::Transaction,
            id,
            deadline,
            |conn| async move {
                let request = InitProducerIdRequest::default()
                    .with_transactional_id(Some(txn_id(id)))
                    .with_transaction_timeout_ms(timeout_ms)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1);
                let response = conn.call(request, versions::INIT_PRODUCER_ID).await?;
                if let Some(error) = ResponseError::try_from_code(response.error_code) {
                    let e = KafkaError::broker(
                        error,
                        Context::of(Operation::InitProducerId).id(id),
                        None,
                    );
                    return Err(e);
                }
                Ok(Transaction {
                    cluster: self.clone(),
                    id: id.to_string(),
                    producer_id: response.producer_id.0,
                    producer_epoch: response.producer_epoch,
                })
            },
        )
        .await
    }
}

impl Transaction {
    /// The transactional id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Registers the partitions the transaction will write to.
    pub async fn add_partitions(
        &self,
        topics: &[(String, Vec<i32>)],
        deadline: Instant,
    ) -> Result<(), KafkaError> {
        let id = self.id.as_str();
        self.cluster
            .with_coordinator(
                CoordinatorKind::Transaction,
                id,
                deadline,
                |conn| async move {
                    let request = AddPartitionsToTxnRequest::default()
                        .with_v3_and_below_transactional_id(txn_id(id))
                        .with_v3_and_below_producer_id(ProducerId(self.producer_id))
                        .with_v3_and_below_producer_epoch(self.producer_epoch)
                        .with_v3_and_below_topics(
                            topics
                                .iter()
                                .map(|(t, ps)| {
                                    AddPartitionsToTxnTopic::default()
                                        .with_name(topic_name(t))
                                        .with_partitions(ps.clone())
                                })
                                .collect(),
                        );
                    let response = conn.call(request, versions::ADD_PARTITIONS_TO_TXN).await?;
                    for t in response.results_by_topic_v3_and_below {
                        for p in t.results_by_partition {
                            let Some(error) = ResponseError::try_from_code(p.partition_error_code)
                            else {
                                continue;
                            };
                            // Partitions refused only because another one failed say so; report the cause.
                            if error == ResponseError::OperationNotAttempted {
                                continue;
                            }
                            let e = match error {
                                ResponseError::UnknownTopicOrPartition => {
                                    KafkaError::UnknownPartition {
                                        topic: t.name.0.to_string(),
                                        partition: p.partition_index,
                                        count: 0,
                                    }
                                }
                                _ => KafkaError::broker(
                                    error,
                                    Context::of(Operation::AddPartitionsToTxn)
                                        .id(id)
                                        .topic(t.name.0.as_str())
                                        .partition(p.partition_index),
                                    None,
                                )
                                .fenced_for(id),
                            };
                            return Err(e);
                        }
                    }
                    Ok(())
                },
            )
            .await
    }

    /// Commits (`true`) or aborts the transaction.
    pub async fn end(self, commit: bool, deadline: Instant) -> Result<(), KafkaError> {
        let id = self.id.as_str();
        self.cluster
            .with_coordinator(
                CoordinatorKind::Transaction,
                id,
                deadline,
                |conn| async move {
                    let request = EndTxnRequest::default()
                        .with_transactional_id(txn_id(id))
                        .with_producer_id(ProducerId(self.producer_id))
                        .with_producer_epoch(self.producer_epoch)
                        .with_committed(commit);
                    let response = conn.call(request, versions::END_TXN).await?;
                    match ResponseError::try_from_code(response.error_code) {
                        None => Ok(()),
                        Some(error) => {
                            let operation = if commit {
                                Operation::CommitTxn
                            } else {
                                Operation::AbortTxn
                            };
                            let e = KafkaError::broker(error, Context::of(operation).id(id), None)
                                .fenced_for(id);
                            Err(e)
                        }
                    }
                },
            )
            .await
    }
}
