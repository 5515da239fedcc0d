//! GET /metrics against the real broker: every counter moves by exactly what
//! the requests between two scrapes did, read back from the exposition text.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const REQUESTS: &str = "kafka_records_http_requests_total";
const LATENCY_COUNT: &str = "kafka_records_http_request_duration_seconds_count";
const LATENCY_SUM: &str = "kafka_records_http_request_duration_seconds_sum";
const IN_FLIGHT: &str = "kafka_records_http_requests_in_flight";
const BYTES_IN: &str = "kafka_records_http_request_body_bytes_total";
const BYTES_OUT: &str = "kafka_records_http_response_body_bytes_total";
const PRODUCED: &str = "kafka_records_records_produced_total";
const FETCHED: &str = "kafka_records_records_fetched_total";
const ASYNC_FAILED: &str = "kafka_records_async_records_failed_total";
const KAFKA_ERRORS: &str = "kafka_records_kafka_errors_total";

const KINDS: [&str; 9] = [
    "unreachable",
    "timeout",
    "unknown_topic",
    "unknown_partition",
    "broker",
    "group_in_use",
    "fenced",
    "protocol",
    "auth",
];

#[tokio::test]
async fn every_counter_moves_by_what_the_requests_did() {
    let topic = new_topic("metrics", 1).await;
    // Takes batches of at most 1 kB: larger records fail in the background.
    let small = unique_topic("metrics-small");
    create_topic(&small, 1, &[("max.message.bytes", "1024")]).await;
    let missing = unique_topic("metrics-missing");
    let svc = Service::start();

    let mut scrapes_served = 0;
    let mut scrape_bytes = 0;
    let before = scrape(&svc).await;
    scrapes_served += 1;
    scrape_bytes += before.len;
    assert_eq!(
        before.value(IN_FLIGHT, &[]),
        1.0,
        "the scrape counts itself"
    );

    // A synchronous POST of 3 records.
    let sync_body = json!({"records": [
        {"topic": topic, "partition": 0, "value": "m0"},
        {"topic": topic, "partition": 0, "value": "m1"},
        {"topic": topic, "partition": 0, "value": "m2"}
    ]})
    .to_string();
    let (status, sync_answer) = send(&svc, Method::POST, "/records", &sync_body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&sync_answer));

    // A GET returning 2 of them.
    let (status, get_answer) = send(
        &svc,
        Method::GET,
        &format!("/records/{topic}?seekTo=0&limit=2"),
        "",
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&get_answer));
    let got: Value = serde_json::from_slice(&get_answer).expect("GET answers JSON");
    assert_eq!(got["records"].as_array().map(Vec::len), Some(2), "{got}");

    // A GET on a topic that does not exist.
    let (status, missing_answer) =
        send(&svc, Method::GET, &format!("/records/{missing}"), "").await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&missing_answer));

    // A path the API does not have.
    let (status, unrouted_answer) = send(&svc, Method::GET, &format!("/nowhere/{topic}"), "").await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&unrouted_answer));

    // An async POST to a partition the topic does not have: refused at once.
    let refused_body = json!({"async": true, "records": [
        {"topic": topic, "partition": 9, "value": "lost0"},
        {"topic": topic, "partition": 9, "value": "lost1"}
    ]})
    .to_string();
    let (status, refused_answer) = send(&svc, Method::POST, "/records", &refused_body).await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&refused_answer));

    // An async POST of records too large for their topic: 202, then they
    // fail in the background.
    let async_body = json!({"async": true, "records": [
        {"topic": small, "partition": 0, "value": "x".repeat(2000)},
        {"topic": small, "partition": 0, "value": "y".repeat(2000)}
    ]})
    .to_string();
    let (status, async_answer) = send(&svc, Method::POST, "/records", &async_body).await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&async_answer));
    assert!(async_answer.is_empty());

    // Scrape until the background write has been counted; every scrape but
    // the last is itself counted by the last.
    let started = Instant::now();
    let after = loop {
        let now = scrape(&svc).await;
        if now.value(ASYNC_FAILED, &[]) - before.value(ASYNC_FAILED, &[]) >= 2.0 {
            break now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the failed async write was not counted:\n{}",
            now.text
        );
        scrapes_served += 1;
        scrape_bytes += now.len;
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let delta = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    let route = |r| [("route", r)];
    let route_status = |r, s| [("route", r), ("status", s)];

    // Requests by route template and status.
    assert_eq!(delta(REQUESTS, &route_status("POST /records", "200")), 1.0);
    assert_eq!(delta(REQUESTS, &route_status("POST /records", "202")), 1.0);
    assert_eq!(delta(REQUESTS, &route_status("POST /records", "404")), 1.0);
    assert_eq!(
        delta(REQUESTS, &route_status("GET /records/{topic}", "200")),
        1.0
    );
    assert_eq!(
        delta(REQUESTS, &route_status("GET /records/{topic}", "404")),
        1.0
    );
    assert_eq!(delta(REQUESTS, &route_status("other", "404")), 1.0);
    assert_eq!(
        delta(REQUESTS, &route_status("GET /metrics", "200")),
        scrapes_served as f64
    );
    assert_eq!(
        after.sum(REQUESTS) - before.sum(REQUESTS),
        6.0 + scrapes_served as f64,
        "no other request was counted:\n{}",
        after.text
    );
    assert!(
        !after.text.contains(&topic)
            && !after.text.contains(&small)
            && !after.text.contains(&missing),
        "a topic name became a label:\n{}",
        after.text
    );

    // One latency observation per request, per route.
    assert_eq!(delta(LATENCY_COUNT, &route("POST /records")), 3.0);
    assert_eq!(delta(LATENCY_COUNT, &route("GET /records/{topic}")), 2.0);
    assert_eq!(delta(LATENCY_COUNT, &route("other")), 1.0);
    assert_eq!(
        delta(LATENCY_COUNT, &route("GET /metrics")),
        scrapes_served as f64
    );
    assert!(delta(LATENCY_SUM, &route("POST /records")) > 0.0);
    assert_eq!(
        after.value(
            "kafka_records_http_request_duration_seconds_bucket",
            &[("route", "POST /records"), ("le", "+Inf")]
        ),
        after.value(LATENCY_COUNT, &route("POST /records")),
        "the +Inf bucket holds every observation"
    );

    // Records produced, fetched and lost in the background.
    assert_eq!(delta(PRODUCED, &[]), 3.0);
    assert_eq!(delta(FETCHED, &[]), 2.0);
    assert_eq!(delta(ASYNC_FAILED, &[]), 2.0);

    // Kafka errors by kind: the missing topic once, the missing partition
    // once for the refused async write (once per kind, not per record),
    // nothing else (a record too large is the request's fault, not Kafka's).
    for kind in KINDS {
        let expected = match kind {
            "unknown_topic" | "unknown_partition" => 1.0,
            _ => 0.0,
        };
        assert_eq!(
            delta(KAFKA_ERRORS, &[("kind", kind)]),
            expected,
            "kind {kind}:\n{}",
            after.text
        );
    }

    // Body bytes in and out, exactly as sent and received.
    assert_eq!(
        delta(BYTES_IN, &route("POST /records")),
        (sync_body.len() + refused_body.len() + async_body.len()) as f64
    );
    assert_eq!(
        delta(BYTES_OUT, &route("POST /records")),
        (sync_answer.len() + refused_answer.len()) as f64,
        "the 202 has no body"
    );
    assert_eq!(
        delta(BYTES_OUT, &route("GET /records/{topic}")),
        (get_answer.len() + missing_answer.len()) as f64
    );
    assert_eq!(
        delta(BYTES_OUT, &route("other")),
        unrouted_answer.len() as f64
    );
    assert_eq!(
        delta(BYTES_OUT, &route("GET /metrics")),
        scrape_bytes as f64
    );

    // Nothing is in flight but the scrape that reads the gauge.
    assert_eq!(after.value(IN_FLIGHT, &[]), 1.0);
}

