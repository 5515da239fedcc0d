//! Chaos: writers POST numbered records through the service (acks from all
//! in-sync replicas, replication factor 3, `min.insync.replicas=2`) while
//! brokers of a 3-broker cluster are killed (SIGKILL) and restarted, round
//! after round; each round kills the current leader of a partition. A group
//! reader pages through the topic all along.
//!
//! Afterwards every record is read back through the service's GET and with
//! kcat (librdkafka, read_committed), and:
//!
//! - every record that was acknowledged (an offset in the answer, 200 or not)
//!   is there exactly once, at that partition and offset;
//! - no number appears twice, and none that was never sent;
//! - a transaction that got 200 shows every record, one reported aborted
//!   shows none, and one whose commit "may or may not have" happened shows
//!   all or none;
//! - a plain record that failed may be there (the broker may have appended
//!   it before the connection broke; the service never sends such a write
//!   twice), but at most once;
//! - the group reader saw exactly the same records, each once, except the
//!   records of a page whose commit failed after the whole body arrived:
//!   that commit may still have happened, so they may come again.
//!
//! It prints, per fault, how many requests failed and how long writes took to
//! recover, and the totals. `scripts/test.sh` runs the short version (2
//! rounds, 4 writers); `scripts/chaos.sh` the long one
//! (`KAFKA_RECORDS_CHAOS_ROUNDS`, default 10, `KAFKA_RECORDS_CHAOS_WRITERS`,
//! default 8).
mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const PARTITIONS: i32 = 6;
/// Each POST's timeout: long enough to ride out a leader election (about
/// 6 s with [`FAILOVER_CONFIGS`]), short enough to fail while it drags on.
const POST_TIMEOUT: &str = "10s";
/// How long a killed broker stays down before it is restarted (its restart
/// then takes a while of its own).
const DOWN: Duration = Duration::from_secs(3);
/// Calm before the first fault and after each recovery.
const QUIET: Duration = Duration::from_secs(3);

fn setting(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}")),
        Err(_) => default,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// No key, no partition: the service picks one.
    Plain,
    /// Partitioned by key (murmur2).
    Keyed,
    /// An explicit partition.
    Partitioned,
    /// Several partitions in one transaction.
    Transaction,
}

/// What one answer said about one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Written { partition: i32, offset: i64 },
    Failed,
}

/// One POST and its answer.
struct Post {
    kind: Kind,
    numbers: Vec<u64>,
    started: Instant,
    ended: Instant,
    status: u16,
    answers: Vec<Answer>,
    message: String,
    /// Each failed record's own error message.
    errors: Vec<String>,
}

/// How a transactional POST ended, from its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TxnEnd {
    Committed,
    /// Reported aborted: nothing may be visible.
    Aborted,
    /// The commit may or may not have happened: all or nothing visible.
    Unknown,
}

impl Post {
    fn failed(&self) -> bool {
        self.status != 200
    }

    fn txn_end(&self) -> TxnEnd {
        // Every record of a transaction carries the same error, which says
        // how it ended.
        let said =
            |what: &str| !self.errors.is_empty() && self.errors.iter().all(|e| e.contains(what));
        // Committed: a 200, or a 504 whose records all have their offset
        // (committed, but not yet visible to read_committed readers in time).
        if self.status == 200 || self.answers.iter().all(|a| *a != Answer::Failed) {
            TxnEnd::Committed
        } else if said("may or may not have committed") {
            TxnEnd::Unknown
        } else {
            // Aborted, not committed (abort unconfirmed) or nothing written:
            // in each case none of its records may be visible.
            assert!(
                said("none of its records"),
                "a failed transaction is reported not visible or maybe committed: {} {} {:?}",
                self.status,
                self.message,
                self.errors
            );
            TxnEnd::Aborted
        }
    }
}

