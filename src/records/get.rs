//! GET /records/{topic}: read committed records from one or all partitions,
//! as one page or as a stream.
//!
//! 1. Resolve each partition's start from the seek parameter or the cursor
//!    (ListOffsets, read_committed, so the end is the last stable offset;
//!    distances are counted in visible records, see `distance`), or from
//!    the group's committed offsets after checking it has no live members;
//!    and its bound, from `untilOffset` or `untilTimestamp`.
//! 2. Fetch every partition that is behind its end, all at once (one request
//!    per leader), without waiting on the broker; a `filter` keeps only the
//!    records its program selects, scanning at most `max_scan` records.
//! 3. Stop at `limit` records, or with at least one record once every
//!    partition is read to its end (a bounded read: at its bounds or ends,
//!    with or without records); with none, wait (sharing one long poll
//!    with every other GET on the same partitions) until records arrive or
//!    the timeout passes.
//! 4. Take at most `limit` records fairly: round-robin over the partitions
//!    that have records, so a backlog on one never starves the others.
//!
//! A page ([`run`]) does this once; a stream ([`Reader::next_round`]) does
//! steps 2 to 4 again and again, holding one round of records at a time.
//!
//! The HTTP layer writes the records, then commits for the group exactly
//! what it wrote ([`Page::commit_for`]) and answers where a next read goes
//! on ([`Page::next_cursor`]).
//!
//! A GET with a group first takes the group's turn ([`GroupTurns`]), so GETs
//! of one group in this instance read and commit one after another.

use std::cmp::Reverse;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::Instant;

mod distance;
mod turns;

pub use turns::{GroupTurns, Turn};

use super::cursor::Cursor;
use super::filter::Filter;
use super::view::View;
use super::{RecordsError, Unavailable};
use crate::codec::registry::Registry;
use crate::codec::schema::{ReadError, SchemaSet};
use crate::codec::Format;
use crate::kafka::{
    decode_records, Cluster, ErrorKind, FetchedPartition, FetchedRecord, KafkaError, Need,
    OffsetQuery, Refusal,
};

/// The read timeout when the request gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The most records a search scans when the service is not told otherwise.
pub const DEFAULT_MAX_SCAN: u64 = 1_000_000;

/// The least time Kafka calls get, whatever the request's timeout.
const MIN_KAFKA_TIME: Duration = Duration::from_secs(2);

/// How long a commit may take once the response is written.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one fetch of a stream may take.
const STREAM_FETCH_TIME: Duration = Duration::from_secs(10);

/// The most bytes one round of a stream fetches: what a stream holds at a
/// time, whatever its length. A stream sizes its rounds between
/// [`STREAM_ROUND_MIN_BYTES`] and this by how fast its client reads.
///
/// A stream holds two rounds (the one written and the next), each its
/// batches and their decoded records (for records of 100 bytes, about as
/// much again). At 256 KiB a slow reader's stream, filled at full size while
/// the kernel's socket buffers took in its first megabytes, peaked at 1.3 to
/// 1.8 MB; at 128 KiB at 0.55 to 0.75 MB, and a stream draining a topic as
/// fast as it can ran within the noise of the same speed.
pub const STREAM_ROUND_BYTES: usize = 128 * 1024;

/// The fewest bytes a round of a stream asks for (a round still holds at
/// least one whole batch, as Kafka answers no less).
pub const STREAM_ROUND_MIN_BYTES: usize = 16 * 1024;

/// Where each partition's read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seek {
    /// `n` records before the end.
    FromLatest(i64),
    /// `n` records after the start.
    FromBeginning(i64),
    /// At this offset, clamped to the partition's range.
    To(i64),
    /// At the first record whose timestamp is at or after this (ms).
    ToTimestamp(i64),
}

/// Where each partition's read ends (not included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Before this offset.
    Offset(i64),
    /// Before the first record whose timestamp is at or after this (ms).
    Timestamp(i64),
}

/// Where a consumer group with no committed offset for a partition starts
/// (the Java consumer's `auto.offset.reset`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OffsetReset {
    /// At the log start offset.
    Earliest,
    /// At the end: only records written from now on.
    #[default]
    Latest,
}

/// A validated GET.
#[derive(Debug, Clone)]
pub struct GetRequest {
    /// Topic to read.
    pub topic: String,
    /// Only this partition, else all.
    pub partition: Option<i32>,
    /// Consumer group whose committed offsets to start from.
    pub group_id: Option<String>,
    /// How keys are decoded.
    pub key: Format,
    /// How values are decoded.
    pub value: Format,
    /// The most records returned.
    pub limit: usize,
    /// The longest the read waits for records.
    pub timeout: Duration,
    /// Where to start; `None` is the end (or the group's offsets, or the cursor).
    pub seek: Option<Seek>,
    /// Where an earlier read left off; excludes `seek`.
    pub resume: Option<Cursor>,
    /// Where the read ends.
    pub until: Option<Until>,
    /// Which records to keep.
    pub filter: Option<Arc<Filter>>,
    /// The most records a read with a filter scans.
    pub max_scan: u64,
    /// Where a group starts on partitions it has no committed offset for.
    pub reset: OffsetReset,
    /// The most bytes the response may hold; records are fetched only up to
    /// about as many bytes.
    pub max_bytes: usize,
    /// The Schema Registry, for the formats that need it.
    pub registry: Option<Registry>,
}

/// The records a GET collected, still as fetched bytes.
#[derive(Debug)]
pub struct Page {
    /// The topic read.
    pub topic: String,
    /// How keys are to be decoded.
    pub key: Format,
    /// How values are to be decoded.
    pub value: Format,
    /// Records in the order fair selection took them (any first part of them
    /// is a fair page too); within a partition, by offset.
    pub records: Vec<(i32, FetchedRecord)>,
    /// The consumer group to commit to, if any.
    pub group: Option<String>,
    /// For each partition read, where a next read goes on when none of its
    /// records in `records` is written: past every record scanned.
    pub resume: Vec<(i32, i64)>,
    /// Where partitions the read could not serve go on, from the cursor it
    /// resumed (the next cursor keeps them).
    pub carried: Vec<(i32, i64)>,
    /// Whether the read covered every partition of the topic.
    pub every_partition: bool,
    /// Whether there is a next read at all: a read that waited in vain for
    /// its group's turn read nothing and knows no positions.
    pub resumable: bool,
    /// The group's turn, held until its commit is done (or the page is
    /// dropped): no other GET of the group in this instance reads meanwhile.
    pub turn: Option<Turn>,
    /// Partitions of a read of every partition that could not be read now,
    /// and why (the records of the others are in the page).
    pub unavailable: Vec<Unavailable>,
    /// The schemas the records' keys and values name.
    pub schemas: SchemaSet,
}