#[tokio::test]
async fn the_exposition_is_openmetrics_text_with_every_error_kind_at_zero() {
    let svc = Service::start();
    let r = svc.send(Method::GET, "/metrics").await;
    assert_eq!(r.status().as_u16(), 200);
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = r.text().await.expect("body");
    assert!(text.ends_with("# EOF\n"), "{text}");
    let first = Scrape::parse(&text);
    for kind in KINDS {
        assert_eq!(
            first.get(KAFKA_ERRORS, &[("kind", kind)]),
            Some(0.0),
            "{text}"
        );
    }
    let r = svc.send(Method::POST, "/metrics").await;
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(
        r.headers().get("allow").and_then(|v| v.to_str().ok()),
        Some("GET, HEAD")
    );

    // A family appears once it has a series: after the two requests above,
    // every one does.
    let second = scrape(&svc).await;
    for family in [
        "kafka_records_http_requests",
        "kafka_records_http_request_duration_seconds",
        "kafka_records_http_requests_in_flight",
        "kafka_records_http_response_body_bytes",
        "kafka_records_records_produced",
        "kafka_records_records_fetched",
        "kafka_records_async_records_failed",
        "kafka_records_kafka_errors",
        "kafka_records_kafka_requests",
    ] {
        assert!(
            second.families.contains(family),
            "no {family}:\n{}",
            second.text
        );
    }
    assert_eq!(
        second.get(REQUESTS, &[("route", "GET /metrics"), ("status", "200")]),
        Some(1.0)
    );
    assert_eq!(
        second.get(REQUESTS, &[("route", "other"), ("status", "405")]),
        Some(1.0),
        "a wrong method is counted as other, with its status"
    );
}

