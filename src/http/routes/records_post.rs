//! `POST /records`: body → [`post::run`] → each record's result as JSON.
//! An NDJSON body is a load of its own ([`super::records_post_ndjson`]).

use std::sync::Arc;

use hyper::{Request, StatusCode};
use serde::Serialize;

use super::{with_records, HttpResponse};
use crate::http::body::ndjson::{is_ndjson, NDJSON};
use crate::http::body::{read_decoded_body, read_post_body};
use crate::http::error::{status_of, ApiError, ErrorBody};
use crate::http::query::{Query, NDJSON_POST_PARAMS};
use crate::http::response::{empty_response, json_bytes_response, json_response, Permit};
use crate::http::router::App;
use crate::http::BoxError;
use crate::kafka::{KafkaError, WriteFate};
use crate::metrics::Route;
use crate::records::post::{self, RecordResult};
use crate::records::{RecordsError, TxnOutcome};

/// POST /records: reads the body (at most `--max-body-bytes`), writes its
/// records, and answers each record's result.
pub(crate) async fn post_records<B>(
    app: &App,
    request: Request<B>,
) -> Result<HttpResponse, ApiError>
where
    B: hyper::body::Body,
    B::Error: Into<BoxError>,
{
    if is_ndjson(request.headers()) {
        return super::records_post_ndjson::post_ndjson(app, request).await;
    }
    Query::parse(request.uri().query(), &[]).map_err(|mut e| {
        e.message.push_str(&format!(
            " with a JSON body (give transactionId, async and timeout as fields of the body); with Content-Type: {NDJSON} it takes {}",
            NDJSON_POST_PARAMS.join(", ")
        ));
        e
    })?;
    let permit = request.extensions().get::<Permit>().cloned();
    let (body, wire_bytes) = read_decoded_body(&app.limits, request).await?;
    app.metrics
        .request_body(Route::PostRecords, wire_bytes as usize);
    // Parsed as JSON whatever the Content-Type says: `curl -d` sends a form type.
    let mut request = read_post_body(&body)?;
    post::encode_schemas(app.registry.as_ref(), &mut request.records, |i| {
        format!("records[{i}].")
    })
    .await?;
    let records = request.records.len();
    if records > app.limits.records_per_request {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "records: {records} records are more than the {} one request may write (--max-records-per-request); nothing was written: send them in several requests",
                app.limits.records_per_request
            ),
        ));
    }
    app.limits.check_timeout(request.timeout)?;
    check_write_timeout(request.timeout)?;
    if request.asynchronous {
        // What is already known to fail is refused now, not accepted and dropped.
        let prepared = post::prepare(&app.cluster, request).await;
        if let Some((index, e)) = prepared.known_failure() {
            app.metrics.records_errors([e]);
            return Err(ApiError::new(
                status_of(e),
                format!(
                    "records[{index}]: {e}; nothing was written (an async write is refused whole when a record is known to fail before it is accepted)"
                ),
            ));
        }
        let accepted = prepared.len();
        let cluster = app.cluster.clone();
        let metrics = Arc::clone(&app.metrics);
        app.background.spawn(async move {
            // The write holds its share of the limits until it ends.
            let _permit = permit;
            let posted = post::write(&cluster, prepared).await;
            let results = posted.results;
            let failed = results.iter().filter(|r| r.error().is_some()).count();
            metrics.records_produced(results.len() - failed);
            metrics.async_records_failed(failed);
            metrics.records_errors(results.iter().filter_map(RecordResult::error));
            log_failures(&results);
            if failed > 0 {
                tracing::warn!(failed, total = results.len(), "async write failed");
            }
            if let Some(notice) = posted.notice {
                tracing::warn!(error = %notice, "async transaction not yet visible");
            }
        });
        return Ok(with_records(empty_response(StatusCode::ACCEPTED), accepted));
    }
    let transactional = request.transaction_id.is_some();
    let posted = post::run(&app.cluster, request).await;
    let results = &posted.results;
    let errors = || results.iter().filter_map(RecordResult::error);
    let written = results.len() - errors().count();
    app.metrics.records_produced(written);
    app.metrics
        .records_errors(errors().chain(posted.notice.as_ref()));
    log_failures(results);
    Ok(with_records(post_response(&posted, transactional), written))
}

