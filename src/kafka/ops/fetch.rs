//! Fetch, read_committed: reads that answer at once, and the waiting fetches
//! of shared long polls (see [`super::super::watch`]).

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};
use tokio::time::Instant;

use super::super::batch::AbortedTxn;
use super::super::cluster::Cluster;
use super::super::error::{check, Context, KafkaError, Operation};
use super::super::leader::{timeout, ConnectionKind, PerPartition, Resend};
use super::super::versions;
use super::{per_partition, topic_name, PartitionAnswer, READ_COMMITTED};

/// A partition's answer to a fetch that does not wait.
#[derive(Debug, Clone)]
pub struct FetchedPartition {
    /// End of the log a read_committed reader may read.
    pub last_stable_offset: i64,
    /// First offset still in the log.
    pub log_start_offset: i64,
    /// Aborted transactions overlapping the returned batches.
    pub aborted: Vec<AbortedTxn>,
    /// Raw record batches, to decode with [`super::super::batch::decode`].
    pub records: Bytes,
}

impl PartitionAnswer for PartitionData {
    fn partition(&self) -> i32 {
        self.partition_index
    }
    fn error_code(&self) -> i16 {
        self.error_code
    }
}

/// How much one fetch may bring back.
#[derive(Debug, Clone, Copy)]
pub(super) struct FetchSize {
    /// How long the broker may wait for records (0: answer at once).
    pub max_wait_ms: i32,
    /// Most bytes per partition (the first batch comes whole whatever its size).
    pub partition_max_bytes: i32,
    /// Most bytes in all.
    pub max_bytes: i32,
}

/// A read_committed fetch of `topic` at `positions` (partition, offset).
pub(super) fn build_fetch_request(
    topic: &str,
    positions: &[(i32, i64)],
    size: FetchSize,
) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(size.max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(size.max_bytes)
        .with_isolation_level(READ_COMMITTED)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(
                positions
                    .iter()
                    .map(|(p, o)| {
                        FetchPartition::default()
                            .with_partition(*p)
                            .with_current_leader_epoch(-1)
                            .with_fetch_offset(*o)
                            .with_last_fetched_epoch(-1)
                            .with_log_start_offset(-1)
                            .with_partition_max_bytes(size.partition_max_bytes)
                    })
                    .collect(),
            )])
}

/// Each partition's records and offsets, or its error.
pub(super) fn read_fetch_response(
    topic: &str,
    response: FetchResponse,
) -> Result<PerPartition<FetchedPartition>, KafkaError> {
    let context = || Context::of(Operation::Fetch).topic(topic);
    check(response.error_code, context, None)?;
    let entries = response.responses.into_iter().flat_map(|t| t.partitions);
    Ok(per_partition(entries, context, |p| FetchedPartition {
        last_stable_offset: if p.last_stable_offset >= 0 {
            p.last_stable_offset
        } else {
            p.high_watermark
        },
        log_start_offset: p.log_start_offset,
        aborted: p
            .aborted_transactions
            .unwrap_or_default()
            .into_iter()
            .map(|a| AbortedTxn {
                producer_id: a.producer_id.0,
                first_offset: a.first_offset,
            })
            .collect(),
        records: p.records.unwrap_or_default(),
    }))
}

/// For each partition of a waiting fetch's answer, whether it has news for a
/// reader at `positions`: records, a moved end, or an error.
pub(super) fn read_news(response: FetchResponse, positions: &[(i32, i64)]) -> Vec<(i32, bool)> {
    response
        .responses
        .into_iter()
        .flat_map(|t| t.partitions)
        .map(|p| {
            let offset = positions
                .iter()
                .find(|(gp, _)| *gp == p.partition_index)
                .map_or(0, |g| g.1);
            let news = p.error_code != 0
                || p.last_stable_offset > offset
                || p.records.as_ref().is_some_and(|r| !r.is_empty());
            (p.partition_index, news)
        })
        .collect()
}

impl Cluster {
    /// Fetches from each partition at its offset without waiting for new data:
    /// at most `partition_max_bytes` per partition and `max_bytes` in all, except
    /// that the first partition's first batch comes whole whatever its size.
    pub async fn fetch(
        &self,
        topic: &str,
        positions: &[(i32, i64)],
        partition_max_bytes: i32,
        max_bytes: i32,
        deadline: Instant,
    ) -> PerPartition<FetchedPartition> {
        let size = FetchSize {
            max_wait_ms: 0,
            partition_max_bytes,
            max_bytes,
        };
        self.per_leader(
            topic,
            positions.to_vec(),
            deadline,
            ConnectionKind::Reads,
            Resend::Idempotent,
            |conn, positions| {
                let request = build_fetch_request(topic, &positions, size);
                async move {
                    let response = conn.call(request, versions::FETCH).await?;
                    read_fetch_response(topic, response)
                }
            },
        )
        .await
    }

