//! Cursors, end bounds, jq filters, NDJSON and SSE streams and compressed
//! answers, against the real broker, checked with kcat, curl and Debian's jq.
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// Lines of an NDJSON body as JSON values.
fn ndjson(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
struct Event {
    event: String,
    id: Option<String>,
    data: Value,
}

/// The events of an SSE body (comments left out).
fn events(text: &str) -> Vec<Event> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut event = None;
            let mut id = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    event = Some(v.to_string());
                } else if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v.to_string());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str(v).unwrap_or_else(|e| panic!("{e}: {v}")));
                }
            }
            Some(Event {
                event: event?,
                id,
                data: data?,
            })
        })
        .collect()
}

/// (partition, offset, value) of records as GET shows them.
fn placed_all(records: &[Value]) -> Vec<(i32, i64, String)> {
    records.iter().map(placed).collect()
}

/// Every record of `topic` as kcat reads it: (partition, offset, value).
fn kcat_all(topic: &str) -> Vec<(i32, i64, String)> {
    Kcat::new()
        .read(topic)
        .records()
        .iter()
        .map(KcatRecord::placed)
        .collect()
}

/// The whole topic as an NDJSON dump through the service.
async fn dump(svc: &Client, topic: &str, extra: &str) -> Vec<Value> {
    let r = svc
        .send(
            Method::GET,
            &format!("/records/{topic}?distanceFromBeginning=0&untilTimestamp=99999999999999&format=ndjson{extra}"),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    ndjson(&r.text().await.unwrap())
}

#[tokio::test]
async fn curl_follows_ndjson_and_sse_while_kcat_writes() {
    let topic = new_topic("follow", 2).await;
    let svc = Service::start();
    // Streams from the start of a new topic, ending after six records.
    let curl = |format: &str| {
        Command::new("curl")
            .args([
                "-sN",
                &format!(
                    "{}/records/{topic}?distanceFromBeginning=0&format={format}&limit=6",
                    svc.url
                ),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("curl")
    };
    let ndjson_reader = curl("ndjson");
    let sse_reader = curl("sse");
    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Kcat::new()
            .produce(&topic)
            .partition(round % 2)
            .send(&[format!("r{round}a"), format!("r{round}b")]);
    }
    let read_all = |child: std::process::Child| {
        let out = child.wait_with_output().expect("curl");
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let lines = ndjson(&read_all(ndjson_reader));
    let sse = events(&read_all(sse_reader));
    let mut written = kcat_all(&topic);
    written.sort();
    let mut from_lines = placed_all(&lines);
    from_lines.sort();
    assert_eq!(from_lines, written, "NDJSON");
    let records: Vec<&Event> = sse.iter().filter(|e| e.event == "record").collect();
    let mut from_events: Vec<(i32, i64, String)> =
        records.iter().map(|e| placed(&e.data)).collect();
    from_events.sort();
    assert_eq!(from_events, written, "SSE");
    // Each event's id is the cursor after it; the end event gives the last.
    let end = sse.last().unwrap();
    assert_eq!(end.event, "end");
    assert_eq!(
        end.data["next"].as_str(),
        records.last().unwrap().id.as_deref()
    );
    // Within a partition, the stream keeps the log's order.
    for p in 0..2 {
        let offsets: Vec<i64> = lines
            .iter()
            .map(placed)
            .filter(|(q, _, _)| *q == p)
            .map(|(_, o, _)| o)
            .collect();
        assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
    }
}

#[tokio::test]
async fn paging_by_cursor_returns_every_record_once_in_order() {
    let topic = new_topic("paging", 3).await;
    let svc = Service::start();
    let lines: Vec<String> = (0..90).map(|i| format!("k{}:v{i}", i % 7)).collect();
    Kcat::new().produce(&topic).keyed().send(&lines);
    let mut seen: Vec<(i32, i64, String)> = Vec::new();
    let (status, page) = svc
        .get(&format!(
            "/records/{topic}?distanceFromBeginning=0&limit=7&timeout=0s"
        ))
        .await;
    assert_eq!(status, 200, "{page}");
    let mut page = page;
    let mut pages = 0;
    loop {
        let records = page["records"].as_array().unwrap().clone();
        if records.is_empty() {
            break;
        }
        assert!(records.len() <= 7);
        seen.extend(placed_all(&records));
        pages += 1;
        if pages == 5 {
            // A record written while paging is found by the pages after.
            Kcat::new().produce(&topic).keyed().send(&["late:v-late"]);
        }
        let cursor = page["next"].as_str().expect("a next cursor").to_string();
        let (status, next) = svc
            .get(&format!(
                "/records/{topic}?cursor={cursor}&limit=7&timeout=0s"
            ))
            .await;
        assert_eq!(status, 200, "{next}");
        page = next;
    }
    let mut all = kcat_all(&topic);
    all.sort();
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, all, "every record once");
    assert_eq!(all.len(), 91);
    for p in 0..3 {
        let offsets: Vec<i64> = seen
            .iter()
            .filter(|(q, _, _)| *q == p)
            .map(|(_, o, _)| *o)
            .collect();
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "partition {p}: {offsets:?}"
        );
    }
    // A cursor of one partition resumes that partition only.
    let (_, one) = svc
        .get(&format!("/records/{topic}?partition=1&seekTo=0&limit=2"))
        .await;
    let cursor = one["next"].as_str().unwrap();
    let (status, rest) = svc
        .get(&format!(
            "/records/{topic}?cursor={cursor}&limit=1000&timeout=0s"
        ))
        .await;
    assert_eq!(status, 200);
    let rest = placed_all(rest["records"].as_array().unwrap());
    assert!(
        !rest.is_empty() && rest.iter().all(|(p, o, _)| *p == 1 && *o >= 2),
        "{rest:?}"
    );
    let (status, body) = svc
        .get(&format!("/records/{topic}?cursor={cursor}&partition=2"))
        .await;
    assert_error(status, &body, 400, &["cursor", "partition 2"]);
}

/// Reads SSE events from a streaming response until `n` records came.
async fn read_events(response: &mut reqwest::Response, n: usize) -> Vec<Event> {
    let mut text = String::new();
    loop {
        // Only whole events: a chunk may end inside one.
        let whole = text.rfind("\n\n").map_or("", |end| &text[..end + 2]);
        let got = events(whole);
        if got.iter().filter(|e| e.event == "record").count() >= n {
            return got;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(30), response.chunk())
            .await
            .expect("an event within 30 s")
            .expect("the stream")
            .expect("the stream ended early");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test]
async fn last_event_id_resumes_on_a_new_instance_with_nothing_lost_or_repeated() {
    let topic = new_topic("resume", 2).await;
    let lines: Vec<String> = (0..40).map(|i| format!("k{i}:v{i}")).collect();
    Kcat::new().produce(&topic).keyed().send(&lines);
    let first = Service::start();
    let mut stream = first
        .request(
            Method::GET,
            &format!("/records/{topic}?distanceFromBeginning=0"),
        )
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let got = read_events(&mut stream, 15).await;
    let records: Vec<&Event> = got.iter().filter(|e| e.event == "record").collect();
    // The client saw these (perhaps more arrived in the same chunk).
    let last_id = records.last().unwrap().id.clone().unwrap();
    let seen: Vec<(i32, i64, String)> = records.iter().map(|e| placed(&e.data)).collect();
    drop(stream);
    drop(first);
    // More records while no instance runs; then another instance resumes.
    let more: Vec<String> = (40..60).map(|i| format!("k{i}:v{i}")).collect();
    Kcat::new().produce(&topic).keyed().send(&more);
    let second = Service::start();
    let rest = 60 - seen.len();
    let r = second
        .request(
            Method::GET,
            // The URL a reconnecting EventSource sends again: its seek loses to Last-Event-ID.
            &format!("/records/{topic}?distanceFromBeginning=0&format=sse&limit={rest}"),
        )
        .header("Last-Event-ID", &last_id)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let after: Vec<(i32, i64, String)> = events(&r.text().await.unwrap())
        .iter()
        .filter(|e| e.event == "record")
        .map(|e| placed(&e.data))
        .collect();
    let mut all: Vec<(i32, i64, String)> = seen.into_iter().chain(after).collect();
    all.sort();
    let mut written = kcat_all(&topic);
    written.sort();
    assert_eq!(all, written, "nothing lost, nothing repeated");
}

#[tokio::test]
async fn bounds_by_offset_and_by_timestamp_end_the_read_at_once() {
    let topic = new_topic_kept("bounds", 2).await;
    let svc = Service::start();
    let records: Vec<Value> = (0..20)
        .map(|i| json!({"topic": topic, "partition": i % 2, "value": format!("v{i}"), "timestamp": 1_700_000_000_000i64 + i * 1000}))
        .collect();
    post_ok(&svc, records).await;
    let written: Vec<KcatRecord> = Kcat::new().read(&topic).records();
    // A long timeout: a bounded read does not wait for it.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let get = |query: String| {
        let client = client.clone();
        let url = format!("{}/records/{topic}?{query}&timeout=5m&limit=1000", svc.url);
        async move {
            let r = client
                .get(url)
                .send()
                .await
                .expect("answered before the timeout");
            assert_eq!(r.status(), 200);
            let body: Value = r.json().await.unwrap();
            let mut got = placed_all(body["records"].as_array().unwrap());
            got.sort();
            got
        }
    };
    let expect = |keep: &dyn Fn(&KcatRecord) -> bool| {
        let mut want: Vec<(i32, i64, String)> = written
            .iter()
            .filter(|r| keep(r))
            .map(|r| {
                (
                    r.partition,
                    r.offset,
                    String::from_utf8(r.value.clone().unwrap()).unwrap(),
                )
            })
            .collect();
        want.sort();
        want
    };
    // Between 1,700,000,004,000 and 1,700,000,013,000 (excluded).
    let got = get("seekToTimestamp=1700000004000&untilTimestamp=1700000013000".into()).await;
    let want = expect(&|r| (1_700_000_004_000..1_700_000_013_000).contains(&r.timestamp));
    assert_eq!(got, want);
    assert_eq!(got.len(), 9);
    // Offsets 2 up to 5 of each partition.
    let got = get("seekTo=2&untilOffset=5".into()).await;
    assert_eq!(got, expect(&|r| (2..5).contains(&r.offset)));
    // A bound past the end: everything there is, without waiting.
    let got = get("distanceFromBeginning=0&untilOffset=1000".into()).await;
    assert_eq!(got.len(), 20);
    // A bound before the start: nothing, at once.
    let got = get("seekTo=5&untilOffset=3".into()).await;
    assert!(got.is_empty());
    // A bounded stream ends by itself too.
    let r = client
        .get(format!("{}/records/{topic}?seekToTimestamp=1700000004000&untilTimestamp=1700000013000&format=ndjson", svc.url))
        .send()
        .await
        .unwrap();
    let mut streamed = placed_all(&ndjson(&r.text().await.unwrap()));
    streamed.sort();
    assert_eq!(streamed, want);
    let (status, body) = svc
        .get(&format!("/records/{topic}?untilOffset=3&untilTimestamp=5"))
        .await;
    assert_error(status, &body, 400, &["untilOffset", "untilTimestamp"]);
}

/// jq's answer: `select(program)` over every line of `dump`.
fn jq_select(program: &str, dump: &[Value]) -> Vec<Value> {
    let mut child = Command::new("jq")
        .args(["-c", &format!("select({program})")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("jq is not installed: scripts/test.sh installs it");
    let input: String = dump.iter().map(|v| format!("{v}\n")).collect();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    ndjson(&String::from_utf8(out.stdout).unwrap())
}

#[tokio::test]
async fn filters_find_what_jq_finds_in_a_full_dump() {
    let topic = new_topic("search", 3).await;
    let svc = Service::start();
    let records: Vec<Value> = (0..300)
        .map(|i| {
            let value = if i % 10 == 3 {
                json!("not an object")
            } else {
                json!({"id": i, "amount": (i * 37) % 1000, "tags": ["a", format!("t{}", i % 4)]})
            };
            let headers = if i % 25 == 0 {
                json!([{"key": "trace", "value": "eA=="}])
            } else {
                json!([])
            };
            json!({"topic": topic, "key": format!("user-{}", i % 13), "valueSerializer": "json", "value": value, "headers": headers})
        })
        .collect();
    post_ok(&svc, records).await;
    let all = dump(&svc, &topic, "&valueDeserializer=json").await;
    assert_eq!(all.len(), 300);
    for program in [
        ".value.amount > 900",
        r#".key | test("^user-1[0-2]$")"#,
        r#".headers | map(.key) | index("trace") != null"#,
        ".partition == 1 and .offset < 20",
        r#".value.tags | index("t2")"#,
        ".value | type == \"string\"",
    ] {
        let mut want: Vec<(i32, i64, String)> = jq_select(program, &all)
            .iter()
            .map(|r| {
                (
                    r["partition"].as_i64().unwrap() as i32,
                    r["offset"].as_i64().unwrap(),
                    r["key"].to_string(),
                )
            })
            .collect();
        want.sort();
        assert!(!want.is_empty(), "{program} finds something");
        let filter =
            percent_encoding::utf8_percent_encode(program, percent_encoding::NON_ALPHANUMERIC);
        let (status, page) = svc
            .get(&format!("/records/{topic}?distanceFromBeginning=0&valueDeserializer=json&limit=1000&timeout=0s&filter={filter}"))
            .await;
        assert_eq!(status, 200, "{program}: {page}");
        let key_of = |r: &Value| {
            (
                r["partition"].as_i64().unwrap() as i32,
                r["offset"].as_i64().unwrap(),
                r["key"].to_string(),
            )
        };
        let mut got: Vec<_> = page["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(key_of)
            .collect();
        got.sort();
        assert_eq!(got, want, "page: {program}");
        let mut streamed: Vec<_> = dump(
            &svc,
            &topic,
            &format!("&valueDeserializer=json&filter={filter}"),
        )
        .await
        .iter()
        .map(key_of)
        .collect();
        streamed.sort();
        assert_eq!(streamed, want, "stream: {program}");
    }
    // Only kept records count towards the limit, and the cursor goes on
    // past those left out.
    let (_, page) = svc
        .get(&format!("/records/{topic}?distanceFromBeginning=0&valueDeserializer=json&limit=2&timeout=0s&filter=.value.amount%20%3E%20900"))
        .await;
    assert_eq!(page["records"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_search_stops_at_the_scan_bound_with_a_cursor_to_go_on() {
    let topic = new_topic("scan", 1).await;
    let svc = Service::start_with(&["--max-scan-records", "50"], &[]);
    let lines: Vec<String> = (0..200)
        .map(|i| {
            if i == 120 || i == 180 {
                format!("needle-{i}")
            } else {
                format!("hay-{i}")
            }
        })
        .collect();
    Kcat::new().produce(&topic).partition(0).send(&lines);
    let filter = "filter=.value%20%7C%20startswith(%22needle%22)";
    let (status, first) = svc
        .get(&format!(
            "/records/{topic}?seekTo=0&limit=10&timeout=10s&{filter}"
        ))
        .await;
    assert_eq!(status, 200, "{first}");
    // 50 records scanned, none found: an answer anyway, with a cursor past them.
    assert_eq!(first["records"], json!([]));
    let mut cursor = first["next"].as_str().unwrap().to_string();
    let mut found = Vec::new();
    let mut pages = 1;
    while found.len() < 2 {
        let (status, page) = svc
            .get(&format!(
                "/records/{topic}?cursor={cursor}&limit=10&timeout=10s&{filter}"
            ))
            .await;
        assert_eq!(status, 200, "{page}");
        found.extend(placed_all(page["records"].as_array().unwrap()));
        cursor = page["next"].as_str().unwrap().to_string();
        pages += 1;
        assert!(pages <= 6, "a page scans 50 records: {found:?}");
    }
    assert_eq!(
        found,
        vec![
            (0, 120, "needle-120".to_string()),
            (0, 180, "needle-180".to_string())
        ]
    );
    assert_eq!(
        pages, 4,
        "records 0-49, 50-99, 100-149 (finds 120), 150-199 (finds 180)"
    );
}

#[tokio::test]
async fn bad_cursors_and_filters_are_400s_naming_the_parameter() {
    let topic = new_topic("bad-cursor", 1).await;
    let other = new_topic("bad-cursor-other", 1).await;
    let svc = Service::start();
    let (_, page) = svc
        .get(&format!("/records/{other}?seekTo=0&timeout=0s"))
        .await;
    let foreign = page["next"].as_str().unwrap().to_string();
    let (status, body) = svc.get(&format!("/records/{topic}?cursor={foreign}")).await;
    assert_error(status, &body, 400, &["cursor", "another topic"]);
    let damaged = format!("{}x", &foreign[..foreign.len() - 2]);
    for cursor in [damaged.as_str(), "AAAA", "%21%21"] {
        let (status, body) = svc.get(&format!("/records/{topic}?cursor={cursor}")).await;
        assert_error(status, &body, 400, &["cursor", "damaged"]);
    }
    let (status, body) = svc
        .get(&format!("/records/{topic}?cursor={foreign}&seekTo=1"))
        .await;
    assert_error(status, &body, 400, &["cursor", "seekTo"]);
    let r = svc
        .request(Method::GET, &format!("/records/{topic}?format=sse"))
        .header("Last-Event-ID", &foreign)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    assert_error(
        status,
        &r.json().await.unwrap(),
        400,
        &["Last-Event-ID", "another topic"],
    );
    for (program, position) in [
        (".value | select(", "position 16"),
        (".a | nosuch(1)", "position 5"),
    ] {
        let filter =
            percent_encoding::utf8_percent_encode(program, percent_encoding::NON_ALPHANUMERIC);
        let (status, body) = svc.get(&format!("/records/{topic}?filter={filter}")).await;
        assert_error(status, &body, 400, &["filter", position]);
    }
    let (status, body) = svc.get(&format!("/records/{topic}?format=xml")).await;
    assert_error(status, &body, 400, &["format", "ndjson"]);
}

#[tokio::test]
async fn a_stream_with_a_group_commits_what_it_wrote_while_it_runs_and_at_the_end() {
    let topic = new_topic("stream-group", 2).await;
    let group = unique_topic("stream-group");
    let svc = Service::start();
    let lines: Vec<String> = (0..30).map(|i| format!("k{i}:v{i}")).collect();
    Kcat::new().produce(&topic).keyed().send(&lines);
    let written = Kcat::new().read(&topic).records();
    let ends: BTreeMap<i32, i64> = (0..2)
        .map(|p| {
            (
                p,
                written.iter().filter(|r| r.partition == p).count() as i64,
            )
        })
        .collect();
    // An open-ended stream: once its records are out, the quiet topic does
    // not hold back their commit.
    let mut stream = svc
        .request(
            Method::GET,
            &format!("/records/{topic}?groupId={group}&autoOffsetReset=earliest&format=sse"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    read_events(&mut stream, 30).await;
    let committed = eventually(Duration::from_secs(15), || {
        let c = committed_offsets_by_kafka(&group, &topic);
        (c == ends).then_some(c)
    })
    .await;
    assert_eq!(committed, ends);
    drop(stream);
    // A stream with a limit commits at its end what it wrote (a group of
    // its own: the service notices the client above is gone only when it
    // next writes to it).
    let group = unique_topic("stream-group-limited");
    let r = svc
        .send(Method::GET, &format!("/records/{topic}?groupId={group}&autoOffsetReset=earliest&format=ndjson&limit=5&timeout=60s"))
        .await;
    let lines = ndjson(&r.text().await.unwrap());
    assert_eq!(lines.len(), 5);
    let mut want: BTreeMap<i32, i64> = ends.keys().map(|p| (*p, 0)).collect();
    for record in &lines {
        let (p, o, _) = placed(record);
        let next = want.get_mut(&p).unwrap();
        *next = (*next).max(o + 1);
    }
    let committed = eventually(Duration::from_secs(10), || {
        let c = committed_offsets_by_kafka(&group, &topic);
        (c == want).then_some(c)
    })
    .await;
    assert_eq!(committed, want);
}

#[tokio::test]
async fn a_slow_stream_reader_is_fed_slowly_and_memory_stays_flat() {
    const MIB: u64 = 1024 * 1024;
    let topic = new_topic("slow-stream", 1).await;
    let svc = Service::start();
    // 48 MiB of records.
    let value = "x".repeat(1024);
    for _ in 0..12 {
        let batch: Vec<Value> = (0..4096)
            .map(|_| json!({"topic": topic, "partition": 0, "value": value}))
            .collect();
        post_ok(&svc, batch).await;
    }
    let before = peak_rss(svc.pid());
    let addr = svc.url.trim_start_matches("http://").to_string();
    let pid = svc.pid();
    let read = tokio::task::spawn_blocking(move || {
        let mut socket = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            socket,
            "GET /records/{topic}?seekTo=0&format=ndjson HTTP/1.1\r\nHost: localhost\r\n\r\n"
        )
        .unwrap();
        // 16 KiB every 50 ms for 4 s: about 1.3 MiB of the 48.
        let mut total = 0usize;
        let mut buf = vec![0u8; 16 * 1024];
        for _ in 0..80 {
            let n = socket.read(&mut buf).unwrap();
            assert!(n > 0, "the stream ended early");
            total += n;
            std::thread::sleep(Duration::from_millis(50));
        }
        (total, peak_rss(pid))
    });
    let (read_bytes, during) = read.await.unwrap();
    assert!(read_bytes > 256 * 1024, "read {read_bytes} bytes");
    // One round of records and the connection's buffers, not the topic.
    assert!(
        during < before + 16 * MIB,
        "peak RSS grew from {} MiB to {} MiB while a reader read {} KiB of a 48 MiB topic",
        before / MIB,
        during / MIB,
        read_bytes / 1024
    );
}

#[tokio::test]
async fn streams_end_with_their_last_event_when_the_service_shuts_down() {
    let topic = new_topic("stream-shutdown", 1).await;
    Kcat::new().produce(&topic).partition(0).send(&["a", "b"]);
    let mut svc = Service::start();
    let mut stream = svc
        .request(
            Method::GET,
            &format!("/records/{topic}?seekTo=0&format=sse"),
        )
        .send()
        .await
        .unwrap();
    let got = read_events(&mut stream, 2).await;
    let last_id = got.iter().rev().find_map(|e| e.id.clone()).unwrap();
    svc.terminate();
    let rest = tokio::time::timeout(Duration::from_secs(20), stream.text())
        .await
        .expect("the stream ended")
        .expect("cleanly");
    let end = events(&rest);
    assert_eq!(end.last().map(|e| e.event.as_str()), Some("end"), "{rest}");
    assert_eq!(
        end.last().unwrap().data["next"].as_str(),
        Some(last_id.as_str())
    );
    let status = svc.exited(Duration::from_secs(20)).await.expect("exited");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn streams_hold_a_request_slot_until_they_end() {
    let topic = new_topic("stream-slots", 1).await;
    let svc = Service::start_with(&["--max-concurrent-requests", "2"], &[]);
    let open = || {
        svc.request(Method::GET, &format!("/records/{topic}?format=ndjson"))
            .send()
    };
    let one = open().await.unwrap();
    let two = open().await.unwrap();
    assert_eq!((one.status().as_u16(), two.status().as_u16()), (200, 200));
    let (status, body) = svc.get(&format!("/records/{topic}?timeout=0s")).await;
    assert_error(status, &body, 503, &["too many requests"]);
    drop(one);
    let (status, _) = eventually(Duration::from_secs(10), || {
        let url = format!("{}/records/{topic}?timeout=0s", svc.url);
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &url])
            .output()
            .unwrap();
        let code = String::from_utf8_lossy(&out.stdout).to_string();
        (code == "200").then_some((code, ()))
    })
    .await;
    assert_eq!(status, "200");
    drop(two);
}

#[tokio::test]
async fn answers_are_compressed_as_the_client_accepts_and_streams_per_event() {
    let topic = new_topic("compressed", 1).await;
    let svc = Service::start();
    let lines: Vec<String> = (0..50)
        .map(|i| format!("value number {i} {}", "z".repeat(40)))
        .collect();
    Kcat::new().produce(&topic).partition(0).send(&lines);
    let url = format!("{}/records/{topic}?seekTo=0&limit=100&timeout=0s", svc.url);
    let plain = Command::new("curl")
        .args(["-s", &url])
        .output()
        .unwrap()
        .stdout;
    let plain: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(plain["records"].as_array().unwrap().len(), 50);
    for (encoding, decoder) in [("gzip", ["gzip", "-dc"]), ("zstd", ["zstd", "-dc"])] {
        let out = Command::new("curl")
            .args([
                "-s",
                "-D",
                "/dev/stderr",
                "-H",
                &format!("Accept-Encoding: {encoding}"),
                &url,
            ])
            .output()
            .unwrap();
        let headers = String::from_utf8_lossy(&out.stderr).to_ascii_lowercase();
        assert!(
            headers.contains(&format!("content-encoding: {encoding}")),
            "{headers}"
        );
        assert!(out.stdout.len() < serde_json::to_vec(&plain).unwrap().len() / 2);
        let mut d = Command::new(decoder[0])
            .arg(decoder[1])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{} is not installed ({e})", decoder[0]));
        d.stdin.take().unwrap().write_all(&out.stdout).unwrap();
        let decoded: Value = serde_json::from_slice(&d.wait_with_output().unwrap().stdout).unwrap();
        assert_eq!(decoded["records"], plain["records"], "{encoding}");
    }
    // A small answer is sent as it is.
    let out = Command::new("curl")
        .args([
            "-s",
            "-D",
            "/dev/stdout",
            "-o",
            "/dev/null",
            "-H",
            "Accept-Encoding: gzip",
        ])
        .arg(format!("{}/records/{topic}?seekTo=0&limit=1", svc.url))
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout)
        .to_ascii_lowercase()
        .contains("content-encoding"));
    // A compressed stream delivers each event while the stream goes on.
    let mut follow = Command::new("curl")
        .args(["-sN", "--compressed", "-H", "Accept-Encoding: gzip"])
        .arg(format!("{}/records/{topic}?seekTo=50&format=sse", svc.url))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    Kcat::new().produce(&topic).partition(0).send(&["live one"]);
    let data = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the event arrived while the stream is open");
        if let Some(data) = line.strip_prefix("data: ") {
            break data.to_string();
        }
    };
    let record: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(record["value"], "live one");
    follow.kill().ok();
    follow.wait().ok();
}

#[tokio::test]
async fn a_quiet_sse_stream_sends_keep_alive_comments() {
    let topic = new_topic("keep-alive", 1).await;
    let svc = Service::start();
    let mut stream = svc
        .request(
            Method::GET,
            &format!("/records/{topic}?format=sse&timeout=17s"),
        )
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    while let Some(chunk) = stream.chunk().await.unwrap() {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(text.starts_with(": keep-alive\n\n"), "{text}");
    let end = events(&text);
    assert_eq!(end.len(), 1, "{text}");
    assert_eq!(end[0].event, "end");
    // The cursor of a read that found nothing resumes where it started.
    let cursor = end[0].data["next"].as_str().unwrap();
    Kcat::new().produce(&topic).partition(0).send(&["after"]);
    let (status, page) = svc
        .get(&format!("/records/{topic}?cursor={cursor}&timeout=5s"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        placed_all(page["records"].as_array().unwrap()),
        vec![(0, 0, "after".to_string())]
    );
}

/// A record that cannot be decoded as asked ends an NDJSON stream with the
/// error object as its last line, after the records before it, and the
/// connection is cut so that a reader cannot take it for the end; SSE ends
/// with an `error` event, then `end`.
#[tokio::test]
async fn a_record_that_cannot_be_decoded_ends_a_stream_with_the_error() {
    let topic = new_topic("stream-undecodable", 1).await;
    let svc = Service::start();
    let records: Vec<_> = [r#"{"a":1}"#, r#"{"a":2}"#, "not json"]
        .iter()
        .map(|v| json!({"topic": topic, "partition": 0, "value": v}))
        .collect();
    post_ok(&svc, records).await;
    let url = format!(
        "{}/records/{topic}?seekTo=0&valueDeserializer=json",
        svc.url
    );
    for encoding in ["identity", "gzip"] {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--compressed",
                "-H",
                &format!("Accept-Encoding: {encoding}"),
            ])
            .arg(format!("{url}&format=ndjson"))
            .output()
            .unwrap();
        // 18: the transfer was cut before the chunked body's end.
        assert_eq!(out.status.code(), Some(18), "{out:?}");
        let lines = ndjson(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(lines.len(), 3, "{encoding}: {lines:?}");
        assert_eq!(lines[0]["value"], json!({"a": 1}));
        assert_eq!(lines[1]["value"], json!({"a": 2}));
        assert_eq!(lines[2]["code"], 422, "{lines:?}");
        let message = lines[2]["message"].as_str().unwrap();
        for part in [topic.as_str(), "partition 0 offset 2", "valueDeserializer"] {
            assert!(message.contains(part), "{message}");
        }
    }
    let out = Command::new("curl")
        .args(["-sS", &format!("{url}&format=sse")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let events = events(&String::from_utf8_lossy(&out.stdout));
    let kinds: Vec<_> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(kinds, ["record", "record", "error", "end"], "{events:?}");
    assert_eq!(events[2].data["code"], 422);
}

#[tokio::test]
async fn a_dump_loads_into_another_topic_with_the_same_records() {
    let from = new_topic_kept("dump-from", 3).await;
    let to = new_topic_kept("dump-to", 3).await;
    let svc = Service::start();
    // Keys and values null or not, text and binary, headers duplicated and
    // null, explicit timestamps, every partition.
    let records: Vec<Value> = (0..60)
        .map(|i| {
            json!({
                "topic": from,
                "partition": i % 3,
                "keySerializer": "bytearray",
                "valueSerializer": "bytearray",
                "key": if i % 7 == 0 { Value::Null } else { json!(base64(&format!("key-{i}"))) },
                "value": if i % 11 == 0 { Value::Null } else { json!(base64(&format!("\u{0}\u{1}value {i} \u{ff}"))) },
                "timestamp": 1_600_000_000_000i64 + i * 7,
                "headers": [
                    {"key": "h", "value": base64(&format!("{i}"))},
                    {"key": "h", "value": null},
                    {"key": "other", "value": base64("x")}
                ]
            })
        })
        .collect();
    post_ok(&svc, records).await;
    Kcat::new()
        .produce(&from)
        .partition(2)
        .header("via=kcat")
        .send(&["from kcat"]);
    // As a user would: one curl dumps, another loads.
    let script = format!(
        "set -o pipefail; curl -sf '{url}/records/{from}?distanceFromBeginning=0&untilTimestamp=99999999999999&format=ndjson&keyDeserializer=bytearray&valueDeserializer=bytearray' \
         | curl -sf -X POST -H 'Content-Type: application/x-ndjson' --data-binary @- '{url}/records?topic={to}&keySerializer=bytearray&valueSerializer=bytearray'",
        url = svc.url
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["records"], 61, "{answer}");
    let original = Kcat::new().read(&from).records();
    let loaded = Kcat::new().read(&to).records();
    assert_eq!(loaded.len(), original.len());
    for (a, b) in original.iter().zip(&loaded) {
        assert_eq!(
            (
                a.partition,
                a.offset,
                a.timestamp,
                &a.key,
                &a.value,
                &a.headers
            ),
            (
                b.partition,
                b.offset,
                b.timestamp,
                &b.key,
                &b.value,
                &b.headers
            ),
        );
    }
    // kcat shows headers as text: the service's own view has their bytes.
    let dumped = dump(
        &svc,
        &from,
        "&keyDeserializer=bytearray&valueDeserializer=bytearray",
    )
    .await;
    let reloaded = dump(
        &svc,
        &to,
        "&keyDeserializer=bytearray&valueDeserializer=bytearray",
    )
    .await;
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("topic");
        v
    };
    assert_eq!(
        dumped.into_iter().map(strip).collect::<Vec<_>>(),
        reloaded.into_iter().map(strip).collect::<Vec<_>>()
    );
}

fn base64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}
