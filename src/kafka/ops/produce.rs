//! Produce: one batch per partition, acks from all in-sync replicas.

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TransactionalId};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use super::super::cluster::Cluster;
use super::super::error::{Context, Operation};
use super::super::leader::{ms_until, ConnectionKind, PerPartition, Resend};
use super::super::versions;
use super::{per_partition, topic_name, PartitionAnswer};

/// Where the broker put a produced batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceAck {
    /// Offset of the batch's first record.
    pub base_offset: i64,
    /// The broker's append time on LogAppendTime topics, else `None`.
    pub log_append_time: Option<i64>,
}

impl PartitionAnswer for PartitionProduceResponse {
    fn partition(&self) -> i32 {
        self.index
    }
    fn error_code(&self) -> i16 {
        self.error_code
    }
    fn error_message(&self) -> Option<&str> {
        self.error_message.as_ref().map(|m| m.as_str())
    }
}

/// A produce request of one batch per partition of `topic`.
pub(super) fn build_produce_request(
    topic: &str,
    batches: Vec<(i32, Bytes)>,
    transactional_id: Option<&str>,
    timeout_ms: i32,
) -> ProduceRequest {
    ProduceRequest::default()
        .with_transactional_id(
            transactional_id.map(|t| TransactionalId(StrBytes::from_string(t.to_string()))),
        )
        .with_acks(-1)
        .with_timeout_ms(timeout_ms)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(
                batches
                    .into_iter()
                    .map(|(p, b)| {
                        PartitionProduceData::default()
                            .with_index(p)
                            .with_records(Some(b))
                    })
                    .collect(),
            )])
}

/// Each partition's ack or error; a refusal for an old producer epoch of a
/// transaction is its fencing.
pub(super) fn read_produce_response(
    topic: &str,
    response: ProduceResponse,
    transactional_id: Option<&str>,
) -> PerPartition<ProduceAck> {
    let context = || Context::of(Operation::Produce).topic(topic);
    let entries = response
        .responses
        .into_iter()
        .flat_map(|t| t.partition_responses);
    let mut answers = per_partition(entries, context, |p| ProduceAck {
        base_offset: p.base_offset,
        log_append_time: (p.log_append_time_ms >= 0).then_some(p.log_append_time_ms),
    });
    if let Some(id) = transactional_id {
        for (_, answer) in &mut answers {
            if let Err(e) = answer {
                *e = e.clone().fenced_for(id);
            }
        }
    }
    answers
}

impl Cluster {
    /// Writes one batch per partition with acks from all in-sync replicas.
    /// Only errors that guarantee nothing was appended are retried, so a retry
    /// never writes a record twice.
    pub async fn produce(
        &self,
        topic: &str,
        batches: Vec<(i32, Bytes)>,
        transactional_id: Option<&str>,
        deadline: Instant,
    ) -> PerPartition<ProduceAck> {
        self.per_leader(
            topic,
            batches,
            deadline,
            ConnectionKind::Control,
            Resend::OnlyIfNothingWritten,
            |conn, batches| {
                let request =
                    build_produce_request(topic, batches, transactional_id, ms_until(deadline));
                async move {
                    // A call that fails after sending is reported by the
                    // routing as "may or may not have been written".
                    let response = conn.call(request, versions::PRODUCE).await?;
                    Ok(read_produce_response(topic, response, transactional_id))
                }
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::produce_response::TopicProduceResponse;
    use kafka_protocol::ResponseError;

    use super::*;
    use crate::kafka::error::ErrorKind;

    #[test]
    fn a_request_carries_one_batch_per_partition_with_acks_from_all() {
        let batches = vec![(0, Bytes::from_static(b"a")), (3, Bytes::from_static(b"b"))];
        let request = build_produce_request("orders", batches, Some("tx"), 1500);
        assert_eq!(request.acks, -1);
        assert_eq!(request.timeout_ms, 1500);
        assert_eq!(request.transactional_id.as_ref().unwrap().0.as_str(), "tx");
        let topic = &request.topic_data[0];
        assert_eq!(topic.name.0.as_str(), "orders");
        let partitions: Vec<i32> = topic.partition_data.iter().map(|p| p.index).collect();
        assert_eq!(partitions, [0, 3]);
        assert_eq!(topic.partition_data[1].records.as_deref(), Some(&b"b"[..]));
    }

    fn response(entries: Vec<(i32, i16, i64, i64)>) -> ProduceResponse {
        ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
            .with_name(topic_name("orders"))
            .with_partition_responses(
                entries
                    .into_iter()
                    .map(|(index, code, base, append)| {
                        PartitionProduceResponse::default()
                            .with_index(index)
                            .with_error_code(code)
                            .with_base_offset(base)
                            .with_log_append_time_ms(append)
                    })
                    .collect(),
            )])
    }

    #[test]
    fn each_partition_gets_its_ack_or_its_error_named_by_partition() {
        let refused = ResponseError::NotLeaderOrFollower.code();
        let answers = read_produce_response(
            "orders",
            response(vec![(0, 0, 7, -1), (1, refused, -1, -1), (2, 0, 9, 1234)]),
            None,
        );
        assert_eq!(answers.len(), 3);
        assert_eq!(
            answers[0].1.as_ref().unwrap(),
            &ProduceAck {
                base_offset: 7,
                log_append_time: None
            }
        );
        let e = answers[1].1.as_ref().unwrap_err();
        assert!(e.to_string().starts_with("producing to orders/1: "), "{e}");
        assert!(e.proves_nothing_written());
        assert_eq!(answers[2].1.as_ref().unwrap().log_append_time, Some(1234));
    }

    #[test]
    fn an_old_epoch_in_a_transaction_is_a_fencing() {
        let fenced = ResponseError::ProducerFenced.code();
        let answers =
            read_produce_response("orders", response(vec![(0, fenced, -1, -1)]), Some("tx"));
        let e = answers[0].1.as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Fenced);
    }
}
