//! The limits that protect the process, each configurable: records per POST,
//! `limit`, `timeout`, bytes per GET response, record requests at once (the
//! body size limit is in post.rs). Run against the real broker.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn records(topic: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"topic": topic, "partition": 0, "value": format!("v{i}")}))
        .collect()
}

#[tokio::test]
async fn a_post_with_more_records_than_allowed_is_413_and_writes_nothing() {
    let svc = Service::start_with(&["--max-records-per-request", "5"], &[]);
    let topic = new_topic("limit-records", 1).await;

    let (status, body) = svc.post(json!({ "records": records(&topic, 6) })).await;
    assert_error(
        status,
        &body,
        413,
        &["records", "6", "5", "--max-records-per-request"],
    );
    assert!(kcat_read(&topic).is_empty(), "nothing may be written");

    // At the limit is fine.
    post_ok(&svc, records(&topic, 5)).await;
    assert_eq!(kcat_read(&topic).len(), 5);
}

#[tokio::test]
async fn a_limit_above_the_maximum_is_400() {
    let svc = Service::start_with(&["--max-limit", "50"], &[]);
    let topic = new_topic("limit-limit", 1).await;
    post_ok(&svc, records(&topic, 60)).await;

    let (status, body) = svc
        .get(&format!("/records/{topic}?seekTo=0&limit=51"))
        .await;
    assert_error(status, &body, 400, &["limit", "51", "50"]);

    let got = read(&svc, &format!("/records/{topic}?seekTo=0&limit=50")).await;
    assert_eq!(got.len(), 50);
}

#[tokio::test]
async fn a_timeout_above_the_maximum_is_400_for_reads_and_writes() {
    let svc = Service::start_with(&["--max-timeout", "10s"], &[]);
    let topic = new_topic("limit-timeout", 1).await;

    let (status, body) = svc.get(&format!("/records/{topic}?timeout=11s")).await;
    assert_error(
        status,
        &body,
        400,
        &["timeout", "11s", "10s", "--max-timeout"],
    );

    let (status, body) = svc
        .post(json!({"records": records(&topic, 1), "timeout": "1h"}))
        .await;
    assert_error(status, &body, 400, &["timeout", "1h", "10s"]);
    assert!(kcat_read(&topic).is_empty(), "nothing may be written");

    // At the bound both work.
    let (status, body) = svc
        .post(json!({"records": records(&topic, 1), "timeout": "10s"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let got = read(&svc, &format!("/records/{topic}?seekTo=0&timeout=10s")).await;
    assert_eq!(got.len(), 1);
}

/// The size of one record's JSON as the service writes it, from a real read.
async fn record_json_len(svc: &Service, topic: &str) -> usize {
    let got = read(svc, &format!("/records/{topic}?partition=0&seekTo=0")).await;
    serde_json::to_vec(&got[0]).unwrap().len()
}

#[tokio::test]
async fn a_response_stops_before_its_byte_bound_and_the_group_commits_only_what_it_returned() {
    let topic = new_topic("limit-bytes", 3).await;
    let big = "x".repeat(10_000);
    let writer = Service::start();
    let mut all = Vec::new();
    for p in 0..3 {
        for i in 0..10 {
            all.push(json!({"topic": topic, "partition": p, "value": format!("{p}-{i}-{big}")}));
        }
    }
    post_ok(&writer, all).await;
    let one = record_json_len(&writer, &topic).await;

    // Room for a little over 4 records per response.
    let bound = one * 4 + one / 2;
    let svc = Service::start_with(&["--max-response-bytes", &bound.to_string()], &[]);
    let group = unique_topic("group");
    let mut seen: Vec<(i64, i64)> = Vec::new();
    let mut pages = 0;
    loop {
        // The group has no offsets yet: its first page starts at the beginning.
        let seek = if pages == 0 { "seekTo=0&" } else { "" };
        let r = svc
            .send(
                Method::GET,
                &format!("/records/{topic}?{seek}groupId={group}&limit=100&timeout=1s"),
            )
            .await;
        assert_eq!(r.status(), 200);
        let bytes = r.bytes().await.unwrap();
        assert!(
            bytes.len() <= bound,
            "a response of {} bytes exceeds the bound of {bound}",
            bytes.len()
        );
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        let page = body["records"].as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        pages += 1;
        assert_eq!(
            page.len(),
            4.min(30 - seen.len()),
            "each page holds as many records as fit"
        );
        for r in &page {
            seen.push((
                r["partition"].as_i64().unwrap(),
                r["offset"].as_i64().unwrap(),
            ));
        }
        assert!(pages <= 10, "paging did not end: {seen:?}");
    }
    // Every record exactly once, in order within each partition: each commit
    // covered exactly the records its page returned.
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 30, "{seen:?}");
    for p in 0..3 {
        let offsets: Vec<i64> = seen
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, o)| *o)
            .collect();
        assert_eq!(offsets, (0..10).collect::<Vec<_>>(), "partition {p}");
    }

    // A single record larger than the bound still comes, alone.
    let tiny = Service::start_with(&["--max-response-bytes", "100"], &[]);
    let got = read(
        &tiny,
        &format!("/records/{topic}?partition=1&seekTo=0&limit=5"),
    )
    .await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["offset"], 0);
}

#[tokio::test]
async fn record_requests_beyond_the_concurrency_limit_get_503_with_retry_after() {
    let svc = Service::start_with(&["--max-concurrent-requests", "2"], &[]);
    let topic = new_topic("limit-concurrency", 1).await;

    // Two long polls on an idle topic hold both permits.
    let waits: Vec<_> = (0..2)
        .map(|_| svc.spawn_get(&format!("/records/{topic}?timeout=4s")))
        .collect();
    // Wait until both are in flight (the gauge counts this /metrics request too).
    let started = std::time::Instant::now();
    loop {
        let text = svc.metrics().await;
        let in_flight = text
            .lines()
            .find_map(|l| l.strip_prefix("kafka_records_http_requests_in_flight "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .expect("the in-flight gauge");
        if in_flight >= 3.0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the two GETs never waited together"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    for request in [
        svc.request(Method::GET, &format!("/records/{topic}?timeout=0s")),
        svc.request(Method::POST, "/records")
            .body(json!({"records": records(&topic, 1)}).to_string()),
        svc.request(Method::DELETE, &format!("/records/{topic}")),
    ] {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(
            r.headers().get("retry-after").map(|v| v.to_str().unwrap()),
            Some("1")
        );
        let body: Value = r.json().await.unwrap();
        assert_error(503, &body, 503, &["--max-concurrent-requests"]);
    }
    assert!(
        kcat_read(&topic).is_empty(),
        "the turned-away POST wrote nothing"
    );

    // Health and metrics are not record requests: still served.
    let r = svc.send(Method::GET, "/healthy").await;
    assert_eq!(r.status(), 204);

    for w in waits {
        let (status, body) = w.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    // Permits come back once requests finish.
    post_ok(&svc, records(&topic, 1)).await;
}
