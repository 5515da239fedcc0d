//! GET /records/{topic}: read committed records from one or all partitions.
//!
//! 1. Resolve each partition's start from the seek parameter (ListOffsets,
//!    read_committed, so the end is the last stable offset).
//! 2. Fetch every partition that is behind its end, all at once (one request
//!    per leader), without waiting on the broker.
//! 3. Stop at `limit` records, or with at least one record once every
//!    partition is read to its end; with none, wait (sharing one long poll
//!    with every other GET on the same partitions) until records arrive or
//!    the timeout passes.
//! 4. Take at most `limit` records fairly: each next record comes from the
//!    partition with the most left to read, so repeated paging drains every
//!    partition evenly.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use futures_util::future::join_all;
use serde::Serialize;
use tokio::time::Instant;

use super::RecordsError;
use crate::codec::{Decoded, Serde};
use crate::kafka::{
    decode_records, Cluster, ErrorKind, FetchedRecord, KafkaError, OffsetQuery, Refusal,
};

/// The read timeout when the request gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The least time Kafka calls get, whatever the request's timeout.
const MIN_KAFKA_TIME: Duration = Duration::from_secs(2);

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
    pub key: Serde,
    /// How values are decoded.
    pub value: Serde,
    /// The most records returned.
    pub limit: usize,
    /// The longest the read waits for records.
    pub timeout: Duration,
    /// Where to start; `None` is the end (or the group's offsets).
    pub seek: Option<Seek>,
    /// The most bytes the response may hold (see [`Page::render`]); records
    /// are fetched only up to about as many bytes.
    pub max_bytes: usize,
}

/// The records a GET collected, still as fetched bytes.
#[derive(Debug)]
pub struct Page {
    topic: String,
    key: Serde,
    value: Serde,
    /// Records in the order fair selection took them; within a partition,
    /// by offset.
    records: Vec<(i32, FetchedRecord)>,
    /// The consumer group to commit to, and where each partition's read started.
    group: Option<String>,
    starts: Vec<(i32, i64)>,
}

/// A page as its JSON response body.
#[derive(Debug)]
pub struct Rendered {
    /// `{"records":[...]}`, records ordered by partition, then offset.
    pub body: Vec<u8>,
    /// How many records the body holds.
    pub count: usize,
    /// What to commit once the body is out: exactly what it holds.
    pub commit: Option<GroupCommit>,
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

/// How long a commit may take once the response is written.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Commits what a GET returned, for its consumer group.
pub async fn commit(cluster: &Cluster, commit: &GroupCommit) -> Result<(), RecordsError> {
    let deadline = Instant::now() + COMMIT_TIMEOUT;
    cluster
        .commit_offsets(&commit.group, &commit.topic, &commit.offsets, deadline)
        .await
        .map_err(RecordsError::from)
}

/// One record of a response, borrowing the fetched bytes.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordOut<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    timestamp: i64,
    serialized_key_size: i64,
    serialized_value_size: i64,
    headers: Vec<HeaderOut<'a>>,
    key: Decoded<'a>,
    value: Decoded<'a>,
    leader_epoch: Option<i32>,
}

/// One header of a response record.
#[derive(Debug, Serialize)]
pub struct HeaderOut<'a> {
    key: Cow<'a, str>,
    value: Decoded<'a>,
}

