//! GET /records/{topic}: read committed records from one or all partitions.
//!
//! 1. Resolve each partition's start from the seek parameter (ListOffsets,
//!    read_committed, so the end is the last stable offset; distances are
//!    counted in visible records, see `distance`), or from the group's
//!    committed offsets after checking it has no live members.
//! 2. Fetch every partition that is behind its end, all at once (one request
//!    per leader), without waiting on the broker.
//! 3. Stop at `limit` records, or with at least one record once every
//!    partition is read to its end; with none, wait (sharing one long poll
//!    with every other GET on the same partitions) until records arrive or
//!    the timeout passes.
//! 4. Take at most `limit` records fairly: round-robin over the partitions
//!    that have records, so a backlog on one never starves the others.
//!
//! The HTTP layer writes the page, and commits for the group what it wrote
//! ([`Page::commit_for`]).
//!
//! A GET with a group first takes the group's turn ([`GroupTurns`]), so GETs
//! of one group in this instance read and commit one after another.

use std::cmp::Reverse;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::Instant;

mod distance;
mod turns;

pub use turns::{GroupTurns, Turn};

use super::{RecordsError, Unavailable};
use crate::codec::Format;
use crate::kafka::{
    decode_records, Cluster, ErrorKind, FetchedPartition, FetchedRecord, KafkaError, Need,
    OffsetQuery, Refusal,
};

/// The read timeout when the request gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The least time Kafka calls get, whatever the request's timeout.
const MIN_KAFKA_TIME: Duration = Duration::from_secs(2);

/// How long a commit may take once the response is written.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// Where to start; `None` is the end (or the group's offsets).
    pub seek: Option<Seek>,
    /// Where a group starts on partitions it has no committed offset for.
    pub reset: OffsetReset,
    /// The most bytes the response may hold; records are fetched only up to
    /// about as many bytes.
    pub max_bytes: usize,
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
    /// Where each partition's read started.
    pub starts: Vec<(i32, i64)>,
    /// The group's turn, held until its commit is done (or the page is
    /// dropped): no other GET of the group in this instance reads meanwhile.
    pub turn: Option<Turn>,
    /// Partitions of a read of every partition that could not be read now,
    /// and why (the records of the others are in the page).
    pub unavailable: Vec<Unavailable>,
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
    /// For a GET with a group, the commit that covers exactly the records
    /// `written` (partition, offset): past the last record written of each
    /// partition, or where its read started.
    pub fn commit_for(&self, written: &[(i32, i64)]) -> Option<GroupCommit> {
        let group = self.group.as_ref()?;
        let offsets = self
            .starts
            .iter()
            .map(|(id, start)| {
                let last = written
                    .iter()
                    .filter(|(p, _)| p == id)
                    .map(|(_, o)| o + 1)
                    .max();
                (*id, last.unwrap_or(*start))
            })
            .collect();
        Some(GroupCommit {
            group: group.clone(),
            topic: self.topic.clone(),
            offsets,
        })
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
    /// The next offset to fetch.
    position: i64,
    /// The last stable offset, as last seen.
    end: i64,
    at_end: bool,
    records: Vec<FetchedRecord>,
}

