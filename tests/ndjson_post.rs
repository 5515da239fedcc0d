//! POST /records with an NDJSON body (`Content-Type: application/x-ndjson`)
//! and gzip bodies (`Content-Encoding: gzip`), against the real broker and
//! checked with kcat: loads of thousands of lines in several batches, a dump
//! made with GET loaded into another topic, invalid lines and failed writes
//! that stop a load (a transactional one aborted whole), gzip bombs, long
//! lines, and bodies that arrive slowly.

mod common;

use std::io::Write as _;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::*;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NDJSON: &str = "application/x-ndjson";

/// POST /records`query` with `body` sent as NDJSON (and `headers`); the
/// status and JSON answer.
async fn load(
    svc: &Client,
    query: &str,
    body: impl Into<reqwest::Body>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = svc
        .request(Method::POST, &format!("/records{query}"))
        .header("content-type", NDJSON)
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let r = request.send().await.expect("POST /records");
    let status = r.status().as_u16();
    let text = r.text().await.expect("answer");
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, json)
}

/// One NDJSON line per record.
fn ndjson(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn text(bytes: &Option<Vec<u8>>) -> Option<String> {
    bytes
        .as_ref()
        .map(|b| String::from_utf8(b.clone()).expect("UTF-8"))
}

/// The value of the metric line that starts with `name` (labels included).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().expect("a number"))
}

const PRODUCED: &str = "kafka_records_records_produced_total";
const BYTES_IN: &str = "kafka_records_http_request_body_bytes_total{route=\"POST /records\"}";

#[tokio::test]
async fn a_load_of_thousands_of_lines_is_written_in_batches_exactly_as_sent() {
    // At most 250 records a batch: the load is written in twelve or more.
    let svc = Service::start_with(&["--max-records-per-request", "250"], &[]);
    let topic = new_topic_kept("ndjson-load", 3).await;
    let n = 3000;
    let base = 1_700_000_000_000i64;
    let mut body = String::new();
    for i in 0..n {
        let key = if i % 7 == 0 {
            Value::Null
        } else {
            json!(format!("k{i}"))
        };
        let line = json!({"topic": topic, "partition": i % 3, "key": key, "value": format!("v{i}"),
            "timestamp": base + i, "headers": [{"key": "n", "value": STANDARD.encode(i.to_string())}]});
        body.push_str(&format!("{line}\n"));
        if i % 500 == 0 {
            body.push_str("\n  \n");
        }
    }
    let before = svc.metrics().await;
    let (status, answer) = load(&svc, "", body.clone(), &[]).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"records": n, "partitions": [
            {"topic": topic, "partition": 0, "firstOffset": 0, "lastOffset": n / 3 - 1},
            {"topic": topic, "partition": 1, "firstOffset": 0, "lastOffset": n / 3 - 1},
            {"topic": topic, "partition": 2, "firstOffset": 0, "lastOffset": n / 3 - 1}]})
    );

    let got = kcat_read(&topic);
    assert_eq!(got.len(), n as usize);
    for r in &got {
        // Partition p holds lines p, p + 3, ... in order.
        let i = r.offset * 3 + i64::from(r.partition);
        let expected_key = (i % 7 != 0).then(|| format!("k{i}"));
        assert_eq!(text(&r.key), expected_key, "record {i}");
        assert_eq!(text(&r.value), Some(format!("v{i}")), "record {i}");
        assert_eq!(r.timestamp, base + i, "record {i}");
        assert_eq!(r.headers, format!("n={i}"), "record {i}");
    }

    let after = svc.metrics().await;
    assert_eq!(
        metric(&after, PRODUCED) - metric(&before, PRODUCED),
        n as f64
    );
    assert_eq!(
        metric(&after, BYTES_IN) - metric(&before, BYTES_IN),
        body.len() as f64
    );
}

