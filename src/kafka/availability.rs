//! Partial outages: which partitions of a topic can be served now, and
//! metadata current enough for what a request names.
//!
//! A partition is *unavailable* when Kafka names no leader for it in fresh
//! metadata (the brokers holding its in-sync replicas are down), or when its
//! leader cannot be connected to after a metadata refresh. Requests over a
//! whole topic (a GET or DELETE of every partition, records the service
//! places) leave such partitions out and say so, instead of waiting for them
//! until their timeout; a request naming the partition fails at once
//! (see [`Cluster::per_leader`](super::cluster::Cluster)), unless another
//! in-sync replica can take over, which is then waited for.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::join_all;
use tokio::time::Instant;

use super::cluster::{Cluster, TopicInfo};
use super::error::KafkaError;

/// How current a request needs a topic's metadata to be.
#[derive(Debug, Clone, Copy, Default)]
pub struct Need {
    /// The highest partition the request names: cached metadata that does
    /// not know it is refreshed before the partition is called unknown
    /// (partitions may have been added since).
    pub partition: Option<i32>,
    /// The partition count must be current (keyed records, deleting every
    /// partition): metadata older than a second is refreshed.
    pub current_count: bool,
    /// Records go to a partition the service chooses: partitions whose
    /// leader cannot be reached now are marked in the answer
    /// ([`TopicInfo::unreachable`]), so that the choice avoids them.
    pub any_partition: bool,
}

/// Which partitions of a topic can be served now.
#[derive(Debug)]
pub struct Availability {
    /// The metadata the answer is based on.
    pub info: Arc<TopicInfo>,
    /// Partitions whose leader answered (or that no check was needed for).
    pub available: Vec<i32>,
    /// The others, each with why ([`KafkaError::PartitionUnavailable`]).
    pub unavailable: Vec<(i32, KafkaError)>,
}

impl Cluster {
    /// Metadata of `topic` as current as `need` says (see [`Need`]); with
    /// `create`, as [`Cluster::topic`].
    pub async fn topic_for(
        &self,
        topic: &str,
        need: Need,
        create: bool,
        deadline: Instant,
    ) -> Result<Arc<TopicInfo>, KafkaError> {
        let started = Instant::now();
        let mut info = self.topic(topic, create, deadline).await?;
        let stale = info.fetched() < started
            && ((need.current_count && !info.is_fresh())
                || need
                    .partition
                    .is_some_and(|p| p >= 0 && p as usize >= info.partitions.len()));
        if stale {
            self.invalidate(topic);
            info = self.topic(topic, create, deadline).await?;
        }
        if !need.any_partition {
            return Ok(info);
        }
        let ids: Vec<i32> = info.partitions.iter().map(|p| p.id).collect();
        let checked = self.check_partitions(topic, &ids, deadline).await?;
        if checked.unavailable.is_empty() {
            return Ok(checked.info);
        }
        let unreachable = checked.unavailable.iter().map(|(p, _)| *p).collect();
        Ok(Arc::new(checked.info.with_unreachable(unreachable)))
    }

    /// Which of `ids` can be served now: a partition without a leader in
    /// fresh metadata, or whose leader cannot be connected to after a
    /// metadata refresh, is unavailable, even while another replica is about
    /// to take over (the caller serves the others rather than wait). Costs
    /// nothing but a look at the connection pools while every leader is up.
    pub async fn check_partitions(
        &self,
        topic: &str,
        ids: &[i32],
        deadline: Instant,
    ) -> Result<Availability, KafkaError> {
        let mut info = self.topic(topic, false, deadline).await?;
        let mut suspects = self.suspects(&info, ids, deadline).await;
        if !suspects.is_empty() && !info.is_fresh() {
            // Ask again: the partitions may have moved to live brokers.
            self.invalidate(topic);
            info = self.topic(topic, false, deadline).await?;
            let again: Vec<i32> = suspects.iter().map(|(p, _)| *p).collect();
            suspects = self.suspects(&info, &again, deadline).await;
        }
        let available = ids
            .iter()
            .copied()
            .filter(|p| !suspects.iter().any(|(s, _)| s == p))
            .collect();
        Ok(Availability {
            info,
            available,
            unavailable: suspects,
        })
    }

    /// The partitions of `ids` without a leader, or whose leader cannot be
    /// connected to now, with why.
    async fn suspects(
        &self,
        info: &TopicInfo,
        ids: &[i32],
        deadline: Instant,
    ) -> Vec<(i32, KafkaError)> {
        let mut out = Vec::new();
        let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
        for id in ids {
            match info.partition(*id) {
                Ok(p) if p.leader < 0 => out.push((*id, no_leader(&info.name, *id))),
                Ok(p) => by_leader.entry(p.leader).or_default().push(*id),
                // Not a partition of the topic: the caller's call reports it.
                Err(_) => {}
            }
        }
        let checks = by_leader.into_iter().map(|(leader, ids)| async move {
            let reached = async {
                let broker = self.broker(leader)?;
                broker.control.get(deadline).await.map(|_| ())
            };
            (leader, ids, reached.await)
        });
        for (leader, ids, reached) in join_all(checks).await {
            if let Err(e) = reached {
                out.extend(
                    ids.into_iter()
                        .map(|p| (p, leader_unreachable(&info.name, p, leader, &e))),
                );
            }
        }
        out.sort_by_key(|(p, _)| *p);
        out
    }
}

/// A partition that Kafka names no leader for.
pub(super) fn no_leader(topic: &str, partition: i32) -> KafkaError {
    KafkaError::PartitionUnavailable {
        topic: topic.to_string(),
        partition,
        reason: "it has no leader: the brokers holding its in-sync replicas are down".into(),
    }
}

/// A partition whose leader, broker `leader`, could not be reached (`why`).
pub(super) fn leader_unreachable(
    topic: &str,
    partition: i32,
    leader: i32,
    why: &KafkaError,
) -> KafkaError {
    KafkaError::PartitionUnavailable {
        topic: topic.to_string(),
        partition,
        reason: format!("its leader, broker {leader}, cannot be reached ({why})"),
    }
}
