//! The one shared handle to the Kafka cluster.
//!
//! It keeps what every request may share and nothing else: connections to
//! each broker and cached topic metadata. Every operation takes a deadline and
//! retries what is safe to retry (a leader that moved, a broker that is
//! briefly away) until then; a write is never sent again once it may have
//! reached a broker. When no broker answers at all, operations fail at once
//! ([`KafkaError::ClusterUnreachable`]) rather than at their deadline.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use kafka_protocol::messages::{
    create_topics_request::{CreatableTopic, CreatableTopicConfig},
    delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic},
    describe_configs_request::DescribeConfigsResource,
    fetch_request::{FetchPartition, FetchTopic},
    list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
    metadata_request::MetadataRequestTopic,
    produce_request::{PartitionProduceData, TopicProduceData},
    BrokerId, CreateTopicsRequest, DeleteRecordsRequest, DescribeConfigsRequest, FetchRequest,
    FindCoordinatorRequest, ListOffsetsRequest, MetadataRequest, MetadataResponse, ProduceRequest,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use super::batch::AbortedTxn;
use super::conn::Connection;
use super::error::{check, KafkaError, ResponseError};
use super::pool::{Lease, Pool, WaitPool};
use super::security::Security;
use super::versions;
use super::watch::Watches;

/// How long cached topic metadata is trusted without an error to say otherwise.
const METADATA_MAX_AGE: Duration = Duration::from_secs(60);
/// Pipelined connections per broker for produce, metadata, offsets and deletes.
const CONTROL_CONNECTIONS: usize = 2;
/// Pipelined connections per broker for fetches that do not wait.
const READ_CONNECTIONS: usize = 2;
/// Fetches per broker that may wait on the broker at once (each holds a connection).
const WAIT_CONNECTIONS: usize = 8;
/// DescribeConfigs resource type of a broker.
const BROKER_RESOURCE: i8 = 4;
/// Isolation level READ_COMMITTED in Fetch and ListOffsets.
const READ_COMMITTED: i8 = 1;
/// Isolation level READ_UNCOMMITTED in ListOffsets (gives the high watermark).
const READ_UNCOMMITTED: i8 = 0;

/// A partition as metadata describes it.
#[derive(Debug, Clone)]
pub struct PartitionInfo {
    /// Partition number.
    pub id: i32,
    /// Broker id of the leader; negative while there is none.
    pub leader: i32,
}

/// A topic as metadata describes it.
#[derive(Debug)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Partitions ordered by number.
    pub partitions: Vec<PartitionInfo>,
    fetched: Instant,
}

impl TopicInfo {
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

/// A partition's answer to a fetch that does not wait.
#[derive(Debug, Clone)]
pub struct FetchedPartition {
    /// End of the log a read_committed reader may read.
    pub last_stable_offset: i64,
    /// First offset still in the log.
    pub log_start_offset: i64,
    /// Aborted transactions overlapping the returned batches.
    pub aborted: Vec<AbortedTxn>,
    /// Raw record batches, to decode with [`super::batch::decode`].
    pub records: Bytes,
}

/// Where the broker put a produced batch.
#[derive(Debug, Clone, Copy)]
pub struct ProduceAck {
    /// Offset of the batch's first record.
    pub base_offset: i64,
    /// The broker's append time on LogAppendTime topics, else `None`.
    pub log_append_time: Option<i64>,
}

/// Settings of the cluster handle.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `host:port` addresses to bootstrap from.
    pub bootstrap: Vec<String>,
}

struct Broker {
    control: Pool,
    reads: Pool,
    waits: WaitPool,
    addr: String,
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

struct Inner {
    /// TLS and SASL settings of every connection.
    security: Security,
    bootstrap: Vec<Pool>,
    brokers: RwLock<HashMap<i32, Arc<Broker>>>,
    topics: RwLock<HashMap<String, Arc<TopicInfo>>>,
    auto_create: std::sync::OnceLock<bool>,
    /// Coordinator broker of each group or transactional id, as last found.
    coordinators: RwLock<HashMap<(CoordinatorKind, String), i32>>,
}

/// What a coordinator coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoordinatorKind {
    /// A consumer group.
    Group,
    /// A transactional id.
    Transaction,
}

/// The shared handle. Cheap to clone; all clones share connections and metadata.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
    watches: Arc<Watches>,
}

/// Which failed calls [`Cluster::per_leader`] may send again.
#[derive(Debug, Clone, Copy)]
enum Resend {
    /// Reads, offset look-ups and deletes: sending one twice does no harm, so
    /// every retriable error is retried, a broken connection included.
    Always,
    /// Plain writes are not idempotent: only a refusal that proves nothing was
    /// appended is retried. A connection that breaks after the request went
    /// out leaves its fate unknown, so the write is reported as failed rather
    /// than risk writing its records twice.
    Refused,
}