/// Every record of `topic` as GET shows it with the bytearray
/// deserializers, read page by page from each of its `partitions`.
async fn dump(svc: &Client, topic: &str, partitions: i32) -> Vec<Value> {
    let mut out = Vec::new();
    for p in 0..partitions {
        let mut next = 0;
        loop {
            let path = format!(
                "/records/{topic}?partition={p}&seekTo={next}&limit=40&timeout=1s&keyDeserializer=bytearray&valueDeserializer=bytearray"
            );
            let page = read(svc, &path).await;
            let Some(last) = page.last() else { break };
            next = last["offset"].as_i64().unwrap() + 1;
            out.extend(page);
        }
    }
    out
}

#[tokio::test]
async fn a_dump_made_with_get_loads_into_another_topic_with_the_same_records() {
    let svc = Service::start();
    let source = new_topic_kept("ndjson-dump", 3).await;
    let copy = new_topic_kept("ndjson-copy", 3).await;
    let t = 1_600_000_000_000i64;
    let mut records = vec![
        json!({"topic": source, "partition": 0, "key": "k0", "value": "v0", "timestamp": t,
            "headers": [{"key": "a", "value": "MQ=="}, {"key": "a", "value": "Mg=="},
                        {"key": "n", "value": null}, {"key": "e", "value": ""}]}),
        json!({"topic": source, "partition": 0, "key": null, "value": "only a value", "timestamp": t + 1}),
        json!({"topic": source, "partition": 1, "key": "gone", "value": null, "timestamp": t + 2}),
        json!({"topic": source, "partition": 1, "key": null, "value": null, "timestamp": t + 3,
            "headers": [{"key": "h", "value": null}, {"key": "h", "value": null}]}),
        json!({"topic": source, "partition": 2, "keySerializer": "bytearray", "key": "AP8=",
            "valueSerializer": "bytearray", "value": "gICA", "timestamp": t + 4,
            "headers": [{"key": "bin", "value": "/wA="}]}),
        json!({"topic": source, "partition": 2, "key": "", "value": "", "timestamp": 0}),
    ];
    // Enough to take several pages of the dump.
    records.extend((0..150).map(|i| {
        json!({"topic": source, "partition": i % 3, "key": format!("many{i}"),
            "value": {"i": i}, "valueSerializer": "json", "timestamp": t + 10 + i})
    }));
    let total = records.len();
    post_ok(&svc, records).await;

    // The dump: GET's records, one a line, as they are.
    let dumped = dump(&svc, &source, 3).await;
    assert_eq!(dumped.len(), total);
    assert!(dumped[0]["leaderEpoch"].is_i64() && dumped[0]["offset"] == 0);
    let (status, answer) = load(
        &svc,
        &format!("?topic={copy}&keySerializer=bytearray&valueSerializer=bytearray"),
        ndjson(&dumped),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["records"], total);
    for (p, entry) in answer["partitions"].as_array().unwrap().iter().enumerate() {
        let in_partition = dumped.iter().filter(|r| r["partition"] == p).count() as i64;
        assert_eq!(
            *entry,
            json!({"topic": copy, "partition": p, "firstOffset": 0, "lastOffset": in_partition - 1})
        );
    }

    // Field by field, as kcat reads them.
    let original = kcat_read(&source);
    let copied = kcat_read(&copy);
    assert_eq!(copied.len(), total);
    assert_eq!(copied, original);
    assert!(original
        .iter()
        .any(|r| r.key.is_none() && r.value.is_none()));
    assert!(original
        .iter()
        .any(|r| r.key.as_deref() == Some(&[0x00, 0xff][..])));
    // And as GET shows them, headers' nulls and duplicates included.
    let again: Vec<Value> = dump(&svc, &copy, 3)
        .await
        .into_iter()
        .map(|mut r| {
            r["topic"] = json!(source);
            r
        })
        .collect();
    assert_eq!(again, dumped);
}