/// The offsets a GET with a consumer group commits once its response is out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCommit {
    /// The consumer group.
    pub group: String,
    /// The topic read.
    pub topic: String,
    /// For each partition read, the next offset to read.
    pub offsets: Vec<(i32, i64)>,
}

impl Page {
    /// Where each partition read goes on once exactly the records `written`
    /// (partition, offset) are out: at its first record not written, else
    /// past every record scanned (records a filter left out included).
    pub fn next_positions(&self, written: &[(i32, i64)]) -> Vec<(i32, i64)> {
        self.resume
            .iter()
            .map(|(id, resume)| {
                let last = written
                    .iter()
                    .filter(|(p, _)| p == id)
                    .map(|(_, o)| *o)
                    .max();
                let unwritten = self
                    .records
                    .iter()
                    .filter(|(p, r)| p == id && last.is_none_or(|l| r.offset > l))
                    .map(|(_, r)| r.offset)
                    .min();
                (*id, unwritten.unwrap_or(*resume))
            })
            .collect()
    }

    /// For a GET with a group, the commit that covers exactly the records
    /// `written`: see [`Page::next_positions`].
    pub fn commit_for(&self, written: &[(i32, i64)]) -> Option<GroupCommit> {
        let group = self.group.as_ref()?;
        Some(GroupCommit {
            group: group.clone(),
            topic: self.topic.clone(),
            offsets: self.next_positions(written),
        })
    }

    /// The cursor of a next read once exactly the records `written` are
    /// out; `None` when the read knows no positions.
    pub fn next_cursor(&self, written: &[(i32, i64)]) -> Option<Cursor> {
        if !self.resumable {
            return None;
        }
        let mut positions = self.next_positions(written);
        positions.extend(
            self.carried
                .iter()
                .filter(|(p, _)| !self.resume.iter().any(|(q, _)| q == p)),
        );
        Some(Cursor::new(positions, self.every_partition))
    }
}

/// Commits what a GET returned, for its consumer group.
pub async fn commit(cluster: &Cluster, commit: &GroupCommit) -> Result<(), RecordsError> {
    let deadline = Instant::now() + COMMIT_TIMEOUT;
    cluster
        .commit_offsets(&commit.group, &commit.topic, &commit.offsets, deadline)
        .await
        .map_err(RecordsError::from)
}

/// One partition being read.
struct PartitionRead {
    id: i32,
    /// Where the read of this partition started.
    start: i64,
    /// Whether `start` is a seek offset not yet clamped to the log's range.
    start_unclamped: bool,
    /// Whether the next fetch must ask for this partition alone: its next
    /// batch is larger than a shared fetch brings back.
    needs_own_fetch: bool,
    /// The last fetch round that brought this partition bytes: shared
    /// fetches ask first for the partitions served longest ago, so that the
    /// response's byte bound does not always go to the same ones.
    served: u64,
    /// Whether the last fetch brought nothing although records are there:
    /// the response's byte bound was spent on other partitions.
    crowded_out: bool,
    /// The next offset to fetch.
    position: i64,
    /// The last stable offset, as last seen.
    end: i64,
    /// Where the read of this partition ends, if bounded.
    until: Option<i64>,
    at_end: bool,
    records: Vec<FetchedRecord>,
}

impl PartitionRead {
    /// Whether the partition is read up to its bound.
    fn at_bound(&self) -> bool {
        self.until.is_some_and(|u| self.position >= u)
    }

    /// Whether a bounded read of the partition is done: at its bound, or at
    /// its end as last seen. A fetch that timed out leaves it at neither.
    fn done(&self) -> bool {
        self.at_bound() || (self.at_end && self.position >= self.end)
    }
}

/// What every fetch of one read shares.
struct Reading {
    cluster: Cluster,
    topic: String,
    key: Format,
    value: Format,
    limit: usize,
    /// Bytes of the records held so far: fetching stops at the response's bound.
    bytes_held: usize,
    /// Whether `bytes_held` counts the whole fetched batches the records
    /// hold on to (a stream's round), or only the records' own bytes (a
    /// page, whose bound is that of its answer).
    count_batches: bool,
    max_bytes: usize,
    partition_max_bytes: i32,
    /// Fetch rounds so far.
    rounds: u64,
    deadline: Instant,
    /// Partitions that became unavailable while being read, and why: left
    /// out of the next fetches until a fetch after a wait finds them again.
    lost: Vec<(i32, KafkaError)>,
    filter: Option<Arc<Filter>>,
    /// Records a filter looked at, and the most it may.
    scanned: u64,
    max_scan: u64,
    /// The registry, and the schemas resolved so far.
    registry: Option<Registry>,
    schemas: SchemaSet,
}

impl Reading {
    /// Whether a filter has scanned all it may.
    fn scan_exhausted(&self) -> bool {
        self.filter.is_some() && self.scanned >= self.max_scan
    }
}

/// A read in progress: where each partition stands, and what it shares.
pub struct Reader {
    parts: Vec<PartitionRead>,
    reading: Reading,
    group: Option<String>,
    turn: Option<Turn>,
    unavailable: Vec<Unavailable>,
    carried: Vec<(i32, i64)>,
    every_partition: bool,
    bounded: bool,
}

/// Reads records as `request` asks; a GET with a group first waits for the
/// group's turn in `turns`.
pub async fn run(
    cluster: &Cluster,
    turns: &GroupTurns,
    request: &GetRequest,
) -> Result<Page, RecordsError> {
    // `timeout` bounds the wait for records; Kafka calls get at least a
    // moment, so `timeout=0s` still answers with what is already there.
    let wait_until = Instant::now() + request.timeout;
    let Some(mut reader) = Reader::open(cluster, turns, request, wait_until, None).await? else {
        return Ok(Page::waited_in_vain(request));
    };
    reader.fill(wait_until).await?;
    reader.into_page(request)
}