impl Resend {
    /// Whether a partition's error in a broker's answer may be retried.
    fn answered(self, e: &KafkaError) -> bool {
        match self {
            Resend::Always => e.is_retriable(),
            Resend::Refused => produce_retriable(e),
        }
    }

    /// Whether a call that failed after its request may have reached the
    /// broker (a broken connection, a timeout) may be sent again.
    fn after_sending(self, e: &KafkaError) -> bool {
        match self {
            Resend::Always => e.is_retriable(),
            Resend::Refused => false,
        }
    }
}

/// Which connections of a broker a call should use.
#[derive(Debug, Clone, Copy)]
enum Lane {
    Control,
    Reads,
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
                auto_create: std::sync::OnceLock::new(),
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
        retry(deadline, || async {
            let response = self.metadata(Some(vec![topic]), create, deadline).await?;
            let t = response
                .topics
                .into_iter()
                .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))
                .ok_or_else(|| KafkaError::UnknownTopic(topic.to_string()))?;
            match ResponseError::try_from_code(t.error_code) {
                None => {}
                Some(ResponseError::UnknownTopicOrPartition) => {
                    // A broker that creates topics on demand answers "unknown"
                    // until the new topic is ready: wait for it, as a Java
                    // producer does. Otherwise the topic really is missing.
                    if create && self.auto_create_enabled(deadline).await {
                        return Err(KafkaError::broker(
                            ResponseError::LeaderNotAvailable,
                            format!("topic '{topic}'"),
                            Some("the topic is being created"),
                        ));
                    }
                    return Err(KafkaError::UnknownTopic(topic.to_string()));
                }
                Some(error) => {
                    return Err(KafkaError::broker(
                        error,
                        format!("metadata of topic '{topic}'"),
                        None,
                    ))
                }
            }
            let mut partitions: Vec<PartitionInfo> = t
                .partitions
                .iter()
                .map(|p| PartitionInfo {
                    id: p.partition_index,
                    leader: p.leader_id.0,
                })
                .collect();
            partitions.sort_by_key(|p| p.id);
            if partitions.is_empty() || partitions.iter().any(|p| p.leader < 0) {
                // A topic being created, or a leader election under way.
                return Err(KafkaError::broker(
                    ResponseError::LeaderNotAvailable,
                    format!("topic '{topic}'"),
                    Some("a partition has no leader yet"),
                ));
            }
            let info = Arc::new(TopicInfo {
                name: topic.to_string(),
                partitions,
                fetched: Instant::now(),
            });
            if let Ok(mut topics) = self.inner.topics.write() {
                topics.insert(topic.to_string(), Arc::clone(&info));
            }
            Ok(info)
        })
        .await
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

    async fn describe_auto_create(&self, deadline: Instant) -> Result<bool, KafkaError> {
        const KEY: &str = "auto.create.topics.enable";
        let (id, broker) = self
            .inner
            .brokers
            .read()
            .ok()
            .and_then(|b| b.iter().next().map(|(id, b)| (*id, Arc::clone(b))))
            .ok_or_else(|| KafkaError::Unreachable("no broker known".into()))?;
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(BROKER_RESOURCE)
                .with_resource_name(StrBytes::from_string(id.to_string()))
                .with_configuration_keys(Some(vec![StrBytes::from_static_str(KEY)])),
        ]);
        let conn = broker.control.get(deadline).await?;
        let response = timeout(deadline, conn.call(request, versions::DESCRIBE_CONFIGS)).await?;
        let result = response
            .results
            .into_iter()
            .next()
            .ok_or_else(|| KafkaError::Protocol("empty DescribeConfigs response".into()))?;
        check(
            result.error_code,
            || format!("describing broker {id}"),
            None,
        )?;
        Ok(result
            .configs
            .iter()
            .find(|c| c.name.as_str() == KEY)
            .and_then(|c| c.value.as_ref())
            .is_none_or(|v| v.as_str() == "true"))
    }

    fn cached(&self, topic: &str) -> Option<Arc<TopicInfo>> {
        let topics = self.inner.topics.read().ok()?;
        topics
            .get(topic)
            .filter(|t| t.fetched.elapsed() < METADATA_MAX_AGE)
            .cloned()
    }

    /// A connection to the coordinator of `key` (a group or transactional id),
    /// found with FindCoordinator and cached until an error says it moved.
    pub(super) async fn coordinator(
        &self,
        kind: CoordinatorKind,
        key: &str,
        deadline: Instant,
    ) -> Result<Connection, KafkaError> {
        let cached = self
            .inner
            .coordinators
            .read()
            .ok()
            .and_then(|c| c.get(&(kind, key.to_string())).copied());
        let id = match cached {
            Some(id) => id,
            None => {
                let request = FindCoordinatorRequest::default()
                    .with_key(StrBytes::from_string(key.to_string()))
                    .with_key_type(match kind {
                        CoordinatorKind::Group => 0,
                        CoordinatorKind::Transaction => 1,
                    });
                let response = self
                    .on_any_broker(deadline, |conn| {
                        let request = request.clone();
                        async move { conn.call(request, versions::FIND_COORDINATOR).await }
                    })
                    .await?;
                check(
                    response.error_code,
                    || format!("finding the coordinator of '{key}'"),
                    response.error_message.as_ref().map(|m| m.as_str()),
                )?;
                let id = response.node_id.0;
                if self.broker(id).is_err() {
                    // A broker this handle has not heard of yet: learn it.
                    if let Ok(mut brokers) = self.inner.brokers.write() {
                        let addr = format!("{}:{}", response.host.as_str(), response.port);
                        brokers.insert(id, Arc::new(Broker::new(addr, &self.inner.security)));
                    }
                }
                if let Ok(mut c) = self.inner.coordinators.write() {
                    c.insert((kind, key.to_string()), id);
                }
                id
            }
        };
        let broker = self.broker(id)?;
        match broker.control.get(deadline).await {
            Ok(conn) => Ok(conn),
            Err(e) => {
                self.forget_coordinator(kind, key);
                Err(e)
            }
        }
    }

    /// Runs `attempt` on a connection to the coordinator of `key`, retrying
    /// retriable errors until `deadline` and looking the coordinator up again
    /// whenever an error says it moved.
    pub(super) async fn with_coordinator<T, F, Fut>(
        &self,
        kind: CoordinatorKind,
        key: &str,
        deadline: Instant,
        attempt: F,
    ) -> Result<T, KafkaError>
    where
        F: Fn(Connection) -> Fut,
        Fut: Future<Output = Result<T, KafkaError>>,
    {
        retry(deadline, || async {
            let conn = self.coordinator(kind, key, deadline).await?;
            let result = attempt(conn).await;
            if let Err(e) = &result {
                self.forget_coordinator_on(e, kind, key);
            }
            result
        })
        .await
    }

    /// Forgets the coordinator of `key` when `error` says it moved.
    fn forget_coordinator_on(&self, error: &KafkaError, kind: CoordinatorKind, key: &str) {
        if error.invalidates_metadata() {
            self.forget_coordinator(kind, key);
        }
    }

    fn forget_coordinator(&self, kind: CoordinatorKind, key: &str) {
        if let Ok(mut c) = self.inner.coordinators.write() {
            c.remove(&(kind, key.to_string()));
        }
    }

    /// Forgets cached metadata of `topic`, after an error says it is stale.
    pub fn invalidate(&self, topic: &str) {
        if let Ok(mut topics) = self.inner.topics.write() {
            topics.remove(topic);
        }
    }

    async fn metadata(
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
            .on_any_broker(deadline, |conn| {
                let request = request.clone();
                async move { conn.call(request, versions::METADATA).await }
            })
            .await?;
        self.learn_brokers(&response);
        Ok(response)
    }

    /// Runs `call` on the first broker that answers: known brokers first, then
    /// the bootstrap servers. A broker that cannot be connected to, or whose
    /// connection breaks before it answers, is skipped for the next one; when
    /// none is left the error is [`KafkaError::ClusterUnreachable`], which is
    /// final: with every broker down there is nothing to wait for, so requests
    /// fail at once rather than at their timeout.
    async fn on_any_broker<T, F, Fut>(&self, deadline: Instant, call: F) -> Result<T, KafkaError>
    where
        F: Fn(Connection) -> Fut,
        Fut: Future<Output = Result<T, KafkaError>>,
    {
        let brokers: Vec<Arc<Broker>> = self
            .inner
            .brokers
            .read()
            .map(|b| b.values().cloned().collect())
            .unwrap_or_default();
        let pools = brokers
            .iter()
            .map(|b| &b.control)
            .chain(self.inner.bootstrap.iter());
        let mut failures: Vec<String> = Vec::new();
        let mut refused = None;
        for pool in pools {
            let attempt = async {
                let conn = pool.get(deadline).await?;
                timeout(deadline, call(conn)).await
            };
            match attempt.await {
                Err(KafkaError::Unreachable(reason)) => {
                    if !failures.contains(&reason) {
                        failures.push(reason);
                    }
                }
                // Another broker may accept us; if none does, this says why.
                Err(e @ KafkaError::Auth(_)) => refused = Some(e),
                other => return other,
            }
        }
        if let Some(e) = refused {
            return Err(e);
        }
        Err(KafkaError::ClusterUnreachable(if failures.is_empty() {
            "no bootstrap server configured".into()
        } else {
            failures.join("; ")
        }))
    }

    fn learn_brokers(&self, response: &MetadataResponse) {
        let Ok(mut brokers) = self.inner.brokers.write() else {
            return;
        };
        for b in &response.brokers {
            let addr = format!("{}:{}", b.host.as_str(), b.port);
            let known = brokers.get(&b.node_id.0).is_some_and(|k| k.addr == addr);
            if !known {
                brokers.insert(
                    b.node_id.0,
                    Arc::new(Broker::new(addr, &self.inner.security)),
                );
            }
        }
    }

    fn broker(&self, id: i32) -> Result<Arc<Broker>, KafkaError> {
        self.inner
            .brokers
            .read()
            .ok()
            .and_then(|b| b.get(&id).cloned())
            .ok_or_else(|| {
                KafkaError::broker(
                    ResponseError::LeaderNotAvailable,
                    format!("broker {id}"),
                    Some("broker is not in the cluster metadata"),
                )
            })
    }

    /// Runs `call` once per leader broker with that broker's share of `items`,
    /// concurrently; partitions that fail with an error `resend` allows to
    /// retry are retried (with fresh metadata) until the deadline.
    async fn per_leader<K, T, F, Fut>(
        &self,
        topic: &str,
        items: Vec<(i32, K)>,
        deadline: Instant,
        lane: Lane,
        resend: Resend,
        call: F,
    ) -> Vec<(i32, Result<T, KafkaError>)>
    where
        K: Clone,
        F: Fn(Connection, Vec<(i32, K)>) -> Fut,
        Fut: Future<Output = Result<Vec<(i32, Result<T, KafkaError>)>, KafkaError>>,
    {
        let mut done: Vec<(i32, Result<T, KafkaError>)> = Vec::with_capacity(items.len());
        let mut todo = items;
        let mut backoff = Duration::from_millis(20);
        loop {
            let mut retry_items: Vec<(i32, K)> = Vec::new();
            let mut last_error: Option<KafkaError> = None;
            let mut stale = false;
            let mut again = |e: KafkaError, keys: &mut dyn Iterator<Item = (i32, K)>| {
                stale |= e.invalidates_metadata();
                retry_items.extend(keys);
                last_error = Some(e);
            };
            match self.topic(topic, false, deadline).await {
                Err(e) => {
                    if e.is_retriable() && Instant::now() < deadline {
                        again(e, &mut todo.into_iter());
                    } else {
                        done.extend(todo.into_iter().map(|(p, _)| (p, Err(e.clone()))));
                        return sort(done);
                    }
                }
                Ok(info) => {
                    let mut by_leader: HashMap<i32, Vec<(i32, K)>> = HashMap::new();
                    for (p, k) in todo {
                        match info.partition(p) {
                            Ok(part) => by_leader.entry(part.leader).or_default().push((p, k)),
                            Err(e) => done.push((p, Err(e))),
                        }
                    }
                    let calls = by_leader.into_iter().map(|(leader, group)| {
                        let call = &call;
                        async move {
                            let keys = group.clone();
                            // Outer error: nothing was sent (no such broker, no
                            // connection). Inner error: the request may have reached it.
                            let result = async {
                                let broker = self.broker(leader)?;
                                let conn = match lane {
                                    Lane::Control => broker.control.get(deadline).await?,
                                    Lane::Reads => broker.reads.get(deadline).await?,
                                };
                                Ok::<_, KafkaError>(timeout(deadline, call(conn, group)).await)
                            }
                            .await;
                            (keys, result)
                        }
                    });
                    for (keys, result) in join_all(calls).await {
                        let (error, retriable) = match result {
                            Ok(Ok(answers)) => {
                                for (p, r) in answers {
                                    match r {
                                        Err(e)
                                            if resend.answered(&e) && Instant::now() < deadline =>
                                        {
                                            let k = keys.iter().find(|(kp, _)| *kp == p).cloned();
                                            again(e, &mut k.into_iter());
                                        }
                                        other => done.push((p, other)),
                                    }
                                }
                                continue;
                            }
                            Ok(Err(e)) => {
                                let retriable = resend.after_sending(&e);
                                (e, retriable)
                            }
                            Err(e) => {
                                let retriable = e.is_retriable();
                                (e, retriable)
                            }
                        };
                        if retriable && Instant::now() < deadline {
                            again(error, &mut keys.into_iter());
                        } else {
                            done.extend(keys.into_iter().map(|(p, _)| (p, Err(error.clone()))));
                        }
                    }
                }
            }
            if retry_items.is_empty() {
                return sort(done);
            }
            if stale {
                self.invalidate(topic);
            }
            if let Some(e) = &last_error {
                tracing::debug!(topic, error = %e, "retrying {} partitions", retry_items.len());
            }
            if Instant::now() + backoff >= deadline {
                let e = KafkaError::Timeout(match last_error {
                    Some(e) => e.to_string(),
                    None => "deadline passed".into(),
                });
                done.extend(retry_items.into_iter().map(|(p, _)| (p, Err(e.clone()))));
                return sort(done);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
            todo = retry_items;
        }
    }

    /// Writes one batch per partition with acks from all in-sync replicas.
    /// Only errors that guarantee nothing was appended are retried, so a retry
    /// never writes a record twice.
    pub async fn produce(
        &self,
        topic: &str,
        batches: Vec<(i32, Bytes)>,
        transactional_id: Option<&str>,
        deadline: Instant,
    ) -> Vec<(i32, Result<ProduceAck, KafkaError>)> {
        let txn = transactional_id.map(|t| {
            kafka_protocol::messages::TransactionalId(StrBytes::from_string(t.to_string()))
        });
        self.per_leader(
            topic,
            batches,
            deadline,
            Lane::Control,
            Resend::Refused,
            |conn, group| {
                let request = ProduceRequest::default()
                    .with_transactional_id(txn.clone())
                    .with_acks(-1)
                    .with_timeout_ms(ms_until(deadline))
                    .with_topic_data(vec![TopicProduceData::default()
                        .with_name(topic_name(topic))
                        .with_partition_data(
                            group
                                .into_iter()
                                .map(|(p, b)| {
                                    PartitionProduceData::default()
                                        .with_index(p)
                                        .with_records(Some(b))
                                })
                                .collect(),
                        )]);
                async move {
                    let response = conn.call(request, versions::PRODUCE).await.map_err(|e| {
                        match e {
                            // Sent, but no answer came: the records may be in the log.
                            KafkaError::Unreachable(reason) => KafkaError::Unreachable(format!(
                                "{reason}; the request may have reached the broker, so these records may or may not have been written"
                            )),
                            other => other,
                        }
                    })?;
                    Ok(response
                        .responses
                        .into_iter()
                        .flat_map(|t| t.partition_responses)
                        .map(|p| {
                            let result = check(
                                p.error_code,
                                || format!("producing to {topic}/{}", p.index),
                                p.error_message.as_ref().map(|m| m.as_str()),
                            )
                            .map_err(|e| match transactional_id {
                                Some(id) => e.fenced_for(id),
                                None => e,
                            })
                            .map(|_| ProduceAck {
                                base_offset: p.base_offset,
                                log_append_time: (p.log_append_time_ms >= 0)
                                    .then_some(p.log_append_time_ms),
                            });
                            (p.index, result)
                        })
                        .collect())
                }
            },
        )
        .await
    }

    /// Finds an offset in each partition.
    pub async fn list_offsets(
        &self,
        topic: &str,
        partitions: &[i32],
        query: OffsetQuery,
        deadline: Instant,
    ) -> Vec<(i32, Result<Option<i64>, KafkaError>)> {
        let (timestamp, isolation) = match query {
            OffsetQuery::Earliest => (-2, READ_COMMITTED),
            OffsetQuery::LastStable => (-1, READ_COMMITTED),
            OffsetQuery::HighWatermark => (-1, READ_UNCOMMITTED),
            OffsetQuery::Timestamp(t) => (t, READ_COMMITTED),
        };
        let items = partitions.iter().map(|p| (*p, ())).collect();
        self.per_leader(
            topic,
            items,
            deadline,
            Lane::Control,
            Resend::Always,
            |conn, group| {
                let request = ListOffsetsRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_isolation_level(isolation)
                    .with_topics(vec![ListOffsetsTopic::default()
                        .with_name(topic_name(topic))
                        .with_partitions(
                            group
                                .iter()
                                .map(|(p, _)| {
                                    ListOffsetsPartition::default()
                                        .with_partition_index(*p)
                                        .with_current_leader_epoch(-1)
                                        .with_timestamp(timestamp)
                                })
                                .collect(),
                        )]);
                async move {
                    let response = conn.call(request, versions::LIST_OFFSETS).await?;
                    Ok(response
                        .topics
                        .into_iter()
                        .flat_map(|t| t.partitions)
                        .map(|p| {
                            let result = check(
                                p.error_code,
                                || format!("offsets of {topic}/{}", p.partition_index),
                                None,
                            )
                            .map(|_| (p.offset >= 0).then_some(p.offset));
                            (p.partition_index, result)
                        })
                        .collect())
                }
            },
        )
        .await
    }

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
    ) -> Vec<(i32, Result<FetchedPartition, KafkaError>)> {
        let items = positions.to_vec();
        self.per_leader(
            topic,
            items,
            deadline,
            Lane::Reads,
            Resend::Always,
            |conn, group| {
                let request = fetch_request(topic, &group, 0, partition_max_bytes, max_bytes);
                async move {
                    let response = conn.call(request, versions::FETCH).await?;
                    check(
                        response.error_code,
                        || format!("fetching from {topic}"),
                        None,
                    )?;
                    Ok(fetched_partitions(topic, response))
                }
            },
        )
        .await
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

    /// One waiting fetch for a watch round: returns, for each partition, whether
    /// it has news (records, a moved end, or an error).
    pub(super) async fn wait_round(
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
            by_leader.entry(leader).or_default().push((*p, *o));
        }
        let rounds = by_leader.into_iter().map(|(leader, group)| async move {
            let broker = self.broker(leader)?;
            let lease: Lease = broker.waits.take(deadline).await?;
            let request = fetch_request(topic, &group, max_wait.as_millis() as i32, 1, i32::MAX);
            let result = timeout(deadline, lease.conn.call(request, versions::FETCH)).await;
            broker.waits.put(lease);
            let response = result?;
            Ok::<_, KafkaError>(
                response
                    .responses
                    .into_iter()
                    .flat_map(|t| t.partitions)
                    .map(|p| {
                        let offset = group
                            .iter()
                            .find(|(gp, _)| *gp == p.partition_index)
                            .map_or(0, |g| g.1);
                        let news = p.error_code != 0
                            || p.last_stable_offset > offset
                            || p.records.as_ref().is_some_and(|r| !r.is_empty());
                        (p.partition_index, news)
                    })
                    .collect::<Vec<_>>(),
            )
        });
        let mut out = Vec::new();
        for r in join_all(rounds).await {
            out.extend(r?);
        }
        Ok(out)
    }

    /// Deletes every record below `offset` in each partition (`-1`: the high
    /// watermark); answers the new low watermarks.
    pub async fn delete_records(
        &self,
        topic: &str,
        offsets: &[(i32, i64)],
        deadline: Instant,
    ) -> Vec<(i32, Result<i64, KafkaError>)> {
        self.per_leader(
            topic,
            offsets.to_vec(),
            deadline,
            Lane::Control,
            Resend::Always,
            |conn, group| {
                let request = DeleteRecordsRequest::default()
                    .with_timeout_ms(ms_until(deadline))
                    .with_topics(vec![DeleteRecordsTopic::default()
                        .with_name(topic_name(topic))
                        .with_partitions(
                            group
                                .iter()
                                .map(|(p, o)| {
                                    DeleteRecordsPartition::default()
                                        .with_partition_index(*p)
                                        .with_offset(*o)
                                })
                                .collect(),
                        )]);
                async move {
                    let response = conn.call(request, versions::DELETE_RECORDS).await?;
                    Ok(response
                        .topics
                        .into_iter()
                        .flat_map(|t| t.partitions)
                        .map(|p| {
                            let result = check(
                                p.error_code,
                                || format!("deleting records of {topic}/{}", p.partition_index),
                                None,
                            )
                            .map(|_| p.low_watermark);
                            (p.partition_index, result)
                        })
                        .collect())
                }
            },
        )
        .await
    }

    /// Creates a topic (an administrative call used by tests, benchmarks and tools).
    pub async fn create_topic(
        &self,
        topic: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(&str, &str)],
        deadline: Instant,
    ) -> Result<(), KafkaError> {
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(ms_until(deadline))
            .with_topics(vec![CreatableTopic::default()
                .with_name(topic_name(topic))
                .with_num_partitions(partitions)
                .with_replication_factor(replication_factor)
                .with_configs(
                    configs
                        .iter()
                        .map(|(k, v)| {
                            CreatableTopicConfig::default()
                                .with_name(StrBytes::from_string(k.to_string()))
                                .with_value(Some(StrBytes::from_string(v.to_string())))
                        })
                        .collect(),
                )]);
        // CreateTopics must go to the controller; any broker forwards it in KRaft mode.
        let response = self
            .on_any_broker(deadline, |conn| {
                let request = request.clone();
                async move { conn.call(request, versions::CREATE_TOPICS).await }
            })
            .await?;
        for t in response.topics {
            check(
                t.error_code,
                || format!("creating topic '{topic}'"),
                t.error_message.as_ref().map(|m| m.as_str()),
            )?;
        }
        // Wait until the topic has leaders, so the caller can use it at once.
        // Brokers learn of a new topic a moment after the controller created
        // it, so "unknown" is retried here until the deadline.
        let mut backoff = Duration::from_millis(20);
        loop {
            self.invalidate(topic);
            match self.topic(topic, false, deadline).await {
                Err(KafkaError::UnknownTopic(_)) if Instant::now() + backoff < deadline => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(200));
                }
                other => return other.map(|_| ()),
            }
        }
    }
}

