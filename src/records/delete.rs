//! DELETE /records/{topic}: delete every record below an offset.
//!
//! With no parameters every record of every partition goes: the offset
//! defaults to each partition's end (its high watermark). An explicit offset
//! past a partition's end is refused before anything is deleted.

use std::time::Duration;

use tokio::time::Instant;

use super::RecordsError;
use crate::kafka::{Cluster, ErrorKind, OffsetQuery, Refusal};

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

/// Deletes records as `request` asks.
pub async fn run(
    cluster: &Cluster,
    request: &DeleteRequest,
) -> Result<Vec<LowWatermark>, RecordsError> {
    let deadline = Instant::now() + TIMEOUT;
    let topic = request.topic.as_str();
    let info = cluster.topic(topic, false, deadline).await?;
    let ids: Vec<i32> = match request.partition {
        Some(p) => vec![info.partition(p)?.id],
        None => info.partitions.iter().map(|p| p.id).collect(),
    };
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
    cluster
        .delete_records(topic, &offsets, deadline)
        .await
        .into_iter()
        .map(|(partition, result)| match result {
            Ok(low_watermark) => Ok(LowWatermark {
                partition,
                low_watermark,
            }),
            Err(e) if e.kind() == ErrorKind::Broker(Refusal::PolicyViolation) => Err(RecordsError::Invalid(format!(
                "topic '{topic}' does not allow deleting records: its cleanup.policy is not 'delete' (compacted topics keep their records)"
            ))),
            Err(e) if e.kind() == ErrorKind::Broker(Refusal::OffsetOutOfRange) => Err(RecordsError::Invalid(format!(
                "offset: {offset} is past the end of topic '{topic}' partition {partition}"
            ))),
            Err(e) => Err(e.into()),
        })
        .collect()
}
