//! Topics: list them, describe one (where each partition lives and where
//! its offsets stand, and the topic's own configs), create one for a
//! fixture, delete one.

use std::time::Duration;

use tokio::time::Instant;

use super::{check_topic_name, RecordsError};
use crate::kafka::{Cluster, KafkaError, OffsetQuery, PartitionLayout};

/// How long a topic call may take in all.
pub const TOPIC_TIMEOUT: Duration = Duration::from_secs(30);

/// A topic of the list.
#[derive(Debug, Clone)]
pub struct TopicSummary {
    /// Its name.
    pub name: String,
    /// How many partitions it has.
    pub partitions: usize,
    /// Whether Kafka keeps it for itself.
    pub internal: bool,
}

/// A topic described.
#[derive(Debug, Clone)]
pub struct TopicView {
    /// Its name.
    pub name: String,
    /// Whether Kafka keeps it for itself.
    pub internal: bool,
    /// Its partitions, by number.
    pub partitions: Vec<PartitionView>,
    /// The configs whose values are not Kafka's defaults (set on the topic
    /// or its brokers), by name (`None`: a secret).
    pub configs: Vec<(String, Option<String>)>,
}

/// A partition described: where it lives and where its offsets stand
/// (`None` while it has no leader to ask).
#[derive(Debug, Clone)]
pub struct PartitionView {
    /// Leader, replicas, in-sync and offline replicas.
    pub layout: PartitionLayout,
    /// The log start offset.
    pub start_offset: Option<i64>,
    /// The high watermark: the end of the replicated log.
    pub end_offset: Option<i64>,
    /// The last stable offset: the end a read_committed reader sees.
    pub last_stable_offset: Option<i64>,
}

/// Every topic, by name; Kafka's internal topics only with `internal`.
pub async fn list(cluster: &Cluster, internal: bool) -> Result<Vec<TopicSummary>, RecordsError> {
    let deadline = Instant::now() + TOPIC_TIMEOUT;
    let layouts = cluster.topic_layouts(None, deadline).await?;
    Ok(layouts
        .into_iter()
        .filter(|t| internal || !t.internal)
        .map(|t| TopicSummary {
            name: t.name,
            partitions: t.partitions.len(),
            internal: t.internal,
        })
        .collect())
}

/// `topic` described: one Metadata call, one DescribeConfigs call, and the
/// three offsets of every partition (one ListOffsets per leader for each,
/// all at once), whatever the partition count.
pub async fn describe(cluster: &Cluster, topic: &str) -> Result<TopicView, RecordsError> {
    let deadline = Instant::now() + TOPIC_TIMEOUT;
    let names = [topic];
    let (layouts, configs) = tokio::join!(
        cluster.topic_layouts(Some(&names), deadline),
        cluster.topic_configs(topic, deadline)
    );
    let layout = layouts?
        .into_iter()
        .next()
        .ok_or_else(|| KafkaError::UnknownTopic(topic.to_string()))?;
    let configs = configs?;
    let led: Vec<i32> = layout
        .partitions
        .iter()
        .filter(|p| p.leader.is_some())
        .map(|p| p.partition)
        .collect();
    let (starts, ends, stable) = if led.is_empty() {
        Default::default()
    } else {
        tokio::join!(
            cluster.list_offsets(topic, &led, OffsetQuery::Earliest, deadline),
            cluster.list_offsets(topic, &led, OffsetQuery::HighWatermark, deadline),
            cluster.list_offsets(topic, &led, OffsetQuery::LastStable, deadline),
        )
    };
    let offset_of = |answers: &Vec<(i32, Result<Option<i64>, KafkaError>)>, partition| {
        answers
            .iter()
            .find(|(p, _)| *p == partition)
            .and_then(|(_, r)| r.as_ref().ok().copied().flatten())
    };
    let partitions = layout
        .partitions
        .into_iter()
        .map(|p| PartitionView {
            start_offset: offset_of(&starts, p.partition),
            end_offset: offset_of(&ends, p.partition),
            last_stable_offset: offset_of(&stable, p.partition),
            layout: p,
        })
        .collect();
    Ok(TopicView {
        name: layout.name,
        internal: layout.internal,
        partitions,
        configs,
    })
}

/// What `POST /topics` asks for.
#[derive(Debug, Clone)]
pub struct NewTopic {
    /// The name.
    pub name: String,
    /// Partitions; `None`: the broker's default (`num.partitions`).
    pub partitions: Option<i32>,
    /// Replicas of each partition; `None`: the broker's default.
    pub replication_factor: Option<i16>,
    /// Topic configs.
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    /// Checks what can be checked before asking Kafka.
    pub fn check(&self) -> Result<(), RecordsError> {
        check_topic_name(&self.name)
            .map_err(|e| RecordsError::Invalid(format!("name: '{}' {e}", self.name)))?;
        if let Some(p) = self.partitions {
            if p < 1 {
                return Err(RecordsError::Invalid(format!(
                    "partitions: {p} is not a partition count; give 1 or more (or leave it out for the broker's default)"
                )));
            }
        }
        if let Some(r) = self.replication_factor {
            if r < 1 {
                return Err(RecordsError::Invalid(format!(
                    "replicationFactor: {r} is not a replica count; give 1 or more (or leave it out for the broker's default)"
                )));
            }
        }
        Ok(())
    }
}

/// Creates a topic and describes it once every partition has a leader.
pub async fn create(cluster: &Cluster, topic: &NewTopic) -> Result<TopicView, RecordsError> {
    topic.check()?;
    let deadline = Instant::now() + TOPIC_TIMEOUT;
    let configs: Vec<(&str, &str)> = topic
        .configs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    cluster
        .create_topic(
            &topic.name,
            topic.partitions.unwrap_or(-1),
            topic.replication_factor.unwrap_or(-1),
            &configs,
            deadline,
        )
        .await?;
    describe(cluster, &topic.name).await
}

/// Deletes a topic.
pub async fn delete(cluster: &Cluster, topic: &str) -> Result<(), RecordsError> {
    let deadline = Instant::now() + TOPIC_TIMEOUT;
    cluster.delete_topic(topic, deadline).await?;
    Ok(())
}