fn sort<T>(mut v: Vec<(i32, T)>) -> Vec<(i32, T)> {
    v.sort_by_key(|(p, _)| *p);
    v
}

fn fetch_request(
    topic: &str,
    positions: &[(i32, i64)],
    max_wait_ms: i32,
    partition_max_bytes: i32,
    max_bytes: i32,
) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
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
                            .with_partition_max_bytes(partition_max_bytes)
                    })
                    .collect(),
            )])
}

fn fetched_partitions(
    topic: &str,
    response: kafka_protocol::messages::FetchResponse,
) -> Vec<(i32, Result<FetchedPartition, KafkaError>)> {
    response
        .responses
        .into_iter()
        .flat_map(|t| t.partitions)
        .map(|p| {
            let result = check(
                p.error_code,
                || format!("fetching from {topic}/{}", p.partition_index),
                None,
            )
            .map(|_| FetchedPartition {
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
            });
            (p.partition_index, result)
        })
        .collect()
}

/// Broker errors that prove a produce appended nothing, so sending it again
/// cannot duplicate records.
fn produce_retriable(e: &KafkaError) -> bool {
    match e {
        KafkaError::Broker { error, .. } => matches!(
            error,
            ResponseError::NotLeaderOrFollower
                | ResponseError::LeaderNotAvailable
                | ResponseError::UnknownTopicOrPartition
                | ResponseError::NotEnoughReplicas
                | ResponseError::FencedLeaderEpoch
        ),
        _ => false,
    }
}

