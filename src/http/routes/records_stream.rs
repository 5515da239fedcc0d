//! `GET /records/{topic}` as a stream: NDJSON (one record per line) or
//! Server-Sent Events (`event: record` whose `id:` is the cursor after it,
//! `: keep-alive` comments while nothing comes, a last `event: end` with the
//! cursor to go on from).
//!
//! The body pulls: hyper asks for the next chunk only when it has room to
//! write it, and only then does the stream render what it holds or fetch
//! another round ([`Reader::next_round`]). A reader that reads slowly is fed
//! slowly, and a stream holds the round it writes and the next one, whatever
//! its length. Rounds are sized by the reader's pace: from
//! [`get::STREAM_ROUND_MIN_BYTES`] to [`get::STREAM_ROUND_BYTES`] of
//! batches, twice as big after a round the reader had to wait for, half as
//! big after one that was fetched before the reader was done with the one
//! before it. A reader faster than Kafka gets the biggest rounds (the fewest
//! fetches); a slow one, such as a browser tab left open, holds little.
//!
//! With a group, what has been handed to the connection is committed at
//! most once a second, and at the end. The stream ends at its limit, its
//! bounds or its duration, when the service shuts down, or when the client
//! leaves (hyper drops the body; what was not handed is not committed).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::{with_records, HttpResponse};
use crate::codec::schema::SchemaSet;
use crate::codec::Format;
use crate::http::error::{status_of, ApiError, ErrorBody};
use crate::http::query::Output;
use crate::http::response::{Body, BodyError};
use crate::http::router::App;
use crate::kafka::Cluster;
use crate::metrics::Metrics;
use crate::records::cursor::Cursor;
use crate::records::get::{self, GetRequest, GroupCommit, Reader, Round};
use crate::records::view::View;
use crate::records::RecordsError;

/// How long an SSE stream stays silent before a `: keep-alive` comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long an NDJSON stream that fails waits between handing over its error
/// line and cutting the connection.
const FLUSH_BEFORE_CUT: Duration = Duration::from_millis(200);

/// How long the Kafka calls that start a stream may take.
const OPEN_TIME: Duration = Duration::from_secs(30);

/// A chunk is handed to the connection once it holds about this much.
const CHUNK_BYTES: usize = 32 * 1024;

/// The most records one round fetches (the round's bytes bound it first
/// for all but tiny records).
const ROUND_RECORDS: usize = 10_000;

/// How often a stream with a group commits at most.
const COMMIT_EVERY: Duration = Duration::from_secs(1);

/// The size of a stream's first round (see [`Streaming::round_bytes`]).
const FIRST_ROUND_BYTES: usize = 64 * 1024;

/// The shortest wait for records between two rounds that found none.
const MIN_WAIT: Duration = Duration::from_millis(100);

/// Starts the stream: errors before the first record (a bad cursor, an
/// unknown topic, a group with live members) are plain error responses.
pub(crate) async fn stream_records(
    app: &App,
    request: GetRequest,
    output: Output,
) -> Result<HttpResponse, ApiError> {
    let ends_at = Instant::now() + request.timeout;
    let reader = Reader::open(
        &app.cluster,
        &app.group_turns,
        &request,
        ends_at,
        Some(OPEN_TIME),
    )
    .await
    .inspect_err(|e| app.metrics.records_error(e))?;
    let positions = reader.as_ref().map(Reader::positions).unwrap_or_default();
    let state = Streaming {
        positions: positions.clone(),
        committed: positions,
        carried: reader
            .as_ref()
            .map(|r| r.carried().to_vec())
            .unwrap_or_default(),
        every_partition: reader.as_ref().is_none_or(Reader::every_partition),
        group: reader.as_ref().and_then(Reader::group).map(str::to_string),
        phase: if reader.is_some() {
            Phase::Reading
        } else {
            Phase::Ending
        },
        reader,
        fetching: None,
        round_bytes: FIRST_ROUND_BYTES,
        wrote_a_round: false,
        round: Rendering::default(),
        finished: false,
        cluster: app.cluster.clone(),
        metrics: Arc::clone(&app.metrics),
        shutdown: app.shutdown.clone(),
        topic: request.topic,
        key: request.key,
        value: request.value,
        output,
        remaining: request.limit,
        ends_at,
        pending: None,
        handed: None,
        committed_at: Instant::now(),
        last_output: Instant::now(),
    };
    let stream = futures_util::stream::unfold(state, Streaming::step);
    let mut response = Response::new(Body::stream(Box::pin(stream)));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(match output {
            Output::Sse => "text/event-stream; charset=utf-8",
            _ => "application/x-ndjson",
        }),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies that buffer answers would hold the events back.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(with_records(response, 0))
}

