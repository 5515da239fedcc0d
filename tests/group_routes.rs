//! `GET /groups`, `GET /groups/{group}`, `POST /groups/{group}/offsets`
//! against the real broker, each checked with Kafka's own
//! `ConsumerGroupCommand`: a group the service read, a group of a kcat
//! member (classic protocol) and of a Java consumer (KIP-848 protocol where
//! the release has it, see `ConsumerProtocolCluster`), and resets.

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// One row of `ConsumerGroupCommand --describe`: committed offset, end, lag
/// and whether a member holds the partition.
#[derive(Debug, PartialEq)]
struct Row {
    committed: Option<i64>,
    end: i64,
    lag: Option<i64>,
    member: Option<String>,
    /// The member's host and client id, when a member holds the partition.
    host: Option<String>,
    client: Option<String>,
}

/// `ConsumerGroupCommand --describe --group G`, by (topic, partition).
fn describe_by_java(group: &str) -> BTreeMap<(String, i64), Row> {
    describe_by_java_on(&bootstrap(), group)
}

/// The same, on the cluster at `servers`.
fn describe_by_java_on(servers: &str, group: &str) -> BTreeMap<(String, i64), Row> {
    let out = kafka_tool(&[
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
    ])
    .stdin(Stdio::null())
    .output()
    .expect("scripts/kafka.sh tool");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
    stdout
        .lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 7 || cols[0] != group {
                return None;
            }
            let num = |s: &str| s.parse::<i64>().ok();
            Some((
                (cols[1].to_string(), num(cols[2])?),
                Row {
                    committed: num(cols[3]),
                    end: num(cols[4])?,
                    lag: num(cols[5]),
                    member: (cols[6] != "-").then(|| cols[6].to_string()),
                    host: cols.get(7).filter(|c| **c != "-").map(|c| c.to_string()),
                    client: cols.get(8).filter(|c| **c != "-").map(|c| c.to_string()),
                },
            ))
        })
        .collect()
}

/// The service's view of the same, from `GET /groups/{group}`.
fn offsets_of(view: &Value) -> BTreeMap<(String, i64), (i64, i64, i64)> {
    view["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                (
                    o["topic"].as_str().unwrap().to_string(),
                    o["partition"].as_i64().unwrap(),
                ),
                (
                    o["committedOffset"].as_i64().unwrap(),
                    o["endOffset"].as_i64().unwrap(),
                    o["lag"].as_i64().unwrap(),
                ),
            )
        })
        .collect()
}

