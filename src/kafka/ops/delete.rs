//! DeleteRecords: move each partition's log start forward.

use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_records_response::DeleteRecordsPartitionResult;
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use tokio::time::Instant;

use super::super::cluster::Cluster;
use super::super::error::{Context, Operation};
use super::super::leader::{ms_until, ConnectionKind, PerPartition, Resend};
use super::super::versions;
use super::{per_partition, topic_name, PartitionAnswer};

impl PartitionAnswer for DeleteRecordsPartitionResult {
    fn partition(&self) -> i32 {
        self.partition_index
    }
    fn error_code(&self) -> i16 {
        self.error_code
    }
}

/// A request deleting the records below each offset (`-1`: the high watermark).
pub(super) fn build_delete_records_request(
    topic: &str,
    offsets: &[(i32, i64)],
    timeout_ms: i32,
) -> DeleteRecordsRequest {
    DeleteRecordsRequest::default()
        .with_timeout_ms(timeout_ms)
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                offsets
                    .iter()
                    .map(|(p, o)| {
                        DeleteRecordsPartition::default()
                            .with_partition_index(*p)
                            .with_offset(*o)
                    })
                    .collect(),
            )])
}

/// Each partition's new low watermark, or its error.
pub(super) fn read_delete_records_response(
    topic: &str,
    response: DeleteRecordsResponse,
) -> PerPartition<i64> {
    let context = || Context::of(Operation::DeleteRecords).topic(topic);
    let entries = response.topics.into_iter().flat_map(|t| t.partitions);
    per_partition(entries, context, |p| p.low_watermark)
}

impl Cluster {
    /// Deletes every record below `offset` in each partition (`-1`: the high
    /// watermark); answers the new low watermarks.
    pub async fn delete_records(
        &self,
        topic: &str,
        offsets: &[(i32, i64)],
        deadline: Instant,
    ) -> PerPartition<i64> {
        self.per_leader(
            topic,
            offsets.to_vec(),
            deadline,
            ConnectionKind::Control,
            Resend::Idempotent,
            |conn, offsets| {
                let request = build_delete_records_request(topic, &offsets, ms_until(deadline));
                async move {
                    let response = conn.call(request, versions::DELETE_RECORDS).await?;
                    Ok(read_delete_records_response(topic, response))
                }
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::delete_records_response::DeleteRecordsTopicResult;
    use kafka_protocol::ResponseError;

    use super::*;
    use crate::kafka::error::{ErrorKind, Refusal};

    #[test]
    fn a_request_names_each_partition_and_its_offset() {
        let request = build_delete_records_request("t", &[(0, -1), (1, 5)], 2000);
        assert_eq!(request.timeout_ms, 2000);
        let at: Vec<(i32, i64)> = request.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.offset))
            .collect();
        assert_eq!(at, [(0, -1), (1, 5)]);
    }

    #[test]
    fn an_answer_gives_low_watermarks_or_the_policy_refusal() {
        let response =
            DeleteRecordsResponse::default().with_topics(vec![DeleteRecordsTopicResult::default()
                .with_partitions(vec![
                    DeleteRecordsPartitionResult::default()
                        .with_partition_index(0)
                        .with_low_watermark(9),
                    DeleteRecordsPartitionResult::default()
                        .with_partition_index(1)
                        .with_error_code(ResponseError::PolicyViolation.code()),
                ])]);
        let answers = read_delete_records_response("t", response);
        assert_eq!(answers[0].1.as_ref().unwrap(), &9);
        let e = answers[1].1.as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Broker(Refusal::PolicyViolation));
        assert!(
            e.to_string().starts_with("deleting records of t/1: "),
            "{e}"
        );
    }
}