/// Where a stream is.
enum Phase {
    /// Reading rounds and handing out their chunks.
    Reading,
    /// Nothing more to read: commit, then the last event.
    Ending,
    /// A record could not be shown: the error is written, then the
    /// connection is cut (an NDJSON reader must not take it for the end).
    Failing(String),
    Done,
}

/// A round being fetched, on a task of its own so that it overlaps the
/// writing of the round before it; dropping it (the client left) stops it.
type Fetching = AbortOnDropHandle<(Reader, Result<Round, RecordsError>)>;

/// The round being rendered, a chunk at a time.
#[derive(Default)]
struct Rendering {
    records: get::RoundRecords,
    /// Where the read stands once the round is written.
    positions: Vec<(i32, i64)>,
    schemas: SchemaSet,
}

struct Streaming {
    /// The reader, when no round is being fetched.
    reader: Option<Reader>,
    fetching: Option<Fetching>,
    /// How many bytes of batches the next round asks for: doubled when the
    /// reader waited for a round, halved when a round was there before the
    /// reader needed it.
    round_bytes: usize,
    /// Whether a round with records was written (the first one tells
    /// nothing about the reader's pace).
    wrote_a_round: bool,
    round: Rendering,
    /// Whether a bounded read has read all it will.
    finished: bool,
    group: Option<String>,
    cluster: Cluster,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    topic: String,
    key: Format,
    value: Format,
    output: Output,
    /// Records the stream may still fetch.
    remaining: usize,
    ends_at: Instant,
    /// A rendered chunk not yet handed out, with where the read stands once
    /// it is written.
    pending: Option<(Bytes, Vec<(i32, i64)>)>,
    /// Where the read stands after the records rendered so far.
    positions: Vec<(i32, i64)>,
    /// Partitions the read could not serve, and where a cursor resumes them.
    carried: Vec<(i32, i64)>,
    every_partition: bool,
    /// Where the read stands after the last chunk handed to the connection.
    handed: Option<Vec<(i32, i64)>>,
    /// What was last committed, and when.
    committed: Vec<(i32, i64)>,
    committed_at: Instant,
    /// When the last bytes were handed out: a quiet SSE stream sends a
    /// keep-alive comment every [`KEEP_ALIVE`].
    last_output: Instant,
    phase: Phase,
}