impl Page {
    /// Writes the page as JSON, taking records in the order they were
    /// selected until the next would take the body past `max_bytes` (the
    /// first record is kept whatever its size, so a big record cannot stall
    /// a reader). What is left out is left for the next page: the group
    /// commit covers exactly the records written.
    ///
    /// A record that does not decode as asked fails the page (422), so
    /// nothing is skipped silently.
    pub fn render(&self, max_bytes: usize) -> Result<Rendered, RecordsError> {
        const HEAD: &[u8] = b"{\"records\":[";
        const TAIL: &[u8] = b"]}";
        let budget = max_bytes.saturating_sub(HEAD.len() + TAIL.len());
        let mut buf = Vec::with_capacity(HEAD.len() + TAIL.len() + 256 * self.records.len());
        buf.extend_from_slice(HEAD);
        // (partition, offset, bytes of its JSON in `buf`)
        let mut spans: Vec<(i32, i64, std::ops::Range<usize>)> =
            Vec::with_capacity(self.records.len());
        for (partition, r) in &self.records {
            let mark = buf.len();
            if !spans.is_empty() {
                buf.push(b',');
            }
            let start = buf.len();
            serde_json::to_writer(&mut buf, &self.record_out(*partition, r)?).map_err(|e| {
                RecordsError::Undecodable(format!(
                    "topic '{}' partition {partition} offset {}: cannot write the record as JSON: {e}",
                    self.topic, r.offset
                ))
            })?;
            if !spans.is_empty() && buf.len() - HEAD.len() > budget {
                buf.truncate(mark);
                break;
            }
            spans.push((*partition, r.offset, start..buf.len()));
        }
        let in_order = spans
            .windows(2)
            .all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1));
        let body = if in_order {
            buf.extend_from_slice(TAIL);
            buf
        } else {
            spans.sort_unstable_by_key(|(p, o, _)| (*p, *o));
            let mut body = Vec::with_capacity(buf.len() + TAIL.len());
            body.extend_from_slice(HEAD);
            for (i, (_, _, span)) in spans.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(&buf[span.clone()]);
            }
            body.extend_from_slice(TAIL);
            body
        };
        let commit = self.group.as_ref().map(|group| GroupCommit {
            group: group.clone(),
            topic: self.topic.clone(),
            // Past the last record written, or where the read started.
            offsets: self
                .starts
                .iter()
                .map(|(id, start)| {
                    let last = spans
                        .iter()
                        .filter(|(p, _, _)| p == id)
                        .map(|(_, o, _)| o + 1)
                        .max();
                    (*id, last.unwrap_or(*start))
                })
                .collect(),
        });
        Ok(Rendered {
            body,
            count: spans.len(),
            commit,
        })
    }

    /// One record as the response shows it, decoded as the request asked.
    fn record_out<'a>(
        &'a self,
        partition: i32,
        r: &'a FetchedRecord,
    ) -> Result<RecordOut<'a>, RecordsError> {
        let field =
            |name, serde, bytes| decode_field(&self.topic, partition, r.offset, name, serde, bytes);
        Ok(RecordOut {
            topic: &self.topic,
            partition,
            offset: r.offset,
            timestamp: r.timestamp,
            serialized_key_size: r.key.as_ref().map_or(-1, |k| k.len() as i64),
            serialized_value_size: r.value.as_ref().map_or(-1, |v| v.len() as i64),
            headers: r
                .headers
                .iter()
                .map(|h| HeaderOut {
                    key: String::from_utf8_lossy(&h.key),
                    value: h.value.as_deref().map_or(Decoded::Null, Decoded::Bytes),
                })
                .collect(),
            key: field("key", self.key, r.key.as_deref())?,
            value: field("value", self.value, r.value.as_deref())?,
            leader_epoch: r.leader_epoch,
        })
    }
}

fn decode_field<'a>(
    topic: &str,
    partition: i32,
    offset: i64,
    name: &str,
    serde: Serde,
    bytes: Option<&'a [u8]>,
) -> Result<Decoded<'a>, RecordsError> {
    serde.deserialize(bytes).map_err(|e| {
        RecordsError::Undecodable(format!(
            "topic '{topic}' partition {partition} offset {offset}: the {name} cannot be read with the {} deserializer: {e}; choose another {name}Deserializer",
            serde.name()
        ))
    })
}

/// One partition being read.
struct Part {
    id: i32,
    /// Where the read of this partition started.
    start: i64,
    /// Whether `start` is a seek offset not yet clamped to the log's range.
    unresolved: bool,
    /// Whether the next fetch must ask for this partition alone.
    alone: bool,
    /// The next offset to fetch.
    position: i64,
    /// The last stable offset, as last seen.
    end: i64,
    at_end: bool,
    records: Vec<FetchedRecord>,
}