impl Reader {
    /// Starts a read: the partitions, the group's turn (`None` when
    /// `wait_until` passed before it came), each partition's start and bound.
    /// Its Kafka calls may take until `wait_until` (at least a moment), or
    /// `kafka_time` when given (a stream's `wait_until` is far off).
    pub async fn open(
        cluster: &Cluster,
        turns: &GroupTurns,
        request: &GetRequest,
        wait_until: Instant,
        kafka_time: Option<Duration>,
    ) -> Result<Option<Reader>, RecordsError> {
        if (request.key.needs_schema() || request.value.needs_schema())
            && request.registry.is_none()
        {
            let field = if request.key.needs_schema() {
                "keyDeserializer"
            } else {
                "valueDeserializer"
            };
            return Err(RecordsError::Invalid(format!(
                "{field}: the Schema Registry formats need the service to be started with --schema-registry-url"
            )));
        }
        let kafka_deadline = || match kafka_time {
            Some(t) => Instant::now() + t,
            None => wait_until.max(Instant::now() + MIN_KAFKA_TIME),
        };
        let deadline = kafka_deadline();
        let topic = request.topic.as_str();
        let (ids, unavailable) = partitions_to_read(
            cluster,
            topic,
            request.partition,
            request.resume.as_ref(),
            deadline,
        )
        .await?;
        // With `partition`, groupId is ignored: nothing is read from or committed to the group.
        let group = request
            .group_id
            .as_deref()
            .filter(|_| request.partition.is_none());
        let turn = match group {
            Some(group) => match turns.take(group, topic, wait_until).await {
                Some(turn) => Some(turn),
                None => return Ok(None),
            },
            None => None,
        };
        // Waiting for the turn took part of the time.
        let deadline = deadline.max(kafka_deadline());
        let start = match (&request.resume, request.seek, group) {
            (Some(cursor), _, _) => Start::Cursor(cursor),
            (None, None, Some(group)) => Start::Group(group, request.reset),
            (None, seek, _) => Start::Seek(seek),
        };
        let parts =
            start_reads(cluster, topic, &ids, start, request.until, group, deadline).await?;
        let carried = match &request.resume {
            Some(cursor) => unavailable
                .iter()
                .filter_map(|u| cursor.position(u.partition).map(|o| (u.partition, o)))
                .collect(),
            None => Vec::new(),
        };
        let every_partition = request.partition.is_none()
            && request.resume.as_ref().is_none_or(|c| c.every_partition);
        let partition_max_bytes = if request.filter.is_some() {
            1024 * 1024
        } else {
            (request.limit.saturating_mul(1024)).clamp(64 * 1024, 1024 * 1024)
        };
        Ok(Some(Reader {
            parts,
            reading: Reading {
                cluster: cluster.clone(),
                topic: request.topic.clone(),
                key: request.key,
                value: request.value,
                limit: request.limit,
                bytes_held: 0,
                count_batches: false,
                max_bytes: request.max_bytes,
                partition_max_bytes: partition_max_bytes as i32,
                rounds: 0,
                deadline,
                lost: Vec::new(),
                filter: request.filter.clone(),
                scanned: 0,
                max_scan: request.max_scan,
                registry: request.registry.clone(),
                schemas: SchemaSet::default(),
            },
            group: group.map(str::to_string),
            turn,
            unavailable,
            carried,
            every_partition,
            bounded: request.until.is_some(),
        }))
    }

    /// Steps 2 and 3 for a page: fetches until the page is full, every
    /// partition is read to its end with records found (or to its bound),
    /// or `wait_until` passes.
    async fn fill(&mut self, wait_until: Instant) -> Result<(), RecordsError> {
        let parts = &mut self.parts;
        let reading = &mut self.reading;
        loop {
            reading.fetch_round(parts).await?;
            if reading.lost.len() == parts.len() {
                break;
            }
            let total: usize = parts.iter().map(|p| p.records.len()).sum();
            // Enough records, unless a partition still owes its big batch, or
            // was crowded out of the answer: fair selection needs every
            // partition's records.
            let big_batch_pending = parts
                .iter()
                .any(|p| (p.needs_own_fetch || p.crowded_out) && !p.at_end);
            if (total >= reading.limit && !big_batch_pending)
                || reading.bytes_held >= reading.max_bytes
                || reading.scan_exhausted()
                || Instant::now() >= wait_until
            {
                break;
            }
            if parts.iter().all(|p| p.at_end) {
                // A bounded read never waits.
                if total > 0 || self.bounded || parts.iter().all(PartitionRead::at_bound) {
                    break;
                }
                let positions: Vec<(i32, i64)> = parts.iter().map(|p| (p.id, p.position)).collect();
                reading
                    .cluster
                    .wait_for_data(&reading.topic, &positions, wait_until)
                    .await;
                if Instant::now() >= wait_until {
                    break;
                }
                for p in parts.iter_mut() {
                    p.at_end = p.at_bound();
                }
            }
        }
        Ok(())
    }

    /// The page of what was read.
    fn into_page(mut self, request: &GetRequest) -> Result<Page, RecordsError> {
        let unavailable = still_unavailable(
            &request.topic,
            std::mem::take(&mut self.unavailable),
            std::mem::take(&mut self.reading.lost),
            &self.parts,
        )?;
        let (records, resume) = select_fairly(&mut self.parts, request.limit);
        Ok(Page {
            topic: request.topic.clone(),
            key: request.key,
            value: request.value,
            records,
            group: self.group,
            resume,
            carried: self.carried,
            every_partition: self.every_partition,
            resumable: true,
            turn: self.turn,
            unavailable,
            schemas: std::mem::take(&mut self.reading.schemas),
        })
    }

    /// The schemas the records returned so far name.
    pub fn schemas(&self) -> &SchemaSet {
        &self.reading.schemas
    }

    /// Where each partition's read stands now: the next offset to read.
    pub fn positions(&self) -> Vec<(i32, i64)> {
        self.parts.iter().map(|p| (p.id, p.position)).collect()
    }

    /// Partitions the read could not serve, and where the cursor it resumed
    /// left them.
    pub fn carried(&self) -> &[(i32, i64)] {
        &self.carried
    }

