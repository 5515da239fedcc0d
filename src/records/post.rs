//! POST /records: write validated records (the HTTP layer reads and checks
//! the body: a body with one bad record writes nothing).
//!
//! Records are grouped into one batch per partition (split only when a batch
//! would exceed the topic's `max.message.bytes`) and each topic's batches go
//! out in one produce request per leader broker, concurrently. A
//! transactional write answers once its records are visible to
//! read_committed readers.
//!
//! A JSON body is one write ([`run`]); an NDJSON body is a [`Load`]: its
//! records arrive in batches, each written before the next is read, with
//! the same steps, and with a `transactionId` all of them in one Kafka
//! transaction that stays open from the first batch to the last.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::future::join_all;
use tokio::time::Instant;

use super::{RecordsError, TxnOutcome};
use crate::codec::registry::Registry;
use crate::codec::schema::{check_pending, encode_pending, Field, Pending, WriteError};
use crate::kafka::partitioner::partition_for_key;
use crate::kafka::{
    encode_records, record_size, Cluster, EndFailure, Header, KafkaError, Need, ProduceRecord,
    ProducerState, TopicInfo, Transaction, BATCH_OVERHEAD,
};

/// The write timeout when the request gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The shortest `timeout` a write may give: below it a produce cannot be
/// answered even on loopback, so the write could only end in a 504 after its
/// records may have been written. Shorter ones are a 400, nothing written.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(10);

/// The largest batch sent to a topic whose `max.message.bytes` cannot be
/// read: Kafka's default (1 MiB plus the 12 bytes of log overhead).
const DEFAULT_MAX_MESSAGE_BYTES: usize = 1_048_588;

/// A validated POST body.
#[derive(Debug)]
pub struct PostRequest {
    /// The records, in request order.
    pub records: Vec<PostRecord>,
    /// Write all records in one transaction with this transactional id.
    pub transaction_id: Option<String>,
    /// Answer 202 at once and write in the background.
    pub asynchronous: bool,
    /// Upper bound on the whole write.
    pub timeout: Duration,
}

/// One validated record, already serialized.
#[derive(Debug)]
pub struct PostRecord {
    /// Target topic, shared by the records of a request that name it.
    pub topic: Arc<str>,
    /// Explicit partition, if given.
    pub partition: Option<i32>,
    /// Serialized key.
    pub key: Option<Bytes>,
    /// Serialized value.
    pub value: Option<Bytes>,
    /// CreateTime, if given.
    pub timestamp: Option<i64>,
    /// Headers in request order.
    pub headers: Vec<Header>,
    /// A key waiting for its schema (a Schema Registry format): `key` is
    /// set from it before the record is written.
    pub key_pending: Option<Box<Pending>>,
    /// A value waiting for its schema, as `key_pending`.
    pub value_pending: Option<Box<Pending>>,
}

/// Step 0 for records in a Schema Registry format: resolves each pending
/// key's and value's schema (by id, subject and version, or registered
/// text), checks the value against it and writes its bytes in the wire
/// format. Nothing is written to Kafka when any fails: a value that does not
/// fit is [`RecordsError::Invalid`] after `place(index)` (`records[3].`), naming the path in the
/// value, an unreachable registry [`RecordsError::RegistryUnavailable`].
pub async fn encode_schemas(
    registry: Option<&Registry>,
    records: &mut [PostRecord],
    place: impl Fn(usize) -> String,
) -> Result<(), RecordsError> {
    let invalid = |at: &str, m: String| {
        let sep = if m.starts_with(['.', '[']) { "" } else { ": " };
        RecordsError::Invalid(format!("{at}{sep}{m}; nothing was written"))
    };
    let unavailable = |at: &str, m: String| {
        RecordsError::RegistryUnavailable(format!(
            "{at}: cannot get its schema: {m}; nothing was written"
        ))
    };
    // Values given with their schema's text first, so that a value that
    // does not fit registers no schema.
    for (i, r) in records.iter().enumerate() {
        for (field, pending) in [
            (Field::Key, &r.key_pending),
            (Field::Value, &r.value_pending),
        ] {
            let Some(pending) = pending else { continue };
            let at = format!("{}{}", place(i), field.name());
            let Some(registry) = registry else {
                return Err(RecordsError::Invalid(format!(
                    "{at}: the {} serializer needs the service to be started with --schema-registry-url",
                    pending.format.name()
                )));
            };
            check_pending(registry, pending)
                .await
                .map_err(|e| match e {
                    WriteError::Invalid(m) => invalid(&at, m),
                    WriteError::Unavailable(m) => unavailable(&at, m),
                })?;
        }
    }
    let Some(registry) = registry else {
        return Ok(());
    };
    // `latest` is asked once per request.
    let mut latest = HashMap::new();
    for (i, r) in records.iter_mut().enumerate() {
        for field in [Field::Key, Field::Value] {
            let pending = match field {
                Field::Key => r.key_pending.take(),
                Field::Value => r.value_pending.take(),
            };
            let Some(pending) = pending else { continue };
            let at = format!("{}{}", place(i), field.name());
            let bytes = encode_pending(registry, &r.topic, field, &pending, &mut latest)
                .await
                .map_err(|e| match e {
                    WriteError::Invalid(m) => invalid(&at, m),
                    WriteError::Unavailable(m) => unavailable(&at, m),
                })?;
            match field {
                Field::Key => r.key = Some(bytes),
                Field::Value => r.value = Some(bytes),
            }
        }
    }
    Ok(())
}

/// What happened to one record.
#[derive(Debug)]
pub enum RecordResult {
    /// Written and acknowledged by all in-sync replicas.
    Written {
        /// Topic.
        topic: Arc<str>,
        /// Partition.
        partition: i32,
        /// Offset assigned by the broker.
        offset: i64,
        /// Timestamp as stored.
        timestamp: i64,
        /// Key length in bytes, -1 for null.
        serialized_key_size: i64,
        /// Value length in bytes, -1 for null.
        serialized_value_size: i64,
    },
    /// Not written, or not confirmed.
    Failed {
        /// Topic.
        topic: Arc<str>,
        /// Partition, when one was chosen.
        partition: Option<i32>,
        /// Why; shared by the records that failed together.
        error: Arc<RecordsError>,
    },
}

impl RecordResult {
    /// The failure, if the record was not written.
    pub fn error(&self) -> Option<&RecordsError> {
        match self {
            RecordResult::Written { .. } => None,
            RecordResult::Failed { error, .. } => Some(error),
        }
    }

    /// The record's topic.
    pub fn topic(&self) -> &str {
        match self {
            RecordResult::Written { topic, .. } | RecordResult::Failed { topic, .. } => topic,
        }
    }

    /// The record's partition, when one was chosen.
    pub fn partition(&self) -> Option<i32> {
        match self {
            RecordResult::Written { partition, .. } => Some(*partition),
            RecordResult::Failed { partition, .. } => *partition,
        }
    }
}

/// A topic's metadata and `max.message.bytes` (when it could be read), or
/// why there is no metadata.
type TopicLookup = Result<(Arc<TopicInfo>, Option<usize>), Arc<RecordsError>>;

/// Which records go to which partition of one topic, and the largest batch
/// the topic accepts when that is known.
#[derive(Debug)]
struct TopicPlan {
    /// The topic's `max.message.bytes`, if it could be read.
    limit: Option<usize>,
    /// Record indexes in request order, by partition.
    partitions: BTreeMap<i32, Vec<usize>>,
}

