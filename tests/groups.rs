//! GET /records/{topic} with a consumer group: where a group's read starts,
//! what it commits, and when it commits nothing. Committed offsets are always
//! checked through Kafka's own tools (ConsumerGroupCommand, ConsoleConsumer)
//! or kcat, never only through the service.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use kafka_records::kafka::{Cluster, ClusterConfig};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// --- where a group's read starts ---

#[tokio::test]
async fn without_a_seek_a_group_with_no_offsets_starts_at_the_end_and_commits_it() {
    let topic = new_topic("grp-fresh", 3).await;
    let group = unique_topic("g-fresh");
    let svc = Service::start();
    // Three old records in each partition: none of them may come back.
    let old = (0..3)
        .flat_map(|p| (0..3).map(move |n| (p, n)))
        .map(|(p, n)| json!({"topic": topic, "partition": p, "key": format!("old{n}")}))
        .collect();
    post_ok(&svc, old).await;

    let records = read_while_writing_to_partition_1(
        &svc,
        &topic,
        &format!("groupId={group}&limit=100&timeout=30s"),
    )
    .await;
    assert!(
        !records.is_empty(),
        "the GET returned none of the records written while it waited"
    );
    for r in &records {
        assert_eq!(r["partition"], json!(1), "{r}");
        assert!(
            r["key"].as_str().unwrap_or("").starts_with("live") && r["offset"].as_i64() >= Some(3),
            "a record written before the GET came back: {r}"
        );
    }
    let last = records.last().unwrap()["offset"].as_i64().unwrap();
    // Untouched partitions commit their end (3); partition 1 the offset after
    // the last record returned.
    assert_eq!(
        committed(&group, &topic),
        BTreeMap::from([(0, 3), (1, last + 1), (2, 3)])
    );
}

#[tokio::test]
async fn a_group_with_committed_offsets_starts_there() {
    let topic = new_topic("grp-resume", 2).await;
    let group = unique_topic("g-resume");
    let svc = Service::start();
    for p in 0..2 {
        let values: Vec<String> = (0..10).map(|n| format!("p{p}-{n}")).collect();
        kcat_produce(&topic, p, &values);
    }
    // Committed by Kafka's own tool, not by the service.
    reset_offsets(&group, &format!("{topic}:0"), 3);
    reset_offsets(&group, &format!("{topic}:1"), 6);
    assert_eq!(committed(&group, &topic), BTreeMap::from([(0, 3), (1, 6)]));

    let records = read(
        &svc,
        &format!("/records/{topic}?groupId={group}&limit=100&timeout=10s"),
    )
    .await;
    let expected: Vec<(i64, i64)> = (3..10)
        .map(|o| (0, o))
        .chain((6..10).map(|o| (1, o)))
        .collect();
    assert_eq!(offsets(&records), expected);
    assert_eq!(records[0]["value"], json!("p0-3"));
    assert_eq!(
        committed(&group, &topic),
        BTreeMap::from([(0, 10), (1, 10)])
    );
}

// --- paging ---

#[tokio::test]
async fn paging_with_a_group_returns_every_record_once_and_fairly() {
    let topic = new_topic("grp-paging", 3).await;
    let group = unique_topic("g-paging");
    let svc = Service::start();
    let records = (0..7)
        .flat_map(|n| (0..3).map(move |p| (p, n)))
        .map(|(p, n)| json!({"topic": topic, "partition": p, "key": format!("p{p}-{n}")}))
        .collect();
    post_ok(&svc, records).await;

    let mut seen: BTreeSet<(i64, i64)> = BTreeSet::new();
    let mut taken = [0usize; 3];
    for page in 0..10 {
        // The first page positions the group at the beginning: a seek with a
        // groupId still commits.
        let seek = if page == 0 {
            "distanceFromBeginning=0&"
        } else {
            ""
        };
        let records = read(
            &svc,
            &format!("/records/{topic}?{seek}groupId={group}&limit=4&timeout=1s"),
        )
        .await;
        let got = offsets(&records);
        assert!(got.len() <= 4, "page {page} holds {} records", got.len());
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(
            got, sorted,
            "page {page} is not ordered by partition, offset"
        );
        for (p, o) in got {
            assert!(seen.insert((p, o)), "page {page} repeats {p}/{o}");
            taken[p as usize] += 1;
        }
        if taken.iter().all(|t| *t < 7) {
            let spread = taken.iter().max().unwrap() - taken.iter().min().unwrap();
            assert!(spread <= 1, "uneven after page {page}: {taken:?}");
        }
    }
    let all: BTreeSet<(i64, i64)> = (0..3).flat_map(|p| (0..7).map(move |o| (p, o))).collect();
    assert_eq!(
        seen, all,
        "ten pages did not return every record exactly once"
    );
    assert_eq!(
        committed(&group, &topic),
        BTreeMap::from([(0, 7), (1, 7), (2, 7)])
    );
}

