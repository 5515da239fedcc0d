//! Transactions (`transactionId` on POST) and read_committed reads, checked
//! against Kafka itself: kcat (librdkafka) shows what reached the log in both
//! isolation levels, and Kafka's own Java `TransactionalMessageCopier` writes
//! committed and aborted transactions as an independent client.
//!
//! A write that Kafka refuses with a retriable error until the timeout (and a
//! request kept in flight that long, to be fenced) needs a partition with too
//! few in-sync replicas. One broker cannot have that: Kafka 4 caps
//! `min.insync.replicas` at the replication factor, so on the shared broker a
//! topic with `min.insync.replicas=2` takes writes. Those tests start a
//! three-broker cluster of their own and stop one broker ([`DegradedCluster`]).
mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn a_transaction_across_topics_and_partitions_commits_every_record() {
    let orders = new_topic("txn-orders", 3).await;
    let audit = new_topic("txn-audit", 2).await;
    let svc = Service::start();

    // Two records in each partition of `orders`, one in each of `audit`.
    let mut written: Vec<(String, Seen)> = Vec::new();
    for p in 0..3 {
        for i in 0..2 {
            written.push((orders.clone(), Seen::plain(p, i, &format!("order-{p}-{i}"))));
        }
    }
    for p in 0..2 {
        written.push((audit.clone(), Seen::plain(p, 0, &format!("audit-{p}"))));
    }
    let records: Vec<Value> = written
        .iter()
        .map(|(t, r)| json!({"topic": t, "partition": r.partition, "value": r.value}))
        .collect();
    let (status, body) = svc
        .post(json!({"transactionId": unique_topic("txn-id"), "records": records}))
        .await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), written.len(), "{body}");
    for (result, (topic, r)) in results.iter().zip(&written) {
        assert!(result.get("error").is_none(), "{result}");
        assert_eq!(result["topic"], json!(topic), "{result}");
        assert_eq!(result["partition"], json!(r.partition), "{result}");
        assert_eq!(result["offset"], json!(r.offset), "{result}");
    }

    for (topic, partitions) in [(&orders, 3), (&audit, 2)] {
        let expected: Vec<Seen> = written
            .iter()
            .filter(|(t, _)| t == topic)
            .map(|(_, r)| r.clone())
            .collect();
        assert_eq!(
            kcat_records(&bootstrap(), topic, Isolation::ReadCommitted),
            expected,
            "kcat read_committed must see every record of the transaction in {topic}"
        );
        // A real transaction ends with a commit marker in every partition it
        // wrote, which takes an offset: the next record's offset skips one.
        for p in 0..partitions {
            kcat_produce(topic, p, &["after"]);
        }
        let mut with_next = expected.clone();
        for p in 0..partitions {
            let last = expected.iter().filter(|r| r.partition == p).count() as i64 - 1;
            with_next.push(Seen::plain(p, last + 2, "after"));
        }
        with_next.sort();
        assert_eq!(
            kcat_records(&bootstrap(), topic, Isolation::ReadUncommitted),
            with_next,
            "each partition of {topic} must hold a commit marker right after the transaction's records"
        );
    }
}

