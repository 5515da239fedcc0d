//! The write path's harder cases, against the real broker and checked with
//! kcat (librdkafka): batches sized by the topic's `max.message.bytes` (and
//! split again when the broker refuses one as too large), async writes that
//! refuse at once what is known to fail, a `timeout` too short for any
//! write, and transactions that answer only once read_committed readers see
//! their records. (What a transaction says when its commit is not confirmed
//! is tested on the fake broker, in `src/records/post.rs`: a real broker
//! cannot be made to drop an EndTxn on cue.)

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// The topics' `max.message.bytes` in these tests: far below what one POST
/// sends in one batch per partition (Kafka's default is 1 MiB).
const SMALL_LIMIT: usize = 10_000;

/// A topic of `partitions` partitions accepting batches of at most `limit` bytes.
async fn limited_topic(prefix: &str, partitions: i32, limit: usize) -> String {
    let topic = unique_topic(prefix);
    create_topic(
        &topic,
        partitions,
        &[("max.message.bytes", &limit.to_string())],
    )
    .await;
    topic
}

/// `n` records for partition 0 of `topic`, `value(i)` each.
fn records(topic: &str, n: usize, value: impl Fn(usize) -> String) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"topic": topic, "partition": 0, "value": value(i)}))
        .collect()
}

/// A value of `len` bytes naming record `i`.
fn padded(i: usize, len: usize) -> String {
    let name = format!("r{i:04}-");
    format!("{name}{}", "x".repeat(len - name.len()))
}

/// The offsets of a POST answer's results; panics on a failed one.
fn written_offsets(body: &Value) -> Vec<i64> {
    body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {body}"))
        .iter()
        .map(|r| {
            r["offset"]
                .as_i64()
                .unwrap_or_else(|| panic!("not written: {r}"))
        })
        .collect()
}

