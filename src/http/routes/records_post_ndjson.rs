//! `POST /records` with an NDJSON body (`Content-Type:
//! application/x-ndjson`): one record per line, read, checked and written
//! as the body arrives ([`post::Load`]), never held whole.
//!
//! 1. read the query: the load's options and what applies to every line;
//! 2. read the body as it arrives, decoded (gzip), cut into lines of at
//!    most `--max-body-bytes`;
//! 3. check each line into a record, in order (blank lines are skipped);
//! 4. write the records a batch at a time: when a batch is full
//!    ([`BATCH_BYTES`] of lines, or `--max-records-per-request` records),
//!    and whenever the client pauses, so a slow sender's records are
//!    written as they come;
//! 5. end the load: the first invalid line, failed write or unreadable body
//!    stops it (without a transaction what came before it is written first;
//!    a transaction is aborted), else its transaction commits;
//! 6. answer how many records were written and where.

use std::sync::Arc;

use hyper::{Request, StatusCode};
use serde::Serialize;

use super::records_post::{check_write_timeout, record_message};
use super::{with_records, HttpResponse};
use crate::http::body::encoding::{BodyReader, Encoding, Piece, ReadError};
use crate::http::body::ndjson::{is_blank, LineTooLong, Lines};
use crate::http::body::{parse_line, LineDefaults};
use crate::http::error::{status_of, ApiError};
use crate::http::query;
use crate::http::response::json_response;
use crate::http::router::App;
use crate::http::BoxError;
use crate::metrics::Route;
use crate::records::post::{self, Load, Loaded, PartitionRange, PostRecord};
use crate::records::{RecordsError, TxnOutcome};

/// A batch is written once its lines hold this many bytes (or fewer, when
/// `--max-body-bytes` is smaller): about what one produce request carries.
pub(crate) const BATCH_BYTES: usize = 1 << 20;

/// POST /records with an NDJSON body.
pub(crate) async fn post_ndjson<B>(app: &App, request: Request<B>) -> Result<HttpResponse, ApiError>
where
    B: hyper::body::Body,
    B::Error: Into<BoxError>,
{
    let options = query::load_options(request.uri().query(), &app.limits)?;
    check_write_timeout(options.timeout)?;
    let encoding = Encoding::of(request.headers())?;
    let mut reader = BodyReader::new(
        request.into_body(),
        encoding,
        Some(app.limits.client_timeout),
    );
    let transaction_id = options.transaction_id.clone();
    let mut loading = Loading {
        app,
        load: Load::new(&app.cluster, options.transaction_id, options.timeout),
        defaults: options.defaults,
        lines: Lines::new(app.limits.body_bytes),
        batch: Vec::new(),
        batch_lines: Vec::new(),
        batch_bytes: 0,
        batch_limit: BATCH_BYTES.min(app.limits.body_bytes),
        read: 0,
        last_topic: None,
    };
    let stopped = loading.run(&mut reader).await.err();
    app.metrics
        .request_body(Route::PostRecords, reader.wire_bytes() as usize);
    let load = loading.load;
    let loaded = match &stopped {
        None => load.finish().await,
        Some(stop) => load.stop(stop.cause.clone()).await,
    };
    if transaction_id.is_some() {
        // Counted once committed (none when it was not).
        app.metrics.records_produced(loaded.records);
    }
    app.metrics.records_errors(loaded.error.as_ref());
    let written = loaded.records;
    Ok(with_records(
        answer(&loaded, stopped.as_ref(), transaction_id.as_deref()),
        written,
    ))
}

/// Where and why a load stopped before its body's end.
struct Stop {
    status: StatusCode,
    /// What went wrong, naming the line.
    message: String,
    /// The line at fault, if one was.
    line: Option<u64>,
    /// How many records of the load came before it.
    before: usize,
    /// What the load is told (an aborted transaction says it was the cause).
    cause: RecordsError,
}

/// A load being read and written.
struct Loading<'a> {
    app: &'a App,
    load: Load<'a>,
    defaults: LineDefaults,
    lines: Lines,
    /// The records read and not yet written, and their line numbers.
    batch: Vec<PostRecord>,
    batch_lines: Vec<u64>,
    /// The bytes of the batch's lines.
    batch_bytes: usize,
    /// A batch is written once its lines hold this many bytes.
    batch_limit: usize,
    /// Records read so far, the batch's included.
    read: usize,
    /// The topic of the last record read, shared by the records that follow
    /// with the same topic (the write looks each topic up once per run of
    /// records sharing it).
    last_topic: Option<Arc<str>>,
}