/// Every topic's plan, by topic.
type WritePlan = BTreeMap<Arc<str>, TopicPlan>;

/// Where a written record landed.
#[derive(Debug, Clone, Copy)]
struct Appended {
    offset: i64,
    /// The broker's append time on LogAppendTime topics.
    log_append_time: Option<i64>,
}

/// What became of one record sent to Kafka.
#[derive(Debug)]
struct Sent {
    /// The record's index in the request.
    index: usize,
    partition: i32,
    /// The failure, shared by the records of the batch that failed.
    result: Result<Appended, Arc<RecordsError>>,
}

/// A transaction open across the writes of one request, with what its
/// next write needs: the partitions already added to it, and the sequence
/// number of the next record sent to each (a transactional producer counts
/// the records it sends to a partition from 0, across all its batches).
struct OpenTransaction {
    transaction: Transaction,
    /// The next sequence number, by topic and partition.
    partitions: BTreeMap<Arc<str>, BTreeMap<i32, i32>>,
}

impl OpenTransaction {
    /// Opens transaction `id` (fencing an older producer of that id) for
    /// at most `timeout`.
    async fn begin(
        cluster: &Cluster,
        id: &str,
        timeout: Duration,
        deadline: Instant,
    ) -> Result<OpenTransaction, KafkaError> {
        let transaction = cluster.begin_transaction(id, timeout, deadline).await?;
        Ok(OpenTransaction {
            transaction,
            partitions: BTreeMap::new(),
        })
    }

    /// Registers the partitions of `plan` the transaction does not have yet.
    async fn add(&mut self, plan: &WritePlan, deadline: Instant) -> Result<(), KafkaError> {
        let new: Vec<(String, Vec<i32>)> = plan
            .iter()
            .filter_map(|(t, p)| {
                let known = self.partitions.get(t);
                let ps: Vec<i32> = p
                    .partitions
                    .keys()
                    .copied()
                    .filter(|p| !known.is_some_and(|k| k.contains_key(p)))
                    .collect();
                (!ps.is_empty()).then(|| (t.to_string(), ps))
            })
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        self.transaction.add_partitions(&new, deadline).await?;
        for (topic, p) in plan {
            let known = self.partitions.entry(Arc::clone(topic)).or_default();
            for partition in p.partitions.keys() {
                known.entry(*partition).or_insert(0);
            }
        }
        Ok(())
    }

    /// The sequence number of the next record sent to `topic`/`partition`.
    fn sequence(&self, topic: &str, partition: i32) -> i32 {
        self.partitions
            .get(topic)
            .and_then(|ps| ps.get(&partition))
            .copied()
            .unwrap_or(0)
    }

    /// Counts the records of `plan`, all written, towards each partition's
    /// sequence.
    fn advance(&mut self, plan: &WritePlan) {
        for (topic, p) in plan {
            let known = self.partitions.entry(Arc::clone(topic)).or_default();
            for (partition, idx) in &p.partitions {
                *known.entry(*partition).or_insert(0) += idx.len() as i32;
            }
        }
    }
}

/// What every batch of one write shares.
#[derive(Clone, Copy)]
struct WriteContext<'a> {
    cluster: &'a Cluster,
    records: &'a [PostRecord],
    /// The CreateTime of records that give none.
    now: i64,
    /// The transaction the records are written in, if any.
    transaction: Option<&'a OpenTransaction>,
    deadline: Instant,
}

impl WriteContext<'_> {
    fn transaction_id(&self) -> Option<&str> {
        self.transaction.map(|t| t.transaction.id())
    }
}

/// The last offset a write put in one partition.
struct LastOffset<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
}

/// A request whose topics were looked up and whose records were placed
/// (steps 1 and 2), ready to be written.
#[derive(Debug)]
pub struct Prepared {
    request: PostRequest,
    deadline: Instant,
    /// The CreateTime of records that give none.
    now: i64,
    plan: WritePlan,
    /// The records that cannot be placed, with their failure.
    results: Vec<Option<RecordResult>>,
}

impl Prepared {
    /// The first record already known to fail (its topic or partition does
    /// not exist, Kafka cannot be reached), with its index.
    pub fn known_failure(&self) -> Option<(usize, &RecordsError)> {
        self.results
            .iter()
            .enumerate()
            .find_map(|(i, r)| r.as_ref().and_then(RecordResult::error).map(|e| (i, e)))
    }

    /// How many records the request holds.
    pub fn len(&self) -> usize {
        self.request.records.len()
    }

    /// Whether the request holds no record.
    pub fn is_empty(&self) -> bool {
        self.request.records.is_empty()
    }
}

/// What a write came to.
#[derive(Debug)]
pub struct Posted {
    /// Each record's result, in request order.
    pub results: Vec<RecordResult>,
    /// A failure that kept no record from being written: a committed
    /// transaction whose records were not yet visible to read_committed
    /// readers when the timeout passed.
    pub notice: Option<RecordsError>,
}

/// Writes validated records and reports each one, in request order:
///
/// 1. look up every topic (creating it where the broker allows) and its
///    `max.message.bytes`, both cached;
/// 2. choose each record's partition;
/// 3. with a `transactionId`, open the transaction;
/// 4. send each topic's batches, one produce per leader, splitting a batch
///    the broker refuses as too large;
/// 5. commit the transaction, or abort it if anything failed;
/// 6. after a commit, wait until read_committed readers see the records;
/// 7. report each record.
pub async fn run(cluster: &Cluster, request: PostRequest) -> Posted {
    write(cluster, prepare(cluster, request).await).await
}

/// Steps 1 and 2: what can be known before anything is written.
pub async fn prepare(cluster: &Cluster, request: PostRequest) -> Prepared {
    let deadline = Instant::now() + request.timeout;
    let now = now_millis();
    let topics = look_up_topics(cluster, &request.records, deadline).await;
    let (plan, results) = choose_partitions(&request.records, &topics);
    Prepared {
        request,
        deadline,
        now,
        plan,
        results,
    }
}

/// Steps 3 to 7: writes a prepared request.
pub async fn write(cluster: &Cluster, prepared: Prepared) -> Posted {
    let Prepared {
        request,
        deadline,
        now,
        plan,
        mut results,
    } = prepared;
    let records = &request.records;
    let transaction = match &request.transaction_id {
        None => None,
        Some(id) => {
            match open_transaction(cluster, id, &plan, &results, request.timeout, deadline).await {
                Ok(t) => Some(t),
                Err(e) => return Posted::all_failed(records, &plan, e),
            }
        }
    };
    let context = WriteContext {
        cluster,
        records,
        now,
        transaction: transaction.as_ref(),
        deadline,
    };
    let sent = send(context, &plan).await;
    let mut notice = None;
    if let Some(open) = transaction {
        let failure = sent
            .iter()
            .flatten()
            .find_map(|s| s.result.as_ref().err().map(|e| &**e));
        let written = last_offsets(&plan, &sent);
        match end_transaction(cluster, &open.transaction, failure, &written, deadline).await {
            Ok(not_visible) => notice = not_visible,
            Err(e) => return Posted::all_failed(records, &plan, e),
        }
    }
    for s in sent.into_iter().flatten() {
        results[s.index] = Some(report(&records[s.index], s.partition, s.result, now));
    }
    let results = results
        .into_iter()
        .zip(records)
        .map(|(result, r)| {
            result.unwrap_or_else(|| {
                let e = KafkaError::Protocol("record was not sent".into());
                failed(r, None, Arc::new(e.into()))
            })
        })
        .collect();
    Posted { results, notice }
}