/// Every value kcat reads (read_committed) from partition 0 of `topic`, in offset order.
fn kcat_values(topic: &str) -> Vec<String> {
    kcat_read(topic)
        .iter()
        .map(|r| {
            assert_eq!(r.partition, 0);
            r.placed().2
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Batches sized by the topic's max.message.bytes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn records_that_together_exceed_the_topics_limit_are_all_written_in_order() {
    let topic = limited_topic("writes-limit", 1, SMALL_LIMIT).await;
    let svc = Service::start();
    // 120 records of 500 bytes: 60 kB for one partition, six times the limit.
    let values: Vec<String> = (0..120).map(|i| padded(i, 500)).collect();
    let body = post_ok(&svc, records(&topic, values.len(), |i| values[i].clone())).await;
    assert_eq!(written_offsets(&body), (0..120).collect::<Vec<i64>>());
    assert_eq!(
        kcat_values(&topic),
        values,
        "kcat reads every record, in order"
    );

    // The same in a transaction, which numbers its batches itself.
    let more: Vec<String> = (120..240).map(|i| padded(i, 500)).collect();
    let (status, body) = svc
        .post(json!({
            "transactionId": unique_topic("writes-limit-tx"),
            "records": records(&topic, more.len(), |i| more[i].clone()),
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    let offsets = written_offsets(&body);
    assert!(offsets.windows(2).all(|w| w[1] == w[0] + 1), "{offsets:?}");
    assert_eq!(kcat_values(&topic), [values, more].concat());
}

#[tokio::test]
async fn a_limit_lowered_after_it_was_cached_splits_the_refused_batch_and_writes_it_all() {
    let topic = limited_topic("writes-lowered", 1, 100_000).await;
    let svc = Service::start();
    // The service reads (and caches) the limit of 100 kB with its first write.
    post_ok(&svc, records(&topic, 1, |_| "first".to_string())).await;
    let status = kafka_tool(&[
        "kafka.admin.ConfigCommand",
        "--bootstrap-server",
        &bootstrap(),
        "--alter",
        "--entity-type",
        "topics",
        "--entity-name",
        &topic,
        "--add-config",
        &format!("max.message.bytes={SMALL_LIMIT}"),
    ])
    .stdout(std::process::Stdio::null())
    .status()
    .expect("scripts/kafka.sh tool");
    assert!(
        status.success(),
        "altering max.message.bytes of {topic} failed"
    );
    // Until the broker says so (a fresh client each time: no cache).
    let started = Instant::now();
    loop {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let client = kafka_client(&bootstrap());
        if client.max_message_bytes(&topic, deadline).await == Some(SMALL_LIMIT) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the limit did not change"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // 60 kB in one batch by the cached limit: refused, read again, split.
    let values: Vec<String> = (0..120).map(|i| padded(i, 500)).collect();
    let body = post_ok(&svc, records(&topic, values.len(), |i| values[i].clone())).await;
    assert_eq!(written_offsets(&body), (1..121).collect::<Vec<i64>>());
    let read = kcat_values(&topic);
    assert_eq!(read[0], "first");
    assert_eq!(read[1..], values[..], "kcat reads every record, in order");
}

#[tokio::test]
async fn only_a_record_over_the_limit_fails_named_with_its_size_and_the_limit() {
    let topic = limited_topic("writes-one-large", 1, SMALL_LIMIT).await;
    let svc = Service::start();
    let big = "B".repeat(3 * SMALL_LIMIT);
    let mut sent = records(&topic, 6, |i| format!("small-{i}"));
    sent.insert(3, json!({"topic": topic, "partition": 0, "value": big}));
    let (status, body) = svc.post(json!({ "records": sent })).await;
    // 400: like any record the broker refuses as invalid, with `results`.
    assert_error(status, &body, 400, &["1 of 7 records failed", "records[3]"]);
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), 7, "{body}");
    let error = &results[3]["error"];
    assert_eq!(error["code"], 400, "{body}");
    let message = error["message"].as_str().expect("a message");
    for needle in [
        "records[3]",
        "30072 bytes",
        &SMALL_LIMIT.to_string(),
        "max.message.bytes",
    ] {
        assert!(message.contains(needle), "{needle:?} not in: {message}");
    }
    assert!(results[3].get("offset").is_none(), "{body}");
    let offsets: Vec<i64> = results
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .map(|(_, r)| r["offset"].as_i64().unwrap_or_else(|| panic!("{r}")))
        .collect();
    assert_eq!(
        offsets,
        (0..6).collect::<Vec<i64>>(),
        "the others are written"
    );
    let expected: Vec<String> = (0..6).map(|i| format!("small-{i}")).collect();
    assert_eq!(kcat_values(&topic), expected);
}

// ---------------------------------------------------------------------------
// async: true refuses at once what is known to fail
// ---------------------------------------------------------------------------

/// An async POST of `records`: status and body.
async fn post_async(svc: &Client, records: Vec<Value>) -> (u16, Value) {
    svc.post(json!({"async": true, "timeout": "30s", "records": records}))
        .await
}

#[tokio::test]
async fn an_async_write_to_an_unreachable_kafka_is_a_503_at_once() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let svc = Service::on(&closed).start();
    let (status, body) = post_async(&svc, vec![json!({"topic": "orders", "value": "v"})]).await;
    assert_error(
        status,
        &body,
        503,
        &["records[0]", "unreachable", &closed, "nothing was written"],
    );
}

#[tokio::test]
async fn an_async_write_to_a_missing_partition_is_a_404_and_writes_nothing() {
    let topic = new_topic("writes-async-partition", 2).await;
    let svc = Service::start();
    let (status, body) = post_async(
        &svc,
        vec![
            json!({"topic": topic, "partition": 0, "value": "fine"}),
            json!({"topic": topic, "partition": 2, "value": "nowhere"}),
        ],
    )
    .await;
    assert_error(
        status,
        &body,
        404,
        &[
            "records[1]",
            &format!("topic '{topic}' has no partition 2"),
            "nothing was written",
        ],
    );
    // With the metadata known, an async write is still a 202 at once.
    let (status, body) = post_async(
        &svc,
        vec![json!({"topic": topic, "partition": 1, "value": "later"})],
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let read = eventually(Duration::from_secs(30), || {
        let read = kcat_read(&topic);
        (!read.is_empty()).then_some(read)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let values: Vec<(i32, String)> = kcat_read(&topic)
        .iter()
        .map(|r| (r.partition, r.placed().2))
        .collect();
    assert_eq!(
        values,
        [(1, "later".to_string())],
        "the refused write left nothing: {read:?}"
    );
}

#[tokio::test]
async fn an_async_write_to_a_missing_topic_without_auto_creation_is_a_404() {
    let cluster = OwnCluster::start("writes-noauto", 1, &["auto.create.topics.enable=false"]);
    let svc = Service::on(&cluster.bootstrap).start();
    let missing = unique_topic("writes-missing");
    let (status, body) = post_async(&svc, vec![json!({"topic": missing, "value": "v"})]).await;
    assert_error(
        status,
        &body,
        404,
        &[
            "records[0]",
            &format!("topic '{missing}' does not exist"),
            "nothing was written",
        ],
    );
    assert!(!Kcat::on(&cluster.bootstrap).topic_exists(&missing));
}

// ---------------------------------------------------------------------------
// A timeout too short for any write
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_post_timeout_too_short_for_any_write_is_a_400_and_writes_nothing() {
    let topic = new_topic("writes-short", 1).await;
    let svc = Service::start();
    // The topic's metadata is cached: nothing but the produce itself is left to time out.
    post_ok(&svc, records(&topic, 1, |_| "first".to_string())).await;
    for (timeout, asynchronous) in [("0s", false), ("1ms", false), ("9ms", false), ("0s", true)] {
        let (status, body) = svc
            .post(json!({
                "timeout": timeout,
                "async": asynchronous,
                "records": records(&topic, 1, |_| format!("never-{timeout}")),
            }))
            .await;
        assert_error(
            status,
            &body,
            400,
            &["timeout", timeout, "10ms", "nothing was written"],
        );
    }
    let (status, body) = svc
        .post(json!({
            "transactionId": unique_topic("writes-short-tx"),
            "timeout": "0s",
            "records": records(&topic, 1, |_| "never-tx".to_string()),
        }))
        .await;
    assert_error(status, &body, 400, &["timeout"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(kcat_values(&topic), ["first"]);
    assert_eq!(
        Kcat::new().read(&topic).uncommitted().records().len(),
        1,
        "nothing reached the log"
    );
    // A GET's timeout=0s still means "do not wait": what is there, at once.
    let got = read(
        &svc,
        &format!("/records/{topic}?partition=0&seekTo=0&limit=5&timeout=0s"),
    )
    .await;
    assert_eq!(got.len(), 1, "{got:?}");
}

// ---------------------------------------------------------------------------
// Read your writes: a transaction answers once its records are visible
// ---------------------------------------------------------------------------

#[tokio::test]
async fn after_each_transactional_post_a_read_committed_reader_sees_its_records() {
    let topic = new_topic("writes-ryw", 2).await;
    let svc = Service::start();
    let id = unique_topic("writes-ryw-tx");
    let mut missed = Vec::new();
    for round in 0..20 {
        let sent: Vec<Value> = (0..3)
            .map(|i| json!({"topic": topic, "partition": i % 2, "value": format!("{round}-{i}")}))
            .collect();
        let (status, body) = svc
            .post(json!({"transactionId": id, "records": sent}))
            .await;
        assert_eq!(status, 200, "{body}");
        // At once, the service's own read_committed GET from where each record landed.
        for r in body["results"].as_array().expect("results") {
            let (p, offset) = (
                r["partition"].as_i64().unwrap(),
                r["offset"].as_i64().unwrap(),
            );
            let path = format!("/records/{topic}?partition={p}&seekTo={offset}&limit=1&timeout=0s");
            let got = read(&svc, &path).await;
            if got.first().map(|g| g["offset"].as_i64()) != Some(Some(offset)) {
                missed.push(format!("round {round}: {p}/{offset} not visible yet"));
            }
        }
    }
    assert!(
        missed.is_empty(),
        "records not visible right after their POST: {missed:?}"
    );
    assert_eq!(
        kcat_read(&topic).len(),
        60,
        "kcat (read_committed) reads all 60"
    );
}