impl Loading<'_> {
    /// Steps 2 to 4, until the body ends or the load stops.
    async fn run<B>(&mut self, reader: &mut BodyReader<B>) -> Result<(), Stop>
    where
        B: hyper::body::Body,
        B::Error: Into<BoxError>,
    {
        loop {
            loop {
                match self.lines.next_line() {
                    Ok(Some((number, line))) => self.take(number, &line).await?,
                    Ok(None) => break,
                    Err(too_long) => return Err(self.line_too_long(too_long).await),
                }
            }
            match reader.next(!self.batch.is_empty()).await {
                Ok(Piece::Data(piece)) => self.lines.push(piece),
                Ok(Piece::Pause) => self.flush().await?,
                Ok(Piece::End) => {
                    match self.lines.last_line() {
                        Ok(Some((number, line))) => self.take(number, &line).await?,
                        Ok(None) => {}
                        Err(too_long) => return Err(self.line_too_long(too_long).await),
                    }
                    return self.flush().await;
                }
                Err(e) => return Err(self.unreadable(&e).await),
            }
        }
    }

    /// Step 3 for one line: its record joins the batch, written once full.
    async fn take(&mut self, number: u64, line: &[u8]) -> Result<(), Stop> {
        if is_blank(line) {
            return Ok(());
        }
        let mut record = match parse_line(number, line, &self.defaults) {
            Ok(record) => record,
            Err(e) => {
                let message = e.to_string();
                return Err(self
                    .stop_before(StatusCode::BAD_REQUEST, message, Some(number))
                    .await);
            }
        };
        let encoded = post::encode_schemas(
            self.app.registry.as_ref(),
            std::slice::from_mut(&mut record),
            |_| format!("line {number}: "),
        )
        .await;
        if let Err(e) = encoded {
            let message = e.to_string();
            return Err(self.stop_before(status_of(&e), message, Some(number)).await);
        }
        match &self.last_topic {
            Some(last) if **last == *record.topic => record.topic = Arc::clone(last),
            _ => self.last_topic = Some(Arc::clone(&record.topic)),
        }
        self.batch.push(record);
        self.batch_lines.push(number);
        self.batch_bytes += line.len();
        self.read += 1;
        if self.batch.len() >= self.app.limits.records_per_request
            || self.batch_bytes >= self.batch_limit
        {
            self.flush().await?;
        }
        Ok(())
    }

    /// Step 4: writes the batch.
    async fn flush(&mut self) -> Result<(), Stop> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let lines = std::mem::take(&mut self.batch_lines);
        self.batch_bytes = 0;
        let before = self.read - batch.len();
        let written = self.load.written();
        let result = self.load.write(batch).await;
        if !self.load.is_transactional() {
            // Counted as they are written: they stay written whatever follows.
            self.app
                .metrics
                .records_produced(self.load.written() - written);
        }
        let Err(failure) = result else {
            return Ok(());
        };
        let line = lines.get(failure.index).copied();
        let at = line.map_or_else(String::new, |n| format!("line {n}: "));
        let message = format!(
            "{at}{}",
            record_message(&failure.error, self.load.is_transactional())
        );
        Err(Stop {
            status: status_of(&failure.error),
            message,
            line,
            before: before + failure.index,
            cause: failure.error,
        })
    }

    /// The load stops at line `line` (or where the body failed), with
    /// everything read before it written first unless the load is a
    /// transaction (it is aborted anyway).
    async fn stop_before(
        &mut self,
        status: StatusCode,
        message: String,
        line: Option<u64>,
    ) -> Stop {
        if !self.load.is_transactional() {
            if let Err(earlier) = self.flush().await {
                return earlier;
            }
        }
        Stop {
            status,
            cause: RecordsError::Invalid(message.clone()),
            message,
            line,
            before: self.read,
        }
    }

    async fn line_too_long(&mut self, LineTooLong(number): LineTooLong) -> Stop {
        let limit = self.app.limits.body_bytes;
        let message = format!(
            "line {number}: longer than {limit} bytes (--max-body-bytes, the limit of one line of an NDJSON body)"
        );
        self.stop_before(StatusCode::PAYLOAD_TOO_LARGE, message, Some(number))
            .await
    }

    async fn unreadable(&mut self, e: &ReadError) -> Stop {
        let (status, message) = e.status_and_message();
        self.stop_before(status, message, None).await
    }
}

