//! The read path under pressure: GETs of one consumer group at once, a
//! backlog on one partition, a new group's `autoOffsetReset`, and distances
//! counted in visible records on topics written with transactions.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

// ---- GETs of one group take turns ----

#[tokio::test]
async fn concurrent_gets_of_one_group_never_return_a_record_twice() {
    let topic = new_topic("reads-turns", 2).await;
    let group = unique_topic("g-turns");
    let svc = Service::start();
    // 48 records: two rounds of 8 GETs of 3 each take them all.
    let records = (0..48)
        .map(|i| json!({"topic": topic, "partition": i % 2, "value": format!("v{i}")}))
        .collect();
    post_ok(&svc, records).await;
    commit_offsets_of(&group, &topic, &[(0, 0), (1, 0)]).await;

    let mut seen: BTreeSet<(i64, i64)> = BTreeSet::new();
    let mut returned = 0;
    for round in 0..2 {
        let gets: Vec<_> = (0..8)
            .map(|_| {
                svc.spawn_get(&format!(
                    "/records/{topic}?groupId={group}&limit=3&timeout=30s"
                ))
            })
            .collect();
        for get in gets {
            let (status, body) = get.await.expect("GET task");
            assert_eq!(status, 200, "{body}");
            let got = offsets(body["records"].as_array().expect("records"));
            for (p, o) in got {
                assert!(
                    seen.insert((p, o)),
                    "round {round}: {p}/{o} was returned twice"
                );
                returned += 1;
            }
        }
    }
    assert_eq!(returned, 48, "every record once: {seen:?}");
    // The group's offsets are exactly past what was returned, nothing moved back.
    let mut expected = BTreeMap::new();
    for (p, o) in &seen {
        let next = expected.entry(*p as i32).or_insert(0);
        *next = (*next).max(o + 1);
    }
    assert_eq!(expected, BTreeMap::from([(0, 24), (1, 24)]));
    assert_eq!(committed_offsets_by_kafka(&group, &topic), expected);
}

