//! ListOffsets: a partition's start, its ends, or the offset at a time.

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::list_offsets_response::ListOffsetsPartitionResponse;
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, ListOffsetsResponse};
use tokio::time::Instant;

use super::super::cluster::Cluster;
use super::super::error::{Context, Operation};
use super::super::leader::{ConnectionKind, PerPartition, Resend};
use super::super::versions;
use super::{per_partition, topic_name, PartitionAnswer, READ_COMMITTED, READ_UNCOMMITTED};

/// Which offset ListOffsets should find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetQuery {
    /// The log start offset.
    Earliest,
    /// The last stable offset: the end a read_committed reader sees.
    LastStable,
    /// The high watermark: the end of replicated data, committed or not.
    HighWatermark,
    /// The first offset whose timestamp is at or after this (ms); `None` if none.
    Timestamp(i64),
}

impl PartitionAnswer for ListOffsetsPartitionResponse {
    fn partition(&self) -> i32 {
        self.partition_index
    }
    fn error_code(&self) -> i16 {
        self.error_code
    }
}

/// A ListOffsets request for `partitions` of `topic`.
pub(super) fn build_list_offsets_request(
    topic: &str,
    partitions: &[i32],
    query: OffsetQuery,
) -> ListOffsetsRequest {
    let (timestamp, isolation) = match query {
        OffsetQuery::Earliest => (-2, READ_COMMITTED),
        OffsetQuery::LastStable => (-1, READ_COMMITTED),
        OffsetQuery::HighWatermark => (-1, READ_UNCOMMITTED),
        OffsetQuery::Timestamp(t) => (t, READ_COMMITTED),
    };
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                partitions
                    .iter()
                    .map(|p| {
                        ListOffsetsPartition::default()
                            .with_partition_index(*p)
                            .with_current_leader_epoch(-1)
                            .with_timestamp(timestamp)
                    })
                    .collect(),
            )])
}

/// Each partition's offset (`None` where there is none, as for a time past
/// the last record), or its error.
pub(super) fn read_list_offsets_response(
    topic: &str,
    response: ListOffsetsResponse,
) -> PerPartition<Option<i64>> {
    let context = || Context::of(Operation::ListOffsets).topic(topic);
    let entries = response.topics.into_iter().flat_map(|t| t.partitions);
    per_partition(entries, context, |p| (p.offset >= 0).then_some(p.offset))
}

impl Cluster {
    /// Finds an offset in each partition.
    pub async fn list_offsets(
        &self,
        topic: &str,
        partitions: &[i32],
        query: OffsetQuery,
        deadline: Instant,
    ) -> PerPartition<Option<i64>> {
        let items = partitions.iter().map(|p| (*p, ())).collect();
        self.per_leader(
            topic,
            items,
            deadline,
            ConnectionKind::Control,
            Resend::Idempotent,
            |conn, items| {
                let partitions: Vec<i32> = items.iter().map(|(p, _)| *p).collect();
                let request = build_list_offsets_request(topic, &partitions, query);
                async move {
                    let response = conn.call(request, versions::LIST_OFFSETS).await?;
                    Ok(read_list_offsets_response(topic, response))
                }
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::list_offsets_response::ListOffsetsTopicResponse;
    use kafka_protocol::ResponseError;

    use super::*;

    #[test]
    fn each_query_asks_for_its_offset_with_its_isolation() {
        for (query, timestamp, isolation) in [
            (OffsetQuery::Earliest, -2, READ_COMMITTED),
            (OffsetQuery::LastStable, -1, READ_COMMITTED),
            (OffsetQuery::HighWatermark, -1, READ_UNCOMMITTED),
            (
                OffsetQuery::Timestamp(1_700_000_000_000),
                1_700_000_000_000,
                READ_COMMITTED,
            ),
        ] {
            let request = build_list_offsets_request("t", &[0, 1], query);
            assert_eq!(request.isolation_level, isolation, "{query:?}");
            let partitions = &request.topics[0].partitions;
            assert_eq!(partitions.len(), 2);
            assert!(
                partitions.iter().all(|p| p.timestamp == timestamp),
                "{query:?}"
            );
        }
    }

    #[test]
    fn no_offset_for_a_time_is_none_and_errors_name_the_partition() {
        let entry = |index, code, offset| {
            ListOffsetsPartitionResponse::default()
                .with_partition_index(index)
                .with_error_code(code)
                .with_offset(offset)
        };
        let response =
            ListOffsetsResponse::default().with_topics(vec![ListOffsetsTopicResponse::default()
                .with_partitions(vec![
                    entry(0, 0, 42),
                    entry(1, 0, -1),
                    entry(2, ResponseError::NotLeaderOrFollower.code(), -1),
                ])]);
        let answers = read_list_offsets_response("t", response);
        assert_eq!(answers[0].1.as_ref().unwrap(), &Some(42));
        assert_eq!(answers[1].1.as_ref().unwrap(), &None);
        let e = answers[2].1.as_ref().unwrap_err();
        assert!(e.to_string().starts_with("offsets of t/2: "), "{e}");
        assert!(e.is_retriable());
    }
}