/// What every fetch of one GET shares.
struct Reading<'a> {
    cluster: &'a Cluster,
    topic: &'a str,
    limit: usize,
    /// Bytes of the records held so far: fetching stops at the response's bound.
    bytes_held: usize,
    max_bytes: usize,
    partition_max_bytes: i32,
    deadline: Instant,
    /// Partitions that became unavailable while being read, and why: left
    /// out of the next fetches until a fetch after a wait finds them again.
    lost: Vec<(i32, KafkaError)>,
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
    let deadline = wait_until.max(Instant::now() + MIN_KAFKA_TIME);
    let topic = request.topic.as_str();
    let (ids, unavailable) =
        partitions_to_read(cluster, topic, request.partition, deadline).await?;
    // With `partition`, groupId is ignored: nothing is read from or committed to the group.
    let group = request
        .group_id
        .as_deref()
        .filter(|_| request.partition.is_none());
    let turn = match group {
        Some(group) => match turns.take(group, topic, wait_until).await {
            Some(turn) => Some(turn),
            None => return Ok(Page::waited_in_vain(request)),
        },
        None => None,
    };
    // Waiting for the turn took part of the time.
    let deadline = deadline.max(Instant::now() + MIN_KAFKA_TIME);
    let start = match (request.seek, group) {
        (None, Some(group)) => Start::Group(group, request.reset),
        (seek, _) => Start::Seek(seek),
    };
    let mut parts = start_reads(cluster, topic, &ids, start, group, deadline).await?;
    let mut reading = Reading {
        cluster,
        topic,
        limit: request.limit,
        bytes_held: 0,
        max_bytes: request.max_bytes,
        partition_max_bytes: (request.limit.saturating_mul(1024)).clamp(64 * 1024, 1024 * 1024)
            as i32,
        deadline,
        lost: Vec::new(),
    };
    loop {
        reading.fetch_round(&mut parts).await?;
        if reading.lost.len() == parts.len() {
            break;
        }
        let total: usize = parts.iter().map(|p| p.records.len()).sum();
        // Enough records, unless a partition still owes its big batch: fair
        // selection needs every partition's records.
        let big_batch_pending = parts.iter().any(|p| p.needs_own_fetch && !p.at_end);
        if (total >= reading.limit && !big_batch_pending)
            || reading.bytes_held >= reading.max_bytes
            || Instant::now() >= wait_until
        {
            break;
        }
        if parts.iter().all(|p| p.at_end) {
            if total > 0 {
                break;
            }
            let positions: Vec<(i32, i64)> = parts.iter().map(|p| (p.id, p.position)).collect();
            cluster.wait_for_data(topic, &positions, wait_until).await;
            if Instant::now() >= wait_until {
                break;
            }
            for p in &mut parts {
                p.at_end = false;
            }
        }
    }
    let starts: Vec<(i32, i64)> = parts.iter().map(|p| (p.id, p.start)).collect();
    let unavailable = still_unavailable(topic, unavailable, reading.lost, &parts)?;
    Ok(Page {
        topic: request.topic.clone(),
        key: request.key,
        value: request.value,
        records: select_fairly(parts, request.limit),
        group: group.map(str::to_string),
        starts,
        turn,
        unavailable,
    })
}

impl Page {
    /// The answer of a GET whose timeout passed while another GET of its
    /// group held the turn: no records, and nothing to commit.
    fn waited_in_vain(request: &GetRequest) -> Page {
        Page {
            topic: request.topic.clone(),
            key: request.key,
            value: request.value,
            records: Vec::new(),
            group: None,
            starts: Vec::new(),
            turn: None,
            unavailable: Vec::new(),
        }
    }
}

/// The partitions to read: the one named (refreshing cached metadata that
/// does not know it, as partitions may have been added), else every
/// partition that can be read now, with the others and why. None that can
/// be read is a failure.
async fn partitions_to_read(
    cluster: &Cluster,
    topic: &str,
    partition: Option<i32>,
    deadline: Instant,
) -> Result<(Vec<i32>, Vec<Unavailable>), RecordsError> {
    let need = Need {
        partition,
        ..Need::default()
    };
    super::partitions_to_serve(cluster, topic, partition, need, deadline).await
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

/// Step 1: where each partition's read starts, after checking that the
/// group, if any, has no live members.
async fn start_reads(
    cluster: &Cluster,
    topic: &str,
    ids: &[i32],
    start: Start<'_>,
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
        match start {
            // The fetch itself tells where the log starts and ends, so an
            // offset to seek to is tried at once and clamped by the answer:
            // one round trip instead of two for the commonest one-shot read.
            Start::Seek(Some(Seek::To(offset))) => Ok(ids
                .iter()
                .map(|id| StartPosition {
                    id: *id,
                    position: offset,
                    end: i64::MAX,
                })
                .collect()),
            start => start_positions(cluster, topic, ids, start, deadline).await,
        }
    };
    let (unused, starts) = tokio::join!(unused, starts);
    unused?;
    let start_unclamped = matches!(start, Start::Seek(Some(Seek::To(_))));
    Ok(starts?
        .into_iter()
        .map(|s| PartitionRead {
            id: s.id,
            start: s.position,
            start_unclamped,
            needs_own_fetch: false,
            position: s.position,
            end: s.end,
            at_end: s.position >= s.end,
            records: Vec::new(),
        })
        .collect())
}