    /// Whether a cursor of this read covers every partition.
    pub fn every_partition(&self) -> bool {
        self.every_partition
    }

    /// The group this read commits to, if any.
    pub fn group(&self) -> Option<&str> {
        self.group.as_deref()
    }

    /// Whether a bounded read has reached every bound or end: nothing more
    /// will come. A partition whose fetch only timed out is not at its end.
    pub fn finished(&self) -> bool {
        self.bounded && self.parts.iter().all(PartitionRead::done)
    }

    /// One round of a stream: the records fetched now (at most `limit`, at
    /// most about `max_bytes` of batches), by partition then offset; when
    /// there are none, it waits for some until `wait_until`, and returns
    /// none if none came. Each partition's position then stands past the
    /// records returned (and any a filter left out).
    pub async fn next_round(
        &mut self,
        limit: usize,
        max_bytes: usize,
        wait_until: Instant,
    ) -> Result<Round, RecordsError> {
        let reading = &mut self.reading;
        reading.limit = limit.max(1);
        reading.max_bytes = max_bytes.clamp(STREAM_ROUND_MIN_BYTES, STREAM_ROUND_BYTES);
        reading.count_batches = true;
        reading.bytes_held = 0;
        reading.scanned = 0;
        loop {
            // Each fetch gets its own time: a round with a selective filter
            // may scan for much longer than one fetch takes.
            reading.deadline = Instant::now() + STREAM_FETCH_TIME;
            reading.fetch_round(&mut self.parts).await?;
            let total: usize = self.parts.iter().map(|p| p.records.len()).sum();
            let all_at_end = self.parts.iter().all(|p| p.at_end);
            if total > 0 && (all_at_end || total >= reading.limit) {
                break;
            }
            if total > 0 && reading.bytes_held >= reading.max_bytes {
                break;
            }
            if reading.scan_exhausted() {
                // A stream scans on, one round at a time.
                reading.scanned = 0;
                if total > 0 {
                    break;
                }
                continue;
            }
            if !all_at_end {
                continue;
            }
            if self.bounded || Instant::now() >= wait_until {
                break;
            }
            let positions: Vec<(i32, i64)> = self
                .parts
                .iter()
                .filter(|p| !p.at_bound())
                .map(|p| (p.id, p.position))
                .collect();
            if positions.is_empty() {
                break;
            }
            reading
                .cluster
                .wait_for_data(&reading.topic, &positions, wait_until)
                .await;
            reading.lost.clear();
            for p in &mut self.parts {
                p.at_end = p.at_bound();
            }
            if Instant::now() >= wait_until {
                // One last look, then the caller decides.
                reading.deadline = Instant::now() + STREAM_FETCH_TIME;
                reading.fetch_round(&mut self.parts).await?;
                break;
            }
        }
        let limit = reading.limit;
        let total: usize = self.parts.iter().map(|p| p.records.len()).sum();
        let (records, resume) = if total <= limit {
            // All of it: by partition, each in offset order already, moved
            // as decoded.
            let mut parts: Vec<&mut PartitionRead> = self.parts.iter_mut().collect();
            parts.sort_unstable_by_key(|p| p.id);
            let records = parts
                .into_iter()
                .map(|p| (p.id, std::mem::take(&mut p.records)))
                .collect();
            (RoundRecords::new(records), Vec::new())
        } else {
            let (mut records, resume) = select_fairly(&mut self.parts, limit);
            records.sort_unstable_by_key(|(p, r)| (*p, r.offset));
            let mut by_partition: Vec<(i32, Vec<FetchedRecord>)> = Vec::new();
            for (id, record) in records {
                match by_partition.last_mut() {
                    Some((last, part)) if *last == id => part.push(record),
                    _ => by_partition.push((id, vec![record])),
                }
            }
            (RoundRecords::new(by_partition), resume)
        };
        // Records the limit left out are read again by the next round (or
        // a next read, from the cursor).
        for (id, position) in resume {
            if let Some(part) = self.parts.iter_mut().find(|q| q.id == id) {
                if position < part.position {
                    part.position = position;
                    part.at_end = false;
                }
            }
        }
        Ok(Round {
            records,
            positions: self.positions(),
            schemas: self.reading.schemas.clone(),
            finished: self.finished(),
        })
    }
}

/// What one round of a stream read.
#[derive(Debug, Default)]
pub struct Round {
    /// The records, by partition then offset.
    pub records: RoundRecords,
    /// Where each partition's read stands after the round: past its records
    /// and any a filter left out.
    pub positions: Vec<(i32, i64)>,
    /// The schemas the records name.
    pub schemas: SchemaSet,
    /// Whether a bounded read is done.
    pub finished: bool,
}

/// A round's records with their partitions, by partition then offset: each
/// partition's as they were decoded (a round of a stream is mostly these, so
/// they are not copied), each freed once its last record is taken.
#[derive(Debug, Default)]
pub struct RoundRecords {
    parts: std::collections::VecDeque<(i32, std::vec::IntoIter<FetchedRecord>)>,
}

impl RoundRecords {
    fn new(parts: Vec<(i32, Vec<FetchedRecord>)>) -> RoundRecords {
        RoundRecords {
            parts: parts
                .into_iter()
                .filter(|(_, records)| !records.is_empty())
                .map(|(id, records)| (id, records.into_iter()))
                .collect(),
        }
    }

    /// How many records are left.
    pub fn len(&self) -> usize {
        self.parts.iter().map(|(_, records)| records.len()).sum()
    }

    /// Whether every record was taken.
    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(|(_, records)| records.len() == 0)
    }
}

impl Iterator for RoundRecords {
    type Item = (i32, FetchedRecord);

    fn next(&mut self) -> Option<(i32, FetchedRecord)> {
        loop {
            let (id, records) = self.parts.front_mut()?;
            if let Some(record) = records.next() {
                return Some((*id, record));
            }
            self.parts.pop_front();
        }
    }
}