pub(super) fn topic_name(t: &str) -> TopicName {
    TopicName(StrBytes::from_string(t.to_string()))
}

fn ms_until(deadline: Instant) -> i32 {
    deadline
        .saturating_duration_since(Instant::now())
        .as_millis()
        .clamp(1, i32::MAX as u128) as i32
}

async fn timeout<T>(
    deadline: Instant,
    f: impl Future<Output = Result<T, KafkaError>>,
) -> Result<T, KafkaError> {
    tokio::time::timeout_at(deadline, f)
        .await
        .map_err(|_| KafkaError::Timeout("the request's timeout passed".into()))?
}

/// Retries `f` on retriable errors with backoff until `deadline`.
pub(super) async fn retry<T, F, Fut>(deadline: Instant, mut f: F) -> Result<T, KafkaError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, KafkaError>>,
{
    let mut backoff = Duration::from_millis(20);
    loop {
        match f().await {
            Err(e) if e.is_retriable() => {
                if Instant::now() + backoff >= deadline {
                    return Err(match e {
                        KafkaError::Unreachable(_) => e,
                        other => KafkaError::Timeout(other.to_string()),
                    });
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::batch::{encode, ProduceRecord};
    use super::super::fake::{closed_port, FakeBroker, NODE};
    use super::*;

    fn cluster(bootstrap: &[&str]) -> Cluster {
        Cluster::new(ClusterConfig {
            bootstrap: bootstrap.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn one_record() -> Bytes {
        encode(
            &[ProduceRecord {
                key: None,
                value: Some(b"v"),
                timestamp: 0,
                headers: &[],
            }],
            None,
        )
    }

    #[tokio::test]
    async fn with_every_broker_down_calls_fail_at_once_instead_of_at_their_deadline() {
        let (a, b) = (closed_port().await, closed_port().await);
        let cluster = cluster(&[&a, &b]);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(30);

        let e = cluster.topic("t", false, deadline).await.unwrap_err();
        assert!(matches!(e, KafkaError::ClusterUnreachable(_)), "{e}");
        // Both addresses were tried and both are named.
        assert!(
            e.to_string().contains(&a) && e.to_string().contains(&b),
            "{e}"
        );
        let e = cluster.ready(deadline).await.unwrap_err();
        assert!(matches!(e, KafkaError::ClusterUnreachable(_)), "{e}");
        let e = cluster
            .committed_offsets("g", "t", &[0], deadline)
            .await
            .unwrap_err();
        assert!(matches!(e, KafkaError::ClusterUnreachable(_)), "{e}");
        let e = cluster
            .begin_transaction("x", Duration::from_secs(5), deadline)
            .await
            .err()
            .expect("no transaction without brokers");
        assert!(matches!(e, KafkaError::ClusterUnreachable(_)), "{e}");
        for (_, r) in cluster
            .produce("t", vec![(0, one_record())], None, deadline)
            .await
        {
            let e = r.unwrap_err();
            assert!(matches!(e, KafkaError::ClusterUnreachable(_)), "{e}");
        }
        // Retrying until the deadline would take 30 s; a single pass over two
        // refused ports takes milliseconds. 10 s tells the two apart on any machine.
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn a_produce_whose_connection_breaks_after_sending_is_not_sent_again() {
        let broker = FakeBroker::start().await;
        let cluster = cluster(&[&broker.addr]);
        let deadline = Instant::now() + Duration::from_secs(3);
        let results = cluster
            .produce("t", vec![(0, one_record())], None, deadline)
            .await;
        let [(0, Err(e))] = &results[..] else {
            panic!("expected partition 0 to fail: {results:?}");
        };
        assert!(matches!(e, KafkaError::Unreachable(_)), "{e}");
        assert!(
            e.to_string().contains("may or may not have been written"),
            "{e}"
        );
        // The broker may have appended the batch before the connection broke:
        // sending it again could write its records twice.
        assert_eq!(broker.produce_requests(), 1);
    }

    #[tokio::test]
    async fn a_read_from_a_leader_that_is_gone_follows_fresh_metadata_to_the_next() {
        let broker = Arc::new(FakeBroker::start().await);
        let cluster = cluster(&[&broker.addr]);
        let deadline = Instant::now() + Duration::from_secs(20);
        cluster.topic("t", false, deadline).await.expect("metadata");
        // The leader goes away: metadata still names it (as Kafka's does until
        // the controller notices), then names the fake broker.
        let gone = closed_port().await;
        broker.set_leader(2, &gone);
        cluster.invalidate("t");
        cluster.topic("t", false, deadline).await.expect("metadata");
        let before = broker.metadata_requests();
        let mover = tokio::spawn({
            let broker = Arc::clone(&broker);
            async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                broker.set_leader(NODE, &broker.addr);
            }
        });
        let results = cluster.fetch("t", &[(0, 0)], 1024, 1024, deadline).await;
        mover.await.unwrap();
        let [(0, Ok(_))] = &results[..] else {
            panic!("the fetch should follow the new leader: {results:?}");
        };
        assert_eq!(broker.fetch_requests(), 1);
        // The refused connections made the handle ask for metadata again.
        assert!(broker.metadata_requests() > before + 1);
    }

    #[tokio::test]
    async fn a_read_whose_connection_breaks_after_sending_is_sent_again() {
        let broker = FakeBroker::start().await;
        broker.hang_up_on_fetches(1);
        let cluster = cluster(&[&broker.addr]);
        let deadline = Instant::now() + Duration::from_secs(20);
        let results = cluster.fetch("t", &[(0, 0)], 1024, 1024, deadline).await;
        let [(0, Ok(_))] = &results[..] else {
            panic!("a fetch may simply be sent again: {results:?}");
        };
        assert_eq!(broker.fetch_requests(), 2);
    }

    #[tokio::test]
    async fn a_leader_that_stays_down_is_retried_until_the_deadline_while_others_answer() {
        let broker = FakeBroker::start().await;
        broker.set_leader(2, &closed_port().await);
        let cluster = cluster(&[&broker.addr]);
        let started = Instant::now();
        let deadline = started + Duration::from_millis(1500);
        let results = cluster
            .list_offsets("t", &[0], OffsetQuery::LastStable, deadline)
            .await;
        let [(0, Err(e))] = &results[..] else {
            panic!("expected partition 0 to fail: {results:?}");
        };
        // Not "no broker answered": one did, so the leader may yet move.
        assert!(matches!(e, KafkaError::Timeout(_)), "{e}");
        assert!(started.elapsed() >= Duration::from_millis(1000));
        assert!(broker.metadata_requests() > 2);
    }
}