/// Step 6: what was written, and why the load stopped if it did.
fn answer(loaded: &Loaded, stop: Option<&Stop>, transaction_id: Option<&str>) -> HttpResponse {
    let (status, message) = match (stop, &loaded.error) {
        (None, None) => (StatusCode::OK, None),
        (None, Some(e)) => (status_of(e), Some(not_committed(loaded, e))),
        (Some(stop), _) => (
            stop.status,
            Some(format!(
                "{}; the load stopped there: {}",
                stop.message,
                what_was_written(loaded, stop, transaction_id)
            )),
        ),
    };
    json_response(
        status,
        &LoadBody {
            code: message.as_ref().map(|_| status.as_u16()),
            message,
            records: loaded.records,
            partitions: loaded.partitions.iter().map(RangeOut::of).collect(),
        },
    )
}

/// The message of a load whose every line was written but whose
/// transaction did not commit, or whose records were not yet visible.
fn not_committed(loaded: &Loaded, e: &RecordsError) -> String {
    let n = loaded.uncommitted;
    match e {
        RecordsError::Transaction {
            outcome: TxnOutcome::Unknown,
            ..
        } => format!("outcome unknown: all {n} records became visible, or none did: {e}"),
        RecordsError::Transaction { .. } => {
            format!("none of the {n} records became visible: {e}")
        }
        _ => e.to_string(),
    }
}

/// What became of the records of a load that stopped: what is written and
/// what to send again.
fn what_was_written(loaded: &Loaded, stop: &Stop, transaction_id: Option<&str>) -> String {
    let before = stop.before;
    if let Some(id) = transaction_id {
        let outcome = match &loaded.error {
            Some(RecordsError::Transaction { outcome, .. }) => *outcome,
            _ => TxnOutcome::NotCommitted,
        };
        let again = "send the whole load again once it is fixed";
        return match outcome {
            TxnOutcome::NothingWritten => {
                format!("nothing was written (transaction '{id}' had not begun); {again}")
            }
            TxnOutcome::Aborted => format!(
                "transaction '{id}' was aborted: none of its records is visible ({} had been written in it); {again}",
                loaded.uncommitted
            ),
            TxnOutcome::NotCommitted | TxnOutcome::Unknown => format!(
                "transaction '{id}' was not committed: none of its records is visible ({} had been written in it; its abort was not confirmed, so the coordinator aborts it when its timeout passes); {again}",
                loaded.uncommitted
            ),
        };
    }
    let written = loaded.records;
    let from = stop
        .line
        .map_or_else(|| "the rest".to_string(), |n| format!("line {n} on"));
    let resend = stop.line.map_or_else(String::new, |n| {
        format!("; send the load again from line {n} once it is fixed")
    });
    if written == 0 {
        return format!("nothing was written{resend}");
    }
    if written <= before {
        let those = if written == 1 {
            "the record before it was".to_string()
        } else {
            format!("the {written} records before it were")
        };
        return format!("{those} written (partitions says where), nothing from {from}{resend}");
    }
    format!(
        "{written} records were written (partitions says where): the {before} before it, and {} after it in other partitions of the batch being written; the others from {from} were not",
        written - before
    )
}

/// The answer of an NDJSON POST; `code` and `message` when it failed.
#[derive(Serialize)]
struct LoadBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    records: usize,
    partitions: Vec<RangeOut<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RangeOut<'a> {
    topic: &'a str,
    partition: i32,
    first_offset: i64,
    last_offset: i64,
}

impl<'a> RangeOut<'a> {
    fn of(r: &'a PartitionRange) -> RangeOut<'a> {
        RangeOut {
            topic: &r.topic,
            partition: r.partition,
            first_offset: r.first_offset,
            last_offset: r.last_offset,
        }
    }
}