impl Streaming {
    /// The next chunk of the body, or its end.
    async fn step(mut self) -> Option<(Result<Bytes, BodyError>, Streaming)> {
        loop {
            self.commit_now_and_then().await;
            if let Some((chunk, after)) = self.pending.take() {
                self.handed = Some(after);
                self.last_output = Instant::now();
                return Some((Ok(chunk), self));
            }
            match std::mem::replace(&mut self.phase, Phase::Reading) {
                Phase::Done => {
                    self.phase = Phase::Done;
                    return None;
                }
                Phase::Failing(why) => {
                    self.phase = Phase::Done;
                    // A failing body makes the connection drop what it has
                    // not yet written: the error line just handed over gets
                    // a moment to reach the socket before the cut.
                    tokio::time::sleep(FLUSH_BEFORE_CUT).await;
                    return Some((Err(why.into()), self));
                }
                Phase::Ending => {
                    self.phase = Phase::Done;
                    self.fetching = None;
                    if let Err(e) = self.commit().await {
                        return Some((Err(e.to_string().into()), self));
                    }
                    if self.output == Output::Sse {
                        let end =
                            format!("event: end\ndata: {{\"next\":\"{}\"}}\n\n", self.cursor());
                        return Some((Ok(Bytes::from(end)), self));
                    }
                    return None;
                }
                Phase::Reading => {}
            }
            if !self.round.records.is_empty() {
                // The next round is fetched while this one is written.
                self.fetch_next();
                if let Err(e) = self.render_chunk() {
                    self.fail(&e);
                }
                continue;
            }
            if self.fetching.is_none() && !self.fetch_next() {
                self.phase = Phase::Ending;
                continue;
            }
            let Some(fetching) = self.fetching.as_mut() else {
                continue;
            };
            // The round written, the next one was there already (the reader
            // is the slower side: smaller rounds hold less), or is still on
            // its way (Kafka is: bigger rounds take fewer fetches).
            if self.wrote_a_round {
                self.round_bytes = next_round_bytes(self.round_bytes, fetching.is_finished());
            }
            let joined = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => {
                    self.phase = Phase::Ending;
                    continue;
                }
                joined = fetching => joined,
            };
            self.fetching = None;
            let (reader, round) = match joined {
                Ok(done) => done,
                Err(e) => {
                    // Only a bug stops the task: the connection is cut.
                    tracing::error!(topic = %self.topic, error = %e, "a stream's read stopped");
                    self.phase = Phase::Failing(format!("the stream's read stopped: {e}"));
                    continue;
                }
            };
            self.reader = Some(reader);
            match round {
                Ok(round) => {
                    let count = round.records.len();
                    self.remaining = self.remaining.saturating_sub(count);
                    self.metrics.records_fetched(count);
                    self.finished = round.finished;
                    if count == 0 {
                        // Nothing to write, but the read may have moved on
                        // (a filter kept nothing): what is handed covers it.
                        self.positions = round.positions;
                        if self.handed.is_some() {
                            self.handed = Some(self.positions.clone());
                        }
                        let quiet = self.last_output.elapsed() >= KEEP_ALIVE;
                        if self.output == Output::Sse && quiet && Instant::now() < self.ends_at {
                            self.last_output = Instant::now();
                            return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), self));
                        }
                    } else {
                        self.wrote_a_round = true;
                        self.round = Rendering {
                            records: round.records,
                            positions: round.positions,
                            schemas: round.schemas,
                        };
                    }
                }
                Err(e) => self.fail(&e),
            }
        }
    }

    /// Starts fetching the next round, unless one is under way or the read
    /// is over; returns whether one is under way.
    fn fetch_next(&mut self) -> bool {
        if self.fetching.is_some() {
            return true;
        }
        let now = Instant::now();
        if self.remaining == 0 || self.finished || now >= self.ends_at {
            return false;
        }
        let Some(mut reader) = self.reader.take() else {
            return false;
        };
        // Wake for the next keep-alive (SSE), or for the commit of what was
        // handed out while the topic is quiet.
        let mut wake = now + KEEP_ALIVE;
        if self.output == Output::Sse {
            wake = wake.min(self.last_output + KEEP_ALIVE);
        }
        if self.group.is_some() {
            wake = wake.min(now + COMMIT_EVERY);
        }
        // Never a busy loop, whatever is due.
        let wait_until = wake.max(now + MIN_WAIT).min(self.ends_at);
        let limit = self.remaining.min(ROUND_RECORDS);
        let max_bytes = self.round_bytes;
        self.fetching = Some(AbortOnDropHandle::new(tokio::spawn(async move {
            let round = reader.next_round(limit, max_bytes, wait_until).await;
            (reader, round)
        })));
        true
    }

    /// Renders the next chunk of the round: about [`CHUNK_BYTES`], or what
    /// is left of it.
    fn render_chunk(&mut self) -> Result<(), RecordsError> {
        let view = View {
            topic: &self.topic,
            key: self.key,
            value: self.value,
            schemas: &self.round.schemas,
        };
        let mut chunk = Vec::with_capacity(CHUNK_BYTES + 1024);
        let mut failed = None;
        for (partition, record) in self.round.records.by_ref() {
            let at = chunk.len();
            set(&mut self.positions, partition, record.offset + 1);
            let written = match self.output {
                Output::Sse => {
                    chunk.extend_from_slice(b"event: record\nid: ");
                    let cursor = cursor_of(
                        &self.topic,
                        &self.positions,
                        &self.carried,
                        self.every_partition,
                    );
                    chunk.extend_from_slice(cursor.as_bytes());
                    chunk.extend_from_slice(b"\ndata: ");
                    let written = view.write(&mut chunk, partition, &record);
                    chunk.extend_from_slice(b"\n\n");
                    written
                }
                _ => {
                    let written = view.write(&mut chunk, partition, &record);
                    chunk.push(b'\n');
                    written
                }
            };
            if let Err(e) = written {
                // What came before the record is written, then the error.
                chunk.truncate(at);
                set(&mut self.positions, partition, record.offset);
                failed = Some(e);
                break;
            }
            if chunk.len() >= CHUNK_BYTES {
                break;
            }
        }
        if failed.is_none() && self.round.records.is_empty() {
            // Past what the round scanned too (records a filter left out).
            self.positions = std::mem::take(&mut self.round.positions);
        }
        if !chunk.is_empty() {
            self.pending = Some((Bytes::from(chunk), self.positions.clone()));
        }
        match failed {
            Some(e) => {
                self.round = Rendering::default();
                Err(e)
            }
            None => Ok(()),
        }
    }

    /// Writes the error as the stream's last words.
    fn fail(&mut self, e: &RecordsError) {
        self.metrics.records_error(e);
        let status = status_of(e);
        let message = e.to_string();
        tracing::warn!(topic = %self.topic, status = status.as_u16(), error = %message, "stream failed");
        let body = serde_json::to_string(&ErrorBody {
            code: status.as_u16(),
            message: &message,
        })
        .unwrap_or_default();
        let (chunk, phase) = match self.output {
            Output::Sse => (format!("event: error\ndata: {body}\n\n"), Phase::Ending),
            _ => (format!("{body}\n"), Phase::Failing(message)),
        };
        // A chunk rendered before the error goes first.
        let before = self.pending.take();
        let at = before
            .as_ref()
            .map(|(_, at)| at.clone())
            .or_else(|| self.handed.clone())
            .unwrap_or_else(|| self.committed.clone());
        let mut bytes = before.map(|(b, _)| b.to_vec()).unwrap_or_default();
        bytes.extend_from_slice(chunk.as_bytes());
        self.pending = Some((Bytes::from(bytes), at));
        self.phase = phase;
    }

    /// The cursor after what has been rendered.
    fn cursor(&self) -> String {
        cursor_of(
            &self.topic,
            &self.positions,
            &self.carried,
            self.every_partition,
        )
    }

    /// Commits what was handed out, if a second has passed since the last commit.
    async fn commit_now_and_then(&mut self) {
        if self.committed_at.elapsed() < COMMIT_EVERY {
            return;
        }
        if let Err(e) = self.commit().await {
            tracing::warn!(topic = %self.topic, error = %e, "commit during a stream failed; the next one may succeed");
        }
    }

    /// Commits what was handed out, for the stream's group.
    async fn commit(&mut self) -> Result<(), RecordsError> {
        let Some(group) = &self.group else {
            return Ok(());
        };
        let Some(handed) = &self.handed else {
            return Ok(());
        };
        if *handed == self.committed {
            return Ok(());
        }
        let commit = GroupCommit {
            group: group.clone(),
            topic: self.topic.clone(),
            offsets: handed.clone(),
        };
        self.committed_at = Instant::now();
        get::commit(&self.cluster, &commit)
            .await
            .inspect_err(|e| self.metrics.records_error(e))?;
        self.committed = commit.offsets;
        Ok(())
    }
}