/// A write's `timeout` must leave time for a produce to be answered: a
/// shorter one could only end in a 504 after the records may have been
/// written, so it is refused before anything is sent.
pub(super) fn check_write_timeout(timeout: std::time::Duration) -> Result<(), ApiError> {
    if timeout < post::MIN_TIMEOUT {
        return Err(ApiError::bad_request(format!(
            "timeout: {} is shorter than a write can take; use at least {} (nothing was written)",
            humantime::format_duration(timeout),
            humantime::format_duration(post::MIN_TIMEOUT)
        )));
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[serde(untagged)]
enum ResultOut<'a> {
    Written {
        topic: &'a str,
        partition: i32,
        offset: i64,
        timestamp: i64,
        #[serde(rename = "serializedKeySize")]
        serialized_key_size: i64,
        #[serde(rename = "serializedValueSize")]
        serialized_value_size: i64,
    },
    Failed {
        topic: &'a str,
        partition: Option<i32>,
        error: ErrorBody<'a>,
    },
}

impl<'a> ResultOut<'a> {
    /// The entry of a written record; `None` for a failed one.
    fn written(r: &'a RecordResult) -> Option<ResultOut<'a>> {
        match r {
            RecordResult::Written {
                topic,
                partition,
                offset,
                timestamp,
                serialized_key_size,
                serialized_value_size,
            } => Some(ResultOut::Written {
                topic,
                partition: *partition,
                offset: *offset,
                timestamp: *timestamp,
                serialized_key_size: *serialized_key_size,
                serialized_value_size: *serialized_value_size,
            }),
            RecordResult::Failed { .. } => None,
        }
    }
}

#[derive(Serialize)]
struct PostBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    results: Vec<ResultOut<'a>>,
}

/// Logs each failed write once per topic and partition, with its cause.
fn log_failures(results: &[RecordResult]) {
    let mut seen = std::collections::HashSet::new();
    for r in results {
        if let RecordResult::Failed {
            topic,
            partition,
            error,
        } = r
        {
            if seen.insert((&**topic, *partition)) {
                tracing::warn!(topic = %topic, partition = partition.unwrap_or(-1), status = status_of(error).as_u16(), error = %error, "records not written");
            }
        }
    }
}

/// The body of a POST whose records were all written, written directly: the
/// same bytes serde would write for [`PostBody`], at a fraction of the cost
/// (each topic's JSON string is written once, numbers with `itoa`).
fn written_body(results: &[RecordResult]) -> Option<Vec<u8>> {
    // Sized for the usual entry, so the body is not copied as it grows: 110
    // bytes of names and numbers besides the topic.
    let topic_len = results.first().map_or(0, |r| r.topic().len());
    let mut out = Vec::with_capacity(16 + results.len() * (140 + topic_len));
    out.extend_from_slice(b"{\"results\":[");
    let mut numbers = itoa::Buffer::new();
    // The last topic's name as a JSON string, reused while records share it.
    let mut topic_json: (Option<&str>, Vec<u8>) = (None, Vec::new());
    for (i, r) in results.iter().enumerate() {
        let RecordResult::Written {
            topic,
            partition,
            offset,
            timestamp,
            serialized_key_size,
            serialized_value_size,
        } = r
        else {
            return None;
        };
        if topic_json.0 != Some(topic.as_ref()) {
            topic_json.1.clear();
            serde_json::to_writer(&mut topic_json.1, topic.as_ref() as &str).ok()?;
            topic_json.0 = Some(topic.as_ref());
        }
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"topic\":");
        out.extend_from_slice(&topic_json.1);
        for (name, n) in [
            (&b",\"partition\":"[..], i64::from(*partition)),
            (b",\"offset\":", *offset),
            (b",\"timestamp\":", *timestamp),
            (b",\"serializedKeySize\":", *serialized_key_size),
            (b",\"serializedValueSize\":", *serialized_value_size),
        ] {
            out.extend_from_slice(name);
            out.extend_from_slice(numbers.format(n).as_bytes());
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    Some(out)
}

fn post_response(posted: &post::Posted, transactional: bool) -> HttpResponse {
    let results = &posted.results[..];
    if let Some(notice) = &posted.notice {
        // Every record was written: only their visibility is not confirmed.
        let status = status_of(notice);
        return json_response(
            status,
            &PostBody {
                code: Some(status.as_u16()),
                message: Some(notice.to_string()),
                results: results.iter().filter_map(ResultOut::written).collect(),
            },
        );
    }
    if let Some(body) = written_body(results) {
        return json_bytes_response(StatusCode::OK, body);
    }
    let errors: Vec<ApiError> = results
        .iter()
        .map(|r| {
            r.error()
                .map(|e| ApiError::new(status_of(e), record_message(e, transactional)))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .flatten()
        .collect();
    let mut error_iter = errors.iter();
    let out: Vec<ResultOut<'_>> = results
        .iter()
        .map(|r| {
            ResultOut::written(r).unwrap_or_else(|| ResultOut::Failed {
                topic: r.topic(),
                partition: r.partition(),
                error: error_iter.next().map_or(
                    ErrorBody {
                        code: 500,
                        message: "unknown",
                    },
                    ApiError::body,
                ),
            })
        })
        .collect();
    let Some(first) = errors.first() else {
        return json_response(
            StatusCode::OK,
            &PostBody {
                code: None,
                message: None,
                results: out,
            },
        );
    };
    let transaction = results
        .iter()
        .find_map(RecordResult::error)
        .and_then(|e| match e {
            RecordsError::Transaction { outcome, .. } => Some((*outcome, e.to_string())),
            _ => None,
        });
    let message = if let Some((outcome, e)) = transaction {
        // A transaction is all or nothing: say which, or that it is not known.
        let n = results.len();
        match outcome {
            TxnOutcome::Unknown => {
                format!("outcome unknown: all {n} records became visible, or none did: {e}")
            }
            TxnOutcome::NothingWritten => format!("none of the {n} records was written: {e}"),
            TxnOutcome::Aborted | TxnOutcome::NotCommitted => {
                format!("none of the {n} records became visible: {e}")
            }
        }
    } else if first.status == StatusCode::GATEWAY_TIMEOUT {
        timeout_message(results, transactional)
    } else {
        format!(
            "{} of {} records failed; see each record's error (first: {})",
            errors.len(),
            results.len(),
            first.message
        )
    };
    json_response(
        first.status,
        &PostBody {
            code: Some(first.status.as_u16()),
            message: Some(message),
            results: out,
        },
    )
}

/// A failed record's message: its error, and whether its records were
/// written. A plain write says "not sent" when nothing left the service,
/// "not written" when the broker refused it, and "may or may not have been
/// written" only when the request may have reached the broker; a
/// transaction's error already says how it ended.
pub(super) fn record_message(e: &RecordsError, transactional: bool) -> String {
    let RecordsError::Kafka(k) = e else {
        return e.to_string();
    };
    if transactional {
        return e.to_string();
    }
    match k.write_fate() {
        WriteFate::NotSent => format!("{e}; not sent: these records were not written"),
        WriteFate::NotWritten => format!("{e}; these records were not written"),
        WriteFate::Unknown if matches!(k, KafkaError::MaybeWritten(_)) => e.to_string(),
        WriteFate::Unknown => format!("{e}; these records may or may not have been written"),
    }
}

/// The message of a POST whose time ran out: which records are written,
/// and whether the others may be.
fn timeout_message(results: &[RecordResult], transactional: bool) -> String {
    let failed: Vec<&RecordsError> = results.iter().filter_map(RecordResult::error).collect();
    let written = results.len() - failed.len();
    let unknown = failed
        .iter()
        .filter(|e| match e {
            RecordsError::Kafka(k) => transactional || k.write_fate() == WriteFate::Unknown,
            _ => false,
        })
        .count();
    let others = if unknown == 0 {
        "the others were not written".to_string()
    } else if unknown == failed.len() {
        "the others may or may not have been written".to_string()
    } else {
        format!(
            "{unknown} of the others may or may not have been written, the rest were not written (see each record's error)"
        )
    };
    format!(
        "the timeout passed: {written} of {} records are confirmed written (those with an offset); {others}",
        results.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_body_is_what_serde_writes() {
        let written = |topic: &str, partition, offset| RecordResult::Written {
            topic: topic.into(),
            partition,
            offset,
            timestamp: 1_700_000_000_000,
            serialized_key_size: -1,
            serialized_value_size: 12,
        };
        let results = vec![
            written("orders", 0, 0),
            written("orders", 1, i64::MAX),
            written("we\"ird\\topic", 2, 7),
            written("orders", 0, 1),
        ];
        let by_serde = serde_json::to_vec(&PostBody {
            code: None,
            message: None,
            results: results
                .iter()
                .map(|r| ResultOut::written(r).unwrap())
                .collect(),
        })
        .unwrap();
        assert_eq!(
            String::from_utf8(written_body(&results).unwrap()).unwrap(),
            String::from_utf8(by_serde).unwrap()
        );
        let failed = RecordResult::Failed {
            topic: "orders".into(),
            partition: None,
            error: Arc::new(RecordsError::Invalid("x".into())),
        };
        assert!(written_body(&[written("orders", 0, 0), failed]).is_none());
    }
}