impl Reading<'_> {
    /// Step 2: one round of fetches: the partitions behind their end
    /// together, one request per leader, and each partition whose next batch
    /// is over the size limit alone (the first partition of a fetch always
    /// gets its first batch whole).
    async fn fetch_round(&mut self, parts: &mut [PartitionRead]) -> Result<(), RecordsError> {
        let wanted = |own: bool| -> Vec<(i32, i64)> {
            parts
                .iter()
                .filter(|p| !p.at_end && p.records.len() < self.limit && p.needs_own_fetch == own)
                .map(|p| (p.id, p.position))
                .collect()
        };
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
                self.topic,
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
                    self.take(part, fetched)?
                }
                Err(KafkaError::Timeout(_)) => part.at_end = true,
                Err(e) if e.kind() == ErrorKind::PartitionUnavailable => self.lose(part, e),
                Err(e) if e.kind() == ErrorKind::Broker(Refusal::OffsetOutOfRange) => {
                    self.clamp(part).await?
                }
                Err(e) => return Err(e.into()),
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

    /// Keeps a partition's fetched records (up to the limit) and moves its
    /// position past them.
    fn take(
        &mut self,
        part: &mut PartitionRead,
        fetched: FetchedPartition,
    ) -> Result<(), RecordsError> {
        if part.start_unclamped {
            // Past the end: clamp to it (before the start the broker says out of range).
            part.position = part.position.min(fetched.last_stable_offset);
            part.start = part.position;
            part.start_unclamped = false;
        }
        let room = self.limit - part.records.len();
        let before = part.records.len();
        let decoded = decode_records(
            fetched.records,
            part.position,
            &fetched.aborted,
            room,
            &mut part.records,
        )?;
        self.bytes_held += part.records[before..]
            .iter()
            .map(record_bytes)
            .sum::<usize>();
        part.end = fetched.last_stable_offset;
        match decoded.next_offset {
            Some(next) => {
                part.position = part.position.max(next);
                part.needs_own_fetch = false;
            }
            // Records are there but none came: the broker gives a batch
            // bigger than the size limit only to the first partition of a
            // fetch, so ask for this one alone.
            None if part.position < fetched.last_stable_offset && !part.needs_own_fetch => {
                part.needs_own_fetch = true
            }
            None => part.at_end = true,
        }
        if part.position < fetched.log_start_offset {
            part.position = fetched.log_start_offset;
        }
        part.at_end |= part.position >= part.end;
        Ok(())
    }

    /// A position outside the log (records deleted under the read, or a seek
    /// past either end): clamps it into the log.
    async fn clamp(&self, part: &mut PartitionRead) -> Result<(), RecordsError> {
        let seek = Start::Seek(Some(Seek::To(part.position)));
        let start =
            start_positions(self.cluster, self.topic, &[part.id], seek, self.deadline).await?;
        if let Some(s) = start.first() {
            part.position = s.position;
            part.end = s.end;
            part.at_end = s.position >= s.end;
            if part.start_unclamped {
                part.start = s.position;
                part.start_unclamped = false;
            }
        }
        Ok(())
    }
}

/// A partition's start position and its last stable offset.
#[derive(Debug, Clone, Copy)]
struct StartPosition {
    id: i32,
    position: i64,
    end: i64,
}

/// Where reads start: a seek (or the end), or a group's committed offsets
/// (and where it starts without one).
#[derive(Debug, Clone, Copy)]
enum Start<'a> {
    Seek(Option<Seek>),
    Group(&'a str, OffsetReset),
}