impl Posted {
    /// Every record failed with `error`.
    fn all_failed(records: &[PostRecord], plan: &WritePlan, error: RecordsError) -> Posted {
        Posted {
            results: all_failed(records, plan, error),
            notice: None,
        }
    }
}

/// One topic-partition a [`Load`] wrote to: the offsets of the first and
/// last records it put there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRange {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// The offset of the first record the load wrote there.
    pub first_offset: i64,
    /// The offset of the last.
    pub last_offset: i64,
}

/// Why a batch of a [`Load`] was not wholly written.
#[derive(Debug)]
pub struct BatchFailure {
    /// The index in the batch of the first record that failed.
    pub index: usize,
    /// Why it failed.
    pub error: RecordsError,
}

/// What a [`Load`] came to.
#[derive(Debug)]
pub struct Loaded {
    /// The records written (with a transaction: committed).
    pub records: usize,
    /// Where they went: each topic-partition, in first-written order.
    pub partitions: Vec<PartitionRange>,
    /// The records written in a transaction that did not commit (or whose
    /// commit was not confirmed): none of them is known to be visible.
    pub uncommitted: usize,
    /// Why the load stopped; or, with `records` committed, that they were
    /// not yet visible to read_committed readers when the timeout passed
    /// ([`RecordsError::NotYetVisible`]).
    pub error: Option<RecordsError>,
}

/// A write of records that arrive in batches, one after the other, as one
/// request (an NDJSON body): each batch goes through the steps of [`run`]
/// before the next is read, so the records never all sit in memory.
///
/// Without a transaction each batch is a write of its own, within
/// `timeout`, and what it wrote stays written whatever comes after. With a
/// `transactionId` the whole load is one Kafka transaction, opened with the
/// first batch (InitProducerId), to which each batch adds its partitions and
/// whose sequence numbers run on from batch to batch; [`Load::finish`]
/// commits it, [`Load::stop`] aborts it. The whole load, commit included,
/// must then be done within `timeout`, which is also the transaction's
/// timeout: a load cut short never holds read_committed readers up longer.
pub struct Load<'c> {
    cluster: &'c Cluster,
    transaction_id: Option<String>,
    timeout: Duration,
    /// With a transaction: when the whole load must be done.
    deadline: Instant,
    transaction: Option<OpenTransaction>,
    written: usize,
    partitions: Vec<PartitionRange>,
    /// Where each topic-partition is in `partitions`.
    positions: HashMap<Arc<str>, HashMap<i32, usize>>,
}

impl<'c> Load<'c> {
    /// A load that writes nothing until its first batch.
    pub fn new(
        cluster: &'c Cluster,
        transaction_id: Option<String>,
        timeout: Duration,
    ) -> Load<'c> {
        Load {
            cluster,
            transaction_id,
            timeout,
            deadline: Instant::now() + timeout,
            transaction: None,
            written: 0,
            partitions: Vec::new(),
            positions: HashMap::new(),
        }
    }

    /// The records written so far (with a transaction: not yet committed).
    pub fn written(&self) -> usize {
        self.written
    }

    /// Whether the load is one transaction.
    pub fn is_transactional(&self) -> bool {
        self.transaction_id.is_some()
    }

    /// Writes one batch, in order, as [`run`] writes a request's records.
    /// A record that cannot be placed (unknown topic or partition) stops the
    /// batch there: the records before it are written, none after it is
    /// sent. Any other failure is the first record that failed; records of
    /// other partitions of the batch may have been written meanwhile. After a
    /// failure the load must be [stopped](Load::stop).
    pub async fn write(&mut self, records: Vec<PostRecord>) -> Result<(), BatchFailure> {
        if records.is_empty() {
            return Ok(());
        }
        let deadline = match self.transaction_id {
            Some(_) => self.deadline,
            None => Instant::now() + self.timeout,
        };
        let now = now_millis();
        let topics = look_up_topics(self.cluster, &records, deadline).await;
        let (mut plan, placed) = choose_partitions(&records, &topics);
        let unplaced = placed.iter().enumerate().find_map(|(index, r)| {
            let error = r.as_ref().and_then(RecordResult::error)?.clone();
            Some(BatchFailure { index, error })
        });
        let mut to_send = &records[..];
        if let Some(failure) = unplaced {
            // A transaction is aborted whole: nothing more need go.
            if self.transaction_id.is_some() || failure.index == 0 {
                return Err(failure);
            }
            to_send = &records[..failure.index];
            plan = choose_partitions(to_send, &topics).0;
            self.send(to_send, &plan, now, deadline).await?;
            return Err(failure);
        }
        self.send(to_send, &plan, now, deadline).await
    }

    /// Steps 3 and 4 of one batch whose records are all placed.
    async fn send(
        &mut self,
        records: &[PostRecord],
        plan: &WritePlan,
        now: i64,
        deadline: Instant,
    ) -> Result<(), BatchFailure> {
        let at_start = |error: KafkaError| BatchFailure {
            index: 0,
            error: error.into(),
        };
        if let Some(id) = &self.transaction_id {
            let open = match &mut self.transaction {
                Some(open) => open,
                None => {
                    let open = OpenTransaction::begin(self.cluster, id, self.timeout, deadline)
                        .await
                        .map_err(at_start)?;
                    self.transaction.insert(open)
                }
            };
            open.add(plan, deadline).await.map_err(at_start)?;
        }
        let context = WriteContext {
            cluster: self.cluster,
            records,
            now,
            transaction: self.transaction.as_ref(),
            deadline,
        };
        let mut outcomes: Vec<Option<Sent>> = (0..records.len()).map(|_| None).collect();
        for s in send(context, plan).await.into_iter().flatten() {
            let index = s.index;
            outcomes[index] = Some(s);
        }
        let mut failure = None;
        for (index, (r, outcome)) in records.iter().zip(outcomes).enumerate() {
            let error = match outcome {
                Some(Sent {
                    partition,
                    result: Ok(appended),
                    ..
                }) => {
                    self.note(&r.topic, partition, appended.offset);
                    continue;
                }
                Some(Sent { result: Err(e), .. }) => (*e).clone(),
                None => KafkaError::Protocol("record was not sent".into()).into(),
            };
            failure.get_or_insert(BatchFailure { index, error });
        }
        if let Some(failure) = failure {
            return Err(failure);
        }
        if let Some(open) = &mut self.transaction {
            open.advance(plan);
        }
        Ok(())
    }

    /// Counts a record written at `offset` of `topic`/`partition`.
    fn note(&mut self, topic: &Arc<str>, partition: i32, offset: i64) {
        self.written += 1;
        if let Some(&at) = self
            .positions
            .get(&**topic)
            .and_then(|ps| ps.get(&partition))
        {
            let range = &mut self.partitions[at];
            range.first_offset = range.first_offset.min(offset);
            range.last_offset = range.last_offset.max(offset);
            return;
        }
        self.positions
            .entry(Arc::clone(topic))
            .or_default()
            .insert(partition, self.partitions.len());
        self.partitions.push(PartitionRange {
            topic: Arc::clone(topic),
            partition,
            first_offset: offset,
            last_offset: offset,
        });
    }

    /// Ends a load whose every batch was written: commits its transaction
    /// and waits until read_committed readers see the records (steps 5 and
    /// 6), or aborts it when the timeout has passed.
    pub async fn finish(mut self) -> Loaded {
        let Some(open) = self.transaction.take() else {
            return self.loaded(None);
        };
        let ended = {
            let written: Vec<LastOffset<'_>> = self
                .partitions
                .iter()
                .map(|r| LastOffset {
                    topic: &r.topic,
                    partition: r.partition,
                    offset: r.last_offset,
                })
                .collect();
            end_transaction(
                self.cluster,
                &open.transaction,
                None,
                &written,
                self.deadline,
            )
            .await
        };
        match ended {
            Ok(notice) => self.loaded(notice),
            Err(e) => self.not_committed(e),
        }
    }

    /// Ends a load that stopped with `cause` (a batch failed, a line was
    /// invalid, the body could not be read): what was written without a
    /// transaction stays written; a transaction is aborted.
    pub async fn stop(mut self, cause: RecordsError) -> Loaded {
        match (self.transaction.take(), &self.transaction_id) {
            (Some(open), _) => {
                let error = abandon(&open.transaction, cause).await;
                self.not_committed(error)
            }
            (None, Some(id)) => {
                let error = transaction_failed(id, TxnOutcome::NothingWritten, cause);
                self.not_committed(error)
            }
            (None, None) => self.loaded(Some(cause)),
        }
    }

    fn loaded(self, error: Option<RecordsError>) -> Loaded {
        Loaded {
            records: self.written,
            partitions: self.partitions,
            uncommitted: 0,
            error,
        }
    }

    fn not_committed(self, error: RecordsError) -> Loaded {
        Loaded {
            records: 0,
            partitions: Vec::new(),
            uncommitted: self.written,
            error: Some(error),
        }
    }
}

