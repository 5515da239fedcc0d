//! Partial outages and changing topics: one offline partition affects only
//! itself (a 3-broker cluster of the test's own, replication factor 1, one
//! broker killed), partitions added to a topic are used at once, and a topic
//! name that collides with an existing one fails at once.
//!
//! No assertion times a request: one that waits for what is unavailable
//! ends at its timeout with a 504 saying so, which the statuses and bodies
//! checked below tell apart from an answer that did not wait.
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// The broker killed: it alone leads partition 2 of the topic.
const VICTIM: i32 = 3;
/// Partition 0 on node 1, 1 on node 2, 2 on node 3, one replica each.
const ONE_EACH: &str = "1,2,3";
const OFFLINE: i64 = 2;

/// The partitions named in an `unavailablePartitions` list, each with a reason.
fn unavailable(body: &Value) -> Vec<i64> {
    body["unavailablePartitions"]
        .as_array()
        .unwrap_or_else(|| panic!("no unavailablePartitions: {body}"))
        .iter()
        .map(|u| {
            assert!(
                u["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "no reason: {body}"
            );
            u["partition"].as_i64().expect("partition")
        })
        .collect()
}

#[tokio::test]
async fn one_offline_partition_affects_only_itself() {
    // The killed broker stays registered (named as partition 2's leader) for
    // 20 s, then Kafka fences it and names no leader: both are tried. Group
    // offsets have one replica too, so that commits to a coordinator that
    // stays up never wait for the killed broker to leave the in-sync set.
    let cluster = OwnCluster::start(
        "outages-one",
        3,
        &[
            "broker.heartbeat.interval.ms=1000",
            "broker.session.timeout.ms=20000",
            "offsets.topic.num.partitions=6",
            "offsets.topic.replication.factor=1",
        ],
    );
    let topic = unique_topic("outages-one");
    cluster.create_topic_assigned(&topic, ONE_EACH, &[]).await;
    let svc = Service::on(&cluster.bootstrap).start();

    // A group coordinated by a broker that stays up; its first GET creates
    // the offsets topic while every broker is.
    let warm_up = format!("/records/{topic}?groupId=warm-up&timeout=1s");
    let started = Instant::now();
    while let Err(e) = try_read(&svc, &warm_up).await {
        assert!(started.elapsed() < Duration::from_secs(120), "{e}");
    }
    let mut group = String::new();
    for i in 0.. {
        group = format!("outages-reader-{i}");
        if cluster.group_coordinator(&group).await != VICTIM {
            break;
        }
    }
    // Records that stay in partition 2 through the outage.
    for p in 0..3 {
        post_ok(
            &svc,
            vec![json!({"topic": topic, "partition": p, "value": format!("kept-{p}")})],
        )
        .await;
    }
    read(
        &svc,
        &format!("/records/{topic}?groupId={group}&distanceFromBeginning=0&limit=100"),
    )
    .await;

    // Describing the topic asks each of its three leaders for the offsets
    // of every partition it leads: three ListOffsets each (log start, high
    // watermark, last stable offset), where one broker took three.
    svc.get(&format!("/topics/{topic}")).await;
    let ((status, body), sent) = svc
        .kafka_requests_during(svc.get(&format!("/topics/{topic}")))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sent.get("ListOffsets"), Some(&9), "{sent:?}");
    assert_eq!(sent.get("Metadata"), Some(&1), "{sent:?}");

    cluster.kill(VICTIM);
    // Let the service's connections to it notice the crash.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let named = cluster
        .partitions(Some(&topic))
        .into_iter()
        .find(|p| p.partition == OFFLINE as i32)
        .map(|p| p.leader);
    eprintln!("after the kill, metadata names leader {named:?} for partition {OFFLINE}");
    check_one_partition_offline(&svc, &topic, &group, "leader unreachable").await;

    // Once Kafka fences the broker, it names no leader for partition 2.
    eventually(Duration::from_secs(120), || {
        cluster
            .partitions(Some(&topic))
            .into_iter()
            .find(|p| p.partition == OFFLINE as i32 && p.leader < 0)
    })
    .await;
    // The topic's description says so as kcat's metadata does: no leader,
    // its one replica offline, the other partitions led as before.
    let listed = cluster.partitions(Some(&topic));
    let (status, described) = svc.get(&format!("/topics/{topic}")).await;
    assert_eq!(status, 200, "{described}");
    for p in &listed {
        let ours = &described["partitions"][p.partition as usize];
        let leader = (p.leader >= 0).then_some(p.leader);
        assert_eq!(ours["leader"], json!(leader), "{ours} against {p:?}");
        assert_eq!(ours["replicas"], json!(p.replicas), "{ours} against {p:?}");
        let offline = if p.partition == OFFLINE as i32 {
            json!([VICTIM])
        } else {
            json!([])
        };
        assert_eq!(ours["offline"], offline, "{ours}");
    }
    check_one_partition_offline(&svc, &topic, &group, "no leader").await;

    // Back: partition 2 kept its records, and everything works again.
    cluster.restart(VICTIM);
    cluster.leader(&topic, OFFLINE as i32).await;
    let records = eventually_read(
        &svc,
        &format!("/records/{topic}?partition={OFFLINE}&seekTo=0&limit=10"),
    )
    .await;
    assert_eq!(records[0]["value"], "kept-2", "{records:?}");
    let body = post_ok(
        &svc,
        vec![json!({"topic": topic, "partition": OFFLINE, "value": "back"})],
    )
    .await;
    assert_eq!(body["results"][0]["partition"], OFFLINE);
    let (status, body) = svc
        .get(&format!(
            "/records/{topic}?distanceFromBeginning=0&limit=100"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("unavailablePartitions").is_none(), "{body}");
    let (status, body) = svc.delete(&format!("/records/{topic}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["partitions"].as_array().unwrap().len(), 3, "{body}");
}

/// GET until it answers 200 (the restarted broker takes a moment to serve).
async fn eventually_read(svc: &Client, path: &str) -> Vec<Value> {
    let started = Instant::now();
    loop {
        match try_read(svc, path).await {
            Ok(records) if !records.is_empty() => return records,
            other => assert!(
                started.elapsed() < Duration::from_secs(60),
                "{path} still fails: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every request on `topic` while partition 2 is offline (`phase` says how):
/// none waits for it, the other partitions are served, and partition 2 is
/// named where it was left out.
async fn check_one_partition_offline(svc: &Client, topic: &str, group: &str, phase: &str) {
    eprintln!("partition {OFFLINE} offline ({phase})");
    let topic = topic.to_string();

    // Writes to the other partitions succeed; the offline one's fail on
    // their own, saying nothing was sent.
    let records: Vec<Value> = (0..3)
        .map(|p| json!({"topic": topic, "partition": p, "value": format!("{phase} {p}")}))
        .collect();
    let (status, body) = svc
        .post(json!({"timeout": "30s", "records": records}))
        .await;
    assert_error(status, &body, 503, &[]);
    let results = body["results"].as_array().expect("results");
    for (p, written) in results.iter().take(2).enumerate() {
        assert_eq!(written["partition"], p as i64, "{body}");
        assert!(written["offset"].is_i64(), "{phase}: {body}");
    }
    let failed = &results[OFFLINE as usize];
    assert_eq!(failed["partition"], OFFLINE, "{body}");
    assert_eq!(failed["error"]["code"], 503, "{body}");
    let message = failed["error"]["message"].as_str().expect("message");
    for needle in ["partition 2", "unavailable", "not sent"] {
        assert!(
            message.contains(needle),
            "{phase}: {needle:?} not in {message}"
        );
    }
    assert!(!message.contains("may or may not"), "{message}");

    // Records without key or partition go to the partitions with a leader,
    // as the Java producer's sticky partitioner does: every POST succeeds.
    for i in 0..10 {
        let records: Vec<Value> = (0..3)
            .map(|n| json!({"topic": topic, "value": format!("{phase} keyless {i}.{n}")}))
            .collect();
        let (status, body) = svc
            .post(json!({"timeout": "30s", "records": records}))
            .await;
        assert_eq!(status, 200, "{phase}: keyless POST {i}: {body}");
        for r in body["results"].as_array().unwrap() {
            assert_ne!(r["partition"], OFFLINE, "{body}");
        }
    }

    // A read of a live partition is served; of the offline one, refused at once.
    let path = format!("/records/{topic}?partition=1&seekTo=0&limit=100&timeout=30s");
    let (status, body) = svc.get(&path).await;
    assert_eq!(status, 200, "{phase}: {body}");
    assert!(!body["records"].as_array().unwrap().is_empty(), "{body}");
    let path = format!("/records/{topic}?partition={OFFLINE}&seekTo=0&timeout=30s");
    let (status, body) = svc.get(&path).await;
    assert_error(status, &body, 503, &["partition 2", "unavailable"]);

    // A read of every partition answers with what is there, naming the
    // partition it could not read.
    let path = format!("/records/{topic}?distanceFromBeginning=0&limit=1000&timeout=30s");
    let (status, body) = svc.get(&path).await;
    assert_eq!(status, 200, "{phase}: {body}");
    assert_eq!(unavailable(&body), [OFFLINE], "{body}");
    let by_partition = count_by_partition(&body);
    assert!(
        by_partition.contains_key(&0) && by_partition.contains_key(&1),
        "{body}"
    );
    assert!(!by_partition.contains_key(&OFFLINE), "{body}");

    // So does a group's read, which commits only what it returned.
    let path = format!("/records/{topic}?groupId={group}&limit=1000&timeout=30s");
    let (status, body) = svc.get(&path).await;
    assert_eq!(status, 200, "{phase}: {body}");
    assert_eq!(unavailable(&body), [OFFLINE], "{body}");
    assert!(!count_by_partition(&body).contains_key(&OFFLINE), "{body}");

    // Truncating the offline partition is refused at once; truncating every
    // partition truncates the others, and fails naming the offline one.
    let (status, body) = svc
        .delete(&format!("/records/{topic}?partition={OFFLINE}"))
        .await;
    assert_error(status, &body, 503, &["partition 2", "unavailable"]);
    let (status, body) = svc.delete(&format!("/records/{topic}")).await;
    assert_error(status, &body, 503, &["partition(s) 2", "only in part"]);
    assert_eq!(unavailable(&body), [OFFLINE], "{body}");
    let truncated: Vec<i64> = body["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| p["partition"].as_i64().unwrap())
        .collect();
    assert_eq!(truncated, [0, 1], "{body}");
    let left = read(
        svc,
        &format!("/records/{topic}?partition=0&seekTo=0&timeout=0s"),
    )
    .await;
    assert!(left.is_empty(), "{phase}: partition 0 still has {left:?}");
}

fn count_by_partition(body: &Value) -> BTreeMap<i64, usize> {
    let mut counts = BTreeMap::new();
    for r in body["records"].as_array().expect("records") {
        *counts.entry(r["partition"].as_i64().unwrap()).or_default() += 1;
    }
    counts
}

/// Adds partitions to `topic` with Kafka's own TopicCommand, on the test
/// broker, and waits until the broker lists them.
fn add_partitions(topic: &str, count: i32) {
    let status = kafka_tool(&[
        "org.apache.kafka.tools.TopicCommand",
        "--bootstrap-server",
        &bootstrap(),
        "--alter",
        "--topic",
        topic,
        "--partitions",
        &count.to_string(),
    ])
    .stdout(std::process::Stdio::null())
    .status()
    .expect("scripts/kafka.sh tool");
    assert!(status.success(), "adding partitions to {topic} failed");
}

#[tokio::test]
async fn partitions_added_to_a_topic_are_used_at_once() {
    let topic = new_topic("outages-grow", 1).await;
    // One service per check, each with the topic's one-partition metadata
    // cached before the partitions are added.
    let services: Vec<Service> = (0..5).map(|_| Service::start()).collect();
    let [reader, writer, deleter, keyed, truncator] = &services[..] else {
        unreachable!()
    };
    let keys: Vec<String> = (0..30).map(|i| format!("key-{i}")).collect();
    let keyed_records = |tag: &str| -> Vec<Value> {
        keys.iter()
            .map(|k| json!({"topic": topic, "key": k, "value": tag}))
            .collect()
    };
    for svc in [reader, writer, deleter, truncator] {
        read(svc, &format!("/records/{topic}?partition=0&timeout=0s")).await;
    }
    let body = post_ok(keyed, keyed_records("before")).await;
    for r in body["results"].as_array().unwrap() {
        assert_eq!(r["partition"], 0, "{body}");
    }
    let (status, body) = reader
        .get(&format!("/records/{topic}?partition=2&timeout=0s"))
        .await;
    assert_error(status, &body, 404, &["has no partition 2"]);

    add_partitions(&topic, 3);
    eventually(Duration::from_secs(30), || {
        (Kcat::new().metadata(Some(&topic)).partitions.len() == 3).then_some(())
    })
    .await;

    // A partition beyond the cached count is looked up again before a 404.
    let (status, body) = reader
        .get(&format!("/records/{topic}?partition=2&seekTo=0&timeout=0s"))
        .await;
    assert_eq!(status, 200, "GET of a new partition: {body}");
    let body = post_ok(
        writer,
        vec![json!({"topic": topic, "partition": 2, "value": "new"})],
    )
    .await;
    assert_eq!(body["results"][0]["partition"], 2, "{body}");
    let (status, body) = deleter
        .delete(&format!("/records/{topic}?partition=2"))
        .await;
    assert_eq!(status, 200, "DELETE of a new partition: {body}");
    assert_eq!(body["partitions"][0]["partition"], 2, "{body}");

    // Keyed records land where a Java producer with fresh metadata puts
    // them: murmur2 of the key modulo the new count (librdkafka's
    // murmur2_random partitioner is the Java client's).
    post_ok(keyed, keyed_records("service")).await;
    let lines: Vec<String> = keys.iter().map(|k| format!("{k}:kcat")).collect();
    Kcat::new()
        .set("partitioner=murmur2_random")
        .produce(&topic)
        .keyed()
        .send(&lines);
    let mut service: BTreeMap<Vec<u8>, i32> = BTreeMap::new();
    let mut java: BTreeMap<Vec<u8>, i32> = BTreeMap::new();
    for r in kcat_read(&topic) {
        let key = r.key.clone().unwrap_or_default();
        match r.value.as_deref() {
            Some(b"service") => service.insert(key, r.partition),
            Some(b"kcat") => java.insert(key, r.partition),
            _ => None,
        };
    }
    assert_eq!(service.len(), keys.len());
    assert_eq!(
        service, java,
        "keyed records placed with a stale partition count"
    );
    assert!(service.values().any(|p| *p != 0), "{service:?}");

    // Deleting every record of the topic covers the new partitions too.
    let (status, body) = truncator.delete(&format!("/records/{topic}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["partitions"].as_array().unwrap().len(), 3, "{body}");
}

#[tokio::test]
async fn a_topic_name_that_collides_with_an_existing_one_fails_at_once() {
    // Kafka refuses a name that differs from an existing one only by '.'
    // versus '_'; the broker's auto-creation fails without saying so.
    let existing = unique_topic("outages.collide");
    create_topic(&existing, 1, &[]).await;
    let colliding = existing.replace('.', "_");
    let svc = Service::start();

    let post = json!({"timeout": "30s", "records": [{"topic": colliding, "value": "v"}]});
    let (status, body) = svc.post(post).await;
    assert_error(status, &body, 409, &["collides", &existing]);
    assert_eq!(body["results"][0]["error"]["code"], 409, "{body}");
    assert!(!kcat_topic_exists(&colliding));

    // The same request to the existing topic is written.
    post_ok(&svc, vec![json!({"topic": existing, "value": "v"})]).await;
}
