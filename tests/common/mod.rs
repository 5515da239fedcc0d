//! Shared by the integration tests: the real broker, the real binary, and an
//! independent Kafka client (kcat, librdkafka) to check what reached Kafka.
//!
//! `service.rs` starts the binary ([`Launch`], [`Service`]; the benchmark
//! shares it), `kcat.rs` puts kcat together ([`Kcat`]), `registry.rs` starts
//! a Schema Registry and an authenticating proxy in front of it; this file holds the
//! rest: topics, requests and their checks, clusters of a test's own.
#![allow(dead_code)]

mod kcat;
mod registry;
mod service;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

pub use kcat::{Kcat, KcatRecord, PartitionState};
#[allow(unused_imports)] // each test binary uses a part
pub use registry::{start_registry, stop_registry, ProxyAuth, RegistryProxy};
pub use reqwest::Method;
pub use service::{Client, Launch, Service};

/// The bootstrap servers of the test broker. Fails loudly when there is none:
/// these tests never skip.
pub fn bootstrap() -> String {
    std::env::var("KAFKA_RECORDS_TEST_BOOTSTRAP").unwrap_or_else(|_| {
        panic!(
            "KAFKA_RECORDS_TEST_BOOTSTRAP is not set: run the tests with scripts/test.sh, \
             which starts a real Kafka broker (or set it to a running cluster's bootstrap servers)"
        )
    })
}

/// A topic name no other test uses.
pub fn unique_topic(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos % 1_000_000_000
    )
}

/// Kafka creates its offsets and transaction logs on first use, which on a
/// fresh, small machine can outlast a request's few seconds: a test whose
/// examples use groups or transactions with short timeouts creates both
/// first, so what it measures is the service. Quick when they exist.
pub async fn warm_up_coordinators(bootstrap: &str) {
    let kafka = kafka_client(bootstrap);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let topic = unique_topic("warm-up");
    kafka
        .create_topic(&topic, 1, 1, &[], deadline)
        .await
        .expect("a warm-up topic");
    kafka
        .commit_offsets(&unique_topic("warm-up"), &topic, &[(0, 0)], deadline)
        .await
        .expect("a warm-up group commit");
    let svc = Service::on(bootstrap).start();
    let (status, body) = svc
        .post(
            json!({"transactionId": unique_topic("warm-up"), "timeout": "120s",
                     "records": [{"topic": topic, "value": "warm"}]}),
        )
        .await;
    assert_eq!(status, 200, "warm-up transaction: {body}");
}

/// The records of an NDJSON stream read whole (`format=ndjson` in `path`).
pub async fn read_ndjson(svc: &Service, path: &str) -> Vec<Value> {
    let response = svc.send(Method::GET, path).await;
    assert_eq!(response.status(), 200, "{path}");
    let text = response.text().await.expect("an NDJSON body");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A GET page without its `next` cursor (checked to be there), to compare
/// the rest whole.
pub fn records_only(mut page: Value) -> Value {
    if let Some(fields) = page.as_object_mut() {
        if let Some(next) = fields.remove("next") {
            assert!(next.is_string(), "next is not a cursor: {next}");
        }
    }
    page
}

/// The resident memory of process `pid` now and at its peak (`VmRSS`,
/// `VmHWM`), in bytes.
pub fn memory_of(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| {
                v.trim()
                    .trim_end_matches(" kB")
                    .trim()
                    .parse::<u64>()
                    .unwrap()
                    * 1024
            })
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The peak resident memory of process `pid`, in bytes.
pub fn peak_rss(pid: u32) -> u64 {
    memory_of(pid).1
}

/// Creates a topic with `partitions` partitions (and optional configs).
pub async fn create_topic(topic: &str, partitions: i32, configs: &[(&str, &str)]) {
    kafka_records::kafka::create_topic(&bootstrap(), topic, partitions, configs)
        .await
        .unwrap_or_else(|e| panic!("creating topic {topic}: {e}"));
}

/// Creates a topic named after `prefix` with `partitions` partitions.
pub async fn new_topic(prefix: &str, partitions: i32) -> String {
    let topic = unique_topic(prefix);
    create_topic(&topic, partitions, &[]).await;
    topic
}

/// Creates a topic like [`new_topic`] whose records retention never deletes,
/// for records with timestamps years old: a broker deletes a segment once
/// its newest timestamp is older than `retention.ms` (7 days by default), at
/// its next retention check (every 5 minutes), which may come mid-test.
pub async fn new_topic_kept(prefix: &str, partitions: i32) -> String {
    let topic = unique_topic(prefix);
    create_topic(&topic, partitions, &[("retention.ms", "-1")]).await;
    topic
}

/// A client of the crate's own Kafka layer for the cluster at `servers`
/// (a comma-separated list), for checks and set-up the service does not do.
pub fn kafka_client(servers: &str) -> kafka_records::kafka::Cluster {
    kafka_records::kafka::Cluster::new(kafka_records::kafka::ClusterConfig {
        bootstrap: servers.split(',').map(str::to_string).collect(),
    })
}

/// The binary cargo built for these tests, with no flags.
pub fn binary() -> Launch {
    Launch::new(env!("CARGO_BIN_EXE_kafka-records"))
}

impl Service {
    /// The test build on a free loopback port, logging warnings and errors.
    fn test_build() -> Launch {
        binary().any_port().log("warn")
    }

    /// The test build against `servers`: add flags and environment, then
    /// start it.
    pub fn on(servers: &str) -> Launch {
        Service::test_build().on(servers)
    }

    /// Starts the binary against the test broker.
    pub fn start() -> Service {
        Service::on(&bootstrap()).start()
    }

    /// Starts the binary with extra flags and environment variables, against
    /// the test broker unless `args` give `--bootstrap-servers` of their own.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Service {
        let launch = if args.contains(&"--bootstrap-servers") {
            Service::test_build()
        } else {
            Service::on(&bootstrap())
        };
        launch.args(args).envs(env).start()
    }
}

