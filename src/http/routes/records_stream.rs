//! `GET /records/{topic}` as a stream: NDJSON (one record per line) or
//! Server-Sent Events (`event: record` whose `id:` is the cursor after it,
//! `: keep-alive` comments while nothing comes, a last `event: end` with the
//! cursor to go on from).
//!
//! The body pulls: hyper asks for the next chunk only when it has room to
//! write it, and only then does the stream render what it holds or fetch
//! another round ([`Reader::next_round`], at most about
//! [`get::STREAM_ROUND_BYTES`]). A reader that reads slowly is fed slowly,
//! and a stream holds one round of records whatever its length.
//!
//! With a group, what has been handed to the connection is committed at
//! most once a second, and at the end. The stream ends at its limit, its
//! bounds or its duration, when the service shuts down, or when the client
//! leaves (hyper drops the body; what was not handed is not committed).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{with_records, HttpResponse};
use crate::codec::schema::SchemaSet;
use crate::codec::Format;
use crate::http::error::{status_of, ApiError, ErrorBody};
use crate::http::query::Output;
use crate::http::response::{Body, BodyError};
use crate::http::router::App;
use crate::kafka::{Cluster, FetchedRecord};
use crate::metrics::Metrics;
use crate::records::cursor::Cursor;
use crate::records::get::{self, GetRequest, GroupCommit, Reader};
use crate::records::view::View;
use crate::records::RecordsError;

/// How long an SSE stream stays silent before a `: keep-alive` comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long the Kafka calls that start a stream may take.
const OPEN_TIME: Duration = Duration::from_secs(30);

/// A chunk is handed to the connection once it holds about this much.
const CHUNK_BYTES: usize = 32 * 1024;

/// The most records one round fetches (the round's bytes bound it first
/// for all but tiny records).
const ROUND_RECORDS: usize = 10_000;

/// How often a stream with a group commits at most.
const COMMIT_EVERY: Duration = Duration::from_secs(1);

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
        phase: if reader.is_some() {
            Phase::Reading
        } else {
            Phase::Ending
        },
        reader,
        cluster: app.cluster.clone(),
        metrics: Arc::clone(&app.metrics),
        shutdown: app.shutdown.clone(),
        topic: request.topic,
        key: request.key,
        value: request.value,
        output,
        remaining: request.limit,
        ends_at,
        pending: VecDeque::new(),
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

struct Streaming {
    reader: Option<Reader>,
    cluster: Cluster,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    topic: String,
    key: Format,
    value: Format,
    output: Output,
    /// Records the stream may still write.
    remaining: usize,
    ends_at: Instant,
    /// Rendered chunks not yet handed out, each with where the read stands
    /// once it is written.
    pending: VecDeque<(Bytes, Vec<(i32, i64)>)>,
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
            if let Some((chunk, after)) = self.pending.pop_front() {
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
                    return Some((Err(why.into()), self));
                }
                Phase::Ending => {
                    self.phase = Phase::Done;
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
            let Some(reader) = self.reader.as_mut() else {
                self.phase = Phase::Ending;
                continue;
            };
            let now = Instant::now();
            if self.remaining == 0 || reader.finished() || now >= self.ends_at {
                self.phase = Phase::Ending;
                continue;
            }
            // Wake for the next keep-alive (SSE), or for the commit of what
            // was handed out while the topic is quiet.
            let mut wake = now + KEEP_ALIVE;
            if self.output == Output::Sse {
                wake = wake.min(self.last_output + KEEP_ALIVE);
            }
            if reader.group().is_some() && self.handed.as_ref() != Some(&self.committed) {
                wake = wake.min(self.committed_at + COMMIT_EVERY);
            }
            // Never a busy loop, whatever is due.
            let wait_until = wake.max(now + MIN_WAIT).min(self.ends_at);
            let limit = self.remaining.min(ROUND_RECORDS);
            let round = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => {
                    self.phase = Phase::Ending;
                    continue;
                }
                round = reader.next_round(limit, wait_until) => round,
            };
            let rendered = round.and_then(|records| self.render(records));
            match rendered {
                Ok(0) => {
                    let quiet = self.last_output.elapsed() >= KEEP_ALIVE;
                    if self.output == Output::Sse && quiet && Instant::now() < self.ends_at {
                        self.last_output = Instant::now();
                        return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), self));
                    }
                }
                Ok(_) => {}
                Err(e) => self.fail(&e),
            }
        }
    }

    /// Renders a round into chunks; returns how many records it held.
    fn render(&mut self, records: Vec<(i32, FetchedRecord)>) -> Result<usize, RecordsError> {
        let no_schemas = SchemaSet::default();
        let view = View {
            topic: &self.topic,
            key: self.key,
            value: self.value,
            schemas: self.reader.as_ref().map_or(&no_schemas, |r| r.schemas()),
        };
        let count = records.len();
        let mut chunk = Vec::with_capacity(CHUNK_BYTES + 1024);
        for (partition, record) in &records {
            set(&mut self.positions, *partition, record.offset + 1);
            match self.output {
                Output::Sse => {
                    chunk.extend_from_slice(b"event: record\nid: ");
                    let cursor = self.cursor();
                    chunk.extend_from_slice(cursor.as_bytes());
                    chunk.extend_from_slice(b"\ndata: ");
                    view.write(&mut chunk, *partition, record)?;
                    chunk.extend_from_slice(b"\n\n");
                }
                _ => {
                    view.write(&mut chunk, *partition, record)?;
                    chunk.push(b'\n');
                }
            }
            if chunk.len() >= CHUNK_BYTES {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_BYTES + 1024));
                self.pending
                    .push_back((Bytes::from(full), self.positions.clone()));
            }
        }
        // Past what the round scanned too (records a filter left out).
        if let Some(reader) = &self.reader {
            self.positions = reader.positions();
        }
        if !chunk.is_empty() {
            self.pending
                .push_back((Bytes::from(chunk), self.positions.clone()));
        } else if let Some(last) = self.pending.back_mut() {
            last.1 = self.positions.clone();
        } else {
            // Nothing to write, but the read moved on (a filter kept
            // nothing): what is handed already covers it.
            if self.pending.is_empty() && self.handed.is_some() {
                self.handed = Some(self.positions.clone());
            }
        }
        self.remaining = self.remaining.saturating_sub(count);
        self.metrics.records_fetched(count);
        Ok(count)
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
        let at = self
            .handed
            .clone()
            .unwrap_or_else(|| self.committed.clone());
        self.pending.push_back((Bytes::from(chunk), at));
        self.phase = phase;
    }

    /// The cursor after what has been rendered.
    fn cursor(&self) -> String {
        let mut positions = self.positions.clone();
        positions.extend(
            self.carried
                .iter()
                .filter(|(p, _)| !self.positions.iter().any(|(q, _)| q == p)),
        );
        Cursor::new(positions, self.every_partition).encode(&self.topic)
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
        let Some(group) = self.reader.as_ref().and_then(Reader::group) else {
            return Ok(());
        };
        let Some(handed) = &self.handed else {
            return Ok(());
        };
        if *handed == self.committed {
            return Ok(());
        }
        let commit = GroupCommit {
            group: group.to_string(),
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

/// Sets `partition`'s position.
fn set(positions: &mut [(i32, i64)], partition: i32, position: i64) {
    if let Some(p) = positions.iter_mut().find(|(p, _)| *p == partition) {
        p.1 = position;
    }
}
