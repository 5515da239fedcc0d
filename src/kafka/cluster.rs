//! The one shared handle to the Kafka cluster, and its metadata cache.
//!
//! It keeps what every request may share and nothing else: connections to
//! each broker, cached topic metadata and the coordinators last found. The
//! operations themselves live in [`super::ops`]; routing them to leaders and
//! retrying lives in [`super::leader`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use kafka_protocol::messages::{
    metadata_request::MetadataRequestTopic, MetadataRequest, MetadataResponse,
};
use tokio::time::Instant;

use super::error::{Context, KafkaError, Operation, ResponseError};
use super::ops::topic_name;
use super::pool::{Pool, WaitPool};
use super::security::Security;
use super::versions;
use super::watch::Watches;

/// How long cached topic metadata is trusted without an error to say otherwise.
const METADATA_MAX_AGE: Duration = Duration::from_secs(60);
/// How long a topic's `max.message.bytes` is trusted without a refusal to
/// say otherwise.
const LIMIT_MAX_AGE: Duration = Duration::from_secs(300);
/// How long a failure to read a topic's `max.message.bytes` is remembered
/// (writes fall back on Kafka's default meanwhile).
const LIMIT_UNKNOWN_AGE: Duration = Duration::from_secs(30);
/// The most topics whose `max.message.bytes` is cached at once.
const MAX_CACHED_LIMITS: usize = 4096;
/// Metadata at most this old counts as fresh: what it says of a partition
/// without a leader, or of a leader that cannot be reached, is believed
/// without asking again, and it gives keyed writes their partition count.
pub(super) const METADATA_FRESH: Duration = Duration::from_secs(1);
/// Pipelined connections per broker for produce, metadata, offsets and deletes.
const CONTROL_CONNECTIONS: usize = 2;
/// Pipelined connections per broker for fetches that do not wait.
const READ_CONNECTIONS: usize = 2;
/// Fetches per broker that may wait on the broker at once (each holds a connection).
const WAIT_CONNECTIONS: usize = 8;

/// A partition as metadata describes it.
#[derive(Debug, Clone)]
pub struct PartitionInfo {
    /// Partition number.
    pub id: i32,
    /// Broker id of the leader; negative while there is none (the brokers
    /// holding its in-sync replicas are down).
    pub leader: i32,
    /// Whether another in-sync replica is on a broker the cluster lists, so
    /// that Kafka can elect a new leader if this one fails: a leader that
    /// cannot be reached is then waited for, else the partition is offline.
    pub failover: bool,
}

/// A topic as metadata describes it.
#[derive(Debug)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Partitions ordered by number.
    pub partitions: Vec<PartitionInfo>,
    /// Partitions whose leader could not be reached when this copy was
    /// checked ([`Cluster::topic_for`] with `any_partition`); empty in
    /// metadata as cached.
    pub unreachable: Vec<i32>,
    fetched: Instant,
}

impl TopicInfo {
    /// Whether this metadata was fetched within [`METADATA_FRESH`].
    pub fn is_fresh(&self) -> bool {
        self.fetched.elapsed() < METADATA_FRESH
    }

    /// When this metadata was fetched.
    pub(super) fn fetched(&self) -> Instant {
        self.fetched
    }

    /// A copy that marks `unreachable` partitions as such.
    pub(super) fn with_unreachable(&self, unreachable: Vec<i32>) -> TopicInfo {
        TopicInfo {
            name: self.name.clone(),
            partitions: self.partitions.clone(),
            unreachable,
            fetched: self.fetched,
        }
    }

    /// A partition for records without a key or partition, as the Java
    /// producer's sticky partitioner picks one: at random among the
    /// partitions with a leader (here also one that could be reached), or
    /// among all of them when none has.
    pub fn sticky_partition(&self) -> i32 {
        use rand::Rng as _;
        let available: Vec<i32> = self
            .partitions
            .iter()
            .filter(|p| p.leader >= 0 && !self.unreachable.contains(&p.id))
            .map(|p| p.id)
            .collect();
        let mut rng = rand::rng();
        if available.is_empty() {
            rng.random_range(0..self.partitions.len().max(1) as i32)
        } else {
            available[rng.random_range(0..available.len())]
        }
    }

    /// The partition numbered `id`, or a 404-style error.
    pub fn partition(&self, id: i32) -> Result<&PartitionInfo, KafkaError> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.partitions.get(i))
            .ok_or_else(|| KafkaError::UnknownPartition {
                topic: self.name.clone(),
                partition: id,
                count: self.partitions.len(),
            })
    }
}

/// Settings of the cluster handle.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `host:port` addresses to bootstrap from.
    pub bootstrap: Vec<String>,
}