/// Requests to the service, checked and read as the tests need them.
impl Client {
    /// A request to `path_and_query` (`/records/t?limit=3`), to finish and send.
    pub fn request(&self, method: Method, path_and_query: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path_and_query}", self.url))
    }

    /// Sends `method path_and_query` without a body; the response, which
    /// must come.
    pub async fn send(&self, method: Method, path_and_query: &str) -> reqwest::Response {
        self.request(method.clone(), path_and_query)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path_and_query}: {e}"))
    }

    /// POST /records with a JSON body; returns status and JSON (Null when empty).
    pub async fn post(&self, body: Value) -> (u16, Value) {
        let r = self
            .request(Method::POST, "/records")
            .body(body.to_string())
            .send()
            .await
            .expect("POST /records");
        into_json(r).await
    }

    /// GET a path with query, e.g. `/records/t?limit=3`.
    pub async fn get(&self, path_and_query: &str) -> (u16, Value) {
        into_json(self.send(Method::GET, path_and_query).await).await
    }

    /// A GET running in the background: its status and JSON body.
    pub fn spawn_get(&self, path_and_query: &str) -> tokio::task::JoinHandle<(u16, Value)> {
        let request = self.request(Method::GET, path_and_query);
        tokio::spawn(async move {
            let r = request.send().await.expect("GET");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.expect("JSON body"))
        })
    }

    /// DELETE a path with query.
    pub async fn delete(&self, path_and_query: &str) -> (u16, Value) {
        into_json(self.send(Method::DELETE, path_and_query).await).await
    }

    /// The text of `GET /metrics`, which must answer 200.
    pub async fn metrics(&self) -> String {
        let r = self.send(Method::GET, "/metrics").await;
        assert_eq!(r.status().as_u16(), 200);
        r.text().await.expect("metrics body")
    }

    /// The service's count of Kafka requests sent, by API
    /// (`kafka_records_kafka_requests_total`), from one scrape.
    pub async fn kafka_requests(&self) -> BTreeMap<String, u64> {
        service::kafka_requests_in(&self.metrics().await)
    }

    /// How many Kafka requests of each API the service sent while `work`
    /// ran (APIs it did not use are left out).
    pub async fn kafka_requests_during<T>(
        &self,
        work: impl std::future::Future<Output = T>,
    ) -> (T, BTreeMap<String, u64>) {
        let before = self.kafka_requests().await;
        let out = work.await;
        let mut sent = self.kafka_requests().await;
        for (api, count) in sent.iter_mut() {
            *count -= before.get(api).copied().unwrap_or(0);
        }
        sent.retain(|_, count| *count > 0);
        (out, sent)
    }
}