/// 100 lines of `topic`'s partition 0, `v1`..`v100`; line 57 invalid.
fn hundred_lines_57_invalid(topic: &str) -> String {
    (1..=100)
        .map(|i| {
            let line = if i == 57 {
                json!({"topic": topic, "partition": 0, "value": "fifty-seven", "valueSerializer": "integer"})
            } else {
                json!({"topic": topic, "partition": 0, "value": format!("v{i}")})
            };
            format!("{line}\n")
        })
        .collect()
}

#[tokio::test]
async fn an_invalid_line_stops_the_load_and_the_lines_before_it_are_written() {
    // Batches of 10: five were written before line 57 was read.
    let svc = Service::start_with(&["--max-records-per-request", "10"], &[]);
    let topic = new_topic("ndjson-invalid", 1).await;
    let (status, answer) = load(&svc, "", hundred_lines_57_invalid(&topic), &[]).await;
    assert_error(
        status,
        &answer,
        400,
        &[
            "line 57: value (integer serializer)",
            "the 56 records before it were written",
            "send the load again from line 57",
        ],
    );
    assert_eq!(answer["records"], 56);
    assert_eq!(
        answer["partitions"],
        json!([{"topic": topic, "partition": 0, "firstOffset": 0, "lastOffset": 55}])
    );
    let values: Vec<Option<String>> = kcat_read(&topic).iter().map(|r| text(&r.value)).collect();
    let expected: Vec<Option<String>> = (1..=56).map(|i| Some(format!("v{i}"))).collect();
    assert_eq!(values, expected);
}

#[tokio::test]
async fn an_invalid_line_aborts_a_transactional_load_and_nothing_becomes_visible() {
    let svc = Service::start_with(&["--max-records-per-request", "10"], &[]);
    warm_up_coordinators(&bootstrap()).await;
    let topic = new_topic("ndjson-invalid-txn", 1).await;
    let id = unique_topic("ndjson-txn");
    let (status, answer) = load(
        &svc,
        &format!("?transactionId={id}&timeout=60s"),
        hundred_lines_57_invalid(&topic),
        &[],
    )
    .await;
    assert_error(
        status,
        &answer,
        400,
        &[
            "line 57: value (integer serializer)",
            &format!("transaction '{id}' was aborted: none of its records is visible"),
            "send the whole load again",
        ],
    );
    assert_eq!(answer["records"], 0);
    assert_eq!(answer["partitions"], json!([]));
    assert!(Kcat::new().read(&topic).records().is_empty());
    // The batches before line 57 had been written, in the transaction that
    // was aborted.
    let aborted = Kcat::new().read(&topic).uncommitted().records();
    assert!(
        (50..=56).contains(&aborted.len()),
        "{} records were written before the abort",
        aborted.len()
    );
}

#[tokio::test]
async fn a_transactional_load_of_several_batches_commits_once_at_the_end() {
    let svc = Service::start_with(&["--max-records-per-request", "50"], &[]);
    warm_up_coordinators(&bootstrap()).await;
    let topic = new_topic("ndjson-txn", 2).await;
    let id = unique_topic("ndjson-txn");
    let lines: Vec<Value> = (0..300)
        .map(|i| json!({"topic": topic, "partition": i % 2, "value": format!("t{i}")}))
        .collect();
    let (status, answer) = load(
        &svc,
        &format!("?transactionId={id}&timeout=60s"),
        ndjson(&lines),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["records"], 300);
    // Visible to read_committed readers as soon as the answer comes, each
    // record once (each batch's sequence numbers follow the last one's).
    let committed = kcat_read(&topic);
    assert_eq!(committed.len(), 300);
    assert_eq!(Kcat::new().read(&topic).uncommitted().records(), committed);
    for r in &committed {
        let i = r.offset * 2 + i64::from(r.partition);
        assert_eq!(text(&r.value), Some(format!("t{i}")));
    }
}