/// One injected fault and when things happened.
struct Fault {
    round: usize,
    victim: i32,
    partition: i32,
    killed: Instant,
    restarted: Instant,
    in_sync: Instant,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_brokers_killed_and_restarted() {
    let rounds = setting("KAFKA_RECORDS_CHAOS_ROUNDS", 2);
    let writers = setting("KAFKA_RECORDS_CHAOS_WRITERS", 4);
    let cluster = Arc::new(OwnCluster::start("faults-chaos", 3, &FAILOVER_CONFIGS));
    let t0 = Instant::now();
    let topic = unique_topic("chaos");
    let admin = kafka_client(&cluster.bootstrap);
    admin
        .create_topic(
            &topic,
            PARTITIONS,
            3,
            &[("min.insync.replicas", "2")],
            tokio::time::Instant::now() + Duration::from_secs(60),
        )
        .await
        .expect("create the topic");
    let svc = Service::on(&cluster.bootstrap).start();
    // The transaction log is created by the first transaction: before the
    // faults, with time for a fresh, loaded cluster to create it.
    let (status, body) = svc
        .post(
            json!({"transactionId": format!("{topic}-warm-up"), "timeout": "60s",
                     "records": [{"topic": topic, "partition": 0, "value": "warm-up"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let posts = Arc::new(Mutex::new(Vec::<Post>::new()));
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            tokio::spawn(writer(
                w,
                svc.client(),
                topic.clone(),
                Arc::clone(&next),
                Arc::clone(&stop),
                Arc::clone(&posts),
            ))
        })
        .collect();
    let settled = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn(group_reader(
        svc.client(),
        topic.clone(),
        Arc::clone(&settled),
    ));

    tokio::time::sleep(QUIET).await;
    let mut faults = Vec::new();
    for round in 0..rounds {
        let partition = round as i32 % PARTITIONS;
        let victim = cluster.leader(&topic, partition).await;
        blocking(&cluster, move |c| c.kill(victim)).await;
        let killed = Instant::now();
        eprintln!(
            "chaos: round {}: killed node {victim}, leader of partition {partition}, at +{:.1}s",
            round + 1,
            (killed - t0).as_secs_f64()
        );
        tokio::time::sleep(DOWN).await;
        blocking(&cluster, move |c| c.restart(victim)).await;
        let restarted = Instant::now();
        cluster.wait_in_sync().await;
        let in_sync = Instant::now();
        faults.push(Fault {
            round,
            victim,
            partition,
            killed,
            restarted,
            in_sync,
        });
        tokio::time::sleep(QUIET).await;
    }
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.expect("a writer failed");
    }
    let ids: Vec<i32> = (0..PARTITIONS).collect();
    wait_for_open_transactions(&admin, &topic, &ids, Duration::from_secs(180)).await;
    settled.store(true, Ordering::SeqCst);
    let group_read = reader.await.expect("the group reader failed");

    // Everything the topic holds, by three readers.
    let via_get = read_via_get(&svc, &topic, PARTITIONS).await;
    let via_kcat: Vec<(i32, i64, String)> = Kcat::on(&cluster.bootstrap)
        .read(&topic)
        .records()
        .iter()
        .map(KcatRecord::placed)
        .collect();
    let via_group = group_read.distinct();

    let posts = std::mem::take(&mut *posts.lock().unwrap());
    report(&posts, &faults, t0, &via_get, &via_kcat, &group_read);
    check(&posts, next.load(Ordering::SeqCst), &via_kcat);
    assert!(via_get == via_kcat, "GET and kcat read different records");
    assert!(
        via_group == via_kcat,
        "the group reader's records differ from the log ({} vs {})",
        via_group.len(),
        via_kcat.len()
    );
}

/// Runs a blocking cluster command (a kill, a restart) off the runtime's threads.
async fn blocking(cluster: &Arc<OwnCluster>, f: impl FnOnce(&OwnCluster) + Send + 'static) {
    let cluster = Arc::clone(cluster);
    tokio::task::spawn_blocking(move || f(&cluster))
        .await
        .expect("cluster command");
}

/// POSTs numbered records, one request after another, until `stop`: plain,
/// keyed, to an explicit partition, and in transactions, in turn.
async fn writer(
    w: usize,
    svc: Client,
    topic: String,
    next: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    posts: Arc<Mutex<Vec<Post>>>,
) {
    const KINDS: [Kind; 4] = [
        Kind::Plain,
        Kind::Keyed,
        Kind::Partitioned,
        Kind::Transaction,
    ];
    let mut i = w;
    while !stop.load(Ordering::SeqCst) {
        let kind = KINDS[i % KINDS.len()];
        let count = match kind {
            Kind::Transaction => 2 + i % 3,
            _ => 1 + i % 3,
        } as u64;
        i += 1;
        let first = next.fetch_add(count, Ordering::SeqCst);
        let numbers: Vec<u64> = (first..first + count).collect();
        let records: Vec<Value> = numbers
            .iter()
            .map(|n| match kind {
                Kind::Plain => json!({"topic": topic, "value": n.to_string()}),
                Kind::Keyed => json!({"topic": topic, "key": format!("k{n}"), "value": n.to_string()}),
                Kind::Partitioned | Kind::Transaction => {
                    json!({"topic": topic, "partition": n % PARTITIONS as u64, "value": n.to_string()})
                }
            })
            .collect();
        let mut body = json!({"records": records, "timeout": POST_TIMEOUT});
        if kind == Kind::Transaction {
            body["transactionId"] = json!(format!("{topic}-writer-{w}"));
        }
        let started = Instant::now();
        let (status, body) = svc.post(body).await;
        assert!(!body.is_null(), "{status} without a JSON answer");
        let ended = Instant::now();
        let answers: Vec<Answer> = match body["results"].as_array() {
            Some(results) => results
                .iter()
                .map(|r| match (r["partition"].as_i64(), r["offset"].as_i64()) {
                    (Some(p), Some(offset)) => Answer::Written {
                        partition: p as i32,
                        offset,
                    },
                    _ => Answer::Failed,
                })
                .collect(),
            None => vec![Answer::Failed; numbers.len()],
        };
        assert_eq!(answers.len(), numbers.len(), "{body}");
        assert!(
            status != 200 || answers.iter().all(|a| *a != Answer::Failed),
            "{body}"
        );
        posts.lock().unwrap().push(Post {
            kind,
            numbers,
            started,
            ended,
            status,
            answers,
            message: body["message"].as_str().unwrap_or("").to_string(),
            errors: body["results"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["error"]["message"].as_str())
                .map(str::to_string)
                .collect(),
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What the group reader saw.
#[derive(Default)]
struct GroupRead {
    pages: usize,
    failed: usize,
    records: Vec<(i32, i64, String)>,
    /// Records of pages cut after their whole body: their commit failed, and
    /// may or may not have happened (a commit that timed out), so the next
    /// pages may return them again.
    commit_unknown: Vec<(i32, i64, String)>,
}

impl GroupRead {
    /// The records read, each once, sorted; panics on a record read twice
    /// unless its page's commit is unknown.
    fn distinct(&self) -> Vec<(i32, i64, String)> {
        let mut seen: BTreeMap<&(i32, i64, String), usize> = BTreeMap::new();
        for r in &self.records {
            *seen.entry(r).or_default() += 1;
        }
        let again: Vec<_> = seen
            .iter()
            .filter(|(r, n)| **n > 1 && !self.commit_unknown.contains(r))
            .collect();
        assert!(
            again.is_empty(),
            "the group reader read records twice though their commit succeeded: {again:?}"
        );
        seen.into_keys().cloned().collect()
    }
}

/// One page of the group reader.
enum Page {
    /// Answered in full: its commit is done.
    Whole(Vec<Value>),
    /// The whole body arrived, then the response was cut: the commit failed.
    CommitUnknown(Vec<Value>),
    /// No answer, an error status, or a body cut short: nothing committed.
    Failed,
}

async fn read_page(svc: &Client, path: &str) -> Page {
    let Ok(mut r) = svc.request(Method::GET, path).send().await else {
        return Page::Failed;
    };
    if r.status() != 200 {
        return Page::Failed;
    }
    let mut body = Vec::new();
    let cut = loop {
        match r.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return Page::Failed;
    };
    let records = body["records"].as_array().expect("records").clone();
    if cut {
        Page::CommitUnknown(records)
    } else {
        Page::Whole(records)
    }
}

/// Pages through the topic with a consumer group from the beginning, all
/// through the faults, keeping the records of every page whose body arrived;
/// once `settled` (writers stopped, no transaction open), an empty page ends
/// it.
async fn group_reader(svc: Client, topic: String, settled: Arc<AtomicBool>) -> GroupRead {
    let group = format!("{topic}-reader");
    let mut read = GroupRead::default();
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(3600),
            "the group reader never finished"
        );
        let last = settled.load(Ordering::SeqCst);
        let seek = if read.pages == 0 {
            "&distanceFromBeginning=0"
        } else {
            ""
        };
        let path = format!("/records/{topic}?groupId={group}&limit=500&timeout=2s{seek}");
        match read_page(&svc, &path).await {
            Page::Whole(records) => {
                read.pages += 1;
                if records.is_empty() && last {
                    return read;
                }
                read.records.extend(records.iter().map(placed));
            }
            Page::CommitUnknown(records) => {
                read.pages += 1;
                read.failed += 1;
                read.records.extend(records.iter().map(placed));
                read.commit_unknown.extend(records.iter().map(placed));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Page::Failed => {
                read.failed += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The checks of the module doc, against what kcat read: prints how many
/// records break each rule, then insists on none.
fn check(posts: &[Post], sent: u64, log: &[(i32, i64, String)]) {
    let mut at: HashMap<u64, Vec<(i32, i64)>> = HashMap::new();
    let mut invented = Vec::new();
    for (p, o, v) in log {
        match v.parse::<u64>() {
            Ok(n) if n < sent => at.entry(n).or_default().push((*p, *o)),
            _ if v == "warm-up" => {}
            _ => invented.push((*p, *o, v.clone())),
        }
    }
    let duplicates: Vec<_> = at.iter().filter(|(_, places)| places.len() > 1).collect();
    let mut lost = Vec::new();
    let mut aborted_visible = Vec::new();
    let mut partial = Vec::new();
    for post in posts {
        let present: Vec<bool> = post.numbers.iter().map(|n| at.contains_key(n)).collect();
        let txn = (post.kind == Kind::Transaction).then(|| post.txn_end());
        for ((n, answer), here) in post.numbers.iter().zip(&post.answers).zip(&present) {
            if let Answer::Written { partition, offset } = answer {
                if at.get(n).map(Vec::as_slice) != Some(&[(*partition, *offset)][..]) {
                    lost.push((*n, *partition, *offset, post.kind, post.status));
                }
            }
            if txn == Some(TxnEnd::Aborted) && *here {
                aborted_visible.push(*n);
            }
        }
        if txn == Some(TxnEnd::Unknown) && present.contains(&true) && present.contains(&false) {
            partial.push((post.numbers.clone(), present));
        }
    }
    eprintln!(
        "checks: {} duplicated, {} invented, {} acknowledged but missing or elsewhere, {} of aborted transactions visible, {} transactions partly visible",
        duplicates.len(),
        invented.len(),
        lost.len(),
        aborted_visible.len(),
        partial.len()
    );
    assert!(invented.is_empty(), "records nobody sent: {invented:?}");
    assert!(
        duplicates.is_empty(),
        "records written twice: {duplicates:?}"
    );
    assert!(lost.is_empty(), "acknowledged records not where acknowledged (number, partition, offset, kind, status): {lost:?}");
    assert!(
        aborted_visible.is_empty(),
        "records of aborted transactions are visible: {aborted_visible:?}"
    );
    assert!(
        partial.is_empty(),
        "transactions partly visible: {partial:?}"
    );
}

fn report(
    posts: &[Post],
    faults: &[Fault],
    t0: Instant,
    via_get: &[(i32, i64, String)],
    via_kcat: &[(i32, i64, String)],
    group: &GroupRead,
) {
    let secs = |t: Instant, from: Instant| t.saturating_duration_since(from).as_secs_f64();
    eprintln!(
        "\nchaos report: 3 brokers, {PARTITIONS} partitions, replication factor 3, min.insync.replicas=2, POST timeout {POST_TIMEOUT}"
    );
    for f in faults {
        let window: Vec<&Post> = posts
            .iter()
            .filter(|p| p.ended >= f.killed && p.started <= f.in_sync)
            .collect();
        let failed: Vec<&&Post> = window.iter().filter(|p| p.failed()).collect();
        let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
        for p in &failed {
            *by_status.entry(p.status).or_default() += 1;
        }
        let first_ok = posts
            .iter()
            .filter(|p| p.started >= f.killed && !p.failed())
            .map(|p| p.ended)
            .min();
        let last_failure = failed.iter().map(|p| p.ended).max();
        let slowest = window.iter().map(|p| p.ended - p.started).max();
        let mut messages: BTreeMap<String, usize> = BTreeMap::new();
        for p in &failed {
            let m: String = p.message.chars().take(200).collect();
            *messages.entry(format!("{} {m}", p.status)).or_default() += 1;
        }
        eprintln!(
            "fault {}: killed node {} (leader of partition {}) at +{:.1}s; restarted after {:.1}s; replicas in sync after {:.1}s",
            f.round + 1,
            f.victim,
            f.partition,
            secs(f.killed, t0),
            secs(f.restarted, f.killed),
            secs(f.in_sync, f.killed),
        );
        eprintln!(
            "  requests during the fault: {}, failed {} {:?}; first write started after the kill succeeded {}; last failure {}",
            window.len(),
            failed.len(),
            by_status,
            first_ok.map_or("never".into(), |t| format!("{:.1}s after it", secs(t, f.killed))),
            last_failure.map_or("none".into(), |t| format!("{:.1}s after the kill", secs(t, f.killed))),
        );
        if let Some(slowest) = slowest {
            eprintln!("  slowest request: {:.1}s", slowest.as_secs_f64());
        }
        for (m, n) in messages {
            eprintln!("  {n} x {m}");
        }
    }
    let records: usize = posts.iter().map(|p| p.numbers.len()).sum();
    let acked: usize = posts
        .iter()
        .flat_map(|p| &p.answers)
        .filter(|a| **a != Answer::Failed)
        .count();
    let present: std::collections::HashSet<&str> =
        via_kcat.iter().map(|(_, _, v)| v.as_str()).collect();
    let unknown: Vec<u64> = posts
        .iter()
        .filter(|p| p.kind != Kind::Transaction)
        .flat_map(|p| p.numbers.iter().zip(&p.answers))
        .filter(|(_, a)| **a == Answer::Failed)
        .map(|(n, _)| *n)
        .collect();
    let unknown_present = unknown
        .iter()
        .filter(|n| present.contains(n.to_string().as_str()))
        .count();
    let txns: Vec<&Post> = posts
        .iter()
        .filter(|p| p.kind == Kind::Transaction)
        .collect();
    let count = |end: TxnEnd| txns.iter().filter(|p| p.txn_end() == end).count();
    eprintln!(
        "totals: {} POSTs ({} failed), {records} records sent, {acked} acknowledged; {} plain records failed (whether written unknown), {unknown_present} of them present once",
        posts.len(),
        posts.iter().filter(|p| p.failed()).count(),
        unknown.len(),
    );
    eprintln!(
        "transactions: {} committed, {} aborted, {} with an unknown commit",
        count(TxnEnd::Committed),
        count(TxnEnd::Aborted),
        count(TxnEnd::Unknown)
    );
    eprintln!(
        "read back: {} via GET, {} via kcat (read_committed), {} via the group reader ({} pages, {} failed during faults, {} records of pages whose commit failed)\n",
        via_get.len(),
        via_kcat.len(),
        group.records.len(),
        group.pages,
        group.failed,
        group.commit_unknown.len()
    );
}