#[tokio::test]
async fn a_transaction_that_times_out_is_aborted_and_nothing_becomes_visible() {
    let unwritable = unique_topic("txn-unwritable");
    let cluster = DegradedCluster::start(&[&unwritable]).await;
    let topic = unique_topic("txn-timeout");
    cluster.create_topic(&topic, 2).await;
    let svc = Service::on(&cluster.bootstrap).start();

    let (status, body) = svc
        .post(json!({
            "transactionId": unique_topic("txn-id"),
            "timeout": "10s",
            "records": [
                {"topic": topic, "partition": 0, "value": "a0"},
                {"topic": topic, "partition": 0, "value": "a1"},
                {"topic": topic, "partition": 1, "value": "b0"},
                {"topic": unwritable, "value": "never"},
            ],
        }))
        .await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["code"], 504, "{body}");
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), 4, "{body}");
    for result in results {
        assert!(result.get("offset").is_none(), "{result}");
        let message = result["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("every record of an aborted transaction fails: {result}"));
        assert!(message.contains("aborted"), "{result}");
    }

    // Nothing is visible to read_committed readers, ours or kcat...
    assert_eq!(
        kcat_records(&cluster.live, &topic, Isolation::ReadCommitted),
        vec![]
    );
    assert_eq!(read_all(&svc, &topic).await, vec![]);
    // ...although the records did reach the log before the abort.
    assert_eq!(
        kcat_records(&cluster.live, &topic, Isolation::ReadUncommitted),
        vec![
            Seen::plain(0, 0, "a0"),
            Seen::plain(0, 1, "a1"),
            Seen::plain(1, 0, "b0")
        ]
    );
    // The transaction is over, not left open: records written after it become
    // visible, after the abort markers (offsets 2 and 1).
    let kcat = Kcat::on(&cluster.live);
    kcat.produce(&topic).partition(0).send(&["later0"]);
    kcat.produce(&topic).partition(1).send(&["later1"]);
    let later = vec![Seen::plain(0, 3, "later0"), Seen::plain(1, 2, "later1")];
    eventually(Duration::from_secs(30), || {
        (kcat_records(&cluster.live, &topic, Isolation::ReadCommitted) == later).then_some(())
    })
    .await;
    assert_eq!(read_all(&svc, &topic).await, later);
}

#[tokio::test]
async fn a_transaction_with_an_unknown_partition_writes_nothing() {
    let first = new_topic("txn-nopart-a", 2).await;
    let second = new_topic("txn-nopart-b", 1).await;
    let svc = Service::start();

    let (status, body) = svc
        .post(json!({
            "transactionId": unique_topic("txn-id"),
            "records": [
                {"topic": first, "partition": 0, "value": "ok"},
                {"topic": second, "value": "ok too"},
                {"topic": first, "partition": 5, "value": "nowhere"},
            ],
        }))
        .await;
    assert_error(status, &body, 404, &["partition 5"]);
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), 3, "{body}");
    assert!(
        results.iter().all(|r| r.get("error").is_some()),
        "all or nothing: {body}"
    );

    // Not even aborted records or markers: the next records take offset 0.
    kcat_produce(&first, 0, &["after"]);
    kcat_produce(&second, 0, &["after"]);
    for topic in [&first, &second] {
        assert_eq!(
            kcat_records(&bootstrap(), topic, Isolation::ReadUncommitted),
            vec![Seen::plain(0, 0, "after")],
            "{topic}"
        );
    }
}

#[tokio::test]
async fn a_newer_request_with_the_same_transaction_id_fences_the_older_one() {
    let stalled = unique_topic("txn-stalled");
    let cluster = DegradedCluster::start(&[&stalled]).await;
    let first_topic = unique_topic("txn-fenced");
    let second_topic = unique_topic("txn-fencer");
    cluster.create_topic(&first_topic, 1).await;
    cluster.create_topic(&second_topic, 1).await;
    let svc = Service::on(&cluster.bootstrap).start();
    let transaction_id = unique_topic("txn-id");
    let first_done = tokio::sync::Notify::new();

    let (first, second, ()) = tokio::join!(
        // Writes its first record, then keeps retrying the stalled topic.
        async {
            let answer = svc
                .post(json!({
                    "transactionId": transaction_id,
                    "timeout": "20s",
                    "records": [
                        {"topic": first_topic, "value": "first"},
                        {"topic": stalled, "value": "first"},
                    ],
                }))
                .await;
            first_done.notify_one();
            answer
        },
        // Once the first request's record is in the log, the same id again.
        async {
            eventually(Duration::from_secs(15), || {
                kcat_records(&cluster.live, &first_topic, Isolation::ReadUncommitted)
                    .iter()
                    .any(|r| r.value.as_deref() == Some("first"))
                    .then_some(())
            })
            .await;
            svc.post(json!({
                "transactionId": transaction_id,
                "timeout": "60s",
                "records": [{"topic": second_topic, "value": "second"}],
            }))
            .await
        },
        // Kafka finishes aborting the fenced transaction only once it can
        // write the abort marker to every partition the transaction touched,
        // the stalled one included: let that partition take writes again
        // once the first request has answered.
        async {
            first_done.notified().await;
            cluster.heal(&stalled).await;
        },
    );

    let ((older_status, older), (newer_status, newer)) = (first, second);
    // The older request learns that it was fenced from the broker that
    // refuses its next write: since Kafka 3.6 a broker checks a
    // transactional write's producer epoch with the coordinator (KIP-890)
    // before anything else. A Kafka 2.8 broker checks the in-sync replicas
    // first and refuses the write with NOT_ENOUGH_REPLICAS until the
    // request's timeout, and its abort finds the coordinator still busy
    // aborting for the newer request: a 504 saying it was not committed.
    let (status, needle) = if kafka_version().at_least(3, 6) {
        (409, "fenced")
    } else {
        (
            504,
            "was not committed and none of its records became visible",
        )
    };
    assert!(
        older_status == status && newer_status == 200,
        "the older request must get {status} and the newer one 200; \
         got {older_status}: {older}\nand {newer_status}: {newer}"
    );
    assert_error(older_status, &older, status, &[needle]);
    assert_eq!(newer["results"][0]["offset"], json!(0), "{newer}");

    assert_eq!(
        kcat_records(&cluster.live, &first_topic, Isolation::ReadCommitted),
        vec![]
    );
    assert_eq!(read_all(&svc, &first_topic).await, vec![]);
    assert_eq!(
        kcat_records(&cluster.live, &second_topic, Isolation::ReadCommitted),
        vec![Seen::plain(0, 0, "second")]
    );
    assert_eq!(
        read_all(&svc, &second_topic).await,
        vec![Seen::plain(0, 0, "second")]
    );
}