/// Step 1: every topic's metadata, creating topics where the broker allows,
/// as current as its records need it ([`needs`]), and its
/// `max.message.bytes` (cached beside the metadata: no request on the way of
/// a write to a topic written lately).
async fn look_up_topics(
    cluster: &Cluster,
    records: &[PostRecord],
    deadline: Instant,
) -> HashMap<String, TopicLookup> {
    join_all(needs(records).into_iter().map(|(t, need)| async move {
        let found = match cluster.topic_for(t, need, true, deadline).await {
            Ok(info) => Ok((info, cluster.max_message_bytes(t, deadline).await)),
            Err(e) => Err(Arc::new(e.into())),
        };
        (t.to_string(), found)
    }))
    .await
    .into_iter()
    .collect()
}

/// What each topic's records need of its metadata: the highest partition
/// named (partitions may have been added since it was cached), the current
/// partition count for keys (placed as the Java client places them with
/// fresh metadata), and reachable leaders for records placed by the service.
fn needs(records: &[PostRecord]) -> BTreeMap<&str, Need> {
    let mut needs: BTreeMap<&str, Need> = BTreeMap::new();
    // Records mostly share their topic (and its Arc): look it up once per run of them.
    let mut run: Option<(&Arc<str>, Need)> = None;
    for r in records {
        let need = match &mut run {
            Some((topic, need)) if Arc::ptr_eq(topic, &r.topic) => need,
            _ => {
                if let Some((topic, need)) = run.take() {
                    needs.insert(topic, need);
                }
                let need = needs.remove(&*r.topic).unwrap_or_default();
                &mut run.insert((&r.topic, need)).1
            }
        };
        match (r.partition, &r.key) {
            (Some(p), _) => need.partition = need.partition.max(Some(p)),
            (None, Some(_)) => need.current_count = true,
            (None, None) => need.any_partition = true,
        }
    }
    if let Some((topic, need)) = run {
        needs.insert(topic, need);
    }
    needs
}

/// Step 2: each record's partition (given, by key as the Java client's
/// partitioner, else one random partition with a reachable leader per
/// topic), and the records that cannot be placed with their failure.
fn choose_partitions(
    records: &[PostRecord],
    topics: &HashMap<String, TopicLookup>,
) -> (WritePlan, Vec<Option<RecordResult>>) {
    let mut sticky: HashMap<&str, i32> = HashMap::new();
    let mut results: Vec<Option<RecordResult>> = (0..records.len()).map(|_| None).collect();
    let mut plan = WritePlan::new();
    // Records mostly share their topic (and its Arc): look it up once per run of them.
    let mut last: Option<(&Arc<str>, &TopicLookup)> = None;
    for (i, r) in records.iter().enumerate() {
        let found = match last {
            Some((topic, found)) if Arc::ptr_eq(topic, &r.topic) => found,
            _ => {
                let found = &topics[&*r.topic];
                last = Some((&r.topic, found));
                found
            }
        };
        let (info, limit) = match found {
            Ok(found) => found,
            Err(e) => {
                results[i] = Some(failed(r, None, Arc::clone(e)));
                continue;
            }
        };
        let count = info.partitions.len() as i32;
        let partition = match (r.partition, &r.key) {
            (Some(p), _) => match info.partition(p) {
                Ok(_) => p,
                Err(e) => {
                    results[i] = Some(failed(r, Some(p), Arc::new(e.into())));
                    continue;
                }
            },
            (None, Some(key)) => partition_for_key(key, count),
            (None, None) => *sticky
                .entry(&*r.topic)
                .or_insert_with(|| info.sticky_partition()),
        };
        if !plan.contains_key(&*r.topic) {
            let topic_plan = TopicPlan {
                limit: *limit,
                partitions: BTreeMap::new(),
            };
            plan.insert(Arc::clone(&r.topic), topic_plan);
        }
        if let Some(topic_plan) = plan.get_mut(&*r.topic) {
            topic_plan.partitions.entry(partition).or_default().push(i);
        }
    }
    (plan, results)
}

/// Step 3: opens the transaction and registers its partitions. A record that
/// could not be placed fails it at once: a transaction is all or nothing.
async fn open_transaction(
    cluster: &Cluster,
    id: &str,
    plan: &WritePlan,
    placed: &[Option<RecordResult>],
    timeout: Duration,
    deadline: Instant,
) -> Result<OpenTransaction, RecordsError> {
    let nothing_written = |cause| transaction_failed(id, TxnOutcome::NothingWritten, cause);
    if let Some(cause) = placed.iter().flatten().find_map(RecordResult::error) {
        return Err(nothing_written(cause.clone()));
    }
    begin(cluster, id, plan, timeout, deadline)
        .await
        .map_err(|e| nothing_written(e.into()))
}

/// One partition's batches still to send, in order, and the sequence number
/// of the next one's first record (transactions count records per partition
/// from 0).
struct Queue<'a> {
    batches: VecDeque<&'a [usize]>,
    sequence: i32,
}

/// Step 4: sends every topic's records, the topics concurrently; by topic,
/// in the plan's order, each topic's records as its writes went.
async fn send(context: WriteContext<'_>, plan: &WritePlan) -> Vec<Vec<Sent>> {
    join_all(plan.iter().map(|(topic, p)| write_topic(context, topic, p))).await
}

/// The last offset written to each partition.
fn last_offsets<'a>(plan: &'a WritePlan, sent: &[Vec<Sent>]) -> Vec<LastOffset<'a>> {
    let mut last: Vec<LastOffset<'a>> = Vec::new();
    for (topic, sent) in plan.keys().zip(sent) {
        for s in sent {
            let Ok(appended) = &s.result else { continue };
            match last
                .iter_mut()
                .find(|l| l.topic == &**topic && l.partition == s.partition)
            {
                Some(l) => l.offset = l.offset.max(appended.offset),
                None => last.push(LastOffset {
                    topic,
                    partition: s.partition,
                    offset: appended.offset,
                }),
            }
        }
    }
    last
}

