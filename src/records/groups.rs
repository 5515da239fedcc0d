//! Consumer groups: list them, describe one with its committed offsets and
//! lag, and reset its offsets for a topic when it is stuck.

use std::collections::BTreeMap;

use tokio::time::Instant;

use super::topics::TOPIC_TIMEOUT;
use super::RecordsError;
use crate::kafka::{Cluster, GroupListing, GroupMember, KafkaError, OffsetQuery};

/// A group described, with its offsets.
#[derive(Debug, Clone)]
pub struct GroupView {
    /// The group id.
    pub group: String,
    /// Its state.
    pub state: String,
    /// `classic` or `consumer`.
    pub kind: String,
    /// Its live members.
    pub members: Vec<GroupMember>,
    /// Every committed offset, by topic and partition.
    pub offsets: Vec<GroupOffset>,
}

/// A committed offset and how far the partition's end is past it.
#[derive(Debug, Clone)]
pub struct GroupOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset committed.
    pub committed: i64,
    /// The partition's end offset (high watermark); `None` if it could not be read.
    pub end: Option<i64>,
}

impl GroupOffset {
    /// Records between the committed offset and the end.
    pub fn lag(&self) -> Option<i64> {
        self.end.map(|e| (e - self.committed).max(0))
    }
}

/// Every group of the cluster.
pub async fn list(cluster: &Cluster) -> Result<Vec<GroupListing>, RecordsError> {
    Ok(cluster.list_groups(Instant::now() + TOPIC_TIMEOUT).await?)
}

/// The end offset (high watermark) of each partition of `offsets`, by topic:
/// one ListOffsets per topic and leader.
async fn ends(
    cluster: &Cluster,
    partitions: &BTreeMap<String, Vec<i32>>,
    deadline: Instant,
) -> BTreeMap<(String, i32), i64> {
    let calls = partitions.iter().map(|(topic, ps)| async move {
        let answers = cluster
            .list_offsets(topic, ps, OffsetQuery::HighWatermark, deadline)
            .await;
        answers
            .into_iter()
            .filter_map(|(p, r)| Some(((topic.clone(), p), r.ok()??)))
            .collect::<Vec<_>>()
    });
    futures_util::future::join_all(calls)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// `group` described; a 404-style error when Kafka does not know it.
pub async fn describe(cluster: &Cluster, group: &str) -> Result<GroupView, RecordsError> {
    let deadline = Instant::now() + TOPIC_TIMEOUT;
    let (described, committed) = tokio::join!(
        cluster.describe_group(group, deadline),
        cluster.all_committed_offsets(group, deadline)
    );
    let committed = committed?;
    let described = match described? {
        Some(d) => d,
        None => {
            return Err(RecordsError::NotFound(format!(
                "group '{group}' is not known to Kafka (no members and no committed offsets)"
            )))
        }
    };
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (topic, partition, _) in &committed {
        by_topic.entry(topic.clone()).or_default().push(*partition);
    }
    let ends = ends(cluster, &by_topic, deadline).await;
    let offsets = committed
        .into_iter()
        .map(|(topic, partition, committed)| GroupOffset {
            end: ends.get(&(topic.clone(), partition)).copied(),
            topic,
            partition,
            committed,
        })
        .collect();
    Ok(GroupView {
        group: described.group,
        state: described.state,
        kind: described.kind,
        members: described.members,
        offsets,
    })
}

/// Where a reset moves a group's offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    /// Each partition's log start.
    Earliest,
    /// Each partition's end (high watermark).
    Latest,
    /// This offset, clamped to each partition's [start, end].
    Offset(i64),
    /// The first record at or after this time (ms); the end where none is.
    Timestamp(i64),
}

/// Moves `group`'s offsets for `topic` (`partitions`, or all) and commits
/// them; refused while the group has live members. The offsets committed.
pub async fn reset(
    cluster: &Cluster,
    group: &str,
    topic: &str,
    partitions: Option<Vec<i32>>,
    to: ResetTo,
) -> Result<Vec<(i32, i64)>, RecordsError> {
    let deadline = Instant::now() + TOPIC_TIMEOUT;
    let info = cluster.topic(topic, false, deadline).await?;
    let partitions = match partitions {
        Some(ps) => {
            for p in &ps {
                info.partition(*p)?;
            }
            ps
        }
        None => info.partitions.iter().map(|p| p.id).collect(),
    };
    cluster.check_group_unused(group, deadline).await?;
    let query = |q| cluster.list_offsets(topic, &partitions, q, deadline);
    let (starts, ends) = tokio::join!(
        query(OffsetQuery::Earliest),
        query(OffsetQuery::HighWatermark)
    );
    let wanted = match to {
        ResetTo::Timestamp(t) => Some(query(OffsetQuery::Timestamp(t)).await),
        _ => None,
    };
    let lookup = |answers: &Vec<(i32, Result<Option<i64>, KafkaError>)>, p: i32| {
        answers
            .iter()
            .find(|(q, _)| *q == p)
            .map(|(_, r)| r.clone())
            .unwrap_or(Ok(None))
    };
    let mut offsets = Vec::with_capacity(partitions.len());
    for p in &partitions {
        let start = lookup(&starts, *p)?.unwrap_or(0);
        let end = lookup(&ends, *p)?.unwrap_or(start);
        let offset = match to {
            ResetTo::Earliest => start,
            ResetTo::Latest => end,
            ResetTo::Offset(o) => o.clamp(start, end),
            ResetTo::Timestamp(_) => match &wanted {
                Some(w) => lookup(w, *p)?.unwrap_or(end),
                None => end,
            },
        };
        offsets.push((*p, offset));
    }
    offsets.sort();
    cluster
        .commit_offsets(group, topic, &offsets, deadline)
        .await?;
    Ok(offsets)
}
