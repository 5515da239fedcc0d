//! Broker faults around single requests: Kafka down when the service starts,
//! the partition leader killed (SIGKILL) while a GET waits or reads, and while
//! a transaction is half written. Each test runs a cluster of its own
//! (`scripts/kafka.sh`), one at a time; `tests/chaos.rs` keeps writers busy
//! through repeated faults.
mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::*;
use kafka_records::kafka::{Cluster, OffsetQuery};
use serde_json::{json, Value};

/// One cluster of these tests at a time: each broker is a JVM.
static ONE_CLUSTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The requests below give Kafka 30 s; failing within this tells "fails at
/// once" from "waits for its timeout" with a wide margin on any machine.
const FAST: Duration = Duration::from_secs(10);

async fn timed<T>(f: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let out = f.await;
    (out, started.elapsed())
}

fn admin(cluster: &OwnCluster) -> Cluster {
    kafka_client(&cluster.bootstrap)
}

#[tokio::test]
async fn with_kafka_down_at_start_requests_fail_fast_and_all_recover_once_it_is_up() {
    let _turn = ONE_CLUSTER.lock().await;
    let cluster = OwnCluster::start("faults-down", 1, &[]);
    let addr = cluster.addr(1).to_string();
    cluster.kill(1);
    let svc = Service::on(&cluster.bootstrap).start();
    let topic = unique_topic("down");
    let group = unique_topic("down-group");

    let (status, _) = svc.get("/healthy").await;
    assert_eq!(status, 204, "the process serves whatever Kafka does");
    let (status, body) = svc.get("/ready").await;
    assert_error(status, &body, 503, &["not ready", "unreachable", &addr]);

    let plain = json!({"timeout": "30s", "records": [{"topic": topic, "value": "a"}]});
    let ((status, body), took) = timed(svc.post(plain.clone())).await;
    assert_error(status, &body, 503, &["unreachable", &addr]);
    assert_eq!(body["results"][0]["error"]["code"], 503, "{body}");
    assert!(took < FAST, "POST took {took:?}");

    let txn = json!({"transactionId": unique_topic("down-txn"), "timeout": "30s",
                     "records": [{"topic": topic, "value": "t"}]});
    let ((status, body), took) = timed(svc.post(txn.clone())).await;
    assert_error(
        status,
        &body,
        503,
        &["none of its records was written", "unreachable"],
    );
    assert!(took < FAST, "transactional POST took {took:?}");

    for path in [
        format!("/records/{topic}?timeout=30s"),
        format!("/records/{topic}?partition=0&seekTo=0&timeout=30s"),
        format!("/records/{topic}?groupId={group}&timeout=30s"),
    ] {
        let ((status, body), took) = timed(svc.get(&path)).await;
        assert_error(status, &body, 503, &["unreachable", &addr]);
        assert!(took < FAST, "GET {path} took {took:?}");
    }
    // DELETE waits up to 30 s for Kafka of its own accord.
    let ((status, body), took) = timed(svc.delete(&format!("/records/{topic}"))).await;
    assert_error(status, &body, 503, &["unreachable", &addr]);
    assert!(took < FAST, "DELETE took {took:?}");

    // The broker comes back on the same address: the same process recovers.
    cluster.restart(1);
    let started = Instant::now();
    loop {
        let (status, body) = svc.get("/ready").await;
        if status == 204 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "/ready still {status} a minute after the broker is back: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body) = svc.post(plain).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = svc.post(txn).await;
    assert_eq!(status, 200, "{body}");
    let values: Vec<Value> = read(
        &svc,
        // The group coordinator of a restarted broker may still be loading.
        &format!("/records/{topic}?groupId={group}&distanceFromBeginning=0&limit=10&timeout=60s"),
    )
    .await
    .iter()
    .map(|r| r["value"].clone())
    .collect();
    assert_eq!(values, vec![json!("a"), json!("t")]);
    let (status, body) = svc.delete(&format!("/records/{topic}")).await;
    assert_eq!(status, 200, "{body}");
    // Two records and the transaction's commit marker are below the new start.
    assert_eq!(
        body,
        json!({"partitions": [{"partition": 0, "lowWatermark": 3}]})
    );
}

/// Replicas on nodes 1, 2 and 3 for partition 0 (led by node 1), then led by
/// 2 and 3: node 1 is the broker these tests kill.
const LED_BY_1_2_3: &str = "1:2:3,2:3:1,3:1:2";
const VICTIM: i32 = 1;

/// A GET that long-polls a partition and a GET paging a consumer group
/// through a backlog are both under way when the leader is killed.
#[tokio::test]
async fn reads_carry_on_when_the_partition_leader_dies_mid_request() {
    let _turn = ONE_CLUSTER.lock().await;
    let cluster = OwnCluster::start("faults-get", 3, &FAILOVER_CONFIGS);
    let admin = admin(&cluster);
    let polled = unique_topic("faults-poll");
    let backlog = unique_topic("faults-backlog");
    cluster
        .create_topic_assigned(&polled, "1:2:3", &["min.insync.replicas=2"])
        .await;
    cluster
        .create_topic_assigned(&backlog, LED_BY_1_2_3, &["min.insync.replicas=2"])
        .await;
    const BACKLOG: usize = 20_000;
    let lines: Vec<String> = (0..BACKLOG).map(|i| format!("b{i}")).collect();
    let kcat = Kcat::on(&cluster.bootstrap);
    kcat.produce(&backlog).send(&lines);
    let stored = kcat.read(&backlog).records();
    assert_eq!(stored.len(), BACKLOG);
    let svc = Service::on(&cluster.bootstrap).start();

    // A group whose coordinator is the broker killed, so that its commits
    // move too. Kafka's offsets log is created first, outside what is measured.
    warm_up_coordinators(&cluster.bootstrap).await;
    let mut group = String::new();
    for i in 0.. {
        group = format!("faults-reader-{i}");
        if cluster.group_coordinator(&group).await == VICTIM {
            break;
        }
    }

    let poll = svc.spawn_get(&format!(
        "/records/{polled}?partition=0&limit=3&timeout=60s"
    ));
    // Let the long poll reach its wait on the broker.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (first_page, paged) = tokio::sync::oneshot::channel();
    let reader = tokio::spawn(page_through_group(
        svc.client(),
        admin.clone(),
        backlog.clone(),
        group.clone(),
        BACKLOG,
        first_page,
    ));
    // Kill the leader once the reader is a page into the backlog.
    paged.await.expect("the reader read a first page");
    cluster.kill(VICTIM);
    let killed = Instant::now();

    // The long poll follows the partition to its new leader.
    let new_leader = cluster.leader_moved(&polled, 0, VICTIM).await;
    Kcat::on(&cluster.live())
        .produce(&polled)
        .partition(0)
        .send(&["p0", "p1", "p2"]);
    let (status, body) = poll.await.expect("long poll");
    assert_eq!(status, 200, "{body}");
    // The poll answers once it has a record and the partition is read to
    // its end; kcat may send p0 in a batch of its own while it finds the new
    // leader, so the poll holds p0 and perhaps more, and a read from where it
    // stopped gives the rest.
    let mut values: Vec<Value> = body["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["value"].clone())
        .collect();
    assert!(!values.is_empty() && values[0] == json!("p0"), "{body}");
    if values.len() < 3 {
        let (status, rest) = svc
            .get(&format!(
                "/records/{polled}?partition=0&seekTo={}&limit={}&timeout=10s",
                body["records"][values.len() - 1]["offset"]
                    .as_i64()
                    .expect("offset")
                    + 1,
                3 - values.len()
            ))
            .await;
        assert_eq!(status, 200, "{rest}");
        values.extend(
            rest["records"]
                .as_array()
                .expect("records")
                .iter()
                .map(|r| r["value"].clone()),
        );
    }
    assert_eq!(values, [json!("p0"), json!("p1"), json!("p2")], "{body}");
    eprintln!(
        "long poll: leader {VICTIM} killed, node {new_leader} took over, the GET returned the new records {:?} after the kill",
        killed.elapsed()
    );

    // The group reader got every record exactly once, and every commit
    // matched what its response returned (checked page by page).
    let pages = reader.await.expect("reader");
    eprintln!(
        "group read: {} pages answered, {} failed",
        pages.answered,
        pages.failed.len(),
    );
    let at = |t: Instant| {
        let s = if t >= killed {
            (t - killed).as_secs_f64()
        } else {
            -(killed - t).as_secs_f64()
        };
        format!("{s:+.1}s")
    };
    for (started, ended, outcome) in &pages.timeline {
        eprintln!(
            "  page {} to {} (from the kill): {outcome}",
            at(*started),
            at(*ended)
        );
    }
    let mut got = pages.records.clone();
    got.sort();
    let mut want: Vec<(i32, i64, String)> = stored.iter().map(KcatRecord::placed).collect();
    want.sort();
    assert_eq!(
        got.len(),
        want.len(),
        "records returned to the group reader"
    );
    assert!(
        got == want,
        "the group reader's records differ from the log"
    );
}

/// What a group reader saw.
struct Pages {
    answered: usize,
    failed: Vec<String>,
    records: Vec<(i32, i64, String)>,
    /// Each page: when it started and ended, and what came of it.
    timeline: Vec<(Instant, Instant, String)>,
}

/// Pages through `topic` with consumer group `group` until `want` records
/// came back (or 3 minutes pass), checking after each page, with the
/// group's committed offsets read back from Kafka, that an answered page
/// committed exactly past its last record in each partition (and that its
/// records start where the group stood), and that a failed page committed
/// nothing.
async fn page_through_group(
    svc: Client,
    admin: Cluster,
    topic: String,
    group: String,
    want: usize,
    first_page: tokio::sync::oneshot::Sender<()>,
) -> Pages {
    let partitions = [0, 1, 2];
    let mut first_page = Some(first_page);
    let mut pages = Pages {
        answered: 0,
        failed: Vec::new(),
        records: Vec::new(),
        timeline: Vec::new(),
    };
    let mut committed = committed(&admin, &group, &topic, &partitions).await;
    let started = Instant::now();
    while pages.records.len() < want {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the group read did not finish: {} of {want} records",
            pages.records.len()
        );
        let seek = if pages.answered == 0 {
            "&distanceFromBeginning=0"
        } else {
            ""
        };
        let page_started = Instant::now();
        let path = format!("/records/{topic}?groupId={group}&limit=500&timeout=3s{seek}");
        let page = try_read(&svc, &path).await;
        let page_ended = Instant::now();
        let after = self::committed(&admin, &group, &topic, &partitions).await;
        let outcome = match &page {
            Ok(records) => format!("{} records", records.len()),
            Err(e) => e.chars().take(160).collect(),
        };
        pages.timeline.push((page_started, page_ended, outcome));
        match page {
            Ok(records) => {
                pages.answered += 1;
                for p in partitions {
                    let offsets: Vec<i64> = records
                        .iter()
                        .filter(|r| r["partition"] == p)
                        .map(|r| r["offset"].as_i64().unwrap())
                        .collect();
                    let from = committed[p as usize].unwrap_or(0);
                    match offsets.last() {
                        Some(last) => {
                            let expected: Vec<i64> = (from..=*last).collect();
                            assert_eq!(offsets, expected, "partition {p}: the page must resume where the group stood, without gaps");
                            assert_eq!(after[p as usize], Some(last + 1), "partition {p}: the commit must be just past the last record returned");
                        }
                        None => assert_eq!(
                            after[p as usize],
                            Some(from),
                            "partition {p}: nothing returned, nothing skipped"
                        ),
                    }
                }
                pages.records.extend(records.iter().map(placed));
            }
            Err(e) => {
                assert_eq!(
                    after, committed,
                    "a read that failed ({e}) must not move the group"
                );
                pages.failed.push(e);
            }
        }
        committed = after;
        if let Some(tx) = first_page.take() {
            let _ = tx.send(());
        }
    }
    pages
}

/// The group's committed offsets, asked until the coordinator answers.
async fn committed(
    admin: &Cluster,
    group: &str,
    topic: &str,
    partitions: &[i32],
) -> Vec<Option<i64>> {
    let started = Instant::now();
    loop {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        match admin
            .committed_offsets(group, topic, partitions, deadline)
            .await
        {
            Ok(offsets) => return offsets.into_iter().map(|(_, o)| o).collect(),
            Err(e) => assert!(
                started.elapsed() < Duration::from_secs(120),
                "committed offsets of {group}: {e}"
            ),
        }
    }
}

/// Two transactions are being written when node 1 dies: node 1 leads a
/// partition the first writes to, and coordinates the second. Each ends all
/// or nothing for read_committed readers, never in part.
#[tokio::test]
async fn a_transaction_whose_leader_or_coordinator_dies_mid_way_is_all_or_nothing() {
    let _turn = ONE_CLUSTER.lock().await;
    let cluster = OwnCluster::start("faults-txn", 3, &FAILOVER_CONFIGS);
    let admin = admin(&cluster);
    let topic = unique_topic("faults-txn");
    cluster
        .create_topic_assigned(&topic, LED_BY_1_2_3, &["min.insync.replicas=2"])
        .await;
    let svc = Service::on(&cluster.bootstrap).start();
    // The first transaction creates the transaction log: on a fresh cluster
    // that, and the first commit markers, can take longer than the default
    // 5 s timeout on a loaded machine.
    let (status, body) = svc
        .post(json!({"transactionId": "faults-warm-up", "timeout": "60s", "records": [{"topic": topic, "partition": 1, "value": "w"}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    let mut leader_killed = String::new();
    for i in 0.. {
        leader_killed = format!("faults-txn-leader-{i}");
        if cluster.transaction_coordinator(&leader_killed).await != VICTIM {
            break;
        }
    }
    let mut coordinator_killed = String::new();
    for i in 0.. {
        coordinator_killed = format!("faults-txn-coordinator-{i}");
        if cluster.transaction_coordinator(&coordinator_killed).await == VICTIM {
            break;
        }
    }

    // Big enough to take several produce rounds per partition.
    const PER_PARTITION: usize = 1500;
    let pad = "x".repeat(1000);
    let body = |id: &str, tag: &str, partitions: &[i32]| {
        let records: Vec<Value> = partitions
            .iter()
            .flat_map(|p| {
                (0..PER_PARTITION).map(move |i| (p, i))
            })
            .map(|(p, i)| json!({"topic": topic, "partition": p, "value": format!("{tag}-{p}-{i}-{pad}")}))
            .collect();
        json!({"transactionId": id, "timeout": "20s", "records": records})
    };
    let a = body(&leader_killed, "A", &[0, 1, 2]);
    let b = body(&coordinator_killed, "B", &[1, 2]);
    let before = high_watermark(&admin, &topic, 0).await;
    let post = |body: Value| {
        let svc = svc.client();
        tokio::spawn(async move {
            let (status, body) = svc.post(body).await;
            assert!(!body.is_null(), "{status} without a JSON answer");
            (status, body, Instant::now())
        })
    };
    let (a, b) = (post(a), post(b));
    // Kill node 1 once the first transaction's records reach it.
    let started = Instant::now();
    while high_watermark(&admin, &topic, 0).await == before {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the transaction never reached partition 0"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cluster.kill(VICTIM);
    let killed = Instant::now();
    let (a, b) = (a.await.unwrap(), b.await.unwrap());

    // Wait until no transaction is open any more (the coordinator aborts an
    // abandoned one at its timeout), then read what read_committed shows.
    wait_for_open_transactions(&admin, &topic, &[0, 1, 2], Duration::from_secs(120)).await;
    let kcat = Kcat::on(&cluster.live());
    let committed = kcat.read(&topic).records();
    let uncommitted = kcat.read(&topic).uncommitted().records();
    let via_get = read_via_get(&svc, &topic, 3).await;
    let count = |records: &[KcatRecord], tag: &str| {
        records
            .iter()
            .filter(|r| {
                r.value
                    .as_deref()
                    .is_some_and(|v| v.starts_with(tag.as_bytes()))
            })
            .count()
    };
    for ((status, body, ended), tag, total) in
        [(a, "A-", 3 * PER_PARTITION), (b, "B-", 2 * PER_PARTITION)]
    {
        let visible = count(&committed, tag);
        let via_get = via_get
            .iter()
            .filter(|(_, _, v)| v.starts_with(tag))
            .count();
        let message = body["message"].as_str().unwrap_or("");
        eprintln!(
            "transaction {tag}: {status} {}, ended {} the kill; {visible} of {total} records visible, {} in the log (read_uncommitted)",
            message.chars().take(160).collect::<String>(),
            if ended > killed { "after" } else { "before" },
            count(&uncommitted, tag)
        );
        assert_eq!(via_get, visible, "{tag}: GET and kcat must agree");
        let all_written = body["results"]
            .as_array()
            .is_some_and(|rs| rs.iter().all(|r| r.get("offset").is_some()));
        if status == 200 || all_written {
            // A 504 whose records all have an offset committed, but was not
            // yet visible to read_committed readers when the timeout passed.
            assert_eq!(
                visible, total,
                "{tag}: a committed transaction shows every record"
            );
        } else if body["results"].as_array().is_some_and(|rs| {
            rs.iter().all(|r| {
                r["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("may or may not have committed"))
            })
        }) {
            assert!(
                visible == 0 || visible == total,
                "{tag}: {visible} of {total} records visible: a transaction is never partial"
            );
        } else {
            // Aborted, or not committed with its abort unconfirmed.
            assert!(message.contains("none of the"), "{tag}: {body}");
            assert_eq!(visible, 0, "{tag}: an aborted transaction shows nothing");
        }
    }
}

async fn high_watermark(admin: &Cluster, topic: &str, partition: i32) -> i64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let offsets = admin
        .list_offsets(topic, &[partition], OffsetQuery::HighWatermark, deadline)
        .await;
    match &offsets[..] {
        [(_, Ok(Some(o)))] => *o,
        other => panic!("high watermark of {topic}/{partition}: {other:?}"),
    }
}