    /// One waiting fetch for a watch round: returns, for each partition, whether
    /// it has news (records, a moved end, or an error).
    pub(in super::super) async fn wait_round(
        &self,
        topic: &str,
        positions: &[(i32, i64)],
        max_wait: Duration,
    ) -> Result<Vec<(i32, bool)>, KafkaError> {
        let deadline = Instant::now() + max_wait + Duration::from_secs(5);
        let info = self.topic(topic, false, deadline).await?;
        let mut by_leader: HashMap<i32, Vec<(i32, i64)>> = HashMap::new();
        for (p, o) in positions {
            let leader = info.partition(*p)?.leader;
            // An offline partition has no news until it has a leader again.
            if leader >= 0 {
                by_leader.entry(leader).or_default().push((*p, *o));
            }
        }
        if by_leader.is_empty() {
            tokio::time::sleep(max_wait).await;
            return Ok(Vec::new());
        }
        let size = FetchSize {
            max_wait_ms: max_wait.as_millis() as i32,
            partition_max_bytes: 1,
            max_bytes: i32::MAX,
        };
        let rounds = by_leader.into_iter().map(|(leader, positions)| async move {
            let broker = self.broker(leader)?;
            let lease = broker.waits.take(deadline).await?;
            let request = build_fetch_request(topic, &positions, size);
            let result = timeout(deadline, lease.conn.call(request, versions::FETCH)).await;
            broker.waits.put(lease);
            Ok::<_, KafkaError>(read_news(result?, &positions))
        });
        let mut out = Vec::new();
        for r in join_all(rounds).await {
            out.extend(r?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse};
    use kafka_protocol::messages::ProducerId;
    use kafka_protocol::ResponseError;

    use super::*;
    use crate::kafka::error::{ErrorKind, Refusal};

    #[test]
    fn a_request_reads_committed_records_at_each_position() {
        let size = FetchSize {
            max_wait_ms: 0,
            partition_max_bytes: 1024,
            max_bytes: 4096,
        };
        let request = build_fetch_request("t", &[(0, 5), (2, 9)], size);
        assert_eq!(request.isolation_level, READ_COMMITTED);
        assert_eq!((request.max_wait_ms, request.max_bytes), (0, 4096));
        let partitions = &request.topics[0].partitions;
        let at: Vec<(i32, i64, i32)> = partitions
            .iter()
            .map(|p| (p.partition, p.fetch_offset, p.partition_max_bytes))
            .collect();
        assert_eq!(at, [(0, 5, 1024), (2, 9, 1024)]);
    }

    fn partition(index: i32, code: i16, lso: i64, hw: i64) -> PartitionData {
        PartitionData::default()
            .with_partition_index(index)
            .with_error_code(code)
            .with_last_stable_offset(lso)
            .with_high_watermark(hw)
            .with_log_start_offset(2)
    }

    fn response(partitions: Vec<PartitionData>) -> FetchResponse {
        FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
            .with_topic(topic_name("t"))
            .with_partitions(partitions)])
    }

    #[test]
    fn an_answer_gives_each_partition_its_stable_end_and_aborted_transactions() {
        let aborted = partition(0, 0, 10, 12).with_aborted_transactions(Some(vec![
            AbortedTransaction::default()
                .with_producer_id(ProducerId(7))
                .with_first_offset(3),
        ]));
        // An old broker without a last stable offset: the high watermark.
        let old = partition(1, 0, -1, 8);
        let gone = partition(2, ResponseError::OffsetOutOfRange.code(), -1, -1);
        let answers = read_fetch_response("t", response(vec![aborted, old, gone])).unwrap();
        let first = answers[0].1.as_ref().unwrap();
        assert_eq!((first.last_stable_offset, first.log_start_offset), (10, 2));
        assert_eq!(first.aborted[0].producer_id, 7);
        assert_eq!(first.aborted[0].first_offset, 3);
        assert_eq!(answers[1].1.as_ref().unwrap().last_stable_offset, 8);
        let e = answers[2].1.as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Broker(Refusal::OffsetOutOfRange));
        assert!(e.to_string().starts_with("fetching from t/2: "), "{e}");
    }

    #[test]
    fn a_waiting_fetch_has_news_when_the_end_moved_past_the_reader() {
        let answer = response(vec![
            partition(0, 0, 5, 5),
            partition(1, 0, 7, 7),
            partition(2, ResponseError::NotLeaderOrFollower.code(), -1, -1),
        ]);
        let news = read_news(answer, &[(0, 5), (1, 5), (2, 0)]);
        assert_eq!(news, [(0, false), (1, true), (2, true)]);
    }
}