/// One topic's part of step 4: one produce per leader; partitions
/// whose records need several batches send them one after the other, in
/// order. Batches are sized by the topic's `max.message.bytes` (Kafka's
/// default when it is unknown). A batch the broker refuses as too large
/// (nothing of it was appended) is split and sent again, as the Java producer
/// does, after reading the topic's limit afresh; a record refused on its own
/// fails alone, named, and the partition's next records still go (in a
/// transaction, which then aborts, they are not sent). Any other failure
/// stops the partition: later batches are not sent, as order matters.
async fn write_topic(context: WriteContext<'_>, topic: &str, plan: &TopicPlan) -> Vec<Sent> {
    let records = context.records;
    let now = context.now;
    let mut limit = plan.limit;
    let mut queues: BTreeMap<i32, Queue<'_>> = plan
        .partitions
        .iter()
        .map(|(p, idx)| {
            let batches = split_batches(records, idx, now, batch_limit(limit)).into();
            let sequence = context.transaction.map_or(0, |t| t.sequence(topic, *p));
            (*p, Queue { batches, sequence })
        })
        .collect();
    let mut sent: Vec<Sent> = Vec::new();
    let mut limit_refreshed = false;
    loop {
        let batches = next_batches(context, &queues);
        if batches.is_empty() {
            break;
        }
        let mut unanswered: Vec<i32> = batches.iter().map(|(p, _)| *p).collect();
        let answers = context
            .cluster
            .produce(topic, batches, context.transaction_id(), context.deadline)
            .await;
        for (p, result) in answers {
            let Some(position) = unanswered.iter().position(|u| *u == p) else {
                continue;
            };
            unanswered.swap_remove(position);
            let Some(queue) = queues.get_mut(&p) else {
                continue;
            };
            let Some(batch) = queue.batches.pop_front() else {
                continue;
            };
            let too_large = matches!(&result, Err(e) if e.is_too_large());
            if too_large && !limit_refreshed {
                // The cached limit may be stale: the refusal says so.
                limit = context
                    .cluster
                    .refresh_max_message_bytes(topic, context.deadline)
                    .await;
                limit_refreshed = true;
            }
            match result {
                Ok(ack) => {
                    queue.sequence += batch.len() as i32;
                    sent.extend(batch.iter().enumerate().map(|(n, i)| Sent {
                        index: *i,
                        partition: p,
                        result: Ok(Appended {
                            offset: ack.base_offset + n as i64,
                            log_append_time: ack.log_append_time,
                        }),
                    }));
                }
                Err(_) if too_large && batch.len() > 1 => {
                    for piece in split_refused(records, batch, now, limit).into_iter().rev() {
                        queue.batches.push_front(piece);
                    }
                }
                Err(e) if too_large => {
                    let e = Arc::new(record_too_large(context, topic, batch[0], limit, &e));
                    sent.push(Sent {
                        index: batch[0],
                        partition: p,
                        result: Err(Arc::clone(&e)),
                    });
                    if context.transaction.is_some() {
                        // The transaction aborts: the rest need not go.
                        stop_partition(&mut queues, p, &e, &mut sent);
                    }
                }
                Err(e) => {
                    let e = Arc::new(RecordsError::from(e));
                    queue.batches.push_front(batch);
                    stop_partition(&mut queues, p, &e, &mut sent);
                }
            }
        }
        // A partition the broker's answer left out: its fate is unknown.
        for p in unanswered {
            let e = KafkaError::Protocol(format!(
                "the produce answer did not mention {topic}/{p}: its records may or may not have been written"
            ));
            stop_partition(&mut queues, p, &Arc::new(e.into()), &mut sent);
        }
    }
    sent
}

/// The next batch of each partition that has one, encoded.
fn next_batches(context: WriteContext<'_>, queues: &BTreeMap<i32, Queue<'_>>) -> Vec<(i32, Bytes)> {
    queues
        .iter()
        .filter_map(|(p, queue)| {
            queue.batches.front().map(|batch| {
                let state = context.transaction.map(|open| ProducerState {
                    id: open.transaction.producer_id,
                    epoch: open.transaction.producer_epoch,
                    base_sequence: queue.sequence,
                    transactional: true,
                });
                (*p, encode(context.records, batch, context.now, state))
            })
        })
        .collect()
}

/// Fails every record still queued for partition `p` with `error`, and
/// sends nothing more there.
fn stop_partition(
    queues: &mut BTreeMap<i32, Queue<'_>>,
    p: i32,
    error: &Arc<RecordsError>,
    sent: &mut Vec<Sent>,
) {
    let Some(queue) = queues.remove(&p) else {
        return;
    };
    sent.extend(queue.batches.iter().flat_map(|b| b.iter()).map(|i| Sent {
        index: *i,
        partition: p,
        result: Err(Arc::clone(error)),
    }));
}

/// The error of a record the broker refused on its own as too large.
fn record_too_large(
    context: WriteContext<'_>,
    topic: &str,
    index: usize,
    limit: Option<usize>,
    refusal: &KafkaError,
) -> RecordsError {
    let size = BATCH_OVERHEAD + record_bytes(&context.records[index], 0, 0);
    let accepted = match limit {
        Some(limit) if size > limit => format!(
            "more than the {limit} bytes topic '{topic}' accepts (its max.message.bytes, else the broker's message.max.bytes)"
        ),
        _ => format!("more than topic '{topic}' accepts ({refusal})"),
    };
    RecordsError::Invalid(format!(
        "records[{index}] is {size} bytes (as a record batch of its own), {accepted}; it was not written: send a smaller record, or raise the topic's max.message.bytes"
    ))
}

