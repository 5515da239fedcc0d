//! `GET /records/{topic}`: query → [`get::run`] → the page as JSON, then the
//! group commit of exactly what the page holds, once it is written; or, for
//! NDJSON and Server-Sent Events, a stream ([`records_stream`]).

use std::sync::Arc;

use hyper::header::HeaderMap;
use hyper::{Response, StatusCode};
use serde::Serialize;

use super::records_stream;
use super::{with_records, HttpResponse};
use crate::http::error::ApiError;
use crate::http::query::{self, GetHeaders};
use crate::http::response::{json_bytes_response, Body};
use crate::http::router::App;
use crate::records::get::{self, GroupCommit, Page};
use crate::records::view::View;
use crate::records::{RecordsError, Unavailable};

/// GET /records/{topic}.
pub(crate) async fn get_records(
    app: &App,
    topic: String,
    raw_query: Option<&str>,
    headers: &HeaderMap,
) -> Result<HttpResponse, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let found = GetHeaders {
        accept: header("accept"),
        last_event_id: header("last-event-id").filter(|id| !id.is_empty()),
    };
    let (mut request, output) = query::get_request(topic, raw_query, &app.limits, found)?;
    request.registry = app.registry.clone();
    if output.is_stream() {
        return records_stream::stream_records(app, request, output).await;
    }
    let mut page = get::run(&app.cluster, &app.group_turns, &request)
        .await
        .inspect_err(|e| app.metrics.records_error(e))?;
    let rendered = render(&page, app.limits.response_bytes)?;
    for u in &page.unavailable {
        app.metrics.kafka_error(&u.error);
    }
    // The group's turn lasts until its commit is done, or the body is dropped.
    let turn = page.turn.take();
    drop(page);
    app.metrics.records_fetched(rendered.count);
    let response = with_records(
        json_bytes_response(StatusCode::OK, rendered.body),
        rendered.count,
    );
    let Some(commit) = rendered.commit else {
        return Ok(response);
    };
    // Commit only once the records are written to the client.
    let cluster = app.cluster.clone();
    let metrics = Arc::clone(&app.metrics);
    let (parts, body) = response.into_parts();
    let after = Box::pin(async move {
        let _turn = turn;
        get::commit(&cluster, &commit).await.map_err(|e| {
            metrics.records_error(&e);
            tracing::warn!(group = %commit.group, topic = %commit.topic, error = %e, "commit after response failed");
            e.to_string()
        })
    });
    Ok(Response::from_parts(
        parts,
        Body::with_after_write(body.into_bytes(), after),
    ))
}

/// A page as its JSON response body.
#[derive(Debug)]
struct Rendered {
    /// `{"records":[...],"next":"..."}`, records ordered by partition, then offset.
    body: Vec<u8>,
    /// How many records the body holds.
    count: usize,
    /// What to commit once the body is out: exactly what it holds.
    commit: Option<GroupCommit>,
}

const HEAD: &[u8] = b"{\"records\":[";
/// What follows the records at most, besides the cursor and unavailable
/// partitions: `],"next":""}`.
const TAIL_BYTES: usize = 12;

/// A record's place in the page and the span of its JSON in the buffer.
struct Written {
    partition: i32,
    offset: i64,
    span: std::ops::Range<usize>,
}

/// Writes the page as JSON, taking records in the order they were selected
/// until the next would take the body past `max_bytes` (the first record is
/// kept whatever its size, so a big record cannot stall a reader). What is
/// left out is left for the next page: the group commit and the `next`
/// cursor cover exactly the records written.
///
/// A record that does not decode as asked fails the page (422), so nothing
/// is skipped silently.
fn render(page: &Page, max_bytes: usize) -> Result<Rendered, RecordsError> {
    let view = View {
        topic: &page.topic,
        key: page.key,
        value: page.value,
        schemas: &page.schemas,
    };
    let budget = max_bytes.saturating_sub(HEAD.len() + TAIL_BYTES);
    let mut buf = Vec::with_capacity(HEAD.len() + TAIL_BYTES + 256 * page.records.len());
    buf.extend_from_slice(HEAD);
    let mut written: Vec<Written> = Vec::with_capacity(page.records.len());
    for (partition, r) in &page.records {
        let mark = buf.len();
        if !written.is_empty() {
            buf.push(b',');
        }
        let start = buf.len();
        view.write(&mut buf, *partition, r)?;
        if !written.is_empty() && buf.len() - HEAD.len() > budget {
            buf.truncate(mark);
            break;
        }
        written.push(Written {
            partition: *partition,
            offset: r.offset,
            span: start..buf.len(),
        });
        if written.len() == 1 {
            // Room for the page at the first record's size and an eighth
            // more (within the limit), instead of growing the buffer by
            // doubling, which copies it each time: decoded records can be
            // several times the 256 bytes guessed above.
            let each = buf.len() - HEAD.len() + 1;
            let page_bytes = each.saturating_mul(page.records.len()).saturating_mul(9) / 8;
            let want = page_bytes.min(budget) + HEAD.len() + TAIL_BYTES;
            buf.reserve(want.saturating_sub(buf.len()));
        }
    }
    let positions: Vec<(i32, i64)> = written.iter().map(|w| (w.partition, w.offset)).collect();
    let mut body = in_partition_order(buf, written);
    body.push(b']');
    if let Some(cursor) = page.next_cursor(&positions) {
        body.extend_from_slice(b",\"next\":\"");
        body.extend_from_slice(cursor.encode(&page.topic).as_bytes());
        body.push(b'"');
    }
    if !page.unavailable.is_empty() {
        body.extend_from_slice(b",\"unavailablePartitions\":");
        body.extend_from_slice(&unavailable_json(&page.unavailable));
    }
    body.push(b'}');
    Ok(Rendered {
        count: positions.len(),
        commit: page.commit_for(&positions),
        body,
    })
}