impl Page {
    /// The answer of a GET whose timeout passed while another GET of its
    /// group held the turn: no records, nothing to commit, and no cursor
    /// unless it was given one.
    fn waited_in_vain(request: &GetRequest) -> Page {
        let (carried, every_partition) = match &request.resume {
            Some(c) => (c.positions.clone(), c.every_partition),
            None => (Vec::new(), true),
        };
        Page {
            topic: request.topic.clone(),
            key: request.key,
            value: request.value,
            records: Vec::new(),
            schemas: SchemaSet::default(),
            group: None,
            resume: Vec::new(),
            resumable: request.resume.is_some(),
            carried,
            every_partition,
            turn: None,
            unavailable: Vec::new(),
        }
    }
}

/// The partitions to read: the one named (refreshing cached metadata that
/// does not know it, as partitions may have been added), else those of a
/// cursor of some partitions, else every partition that can be read now,
/// with the others and why. None that can be read is a failure.
async fn partitions_to_read(
    cluster: &Cluster,
    topic: &str,
    partition: Option<i32>,
    cursor: Option<&Cursor>,
    deadline: Instant,
) -> Result<(Vec<i32>, Vec<Unavailable>), RecordsError> {
    let some = cursor.filter(|c| !c.every_partition);
    if let (Some(p), Some(c)) = (partition, some) {
        if c.position(p).is_none() {
            return Err(RecordsError::Invalid(format!(
                "cursor: it resumes a read of partition(s) {} and not partition {p}; leave partition out, or use a cursor of partition {p}",
                c.positions.iter().map(|(p, _)| p.to_string()).collect::<Vec<_>>().join(", ")
            )));
        }
    }
    let need = Need {
        partition,
        ..Need::default()
    };
    let (mut ids, mut unavailable) =
        super::partitions_to_serve(cluster, topic, partition, need, deadline).await?;
    if let (None, Some(c)) = (partition, some) {
        if let Some((missing, _)) = c
            .positions
            .iter()
            .find(|(p, _)| !ids.contains(p) && !unavailable.iter().any(|u| u.partition == *p))
        {
            return Err(RecordsError::Invalid(format!(
                "cursor: it resumes partition {missing}, which topic '{topic}' does not have (was the topic deleted and created again?)"
            )));
        }
        ids.retain(|p| c.position(*p).is_some());
        unavailable.retain(|u| c.position(u.partition).is_some());
    }
    Ok((ids, unavailable))
}

/// The partitions a read leaves out: those unavailable from the start and
/// those lost while reading. When no partition could be read and no record
/// came, the read fails.
fn still_unavailable(
    topic: &str,
    mut unavailable: Vec<Unavailable>,
    lost: Vec<(i32, KafkaError)>,
    parts: &[PartitionRead],
) -> Result<Vec<Unavailable>, RecordsError> {
    let nothing_read = parts.iter().all(|p| p.records.is_empty());
    if !parts.is_empty() && lost.len() == parts.len() && nothing_read {
        unavailable.extend(Unavailable::from_errors(lost));
        unavailable.sort_by_key(|u| u.partition);
        return Err(Unavailable::all(topic, unavailable));
    }
    unavailable.extend(Unavailable::from_errors(lost));
    unavailable.sort_by_key(|u| u.partition);
    Ok(unavailable)
}

/// Step 1: where each partition's read starts and ends, after checking
/// that the group, if any, has no live members.
async fn start_reads(
    cluster: &Cluster,
    topic: &str,
    ids: &[i32],
    start: Start<'_>,
    until: Option<Until>,
    group: Option<&str>,
    deadline: Instant,
) -> Result<Vec<PartitionRead>, RecordsError> {
    let unused = async {
        match group {
            Some(group) => cluster.check_group_unused(group, deadline).await,
            None => Ok(()),
        }
    };
    let starts = async {
        match (start, until) {
            // The fetch itself tells where the log starts and ends, so an
            // offset to seek to is tried at once and clamped by the answer:
            // one round trip instead of two for the commonest one-shot read.
            (Start::Seek(Some(Seek::To(offset))), None | Some(Until::Offset(_))) => Ok(ids
                .iter()
                .map(|id| StartPosition {
                    id: *id,
                    position: offset,
                    end: i64::MAX,
                    until: None,
                })
                .collect()),
            (start, until) => start_positions(cluster, topic, ids, start, until, deadline).await,
        }
    };
    let (unused, starts) = tokio::join!(unused, starts);
    unused?;
    let start_unclamped = matches!(start, Start::Seek(Some(Seek::To(_))));
    Ok(starts?
        .into_iter()
        .map(|s| {
            let until = match until {
                Some(Until::Offset(o)) => Some(o),
                _ => s.until,
            };
            PartitionRead {
                id: s.id,
                start: s.position,
                start_unclamped,
                needs_own_fetch: false,
                served: 0,
                crowded_out: false,
                position: s.position,
                end: s.end,
                until,
                at_end: s.position >= s.end || until.is_some_and(|u| s.position >= u),
                records: Vec::new(),
            }
        })
        .collect())
}

impl Reading {
    /// Step 2: one round of fetches: the partitions behind their end
    /// together, one request per leader, and each partition whose next batch
    /// is over the size limit alone (the first partition of a fetch always
    /// gets its first batch whole).
    async fn fetch_round(&mut self, parts: &mut [PartitionRead]) -> Result<(), RecordsError> {
        let wanted = |own: bool| -> Vec<(i32, i64)> {
            let mut wanted: Vec<&PartitionRead> = parts
                .iter()
                .filter(|p| !p.at_end && p.records.len() < self.limit && p.needs_own_fetch == own)
                .collect();
            // The broker fills its answer in the order asked, until its bound.
            wanted.sort_by_key(|p| (p.served, p.id));
            wanted.into_iter().map(|p| (p.id, p.position)).collect()
        };
        self.rounds += 1;
        let mut fetches = vec![wanted(false)];
        fetches.extend(wanted(true).into_iter().map(|p| vec![p]));
        fetches.retain(|f| !f.is_empty());
        if fetches.is_empty() {
            return Ok(());
        }
        let max_bytes = self
            .max_bytes
            .saturating_sub(self.bytes_held)
            .clamp(1, i32::MAX as usize) as i32;
        let answers = join_all(fetches.iter().map(|f| {
            self.cluster.fetch(
                &self.topic,
                f,
                self.partition_max_bytes,
                max_bytes,
                self.deadline,
            )
        }))
        .await;
        for (id, result) in answers.into_iter().flatten() {
            let Some(part) = parts.iter_mut().find(|p| p.id == id) else {
                continue;
            };
            match result {
                Ok(fetched) => {
                    self.lost.retain(|(p, _)| *p != id);
                    self.take(part, fetched).await?
                }
                Err(KafkaError::Timeout(_)) => part.at_end = true,
                Err(e) if e.kind() == ErrorKind::PartitionUnavailable => self.lose(part, e),
                Err(e) if e.kind() == ErrorKind::Broker(Refusal::OffsetOutOfRange) => {
                    self.clamp(part).await?
                }
                Err(e) => return Err(e.into()),
            }
        }
        // A partition left empty because others used up the answer's bound
        // is fetched again; when none brought anything, Kafka has nothing
        // more to give now.
        if parts.iter().any(|p| p.served == self.rounds) {
            for p in parts.iter_mut().filter(|p| p.crowded_out) {
                p.at_end = p.at_bound();
            }
        }
        Ok(())
    }