async fn into_json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let bytes = r.bytes().await.expect("response body");
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "response is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    (status, json)
}

/// POSTs `records` and insists every one was written.
pub async fn post_ok(svc: &Client, records: Vec<Value>) -> Value {
    let (status, body) = svc.post(json!({ "records": records })).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// GETs `path` and returns its records, insisting on a 200.
pub async fn read(svc: &Client, path: &str) -> Vec<Value> {
    let (status, body) = svc.get(path).await;
    assert_eq!(status, 200, "{path}: {body}");
    body["records"]
        .as_array()
        .unwrap_or_else(|| panic!("no records array: {body}"))
        .clone()
}

/// Reads every committed record of `topic` on the test broker with kcat,
/// ordered by partition and offset.
pub fn kcat_read(topic: &str) -> Vec<KcatRecord> {
    Kcat::new().read(topic).records()
}

/// Writes `lines` as values to `partition` of `topic` on the test broker
/// with kcat, in one batch.
pub fn kcat_produce<L: AsRef<[u8]>>(topic: &str, partition: i32, lines: &[L]) {
    Kcat::new().produce(topic).partition(partition).send(lines);
}

/// Whether the test broker lists `topic` (asking never creates one).
pub fn kcat_topic_exists(topic: &str) -> bool {
    Kcat::new().topic_exists(topic)
}

/// The binary's `--help`, run with `env`; it must succeed.
pub fn help(env: &[(&str, &str)]) -> String {
    let out = binary().args(["--help"]).envs(env).output();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// Checks that `help` names each flag and its environment variable.
pub fn assert_help_lists(help: &str, flags: &[(&str, &str)]) {
    for (flag, env) in flags {
        assert!(
            help.contains(flag),
            "--help does not mention {flag}:\n{help}"
        );
        assert!(help.contains(env), "--help does not mention {env}:\n{help}");
    }
}

/// Checks an error response: its status, `{"code", "message"}` shape, and
/// that the message mentions each of `needles`.
pub fn assert_error(status: u16, body: &Value, expected: u16, needles: &[&str]) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["code"], json!(expected), "{body}");
    let message = body["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message: {body}"));
    for needle in needles {
        assert!(
            message.contains(needle),
            "the message does not mention {needle:?}: {message}"
        );
    }
}

/// GETs `path` and returns the records of a 200, or why there are none: no
/// answer, another status (with its body), a body cut off or not JSON.
pub async fn try_read(svc: &Client, path: &str) -> Result<Vec<Value>, String> {
    let r = svc
        .request(Method::GET, path)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let body = r.text().await.map_err(|e| format!("{status}, cut: {e}"))?;
    if status != 200 {
        return Err(format!("{status}: {body}"));
    }
    let body: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    Ok(body["records"].as_array().expect("records").clone())
}

/// `(partition, offset, value)` of a record of a GET answer, its value a string.
pub fn placed(record: &Value) -> (i32, i64, String) {
    (
        record["partition"].as_i64().expect("partition") as i32,
        record["offset"].as_i64().expect("offset"),
        record["value"]
            .as_str()
            .expect("a string value")
            .to_string(),
    )
}

