//! `GET /topics`, `GET /topics/{topic}`, `POST /topics`, `DELETE /topics/{topic}`
//! against the real broker, each checked through an independent path: kcat's
//! metadata, Kafka's own `TopicCommand` and `GetOffsetShell`.

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// Runs one of Kafka's Java tools to completion; its stdout.
fn java_tool(args: &[&str]) -> String {
    let out = kafka_tool(args)
        .stdin(Stdio::null())
        .output()
        .expect("scripts/kafka.sh tool");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `GetOffsetShell --time T`: partition → offset.
fn offsets_by_java(topic: &str, time: &str) -> BTreeMap<i64, i64> {
    java_tool(&[
        "org.apache.kafka.tools.GetOffsetShell",
        "--bootstrap-server",
        &bootstrap(),
        "--topic",
        topic,
        "--time",
        time,
    ])
    .lines()
    .filter_map(|l| {
        let mut parts = l.trim().rsplitn(3, ':');
        let offset = parts.next()?.parse().ok()?;
        let partition = parts.next()?.parse().ok()?;
        Some((partition, offset))
    })
    .collect()
}

/// The `Configs:` of `TopicCommand --describe`, by name.
fn configs_by_java(topic: &str) -> BTreeMap<String, String> {
    let out = java_tool(&[
        "org.apache.kafka.tools.TopicCommand",
        "--bootstrap-server",
        &bootstrap(),
        "--describe",
        "--topic",
        topic,
    ]);
    let line = out
        .lines()
        .find(|l| l.contains("Configs:"))
        .unwrap_or_else(|| panic!("no Configs in {out}"));
    let configs = line.split("Configs:").nth(1).unwrap().trim();
    configs
        .split(',')
        .filter(|c| !c.is_empty())
        .map(|c| {
            let (k, v) = c.split_once('=').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect()
}

fn column(topic: &Value, field: &str) -> BTreeMap<i64, i64> {
    topic["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["partition"].as_i64().unwrap(), p[field].as_i64().unwrap()))
        .collect()
}

async fn create(svc: &Client, body: Value) -> (u16, Value) {
    let r = svc
        .request(Method::POST, "/topics")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_created_topic_is_described_as_kafkas_own_tools_see_it() {
    let svc = Service::start();
    let name = unique_topic("described");
    let (status, created) = create(
        &svc,
        json!({"name": name, "partitions": 3, "replicationFactor": 1,
               "configs": {"retention.ms": 86400000, "cleanup.policy": "delete"}}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], name.as_str());
    assert_eq!(created["partitions"].as_array().unwrap().len(), 3);

    // Usable at once: every partition takes a write right after the 201.
    let mut records = Vec::new();
    for p in 0..3 {
        for i in 0..=p {
            records.push(json!({"topic": name, "partition": p, "value": format!("v{i}")}));
        }
    }
    post_ok(&svc, records.clone()).await;
    let (status, _) = svc
        .delete(&format!("/records/{name}?partition=2&offset=1"))
        .await;
    assert_eq!(status, 200);

    let (status, topic) = svc.get(&format!("/topics/{name}")).await;
    assert_eq!(status, 200, "{topic}");
    assert_eq!(topic["internal"], false);
    // Offsets as GetOffsetShell finds them: the log start and the end.
    assert_eq!(column(&topic, "startOffset"), offsets_by_java(&name, "-2"));
    assert_eq!(column(&topic, "endOffset"), offsets_by_java(&name, "-1"));
    assert_eq!(
        column(&topic, "endOffset"),
        BTreeMap::from([(0, 1), (1, 2), (2, 3)])
    );
    assert_eq!(
        column(&topic, "lastStableOffset"),
        column(&topic, "endOffset")
    );
    // Leaders and replicas as kcat's metadata lists them.
    for p in Kcat::new().metadata(Some(&name)).partitions {
        let ours = &topic["partitions"][p.partition as usize];
        assert_eq!(ours["leader"], p.leader, "{ours}");
        assert_eq!(ours["replicas"], json!(p.replicas), "{ours}");
        assert_eq!(ours["isr"], json!(p.isr), "{ours}");
        assert_eq!(ours["offline"], json!([]), "{ours}");
        assert!(ours["leaderEpoch"].as_i64().unwrap() >= 0, "{ours}");
    }
    // Configs as TopicCommand lists them.
    let ours: BTreeMap<String, String> = topic["configs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    assert_eq!(ours, configs_by_java(&name));
    assert_eq!(ours["retention.ms"], "86400000");
    // The answer to the POST was the same topic.
    assert_eq!(created["configs"], topic["configs"]);
}

/// Kafka requests a describe sent, with the topic's distinct leader brokers.
async fn describe_counted(svc: &Client, topic: &str) -> (BTreeMap<String, u64>, usize) {
    let ((status, body), sent) = svc
        .kafka_requests_during(svc.get(&format!("/topics/{topic}")))
        .await;
    assert_eq!(status, 200, "{body}");
    let mut leaders: Vec<i64> = body["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["leader"].as_i64().unwrap())
        .collect();
    leaders.sort_unstable();
    leaders.dedup();
    (sent, leaders.len())
}

#[tokio::test]
async fn a_describe_asks_each_leader_broker_once_whatever_the_partition_count() {
    let small = new_topic("describe-1", 1).await;
    let large = new_topic("describe-64", 64).await;
    let svc = Service::start();
    // Connections opened (ApiVersions) by a first describe are not counted.
    describe_counted(&svc, &small).await;
    describe_counted(&svc, &large).await;

    let (one, one_leaders) = describe_counted(&svc, &small).await;
    let (many, many_leaders) = describe_counted(&svc, &large).await;
    for (sent, leaders) in [(&one, one_leaders), (&many, many_leaders)] {
        // The log start, the high watermark and the last stable offset of
        // every partition a broker leads: one request each, sent together.
        let expected = BTreeMap::from([
            ("DescribeConfigs".to_string(), 1),
            ("ListOffsets".to_string(), 3 * leaders as u64),
            ("Metadata".to_string(), 1),
        ]);
        assert_eq!(sent, &expected);
    }
    if one_leaders == many_leaders {
        assert_eq!(one, many, "64 partitions took more requests than 1");
    }
}

#[tokio::test]
async fn an_open_transaction_holds_the_last_stable_offset_below_the_end() {
    let topic = new_topic("topic-lso", 2).await;
    let svc = Service::start();
    let mut records = Vec::new();
    for (partition, count) in [(0, 3), (1, 2)] {
        for i in 0..count {
            records.push(json!({"topic": topic, "partition": partition, "value": format!("c{i}")}));
        }
    }
    post_ok(&svc, records).await;
    // Five records in a transaction on partition 0, written by Confluent's
    // client, acknowledged and left open until the test says so.
    let open = OpenTransaction::start(&topic, 5);

    let (status, described) = svc.get(&format!("/topics/{topic}")).await;
    assert_eq!(status, 200, "{described}");
    // The last stable offset is where a read_committed reader (kcat) stops:
    // the open transaction's first record on partition 0, the end on
    // partition 1, which the transaction did not touch. The ends are
    // GetOffsetShell's.
    let committed = Kcat::new().read(&topic).records();
    let visible = |p: i32| committed.iter().filter(|r| r.partition == p).count() as i64;
    assert_eq!((visible(0), visible(1)), (3, 2));
    assert_eq!(
        column(&described, "lastStableOffset"),
        BTreeMap::from([(0, 3), (1, 2)])
    );
    assert_eq!(
        column(&described, "endOffset"),
        offsets_by_java(&topic, "-1")
    );
    assert_eq!(
        column(&described, "endOffset"),
        BTreeMap::from([(0, 8), (1, 2)])
    );
    assert_eq!(
        column(&described, "startOffset"),
        BTreeMap::from([(0, 0), (1, 0)])
    );

    // Committed, the last stable offset passes the commit marker.
    open.commit();
    let (_, described) = svc.get(&format!("/topics/{topic}")).await;
    assert_eq!(
        column(&described, "lastStableOffset"),
        column(&described, "endOffset")
    );
    assert_eq!(column(&described, "endOffset")[&0], 9, "{described}");
}

#[tokio::test]
async fn topics_are_listed_by_name_and_internal_ones_on_request() {
    let svc = Service::start();
    let topic = new_topic("listed", 2).await;
    // A group commit makes sure Kafka's internal offsets topic exists (on a
    // fresh broker its creation can take a while).
    kafka_client(&bootstrap())
        .commit_offsets(
            &unique_topic("g"),
            &topic,
            &[(0, 0)],
            tokio::time::Instant::now() + Duration::from_secs(60),
        )
        .await
        .expect("a group commit");
    let (status, listed) = svc.get("/topics").await;
    assert_eq!(status, 200, "{listed}");
    let topics = listed["topics"].as_array().unwrap();
    let names: Vec<&str> = topics.iter().map(|t| t["name"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "not sorted by name");
    let ours = topics
        .iter()
        .find(|t| t["name"] == topic.as_str())
        .expect("created topic missing");
    assert_eq!(
        ours,
        &json!({"name": topic, "partitions": 2, "internal": false})
    );
    assert!(!names.contains(&"__consumer_offsets"));
    let (_, all) = svc.get("/topics?internal=true").await;
    let internal = all["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "__consumer_offsets")
        .expect("internal topic missing");
    assert_eq!(internal["internal"], true);
    // Every topic kcat lists is listed (topics made since may be extra):
    // kcat's list first, so that a topic another test makes in between is
    // extra in ours rather than missing from it.
    let before = Kcat::new().metadata(None).partitions;
    let (_, now) = svc.get("/topics?internal=true").await;
    let now: Vec<&str> = now["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for p in before {
        assert!(
            now.contains(&p.topic.as_str()) || !kcat_topic_exists(&p.topic),
            "{} missing",
            p.topic
        );
    }
    let (status, body) = svc.get("/topics?internal=yes").await;
    assert_error(status, &body, 400, &["internal", "'yes'"]);
}

#[tokio::test]
async fn fixture_topics_are_created_once_and_deleted() {
    let svc = Service::start();
    let name = unique_topic("fixture");
    let (status, _) = create(&svc, json!({"name": name, "partitions": 2})).await;
    assert_eq!(status, 201);
    let (status, body) = create(&svc, json!({"name": name, "partitions": 2})).await;
    assert_error(status, &body, 409, &[&name, "already exists"]);
    let r = svc.send(Method::DELETE, &format!("/topics/{name}")).await;
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.unwrap().is_empty());
    // Gone for the next request at once: the answer waited for the brokers.
    let (status, body) = svc.get(&format!("/topics/{name}")).await;
    assert_error(status, &body, 404, &[&name]);
    assert!(!kcat_topic_exists(&name), "kcat still lists {name}");
    let (status, body) = svc.delete(&format!("/topics/{name}")).await;
    assert_error(status, &body, 404, &[&name]);

    let read_only = Service::start_with(&["--read-only"], &[]);
    let other = unique_topic("fixture-ro");
    let (status, body) = create(&read_only, json!({"name": other})).await;
    assert_error(status, &body, 403, &["read-only"]);
    let existing = new_topic("fixture-ro", 1).await;
    let (status, _) = read_only.delete(&format!("/topics/{existing}")).await;
    assert_eq!(status, 403);
    assert!(kcat_topic_exists(&existing));
    assert!(!kcat_topic_exists(&other));
}

#[tokio::test]
async fn bad_topics_are_refused_with_the_reason_and_nothing_is_created() {
    let svc = Service::start();
    let name = unique_topic("bad");
    for (body, status, needles) in [
        (json!({"name": "a b"}), 400, vec!["name:", "'a b'"]),
        (
            json!({"name": name, "partitions": 0}),
            400,
            vec!["partitions: 0"],
        ),
        (
            json!({"name": name, "partitions": -3}),
            400,
            vec!["partitions: -3"],
        ),
        (
            json!({"name": name, "partitons": 3}),
            400,
            vec!["'partitons'"],
        ),
        // Refused by the broker: its reason comes back (Kafka 2.8 writes
        // "Replication factor: 3 larger than available brokers", later
        // releases "The target replication factor of 3 cannot be reached").
        (
            json!({"name": name, "replicationFactor": 3}),
            400,
            vec!["eplication factor", "3"],
        ),
        (
            json!({"name": name, "configs": {"no.such.config": "1"}}),
            400,
            vec!["no.such.config"],
        ),
        (
            json!({"name": name, "configs": {"retention.ms": "soon"}}),
            400,
            vec!["retention.ms"],
        ),
    ] {
        let (got, answer) = create(&svc, body.clone()).await;
        let needles: Vec<&str> = needles;
        assert_error(got, &answer, status, &needles);
    }
    assert!(!kcat_topic_exists(&name), "a refused topic was created");
    let (status, body) = svc.get("/topics/no-such-topic-here").await;
    assert_error(status, &body, 404, &["no-such-topic-here"]);
    let (status, body) = svc.get("/topics/a%20b").await;
    assert_error(status, &body, 400, &["'a b'"]);
}