#[tokio::test]
async fn a_get_waiting_for_its_groups_turn_answers_empty_at_its_own_timeout() {
    let topic = new_topic("reads-turn-wait", 1).await;
    let group = unique_topic("g-turn-wait");
    let svc = Service::start();
    let records = (0..3)
        .map(|i| json!({"topic": topic, "value": format!("v{i}")}))
        .collect();
    post_ok(&svc, records).await;
    commit_offsets_of(&group, &topic, &[(0, 3)]).await;

    // The first GET finds nothing past the group's offset and waits for
    // records, holding the group's turn.
    let first = svc.spawn_get(&format!(
        "/records/{topic}?groupId={group}&limit=10&timeout=120s"
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The second would read the three records from the beginning, but it
    // waits for the turn, and only as long as its own timeout: then it
    // answers with no records and commits nothing.
    let (status, body) = svc
        .get(&format!(
            "/records/{topic}?groupId={group}&distanceFromBeginning=0&limit=10&timeout=1s"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(records_only(body), json!({"records": []}));
    assert!(
        !first.is_finished(),
        "the first GET ended before any record was written"
    );
    // The first one gets the record written now, and commits past it.
    post_ok(&svc, vec![json!({"topic": topic, "value": "late"})]).await;
    let (status, body) = first.await.expect("GET task");
    assert_eq!(status, 200, "{body}");
    assert_eq!(offsets(body["records"].as_array().unwrap()), vec![(0, 3)]);
    assert_eq!(
        committed_offsets_of(&group, &topic, 1).await,
        BTreeMap::from([(0, 4)])
    );
}

#[tokio::test]
async fn a_group_whose_reader_went_away_is_free_for_the_next_get() {
    let topic = new_topic("reads-turn-gone", 1).await;
    let group = unique_topic("g-turn-gone");
    let svc = Service::start();
    let records = (0..2)
        .map(|i| json!({"topic": topic, "value": format!("v{i}")}))
        .collect();
    post_ok(&svc, records).await;
    commit_offsets_of(&group, &topic, &[(0, 2)]).await;

    // A client starts a long poll of the group (nothing is past its
    // offset), then gives up on it and closes the connection.
    let gone = svc
        .request(
            Method::GET,
            &format!("/records/{topic}?groupId={group}&timeout=300s"),
        )
        .timeout(Duration::from_secs(1))
        .send()
        .await;
    assert!(gone.is_err(), "the long poll answered: {gone:?}");
    // The next GET of the group gets the turn, rather than waiting out the
    // abandoned one's timeout and answering empty at its own.
    let records = read(
        &svc,
        &format!("/records/{topic}?groupId={group}&distanceFromBeginning=0&limit=10&timeout=20s"),
    )
    .await;
    assert_eq!(offsets(&records), vec![(0, 0), (0, 1)]);
    assert_eq!(
        committed_offsets_of(&group, &topic, 1).await,
        BTreeMap::from([(0, 2)])
    );
}

// ---- fairness ----

#[tokio::test]
async fn a_backlog_on_one_partition_never_starves_the_others() {
    let topic = new_topic("reads-backlog", 3).await;
    let group = unique_topic("g-backlog");
    // A response bound of 64 KiB: partition 0's first fetch alone fills it,
    // so partitions 1 and 2 come in a later fetch round.
    let svc = Service::start_with(&["--max-response-bytes", "65536"], &[]);
    let big = "x".repeat(1000);
    let backlog: Vec<Value> = (0..300)
        .map(|i| json!({"topic": topic, "partition": 0, "key": format!("b{i}"), "value": big}))
        .collect();
    for chunk in backlog.chunks(100) {
        post_ok(&svc, chunk.to_vec()).await;
    }
    let few: Vec<Value> = (1..3)
        .flat_map(|p| (0..3).map(move |i| (p, i)))
        .map(|(p, i)| json!({"topic": topic, "partition": p, "value": format!("p{p}-{i}")}))
        .collect();
    post_ok(&svc, few).await;

    // One page, no group.
    let page = read(
        &svc,
        &format!("/records/{topic}?distanceFromBeginning=0&limit=3&timeout=5s"),
    )
    .await;
    assert_eq!(partitions_of(&page), BTreeSet::from([0, 1, 2]), "{page:?}");

    // Paging with a group: every page holds a record of each partition
    // that still has some.
    commit_offsets_of(&group, &topic, &[(0, 0), (1, 0), (2, 0)]).await;
    for n in 0..3 {
        let page = read(
            &svc,
            &format!("/records/{topic}?groupId={group}&limit=3&timeout=5s"),
        )
        .await;
        let got = offsets(&page);
        assert_eq!(
            partitions_of(&page),
            BTreeSet::from([0, 1, 2]),
            "page {n}: {got:?}"
        );
    }
    // Partitions 1 and 2 are drained; partition 0 goes on.
    let page = read(
        &svc,
        &format!("/records/{topic}?groupId={group}&limit=3&timeout=5s"),
    )
    .await;
    assert_eq!(offsets(&page), vec![(0, 3), (0, 4), (0, 5)]);
}

// ---- autoOffsetReset ----

#[tokio::test]
async fn a_new_group_may_start_at_the_earliest_record() {
    let topic = new_topic("reads-earliest", 2).await;
    let svc = Service::start();
    let records = (0..6)
        .map(|i| json!({"topic": topic, "partition": i % 2, "value": format!("v{i}")}))
        .collect();
    post_ok(&svc, records).await;
    // The log of partition 0 now starts at offset 1.
    let (status, body) = svc
        .delete(&format!("/records/{topic}?partition=0&offset=1"))
        .await;
    assert_eq!(status, 200, "{body}");

    // Without it (or with `latest`), a new group starts at the end.
    for reset in ["", "&autoOffsetReset=latest"] {
        let group = unique_topic("g-latest");
        let got = read(
            &svc,
            &format!("/records/{topic}?groupId={group}&limit=10&timeout=0s{reset}"),
        )
        .await;
        assert_eq!(got, Vec::<Value>::new());
        assert_eq!(
            committed_offsets_of(&group, &topic, 2).await,
            BTreeMap::from([(0, 3), (1, 3)])
        );
    }

    // With `earliest` (any case), at the log start of each partition.
    let group = unique_topic("g-earliest");
    let got = read(
        &svc,
        &format!("/records/{topic}?groupId={group}&autoOffsetReset=EARLIEST&limit=10&timeout=5s"),
    )
    .await;
    let mut got = offsets(&got);
    got.sort();
    assert_eq!(got, vec![(0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]);
    assert_eq!(
        committed_offsets_of(&group, &topic, 2).await,
        BTreeMap::from([(0, 3), (1, 3)])
    );

    // A partition the group has an offset for starts there; one without
    // starts at its earliest.
    let group = unique_topic("g-mixed");
    commit_offsets_of(&group, &topic, &[(1, 2)]).await;
    let got = read(
        &svc,
        &format!("/records/{topic}?groupId={group}&autoOffsetReset=earliest&limit=10&timeout=5s"),
    )
    .await;
    let mut got = offsets(&got);
    got.sort();
    assert_eq!(got, vec![(0, 1), (0, 2), (1, 2)]);
}

#[tokio::test]
async fn auto_offset_reset_takes_earliest_or_latest_and_needs_a_group() {
    let topic = new_topic("reads-reset-bad", 1).await;
    let svc = Service::start();
    let (status, body) = svc
        .get(&format!(
            "/records/{topic}?groupId=g&autoOffsetReset=smallest"
        ))
        .await;
    assert_error(
        status,
        &body,
        400,
        &["autoOffsetReset", "'smallest'", "earliest, latest"],
    );
    let (status, body) = svc
        .get(&format!("/records/{topic}?autoOffsetReset=earliest"))
        .await;
    assert_error(status, &body, 400, &["autoOffsetReset", "groupId"]);
    assert!(
        kcat_read(&topic).is_empty(),
        "a refused GET changed the topic"
    );
}

// ---- distances count visible records ----

#[tokio::test]
async fn distances_count_visible_records_around_transactions() {
    let topic = new_topic("reads-distance", 1).await;
    // Refuses any batch over 1 KiB: a transaction writing there aborts.
    let small = unique_topic("reads-small");
    create_topic(&small, 1, &[("max.message.bytes", "1024")]).await;
    let svc = Service::start();
    let txn = unique_topic("reads-txn");
    let values = |vs: &[&str]| -> Vec<Value> {
        vs.iter()
            .map(|v| json!({"topic": topic, "partition": 0, "value": v}))
            .collect()
    };
    post_ok(&svc, values(&["p1"])).await;
    let (status, body) = svc
        .post(json!({"transactionId": txn, "records": values(&["c1", "c2"])}))
        .await;
    assert_eq!(status, 200, "{body}");
    let mut failing = values(&["x1", "x2"]);
    failing.push(json!({"topic": small, "value": "x".repeat(4096)}));
    let (status, body) = svc
        .post(json!({"transactionId": txn, "records": failing}))
        .await;
    assert_ne!(status, 200, "{body}");
    post_ok(&svc, values(&["p2"])).await;
    let (status, body) = svc
        .post(json!({"transactionId": txn, "records": values(&["c3"])}))
        .await;
    assert_eq!(status, 200, "{body}");

    // What a read_committed reader sees, and that the log holds more.
    let visible: Vec<(i64, String)> = kcat_read(&topic)
        .into_iter()
        .map(|r| (r.offset, String::from_utf8(r.value.unwrap()).unwrap()))
        .collect();
    let names: Vec<&str> = visible.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(names, ["p1", "c1", "c2", "p2", "c3"]);
    let all = Kcat::new().read(&topic).uncommitted().records();
    assert_eq!(all.len(), 7, "the aborted records are in the log");

    // The read ends at once: every record asked for is there, so a long
    // timeout is never waited out.
    let get = |query: String| {
        let svc = svc.client();
        let topic = topic.clone();
        async move {
            let records = read(
                &svc,
                &format!("/records/{topic}?{query}&limit=100&timeout=60s"),
            )
            .await;
            records
                .iter()
                .map(|r| {
                    (
                        r["offset"].as_i64().unwrap(),
                        r["value"].as_str().unwrap().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    for n in 1..=5 {
        assert_eq!(
            get(format!("distanceFromLatest={n}")).await,
            visible[5 - n..],
            "distanceFromLatest={n}"
        );
    }
    assert_eq!(get("distanceFromLatest=6".into()).await, visible);
    assert_eq!(get("distanceFromLatest=1000".into()).await, visible);
    for n in 0..5 {
        assert_eq!(
            get(format!("distanceFromBeginning={n}")).await,
            visible[n..],
            "distanceFromBeginning={n}"
        );
    }
    // Past the last visible record: the end, where nothing is there yet.
    for n in [5, 6, 1000] {
        let (status, body) = svc
            .get(&format!(
                "/records/{topic}?distanceFromBeginning={n}&timeout=0s"
            ))
            .await;
        assert_eq!(
            (status, records_only(body)),
            (200, json!({"records": []})),
            "{n}"
        );
    }
}

#[tokio::test]
async fn distance_from_latest_finds_records_behind_many_aborted_ones() {
    let topic = new_topic("reads-distance-far", 1).await;
    let small = unique_topic("reads-small-far");
    create_topic(&small, 1, &[("max.message.bytes", "1024")]).await;
    let svc = Service::start();
    let txn = unique_topic("reads-txn-far");
    post_ok(
        &svc,
        vec![json!({"topic": topic, "partition": 0, "value": "first"})],
    )
    .await;
    // Three aborted transactions of 60 records of 1000 bytes after it: far
    // more offsets than the distance asked, and more bytes than one fetch.
    let big = "x".repeat(1000);
    for t in 0..3 {
        let mut failing: Vec<Value> = (0..60)
            .map(|i| json!({"topic": topic, "partition": 0, "value": format!("x{t}-{i}-{big}")}))
            .collect();
        failing.push(json!({"topic": small, "value": "x".repeat(4096)}));
        let (status, body) = svc
            .post(json!({"transactionId": txn, "records": failing}))
            .await;
        assert_ne!(status, 200, "{body}");
    }
    let (status, body) = svc
        .post(json!({"transactionId": txn, "records": [
            {"topic": topic, "partition": 0, "value": "last"}
        ]}))
        .await;
    assert_eq!(status, 200, "{body}");

    let records = read(
        &svc,
        &format!("/records/{topic}?distanceFromLatest=2&limit=10&timeout=60s"),
    )
    .await;
    let values: Vec<&str> = records
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["first", "last"]);
    assert_eq!(records[0]["offset"], 0);
    // And forward: the second visible record is the last one.
    let records = read(
        &svc,
        &format!("/records/{topic}?distanceFromBeginning=1&limit=10&timeout=60s"),
    )
    .await;
    let values: Vec<&str> = records
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["last"]);
}

#[tokio::test]
async fn distances_skip_the_gaps_compaction_leaves() {
    let topic = unique_topic("reads-compacted");
    create_topic(
        &topic,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.ms", "100"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("delete.retention.ms", "100"),
        ],
    )
    .await;
    let svc = Service::start();
    let keyed = |pairs: &[(&str, &str)]| -> Vec<Value> {
        pairs
            .iter()
            .map(|(k, v)| json!({"topic": topic, "partition": 0, "key": k, "value": v}))
            .collect()
    };
    // x1@0 a1@1 b1@2 y1@3 a2@4 b2@5: compaction removes a1 and b1, a gap
    // in the middle of the log.
    post_ok(
        &svc,
        keyed(&[("x", "x1"), ("a", "a1"), ("b", "b1"), ("y", "y1")]),
    )
    .await;
    post_ok(&svc, keyed(&[("a", "a2"), ("b", "b2")])).await;
    // Each write after segment.ms rolls a new segment, so the earlier ones
    // can be cleaned (the active segment never is). The fillers' keys are
    // all different, so once a1 and b1 are gone, nothing else goes.
    let mut visible: Vec<(i64, String)> = Vec::new();
    for i in 0..240 {
        post_ok(&svc, keyed(&[(&format!("f{i}"), &format!("f{i}"))])).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        visible = kcat_read(&topic)
            .into_iter()
            .map(|r| (r.offset, String::from_utf8(r.value.unwrap()).unwrap()))
            .collect();
        if !visible.iter().any(|(_, v)| v == "a1" || v == "b1") {
            break;
        }
    }
    let values: Vec<&str> = visible.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(
        values[..4],
        ["x1", "y1", "a2", "b2"],
        "compaction did not happen in time: {visible:?}"
    );
    assert_eq!(visible[1].0, 3, "{visible:?}");
    let get = |query: String| {
        let svc = svc.client();
        let topic = topic.clone();
        async move {
            read(
                &svc,
                &format!("/records/{topic}?{query}&limit=1000&timeout=60s"),
            )
            .await
            .iter()
            .map(|r| {
                (
                    r["offset"].as_i64().unwrap(),
                    r["value"].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
        }
    };
    let len = visible.len();
    for n in [0, 1, 2, 3] {
        assert_eq!(
            get(format!("distanceFromBeginning={n}")).await,
            visible[n..],
            "distanceFromBeginning={n}"
        );
    }
    for n in [len, len - 1, len - 2, len - 3] {
        assert_eq!(
            get(format!("distanceFromLatest={n}")).await,
            visible[len - n..],
            "distanceFromLatest={n}"
        );
    }
}

// ---- helpers ----

/// The partitions the records of a GET answer come from.
fn partitions_of(records: &[Value]) -> BTreeSet<i64> {
    records
        .iter()
        .map(|r| r["partition"].as_i64().unwrap())
        .collect()
}