#[tokio::test]
async fn a_request_the_client_abandons_is_counted_as_499_and_leaves_flight() {
    let topic = new_topic("metrics-abandoned", 1).await;
    let svc = Service::start();

    // A long-poll the client gives up on long before its 5 s timeout.
    let abandoned = svc
        .request(Method::GET, &format!("/records/{topic}?timeout=5s"))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(abandoned.is_err(), "the read should still be waiting");

    let started = Instant::now();
    let after = loop {
        let now = scrape(&svc).await;
        if now.value(
            REQUESTS,
            &[("route", "GET /records/{topic}"), ("status", "499")],
        ) == 1.0
        {
            break now;
        }
        // Within the read's own timeout: a 200 after 5 s would prove nothing.
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the abandoned read was not counted as 499:\n{}",
            now.text
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        after.value(
            REQUESTS,
            &[("route", "GET /records/{topic}"), ("status", "200")]
        ),
        0.0
    );
    assert_eq!(
        after.value(LATENCY_COUNT, &[("route", "GET /records/{topic}")]),
        1.0
    );
    assert_eq!(
        after.value(IN_FLIGHT, &[]),
        1.0,
        "only the scrape is in flight"
    );
}

// --- helpers ---

/// Sends a request and returns its status and body bytes.
async fn send(svc: &Service, method: Method, path: &str, body: &str) -> (u16, Vec<u8>) {
    let r = svc
        .request(method, path)
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.bytes().await.expect("body").to_vec())
}

async fn scrape(svc: &Service) -> Scrape {
    Scrape::parse(&svc.metrics().await)
}

/// One exposition, parsed: samples by name and label set.
struct Scrape {
    text: String,
    len: usize,
    /// The names of the `# TYPE` lines.
    families: BTreeSet<String>,
    samples: BTreeMap<(String, BTreeMap<String, String>), f64>,
}

impl Scrape {
    /// Parses the text format: `# TYPE name type` lines, and samples
    /// `name{key="value",...} value`, with `\\`, `\"` and `\n` escapes in
    /// label values (which may hold spaces and braces).
    fn parse(text: &str) -> Scrape {
        let mut families = BTreeSet::new();
        let mut samples = BTreeMap::new();
        for line in text.lines() {
            if let Some(comment) = line.strip_prefix('#') {
                if let Some(rest) = comment.trim_start().strip_prefix("TYPE ") {
                    let name = rest.split(' ').next().unwrap_or_default();
                    families.insert(name.to_string());
                }
                continue;
            }
            if line.trim().is_empty() {
                continue;
            }
            let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("{line}"));
            let name = line[..name_end].to_string();
            let mut rest = &line[name_end..];
            let mut labels = BTreeMap::new();
            if let Some(after_brace) = rest.strip_prefix('{') {
                let mut chars = after_brace.char_indices();
                loop {
                    let (i, c) = chars.next().unwrap_or_else(|| panic!("{line}"));
                    match c {
                        '}' => {
                            rest = &after_brace[i + 1..];
                            break;
                        }
                        ',' | ' ' => continue,
                        _ => {}
                    }
                    let mut key = c.to_string();
                    for (_, c) in chars.by_ref() {
                        if c == '=' {
                            break;
                        }
                        key.push(c);
                    }
                    assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
                    let mut value = String::new();
                    loop {
                        match chars.next().map(|(_, c)| c) {
                            Some('"') => break,
                            Some('\\') => match chars.next().map(|(_, c)| c) {
                                Some('n') => value.push('\n'),
                                Some(c) => value.push(c),
                                None => panic!("{line}"),
                            },
                            Some(c) => value.push(c),
                            None => panic!("{line}"),
                        }
                    }
                    labels.insert(key, value);
                }
            }
            let value = rest
                .split_whitespace()
                .next()
                .unwrap_or_else(|| panic!("{line}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
            samples.insert((name, labels), value);
        }
        Scrape {
            text: text.to_string(),
            len: text.len(),
            families,
            samples,
        }
    }

    /// The sample of `name` with exactly these labels, if exposed.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples.get(&(name.to_string(), labels)).copied()
    }

    /// The sample, or 0 when the series does not exist yet: a labelled
    /// series appears with its first observation, and a family with no
    /// series is left out of the exposition altogether.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }

    /// The sum over every series of `name`.
    fn sum(&self, name: &str) -> f64 {
        self.samples
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|(_, v)| v)
            .sum()
    }
}