#[tokio::test]
async fn consecutive_transactions_with_one_transaction_id_all_commit() {
    // Each request opens the id afresh; Kafka answers CONCURRENT_TRANSACTIONS
    // while the previous transaction's markers are still being written, which
    // the Java producer retries.
    let topic = new_topic("txn-consecutive", 1).await;
    let svc = Service::start();
    let transaction_id = unique_topic("txn-id");
    for i in 0..30 {
        let (status, body) = svc
            .post(json!({
                "transactionId": transaction_id,
                "records": [{"topic": topic, "value": format!("v{i}")}],
            }))
            .await;
        assert_eq!(status, 200, "transaction {i}: {body}");
    }
    // Each transaction: one record and its commit marker.
    let expected: Vec<Seen> = (0..30)
        .map(|i| Seen::plain(0, 2 * i, &format!("v{i}")))
        .collect();
    assert_eq!(
        kcat_records(&bootstrap(), &topic, Isolation::ReadCommitted),
        expected
    );
}

#[tokio::test]
async fn an_async_transaction_commits_every_record_in_the_background() {
    let topic = new_topic("txn-async", 2).await;
    let svc = Service::start();
    let expected: Vec<Seen> = (0..2)
        .flat_map(|p| (0..3).map(move |i| Seen::plain(p, i, &format!("async-{p}-{i}"))))
        .collect();
    let records: Vec<Value> = expected
        .iter()
        .map(|r| json!({"topic": topic, "partition": r.partition, "value": r.value}))
        .collect();
    let (status, body) = svc
        .post(json!({
            "transactionId": unique_topic("txn-id"),
            "async": true,
            "records": records,
        }))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body, Value::Null);

    eventually(Duration::from_secs(30), || {
        (kcat_records(&bootstrap(), &topic, Isolation::ReadCommitted) == expected).then_some(())
    })
    .await;
    // Written as a transaction: a commit marker follows in each partition.
    kcat_produce(&topic, 0, &["after"]);
    kcat_produce(&topic, 1, &["after"]);
    let mut with_next = expected.clone();
    with_next.extend([Seen::plain(0, 4, "after"), Seen::plain(1, 4, "after")]);
    with_next.sort();
    assert_eq!(
        kcat_records(&bootstrap(), &topic, Isolation::ReadUncommitted),
        with_next
    );
}