/// The records of the body ordered by partition, then offset (they were
/// written in the order fair selection took them), without the closing `]`.
fn in_partition_order(buf: Vec<u8>, mut written: Vec<Written>) -> Vec<u8> {
    let in_order = written
        .windows(2)
        .all(|w| (w[0].partition, w[0].offset) < (w[1].partition, w[1].offset));
    if in_order {
        return buf;
    }
    written.sort_unstable_by_key(|w| (w.partition, w.offset));
    let mut body = Vec::with_capacity(buf.len() + TAIL_BYTES);
    body.extend_from_slice(HEAD);
    for (i, w) in written.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&buf[w.span.clone()]);
    }
    body
}

/// One partition a read of every partition left out.
#[derive(Debug, Serialize)]
struct UnavailableOut {
    partition: i32,
    reason: String,
}

/// `[{"partition", "reason"}, ...]`.
fn unavailable_json(unavailable: &[Unavailable]) -> Vec<u8> {
    let out: Vec<UnavailableOut> = unavailable
        .iter()
        .map(|u| UnavailableOut {
            partition: u.partition,
            reason: u.reason(),
        })
        .collect();
    // Serializing plain strings and numbers cannot fail.
    serde_json::to_vec(&out).unwrap_or_else(|_| b"[]".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Format;
    use crate::kafka::FetchedRecord;
    use crate::records::cursor::Cursor;

    /// A page that started partitions 0, 1 and 2 at 5, 0 and 10 and read
    /// `records` (each partition's position past its last one).
    fn page(records: Vec<(i32, FetchedRecord)>, group: Option<&str>) -> Page {
        let resume = [(0, 5), (1, 0), (2, 10)]
            .into_iter()
            .map(|(p, start)| {
                let past = records
                    .iter()
                    .filter(|(q, _)| *q == p)
                    .map(|(_, r)| r.offset + 1)
                    .max();
                (p, past.unwrap_or(start))
            })
            .collect();
        Page {
            topic: "t".into(),
            key: Format::String,
            value: Format::String,
            resume,
            carried: Vec::new(),
            every_partition: true,
            resumable: true,
            records,
            group: group.map(str::to_string),
            turn: None,
            unavailable: Vec::new(),
            schemas: Default::default(),
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
    fn unavailable_partitions_follow_the_records_and_the_cursor_keeps_them() {
        let mut p = page(vec![(0, record(5, "b"))], None);
        p.resume.retain(|(q, _)| *q != 2);
        p.carried = vec![(2, 40)];
        p.unavailable = vec![Unavailable {
            partition: 2,
            error: crate::kafka::KafkaError::PartitionUnavailable {
                topic: "t".into(),
                partition: 2,
                reason: "it has no leader".into(),
            },
        }];
        let body = render(&p, usize::MAX).unwrap().body;
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["records"].as_array().unwrap().len(), 1);
        let next = Cursor::decode(json["next"].as_str().unwrap(), "t").unwrap();
        assert_eq!(next.positions, vec![(0, 6), (1, 0), (2, 40)]);
        assert_eq!(
            json["unavailablePartitions"],
            serde_json::json!([{"partition": 2, "reason": "it has no leader"}])
        );
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
        let rendered = render(&p, usize::MAX).unwrap();
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
        let whole = render(&page(records.clone(), Some("g")), usize::MAX).unwrap();
        // Room for two records but not three.
        let bound = whole.body.len() / 2 + 100;
        let rendered = render(&page(records.clone(), Some("g")), bound).unwrap();
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
        let tiny = render(&page(records, Some("g")), 10).unwrap();
        assert_eq!(tiny.count, 1);
        assert_eq!(tiny.commit.unwrap().offsets, vec![(0, 5), (1, 0), (2, 11)]);
    }
}
