//! ListOffsets: a partition's start, its ends, or the offset at a time.

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::list_offsets_response::ListOffsetsPartitionResponse;
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, ListOffsetsResponse};
use std::collections::HashMap;

use futures_util::future::join_all;
use tokio::time::Instant;

use super::super::cluster::Cluster;
use super::super::error::{Context, KafkaError, Operation};
use super::super::leader::{timeout, ConnectionKind, PerPartition, Resend};
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

/// A ListOffsets request for the last stable offsets of several topics' partitions.
pub(super) fn build_last_stable_request(partitions: &[(&str, Vec<i32>)]) -> ListOffsetsRequest {
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(READ_COMMITTED)
        .with_topics(
            partitions
                .iter()
                .map(|(topic, ps)| {
                    ListOffsetsTopic::default()
                        .with_name(topic_name(topic))
                        .with_partitions(
                            ps.iter()
                                .map(|p| {
                                    ListOffsetsPartition::default()
                                        .with_partition_index(*p)
                                        .with_current_leader_epoch(-1)
                                        .with_timestamp(-1)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
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

/// A partition's last stable offset, or why there is none.
pub type LastStable = ((String, i32), Result<i64, KafkaError>);

impl Cluster {
    /// The last stable offset (the end a read_committed reader sees) of each
    /// of `partitions`, by topic: one ListOffsets per leader, whatever the
    /// topics, and no retry (callers that poll simply ask again; an error
    /// that says the metadata is stale makes it be read again).
    pub async fn last_stable_offsets(
        &self,
        partitions: &[(&str, Vec<i32>)],
        deadline: Instant,
    ) -> Vec<LastStable> {
        let mut out: Vec<LastStable> = Vec::new();
        let mut by_leader: HashMap<i32, Vec<(&str, Vec<i32>)>> = HashMap::new();
        for (topic, ps) in partitions {
            let info = match self.topic(topic, false, deadline).await {
                Ok(info) => info,
                Err(e) => {
                    out.extend(ps.iter().map(|p| ((topic.to_string(), *p), Err(e.clone()))));
                    continue;
                }
            };
            for p in ps {
                match info.partition(*p) {
                    Ok(part) => {
                        let of_leader = by_leader.entry(part.leader).or_default();
                        match of_leader.iter_mut().find(|(t, _)| t == topic) {
                            Some((_, leader_ps)) => leader_ps.push(*p),
                            None => of_leader.push((topic, vec![*p])),
                        }
                    }
                    Err(e) => out.push(((topic.to_string(), *p), Err(e))),
                }
            }
        }
        let calls = by_leader.into_iter().map(|(leader, asked)| async move {
            let answer = async {
                let conn = self.broker(leader)?.control.get(deadline).await?;
                let request = build_last_stable_request(&asked);
                timeout(deadline, conn.call(request, versions::LIST_OFFSETS)).await
            };
            match answer.await {
                Ok(response) => read_last_stable_response(response),
                Err(e) => asked
                    .iter()
                    .flat_map(|(t, ps)| ps.iter().map(|p| ((t.to_string(), *p), Err(e.clone()))))
                    .collect(),
            }
        });
        for answers in join_all(calls).await {
            out.extend(answers);
        }
        for ((topic, _), answer) in &out {
            if answer.as_ref().is_err_and(KafkaError::invalidates_metadata) {
                self.invalidate(topic);
            }
        }
        out
    }
}

/// Each partition's last stable offset in an answer about several topics.
pub(super) fn read_last_stable_response(response: ListOffsetsResponse) -> Vec<LastStable> {
    response
        .topics
        .into_iter()
        .flat_map(|t| {
            let topic = t.name.0.to_string();
            let context = || Context::of(Operation::ListOffsets).topic(&topic);
            per_partition(t.partitions, context, |p| p.offset)
                .into_iter()
                .map(|(p, answer)| ((topic.clone(), p), answer))
                .collect::<Vec<_>>()
        })
        .collect()
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
    fn last_stable_offsets_of_several_topics_go_in_one_request() {
        let request = build_last_stable_request(&[("a", vec![0, 2]), ("b", vec![1])]);
        assert_eq!(request.isolation_level, READ_COMMITTED);
        let asked: Vec<(String, Vec<i32>)> = request
            .topics
            .iter()
            .map(|t| {
                let ps = t.partitions.iter().map(|p| p.partition_index).collect();
                (t.name.0.to_string(), ps)
            })
            .collect();
        assert_eq!(
            asked,
            [("a".to_string(), vec![0, 2]), ("b".to_string(), vec![1])]
        );
        assert!(request.topics[0]
            .partitions
            .iter()
            .all(|p| p.timestamp == -1));
        let response =
            ListOffsetsResponse::default().with_topics(vec![ListOffsetsTopicResponse::default()
                .with_name(topic_name("b"))
                .with_partitions(vec![ListOffsetsPartitionResponse::default()
                    .with_partition_index(1)
                    .with_offset(12)])]);
        let answers = read_last_stable_response(response);
        assert_eq!(answers.len(), 1);
        assert_eq!(answers[0].0, ("b".to_string(), 1));
        assert_eq!(*answers[0].1.as_ref().unwrap(), 12);
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