#[tokio::test]
async fn a_java_consumer_in_the_group_reads_exactly_what_the_service_left() {
    let topic = new_topic("grp-handover", 3).await;
    let group = unique_topic("g-handover");
    let svc = Service::start();
    let records = (0..5)
        .flat_map(|n| (0..3).map(move |p| (p, n)))
        .map(|(p, n)| json!({"topic": topic, "partition": p, "value": format!("p{p}-{n}")}))
        .collect();
    post_ok(&svc, records).await;

    let mut by_service = BTreeSet::new();
    for seek in ["distanceFromBeginning=0&", ""] {
        let records = read(
            &svc,
            &format!("/records/{topic}?{seek}groupId={group}&limit=4&timeout=1s"),
        )
        .await;
        assert_eq!(records.len(), 4, "{records:?}");
        by_service.extend(offsets(&records));
    }

    // --from-beginning is auto.offset.reset=earliest: a partition the service
    // did not commit would be read again from 0, not skipped.
    let out = run_kafka_tool(&[
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        "--bootstrap-server",
        &bootstrap(),
        "--topic",
        &topic,
        "--group",
        &group,
        "--from-beginning",
        "--max-messages",
        "7",
        "--timeout-ms",
        "30000",
        "--property",
        "print.partition=true",
        "--property",
        "print.offset=true",
    ]);
    let by_java: Vec<(i64, i64)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            let p = f.next()?.strip_prefix("Partition:")?.parse().ok()?;
            let o = f.next()?.strip_prefix("Offset:")?.parse().ok()?;
            Some((p, o))
        })
        .collect();
    let all: BTreeSet<(i64, i64)> = (0..3).flat_map(|p| (0..5).map(move |o| (p, o))).collect();
    let left: BTreeSet<(i64, i64)> = all.difference(&by_service).copied().collect();
    assert_eq!(
        by_java.iter().copied().collect::<BTreeSet<_>>(),
        left,
        "the Java consumer read {by_java:?} after the service returned {by_service:?}; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(by_java.len(), 7, "a record was read twice: {by_java:?}");
}

// --- when a group commits nothing ---

#[tokio::test]
async fn partition_with_a_group_id_commits_nothing() {
    let topic = new_topic("grp-partition", 2).await;
    let group = unique_topic("g-partition");
    let svc = Service::start();
    kcat_produce(&topic, 0, &["a", "b", "c"]);
    kcat_produce(&topic, 1, &["d", "e", "f"]);

    let records = read(
        &svc,
        &format!(
            "/records/{topic}?partition=1&groupId={group}&distanceFromBeginning=0&limit=2&timeout=10s"
        ),
    )
    .await;
    assert_eq!(offsets(&records), vec![(1, 0), (1, 1)]);
    assert_eq!(records[0]["value"], json!("d"));
    assert_eq!(committed(&group, &topic), BTreeMap::new());
}

#[tokio::test]
async fn partition_with_a_group_id_ignores_the_groups_offsets() {
    let topic = new_topic("grp-partition-end", 2).await;
    let group = unique_topic("g-partition-end");
    let svc = Service::start();
    kcat_produce(&topic, 1, &["old0", "old1", "old2"]);
    reset_offsets(&group, &format!("{topic}:1"), 0);

    // From the end, as without a group: not from the group's offset 0.
    let records = read_while_writing_to_partition_1(
        &svc,
        &topic,
        &format!("partition=1&groupId={group}&limit=100&timeout=30s"),
    )
    .await;
    assert!(
        !records.is_empty(),
        "the GET returned none of the records written while it waited"
    );
    for r in &records {
        assert!(
            r["key"].as_str().unwrap_or("").starts_with("live"),
            "a record from the group's offset came back: {r}"
        );
    }
    assert_eq!(committed(&group, &topic), BTreeMap::from([(1, 0)]));
}

