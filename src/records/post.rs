//! POST /records: write validated records (the HTTP layer reads and checks
//! the body: a body with one bad record writes nothing).
//!
//! Records are grouped into one batch per partition (split only when a batch
//! would exceed what a broker accepts) and each topic's batches go out in one
//! produce request per leader broker, concurrently.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::future::join_all;
use tokio::time::Instant;

use super::RecordsError;
use crate::kafka::partitioner::partition_for_key;
use crate::kafka::{
    encode_records, Cluster, Header, KafkaError, Need, ProduceRecord, ProducerState, TopicInfo,
    Transaction,
};

/// The write timeout when the request gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Encoded batches above this many bytes are split, to stay under the
/// broker's default `message.max.bytes` (1 MiB) with room for overhead.
const MAX_BATCH_BYTES: usize = 900 * 1024;

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

/// A topic's metadata, or why there is none.
type TopicLookup = Result<Arc<TopicInfo>, Arc<RecordsError>>;

/// Which records go to which partition of which topic: record indexes in
/// request order, by topic and partition.
type WritePlan<'a> = BTreeMap<&'a str, BTreeMap<i32, Vec<usize>>>;

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

/// The producer a transaction writes as.
#[derive(Debug, Clone, Copy)]
struct TransactionalProducer {
    id: i64,
    epoch: i16,
}

/// What every batch of one request shares.
#[derive(Clone, Copy)]
struct WriteContext<'a> {
    cluster: &'a Cluster,
    records: &'a [PostRecord],
    /// The CreateTime of records that give none.
    now: i64,
    producer: Option<TransactionalProducer>,
    transaction_id: Option<&'a str>,
    deadline: Instant,
}

/// Writes validated records and reports each one, in request order:
///
/// 1. look up every topic (creating it where the broker allows);
/// 2. choose each record's partition;
/// 3. with a `transactionId`, open the transaction;
/// 4. send each topic's batches, one produce per leader;
/// 5. commit the transaction, or abort it if anything failed;
/// 6. report each record.
pub async fn run(cluster: &Cluster, request: PostRequest) -> Vec<RecordResult> {
    let deadline = Instant::now() + request.timeout;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let records = &request.records;
    let topics = look_up_topics(cluster, records, deadline).await;
    let (plan, mut results) = choose_partitions(records, &topics);
    let transaction = match &request.transaction_id {
        None => None,
        Some(id) => {
            match open_transaction(cluster, id, &plan, &results, &request, deadline).await {
                Ok(t) => Some(t),
                Err(e) => return all_failed(records, &plan, e),
            }
        }
    };
    let context = WriteContext {
        cluster,
        records,
        now,
        producer: transaction.as_ref().map(|t| TransactionalProducer {
            id: t.producer_id,
            epoch: t.producer_epoch,
        }),
        transaction_id: request.transaction_id.as_deref(),
        deadline,
    };
    // By topic: each topic's records as its writes went.
    let sent: Vec<Vec<Sent>> = join_all(
        plan.iter()
            .map(|(topic, partitions)| write_topic(context, topic, partitions)),
    )
    .await;
    if let Some(transaction) = transaction {
        if let Err(e) = end_transaction(transaction, &sent, deadline).await {
            return all_failed(records, &plan, e);
        }
    }
    for s in sent.into_iter().flatten() {
        results[s.index] = Some(report(&records[s.index], s.partition, s.result, now));
    }
    results
        .into_iter()
        .zip(records)
        .map(|(result, r)| {
            result.unwrap_or_else(|| {
                let e = KafkaError::Protocol("record was not sent".into());
                failed(r, None, Arc::new(e.into()))
            })
        })
        .collect()
}