#[tokio::test]
async fn reads_equal_kcat_read_committed_around_an_independent_transactional_writer() {
    let topic = new_topic("txn-copier-out", 3).await;
    let svc = Service::start();
    let plain = fill_with_java_transactions(&svc, &topic, 3, 120).await;

    let committed = kcat_records(&bootstrap(), &topic, Isolation::ReadCommitted);
    let everything = kcat_records(&bootstrap(), &topic, Isolation::ReadUncommitted);
    assert!(
        committed.len() >= 120 + plain,
        "kcat sees {} committed records, expected the 120 copied and {plain} plain ones",
        committed.len()
    );
    assert!(
        everything.len() > committed.len(),
        "the copier aborted no transaction, so this test proves nothing"
    );

    // The whole topic in one read.
    assert_eq!(
        read_all(&svc, &topic).await,
        committed,
        "one read from the beginning must equal kcat's read_committed list"
    );
    // Page by page, starting each page where the last one stopped.
    for p in 0..3 {
        let mut paged: Vec<Seen> = Vec::new();
        let mut next = 0;
        loop {
            let page = read(
                &svc,
                &topic,
                &format!("partition={p}&seekTo={next}&limit=7&timeout=1s"),
            )
            .await;
            let Some(last) = page.last() else { break };
            assert!(page.len() <= 7, "{page:?}");
            next = last.offset + 1;
            paged.extend(page);
        }
        let expected: Vec<Seen> = committed
            .iter()
            .filter(|r| r.partition == p)
            .cloned()
            .collect();
        assert_eq!(paged, expected, "paging through partition {p}");
    }
}

#[tokio::test]
async fn a_read_starting_on_an_aborted_record_or_a_marker_returns_the_next_committed_ones() {
    let topic = new_topic("txn-seek", 2).await;
    let svc = Service::start();
    fill_with_java_transactions(&svc, &topic, 2, 60).await;

    let committed = kcat_records(&bootstrap(), &topic, Isolation::ReadCommitted);
    let everything = kcat_records(&bootstrap(), &topic, Isolation::ReadUncommitted);
    assert!(
        everything.len() > committed.len(),
        "the copier aborted no transaction, so this test proves nothing"
    );
    let mut hidden_starts = 0;
    for p in 0..2 {
        let last = everything
            .iter()
            .filter(|r| r.partition == p)
            .map(|r| r.offset)
            .max()
            .unwrap_or(-1);
        // Every offset: committed records, aborted ones, markers, and the end.
        for start in 0..=last + 1 {
            let expected: Vec<Seen> = committed
                .iter()
                .filter(|r| r.partition == p && r.offset >= start)
                .take(3)
                .cloned()
                .collect();
            if !committed
                .iter()
                .any(|r| r.partition == p && r.offset == start)
            {
                hidden_starts += 1;
            }
            let got = read(
                &svc,
                &topic,
                &format!("partition={p}&seekTo={start}&limit=3&timeout=1s"),
            )
            .await;
            assert_eq!(got, expected, "partition {p}, seekTo={start}");
        }
    }
    assert!(hidden_starts > 0, "no read started on a hidden offset");
}