#[tokio::test]
async fn an_undecodable_record_is_a_422_and_commits_nothing() {
    let topic = new_topic("grp-422", 1).await;
    let group = unique_topic("g-422");
    let svc = Service::start();
    kcat_produce(&topic, 0, &["abc"]);

    let (status, body) = svc
        .get(&format!(
            "/records/{topic}?groupId={group}&distanceFromBeginning=0&valueDeserializer=integer&timeout=10s"
        ))
        .await;
    assert_error(status, &body, 422, &[&topic, "offset 0"]);
    assert_eq!(committed(&group, &topic), BTreeMap::new());
}

#[tokio::test]
async fn a_group_with_live_members_is_a_409_and_nothing_is_committed() {
    let topic = new_topic("grp-live", 1).await;
    let group = unique_topic("g-live");
    let svc = Service::start();
    kcat_produce(&topic, 0, &["a", "b", "c", "d", "e"]);

    // A balanced kcat consumer: reads all five and commits 5 as a member.
    let _member = Kcat::new()
        .set("auto.offset.reset=earliest")
        .set("auto.commit.interval.ms=100")
        .join_group(&group, &topic);
    let before = eventually(Duration::from_secs(60), || {
        let d = describe(&group, &topic);
        (d.has_members && d.offsets.get(&0) == Some(&5)).then_some(d.offsets)
    })
    .await;

    // A seek so that a commit, had there been one, would write 2, not 5.
    let (status, body) = svc
        .get(&format!(
            "/records/{topic}?groupId={group}&distanceFromBeginning=0&limit=2&timeout=5s"
        ))
        .await;
    assert_error(status, &body, 409, &[&group]);
    assert_eq!(committed(&group, &topic), before);
}

#[tokio::test]
async fn a_group_with_live_members_of_the_consumer_protocol_is_a_409() {
    // KIP-848 groups (`group.protocol=consumer`): Kafka 4's default, a
    // preview that 3.8 and 3.9 brokers must enable (the cluster does), and
    // absent from 2.8, whose consumer joins with the classic protocol
    // instead. The service refuses the group either way, and says which
    // protocol it is.
    let cluster = ConsumerProtocolCluster::start("grp-live-848");
    let servers = cluster.bootstrap();
    let topic = unique_topic("grp-live-848");
    kafka_records::kafka::create_topic(&servers, &topic, 1, &[])
        .await
        .expect("creating the topic");
    let group = unique_topic("g-live-848");
    let svc = Service::on(&servers).start();
    Kcat::on(&servers)
        .produce(&topic)
        .partition(0)
        .send(&["a", "b", "c", "d", "e"]);

    let _member = Background::spawn(&mut kafka_tool(&[
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        "--bootstrap-server",
        &servers,
        "--topic",
        &topic,
        "--group",
        &group,
        "--from-beginning",
        "--consumer-property",
        "group.protocol=consumer",
        "--consumer-property",
        "auto.commit.interval.ms=100",
    ]));
    let before = eventually(Duration::from_secs(60), || {
        let d = describe_on(&servers, &group, &topic);
        (d.has_members && d.offsets.get(&0) == Some(&5)).then_some(d.offsets)
    })
    .await;
    let (status, view) = svc.get(&format!("/groups/{group}")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["type"], cluster.group_type(), "{view}");

    let (status, body) = try_get(
        &svc,
        &format!("/records/{topic}?groupId={group}&distanceFromBeginning=0&limit=2&timeout=5s"),
    )
    .await;
    let body = body.unwrap_or_else(|e| {
        panic!(
            "status {status}, then the response broke off ({e}): \
             the live members were only noticed by the commit"
        )
    });
    assert_error(status, &body, 409, &[&group]);
    assert_eq!(describe_on(&servers, &group, &topic).offsets, before);
}