/// The cursor of a read standing at `positions`, with the partitions it
/// could not serve where a cursor left them.
fn cursor_of(
    topic: &str,
    positions: &[(i32, i64)],
    carried: &[(i32, i64)],
    every_partition: bool,
) -> String {
    let mut all = positions.to_vec();
    all.extend(
        carried
            .iter()
            .filter(|(p, _)| !positions.iter().any(|(q, _)| q == p)),
    );
    Cursor::new(all, every_partition).encode(topic)
}

/// The size of the round after one of `bytes`: half when the round was
/// fetched before the reader needed it (`ready`), else twice, within
/// [`get::STREAM_ROUND_MIN_BYTES`] and [`get::STREAM_ROUND_BYTES`].
fn next_round_bytes(bytes: usize, ready: bool) -> usize {
    let next = if ready { bytes / 2 } else { bytes * 2 };
    next.clamp(get::STREAM_ROUND_MIN_BYTES, get::STREAM_ROUND_BYTES)
}

/// Sets `partition`'s position.
fn set(positions: &mut [(i32, i64)], partition: i32, position: i64) {
    if let Some(p) = positions.iter_mut().find(|(p, _)| *p == partition) {
        p.1 = position;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_shrink_for_a_slow_reader_and_grow_for_a_fast_one_within_bounds() {
        let mut bytes = FIRST_ROUND_BYTES;
        let mut sizes = Vec::new();
        for _ in 0..4 {
            bytes = next_round_bytes(bytes, true);
            sizes.push(bytes / 1024);
        }
        assert_eq!(sizes, [32, 16, 16, 16]);
        sizes.clear();
        for _ in 0..6 {
            bytes = next_round_bytes(bytes, false);
            sizes.push(bytes / 1024);
        }
        assert_eq!(sizes, [32, 64, 128, 128, 128, 128]);
    }
}