/// Step 5: commits the transaction when every record was written (no
/// `failure`), else aborts it. When it did not commit (or its commit was not
/// confirmed), the error of every record, saying only what is known:
/// "aborted" once an abort was confirmed, "may or may not" only when a
/// commit was sent unanswered. After a commit, step 6: `Ok(Some(_))` when
/// the records `written` were not yet visible to read_committed readers at
/// the deadline.
async fn end_transaction(
    cluster: &Cluster,
    transaction: &Transaction,
    failure: Option<&RecordsError>,
    written: &[LastOffset<'_>],
    deadline: Instant,
) -> Result<Option<RecordsError>, RecordsError> {
    let id = transaction.id();
    if let Some(cause) = failure {
        return Err(abandon(transaction, cause.clone()).await);
    }
    if Instant::now() >= deadline {
        // No time is left for a commit to be answered: abort rather than
        // send one whose outcome could not be known.
        let cause = KafkaError::Timeout(
            "the request's timeout passed before the transaction could be committed".into(),
        );
        let outcome = abort(transaction).await;
        return Err(transaction_failed(id, outcome, cause.into()));
    }
    match transaction.end(true, deadline).await {
        Ok(()) => Ok(wait_until_visible(cluster, id, written, deadline)
            .await
            .err()),
        Err(EndFailure::Unconfirmed(e)) => {
            Err(transaction_failed(id, TxnOutcome::Unknown, e.into()))
        }
        // The newer producer that fenced it aborts it.
        Err(EndFailure::Refused(e @ KafkaError::Fenced(_))) => {
            Err(transaction_failed(id, TxnOutcome::Aborted, e.into()))
        }
        // The coordinator did not commit: abort, so that read_committed
        // readers of its partitions are not held up until its timeout.
        Err(EndFailure::Refused(e) | EndFailure::NotSent(e)) => {
            let outcome = abort(transaction).await;
            Err(transaction_failed(id, outcome, e.into()))
        }
    }
}

/// Ends a transaction that failed with `cause`: the error saying so, and
/// whether it was aborted. A fenced transaction was already aborted by the
/// newer producer.
async fn abandon(transaction: &Transaction, cause: RecordsError) -> RecordsError {
    let outcome = match cause {
        RecordsError::Kafka(KafkaError::Fenced(_)) => TxnOutcome::Aborted,
        _ => abort(transaction).await,
    };
    transaction_failed(transaction.id(), outcome, cause)
}

/// Aborts a transaction that failed: `Aborted` once the coordinator
/// confirmed it, else `NotCommitted` (it aborts at the transaction timeout).
async fn abort(transaction: &Transaction) -> TxnOutcome {
    match transaction.end(false, Instant::now() + ABORT_TIMEOUT).await {
        Ok(()) => TxnOutcome::Aborted,
        Err(e) => {
            tracing::warn!(transaction = %transaction.id(), error = %e.error(), "abort failed; the coordinator aborts at the transaction timeout");
            TxnOutcome::NotCommitted
        }
    }
}

/// The first pause between two looks at the last stable offsets after a
/// commit; it doubles up to [`VISIBLE_MAX_BACKOFF`].
const VISIBLE_FIRST_BACKOFF: Duration = Duration::from_millis(2);
/// The longest pause between two looks at the last stable offsets.
const VISIBLE_MAX_BACKOFF: Duration = Duration::from_millis(50);

/// Step 6: waits until each partition the committed transaction wrote has
/// its last stable offset past the last record written there, so that a
/// read_committed reader sees the records as soon as the POST answers:
/// EndTxn returns once the commit is decided, and the commit markers that
/// make the records visible are written just after. One ListOffsets per
/// leader per look, with a short backoff, until the deadline.
async fn wait_until_visible(
    cluster: &Cluster,
    id: &str,
    written: &[LastOffset<'_>],
    deadline: Instant,
) -> Result<(), RecordsError> {
    let mut pending: Vec<Waiting<'_>> = written
        .iter()
        .map(|l| Waiting {
            topic: l.topic,
            partition: l.partition,
            last: l.offset,
            seen: None,
            visible: false,
        })
        .collect();
    let mut backoff = VISIBLE_FIRST_BACKOFF;
    loop {
        let mut asked: Vec<(&str, Vec<i32>)> = Vec::new();
        for w in &pending {
            match asked.iter_mut().find(|(t, _)| *t == w.topic) {
                Some((_, ps)) => ps.push(w.partition),
                None => asked.push((w.topic, vec![w.partition])),
            }
        }
        for ((topic, p), answer) in cluster.last_stable_offsets(&asked, deadline).await {
            let Some(w) = pending
                .iter_mut()
                .find(|w| w.topic == topic && w.partition == p)
            else {
                continue;
            };
            w.visible = matches!(answer, Ok(stable) if stable > w.last);
            w.seen = Some(match answer {
                Ok(stable) => format!("last stable offset {stable}"),
                Err(e) => e.to_string(),
            });
        }
        pending.retain(|w| !w.visible);
        if pending.is_empty() {
            return Ok(());
        }
        if Instant::now() + backoff >= deadline {
            let waiting: Vec<String> = pending
                .iter()
                .map(|w| {
                    let seen = w.seen.as_deref().unwrap_or("last stable offset not read");
                    format!(
                        "{}/{}: last record at offset {}, {seen}",
                        w.topic, w.partition, w.last
                    )
                })
                .collect();
            return Err(RecordsError::NotYetVisible(format!(
                "transaction '{id}' committed (every record has its offset), but its records were not yet visible to read_committed readers when the timeout passed ({}): they become visible once Kafka has written the commit markers, or once an older open transaction on the partition ends; do not send them again",
                waiting.join("; ")
            )));
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(VISIBLE_MAX_BACKOFF);
    }
}

/// A partition a committed transaction wrote, until read_committed readers
/// see its records.
struct Waiting<'a> {
    topic: &'a str,
    partition: i32,
    /// The last offset the transaction wrote there.
    last: i64,
    /// The last stable offset last read, or why it could not be.
    seen: Option<String>,
    visible: bool,
}

/// Step 7: what one sent record's answer says.
fn report(
    r: &PostRecord,
    partition: i32,
    result: Result<Appended, Arc<RecordsError>>,
    now: i64,
) -> RecordResult {
    match result {
        Ok(appended) => RecordResult::Written {
            topic: Arc::clone(&r.topic),
            partition,
            offset: appended.offset,
            timestamp: appended
                .log_append_time
                .unwrap_or(r.timestamp.unwrap_or(now)),
            serialized_key_size: size(&r.key),
            serialized_value_size: size(&r.value),
        },
        Err(e) => failed(r, Some(partition), e),
    }
}

/// How long an abort may take after a transaction failed.
const ABORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the transaction and registers every partition it will write.
async fn begin(
    cluster: &Cluster,
    id: &str,
    plan: &WritePlan,
    timeout: Duration,
    deadline: Instant,
) -> Result<OpenTransaction, KafkaError> {
    let mut open = OpenTransaction::begin(cluster, id, timeout, deadline).await?;
    if let Err(e) = open.add(plan, deadline).await {
        let _ = open
            .transaction
            .end(false, Instant::now() + ABORT_TIMEOUT)
            .await;
        return Err(e);
    }
    Ok(open)
}

/// Now, in milliseconds since the epoch: the CreateTime of records that
/// give none.
fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The error of every record of a transaction that did not commit, or whose
/// commit was not confirmed.
fn transaction_failed(id: &str, outcome: TxnOutcome, cause: RecordsError) -> RecordsError {
    RecordsError::Transaction {
        transaction: id.to_string(),
        outcome,
        cause: Box::new(cause),
    }
}

/// Every record failed with `error`, with its partition where one was chosen.
fn all_failed(records: &[PostRecord], plan: &WritePlan, error: RecordsError) -> Vec<RecordResult> {
    let error = Arc::new(error);
    let partition_of = |i: usize| {
        plan.values()
            .flat_map(|p| p.partitions.iter())
            .find(|(_, idx)| idx.contains(&i))
            .map(|(p, _)| *p)
    };
    records
        .iter()
        .enumerate()
        .map(|(i, r)| failed(r, partition_of(i), Arc::clone(&error)))
        .collect()
}

fn failed(r: &PostRecord, partition: Option<i32>, error: Arc<RecordsError>) -> RecordResult {
    RecordResult::Failed {
        topic: Arc::clone(&r.topic),
        partition,
        error,
    }
}

fn size(b: &Option<Bytes>) -> i64 {
    b.as_ref().map_or(-1, |b| b.len() as i64)
}

/// The largest batch to send to a topic whose `max.message.bytes` is `limit`.
fn batch_limit(limit: Option<usize>) -> usize {
    limit.unwrap_or(DEFAULT_MAX_MESSAGE_BYTES)
}

/// The bytes record `r` takes as the `offset_delta`-th record of a batch,
/// `timestamp_delta` after the batch's first.
fn record_bytes(r: &PostRecord, offset_delta: usize, timestamp_delta: i64) -> usize {
    record_size(
        offset_delta,
        timestamp_delta,
        r.key.as_deref(),
        r.value.as_deref(),
        &r.headers,
    )
}

/// Splits one partition's records into runs whose batches are at most
/// `max_bytes` as Kafka counts them (the batch header and every record, as
/// [`encode`] writes them); a record larger than that on its own is a run
/// of its own.
fn split_batches<'a>(
    records: &[PostRecord],
    idx: &'a [usize],
    now: i64,
    max_bytes: usize,
) -> Vec<&'a [usize]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = BATCH_OVERHEAD;
    let mut base_timestamp = 0;
    for (n, i) in idx.iter().enumerate() {
        let r = &records[*i];
        let timestamp = r.timestamp.unwrap_or(now);
        if n == start {
            base_timestamp = timestamp;
        }
        let mut len = record_bytes(r, n - start, timestamp - base_timestamp);
        if n > start && bytes + len > max_bytes {
            out.push(&idx[start..n]);
            start = n;
            bytes = BATCH_OVERHEAD;
            base_timestamp = timestamp;
            len = record_bytes(r, 0, 0);
        }
        bytes += len;
    }
    out.push(&idx[start..]);
    out
}