/// The connections to one broker, by purpose (see [`super::pool`]).
pub(super) struct Broker {
    /// Short calls: produce, metadata, offsets, deletes, group and transaction calls.
    pub(super) control: Pool,
    /// Fetches that do not wait on the broker.
    pub(super) reads: Pool,
    /// Fetches that wait on the broker, one connection each.
    pub(super) waits: WaitPool,
    pub(super) addr: String,
}

impl Broker {
    fn new(addr: String, security: &Security) -> Broker {
        Broker {
            control: Pool::new(&addr, CONTROL_CONNECTIONS, security),
            reads: Pool::new(&addr, READ_CONNECTIONS, security),
            waits: WaitPool::new(&addr, WAIT_CONNECTIONS, security),
            addr,
        }
    }
}

/// What a coordinator coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoordinatorKind {
    /// A consumer group.
    Group,
    /// A transactional id.
    Transaction,
}

struct Inner {
    /// TLS and SASL settings of every connection.
    security: Security,
    bootstrap: Vec<Pool>,
    brokers: RwLock<HashMap<i32, Arc<Broker>>>,
    topics: RwLock<HashMap<String, Arc<TopicInfo>>>,
    auto_create: OnceLock<bool>,
    /// Each topic's `max.message.bytes` (`None`: it could not be read), and
    /// when it was read; at most [`MAX_CACHED_LIMITS`] topics.
    limits: RwLock<HashMap<String, (Option<usize>, Instant)>>,
    /// Coordinator broker of each group or transactional id, as last found.
    coordinators: RwLock<HashMap<(CoordinatorKind, String), i32>>,
}

/// The shared handle. Cheap to clone; all clones share connections and metadata.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
    watches: Arc<Watches>,
}

impl Cluster {
    /// A handle for the cluster at `config.bootstrap`, over plaintext.
    /// Connects lazily.
    pub fn new(config: ClusterConfig) -> Cluster {
        Cluster::with_security(config, Security::default())
    }

    /// A handle for the cluster at `config.bootstrap` whose connections use
    /// TLS and SASL as `security` says. Connects lazily.
    pub fn with_security(config: ClusterConfig, security: Security) -> Cluster {
        Cluster {
            inner: Arc::new(Inner {
                bootstrap: config
                    .bootstrap
                    .iter()
                    .map(|a| Pool::new(a, 1, &security))
                    .collect(),
                security,
                brokers: RwLock::new(HashMap::new()),
                topics: RwLock::new(HashMap::new()),
                auto_create: OnceLock::new(),
                limits: RwLock::new(HashMap::new()),
                coordinators: RwLock::new(HashMap::new()),
            }),
            watches: Arc::new(Watches::default()),
        }
    }

    /// Answers when some broker answers a metadata request.
    pub async fn ready(&self, deadline: Instant) -> Result<(), KafkaError> {
        self.metadata(Some(vec![]), false, deadline)
            .await
            .map(|_| ())
    }

    /// Metadata for `topic`, cached. With `create`, asks the broker to create
    /// the topic if it allows auto-creation, and waits for its leaders.
    pub async fn topic(
        &self,
        topic: &str,
        create: bool,
        deadline: Instant,
    ) -> Result<Arc<TopicInfo>, KafkaError> {
        if let Some(t) = self.cached(topic) {
            return Ok(t);
        }
        // Set once the topic was seen being created by this call: its
        // creation is checked once, and its partitions waited for.
        let creating = AtomicBool::new(false);
        super::leader::retry(deadline, || async {
            let response = self.metadata(Some(vec![topic]), create, deadline).await?;
            let info = self
                .topic_info(topic, response, create, &creating, deadline)
                .await?;
            let info = Arc::new(info);
            if let Ok(mut topics) = self.inner.topics.write() {
                topics.insert(topic.to_string(), Arc::clone(&info));
            }
            Ok(info)
        })
        .await
    }