/// Step 1: every topic's metadata, creating topics where the broker allows,
/// as current as its records need it ([`needs`]).
async fn look_up_topics(
    cluster: &Cluster,
    records: &[PostRecord],
    deadline: Instant,
) -> HashMap<String, TopicLookup> {
    join_all(needs(records).into_iter().map(|(t, need)| async move {
        let found = cluster.topic_for(t, need, true, deadline).await;
        (t.to_string(), found.map_err(|e| Arc::new(e.into())))
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
fn choose_partitions<'a>(
    records: &'a [PostRecord],
    topics: &HashMap<String, TopicLookup>,
) -> (WritePlan<'a>, Vec<Option<RecordResult>>) {
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
        let info = match found {
            Ok(info) => info,
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
        plan.entry(&*r.topic)
            .or_default()
            .entry(partition)
            .or_default()
            .push(i);
    }
    (plan, results)
}

/// Step 3: opens the transaction and registers its partitions. A record that
/// could not be placed fails it at once: a transaction is all or nothing.
async fn open_transaction(
    cluster: &Cluster,
    id: &str,
    plan: &WritePlan<'_>,
    placed: &[Option<RecordResult>],
    request: &PostRequest,
    deadline: Instant,
) -> Result<Transaction, RecordsError> {
    if let Some(cause) = placed.iter().flatten().find_map(RecordResult::error) {
        return Err(aborted(id, cause.clone()));
    }
    begin(cluster, id, plan, request.timeout, deadline)
        .await
        .map_err(|e| aborted(id, e.into()))
}

/// Step 4: sends one topic's records, one produce per leader; partitions
/// whose records need several batches send them one after the other, in
/// order, and stop at the first that fails.
async fn write_topic(
    context: WriteContext<'_>,
    topic: &str,
    partitions: &BTreeMap<i32, Vec<usize>>,
) -> Vec<Sent> {
    let records = context.records;
    let mut chunks: BTreeMap<i32, Vec<&[usize]>> = partitions
        .iter()
        .map(|(p, idx)| (*p, split_batches(records, idx)))
        .collect();
    let mut sent: Vec<Sent> = Vec::new();
    for round in 0.. {
        let batches = round_batches(context, &chunks, round);
        if batches.is_empty() {
            break;
        }
        let answers = context
            .cluster
            .produce(topic, batches, context.transaction_id, context.deadline)
            .await;
        for (p, result) in answers {
            let Some(chunk) = chunks.get(&p).and_then(|cs| cs.get(round)) else {
                continue;
            };
            match result {
                Ok(ack) => sent.extend(chunk.iter().enumerate().map(|(n, i)| Sent {
                    index: *i,
                    partition: p,
                    result: Ok(Appended {
                        offset: ack.base_offset + n as i64,
                        log_append_time: ack.log_append_time,
                    }),
                })),
                Err(e) => {
                    let e = Arc::new(RecordsError::from(e));
                    // Later batches of this partition are not sent: order matters.
                    let rest = chunks.remove(&p).unwrap_or_default();
                    sent.extend(rest[round..].iter().flat_map(|c| c.iter()).map(|i| Sent {
                        index: *i,
                        partition: p,
                        result: Err(Arc::clone(&e)),
                    }));
                }
            }
        }
    }
    sent
}

/// The `round`-th batch of each partition that has one, encoded.
fn round_batches(
    context: WriteContext<'_>,
    chunks: &BTreeMap<i32, Vec<&[usize]>>,
    round: usize,
) -> Vec<(i32, Bytes)> {
    chunks
        .iter()
        .filter_map(|(p, cs)| {
            cs.get(round).map(|c| {
                // Sequence numbers count records per partition from 0 in each transaction.
                let state = context.producer.map(|producer| ProducerState {
                    id: producer.id,
                    epoch: producer.epoch,
                    base_sequence: cs[..round].iter().map(|c| c.len() as i32).sum(),
                    transactional: true,
                });
                (*p, encode(context.records, c, context.now, state))
            })
        })
        .collect()
}

/// Step 5: commits the transaction when every record was written, else
/// aborts it; the error of every record when it did not commit.
async fn end_transaction(
    transaction: Transaction,
    sent: &[Vec<Sent>],
    deadline: Instant,
) -> Result<(), RecordsError> {
    let id = transaction.id().to_string();
    let failure = sent.iter().flatten().find_map(|s| s.result.as_ref().err());
    let Some(cause) = failure else {
        return transaction.end(true, deadline).await.map_err(|e| match e {
            KafkaError::Timeout(_) | KafkaError::Unreachable { .. } | KafkaError::ClusterUnreachable(_) => RecordsError::Kafka(KafkaError::Timeout(format!(
                "committing transaction '{id}' did not finish in time: it may or may not have committed ({e})"
            ))),
            other => aborted(&id, other.into()),
        });
    };
    // A fenced transaction was already aborted by the newer producer.
    if !matches!(**cause, RecordsError::Kafka(KafkaError::Fenced(_))) {
        let abort_deadline = Instant::now() + ABORT_TIMEOUT;
        if let Err(e) = transaction.end(false, abort_deadline).await {
            tracing::warn!(transaction = %id, error = %e, "abort failed; the coordinator aborts at the transaction timeout");
        }
    }
    Err(aborted(&id, (**cause).clone()))
}

/// Step 6: what one sent record's answer says.
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
    plan: &WritePlan<'_>,
    timeout: Duration,
    deadline: Instant,
) -> Result<Transaction, KafkaError> {
    let transaction = cluster.begin_transaction(id, timeout, deadline).await?;
    let partitions: Vec<(String, Vec<i32>)> = plan
        .iter()
        .map(|(t, ps)| (t.to_string(), ps.keys().copied().collect()))
        .collect();
    if let Err(e) = transaction.add_partitions(&partitions, deadline).await {
        let _ = transaction.end(false, Instant::now() + ABORT_TIMEOUT).await;
        return Err(e);
    }
    Ok(transaction)
}

/// The error of every record of a transaction that did not commit.
fn aborted(id: &str, cause: RecordsError) -> RecordsError {
    RecordsError::Aborted {
        transaction: id.to_string(),
        cause: Box::new(cause),
    }
}

/// Every record failed with `error`, with its partition where one was chosen.
fn all_failed(
    records: &[PostRecord],
    plan: &WritePlan<'_>,
    error: RecordsError,
) -> Vec<RecordResult> {
    let error = Arc::new(error);
    let partition_of = |i: usize| {
        plan.values()
            .flat_map(|ps| ps.iter())
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

/// Splits one partition's records into runs whose batches stay under the limit.
fn split_batches<'a>(records: &[PostRecord], idx: &'a [usize]) -> Vec<&'a [usize]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (n, i) in idx.iter().enumerate() {
        let r = &records[*i];
        let len = 32
            + r.key.as_ref().map_or(0, Bytes::len)
            + r.value.as_ref().map_or(0, Bytes::len)
            + r.headers
                .iter()
                .map(|h| 8 + h.key.len() + h.value.as_ref().map_or(0, Bytes::len))
                .sum::<usize>();
        if n > start && bytes + len > MAX_BATCH_BYTES {
            out.push(&idx[start..n]);
            start = n;
            bytes = 0;
        }
        bytes += len;
    }
    out.push(&idx[start..]);
    out
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

    #[test]
    fn large_partitions_are_split_into_several_batches_in_order() {
        let records: Vec<PostRecord> = (0..5)
            .map(|_| PostRecord {
                topic: "t".into(),
                partition: None,
                key: None,
                value: Some(Bytes::from(vec![0u8; 400 * 1024])),
                timestamp: None,
                headers: vec![],
            })
            .collect();
        let idx = [0, 1, 2, 3, 4];
        let chunks = split_batches(&records, &idx);
        assert_eq!(chunks, vec![&[0, 1][..], &[2, 3][..], &[4][..]]);
    }
}