#[tokio::test]
async fn plain_committed_and_aborted_writes_interleave_and_reads_show_only_the_visible_ones() {
    let topic = new_topic("txn-mixed", 1).await;
    // Refuses any batch over 1 KiB: a transaction writing there fails.
    let small = unique_topic("txn-small");
    create_topic(&small, 1, &[("max.message.bytes", "1024")]).await;
    let svc = Service::start();
    let transaction_id = unique_topic("txn-id");
    let values = |vs: &[&str]| -> Vec<Value> {
        vs.iter()
            .map(|v| json!({"topic": topic, "partition": 0, "value": v}))
            .collect()
    };

    let (status, body) = svc.post(json!({"records": values(&["p1", "p2"])})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = svc
        .post(json!({"transactionId": transaction_id, "records": values(&["c1", "c2"])}))
        .await;
    assert_eq!(status, 200, "{body}");
    let mut failing = values(&["x1", "x2"]);
    failing.push(json!({"topic": small, "value": "x".repeat(4096)}));
    let (status, body) = svc
        .post(json!({"transactionId": transaction_id, "records": failing}))
        .await;
    assert_ne!(status, 200, "{body}");
    for result in body["results"].as_array().expect("results") {
        let message = result["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("aborted"), "{result}");
    }
    let (status, body) = svc.post(json!({"records": values(&["p3"])})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = svc
        .post(json!({"transactionId": transaction_id, "records": values(&["c3", "c4"])}))
        .await;
    assert_eq!(status, 200, "{body}");

    let committed = kcat_records(&bootstrap(), &topic, Isolation::ReadCommitted);
    let visible: Vec<Option<&str>> = committed.iter().map(|r| r.value.as_deref()).collect();
    assert_eq!(
        visible,
        ["p1", "p2", "c1", "c2", "p3", "c3", "c4"].map(Some),
        "{committed:?}"
    );
    let everything = kcat_records(&bootstrap(), &topic, Isolation::ReadUncommitted);
    let written: Vec<Option<&str>> = everything.iter().map(|r| r.value.as_deref()).collect();
    assert_eq!(
        written,
        ["p1", "p2", "c1", "c2", "x1", "x2", "p3", "c3", "c4"].map(Some),
        "the failed transaction's records reached the log before its abort"
    );
    assert_eq!(read_all(&svc, &topic).await, committed);
}

// ---- helpers ----

/// A record as the tests compare it: where it is, its key and its value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    partition: i32,
    offset: i64,
    key: Option<String>,
    value: Option<String>,
}

impl Seen {
    /// A record with a null key.
    fn plain(partition: i32, offset: i64, value: &str) -> Seen {
        Seen {
            partition,
            offset,
            key: None,
            value: Some(value.to_string()),
        }
    }
}

/// Which records a kcat read shows: committed ones only, or everything in the log.
#[derive(Debug, Clone, Copy)]
enum Isolation {
    ReadCommitted,
    ReadUncommitted,
}

/// Every record of `topic` as kcat reads it from the beginning to the end,
/// ordered by partition and offset. kcat never shows control records.
fn kcat_records(bootstrap: &str, topic: &str, isolation: Isolation) -> Vec<Seen> {
    let read = Kcat::on(bootstrap).read(topic);
    let read = match isolation {
        Isolation::ReadCommitted => read,
        Isolation::ReadUncommitted => read.uncommitted(),
    };
    let text = |bytes: Option<Vec<u8>>| bytes.map(|b| String::from_utf8(b).expect("UTF-8"));
    read.records()
        .into_iter()
        .map(|r| Seen {
            partition: r.partition,
            offset: r.offset,
            key: text(r.key),
            value: text(r.value),
        })
        .collect()
}

/// The records the service returns for `GET /records/{topic}?{query}`.
async fn read(svc: &Service, topic: &str, query: &str) -> Vec<Seen> {
    let (status, body) = svc.get(&format!("/records/{topic}?{query}")).await;
    assert_eq!(status, 200, "GET {topic}?{query}: {body}");
    body["records"]
        .as_array()
        .unwrap_or_else(|| panic!("no records array: {body}"))
        .iter()
        .map(|r| Seen {
            partition: r["partition"].as_i64().expect("partition") as i32,
            offset: r["offset"].as_i64().expect("offset"),
            key: r["key"].as_str().map(str::to_string),
            value: r["value"].as_str().map(str::to_string),
        })
        .collect()
}

/// Every record the service returns in one read of the whole topic.
async fn read_all(svc: &Service, topic: &str) -> Vec<Seen> {
    read(
        svc,
        topic,
        "distanceFromBeginning=0&limit=100000&timeout=1s",
    )
    .await
}

/// Fills `topic` with transactions from Kafka's Java TransactionalMessageCopier
/// (copying `messages` keyed records, 4 per transaction, aborting about a third
/// of the transactions at random and copying those records again), and, while
/// it runs, plain records written by kcat and POSTed through the service.
/// Ends with a plain record in every partition. Returns the number of plain
/// records.
async fn fill_with_java_transactions(
    svc: &Service,
    topic: &str,
    partitions: i32,
    messages: usize,
) -> usize {
    let input = new_topic("txn-copier-in", 1).await;
    // Keys spread the copies over the output partitions.
    let lines: Vec<String> = (0..messages).map(|i| format!("k{i}:m{i}")).collect();
    Kcat::new()
        .produce(&input)
        .partition(0)
        .keyed()
        .send(&lines);

    let mut copier = kafka_tool(&[
        "org.apache.kafka.tools.TransactionalMessageCopier",
        "--broker-list",
        &bootstrap(),
        "--input-topic",
        &input,
        "--input-partition",
        "0",
        "--output-topic",
        topic,
        "--transactional-id",
        &unique_topic("txn-copier"),
        "--consumer-group",
        &unique_topic("txn-copier-group"),
        "--transaction-size",
        "4",
        "--enable-random-aborts",
    ])
    .stdout(Stdio::null())
    .spawn()
    .expect("scripts/kafka.sh tool");
    let mut plain = 0;
    let status = loop {
        if let Some(status) = copier.try_wait().expect("copier") {
            break status;
        }
        let p = plain as i32 % partitions;
        if plain % 2 == 0 {
            kcat_produce(topic, p, &[&format!("kcat-{plain}")]);
        } else {
            let (status, body) = svc
                .post(json!({"records": [{"topic": topic, "partition": p, "value": format!("post-{plain}")}]}))
                .await;
            assert_eq!(status, 200, "{body}");
        }
        plain += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "TransactionalMessageCopier failed");
    for p in 0..partitions {
        kcat_produce(topic, p, &[&format!("last-{p}")]);
    }
    plain + partitions as usize
}

/// A three-broker cluster of a test's own in which broker 3 has been stopped.
/// Topics created before that with three replicas and `min.insync.replicas=3`
/// now refuse every write with NOT_ENOUGH_REPLICAS, an error the service
/// retries until its timeout; topics created after it live on the two
/// remaining brokers and take writes as usual. Stopped on drop.
struct DegradedCluster {
    _cluster: OwnCluster,
    /// All three brokers, the stopped one included, as a user would list them.
    bootstrap: String,
    /// The two running brokers.
    live: String,
}

impl DegradedCluster {
    /// Starts the cluster, creates the `unwritable` topics, stops broker 3 and
    /// waits until Kafka has taken it out of those topics' in-sync replicas.
    async fn start(unwritable: &[&str]) -> DegradedCluster {
        let cluster = OwnCluster::start("txn-cluster", 3, &[]);
        let admin = kafka_client(&cluster.bootstrap);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        for topic in unwritable {
            admin
                .create_topic(topic, 1, 3, &[("min.insync.replicas", "3")], deadline)
                .await
                .unwrap_or_else(|e| panic!("creating {topic}: {e}"));
        }
        // The transaction log and the offsets topic exist before the broker
        // goes, as on a cluster that has served transactions: with three
        // replicas each, a broker of Kafka 2.8 (ZooKeeper mode) does not
        // create them while only two brokers are alive, and every
        // transaction would wait for a coordinator.
        warm_up_coordinators(&cluster.bootstrap).await;
        cluster.kill(3);
        eventually(Duration::from_secs(60), || {
            let fenced = Kcat::on(&cluster.live()).metadata(None).brokers == 2;
            let shrunk = unwritable.iter().all(|t| {
                cluster.partitions(Some(t)).iter().all(|p| {
                    let mut isr = p.isr.clone();
                    isr.sort();
                    isr == [1, 2]
                })
            });
            (fenced && shrunk).then_some(())
        })
        .await;
        DegradedCluster {
            bootstrap: cluster.bootstrap.clone(),
            live: cluster.live(),
            _cluster: cluster,
        }
    }

    /// Creates a topic with one replica on a running broker.
    async fn create_topic(&self, topic: &str, partitions: i32) {
        kafka_records::kafka::create_topic(&self.live, topic, partitions, &[])
            .await
            .unwrap_or_else(|e| panic!("creating topic {topic}: {e}"));
    }

    /// Lets an unwritable topic take writes again (two in-sync replicas suffice).
    async fn heal(&self, topic: &str) {
        let status = tokio::process::Command::from(kafka_tool(&["kafka.admin.ConfigCommand"]))
            .args([
                "--bootstrap-server",
                &self.live,
                "--alter",
                "--entity-type",
                "topics",
            ])
            .args([
                "--entity-name",
                topic,
                "--add-config",
                "min.insync.replicas=2",
            ])
            .stdout(Stdio::null())
            .status()
            .await
            .expect("scripts/kafka.sh tool");
        assert!(status.success(), "altering {topic}'s config failed");
    }
}