/// Start offset and last stable offset of each partition.
async fn start_positions(
    cluster: &Cluster,
    topic: &str,
    ids: &[i32],
    start: Start<'_>,
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
    let by_time = async {
        match start {
            Start::Seek(Some(Seek::ToTimestamp(t))) => offsets(OffsetQuery::Timestamp(t)).await,
            _ => Ok(Vec::new()),
        }
    };
    let committed = async {
        match start {
            Start::Group(group, _) => cluster.committed_offsets(group, topic, ids, deadline).await,
            Start::Seek(_) => Ok(Vec::new()),
        }
    };
    let (ends, starts, by_time, committed) = tokio::join!(
        offsets(OffsetQuery::LastStable),
        offsets(OffsetQuery::Earliest),
        by_time,
        committed
    );
    let (ends, starts, by_time, committed) = (ends?, starts?, by_time?, committed?);
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
            Start::Seek(None) => end,
            // Counted in visible records below, from the log start.
            Start::Seek(Some(Seek::FromLatest(_) | Seek::FromBeginning(_))) => first,
            Start::Seek(Some(Seek::To(o))) => o.clamp(first, end),
            Start::Seek(Some(Seek::ToTimestamp(_))) => {
                find(&by_time).map_or(end, |o| o.clamp(first, end))
            }
        };
        out.push(StartPosition {
            id: *id,
            position,
            end,
        });
    }
    if let Start::Seek(Some(seek @ (Seek::FromLatest(_) | Seek::FromBeginning(_)))) = start {
        distance::resolve(cluster, topic, seek, &mut out, deadline).await?;
    }
    Ok(out)
}

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
fn select_fairly(parts: Vec<PartitionRead>, limit: usize) -> Vec<(i32, FetchedRecord)> {
    let total: usize = parts.iter().map(|p| p.records.len()).sum();
    let mut sources: Vec<(i64, u32, i32, std::vec::IntoIter<FetchedRecord>)> = parts
        .into_iter()
        .filter(|p| !p.records.is_empty())
        .map(|p| {
            let left = (p.end.max(p.position) - p.records[0].offset).max(p.records.len() as i64);
            (left, rand::random::<u32>(), p.id, p.records.into_iter())
        })
        .collect();
    sources.sort_unstable_by_key(|(left, tie, _, _)| (Reverse(*left), *tie));
    let mut taken = Vec::with_capacity(total.min(limit));
    while taken.len() < limit && !sources.is_empty() {
        for (_, _, id, records) in &mut sources {
            if taken.len() == limit {
                break;
            }
            if let Some(record) = records.next() {
                taken.push((*id, record));
            }
        }
        sources.retain(|(_, _, _, records)| records.len() > 0);
    }
    taken
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
            position: first + count as i64,
            end,
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
    fn the_limit_is_never_exceeded_and_shared_evenly() {
        let parts = vec![part(0, 0, 7, 7), part(1, 0, 7, 7), part(2, 0, 7, 7)];
        let selected = select_fairly(parts, 6);
        assert_eq!(counts(&selected, 3), vec![2, 2, 2]);
    }

    #[test]
    fn a_backlog_on_one_partition_never_starves_the_others() {
        // Partition 1 has 100 records left; the others have a few.
        for _ in 0..20 {
            let parts = vec![part(0, 0, 2, 2), part(1, 0, 50, 100), part(2, 0, 1, 1)];
            let selected = select_fairly(parts, 3);
            assert_eq!(counts(&selected, 3), vec![1, 1, 1]);
            let parts = vec![part(0, 0, 2, 2), part(1, 0, 50, 100), part(2, 0, 1, 1)];
            let selected = select_fairly(parts, 10);
            assert_eq!(counts(&selected, 3), vec![2, 7, 1]);
        }
    }

    #[test]
    fn each_partition_comes_out_in_offset_order_and_every_first_part_is_fair() {
        let parts = vec![part(2, 10, 3, 13), part(0, 5, 3, 8)];
        let selected = select_fairly(parts, 10);
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
            let parts: Vec<PartitionRead> = (0..3)
                .filter(|p| left[*p] > 0)
                .map(|p| part(p as i32, 7 - left[p], left[p] as usize, 7))
                .collect();
            let selected = select_fairly(parts, 4);
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