    /// A partition that cannot be read now: the read goes on without it,
    /// and reports it.
    fn lose(&mut self, part: &mut PartitionRead, error: KafkaError) {
        part.at_end = true;
        part.needs_own_fetch = false;
        self.lost.retain(|(p, _)| *p != part.id);
        self.lost.push((part.id, error));
    }

    /// Keeps a partition's fetched records (up to the limit, before its
    /// bound, those the filter keeps) and moves its position past them.
    async fn take(
        &mut self,
        part: &mut PartitionRead,
        fetched: FetchedPartition,
    ) -> Result<(), RecordsError> {
        if part.start_unclamped {
            // Past the end: clamp to it (before the start the broker says out of range).
            part.position = part.position.min(fetched.last_stable_offset);
            part.start = part.position;
            part.start_unclamped = false;
            part.at_end |= part.at_bound();
            if part.at_bound() {
                part.end = fetched.last_stable_offset;
                return Ok(());
            }
        }
        let room = self.limit - part.records.len();
        let before = part.records.len();
        let fetched_bytes = fetched.records.len();
        part.crowded_out = false;
        if fetched_bytes > 0 {
            part.served = self.rounds;
        }
        let next = if self.filter.is_some() {
            let mut scanned = Vec::new();
            let decoded = decode_records(
                fetched.records,
                part.position,
                &fetched.aborted,
                usize::MAX,
                &mut scanned,
            )?;
            self.resolve_schemas(part.id, &scanned).await?;
            self.sift(part, scanned, room, decoded.next_offset)?
        } else {
            let decoded = decode_records(
                fetched.records,
                part.position,
                &fetched.aborted,
                room,
                &mut part.records,
            )?;
            decoded.next_offset
        };
        if let Some(until) = part.until {
            let beyond = part.records[before..]
                .iter()
                .position(|r| r.offset >= until);
            if let Some(i) = beyond {
                part.records.truncate(before + i);
            }
        }
        if self.filter.is_none() {
            let records = std::mem::take(&mut part.records);
            let resolved = self.resolve_schemas(part.id, &records[before..]).await;
            part.records = records;
            resolved?;
        }
        // Records kept hold their whole fetched batches (or what they
        // decompressed to).
        if part.records.len() > before {
            let kept: usize = part.records[before..].iter().map(record_bytes).sum();
            self.bytes_held += if self.count_batches {
                kept.max(fetched_bytes)
            } else {
                kept
            };
        }
        part.end = fetched.last_stable_offset;
        match next {
            Some(next) => {
                part.position = part.position.max(next);
                part.needs_own_fetch = false;
            }
            // Part of a batch came but no whole one: the broker gives a batch
            // bigger than the size limit only to the first partition of a
            // fetch, so ask for this one alone.
            None if fetched_bytes > 0
                && part.position < fetched.last_stable_offset
                && !part.needs_own_fetch =>
            {
                part.needs_own_fetch = true
            }
            // Nothing came although records are there: the answer's bound was
            // spent on partitions before it (see `fetch_round`).
            None if fetched_bytes == 0 && part.position < fetched.last_stable_offset => {
                part.crowded_out = true;
                part.at_end = true;
            }
            None => part.at_end = true,
        }
        if part.position < fetched.log_start_offset {
            part.position = fetched.log_start_offset;
        }
        if let Some(until) = part.until {
            part.position = part.position.min(until.max(part.start));
        }
        part.at_end |= part.position >= part.end || part.at_bound();
        Ok(())
    }

    /// Fetches the schemas the keys and values of `records` name (each id
    /// once, through the registry's cache), so that they can be rendered.
    async fn resolve_schemas(
        &mut self,
        partition: i32,
        records: &[FetchedRecord],
    ) -> Result<(), RecordsError> {
        if !self.key.needs_schema() && !self.value.needs_schema() {
            return Ok(());
        }
        let Some(registry) = self.registry.clone() else {
            return Err(RecordsError::Invalid(
                "the Schema Registry formats need --schema-registry-url".into(),
            ));
        };
        for r in records {
            for (name, format, bytes) in [
                ("key", self.key, r.key.as_deref()),
                ("value", self.value, r.value.as_deref()),
            ] {
                let resolved = self.schemas.resolve(&registry, format, bytes).await;
                resolved.map_err(|e| {
                    let at = format!(
                        "topic '{}' partition {partition} offset {}: the {name}",
                        self.topic, r.offset
                    );
                    match e {
                        ReadError::Undecodable(m) => RecordsError::Undecodable(format!(
                            "{at} cannot be read with the {} deserializer: {m}; choose another {name}Deserializer",
                            format.name()
                        )),
                        ReadError::Unavailable(m) => RecordsError::RegistryUnavailable(format!(
                            "{at} needs its schema, but {m}; try again later"
                        )),
                    }
                })?;
            }
        }
        Ok(())
    }