#[tokio::test]
async fn a_response_the_client_never_receives_commits_nothing() {
    let topic = new_topic("grp-gone", 2).await;
    let gone = unique_topic("g-gone");
    let control = unique_topic("g-control");
    let svc = Service::start();
    kcat_produce(&topic, 0, &["a", "b", "c"]);
    kcat_produce(&topic, 1, &["d", "e", "f"]);

    // A client that asks, then goes away before any answer.
    let addr = svc.url.strip_prefix("http://").unwrap();
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(
            format!("GET /records/{topic}?groupId={gone}&timeout=10s HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let sent = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(socket);

    // The control: the same GET by a client that stays.
    let get = svc.spawn_get(&format!("/records/{topic}?groupId={control}&timeout=10s"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    post_ok(
        &svc,
        vec![json!({"topic": topic, "partition": 0, "value": "late"})],
    )
    .await;
    let (status, body) = get.await.expect("GET task");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        committed(&control, &topic),
        BTreeMap::from([(0, 4), (1, 3)])
    );

    // Past the gone request's own timeout, so it has ended whichever way.
    tokio::time::sleep((sent + Duration::from_secs(12)).saturating_duration_since(Instant::now()))
        .await;
    assert_eq!(
        committed(&gone, &topic),
        BTreeMap::new(),
        "the service committed for a client that never received the response"
    );
}

#[tokio::test]
async fn a_response_cut_off_midway_commits_nothing() {
    let topic = new_topic("grp-cut", 1).await;
    let cut = unique_topic("g-cut");
    let control = unique_topic("g-cut-control");
    let svc = Service::start();
    // About 20 MB of response: far more than the kernel buffers between a
    // client that stops reading and the service, so most of it is still to
    // be written when the client goes away.
    let values: Vec<String> = (0..2500)
        .map(|n| format!("{n:05}{}", "x".repeat(8000)))
        .collect();
    kcat_produce(&topic, 0, &values);
    let query = "distanceFromBeginning=0&limit=2500&timeout=30s";

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let addr = svc.url.strip_prefix("http://").unwrap().parse().unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream
        .write_all(
            format!(
                "GET /records/{topic}?groupId={cut}&{query} HTTP/1.1\r\nHost: localhost\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // Wait for the response to begin, then stop reading and go away.
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(30), stream.read_exact(&mut head))
        .await
        .expect("no response")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 200", "{}", String::from_utf8_lossy(&head));
    drop(stream);

    // The control: the same GET, read to its end.
    let records = read(&svc, &format!("/records/{topic}?groupId={control}&{query}")).await;
    assert_eq!(records.len(), 2500);
    assert_eq!(committed(&control, &topic), BTreeMap::from([(0, 2500)]));
    assert_eq!(
        committed(&cut, &topic),
        BTreeMap::new(),
        "the service committed a response the client stopped reading after its first bytes"
    );
}

#[tokio::test]
async fn a_group_response_is_complete_json_and_committed_once_read() {
    let topic = new_topic("grp-complete", 1).await;
    let group = unique_topic("g-complete");
    let svc = Service::start();
    // About 600 KB of response: many writes before the commit.
    let padding = "x".repeat(1000);
    let records = (0..1000)
        .map(|n| json!({"topic": topic, "partition": 0, "value": format!("{n:04}{padding}")}))
        .collect();
    post_ok(&svc, records).await;
    // The test's own Kafka connection, ready before the GET so that asking
    // for the group's offsets takes a round trip, not a connection set-up.
    let kafka = Cluster::new(ClusterConfig {
        bootstrap: vec![bootstrap()],
    });
    assert_eq!(fetch_committed(&kafka, &group, &topic).await, None);

    let r = svc
        .send(
            Method::GET,
            &format!(
                "/records/{topic}?groupId={group}&distanceFromBeginning=0&limit=600&timeout=10s"
            ),
        )
        .await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/json; charset=utf-8"
    );
    let bytes = r.bytes().await.expect("the whole response body");
    // Asked at once: the response ends only after the commit.
    let committed_at_once = fetch_committed(&kafka, &group, &topic).await;
    let body: Value = serde_json::from_slice(&bytes).expect("the body is one JSON document");
    let records = body["records"].as_array().unwrap();
    assert_eq!(
        offsets(records),
        (0..600).map(|o| (0, o)).collect::<Vec<_>>()
    );
    assert_eq!(
        records[599]["value"],
        json!(format!("0599{padding}")),
        "the last record is cut"
    );
    assert_eq!(
        committed_at_once,
        Some(600),
        "the response ended before its commit"
    );
    assert_eq!(committed(&group, &topic), BTreeMap::from([(0, 600)]));
}

// --- helpers ---

/// GETs `path`; the body as JSON, or why it could not be read in full.
async fn try_get(svc: &Service, path: &str) -> (u16, Result<Value, String>) {
    let r = svc.send(Method::GET, path).await;
    let status = r.status().as_u16();
    let body = match r.bytes().await {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}")),
        Err(e) => Err(format!("{e:?}")),
    };
    (status, body)
}

/// Starts a GET of `topic` with `query`, writing records `live0`, `live1`,
/// ... to partition 1 while it waits (see [`read_while_writing`]).
async fn read_while_writing_to_partition_1(svc: &Service, topic: &str, query: &str) -> Vec<Value> {
    read_while_writing(
        svc,
        &format!("/records/{topic}?{query}"),
        |n| json!({"topic": topic, "partition": 1, "key": format!("live{n}")}),
    )
    .await
}

/// The offset `group` committed for partition 0 of `topic`, asked over
/// `kafka` (an OffsetFetch of the test's own, far quicker than starting a
/// JVM, for checks that must come right after a response).
async fn fetch_committed(kafka: &Cluster, group: &str, topic: &str) -> Option<i64> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let offsets = kafka
        .committed_offsets(group, topic, &[0], deadline)
        .await
        .unwrap_or_else(|e| panic!("OffsetFetch for group {group}: {e}"));
    assert_eq!(offsets.len(), 1, "{offsets:?}");
    offsets[0].1
}

/// Runs one of Kafka's Java tools to completion.
fn run_kafka_tool(args: &[&str]) -> Output {
    kafka_tool(args)
        .stdin(Stdio::null())
        .output()
        .expect("scripts/kafka.sh tool")
}

/// A group as ConsumerGroupCommand describes it, for one topic.
struct GroupView {
    /// Committed offset per partition (partitions without one left out).
    offsets: BTreeMap<i32, i64>,
    /// Whether a member holds some partition.
    has_members: bool,
}

/// Describes `group` with Kafka's ConsumerGroupCommand: an unknown group has
/// no offsets and no members.
fn describe(group: &str, topic: &str) -> GroupView {
    describe_on(&bootstrap(), group, topic)
}

/// The same, on the cluster at `servers`.
fn describe_on(servers: &str, group: &str, topic: &str) -> GroupView {
    let out = run_kafka_tool(&[
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        "--bootstrap-server",
        servers,
        "--describe",
        // Its own 5 s are short for a first call on a busy machine, which
        // creates the offsets topic.
        "--timeout",
        "60000",
        "--group",
        group,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut view = GroupView {
        offsets: BTreeMap::new(),
        has_members: false,
    };
    // Kafka 3.9 and 4.x name the exception, 2.8 says it in words.
    let unknown = ["GroupIdNotFoundException", "does not exist"];
    if unknown
        .iter()
        .any(|u| stderr.contains(u) || stdout.contains(u))
    {
        return view;
    }
    assert!(
        stdout.contains("CURRENT-OFFSET") || stderr.contains("has no active members"),
        "unexpected ConsumerGroupCommand output:\n{stdout}\n{stderr}"
    );
    // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
    for line in stdout.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 7 || cols[0] != group || cols[1] != topic {
            continue;
        }
        let partition: i32 = cols[2].parse().unwrap();
        if let Ok(offset) = cols[3].parse() {
            view.offsets.insert(partition, offset);
        }
        view.has_members |= cols[6] != "-";
    }
    view
}

/// The offsets `group` has committed for `topic`, per partition.
fn committed(group: &str, topic: &str) -> BTreeMap<i32, i64> {
    describe(group, topic).offsets
}

/// Commits `offset` for `group` on `topic_partition` (`topic:p`) with
/// ConsumerGroupCommand --reset-offsets.
fn reset_offsets(group: &str, topic_partition: &str, offset: i64) {
    let out = run_kafka_tool(&[
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        "--bootstrap-server",
        &bootstrap(),
        "--reset-offsets",
        // Its own 5 s are short for a first call on a busy machine, which
        // creates the offsets topic.
        "--timeout",
        "60000",
        "--group",
        group,
        "--topic",
        topic_partition,
        "--to-offset",
        &offset.to_string(),
        "--execute",
    ]);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains(group),
        "resetting offsets failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