    /// Reads `topic` out of a metadata answer: an error while it is unknown
    /// or being created. Partitions without a leader are kept as such (they
    /// are offline, and the others are served), except in a topic this call
    /// saw being created, whose leaders are waited for.
    async fn topic_info(
        &self,
        topic: &str,
        response: MetadataResponse,
        create: bool,
        creating: &AtomicBool,
        deadline: Instant,
    ) -> Result<TopicInfo, KafkaError> {
        let leaders = |why| {
            KafkaError::broker(
                ResponseError::LeaderNotAvailable,
                Context::of(Operation::Leaders).topic(topic),
                Some(why),
            )
        };
        let listed: Vec<i32> = response.brokers.iter().map(|b| b.node_id.0).collect();
        let t = response
            .topics
            .into_iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))
            .ok_or_else(|| KafkaError::UnknownTopic(topic.to_string()))?;
        match ResponseError::try_from_code(t.error_code) {
            None => {}
            // A broker that creates topics on demand answers "unknown" (or
            // "no leader") until the new topic is ready: wait for it, as a
            // Java producer does, unless Kafka refuses to create it.
            // Otherwise the topic really is missing.
            Some(ResponseError::UnknownTopicOrPartition) => {
                if create && self.auto_create_enabled(deadline).await {
                    self.check_creation_once(topic, creating, deadline).await?;
                    return Err(leaders("the topic is being created"));
                }
                return Err(KafkaError::UnknownTopic(topic.to_string()));
            }
            Some(error) => {
                if create && error.is_retriable() && self.auto_create_enabled(deadline).await {
                    self.check_creation_once(topic, creating, deadline).await?;
                }
                let context = Context::of(Operation::Metadata).topic(topic);
                return Err(KafkaError::broker(error, context, None));
            }
        }
        let mut partitions: Vec<PartitionInfo> = t
            .partitions
            .iter()
            .map(|p| PartitionInfo {
                id: p.partition_index,
                leader: p.leader_id.0,
                failover: p
                    .isr_nodes
                    .iter()
                    .any(|r| r.0 != p.leader_id.0 && listed.contains(&r.0)),
            })
            .collect();
        partitions.sort_by_key(|p| p.id);
        if partitions.is_empty() {
            return Err(leaders("the topic has no partitions yet"));
        }
        if creating.load(Ordering::Relaxed) && partitions.iter().any(|p| p.leader < 0) {
            return Err(leaders("a partition of the new topic has no leader yet"));
        }
        Ok(TopicInfo {
            name: topic.to_string(),
            partitions,
            unreachable: Vec::new(),
            fetched: Instant::now(),
        })
    }

    /// The first time this call sees `topic` being created, asks Kafka
    /// whether it can be created at all (CreateTopics, validation only): a
    /// name that collides with an existing topic's is refused at once rather
    /// than waited for until the timeout (the broker's own auto-creation
    /// fails silently).
    async fn check_creation_once(
        &self,
        topic: &str,
        creating: &AtomicBool,
        deadline: Instant,
    ) -> Result<(), KafkaError> {
        if creating.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        self.check_creatable(topic, deadline).await
    }

    /// Whether the brokers create topics on first use (`auto.create.topics.enable`),
    /// asked once. If it cannot be asked, assume they do: the request's
    /// deadline still bounds the wait.
    async fn auto_create_enabled(&self, deadline: Instant) -> bool {
        if let Some(enabled) = self.inner.auto_create.get() {
            return *enabled;
        }
        match self.describe_auto_create(deadline).await {
            Ok(enabled) => *self.inner.auto_create.get_or_init(|| enabled),
            Err(e) => {
                tracing::debug!(error = %e, "cannot read auto.create.topics.enable");
                true
            }
        }
    }

    /// The largest record batch `topic` accepts (its `max.message.bytes`,
    /// else the broker's `message.max.bytes`), cached; `None` when it cannot
    /// be read (for want of the DescribeConfigs permission, say).
    pub async fn max_message_bytes(&self, topic: &str, deadline: Instant) -> Option<usize> {
        if let Some((limit, read)) = self.inner.limits.read().ok()?.get(topic).copied() {
            let age = if limit.is_some() {
                LIMIT_MAX_AGE
            } else {
                LIMIT_UNKNOWN_AGE
            };
            if read.elapsed() < age {
                return limit;
            }
        }
        self.refresh_max_message_bytes(topic, deadline).await
    }

    /// Reads `topic`'s `max.message.bytes` again (after a broker refused a
    /// batch as too large) and caches it.
    pub async fn refresh_max_message_bytes(&self, topic: &str, deadline: Instant) -> Option<usize> {
        let limit = match self.describe_max_message_bytes(topic, deadline).await {
            Ok(limit) => Some(limit),
            Err(e) => {
                tracing::debug!(topic, error = %e, "cannot read max.message.bytes");
                None
            }
        };
        self.cache_limit(topic, limit, Instant::now());
        limit
    }

    /// Remembers `topic`'s limit; when [`MAX_CACHED_LIMITS`] topics are
    /// cached already, the oldest entries make room.
    fn cache_limit(&self, topic: &str, limit: Option<usize>, read: Instant) {
        let Ok(mut limits) = self.inner.limits.write() else {
            return;
        };
        if limits.len() >= MAX_CACHED_LIMITS && !limits.contains_key(topic) {
            limits.retain(|_, (_, at)| at.elapsed() < LIMIT_MAX_AGE);
            while limits.len() >= MAX_CACHED_LIMITS {
                let Some(oldest) = limits
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(t, _)| t.clone())
                else {
                    break;
                };
                limits.remove(&oldest);
            }
        }
        limits.insert(topic.to_string(), (limit, read));
    }

    fn cached(&self, topic: &str) -> Option<Arc<TopicInfo>> {
        let topics = self.inner.topics.read().ok()?;
        topics
            .get(topic)
            .filter(|t| t.fetched.elapsed() < METADATA_MAX_AGE)
            .cloned()
    }

    /// Forgets cached metadata of `topic`, after an error says it is stale.
    pub fn invalidate(&self, topic: &str) {
        if let Ok(mut topics) = self.inner.topics.write() {
            topics.remove(topic);
        }
    }

    /// Asks any broker for the metadata of `topics` (`None`: all), and learns
    /// the brokers it names.
    pub(super) async fn metadata(
        &self,
        topics: Option<Vec<&str>>,
        create: bool,
        deadline: Instant,
    ) -> Result<MetadataResponse, KafkaError> {
        let request = MetadataRequest::default()
            .with_topics(topics.map(|ts| {
                ts.into_iter()
                    .map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t))))
                    .collect()
            }))
            .with_allow_auto_topic_creation(create);
        let response = self
            .ask_any_broker(deadline, request, versions::METADATA)
            .await?;
        self.learn_brokers(&response);
        Ok(response)
    }

    fn learn_brokers(&self, response: &MetadataResponse) {
        for b in &response.brokers {
            self.learn_broker(b.node_id.0, format!("{}:{}", b.host.as_str(), b.port));
        }
    }

    /// Remembers broker `id` at `addr`, unless it is known there already.
    pub(super) fn learn_broker(&self, id: i32, addr: String) {
        let Ok(mut brokers) = self.inner.brokers.write() else {
            return;
        };
        if brokers.get(&id).is_none_or(|known| known.addr != addr) {
            brokers.insert(id, Arc::new(Broker::new(addr, &self.inner.security)));
        }
    }

    /// The connections to broker `id`.
    pub(super) fn broker(&self, id: i32) -> Result<Arc<Broker>, KafkaError> {
        self.inner
            .brokers
            .read()
            .ok()
            .and_then(|b| b.get(&id).cloned())
            .ok_or_else(|| {
                KafkaError::broker(
                    ResponseError::LeaderNotAvailable,
                    Context::of(Operation::Route).broker(id),
                    Some("broker is not in the cluster metadata"),
                )
            })
    }

    /// Some broker this handle knows of, if any.
    pub(super) fn any_broker(&self) -> Option<(i32, Arc<Broker>)> {
        let brokers = self.inner.brokers.read().ok()?;
        brokers.iter().next().map(|(id, b)| (*id, Arc::clone(b)))
    }

    /// Every broker this handle knows of.
    pub(super) fn known_brokers(&self) -> Vec<Arc<Broker>> {
        self.inner
            .brokers
            .read()
            .map(|b| b.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The bootstrap servers' connections.
    pub(super) fn bootstrap(&self) -> &[Pool] {
        &self.inner.bootstrap
    }

    /// The coordinator of `key`, as last found.
    pub(super) fn cached_coordinator(&self, kind: CoordinatorKind, key: &str) -> Option<i32> {
        let coordinators = self.inner.coordinators.read().ok()?;
        coordinators.get(&(kind, key.to_string())).copied()
    }

    /// Remembers (`Some`) or forgets (`None`) the coordinator of `key`.
    pub(super) fn set_coordinator(&self, kind: CoordinatorKind, key: &str, id: Option<i32>) {
        if let Ok(mut c) = self.inner.coordinators.write() {
            match id {
                Some(id) => c.insert((kind, key.to_string()), id),
                None => c.remove(&(kind, key.to_string())),
            };
        }
    }

    /// Returns when any of `positions` may have records past its offset, or at
    /// `deadline`. Waiters on the same partition share one fetch that waits on
    /// the broker, sent over a connection no other request uses.
    pub async fn wait_for_data(&self, topic: &str, positions: &[(i32, i64)], deadline: Instant) {
        Watches::wait(self, topic, positions, deadline).await;
    }

    /// How many shared waiting fetches (one per topic and round, however many
    /// GETs wait on it) this handle has started.
    pub fn shared_fetches_started(&self) -> u64 {
        self.watches.rounds_started()
    }

    pub(super) fn watches(&self) -> &Arc<Watches> {
        &self.watches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_cache_is_bounded_and_keeps_the_newest() {
        let cluster = Cluster::new(ClusterConfig { bootstrap: vec![] });
        let start = Instant::now();
        for n in 0..MAX_CACHED_LIMITS + 10 {
            let at = start + Duration::from_millis(n as u64);
            cluster.cache_limit(&format!("t{n}"), Some(n), at);
        }
        let limits = cluster.inner.limits.read().unwrap();
        assert_eq!(limits.len(), MAX_CACHED_LIMITS);
        assert!(!limits.contains_key("t0"), "the oldest entry makes room");
        let newest = format!("t{}", MAX_CACHED_LIMITS + 9);
        assert_eq!(limits[&newest].0, Some(MAX_CACHED_LIMITS + 9));
    }
}