    /// Keeps the `scanned` records the filter selects, at most `room`,
    /// within the partition's bound and the scan bound; returns the next
    /// offset to read: past the last record looked at, or past every batch
    /// (`next`) when all were looked at.
    fn sift(
        &mut self,
        part: &mut PartitionRead,
        scanned: Vec<FetchedRecord>,
        room: usize,
        next: Option<i64>,
    ) -> Result<Option<i64>, RecordsError> {
        let Some(filter) = self.filter.clone() else {
            return Ok(next);
        };
        let view = View {
            topic: &self.topic,
            key: self.key,
            value: self.value,
            schemas: &self.schemas,
        };
        let mut kept = 0;
        for record in scanned {
            if part.until.is_some_and(|u| record.offset >= u) {
                return Ok(Some(record.offset));
            }
            if self.scanned >= self.max_scan {
                return Ok(Some(record.offset));
            }
            self.scanned += 1;
            if filter.keeps_value(view.filter_input(part.id, &record)?) {
                let offset = record.offset;
                part.records.push(record);
                kept += 1;
                if kept == room {
                    return Ok(Some(offset + 1));
                }
            }
        }
        Ok(next)
    }

    /// A position outside the log (records deleted under the read, or a seek
    /// past either end): clamps it into the log.
    async fn clamp(&self, part: &mut PartitionRead) -> Result<(), RecordsError> {
        let seek = Start::Seek(Some(Seek::To(part.position)));
        let start = start_positions(
            &self.cluster,
            &self.topic,
            &[part.id],
            seek,
            None,
            self.deadline,
        )
        .await?;
        if let Some(s) = start.first() {
            part.position = s.position;
            part.end = s.end;
            part.at_end = s.position >= s.end || part.at_bound();
            if part.start_unclamped {
                part.start = s.position;
                part.start_unclamped = false;
            }
        }
        Ok(())
    }
}

/// A partition's start position, its last stable offset, and its bound
/// by time.
#[derive(Debug, Clone, Copy)]
struct StartPosition {
    id: i32,
    position: i64,
    end: i64,
    until: Option<i64>,
}

/// Where reads start: a seek (or the end), a cursor, or a group's
/// committed offsets (and where it starts without one).
#[derive(Debug, Clone, Copy)]
enum Start<'a> {
    Seek(Option<Seek>),
    Cursor(&'a Cursor),
    Group(&'a str, OffsetReset),
}

/// Start offset, last stable offset and bound of each partition.
async fn start_positions(
    cluster: &Cluster,
    topic: &str,
    ids: &[i32],
    start: Start<'_>,
    until: Option<Until>,
    deadline: Instant,
) -> Result<Vec<StartPosition>, RecordsError> {
    let offsets = |query| async move {
        cluster
            .list_offsets(topic, ids, query, deadline)
            .await
            .into_iter()
            .map(|(p, r)| r.map(|o| (p, o)))
            .collect::<Result<Vec<_>, KafkaError>>()
    };
    let at_time = |time: Option<i64>| async move {
        match time {
            Some(t) => offsets(OffsetQuery::Timestamp(t)).await,
            None => Ok(Vec::new()),
        }
    };
    let start_time = match start {
        Start::Seek(Some(Seek::ToTimestamp(t))) => Some(t),
        _ => None,
    };
    let until_time = match until {
        Some(Until::Timestamp(t)) => Some(t),
        _ => None,
    };
    let committed = async {
        match start {
            Start::Group(group, _) => cluster.committed_offsets(group, topic, ids, deadline).await,
            _ => Ok(Vec::new()),
        }
    };
    let (ends, starts, by_time, until_by_time, committed) = tokio::join!(
        offsets(OffsetQuery::LastStable),
        offsets(OffsetQuery::Earliest),
        at_time(start_time),
        at_time(until_time),
        committed
    );
    let (ends, starts, by_time, until_by_time, committed) =
        (ends?, starts?, by_time?, until_by_time?, committed?);
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let find =
            |v: &Vec<(i32, Option<i64>)>| v.iter().find(|(p, _)| p == id).and_then(|(_, o)| *o);
        let end = find(&ends).ok_or_else(|| {
            KafkaError::Protocol(format!(
                "no end offset for {topic}/{id} in the broker's answer"
            ))
        })?;
        let first = find(&starts).unwrap_or(0).min(end);
        let position = match start {
            // A committed offset below the log start (records deleted since)
            // resumes at the start, rather than skipping to the end.
            Start::Group(_, reset) => find(&committed).map_or(
                match reset {
                    OffsetReset::Earliest => first,
                    OffsetReset::Latest => end,
                },
                |o| o.clamp(first, end),
            ),
            // A partition a cursor of every partition does not name was
            // added since: all of it is new.
            Start::Cursor(cursor) => cursor.position(*id).map_or(first, |o| o.clamp(first, end)),
            Start::Seek(None) => end,
            // Counted in visible records below, from the log start.
            Start::Seek(Some(Seek::FromLatest(_) | Seek::FromBeginning(_))) => first,
            Start::Seek(Some(Seek::To(o))) => o.clamp(first, end),
            Start::Seek(Some(Seek::ToTimestamp(_))) => {
                find(&by_time).map_or(end, |o| o.clamp(first, end))
            }
        };
        // No record at or after the time: the bound is the end as it is now.
        let until = until_time.map(|_| find(&until_by_time).map_or(end, |o| o.clamp(first, end)));
        out.push(StartPosition {
            id: *id,
            position,
            end,
            until,
        });
    }
    if let Start::Seek(Some(seek @ (Seek::FromLatest(_) | Seek::FromBeginning(_)))) = start {
        distance::resolve(cluster, topic, seek, &mut out, deadline).await?;
    }
    Ok(out)
}

/// Partitions and offsets.
type Positions = Vec<(i32, i64)>;

/// The bytes a fetched record holds (key, value, headers).
fn record_bytes(r: &FetchedRecord) -> usize {
    let len = |b: &Option<bytes::Bytes>| b.as_ref().map_or(0, |b| b.len());
    len(&r.key)
        + len(&r.value)
        + r.headers
            .iter()
            .map(|h| h.key.len() + len(&h.value))
            .sum::<usize>()
}