#[tokio::test]
async fn a_failed_write_stops_the_load_with_its_status_after_the_records_before_it() {
    let svc = Service::start();
    let topic = new_topic("ndjson-failed", 1).await;
    let lines: Vec<Value> = (1..=30)
        .map(|i| {
            let partition = if i == 21 { 99 } else { 0 };
            json!({"topic": topic, "partition": partition, "value": format!("f{i}")})
        })
        .collect();
    let (status, answer) = load(&svc, "", ndjson(&lines), &[]).await;
    assert_error(
        status,
        &answer,
        404,
        &[
            "line 21: ",
            "no partition 99",
            "the 20 records before it were written",
        ],
    );
    assert_eq!(answer["records"], 20);
    let values: Vec<Option<String>> = kcat_read(&topic).iter().map(|r| text(&r.value)).collect();
    assert_eq!(
        values,
        (1..=20).map(|i| Some(format!("f{i}"))).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn gzip_json_and_gzip_ndjson_bodies_are_written() {
    let svc = Service::start();
    let topic = new_topic("gzip", 1).await;
    let json_body =
        json!({"records": [{"topic": topic, "partition": 0, "key": "j", "value": "from json"}]});
    let r = svc
        .request(Method::POST, "/records")
        .header("content-encoding", "gzip")
        .body(gzip(json_body.to_string().as_bytes()))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let answer: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["offset"], 0);

    let lines: Vec<Value> = (0..500)
        .map(|i| json!({"topic": topic, "partition": 0, "key": "n", "value": format!("from ndjson {i}")}))
        .collect();
    let (status, answer) = load(
        &svc,
        "",
        gzip(ndjson(&lines).as_bytes()),
        &[("content-encoding", "gzip")],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["records"], 500);

    let got = kcat_read(&topic);
    assert_eq!(got.len(), 501);
    assert_eq!(text(&got[0].value).as_deref(), Some("from json"));
    for (i, r) in got[1..].iter().enumerate() {
        assert_eq!(text(&r.value), Some(format!("from ndjson {i}")));
        assert_eq!(text(&r.key).as_deref(), Some("n"));
    }
}

/// The service's `HOST:PORT`.
fn addr(svc: &Client) -> String {
    svc.url.trim_start_matches("http://").to_string()
}

/// The status and JSON body of the one response in `bytes`.
fn response(bytes: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no whole response in {text:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    (status, json)
}

/// POSTs `body` over a connection of its own with `headers` (each ending in
/// `\r\n`), sending while it reads the answer: the service answers a body it
/// refuses before it has all of it.
async fn raw_post(svc: &Client, headers: &str, body: Vec<u8>) -> (u16, Value) {
    let stream = TcpStream::connect(addr(svc)).await.expect("connect");
    let (mut from, mut to) = stream.into_split();
    let head = format!(
        "POST /records HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let sending = tokio::spawn(async move {
        // The service may close the connection before taking all of it.
        if to.write_all(head.as_bytes()).await.is_ok() {
            let _ = to.write_all(&body).await;
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let read = async {
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), read)
        .await
        .expect("no answer");
    sending.abort();
    response(&got)
}

const MIB: u64 = 1024 * 1024;

#[tokio::test]
async fn a_gzip_bomb_is_refused_with_413_and_memory_stays_small() {
    let limit = 4 * MIB;
    let svc = Service::start_with(&["--max-body-bytes", &limit.to_string()], &[]);
    let topic = new_topic("gzip-bomb", 1).await;
    // 1 GiB of zeros in 64 gzip members of 16 MiB: about a megabyte sent.
    let member = gzip(&vec![0u8; 16 << 20]);
    let bomb: Vec<u8> = member.repeat(64);
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());

    let (status, answer) = raw_post(&svc, "Content-Encoding: gzip\r\n", bomb.clone()).await;
    assert_error(
        status,
        &answer,
        413,
        &[
            "larger than 4194304 bytes once decompressed",
            "--max-body-bytes",
        ],
    );
    let ndjson_headers = format!("Content-Encoding: gzip\r\nContent-Type: {NDJSON}\r\n");
    let (status, answer) = raw_post(&svc, &ndjson_headers, bomb).await;
    assert_error(
        status,
        &answer,
        413,
        &["line 1: longer than 4194304 bytes", "--max-body-bytes"],
    );
    assert_eq!(answer["records"], 0);

    // Nothing near the gigabyte was ever held.
    let peak = peak_rss(svc.pid());
    eprintln!("gzip bomb: peak RSS {} MiB", peak / MIB);
    assert!(peak < 96 * MIB, "peak RSS {} MiB", peak / MIB);
    assert!(kcat_read(&topic).is_empty());
}

#[tokio::test]
async fn a_line_longer_than_the_body_limit_is_413_naming_it() {
    let svc = Service::start_with(&["--max-body-bytes", "2000"], &[]);
    let topic = new_topic("ndjson-long", 1).await;
    let mut lines: Vec<Value> = (1..=3)
        .map(|i| json!({"topic": topic, "partition": 0, "value": format!("short {i}")}))
        .collect();
    lines.push(json!({"topic": topic, "partition": 0, "value": "x".repeat(3000)}));
    lines.push(json!({"topic": topic, "partition": 0, "value": "after"}));
    let (status, answer) = load(&svc, "", ndjson(&lines), &[]).await;
    assert_error(
        status,
        &answer,
        413,
        &[
            "line 4: longer than 2000 bytes (--max-body-bytes",
            "the 3 records before it were written",
        ],
    );
    let values: Vec<Option<String>> = kcat_read(&topic).iter().map(|r| text(&r.value)).collect();
    assert_eq!(
        values,
        (1..=3)
            .map(|i| Some(format!("short {i}")))
            .collect::<Vec<_>>()
    );
}

/// One chunk of a chunked body.
fn chunk(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n", data.len())
}

#[tokio::test]
async fn a_body_sent_slowly_in_pieces_is_written_as_it_arrives() {
    let svc = Service::start_with(&["--client-timeout", "120s"], &[]);
    let topic = new_topic("ndjson-slow", 1).await;
    let line = |i: usize| {
        format!(
            "{}\n",
            json!({"topic": topic, "partition": 0, "value": format!("s{i}")})
        )
    };
    let mut stream = TcpStream::connect(addr(&svc)).await.unwrap();
    let head = format!(
        "POST /records HTTP/1.1\r\nHost: localhost\r\nContent-Type: {NDJSON}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let first: String = (1..=5).map(line).collect();
    stream.write_all(chunk(&first).as_bytes()).await.unwrap();
    // The first lines are written while the body is still coming.
    eventually(Duration::from_secs(60), || {
        (kcat_read(&topic).len() == 5).then_some(())
    })
    .await;
    // The rest in pieces that cut lines anywhere.
    let rest: String = (6..=10).map(line).collect();
    for piece in rest.as_bytes().chunks(17) {
        let piece = std::str::from_utf8(piece).unwrap();
        stream.write_all(chunk(piece).as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stream.write_all(b"0\r\n\r\n").await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\"partitions\"") {
        let n = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf))
            .await
            .expect("no answer")
            .unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let (status, answer) = response(&got);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["records"], 10);
    let values: Vec<Option<String>> = kcat_read(&topic).iter().map(|r| text(&r.value)).collect();
    assert_eq!(
        values,
        (1..=10).map(|i| Some(format!("s{i}"))).collect::<Vec<_>>()
    );
}

/// A bad load: its query, headers and body, and the status and words of
/// the answer it must get.
struct Case {
    name: &'static str,
    query: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: Vec<u8>,
    status: u16,
    needles: Vec<String>,
}

fn case(
    name: &'static str,
    query: &'static str,
    headers: &[(&'static str, &'static str)],
    body: impl Into<Vec<u8>>,
    status: u16,
    needles: &[&str],
) -> Case {
    Case {
        name,
        query,
        headers: headers.to_vec(),
        body: body.into(),
        status,
        needles: needles.iter().map(|n| n.to_string()).collect(),
    }
}

#[tokio::test]
async fn bad_ndjson_loads_are_refused_naming_what_is_wrong_and_write_nothing() {
    let svc = Service::start();
    let topic = new_topic("ndjson-bad", 1).await;
    let fresh = unique_topic("ndjson-fresh");
    let good = format!("{}\n", json!({"topic": topic, "value": "x"}));
    let gzip_header = [("content-encoding", "gzip")];
    let no_partition = format!("line 1: topic '{topic}' has no partition 5");
    let cases = vec![
        case(
            "async",
            "?async=true",
            &[],
            good.clone(),
            400,
            &["async: is for JSON bodies; an NDJSON load streams and answers when its records are written"],
        ),
        case(
            "an unknown query parameter",
            "?partition=0",
            &[],
            good.clone(),
            400,
            &["unknown query parameter 'partition'; known parameters: transactionId, async, timeout, topic, keySerializer, valueSerializer"],
        ),
        case(
            "an unknown serializer",
            "?valueSerializer=lng",
            &[],
            good.clone(),
            400,
            &["valueSerializer: unknown serializer 'lng'; known: string, bytearray"],
        ),
        case(
            "a bad topic",
            "?topic=a%20b",
            &[],
            good.clone(),
            400,
            &["topic: 'a b' contains ' '"],
        ),
        case(
            "a timeout too short",
            "?timeout=1ms",
            &[],
            good.clone(),
            400,
            &["timeout: 1ms is shorter than a write can take"],
        ),
        case(
            "an empty transactionId",
            "?transactionId=",
            &[],
            good.clone(),
            400,
            &["transactionId: must not be empty"],
        ),
        case(
            "an unknown encoding",
            "",
            &[("content-encoding", "br")],
            good.clone(),
            415,
            &["Content-Encoding 'br' is not supported"],
        ),
        case(
            "gzip that is not",
            "",
            &gzip_header,
            good.clone(),
            400,
            &["the body is not valid gzip (Content-Encoding: gzip)", "nothing was written"],
        ),
        case(
            "a line that is not JSON",
            "",
            &[],
            format!("\n{{\"topic\": \"{topic}\",}}\n{good}"),
            400,
            &["line 2: not valid JSON: trailing comma at column", "nothing was written"],
        ),
        case(
            "a misspelled field",
            "",
            &[],
            format!("{}\n{good}", json!({"topic": topic, "partiton": 0})),
            400,
            &["line 1: unknown field 'partiton'; known fields: topic, partition,"],
        ),
        case(
            "a line that is an array",
            "",
            &[],
            format!("[{}]\n", good.trim_end()),
            400,
            &["line 1: must be an object, got an array"],
        ),
        case(
            "a line without a topic",
            "",
            &[],
            "{\"value\": 1}\n",
            400,
            &["line 1: topic: is required"],
        ),
        case(
            "a bad line before one naming a topic that would be created",
            "",
            &[],
            format!(
                "{}\n{}\n",
                json!({"topic": topic, "value": 1, "valueSerializer": "integr"}),
                json!({"topic": fresh})
            ),
            400,
            &["line 1: valueSerializer: unknown serializer 'integr'"],
        ),
        case(
            "a partition the topic does not have",
            "",
            &[],
            format!("{}\n{good}", json!({"topic": topic, "partition": 5, "value": "x"})),
            404,
            &[&no_partition, "nothing was written"],
        ),
    ];
    let mut failures = Vec::new();
    for c in cases {
        let (status, answer) = load(&svc, c.query, c.body, &c.headers).await;
        let message = answer["message"].as_str().unwrap_or_default();
        if status != c.status
            || answer["code"] != c.status
            || !c.needles.iter().all(|n| message.contains(n.as_str()))
        {
            failures.push(format!("{}: {status} {answer}", c.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(kcat_read(&topic).is_empty(), "a refused load wrote");
    assert!(!kcat_topic_exists(&fresh), "a refused load created {fresh}");
}