async fn reset(svc: &Client, group: &str, body: Value) -> (u16, Value) {
    let r = svc
        .request(Method::POST, &format!("/groups/{group}/offsets"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_group_the_service_read_is_described_as_kafkas_tool_sees_it_and_reset() {
    let svc = Service::start();
    let topic = new_topic("grp-routes", 2).await;
    let group = unique_topic("g-routes");
    kcat_produce(&topic, 0, &["a", "b", "c", "d"]);
    kcat_produce(&topic, 1, &["e", "f"]);
    // The service reads three records for the group and commits them.
    let (status, _) = svc
        .get(&format!(
            "/records/{topic}?groupId={group}&distanceFromBeginning=0&limit=3&timeout=60s"
        ))
        .await;
    assert_eq!(status, 200);
    let (status, view) = svc.get(&format!("/groups/{group}")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["groupId"], group.as_str());
    assert_eq!(view["type"], "classic");
    assert_eq!(view["members"], json!([]));
    let java = describe_by_java(&group);
    let ours = offsets_of(&view);
    assert_eq!(ours.len(), 2, "{view}");
    for (key, (committed, end, lag)) in &ours {
        let row = &java[key];
        assert_eq!(
            (Some(*committed), *end, Some(*lag)),
            (row.committed, row.end, row.lag),
            "{key:?}"
        );
    }
    let total: i64 = ours.values().map(|(_, _, lag)| lag).sum();
    assert_eq!(view["lag"], total);
    assert_eq!(total, 3);

    // Listed, with its state and type.
    let (_, listed) = svc.get("/groups").await;
    let entry = listed["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["groupId"] == group.as_str())
        .expect("group not listed");
    assert_eq!(entry["type"], "classic");
    assert_eq!(entry["state"], view["state"]);

    // Resets, each checked with Kafka's tool.
    let (status, body) = reset(&svc, &group, json!({"topic": topic, "to": "earliest"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["offsets"],
        json!([{"partition": 0, "offset": 0}, {"partition": 1, "offset": 0}])
    );
    assert_eq!(
        describe_by_java(&group)[&(topic.clone(), 1)].committed,
        Some(0)
    );
    let (status, body) = reset(
        &svc,
        &group,
        json!({"topic": topic, "partitions": [0], "to": "latest"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["offsets"], json!([{"partition": 0, "offset": 4}]));
    let java = describe_by_java(&group);
    assert_eq!(
        (
            java[&(topic.clone(), 0)].committed,
            java[&(topic.clone(), 1)].committed
        ),
        (Some(4), Some(0))
    );
    let (status, body) = reset(
        &svc,
        &group,
        json!({"topic": topic, "partitions": [0], "to": {"offset": 2}}),
    )
    .await;
    assert_eq!(
        (status, &body["offsets"]),
        (200, &json!([{"partition": 0, "offset": 2}])),
        "{body}"
    );
    // An offset past the end is clamped to it, as Kafka's tool does.
    let (_, body) = reset(
        &svc,
        &group,
        json!({"topic": topic, "partitions": [1], "to": {"offset": 99}}),
    )
    .await;
    assert_eq!(body["offsets"], json!([{"partition": 1, "offset": 2}]));
    // A time after every record: the end.
    let (_, body) = reset(
        &svc,
        &group,
        json!({"topic": topic, "partitions": [0], "to": {"timestamp": 32503680000000i64}}),
    )
    .await;
    assert_eq!(body["offsets"], json!([{"partition": 0, "offset": 4}]));
    assert_eq!(
        describe_by_java(&group)[&(topic.clone(), 0)].committed,
        Some(4)
    );
    // The service's next read starts where the reset put the group.
    let records = read(
        &svc,
        &format!("/records/{topic}?groupId={group}&limit=10&timeout=1s"),
    )
    .await;
    assert!(records.is_empty(), "{records:?}");
}

#[tokio::test]
async fn a_reset_to_a_time_inside_the_log_lands_where_kafka_finds_that_time() {
    let svc = Service::start();
    let topic = new_topic("grp-routes-time", 1).await;
    let group = unique_topic("g-routes-time");
    // Four records a second apart, the last a second ago.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let times: Vec<i64> = (0..4).map(|i| now - (4 - i) * 1000).collect();
    let records: Vec<Value> = times
        .iter()
        .map(
            |t| json!({"topic": topic, "partition": 0, "value": format!("at {t}"), "timestamp": t}),
        )
        .collect();
    post_ok(&svc, records).await;
    // The group reads everything and commits it.
    let read_all = read(
        &svc,
        &format!("/records/{topic}?groupId={group}&distanceFromBeginning=0&limit=10&timeout=60s"),
    )
    .await;
    assert_eq!(read_all.len(), 4, "{read_all:?}");

    // Between the second and the third record: the third, as kcat asks
    // Kafka for that time.
    let between = times[1] + 500;
    let expected = Kcat::new().offset_for_time(&topic, 0, between);
    assert_eq!(expected, 2);
    let (status, body) = reset(
        &svc,
        &group,
        json!({"topic": topic, "to": {"timestamp": between}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["offsets"],
        json!([{"partition": 0, "offset": expected}])
    );
    // GET /groups/{group} and Kafka's tool agree on where the group stands.
    let (status, view) = svc.get(&format!("/groups/{group}")).await;
    assert_eq!(status, 200, "{view}");
    let java = describe_by_java(&group);
    let row = &java[&(topic.clone(), 0)];
    assert_eq!(
        offsets_of(&view)[&(topic.clone(), 0)],
        (row.committed.unwrap(), row.end, row.lag.unwrap())
    );
    assert_eq!(row.committed, Some(expected));
    assert_eq!(view["lag"], 4 - expected);
    // And the group's next read starts there.
    let again = read(
        &svc,
        &format!("/records/{topic}?groupId={group}&limit=10&timeout=1s"),
    )
    .await;
    assert_eq!(offsets(&again), vec![(0, 2), (0, 3)]);
}

#[tokio::test]
async fn live_members_are_shown_with_their_assignments_and_block_resets() {
    // A kcat member (classic protocol) on the test broker.
    let svc = Service::start();
    let topic = new_topic("grp-routes-live", 2).await;
    let classic = unique_topic("g-routes-classic");
    kcat_produce(&topic, 0, &["a", "b"]);
    let _kcat = Kcat::new()
        .set("auto.offset.reset=earliest")
        .set("auto.commit.interval.ms=100")
        .join_group(&classic, &topic);
    live_group_is_shown_and_blocks_resets(&svc, &bootstrap(), &topic, &classic, "classic").await;

    // A Java consumer asking for the KIP-848 protocol, where the release has
    // it on, or enabled (3.8 and 3.9); Kafka 2.8's joins as a classic one.
    let cluster = ConsumerProtocolCluster::start("grp-routes-848");
    let servers = cluster.bootstrap();
    let svc = Service::on(&servers).start();
    let topic = unique_topic("grp-routes-live-848");
    kafka_records::kafka::create_topic(&servers, &topic, 2, &[])
        .await
        .expect("creating the topic");
    let consumer = unique_topic("g-routes-848");
    Kcat::on(&servers)
        .produce(&topic)
        .partition(0)
        .send(&["a", "b"]);
    let _java = Background::spawn(&mut kafka_tool(&[
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        "--bootstrap-server",
        &servers,
        "--topic",
        &topic,
        "--group",
        &consumer,
        "--from-beginning",
        "--consumer-property",
        "group.protocol=consumer",
        "--consumer-property",
        "auto.commit.interval.ms=100",
    ]));
    let kind = cluster.group_type();
    live_group_is_shown_and_blocks_resets(&svc, &servers, &topic, &consumer, kind).await;
}

/// Once its one member holds both partitions of `topic`, `group` on the
/// cluster at `servers` is described by the service with that member, its
/// assignment and `kind`, as Kafka's tool sees it; a reset is refused (409)
/// and changes nothing; `GET /groups` lists it with `kind`.
async fn live_group_is_shown_and_blocks_resets(
    svc: &Client,
    servers: &str,
    topic: &str,
    group: &str,
    kind: &str,
) {
    // Held, and read: partition 0's two records are committed (auto-commit;
    // a Java consumer commits both partitions at once, kcat only the one it
    // read), so the committed offsets no longer change.
    eventually(Duration::from_secs(90), || {
        let java = describe_by_java_on(servers, group);
        let held = java.len() == 2 && java.values().all(|r| r.member.is_some());
        let read = java
            .get(&(topic.to_string(), 0))
            .is_some_and(|r| r.committed == Some(2));
        (held && read).then_some(())
    })
    .await;
    let (status, view) = svc.get(&format!("/groups/{group}")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["type"], kind, "{view}");
    assert_eq!(view["state"], "Stable", "{view}");
    let members = view["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{view}");
    let mut assigned: Vec<i64> = members[0]["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a["topic"], topic);
            a["partition"].as_i64().unwrap()
        })
        .collect();
    assigned.sort();
    assert_eq!(assigned, vec![0, 1], "{view}");
    // The member Kafka's tool names holds the partitions, from the same
    // host and client; partition 0 stands where the tool says.
    let java = describe_by_java_on(servers, group);
    let row = &java[&(topic.to_string(), 0)];
    assert_eq!(row.member.as_deref(), members[0]["memberId"].as_str());
    assert_eq!(row.host.as_deref(), members[0]["host"].as_str(), "{view}");
    assert_eq!(
        row.client.as_deref(),
        members[0]["clientId"].as_str(),
        "{view}"
    );
    let ours = view["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["topic"] == topic && o["partition"] == 0)
        .expect("partition 0 in the view");
    assert_eq!(
        (
            ours["committedOffset"].as_i64(),
            ours["endOffset"].as_i64().unwrap(),
            ours["lag"].as_i64()
        ),
        (row.committed, row.end, row.lag),
        "{view}"
    );
    // A reset under live members is refused, and changes nothing.
    let before: Vec<Option<i64>> = java.values().map(|r| r.committed).collect();
    let (status, body) = reset(svc, group, json!({"topic": topic, "to": "earliest"})).await;
    assert_error(status, &body, 409, &[group]);
    let after: Vec<Option<i64>> = describe_by_java_on(servers, group)
        .values()
        .map(|r| r.committed)
        .collect();
    assert_eq!(before, after);
    let (_, listed) = svc.get("/groups").await;
    let entry = listed["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["groupId"] == group)
        .cloned()
        .expect("listed");
    assert_eq!(entry["type"], kind);
}

#[tokio::test]
async fn unknown_groups_and_bad_resets_are_refused() {
    let svc = Service::start();
    let topic = new_topic("grp-routes-bad", 1).await;
    let group = unique_topic("g-routes-none");
    let (status, body) = svc.get(&format!("/groups/{group}")).await;
    assert_error(status, &body, 404, &[&group]);
    for (body, status, needle) in [
        (json!({"to": "earliest"}), 400, "topic: missing"),
        (json!({"topic": topic}), 400, "to: missing"),
        (json!({"topic": topic, "to": "yesterday"}), 400, "to:"),
        (
            json!({"topic": topic, "to": "earliest", "partitions": [7]}),
            404,
            "7",
        ),
        (
            json!({"topic": "no-such-topic-x", "to": "earliest"}),
            404,
            "no-such-topic-x",
        ),
    ] {
        let (got, answer) = reset(&svc, &group, body.clone()).await;
        assert_error(got, &answer, status, &[needle]);
    }
    // Nothing was committed by the refused resets.
    let (status, _) = svc.get(&format!("/groups/{group}")).await;
    assert_eq!(status, 404);
    let read_only = Service::start_with(&["--read-only"], &[]);
    let (status, body) = reset(
        &read_only,
        &group,
        json!({"topic": topic, "to": "earliest"}),
    )
    .await;
    assert_error(status, &body, 403, &["read-only"]);
}