/// Takes at most `limit` records round-robin: one from each partition that
/// has records, then again one from each that has more, and so on. A backlog
/// on one partition never starves the others: a page of `limit` at least the
/// number of partitions with records holds one of each. Each round goes from
/// the partition with the most records left to read to the one with the
/// fewest (ties in random order, so no partition is always first), so the
/// records beyond one each go where most are waiting and repeated paging
/// drains partitions evenly. Records come out in the order taken: any first
/// part of the result is a fair page too, and holds a first part of each
/// partition's records.
///
/// Also returns, for each partition, where a next read goes on: at its
/// first record not taken, else at its position.
fn select_fairly(
    parts: &mut [PartitionRead],
    limit: usize,
) -> (Vec<(i32, FetchedRecord)>, Positions) {
    let total: usize = parts.iter().map(|p| p.records.len()).sum();
    let mut sources: Vec<(i64, u32, i32, std::vec::IntoIter<FetchedRecord>)> = parts
        .iter_mut()
        .filter(|p| !p.records.is_empty())
        .map(|p| {
            let records = std::mem::take(&mut p.records);
            let left = (p.end.max(p.position) - records[0].offset).max(records.len() as i64);
            (left, rand::random::<u32>(), p.id, records.into_iter())
        })
        .collect();
    sources.sort_unstable_by_key(|(left, tie, _, _)| (Reverse(*left), *tie));
    let mut taken = Vec::with_capacity(total.min(limit));
    while taken.len() < limit && sources.iter().any(|(_, _, _, r)| r.len() > 0) {
        for (_, _, id, records) in &mut sources {
            if taken.len() == limit {
                break;
            }
            if let Some(record) = records.next() {
                taken.push((*id, record));
            }
        }
    }
    let resume = parts
        .iter()
        .map(|p| {
            let untaken = sources
                .iter_mut()
                .find(|(_, _, id, _)| *id == p.id)
                .and_then(|(_, _, _, records)| records.next())
                .map(|r| r.offset);
            (p.id, untaken.unwrap_or(p.position))
        })
        .collect();
    (taken, resume)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(id: i32, first: i64, count: usize, end: i64) -> PartitionRead {
        PartitionRead {
            id,
            start: first,
            start_unclamped: false,
            needs_own_fetch: false,
            served: 0,
            crowded_out: false,
            position: first + count as i64,
            end,
            until: None,
            at_end: false,
            records: (0..count)
                .map(|i| FetchedRecord {
                    offset: first + i as i64,
                    timestamp: 0,
                    key: None,
                    value: None,
                    headers: vec![],
                    leader_epoch: None,
                })
                .collect(),
        }
    }

    fn counts(selected: &[(i32, FetchedRecord)], n: i32) -> Vec<usize> {
        (0..n)
            .map(|p| selected.iter().filter(|(q, _)| *q == p).count())
            .collect()
    }

    #[test]
    fn a_rounds_records_come_by_partition_then_offset_and_are_counted() {
        let parts = [part(2, 10, 2, 12), part(0, 5, 0, 5), part(1, 0, 3, 3)];
        let mut records = RoundRecords::new(parts.into_iter().map(|p| (p.id, p.records)).collect());
        assert_eq!(records.len(), 5);
        let first = records.next().map(|(p, r)| (p, r.offset));
        assert_eq!(first, Some((2, 10)));
        assert_eq!(records.len(), 4);
        let rest: Vec<(i32, i64)> = records.by_ref().map(|(p, r)| (p, r.offset)).collect();
        assert_eq!(rest, [(2, 11), (1, 0), (1, 1), (1, 2)]);
        assert!(records.is_empty());
        assert!(RoundRecords::default().next().is_none());
    }

    #[test]
    fn a_bounded_partition_whose_fetch_timed_out_is_not_done() {
        let mut p = part(0, 0, 0, 100);
        p.until = Some(50);
        p.position = 20;
        p.at_end = true; // as a timed-out fetch leaves it
        assert!(!p.done());
        p.position = 50;
        assert!(p.done());
        p.until = Some(500);
        p.position = 100;
        assert!(p.done(), "at its end");
    }

    #[test]
    fn the_limit_is_never_exceeded_and_shared_evenly() {
        let mut parts = vec![part(0, 0, 7, 7), part(1, 0, 7, 7), part(2, 0, 7, 7)];
        let (selected, _) = select_fairly(&mut parts, 6);
        assert_eq!(counts(&selected, 3), vec![2, 2, 2]);
    }

    #[test]
    fn a_backlog_on_one_partition_never_starves_the_others() {
        // Partition 1 has 100 records left; the others have a few.
        for _ in 0..20 {
            let mut parts = vec![part(0, 0, 2, 2), part(1, 0, 50, 100), part(2, 0, 1, 1)];
            let (selected, _) = select_fairly(&mut parts, 3);
            assert_eq!(counts(&selected, 3), vec![1, 1, 1]);
            let mut parts = vec![part(0, 0, 2, 2), part(1, 0, 50, 100), part(2, 0, 1, 1)];
            let (selected, _) = select_fairly(&mut parts, 10);
            assert_eq!(counts(&selected, 3), vec![2, 7, 1]);
        }
    }

    #[test]
    fn each_partition_comes_out_in_offset_order_and_every_first_part_is_fair() {
        let mut parts = vec![part(2, 10, 3, 13), part(0, 5, 3, 8)];
        let (selected, _) = select_fairly(&mut parts, 10);
        for p in [0, 2] {
            let offsets: Vec<i64> = selected
                .iter()
                .filter(|(q, _)| *q == p)
                .map(|(_, r)| r.offset)
                .collect();
            assert!(offsets.windows(2).all(|w| w[0] + 1 == w[1]), "{offsets:?}");
        }
        for n in 1..=selected.len() {
            let c = counts(&selected[..n], 3);
            assert!(c[0].abs_diff(c[2]) <= 1, "first {n}: {c:?}");
        }
    }

    #[test]
    fn repeated_paging_never_starves_a_partition() {
        // Three partitions of 7; six pages of 4 drain all 21.
        let mut left = [7i64, 7, 7];
        let mut seen = [0usize; 3];
        for _ in 0..6 {
            let mut parts: Vec<PartitionRead> = (0..3)
                .filter(|p| left[*p] > 0)
                .map(|p| part(p as i32, 7 - left[p], left[p] as usize, 7))
                .collect();
            let (selected, _) = select_fairly(&mut parts, 4);
            for (p, _) in &selected {
                left[*p as usize] -= 1;
                seen[*p as usize] += 1;
            }
            let spread = seen.iter().max().unwrap() - seen.iter().min().unwrap();
            assert!(
                spread <= 1 || left.contains(&0),
                "uneven after a page: {seen:?}"
            );
        }
        assert_eq!(seen, [7, 7, 7]);
    }
}
