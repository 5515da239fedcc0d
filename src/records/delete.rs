//! DELETE /records/{topic}: delete every record below an offset.
//!
//! With no parameters every record of every partition goes: the offset
//! defaults to each partition's end (its high watermark). An explicit offset
//! past a partition's end is refused before anything is deleted. A DELETE of
//! every partition truncates those that can be reached and names the others
//! (the HTTP layer answers it with a failure status, so that a partial
//! truncation is noticed).

use std::time::Duration;

use tokio::time::Instant;

use super::{RecordsError, Unavailable};
use crate::kafka::{Cluster, ErrorKind, Need, OffsetQuery, Refusal};

/// How long a delete may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A validated DELETE.
#[derive(Debug, Clone)]
pub struct DeleteRequest {
    /// Topic to truncate.
    pub topic: String,
    /// Only this partition, else all.
    pub partition: Option<i32>,
    /// Delete records below this offset, else below each partition's end.
    pub offset: Option<i64>,
}

/// A partition's new log start offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LowWatermark {
    /// Partition.
    pub partition: i32,
    /// First offset still in the log.
    pub low_watermark: i64,
}

/// What a DELETE did.
#[derive(Debug, Clone)]
pub struct Deleted {
    /// The partitions truncated, with their new log start.
    pub partitions: Vec<LowWatermark>,
    /// Partitions of a DELETE of every partition that could not be reached,
    /// and were not truncated.
    pub unavailable: Vec<Unavailable>,
}

/// Deletes records as `request` asks:
///
/// 1. the partitions: the one named (refreshing cached metadata that does
///    not know it), else every partition, counted on fresh metadata, that
///    can be reached now (the others are reported, not waited for);
/// 2. with an explicit offset, check it against each partition's end before
///    deleting anything;
/// 3. delete, one request per leader.
pub async fn run(cluster: &Cluster, request: &DeleteRequest) -> Result<Deleted, RecordsError> {
    let deadline = Instant::now() + TIMEOUT;
    let topic = request.topic.as_str();
    let (ids, mut unavailable) = partitions_to_delete(cluster, request, deadline).await?;
    let offset = match request.offset {
        None => -1, // Kafka's "up to the high watermark"
        Some(offset) => {
            for (partition, end) in cluster
                .list_offsets(topic, &ids, OffsetQuery::HighWatermark, deadline)
                .await
            {
                let end = end?.unwrap_or(0);
                if offset > end {
                    return Err(RecordsError::Invalid(format!(
                        "offset: {offset} is past the end of topic '{topic}' partition {partition} (its end offset is {end}); use an offset up to {end}, or leave offset out to delete everything"
                    )));
                }
            }
            offset
        }
    };
    let offsets: Vec<(i32, i64)> = ids.iter().map(|p| (*p, offset)).collect();
    let mut partitions = Vec::with_capacity(ids.len());
    for (partition, result) in cluster.delete_records(topic, &offsets, deadline).await {
        match result {
            Ok(low_watermark) => partitions.push(LowWatermark {
                partition,
                low_watermark,
            }),
            Err(e) if e.kind() == ErrorKind::Broker(Refusal::PolicyViolation) => return Err(RecordsError::Invalid(format!(
                "topic '{topic}' does not allow deleting records: its cleanup.policy is not 'delete' (compacted topics keep their records)"
            ))),
            Err(e) if e.kind() == ErrorKind::Broker(Refusal::OffsetOutOfRange) => return Err(RecordsError::Invalid(format!(
                "offset: {offset} is past the end of topic '{topic}' partition {partition}"
            ))),
            Err(e) if e.kind() == ErrorKind::PartitionUnavailable && request.partition.is_none() => {
                unavailable.push(Unavailable { partition, error: e })
            }
            Err(e) => return Err(e.into()),
        }
    }
    if partitions.is_empty() && !unavailable.is_empty() {
        return Err(Unavailable::all(topic, unavailable));
    }
    unavailable.sort_by_key(|u| u.partition);
    Ok(Deleted {
        partitions,
        unavailable,
    })
}

/// Step 1: the partition named, or every partition that can be reached now
/// and the others with why.
async fn partitions_to_delete(
    cluster: &Cluster,
    request: &DeleteRequest,
    deadline: Instant,
) -> Result<(Vec<i32>, Vec<Unavailable>), RecordsError> {
    let topic = request.topic.as_str();
    let need = Need {
        partition: request.partition,
        // "Every record of the topic" includes partitions added a moment ago.
        current_count: request.partition.is_none(),
        any_partition: false,
    };
    super::partitions_to_serve(cluster, topic, request.partition, need, deadline).await
}