/// `(partition, offset)` of each record of a GET answer, in answer order.
pub fn offsets(records: &[Value]) -> Vec<(i64, i64)> {
    records
        .iter()
        .map(|r| {
            (
                r["partition"].as_i64().unwrap(),
                r["offset"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Starts `GET path`, then POSTs `live(0)`, `live(1)`, ... every half
/// second until it returns (60 at most), so that some record is written
/// after the GET resolved where it starts, however late that is; returns
/// the records of its answer, which must be a 200.
pub async fn read_while_writing(
    svc: &Client,
    path: &str,
    live: impl Fn(i64) -> Value,
) -> Vec<Value> {
    let get = svc.spawn_get(path);
    let mut n = 0;
    while !get.is_finished() && n < 60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        post_ok(svc, vec![live(n)]).await;
        n += 1;
    }
    let (status, body) = tokio::time::timeout(Duration::from_secs(60), get)
        .await
        .expect("the GET did not return")
        .expect("GET task");
    assert_eq!(status, 200, "{body}");
    body["records"].as_array().unwrap().clone()
}

/// `method` twice on `/records/{topic}` (with `query`) for a topic that does
/// not exist: each a 404 naming it, and the topic was not created (the
/// broker creates topics on request).
pub async fn assert_unknown_topic_not_created(svc: &Client, method: Method, query: &str) {
    let topic = unique_topic("missing");
    for _ in 0..2 {
        let answer = svc
            .send(method.clone(), &format!("/records/{topic}{query}"))
            .await;
        let (status, body) = into_json(answer).await;
        assert_error(status, &body, 404, &[&topic]);
    }
    assert!(
        !kcat_topic_exists(&topic),
        "the {method} created topic {topic} (the broker auto-creates topics on request)"
    );
}

/// Polls `f` until it returns Some, for up to `timeout`.
pub async fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "condition not met within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts a cluster of a test's own, `scripts/kafka.sh start --name NAME
/// ARGS...`, of the release under test ([`kafka_version`]), and returns its
/// bootstrap list. It stops with this process at the latest (`--owner`),
/// even one that dies before cleaning up.
pub fn start_cluster(name: &str, args: &[&str]) -> String {
    let out = Command::new(kafka_sh())
        .args(["start", "--name", name])
        .args(["--kafka-version", &kafka_version().release])
        .args(["--owner", &std::process::id().to_string()])
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/kafka.sh");
    assert!(
        out.status.success(),
        "scripts/kafka.sh start {args:?} failed"
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A cluster of a test's own with any number of brokers, started with
/// `scripts/kafka.sh` under a unique name; brokers can be killed (SIGKILL, a
/// crash) and restarted on the same port and data. Stopped on drop.
pub struct OwnCluster {
    name: String,
    /// Every broker's address, as a user would list them.
    pub bootstrap: String,
    /// Broker addresses by node id - 1 (`scripts/kafka.sh` numbers nodes from 1).
    addrs: Vec<String>,
    /// Node ids killed and not restarted yet.
    down: std::sync::Mutex<Vec<i32>>,
}

impl OwnCluster {
    /// Starts `brokers` brokers with extra `key=value` settings; the cluster's
    /// name starts with `prefix`.
    pub fn start(prefix: &str, brokers: usize, configs: &[&str]) -> OwnCluster {
        let name = unique_topic(prefix);
        let count = brokers.to_string();
        let mut args = vec!["--brokers", &count];
        for c in configs {
            args.extend(["--config", c]);
        }
        let bootstrap = start_cluster(&name, &args);
        let addrs: Vec<String> = bootstrap.split(',').map(str::to_string).collect();
        assert_eq!(addrs.len(), brokers, "bootstrap list {bootstrap}");
        OwnCluster {
            name,
            bootstrap,
            addrs,
            down: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The address of node `id`.
    pub fn addr(&self, id: i32) -> &str {
        &self.addrs[(id - 1) as usize]
    }

    /// Node ids of every broker.
    pub fn ids(&self) -> Vec<i32> {
        (1..=self.addrs.len() as i32).collect()
    }

    /// Addresses of the brokers not killed, for clients that should not wait
    /// on a dead one.
    pub fn live(&self) -> String {
        let down = self.down.lock().unwrap().clone();
        self.ids()
            .into_iter()
            .filter(|id| !down.contains(id))
            .map(|id| self.addr(id).to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// SIGKILLs node `id`, as a crash would.
    pub fn kill(&self, id: i32) {
        self.broker_command("kill-broker", id, Stdio::null());
        self.down.lock().unwrap().push(id);
    }

    /// Starts node `id` again on its port and data; returns once every
    /// running broker is registered and unfenced.
    pub fn restart(&self, id: i32) {
        self.broker_command("restart-broker", id, Stdio::inherit());
        self.down.lock().unwrap().retain(|d| *d != id);
    }

    /// `scripts/kafka.sh COMMAND NAME ID`, which must succeed.
    fn broker_command(&self, command: &str, id: i32, stderr: Stdio) {
        let status = Command::new(kafka_sh())
            .args([command, &self.name, &id.to_string()])
            .stderr(stderr)
            .status()
            .expect("scripts/kafka.sh");
        assert!(status.success(), "scripts/kafka.sh {command} failed");
    }

    /// Every partition of `topic` (of every topic, internal ones included,
    /// when `None`), as the live brokers describe them to kcat.
    pub fn partitions(&self, topic: Option<&str>) -> Vec<PartitionState> {
        Kcat::on(&self.live()).metadata(topic).partitions
    }

    /// The leader of `topic`/`partition`, once there is one.
    pub async fn leader(&self, topic: &str, partition: i32) -> i32 {
        eventually(Duration::from_secs(120), || {
            self.partitions(Some(topic))
                .into_iter()
                .find(|p| p.partition == partition && p.leader > 0)
                .map(|p| p.leader)
        })
        .await
    }

    /// Waits until a broker other than `old` leads `topic`/`partition`.
    pub async fn leader_moved(&self, topic: &str, partition: i32, old: i32) -> i32 {
        eventually(Duration::from_secs(120), || {
            self.partitions(Some(topic))
                .into_iter()
                .find(|p| p.partition == partition && p.leader > 0 && p.leader != old)
                .map(|p| p.leader)
        })
        .await
    }

    /// Waits until every replica of every partition (internal topics
    /// included) is in sync again, e.g. after a restart.
    pub async fn wait_in_sync(&self) {
        eventually(Duration::from_secs(180), || {
            let parts = self.partitions(None);
            let synced = !parts.is_empty()
                && parts
                    .iter()
                    .all(|p| p.leader > 0 && p.isr.len() == p.replicas.len());
            synced.then_some(())
        })
        .await
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = Command::new(kafka_sh())
            .args(["stop", "--name", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// Where a test runs Java consumers that ask for the KIP-848 protocol
/// (`group.protocol=consumer`): the test broker when its release has the
/// protocol on (Kafka 4.x) or has none (2.8: the consumer joins with the
/// classic protocol); a cluster of the test's own with the preview enabled
/// on 3.8 and 3.9, as a user of those releases would run it (the test broker
/// keeps their default, where the consumer protocol is off).
pub struct ConsumerProtocolCluster {
    own: Option<OwnCluster>,
    protocol: ConsumerProtocol,
}

impl ConsumerProtocolCluster {
    /// The test broker, or a cluster named after `prefix`.
    pub fn start(prefix: &str) -> ConsumerProtocolCluster {
        let protocol = kafka_version().consumer_protocol();
        let own = (protocol == ConsumerProtocol::Preview).then(|| {
            OwnCluster::start(
                prefix,
                1,
                &["group.coordinator.rebalance.protocols=classic,consumer"],
            )
        });
        ConsumerProtocolCluster { own, protocol }
    }

    /// Its bootstrap servers.
    pub fn bootstrap(&self) -> String {
        self.own
            .as_ref()
            .map_or_else(bootstrap, |c| c.bootstrap.clone())
    }

    /// The `type` the service gives the group of such a consumer: `consumer`,
    /// or `classic` where the release has no other.
    pub fn group_type(&self) -> &'static str {
        match self.protocol {
            ConsumerProtocol::Absent => "classic",
            ConsumerProtocol::On | ConsumerProtocol::Preview => "consumer",
        }
    }
}

/// `scripts/kafka.sh`: starts and stops brokers, runs Kafka's Java tools.
pub fn kafka_sh() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kafka.sh")
}

/// One of Kafka's Java tools, from the jars of the release under test
/// ([`kafka_version`]): `args` starts with its class as Kafka 3.9 and 4.x
/// name it (`org.apache.kafka.tools.TopicCommand`), which becomes the class
/// of the release under test (see [`KafkaVersion::tool_args`]).
pub fn kafka_tool(args: &[&str]) -> Command {
    let version = kafka_version();
    let mut cmd = Command::new(kafka_sh());
    cmd.args(["tool", "--kafka-version", &version.release])
        .args(version.tool_args(args));
    cmd
}

/// The Apache Kafka release the tests run against: its brokers, its clusters
/// of their own, its Java tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaVersion {
    /// The release, `3.9.1`.
    pub release: String,
    /// Its major version, `3`.
    pub major: u32,
    /// Its minor version, `9`.
    pub minor: u32,
}

/// How a Kafka release runs consumer groups of the KIP-848 protocol
/// (`group.protocol=consumer` in Java consumers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerProtocol {
    /// On by default (Kafka 4.0 and later).
    On,
    /// A preview, off unless the brokers list it in
    /// `group.coordinator.rebalance.protocols` (Kafka 3.8 and 3.9).
    Preview,
    /// Not there (Kafka 2.8, the older release the tests know): a consumer
    /// of that release knows no `group.protocol` and joins with the classic
    /// protocol.
    Absent,
}

/// The release under test: `KAFKA_RECORDS_TEST_KAFKA_VERSION` (which
/// scripts/test.sh sets to the version of the broker it starts), else
/// `KAFKA_SH_KAFKA_VERSION` (scripts/kafka.sh's default for every call), else
/// scripts/kafka.sh's own default, 4.1.1. Set it when
/// `KAFKA_RECORDS_TEST_BOOTSTRAP` names a cluster of another release.
pub fn kafka_version() -> KafkaVersion {
    let release = ["KAFKA_RECORDS_TEST_KAFKA_VERSION", "KAFKA_SH_KAFKA_VERSION"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "4.1.1".to_string());
    KafkaVersion::parse(&release)
}

impl KafkaVersion {
    /// `3.9.1` as a release; panics on anything else, naming it.
    pub fn parse(release: &str) -> KafkaVersion {
        let parts: Vec<u32> = release
            .split('.')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()
            .filter(|p: &Vec<u32>| p.len() == 3)
            .unwrap_or_else(|| panic!("not a Kafka release like 3.9.1: {release:?}"));
        KafkaVersion {
            release: release.to_string(),
            major: parts[0],
            minor: parts[1],
        }
    }

    /// Whether this release is `major.minor` or newer.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// How this release runs groups of the KIP-848 consumer protocol.
    pub fn consumer_protocol(&self) -> ConsumerProtocol {
        if self.at_least(4, 0) {
            ConsumerProtocol::On
        } else if self.at_least(3, 8) {
            ConsumerProtocol::Preview
        } else {
            ConsumerProtocol::Absent
        }
    }

    /// A tool's class and arguments as Kafka 3.9 and 4.x take them, for this
    /// release. Kafka 2.8 has the tools in its core jar under older names,
    /// and its GetOffsetShell takes `--broker-list` for `--bootstrap-server`.
    /// Other releases before 3.9 moved tools one by one: the tests know only
    /// the releases of the matrix.
    pub fn tool_args(&self, args: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        if self.at_least(3, 9) {
            return out;
        }
        assert!(
            self.major == 2 && self.minor == 8,
            "the tests know the Java tools of Kafka 2.8 and of 3.9 and later, not of {}",
            self.release
        );
        let Some(class) = out.first_mut() else {
            return out;
        };
        let older = match class.as_str() {
            "org.apache.kafka.tools.TopicCommand" => "kafka.admin.TopicCommand",
            "org.apache.kafka.tools.GetOffsetShell" => "kafka.tools.GetOffsetShell",
            "org.apache.kafka.tools.consumer.ConsoleConsumer" => "kafka.tools.ConsoleConsumer",
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand" => {
                "kafka.admin.ConsumerGroupCommand"
            }
            // The same class in 2.8: ConfigCommand, TransactionalMessageCopier.
            same => same,
        }
        .to_string();
        let offsets = older == "kafka.tools.GetOffsetShell";
        *class = older;
        if offsets {
            for arg in &mut out {
                if arg == "--bootstrap-server" {
                    *arg = "--broker-list".to_string();
                }
            }
        }
        out
    }
}

/// A process running for the length of a test, killed when dropped.
pub struct Background(Child);

impl Background {
    /// Starts `cmd` with no input and its output discarded.
    pub fn spawn(cmd: &mut Command) -> Background {
        Background(
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn a background process"),
        )
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Broker settings for failover tests. A killed broker is fenced, and its
/// partitions get new leaders, about 6 s after it dies (Kafka's default is
/// 9 s) and a stalled replica leaves the in-sync set after 10 s (not 30 s);
/// the internal topics get 6 partitions instead of 50, so that a small
/// cluster on a busy machine creates them quickly; a transaction left open by
/// a crash is aborted within seconds of its timeout.
pub const FAILOVER_CONFIGS: [&str; 6] = [
    "broker.heartbeat.interval.ms=1000",
    "broker.session.timeout.ms=6000",
    "replica.lag.time.max.ms=10000",
    "offsets.topic.num.partitions=6",
    "transaction.state.log.num.partitions=6",
    "transaction.abort.timed.out.transaction.cleanup.interval.ms=2000",
];

/// Partitions of `__consumer_offsets` and `__transaction_state` under [`FAILOVER_CONFIGS`].
const INTERNAL_PARTITIONS: i32 = 6;

impl OwnCluster {
    /// The broker coordinating transactional id `id` (see [`FAILOVER_CONFIGS`]).
    pub async fn transaction_coordinator(&self, id: &str) -> i32 {
        self.leader("__transaction_state", coordinator_partition(id))
            .await
    }

    /// The broker coordinating consumer group `group` (see [`FAILOVER_CONFIGS`]).
    pub async fn group_coordinator(&self, group: &str) -> i32 {
        self.leader("__consumer_offsets", coordinator_partition(group))
            .await
    }
}

/// Kafka's partition of an internal topic for a group or transactional id:
/// `Utils.abs(id.hashCode()) % partitions`, with Java's String hash.
fn coordinator_partition(id: &str) -> i32 {
    let hash = id
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % INTERNAL_PARTITIONS
}

impl OwnCluster {
    /// Creates `topic` with Kafka's own TopicCommand, placing replicas as
    /// `assignment` says (`1:2:3,2:3:1`: partition 0 on nodes 1, 2 and 3,
    /// led by 1; partition 1 led by 2), so a test knows which broker leads
    /// what. Waits until every partition has its preferred leader.
    pub async fn create_topic_assigned(&self, topic: &str, assignment: &str, configs: &[&str]) {
        let mut cmd =
            tokio::process::Command::from(kafka_tool(&["org.apache.kafka.tools.TopicCommand"]));
        cmd.args([
            "--bootstrap-server",
            &self.live(),
            "--create",
            "--topic",
            topic,
        ])
        .args(["--replica-assignment", assignment]);
        for c in configs {
            cmd.args(["--config", c]);
        }
        let status = cmd
            .stdout(Stdio::null())
            .status()
            .await
            .expect("scripts/kafka.sh tool");
        assert!(status.success(), "creating {topic} failed");
        let leaders: Vec<i32> = assignment
            .split(',')
            .map(|replicas| replicas.split(':').next().unwrap().parse().unwrap())
            .collect();
        eventually(Duration::from_secs(60), || {
            let parts = self.partitions(Some(topic));
            let ready = parts.len() == leaders.len()
                && parts
                    .iter()
                    .all(|p| leaders.get(p.partition as usize) == Some(&p.leader));
            ready.then_some(())
        })
        .await;
    }
}

/// Every committed record of `partitions` of `topic`, read through the
/// service's GET from the start of each partition, page by page
/// (`partition`, `seekTo`), as (partition, offset, value).
pub async fn read_via_get(svc: &Service, topic: &str, partitions: i32) -> Vec<(i32, i64, String)> {
    let mut out = Vec::new();
    for p in 0..partitions {
        let mut next = 0;
        loop {
            let path =
                format!("/records/{topic}?partition={p}&seekTo={next}&limit=5000&timeout=1s");
            let records = read(svc, &path).await;
            let Some(last) = records.last() else { break };
            next = last["offset"].as_i64().expect("offset") + 1;
            out.extend(records.iter().map(placed));
        }
    }
    out
}

/// Waits until no partition of `ids` has an open transaction (last stable
/// offset = high watermark): a transaction whose abort could not be sent is
/// aborted by its coordinator at its timeout. Fails after `within`.
pub async fn wait_for_open_transactions(
    admin: &kafka_records::kafka::Cluster,
    topic: &str,
    ids: &[i32],
    within: Duration,
) {
    use kafka_records::kafka::OffsetQuery;
    let started = std::time::Instant::now();
    loop {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let stable = admin
            .list_offsets(topic, ids, OffsetQuery::LastStable, deadline)
            .await;
        let high = admin
            .list_offsets(topic, ids, OffsetQuery::HighWatermark, deadline)
            .await;
        let settled = stable
            .iter()
            .zip(&high)
            .all(|((_, s), (_, h))| matches!((s, h), (Ok(s), Ok(h)) if s == h));
        if settled {
            return;
        }
        assert!(
            started.elapsed() < within,
            "transactions stayed open: {stable:?} {high:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Commits `offsets` (partition, next offset) of `topic` for `group` on the
/// test broker, as a standalone commit, without the service.
pub async fn commit_offsets_of(group: &str, topic: &str, offsets: &[(i32, i64)]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    kafka_client(&bootstrap())
        .commit_offsets(group, topic, offsets, deadline)
        .await
        .unwrap_or_else(|e| panic!("committing {offsets:?} of {topic} for {group}: {e}"));
}

/// The offsets `group` has committed for partitions `0..partitions` of
/// `topic` on the test broker (partitions without one left out), asked with
/// an OffsetFetch of the test's own.
pub async fn committed_offsets_of(
    group: &str,
    topic: &str,
    partitions: i32,
) -> std::collections::BTreeMap<i32, i64> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let ids: Vec<i32> = (0..partitions).collect();
    kafka_client(&bootstrap())
        .committed_offsets(group, topic, &ids, deadline)
        .await
        .unwrap_or_else(|e| panic!("OffsetFetch of {topic} for {group}: {e}"))
        .into_iter()
        .filter_map(|(p, o)| o.map(|o| (p, o)))
        .collect()
}

/// The offsets `group` has committed for `topic` on the test broker, as
/// Kafka's own ConsumerGroupCommand reports them (an independent view; it
/// starts a JVM, so it is slow): partitions without one left out.
pub fn committed_offsets_by_kafka(
    group: &str,
    topic: &str,
) -> std::collections::BTreeMap<i32, i64> {
    let out = kafka_tool(&[
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        "--bootstrap-server",
        &bootstrap(),
        "--describe",
        // Its own 5 s are short for a first call on a busy machine, which
        // creates the offsets topic.
        "--timeout",
        "60000",
        "--offsets",
        "--group",
        group,
    ])
    .stdin(Stdio::null())
    .output()
    .expect("scripts/kafka.sh tool");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("CURRENT-OFFSET"),
        "ConsumerGroupCommand failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // GROUP TOPIC PARTITION CURRENT-OFFSET ...
    stdout
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|cols| cols.len() >= 4 && cols[0] == group && cols[1] == topic)
        .filter_map(|cols| Some((cols[2].parse().ok()?, cols[3].parse().ok()?)))
        .collect()
}

/// A Python script of `tests/` run as a child, killed after five minutes
/// (coreutils' `timeout`), so that a client stuck on a socket fails its
/// test instead of holding it forever.
pub fn python_script(script: &str) -> std::process::Command {
    let mut command = std::process::Command::new("timeout");
    command
        .args(["300", "python3"])
        .arg(format!("{}/tests/{script}", env!("CARGO_MANIFEST_DIR")));
    command
}

/// A transaction of `count` records on partition 0 of `topic`, written by
/// Confluent's Python client (`tests/open_transaction.py`), acknowledged
/// and held open until [`OpenTransaction::commit`].
pub struct OpenTransaction {
    producer: Child,
    said: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl OpenTransaction {
    /// Starts the producer and waits until its records are acknowledged.
    pub fn start(topic: &str, count: usize) -> OpenTransaction {
        use std::io::BufRead;
        let mut producer = python_script("open_transaction.py")
            .args([
                bootstrap(),
                topic.to_string(),
                format!("{topic}-tx"),
                count.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 (Confluent's client: scripts/confluent-kafka.sh installs it)");
        let said = std::io::BufReader::new(producer.stdout.take().unwrap()).lines();
        let mut open = OpenTransaction { producer, said };
        assert_eq!(
            open.next_word(),
            "open",
            "the transactional producer failed"
        );
        open
    }

    fn next_word(&mut self) -> String {
        self.said.next().and_then(Result::ok).unwrap_or_default()
    }

    /// Commits the transaction; returns once the producer has.
    pub fn commit(mut self) {
        use std::io::Write;
        writeln!(self.producer.stdin.take().unwrap()).unwrap();
        assert_eq!(self.next_word(), "committed", "the commit failed");
        assert!(
            self.producer.wait().unwrap().success(),
            "the transactional producer failed"
        );
    }
}