/// A batch of several records the broker refused as too large, split to
/// be sent again: by the topic's limit as just read, or in halves when that
/// does not split it (the limit is unknown, or the broker counts otherwise).
fn split_refused<'a>(
    records: &[PostRecord],
    batch: &'a [usize],
    now: i64,
    limit: Option<usize>,
) -> Vec<&'a [usize]> {
    if let Some(limit) = limit {
        let pieces = split_batches(records, batch, now, limit);
        if pieces.len() > 1 {
            return pieces;
        }
    }
    let (first, second) = batch.split_at(batch.len() / 2);
    vec![first, second]
}

fn encode(
    records: &[PostRecord],
    idx: &[usize],
    now: i64,
    producer: Option<ProducerState>,
) -> Bytes {
    let batch: Vec<ProduceRecord<'_>> = idx
        .iter()
        .map(|i| {
            let r = &records[*i];
            ProduceRecord {
                key: r.key.as_deref(),
                value: r.value.as_deref(),
                timestamp: r.timestamp.unwrap_or(now),
                headers: &r.headers,
            }
        })
        .collect();
    encode_records(&batch, producer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::{ClusterConfig, EndScript, FakeBroker, ProduceScript, Script};
    use kafka_protocol::ResponseError;

    fn record(value_len: usize) -> PostRecord {
        PostRecord {
            topic: "t".into(),
            partition: Some(0),
            key: None,
            value: Some(Bytes::from(vec![b'x'; value_len])),
            timestamp: None,
            headers: vec![],
            key_pending: None,
            value_pending: None,
        }
    }

    #[test]
    fn large_partitions_are_split_into_several_batches_in_order() {
        let records: Vec<PostRecord> = (0..5).map(|_| record(400 * 1024)).collect();
        let idx = [0, 1, 2, 3, 4];
        let chunks = split_batches(&records, &idx, 0, DEFAULT_MAX_MESSAGE_BYTES);
        assert_eq!(chunks, vec![&[0, 1][..], &[2, 3][..], &[4][..]]);
    }

    #[test]
    fn batches_are_as_full_as_the_limit_allows_and_never_over_it() {
        let records: Vec<PostRecord> = (0..200).map(|n| record(50 + n % 70)).collect();
        let idx: Vec<usize> = (0..records.len()).collect();
        let limit = 1000;
        let chunks = split_batches(&records, &idx, 1_700_000_000_000, limit);
        assert!(chunks.len() > 10, "{}", chunks.len());
        let size = |c: &[usize]| encode(&records, c, 1_700_000_000_000, None).len();
        for (n, c) in chunks.iter().enumerate() {
            assert!(size(c) <= limit, "batch {n} is {} bytes", size(c));
            if let Some(next) = chunks.get(n + 1) {
                let one_more = &idx[c[0]..=next[0]];
                assert!(
                    size(one_more) > limit,
                    "batch {n} could take one more record"
                );
            }
        }
        assert_eq!(chunks.concat(), idx, "every record once, in order");
        // A record over the limit on its own is a batch of its own.
        let records = vec![record(10), record(5000), record(10)];
        let chunks = split_batches(&records, &[0, 1, 2], 0, limit);
        assert_eq!(chunks, vec![&[0][..], &[1][..], &[2][..]]);
    }

    #[test]
    fn a_refused_batch_is_split_by_the_limit_or_else_in_halves() {
        let records: Vec<PostRecord> = (0..8).map(|_| record(100)).collect();
        let idx: Vec<usize> = (0..8).collect();
        let halves = split_refused(&records, &idx, 0, None);
        assert_eq!(halves, vec![&idx[..4], &idx[4..]]);
        // The limit as read says it fits: the broker counts otherwise, so halves.
        assert_eq!(split_refused(&records, &idx, 0, Some(100_000)), halves);
        let by_limit = split_refused(&records, &idx, 0, Some(400));
        assert_eq!(by_limit.len(), 3, "{by_limit:?}");
        assert_eq!(by_limit.concat(), idx);
    }

    fn request(
        records: Vec<PostRecord>,
        transaction: Option<&str>,
        timeout_ms: u64,
    ) -> PostRequest {
        PostRequest {
            records,
            transaction_id: transaction.map(str::to_string),
            asynchronous: false,
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    async fn fake(script: Script) -> (FakeBroker, Cluster) {
        let broker = FakeBroker::start().await;
        broker.script(script);
        let cluster = Cluster::new(ClusterConfig {
            bootstrap: vec![broker.addr.clone()],
        });
        (broker, cluster)
    }

    fn offsets(posted: &Posted) -> Vec<Result<i64, String>> {
        posted
            .results
            .iter()
            .map(|r| match r {
                RecordResult::Written { offset, .. } => Ok(*offset),
                RecordResult::Failed { error, .. } => Err(error.to_string()),
            })
            .collect()
    }

    #[tokio::test]
    async fn a_batch_refused_as_too_large_is_split_and_every_record_written_in_order() {
        // The topic's limit cannot be read: batches of up to 1 MiB go, and
        // are split in halves until the broker takes them.
        let (broker, cluster) = fake(Script {
            produce: Some(ProduceScript::Accept(Some(2000))),
            ..Script::default()
        })
        .await;
        let records: Vec<PostRecord> = (0..40).map(|_| record(300)).collect();
        let posted = run(&cluster, request(records, None, 5000)).await;
        assert_eq!(offsets(&posted), (0..40).map(Ok).collect::<Vec<_>>());
        let appended = broker.appended();
        assert!(appended.len() >= 8, "{appended:?}");
        let mut next = 0;
        for (base, count) in appended {
            assert_eq!(base, next, "batches in order");
            next += i64::from(count);
        }
    }

    #[tokio::test]
    async fn a_stale_limit_is_read_again_after_a_refusal_and_batches_follow_it() {
        let (broker, cluster) = fake(Script {
            produce: Some(ProduceScript::Accept(None)),
            max_message_bytes: Some(1_000_000),
            ..Script::default()
        })
        .await;
        let deadline = Instant::now() + Duration::from_secs(5);
        assert_eq!(
            cluster.max_message_bytes("t", deadline).await,
            Some(1_000_000)
        );
        // The topic's limit is lowered behind the cache's back.
        broker.script(Script {
            produce: Some(ProduceScript::Accept(Some(2000))),
            max_message_bytes: Some(2000),
            ..Script::default()
        });
        let records: Vec<PostRecord> = (0..40).map(|_| record(300)).collect();
        let posted = run(&cluster, request(records, None, 5000)).await;
        assert_eq!(offsets(&posted), (0..40).map(Ok).collect::<Vec<_>>());
        // One refused batch, then batches as full as 2000 bytes allow.
        assert_eq!(broker.produce_requests(), 1 + broker.appended().len());
        assert_eq!(
            broker.appended().len(),
            40usize.div_ceil(6),
            "{:?}",
            broker.appended()
        );
        assert_eq!(cluster.max_message_bytes("t", deadline).await, Some(2000));
    }

    #[tokio::test]
    async fn only_a_record_too_large_on_its_own_fails_named_with_its_size_and_the_limit() {
        let (broker, cluster) = fake(Script {
            produce: Some(ProduceScript::Accept(Some(2000))),
            max_message_bytes: Some(2000),
            ..Script::default()
        })
        .await;
        let records = vec![record(10), record(10), record(5000), record(10)];
        let posted = run(&cluster, request(records, None, 5000)).await;
        let results = offsets(&posted);
        assert_eq!(results[..2], [Ok(0), Ok(1)]);
        assert_eq!(results[3], Ok(2), "the records after it are written");
        let e = results[2].as_ref().unwrap_err();
        assert!(e.starts_with("records[2] is 5070 bytes"), "{e}");
        assert!(
            e.contains("more than the 2000 bytes topic 't' accepts"),
            "{e}"
        );
        let error = posted.results[2].error().unwrap();
        assert!(
            matches!(error, RecordsError::Invalid(_)),
            "a 400: {error:?}"
        );
        assert_eq!(broker.appended().len(), 2);
    }

    /// A transaction of two records on the fake, whose commit or abort
    /// answers as `script` says.
    async fn transaction(script: Script, timeout_ms: u64) -> (FakeBroker, Posted) {
        let (broker, cluster) = fake(script).await;
        let posted = run(
            &cluster,
            request(vec![record(10), record(10)], Some("tx"), timeout_ms),
        )
        .await;
        (broker, posted)
    }

    fn transaction_error(posted: &Posted) -> (TxnOutcome, String, Option<crate::kafka::ErrorKind>) {
        assert!(
            posted.results.iter().all(|r| r.error().is_some()),
            "{posted:?}"
        );
        match posted.results[0].error() {
            Some(e @ RecordsError::Transaction { outcome, .. }) => {
                (*outcome, e.to_string(), e.kafka_kind())
            }
            other => panic!("not a transaction's error: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_commit_sent_but_never_answered_is_an_unknown_outcome_not_an_abort() {
        let (broker, posted) = transaction(
            Script {
                produce: Some(ProduceScript::Accept(None)),
                commit: EndScript::Silent,
                ..Script::default()
            },
            1000,
        )
        .await;
        let (outcome, message, kind) = transaction_error(&posted);
        assert_eq!(outcome, TxnOutcome::Unknown);
        assert!(message.contains("outcome unknown"), "{message}");
        assert!(
            message.contains("may or may not have committed"),
            "{message}"
        );
        assert!(!message.contains("abort"), "{message}");
        assert_eq!(kind, Some(crate::kafka::ErrorKind::Timeout), "a 504");
        assert_eq!(broker.end_txn_requests(), (1, 0), "no abort after a commit");
    }

    #[tokio::test]
    async fn a_commit_whose_connection_breaks_is_an_unknown_outcome_too() {
        let (broker, posted) = transaction(
            Script {
                produce: Some(ProduceScript::Accept(None)),
                commit: EndScript::HangUp,
                ..Script::default()
            },
            1000,
        )
        .await;
        let (outcome, message, kind) = transaction_error(&posted);
        assert_eq!(outcome, TxnOutcome::Unknown);
        assert!(message.contains("outcome unknown"), "{message}");
        assert!(!message.contains("abort"), "{message}");
        assert_eq!(kind, Some(crate::kafka::ErrorKind::Unreachable), "a 503");
        assert_eq!(broker.end_txn_requests().1, 0, "no abort after a commit");
    }

    #[tokio::test]
    async fn a_refused_commit_is_aborted_and_says_so_once_the_abort_is_confirmed() {
        let (broker, posted) = transaction(
            Script {
                produce: Some(ProduceScript::Accept(None)),
                commit: EndScript::Refuse(ResponseError::InvalidTxnState),
                ..Script::default()
            },
            1000,
        )
        .await;
        let (outcome, message, _) = transaction_error(&posted);
        assert_eq!(outcome, TxnOutcome::Aborted);
        assert!(message.contains("was aborted"), "{message}");
        assert_eq!(broker.end_txn_requests(), (1, 1));
    }

    #[tokio::test]
    async fn a_failed_write_whose_abort_is_not_confirmed_is_not_called_aborted() {
        let script = |abort| Script {
            produce: Some(ProduceScript::Refuse(ResponseError::InvalidRecord)),
            abort,
            ..Script::default()
        };
        let (broker, posted) = transaction(script(EndScript::Answer), 1000).await;
        let (outcome, message, _) = transaction_error(&posted);
        assert_eq!(outcome, TxnOutcome::Aborted);
        assert!(
            message.contains("was aborted and none of its records became visible"),
            "{message}"
        );
        assert_eq!(broker.end_txn_requests(), (0, 1));

        let (_, posted) = transaction(
            script(EndScript::Refuse(ResponseError::UnknownServerError)),
            1000,
        )
        .await;
        let (outcome, message, _) = transaction_error(&posted);
        assert_eq!(outcome, TxnOutcome::NotCommitted);
        assert!(
            message.contains("was not committed and none of its records became visible"),
            "{message}"
        );
        assert!(!message.contains("was aborted"), "{message}");
    }

    #[tokio::test]
    async fn a_committed_transaction_answers_once_read_committed_readers_see_it() {
        let (broker, posted) = transaction(
            Script {
                produce: Some(ProduceScript::Accept(None)),
                stale_stable_answers: 3,
                ..Script::default()
            },
            5000,
        )
        .await;
        assert_eq!(offsets(&posted), [Ok(0), Ok(1)]);
        assert!(posted.notice.is_none(), "{:?}", posted.notice);
        assert_eq!(
            broker.list_offsets_requests(),
            4,
            "three stale answers, then the new end"
        );
    }

    #[tokio::test]
    async fn a_commit_not_yet_visible_at_the_timeout_says_so_with_every_offset() {
        let (_, posted) = transaction(
            Script {
                produce: Some(ProduceScript::Accept(None)),
                stale_stable_answers: usize::MAX,
                ..Script::default()
            },
            300,
        )
        .await;
        assert_eq!(offsets(&posted), [Ok(0), Ok(1)], "committed: written");
        let notice = posted.notice.expect("a notice");
        assert!(
            matches!(notice, RecordsError::NotYetVisible(_)),
            "{notice:?}"
        );
        let message = notice.to_string();
        assert!(message.contains("committed"), "{message}");
        assert!(
            message.contains("t/0: last record at offset 1, last stable offset 0"),
            "{message}"
        );
    }
}