/// Reads records as `request` asks.
pub async fn run(cluster: &Cluster, request: &GetRequest) -> Result<Page, RecordsError> {
    // `timeout` bounds the wait for records; Kafka calls get at least a
    // moment, so `timeout=0s` still answers with what is already there.
    let wait_until = Instant::now() + request.timeout;
    let deadline = wait_until.max(Instant::now() + MIN_KAFKA_TIME);
    let topic = request.topic.as_str();
    let info = cluster.topic(topic, false, deadline).await?;
    let ids: Vec<i32> = match request.partition {
        Some(p) => vec![info.partition(p)?.id],
        None => info.partitions.iter().map(|p| p.id).collect(),
    };
    // With `partition`, groupId is ignored: nothing is read from or committed to the group.
    let group = request
        .group_id
        .as_deref()
        .filter(|_| request.partition.is_none());
    let start = match (request.seek, group) {
        (None, Some(group)) => Start::Group(group),
        (seek, _) => Start::Seek(seek),
    };
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
            Start::Seek(Some(Seek::To(offset))) => {
                Ok(ids.iter().map(|id| (*id, offset, i64::MAX)).collect())
            }
            start => start_positions(cluster, topic, &ids, start, deadline).await,
        }
    };
    let (unused, starts) = tokio::join!(unused, starts);
    unused?;
    let unresolved = matches!(start, Start::Seek(Some(Seek::To(_))));
    let mut parts: Vec<Part> = starts?
        .into_iter()
        .map(|(id, position, end)| Part {
            id,
            start: position,
            unresolved,
            alone: false,
            position,
            end,
            at_end: position >= end,
            records: Vec::new(),
        })
        .collect();

    let limit = request.limit;
    let partition_max_bytes = (limit.saturating_mul(1024)).clamp(64 * 1024, 1024 * 1024) as i32;
    // Bytes of the records held so far: fetching stops at the response's bound.
    let mut held = 0usize;
    loop {
        let fetch_max_bytes = request
            .max_bytes
            .saturating_sub(held)
            .clamp(1, i32::MAX as usize) as i32;
        let wanted = |alone: bool| -> Vec<(i32, i64)> {
            parts
                .iter()
                .filter(|p| !p.at_end && p.records.len() < limit && p.alone == alone)
                .map(|p| (p.id, p.position))
                .collect()
        };
        // Together, one request per leader; a partition whose next batch is
        // over the size limit goes alone, as the first partition of a fetch
        // always gets its first batch whole.
        let mut fetches = vec![wanted(false)];
        fetches.extend(wanted(true).into_iter().map(|p| vec![p]));
        fetches.retain(|f| !f.is_empty());
        if !fetches.is_empty() {
            let answers =
                join_all(fetches.iter().map(|f| {
                    cluster.fetch(topic, f, partition_max_bytes, fetch_max_bytes, deadline)
                }))
                .await;
            for (id, result) in answers.into_iter().flatten() {
                let Some(part) = parts.iter_mut().find(|p| p.id == id) else {
                    continue;
                };
                match result {
                    Ok(fetched) => {
                        if part.unresolved {
                            // Past the end: clamp to it (before the start the broker says out of range).
                            part.position = part.position.min(fetched.last_stable_offset);
                            part.start = part.position;
                            part.unresolved = false;
                        }
                        let room = limit - part.records.len();
                        let before = part.records.len();
                        let decoded = decode_records(
                            fetched.records,
                            part.position,
                            &fetched.aborted,
                            room,
                            &mut part.records,
                        )?;
                        held += part.records[before..]
                            .iter()
                            .map(record_bytes)
                            .sum::<usize>();
                        part.end = fetched.last_stable_offset;
                        match decoded.next_offset {
                            Some(next) => {
                                part.position = part.position.max(next);
                                part.alone = false;
                            }
                            // Records are there but none came: the broker gives a
                            // batch bigger than the size limit only to the first
                            // partition of a fetch, so ask for this one alone.
                            None if part.position < fetched.last_stable_offset && !part.alone => {
                                part.alone = true
                            }
                            None => part.at_end = true,
                        }
                        if part.position < fetched.log_start_offset {
                            part.position = fetched.log_start_offset;
                        }
                        part.at_end |= part.position >= part.end;
                    }
                    Err(KafkaError::Timeout(_)) => part.at_end = true,
                    Err(e) if e.kind() == ErrorKind::Broker(Refusal::OffsetOutOfRange) => {
                        // Outside the log (records deleted under the read, or a seek
                        // past either end): clamp the position into it.
                        let start = start_positions(
                            cluster,
                            topic,
                            &[id],
                            Start::Seek(Some(Seek::To(part.position))),
                            deadline,
                        )
                        .await?;
                        if let Some((_, position, end)) = start.first() {
                            part.position = *position;
                            part.end = *end;
                            part.at_end = *position >= *end;
                            if part.unresolved {
                                part.start = *position;
                                part.unresolved = false;
                            }
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let total: usize = parts.iter().map(|p| p.records.len()).sum();
        // Enough records, unless a partition still owes its big batch: fair
        // selection needs every partition's records.
        let owed = parts.iter().any(|p| p.alone && !p.at_end);
        if (total >= limit && !owed) || held >= request.max_bytes || Instant::now() >= wait_until {
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
    Ok(Page {
        topic: request.topic.clone(),
        key: request.key,
        value: request.value,
        records: select_fairly(parts, limit),
        group: group.map(str::to_string),
        starts,
    })
}

/// Where reads start: a seek (or the end), or a group's committed offsets.
#[derive(Debug, Clone, Copy)]
enum Start<'a> {
    Seek(Option<Seek>),
    Group(&'a str),
}

/// Start offset and last stable offset of each partition: `(id, start, end)`.
async fn start_positions(
    cluster: &Cluster,
    topic: &str,
    ids: &[i32],
    start: Start<'_>,
    deadline: Instant,
) -> Result<Vec<(i32, i64, i64)>, RecordsError> {
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
            Start::Group(group) => cluster.committed_offsets(group, topic, ids, deadline).await,
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
            Start::Group(_) => find(&committed).map_or(end, |o| o.clamp(first, end)),
            Start::Seek(None) => end,
            Start::Seek(Some(Seek::FromLatest(n))) => end.saturating_sub(n).max(first),
            Start::Seek(Some(Seek::FromBeginning(n))) => first.saturating_add(n).min(end),
            Start::Seek(Some(Seek::To(o))) => o.clamp(first, end),
            Start::Seek(Some(Seek::ToTimestamp(_))) => {
                find(&by_time).map_or(end, |o| o.clamp(first, end))
            }
        };
        out.push((*id, position, end));
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

/// Takes at most `limit` records, each next one from the partition with the
/// most records left to read (ties broken at random, so no partition is
/// always first), in the order taken: any first part of the result is a fair
/// page too, and holds a first part of each partition's records.
fn select_fairly(parts: Vec<Part>, limit: usize) -> Vec<(i32, FetchedRecord)> {
    let n = parts.len();
    let rotation = rand::random_range(0..n.max(1));
    // (records left in the partition beyond those taken, tie-break rank, index)
    let mut heap: BinaryHeap<(i64, Reverse<usize>, usize)> = parts
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.records.is_empty())
        .map(|(i, p)| {
            let left = (p.end.max(p.position) - p.records[0].offset).max(p.records.len() as i64);
            (left, Reverse((i + n - rotation) % n), i)
        })
        .collect();
    let total: usize = parts.iter().map(|p| p.records.len()).sum();
    let ids: Vec<i32> = parts.iter().map(|p| p.id).collect();
    let mut sources: Vec<_> = parts.into_iter().map(|p| p.records.into_iter()).collect();
    let mut taken = Vec::with_capacity(total.min(limit));
    while taken.len() < limit {
        let Some((left, rank, i)) = heap.pop() else {
            break;
        };
        let Some(record) = sources[i].next() else {
            continue;
        };
        taken.push((ids[i], record));
        if sources[i].len() > 0 {
            heap.push((left - 1, rank, i));
        }
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(id: i32, first: i64, count: usize, end: i64) -> Part {
        Part {
            id,
            start: first,
            unresolved: false,
            alone: false,
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
    fn the_partition_with_the_most_left_goes_first() {
        // Partition 1 has 100 records left but only 5 were fetched so far.
        let parts = vec![part(0, 0, 5, 5), part(1, 0, 5, 100), part(2, 0, 1, 1)];
        let selected = select_fairly(parts, 4);
        assert_eq!(counts(&selected, 3), vec![0, 4, 0]);
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

    fn page(records: Vec<(i32, FetchedRecord)>, group: Option<&str>) -> Page {
        Page {
            topic: "t".into(),
            key: Serde::String,
            value: Serde::String,
            starts: vec![(0, 5), (1, 0), (2, 10)],
            records,
            group: group.map(str::to_string),
        }
    }

    fn record(offset: i64, value: &str) -> FetchedRecord {
        FetchedRecord {
            offset,
            timestamp: 0,
            key: None,
            value: Some(bytes::Bytes::copy_from_slice(value.as_bytes())),
            headers: vec![],
            leader_epoch: None,
        }
    }

    #[test]
    fn a_rendered_page_is_ordered_by_partition_then_offset() {
        let p = page(
            vec![
                (2, record(10, "a")),
                (0, record(5, "b")),
                (2, record(11, "c")),
                (0, record(6, "d")),
            ],
            Some("g"),
        );
        let rendered = p.render(usize::MAX).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&rendered.body).unwrap();
        let order: Vec<(i64, i64, &str)> = json["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["partition"].as_i64().unwrap(),
                    r["offset"].as_i64().unwrap(),
                    r["value"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            order,
            vec![(0, 5, "b"), (0, 6, "d"), (2, 10, "a"), (2, 11, "c")]
        );
        assert_eq!(rendered.count, 4);
        assert_eq!(
            rendered.commit.unwrap().offsets,
            vec![(0, 7), (1, 0), (2, 12)]
        );
    }

    #[test]
    fn a_page_stops_before_the_byte_bound_and_commits_only_what_it_holds() {
        let big = "x".repeat(1000);
        let records = vec![
            (2, record(10, &big)),
            (0, record(5, &big)),
            (2, record(11, &big)),
            (0, record(6, &big)),
        ];
        let whole = page(records.clone(), Some("g")).render(usize::MAX).unwrap();
        // Room for two records but not three.
        let bound = whole.body.len() / 2 + 100;
        let rendered = page(records.clone(), Some("g")).render(bound).unwrap();
        assert!(
            rendered.body.len() <= bound,
            "{} > {bound}",
            rendered.body.len()
        );
        assert_eq!(rendered.count, 2);
        let json: serde_json::Value = serde_json::from_slice(&rendered.body).unwrap();
        assert_eq!(json["records"].as_array().unwrap().len(), 2);
        // The first two taken: partition 2 offset 10 and partition 0 offset 5.
        assert_eq!(
            rendered.commit.unwrap().offsets,
            vec![(0, 6), (1, 0), (2, 11)]
        );
        // One record is returned even when it alone exceeds the bound.
        let tiny = page(records, Some("g")).render(10).unwrap();
        assert_eq!(tiny.count, 1);
        assert_eq!(tiny.commit.unwrap().offsets, vec![(0, 5), (1, 0), (2, 11)]);
    }

    #[test]
    fn repeated_paging_never_starves_a_partition() {
        // Three partitions of 7; six pages of 4 drain all 21.
        let mut left = [7i64, 7, 7];
        let mut seen = [0usize; 3];
        for _ in 0..6 {
            let parts: Vec<Part> = (0..3)
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
