//! Side-by-side benchmark: the same Kafka work done three ways, in one run,
//! against one broker.
//!
//! 1. **direct**: the crate's own Kafka layer, in-process;
//! 2. **rskafka** and **rdkafka**: two Kafka clients this project did not
//!    write, in a process of their own that times itself (floors/, see
//!    compare/floors.rs), for one-shot reads and writes: the independent
//!    floors;
//! 3. **kafka-records**: the release binary over HTTP on loopback;
//! 4. **bridge**: the Strimzi Kafka Bridge's HTTP API, when one runs
//!    (`--bridge-url`), with every call its API needs.
//!
//! Besides: one-shot calls as whole processes (curl to the service, kcat,
//! Kafka's console tools; compare/processes.rs), the scaling of one-shot
//! reads with partitions and of writes with clients (compare/scaling.rs),
//! and the stream workloads (compare/streams.rs).
//!
//! Run it with `scripts/bench.sh` (starts the broker, builds the binary).
//! Prints a table of medians and ratios.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use kafka_records::kafka::{decode_records, encode_records, Cluster, ClusterConfig, ProduceRecord};
use serde::de::IgnoredAny;
use serde_json::{json, Value};
use tokio::net::TcpStream;

#[path = "../tests/common/service.rs"]
mod service;

#[path = "compare/streams.rs"]
mod streams;

#[path = "compare/floors.rs"]
mod floors;

#[path = "compare/processes.rs"]
mod processes;

#[path = "compare/scaling.rs"]
mod scaling;

#[path = "compare/avro.rs"]
mod avro;

use floors::Floor;

use service::{Launch, Service};

/// A fresh service process on the benchmark's broker, ready.
fn start_service(o: &Options) -> Service {
    let service = Launch::new(&o.binary)
        .on(&o.bootstrap)
        .any_port()
        .log("warn")
        .start();
    service.wait_ready(Duration::from_secs(30));
    service
}

/// Settings from the command line.
struct Options {
    bootstrap: String,
    binary: String,
    bridge: Option<String>,
    quick: bool,
    /// Run only the workloads whose name contains this (or one of these,
    /// given as a comma-separated list).
    only: Option<String>,
}

fn options() -> Options {
    let mut args = std::env::args().skip(1);
    let mut o = Options {
        bootstrap: std::env::var("KAFKA_RECORDS_BENCH_BOOTSTRAP").unwrap_or_else(|_| {
            panic!("KAFKA_RECORDS_BENCH_BOOTSTRAP is not set: run scripts/bench.sh, which starts a broker")
        }),
        binary: concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/kafka-records").to_string(),
        bridge: std::env::var("KAFKA_RECORDS_BENCH_BRIDGE_URL").ok().filter(|s| !s.is_empty()),
        quick: false,
        only: None,
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bridge-url" => o.bridge = args.next(),
            "--binary" => o.binary = args.next().expect("--binary PATH"),
            "--quick" => o.quick = true,
            "--only" => o.only = args.next(),
            "--bench" => {}
            other => eprintln!("ignoring argument {other}"),
        }
    }
    assert!(
        std::path::Path::new(&o.binary).exists(),
        "no {}: build it with cargo build --release",
        o.binary
    );
    o
}

/// One HTTP/1.1 keep-alive connection: the lightest client there is, so the
/// client's own cost stays out of the figures.
struct Http {
    send: SendRequest<Full<Bytes>>,
    host: String,
}

impl Http {
    async fn connect(base: &str) -> Http {
        let host = base.trim_start_matches("http://").to_string();
        let stream = TcpStream::connect(&host).await.expect("connect");
        stream.set_nodelay(true).ok();
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        Http { send, host }
    }

    async fn call(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> (u16, Bytes) {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("request");
        self.send.ready().await.expect("connection ready");
        let resp = self.send.send_request(req).await.expect("send");
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, body)
    }

    async fn get(&mut self, path: &str) -> (u16, Bytes) {
        self.call(Method::GET, path, &[], None).await
    }

    async fn post_json(&mut self, path: &str, content_type: &str, body: &Value) -> (u16, Bytes) {
        self.call(
            Method::POST,
            path,
            &[("content-type", content_type)],
            Some(body.to_string()),
        )
        .await
    }
}

/// A bare HTTP/1.1 keep-alive client for the write loads: the request's
/// bytes are built once and each call writes them and reads one response,
/// so the client costs little more than its system calls (the load shares
/// two cores with the broker and the service).
struct RawHttp {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawHttp {
    async fn connect(base: &str) -> RawHttp {
        let stream = TcpStream::connect(base.trim_start_matches("http://"))
            .await
            .expect("connect");
        stream.set_nodelay(true).ok();
        RawHttp {
            stream,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// A whole POST request, ready to send as often as needed.
    fn post_request(base: &str, path: &str, content_type: &str, body: &str) -> Vec<u8> {
        let host = base.trim_start_matches("http://");
        let mut req = format!(
            "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body.as_bytes());
        req
    }

    /// A whole GET request without a body.
    fn get_request(base: &str, path: &str) -> Vec<u8> {
        let host = base.trim_start_matches("http://");
        format!("GET {path} HTTP/1.1\r\nhost: {host}\r\n\r\n").into_bytes()
    }

    /// Sends `request` and returns the response's status and body.
    async fn call(&mut self, request: &[u8]) -> (u16, &[u8]) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        self.stream.write_all(request).await.expect("write");
        self.buf.clear();
        let mut head_end = None;
        loop {
            if let Some(end) = head_end {
                if let Some((status, body)) = Self::complete(&self.buf, end) {
                    // Re-borrow: the body lies in the buffer.
                    let (start, len) = body;
                    return (status, &self.buf[start..start + len]);
                }
            }
            if self.buf.capacity() - self.buf.len() < 16 * 1024 {
                self.buf.reserve(64 * 1024);
            }
            let n = self.stream.read_buf(&mut self.buf).await.expect("read");
            assert!(n > 0, "the server closed the connection");
            if head_end.is_none() {
                head_end = self
                    .buf
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map(|p| p + 4);
            }
        }
    }

    /// When `buf` holds a whole response whose head ends at `head_end`: its
    /// status and where its body is. Knows `content-length`, chunked bodies
    /// and 204's lack of one.
    fn complete(buf: &[u8], head_end: usize) -> Option<(u16, (usize, usize))> {
        let head = std::str::from_utf8(&buf[..head_end]).expect("response head");
        let status: u16 = head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .expect("status");
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        if status == 204 {
            return Some((status, (head_end, 0)));
        }
        if let Some(len) = header("content-length") {
            let len: usize = len.parse().expect("content-length");
            return (buf.len() >= head_end + len).then_some((status, (head_end, len)));
        }
        assert!(
            header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")),
            "a response with neither content-length nor chunks"
        );
        // Only the end matters to a load: the body is not read back.
        buf.ends_with(b"0\r\n\r\n")
            .then_some((status, (head_end, buf.len() - head_end)))
    }
}

/// The `p` quantile of `latencies` (sorted here) in ms; None when there are none.
fn percentile(latencies: &mut [Duration], p: f64) -> Option<f64> {
    if latencies.is_empty() {
        return None;
    }
    latencies.sort();
    let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
    Some(ms(latencies[i.min(latencies.len() - 1)]))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A row of the final table: one metric, measured up to five ways.
struct Row {
    workload: &'static str,
    metric: &'static str,
    direct: Option<f64>,
    /// rskafka's and librdkafka's, in the order of [`floors::KINDS`].
    floors: [Option<f64>; 2],
    service: Option<f64>,
    bridge: Option<f64>,
}

impl Row {
    /// A metric only the service has.
    fn service(workload: &'static str, metric: &'static str, value: f64) -> Row {
        Row {
            workload,
            metric,
            direct: None,
            floors: [None, None],
            service: Some(value),
            bridge: None,
        }
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| {:<22} | {:<24} | {:>12} | {:>12} | {:>12} | {:>13} | {:>12} | {:>8} | {:>8} | {:>8} | {:>8} |",
        "workload",
        "metric",
        "direct",
        "rskafka",
        "rdkafka",
        "kafka-records",
        "bridge",
        "/direct",
        "/rskafka",
        "/rdkafka",
        "bridge/"
    );
    let widths = [24, 26, 14, 14, 14, 15, 14, 10, 10, 10, 10];
    let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    println!("|{}|", dashes.join("|"));
    let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    for r in rows {
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b != 0.0 => format!("{:.2}x", a / b),
            _ => "-".to_string(),
        };
        println!(
            "| {:<22} | {:<24} | {:>12} | {:>12} | {:>12} | {:>13} | {:>12} | {:>8} | {:>8} | {:>8} | {:>8} |",
            r.workload,
            r.metric,
            fmt(r.direct),
            fmt(r.floors[0]),
            fmt(r.floors[1]),
            fmt(r.service),
            fmt(r.bridge),
            ratio(r.service, r.direct),
            ratio(r.service, r.floors[0]),
            ratio(r.service, r.floors[1]),
            ratio(r.bridge, r.service),
        );
    }
    println!("(the ratios are kafka-records' value over each other's, and the bridge's over kafka-records')");
    println!("(latencies in ms, lower is better; rates in records/s, higher is better; RSS in MB)");
}

/// The targets, judged on this run's figures.
fn print_targets(rows: &[Row], processes: Option<&processes::Processes>) {
    let row = |workload: &str, metric: &str| {
        rows.iter()
            .find(|r| r.workload == workload && r.metric == metric)
    };
    let mut lines: Vec<(String, String, bool)> = Vec::new();
    let [rskafka, rdkafka] = floors::KINDS;
    if let Some(r) = row("write 8x100x100B", "records/s") {
        for (name, floor, at_least) in [(rskafka, r.floors[0], 1.0), (rdkafka, r.floors[1], 0.7)] {
            if let (Some(s), Some(f)) = (r.service, floor) {
                lines.push((
                    format!("8x100x100B writes: service >= {at_least}x {name}"),
                    format!("{s:.0} / {f:.0} records/s = {:.2}x", s / f),
                    s / f >= at_least,
                ));
            }
        }
    }
    if let Some(r) = row("write single record", "p50 ms") {
        for (name, floor, at_least) in [(rskafka, r.floors[0], 1.0), (rdkafka, r.floors[1], 0.7)] {
            if let (Some(s), Some(f)) = (r.service, floor) {
                // As rates: one record per p50.
                lines.push((
                    format!("single-record writes: service >= {at_least}x {name}"),
                    format!("p50 {s:.3} / {f:.3} ms = {:.2}x the rate", f / s),
                    f / s >= at_least,
                ));
            }
        }
    }
    if let Some(r) = row("one-shot read", "p50 ms") {
        let fastest = [
            ("direct", r.direct),
            (rskafka, r.floors[0]),
            (rdkafka, r.floors[1]),
        ]
        .into_iter()
        .filter_map(|(n, v)| v.map(|v| (n, v)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
        if let (Some(s), Some((name, f))) = (r.service, fastest) {
            lines.push((
                "one-shot read p50: service within 0.3 ms of the fastest in-process client"
                    .to_string(),
                format!("{s:.3} - {f:.3} ms ({name}) = {:+.3} ms", s - f),
                s - f <= 0.3,
            ));
        }
    }
    if let Some(p) = processes {
        use processes::{CURL, JAVA, KCAT};
        for call in ["read", "write"] {
            if let (Some(c), Some(k)) = (p.median(CURL, call), p.median(KCAT, call)) {
                lines.push((
                    format!("one-shot {call}: curl + service ahead of kcat"),
                    format!("{c:.1} / {k:.1} ms, kcat takes {:.1}x", k / c),
                    c < k,
                ));
            }
            if let (Some(c), Some(j)) = (p.median(CURL, call), p.median(JAVA, call)) {
                lines.push((
                    format!("one-shot {call}: curl + service > 50x ahead of the console tool"),
                    format!("{c:.1} / {j:.1} ms, the JVM tool takes {:.0}x", j / c),
                    j / c > 50.0,
                ));
            }
        }
    }
    if lines.is_empty() {
        return;
    }
    println!();
    println!("| {:<72} | {:<46} | {:<6} |", "target", "this run", "");
    println!("|{}|{}|{}|", "-".repeat(74), "-".repeat(48), "-".repeat(8));
    for (target, figures, met) in lines {
        let verdict = if met { "met" } else { "missed" };
        println!("| {target:<72} | {figures:<46} | {verdict:<6} |");
    }
}

/// What the benchmark reads of the service's process.
impl Service {
    /// CPU time (user and system) the service has used, in seconds.
    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&self.pid().to_string())
    }

    /// Resident memory now and at its peak.
    fn memory(&self) -> Memory {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        Memory {
            rss: field("VmRSS:"),
            peak: field("VmHWM:"),
        }
    }
}

/// A process's resident memory, in MB.
struct Memory {
    rss: f64,
    /// The high-water mark.
    peak: f64,
}

/// CPU time (user and system) process `pid` (or `self`) has used, in seconds.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses: utime and
    // stime are the 12th and 13th, in clock ticks of 1/100 s.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse().ok())
        .collect();
    ticks.iter().sum::<f64>() / 100.0
}

/// CPU seconds used so far by the broker processes, when the script that
/// started them says which they are (`KAFKA_RECORDS_BENCH_BROKER_PIDS`).
fn broker_cpu_seconds() -> Option<f64> {
    let pids = std::env::var("KAFKA_RECORDS_BENCH_BROKER_PIDS").ok()?;
    Some(pids.split(',').map(|p| cpu_seconds(p.trim())).sum())
}

/// Where the CPU of one side of a load went, in microseconds per request.
#[derive(Default)]
struct CpuSplit {
    requests: usize,
    client: f64,
    service: f64,
    broker: Option<f64>,
}

impl CpuSplit {
    /// Runs `load`, adding the CPU each process used during it; the
    /// client is process `client` ("self" for this one).
    async fn measure(
        &mut self,
        service: &Service,
        client: &str,
        load: impl Future<Output = Load>,
    ) -> Load {
        let (c, s, b) = (
            cpu_seconds(client),
            service.cpu_seconds(),
            broker_cpu_seconds(),
        );
        let out = load.await;
        self.requests += out.latencies.len();
        self.client += cpu_seconds(client) - c;
        self.service += service.cpu_seconds() - s;
        if let (Some(b0), Some(b1)) = (b, broker_cpu_seconds()) {
            *self.broker.get_or_insert(0.0) += b1 - b0;
        }
        out
    }

    fn describe(&self) -> String {
        let per = |s: f64| s / self.requests.max(1) as f64 * 1e6;
        let broker = self
            .broker
            .map_or("not measured".to_string(), |b| format!("{:.0}", per(b)));
        format!(
            "client {:.0}, service {:.0}, broker {broker} us CPU per request",
            per(self.client),
            per(self.service)
        )
    }
}

fn topic_name(prefix: &str) -> String {
    format!("bench-{prefix}-{}", std::process::id())
}

fn far() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(60)
}

/// Fills partitions of `topic` with `per_partition` records of `size` bytes, in batches.
async fn fill(cluster: &Cluster, topic: &str, partitions: i32, per_partition: usize, size: usize) {
    // A JSON string, so the bridge's json consumers can read it too.
    let value = Bytes::from(format!("\"{}\"", "x".repeat(size.saturating_sub(2))));
    // Stamped now: records of 1970 are past the topic's retention, and the
    // broker may delete them while the benchmark still reads them.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut left = per_partition;
    while left > 0 {
        let n = left.min(1000);
        let batch: Vec<ProduceRecord> = (0..n)
            .map(|_| ProduceRecord {
                key: None,
                value: Some(&value),
                timestamp: now,
                headers: &[],
            })
            .collect();
        let encoded = encode_records(&batch, None);
        let batches = (0..partitions).map(|p| (p, encoded.clone())).collect();
        for (_, r) in cluster.produce(topic, batches, None, far()).await {
            r.expect("fill");
        }
        left -= n;
    }
}

/// Creates a topic of `partitions` partitions named after `prefix`.
async fn new_topic(cluster: &Cluster, prefix: &str, partitions: i32) -> String {
    let topic = topic_name(prefix);
    cluster
        .create_topic(&topic, partitions, 1, &[], far())
        .await
        .expect("create");
    topic
}

#[tokio::main]
async fn main() {
    let o = options();
    let cluster = Cluster::new(ClusterConfig {
        bootstrap: o.bootstrap.split(',').map(str::to_string).collect(),
    });
    let mut rows = Vec::new();

    // Start-up and idle memory first, on a fresh process.
    let started = Instant::now();
    let service = start_service(&o);
    let startup = started.elapsed();
    let idle = service.memory().rss;
    eprintln!(
        "start-up to ready: {:.1} ms, idle RSS {idle:.1} MB",
        ms(startup)
    );
    rows.push(Row::service(
        "start-up",
        "process start to ready ms",
        ms(startup),
    ));
    rows.push(Row::service("start-up", "idle RSS MB", idle));

    let run = |name: &str| {
        o.only
            .as_deref()
            .is_none_or(|only| only.split(',').any(|w| name.contains(w)))
    };
    // The independent floors, for the reads and writes below.
    let floors = if run("read") || run("write") {
        Floor::start_all(&o.bootstrap)
    } else {
        Vec::new()
    };
    if run("read") {
        one_shot_read(&o, &cluster, &service, &floors, &mut rows).await;
    }
    if run("write") {
        write(&o, &cluster, &service, &floors, &mut rows).await;
    }
    drop(floors);
    // One-shot calls as whole processes: curl, kcat, the console tools.
    let processes = if run("processes") {
        Some(processes::Processes::measure(&o, &cluster, &service).await)
    } else {
        None
    };
    // One-shot reads on 1, 64 and 1,024 partitions; writes from 1, 8 and
    // 64 clients.
    let scaling = if run("scaling") {
        Some(scaling::Scaling::measure(&o, &cluster, &service).await)
    } else {
        None
    };
    if run("paging") {
        for page_size in [100, 500] {
            group_paging(&o, &cluster, &service, &mut rows, page_size).await;
        }
    }
    if run("long-polls") {
        long_polls(&o, &cluster, &service, &mut rows).await;
    }
    // 10,000 Avro records beside bytearray and Python's consumer.
    let avro = if run("avro") {
        avro::AvroRead::measure(&o, &cluster).await
    } else {
        None
    };
    let described = if run("topics") {
        Some(topics(&o, &cluster, &service).await)
    } else {
        None
    };
    // tail, latency, search, stream-memory
    let streams = streams::Streams::measure(&o, &cluster, &service, run).await;

    print_table(&rows);
    print_targets(&rows, processes.as_ref());
    if let Some(p) = &processes {
        p.print();
    }
    if let Some(s) = &scaling {
        s.print();
    }
    if let Some(a) = &avro {
        a.print();
    }
    if let Some(d) = described {
        d.print();
    }
    if let Some(s) = streams {
        s.print();
    }
}

/// `GET ?partition=0&seekTo=N&limit=1`, sequential, on a warm service;
/// the same reads by the direct client and by the floors.
async fn one_shot_read(
    o: &Options,
    cluster: &Cluster,
    service: &Service,
    floors: &[Floor],
    rows: &mut Vec<Row>,
) {
    let topic = new_topic(cluster, "read", 1).await;
    let records = 10_000usize;
    fill(cluster, &topic, 1, records, 100).await;
    let n = if o.quick { 300 } else { 3000 };
    let offsets: Vec<i64> = (0..n).map(|i| ((i * 7919) % records) as i64).collect();

    let mut direct = direct_reads(cluster, &topic, &offsets).await;
    let mut by_floor: Vec<Vec<Duration>> = floors
        .iter()
        .map(|f| f.reads(&topic, &[0], &offsets))
        .collect();
    let mut svc = service_reads(service, &topic, &offsets).await;
    let mut bridge = match &o.bridge {
        Some(url) => {
            let bn = n.min(if o.quick { 30 } else { 300 });
            bridge_reads(url, &topic, &offsets[..bn]).await
        }
        None => Vec::new(),
    };
    for (metric, p) in [("p50 ms", 0.5), ("p99 ms", 0.99)] {
        rows.push(Row {
            workload: "one-shot read",
            metric,
            direct: percentile(&mut direct, p),
            floors: floor_percentiles(&mut by_floor, p),
            service: percentile(&mut svc, p),
            bridge: percentile(&mut bridge, p),
        });
    }
}

/// The `p` quantile of each floor's latencies, in the order of the columns.
fn floor_percentiles(by_floor: &mut [Vec<Duration>], p: f64) -> [Option<f64>; 2] {
    let mut out = [None, None];
    for (o, l) in out.iter_mut().zip(by_floor.iter_mut()) {
        *o = percentile(l, p);
    }
    out
}

/// direct: one fetch at each offset, decoding one record; the latencies
/// after the first tenth (the warm-up).
async fn direct_reads(cluster: &Cluster, topic: &str, offsets: &[i64]) -> Vec<Duration> {
    let wanted: Vec<(i32, i64)> = offsets.iter().map(|o| (0, *o)).collect();
    direct_reads_at(cluster, topic, &wanted).await
}

/// direct: one fetch at each (partition, offset); the latencies after the
/// first tenth (the warm-up).
async fn direct_reads_at(cluster: &Cluster, topic: &str, wanted: &[(i32, i64)]) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(wanted.len());
    for (i, (partition, off)) in wanted.iter().enumerate() {
        let t = Instant::now();
        let fetched = cluster
            .fetch(topic, &[(*partition, *off)], 64 * 1024, i32::MAX, far())
            .await;
        let part = fetched
            .into_iter()
            .next()
            .expect("partition")
            .1
            .expect("fetch");
        let mut out = Vec::new();
        decode_records(part.records, *off, &part.aborted, 1, &mut out).expect("decode");
        assert_eq!(out.first().map(|r| r.offset), Some(*off));
        if i >= wanted.len() / 10 {
            latencies.push(t.elapsed());
        }
    }
    latencies
}

/// kafka-records: one GET at each offset; the latencies after the first
/// tenth (the warm-up).
async fn service_reads(service: &Service, topic: &str, offsets: &[i64]) -> Vec<Duration> {
    let wanted: Vec<(i32, i64)> = offsets.iter().map(|o| (0, *o)).collect();
    service_reads_at(service, topic, &wanted).await
}

/// kafka-records: one GET at each (partition, offset); the latencies after
/// the first tenth (the warm-up).
async fn service_reads_at(service: &Service, topic: &str, wanted: &[(i32, i64)]) -> Vec<Duration> {
    let mut http = Http::connect(&service.url).await;
    let mut latencies = Vec::with_capacity(wanted.len());
    for (i, (partition, off)) in wanted.iter().enumerate() {
        let t = Instant::now();
        let (status, body) = http
            .get(&format!(
                "/records/{topic}?partition={partition}&seekTo={off}&limit=1"
            ))
            .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        if i >= wanted.len() / 10 {
            latencies.push(t.elapsed());
        }
    }
    latencies
}

const BRIDGE_JSON: &str = "application/vnd.kafka.json.v2+json";
const BRIDGE_V2: &str = "application/vnd.kafka.v2+json";

/// One poll of the bridge consumer at `base` (up to 1 s, at most
/// `max_bytes`); its records as JSON.
async fn bridge_poll(http: &mut Http, base: &str, max_bytes: usize) -> Bytes {
    let (status, body) = http
        .call(
            Method::GET,
            &format!("{base}/records?timeout=1000&max_bytes={max_bytes}"),
            &[("accept", BRIDGE_JSON)],
            None,
        )
        .await;
    assert_eq!(status, 200, "poll: {}", String::from_utf8_lossy(&body));
    body
}

/// bridge: for each offset, a consumer created, assigned, seeked, polled
/// until the record comes and deleted; the latencies after the first tenth
/// (the warm-up).
async fn bridge_reads(url: &str, topic: &str, offsets: &[i64]) -> Vec<Duration> {
    let mut http = Http::connect(url).await;
    let mut latencies = Vec::with_capacity(offsets.len());
    for (i, off) in offsets.iter().enumerate() {
        let t = Instant::now();
        let got = bridge_read_one(&mut http, topic, *off, i).await;
        assert!(got, "the bridge did not return offset {off}");
        if i >= offsets.len() / 10 {
            latencies.push(t.elapsed());
        }
    }
    latencies
}

/// The bridge's sequence for one record at `offset`: create, assign, seek,
/// poll (until it comes), delete.
async fn bridge_read_one(http: &mut Http, topic: &str, offset: i64, i: usize) -> bool {
    let group = format!("bench-one-{}", std::process::id());
    let name = format!("c{i}");
    let (status, body) = http
        .post_json(
            &format!("/consumers/{group}"),
            BRIDGE_V2,
            &json!({"name": name, "format": "json", "enable.auto.commit": false, "fetch.min.bytes": 1,
                    "consumer.request.timeout.ms": 5000}),
        )
        .await;
    assert!(
        status == 200,
        "create consumer: {status} {}",
        String::from_utf8_lossy(&body)
    );
    let base = format!("/consumers/{group}/instances/{name}");
    let (status, _) = http
        .post_json(
            &format!("{base}/assignments"),
            BRIDGE_V2,
            &json!({"partitions": [{"topic": topic, "partition": 0}]}),
        )
        .await;
    assert_eq!(status, 204, "assign");
    let (status, _) = http
        .post_json(
            &format!("{base}/positions"),
            BRIDGE_V2,
            &json!({"offsets": [{"topic": topic, "partition": 0, "offset": offset}]}),
        )
        .await;
    assert_eq!(status, 204, "seek");
    let mut found = false;
    for _ in 0..50 {
        let body = bridge_poll(http, &base, 1_000_000).await;
        let records: Vec<Value> = serde_json::from_slice(&body).unwrap_or_default();
        if records.iter().any(|r| r["offset"].as_i64() == Some(offset)) {
            found = true;
            break;
        }
    }
    let (status, _) = http
        .call(Method::DELETE, &base, &[("content-type", BRIDGE_V2)], None)
        .await;
    assert_eq!(status, 204, "delete consumer");
    found
}

/// What a load did: records/s over the whole load and every request's latency.
struct Load {
    rate: f64,
    latencies: Vec<Duration>,
}

/// One batch of records of one value, ready to send again and again:
/// encoded for the direct client, and as JSON for the service and the bridge.
struct Batch {
    value: String,
    records: usize,
    encoded: Bytes,
}

impl Batch {
    fn new(value: &str, records: usize) -> Batch {
        let batch: Vec<ProduceRecord> = (0..records)
            .map(|_| ProduceRecord {
                key: None,
                value: Some(value.as_bytes()),
                timestamp: 0,
                headers: &[],
            })
            .collect();
        Batch {
            value: value.to_string(),
            records,
            encoded: encode_records(&batch, None),
        }
    }

    /// The service's `POST /records` body: each record to partition 0 of `topic`.
    fn service_body(&self, topic: &str) -> Value {
        let record = json!({"topic": topic, "partition": 0, "value": self.value});
        json!({"records": vec![record; self.records]})
    }

    /// The bridge's `POST /topics/{topic}` body.
    fn bridge_body(&self) -> Value {
        let record = json!({"value": self.value, "partition": 0});
        json!({"records": vec![record; self.records]})
    }
}

/// The direct client's write load: `batch` produced to partition 0 of
/// `topic` through the Kafka layer, again and again.
struct DirectWrites<'a> {
    cluster: &'a Cluster,
    topic: String,
    batch: &'a Batch,
}

impl DirectWrites<'_> {
    /// `clients` tasks each producing until `until`.
    async fn run(&self, clients: usize, until: Until) -> Load {
        let t = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let cluster = self.cluster.clone();
            let topic = self.topic.clone();
            let encoded = self.batch.encoded.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                while !until.done(lat.len()) {
                    let s = Instant::now();
                    for (_, r) in cluster
                        .produce(&topic, vec![(0, encoded.clone())], None, far())
                        .await
                    {
                        r.expect("produce");
                    }
                    lat.push(s.elapsed());
                }
                lat
            }));
        }
        gather(tasks, t, self.batch.records).await
    }
}

/// A POST load: one request, built once, sent again and again.
struct Posts {
    url: String,
    path: String,
    content_type: &'static str,
    body: Arc<str>,
    /// Records per request: 100 per batch body, else 1.
    records: usize,
}

impl Posts {
    /// `POST /records` to the service.
    fn service(service: &Service, body: &Value) -> Posts {
        Posts::new(&service.url, "/records", "application/json", body)
    }

    /// `POST /topics/{topic}` to the bridge at `url`.
    fn bridge(url: &str, topic: &str, body: &Value) -> Posts {
        Posts::new(url, &format!("/topics/{topic}"), BRIDGE_JSON, body)
    }

    fn new(url: &str, path: &str, content_type: &'static str, body: &Value) -> Posts {
        Posts {
            url: url.to_string(),
            path: path.to_string(),
            content_type,
            body: body.to_string().into(),
            records: body["records"].as_array().map_or(1, Vec::len),
        }
    }

    /// `clients` connections each POSTing until `until`, every answer a 200.
    async fn run(&self, clients: usize, until: Until) -> Load {
        let t = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let url = self.url.clone();
            let path = self.path.clone();
            let request = RawHttp::post_request(&url, &path, self.content_type, &self.body);
            tasks.push(tokio::spawn(async move {
                let mut http = RawHttp::connect(&url).await;
                let mut lat = Vec::new();
                while !until.done(lat.len()) {
                    let s = Instant::now();
                    let (status, resp) = http.call(&request).await;
                    assert_eq!(
                        status,
                        200,
                        "POST {path}: {}",
                        String::from_utf8_lossy(resp)
                    );
                    lat.push(s.elapsed());
                }
                lat
            }));
        }
        gather(tasks, t, self.records).await
    }
}

/// Every latency of a load's `tasks`, and its rate since `started` with
/// `records` per request.
async fn gather(
    tasks: Vec<tokio::task::JoinHandle<Vec<Duration>>>,
    started: Instant,
    records: usize,
) -> Load {
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("task"));
    }
    let rate = (latencies.len() * records) as f64 / started.elapsed().as_secs_f64();
    Load { rate, latencies }
}

/// POST batches of 100 records of 100 bytes from 8 concurrent clients; and
/// single-record POSTs, sequential; each beside the direct client and the
/// floors.
async fn write(
    o: &Options,
    cluster: &Cluster,
    service: &Service,
    floors: &[Floor],
    rows: &mut Vec<Row>,
) {
    let value = "v".repeat(100);
    batch_writes(o, cluster, service, floors, &Batch::new(&value, 100), rows).await;
    single_writes(o, cluster, service, floors, &Batch::new(&value, 1), rows).await;
}

/// One side of a write load: who writes, and to which topic.
enum Writer<'a> {
    Direct(DirectWrites<'a>),
    Floor {
        floor: &'a Floor,
        topic: String,
        batch: &'a Batch,
    },
    Service(Posts),
}

impl Writer<'_> {
    /// The direct client, each floor and the service, each writing `batch`
    /// to a topic of its own.
    async fn all<'a>(
        cluster: &'a Cluster,
        service: &Service,
        floors: &'a [Floor],
        batch: &'a Batch,
        prefix: &str,
    ) -> Vec<Writer<'a>> {
        let mut writers = vec![Writer::Direct(DirectWrites {
            cluster,
            topic: new_topic(cluster, &format!("{prefix}-direct"), 1).await,
            batch,
        })];
        for floor in floors {
            writers.push(Writer::Floor {
                floor,
                topic: new_topic(cluster, &format!("{prefix}-{}", floor.name), 1).await,
                batch,
            });
        }
        let topic = new_topic(cluster, &format!("{prefix}-service"), 1).await;
        writers.push(Writer::Service(Posts::service(
            service,
            &batch.service_body(&topic),
        )));
        writers
    }

    fn name(&self) -> &'static str {
        match self {
            Writer::Direct(_) => "direct",
            Writer::Floor { floor, .. } => floor.name,
            Writer::Service(_) => "kafka-records",
        }
    }

    /// The process whose CPU is the client's.
    fn client_pid(&self) -> String {
        match self {
            Writer::Floor { floor, .. } => floor.pid(),
            _ => "self".to_string(),
        }
    }

    async fn run(&self, clients: usize, until: Until) -> Load {
        match self {
            Writer::Direct(d) => d.run(clients, until).await,
            Writer::Floor {
                floor,
                topic,
                batch,
            } => floor.writes(topic, &batch.value, batch.records, clients, until),
            Writer::Service(p) => p.run(clients, until).await,
        }
    }
}

/// How the direct client and the service take turns at a write load.
struct Rounds {
    /// The untimed warm-up of each, so neither pays for the broker's JIT.
    warm_up: Duration,
    /// Each timed round.
    each: Duration,
    count: usize,
}

impl Rounds {
    fn of(o: &Options) -> Rounds {
        if o.quick {
            let half = Duration::from_millis(500);
            Rounds {
                warm_up: half,
                each: half,
                count: 3,
            }
        } else {
            Rounds {
                warm_up: Duration::from_secs(3),
                each: Duration::from_secs(2),
                count: 7,
            }
        }
    }

    /// Timed rounds of each writer in turn, so drift in the broker
    /// (segment rolls, page cache, the other core's load) falls on every
    /// side alike, after an untimed warm-up of each; a side per writer.
    async fn alternate(
        &self,
        service: &Service,
        writers: &[Writer<'_>],
        clients: usize,
    ) -> Vec<Side> {
        for w in writers {
            w.run(clients, Until::time(self.warm_up)).await;
        }
        let mut sides: Vec<Side> = writers.iter().map(|_| Side::default()).collect();
        for _ in 0..self.count {
            for (w, side) in writers.iter().zip(sides.iter_mut()) {
                let load = w.run(clients, Until::time(self.each));
                side.round(service, &w.client_pid(), load).await;
            }
        }
        sides
    }
}

/// One side of the alternating rounds: each round's rate, every latency and
/// the CPU each process used.
#[derive(Default)]
struct Side {
    rates: Vec<f64>,
    latencies: Vec<Duration>,
    cpu: CpuSplit,
}

impl Side {
    async fn round(&mut self, service: &Service, client: &str, load: impl Future<Output = Load>) {
        let load = self.cpu.measure(service, client, load).await;
        self.rates.push(load.rate);
        self.latencies.extend(load.latencies);
    }
}

/// `batch` from 8 concurrent clients of each side: the direct client, the
/// floors and the service in alternating rounds (reported: each one's median
/// round), then the bridge.
async fn batch_writes(
    o: &Options,
    cluster: &Cluster,
    service: &Service,
    floors: &[Floor],
    batch: &Batch,
    rows: &mut Vec<Row>,
) {
    let clients = 8;
    let writers = Writer::all(cluster, service, floors, batch, "write").await;
    let mut sides = Rounds::of(o).alternate(service, &writers, clients).await;
    for (w, side) in writers.iter().zip(sides.iter()) {
        eprintln!(
            "write rounds, {}: records/s {:.0?}; {}",
            w.name(),
            side.rates,
            side.cpu.describe()
        );
    }
    let mut bridge = match &o.bridge {
        Some(url) => {
            let topic = new_topic(cluster, "write-bridge", 1).await;
            let per_client = if o.quick { 50 } else { 500 };
            let posts = Posts::bridge(url, &topic, &batch.bridge_body());
            Some(posts.run(clients, Until::count(per_client)).await)
        }
        None => None,
    };
    // The writers' order: direct, the floors, the service.
    let last = sides.len() - 1;
    let workload = "write 8x100x100B";
    let rates: Vec<f64> = sides.iter_mut().map(|s| median(&mut s.rates)).collect();
    rows.push(Row {
        workload,
        metric: "records/s",
        direct: Some(rates[0]),
        floors: [rates.get(1).copied(), rates.get(2).copied()],
        service: Some(rates[last]),
        bridge: bridge.as_ref().map(|b| b.rate),
    });
    for (metric, p) in [("p50 ms per batch", 0.5), ("p99 ms per batch", 0.99)] {
        let mut at: Vec<Option<f64>> = sides
            .iter_mut()
            .map(|s| percentile(&mut s.latencies, p))
            .collect();
        rows.push(Row {
            workload,
            metric,
            direct: at[0],
            floors: [at.get(1).copied().flatten(), at.get(2).copied().flatten()],
            service: at.pop().flatten(),
            bridge: bridge
                .as_mut()
                .and_then(|b| percentile(&mut b.latencies, p)),
        });
    }
}

/// `one` record at a time, sequential, by each side.
async fn single_writes(
    o: &Options,
    cluster: &Cluster,
    service: &Service,
    floors: &[Floor],
    one: &Batch,
    rows: &mut Vec<Row>,
) {
    let n = if o.quick { 200 } else { 2000 };
    let writers = Writer::all(cluster, service, floors, one, "write-single").await;
    let mut p50s = Vec::new();
    for w in &writers {
        let mut latencies = w.run(1, Until::count(n)).await.latencies;
        // The first tenth is the warm-up.
        latencies.drain(..n / 10);
        p50s.push(percentile(&mut latencies, 0.5));
    }
    let mut bridge = match &o.bridge {
        Some(url) => {
            let topic = new_topic(cluster, "write-single-bridge", 1).await;
            let posts = Posts::bridge(url, &topic, &one.bridge_body());
            posts.run(1, Until::count(n)).await.latencies
        }
        None => Vec::new(),
    };
    rows.push(Row {
        workload: "write single record",
        metric: "p50 ms",
        direct: p50s[0],
        floors: [
            p50s.get(1).copied().flatten(),
            p50s.get(2).copied().flatten(),
        ],
        service: p50s.last().copied().flatten(),
        bridge: percentile(&mut bridge, 0.5),
    });
    // What the exchange with another process costs on this machine, with
    // the same client on one keep-alive connection: the service answering a
    // route that does no work, and, as the floor of any server, a thread
    // that answers the same bytes without parsing them.
    let echo = echo_server();
    let mut floor = round_trips(&echo, n).await;
    let mut empty = round_trips(&service.url, n).await;
    rows.push(Row {
        workload: "GET /healthy",
        metric: "p50 ms (direct: echo)",
        direct: percentile(&mut floor, 0.5),
        floors: [None, None],
        service: percentile(&mut empty, 0.5),
        bridge: None,
    });
}

/// `n` sequential `GET /healthy` to `base` on one keep-alive connection,
/// the first tenth a warm-up: a round trip on loopback with no work behind.
async fn round_trips(base: &str, n: usize) -> Vec<Duration> {
    let request = RawHttp::get_request(base, "/healthy");
    let mut http = RawHttp::connect(base).await;
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let s = Instant::now();
        let (status, _) = http.call(&request).await;
        assert_eq!(status, 204, "GET /healthy");
        latencies.push(s.elapsed());
    }
    latencies.drain(..n / 10);
    latencies
}

/// A thread that answers every request head on its one connection with a
/// fixed 204, as cheaply as a server can: blocking reads and writes, no
/// parsing beyond finding the head's end. Its base URL.
fn echo_server() -> String {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the echo server");
    let addr = listener.local_addr().expect("echo address");
    std::thread::spawn(move || {
        let Ok((mut socket, _)) = listener.accept() else {
            return;
        };
        socket.set_nodelay(true).ok();
        let mut buf = [0u8; 4096];
        let mut held = 0;
        while let Ok(n) = socket.read(&mut buf[held..]) {
            if n == 0 {
                return;
            }
            held += n;
            while let Some(end) = buf[..held].windows(4).position(|w| w == b"\r\n\r\n") {
                if socket
                    .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                    .is_err()
                {
                    return;
                }
                buf.copy_within(end + 4..held, 0);
                held -= end + 4;
            }
        }
    });
    format!("http://{addr}")
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// How long each client of a load keeps sending.
#[derive(Clone, Copy)]
struct Until {
    requests: usize,
    deadline: Option<Instant>,
}

impl Until {
    fn count(requests: usize) -> Until {
        Until {
            requests,
            deadline: None,
        }
    }

    fn time(d: Duration) -> Until {
        Until {
            requests: usize::MAX,
            deadline: Some(Instant::now() + d),
        }
    }

    fn done(&self, sent: usize) -> bool {
        sent >= self.requests || self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// A GET answer, read only as far as counting its records: checking the
/// JSON without building it, so the client's cost stays out of the figures
/// (the bridge's answers are read the same way).
#[derive(serde::Deserialize)]
struct ServicePage {
    records: Vec<IgnoredAny>,
}

/// A three-partition topic filled for paging, and how many records it holds.
struct Backlog {
    topic: String,
    total: usize,
}

/// One side's paging through a backlog: records/s and each page's latency.
struct Paging {
    rate: f64,
    pages: Vec<Duration>,
}

/// Pages counted as they come.
struct Pager {
    started: Instant,
    got: usize,
    pages: Vec<Duration>,
}

impl Pager {
    fn new() -> Pager {
        Pager {
            started: Instant::now(),
            got: 0,
            pages: Vec::new(),
        }
    }

    /// A page of `records` that was asked for at `at`.
    fn page(&mut self, at: Instant, records: usize) {
        self.got += records;
        self.pages.push(at.elapsed());
    }

    /// The rate since the first page, and every page.
    fn finish(self) -> Paging {
        Paging {
            rate: self.got as f64 / self.started.elapsed().as_secs_f64(),
            pages: self.pages,
        }
    }
}

/// `GET ?groupId=g&limit=PAGE` until a 100,000-record topic is drained.
async fn group_paging(
    o: &Options,
    cluster: &Cluster,
    service: &Service,
    rows: &mut Vec<Row>,
    page_size: usize,
) {
    let workload = match page_size {
        100 => "group paging 100/page",
        500 => "group paging 500/page",
        _ => "group paging",
    };
    let backlog = paging_backlog(o, cluster, page_size).await;
    let mut direct = direct_paging(cluster, &backlog, page_size).await;
    let mut svc = service_paging(service, &backlog, page_size).await;
    let mut bridge = match &o.bridge {
        Some(url) => Some(bridge_paging(url, &backlog, page_size).await),
        None => None,
    };
    rows.push(Row {
        workload,
        metric: "records/s",
        direct: Some(direct.rate),
        floors: [None, None],
        service: Some(svc.rate),
        bridge: bridge.as_ref().map(|b| b.rate),
    });
    rows.push(Row {
        workload,
        metric: "p50 ms per page",
        direct: percentile(&mut direct.pages, 0.5),
        floors: [None, None],
        service: percentile(&mut svc.pages, 0.5),
        bridge: bridge.as_mut().and_then(|b| percentile(&mut b.pages, 0.5)),
    });
}

/// A topic of about 100,000 records (10,000 with `--quick`) in three
/// partitions, with the group coordinator warmed up.
async fn paging_backlog(o: &Options, cluster: &Cluster, page_size: usize) -> Backlog {
    let total = if o.quick { 10_000 } else { 100_000 };
    let topic = new_topic(cluster, &format!("paging-{page_size}"), 3).await;
    fill(cluster, &topic, 3, total / 3 + 1, 100).await;
    // Warm up the group coordinator (the first commit creates the offsets
    // topic), so no side pays for it.
    cluster
        .commit_offsets(
            &format!("bench-warm-{}", std::process::id()),
            &topic,
            &[(0, 0)],
            far(),
        )
        .await
        .expect("warm-up commit");
    Backlog {
        topic,
        total: (total / 3 + 1) * 3,
    }
}

/// direct: per page, the group's committed offsets, a fetch, a commit.
async fn direct_paging(cluster: &Cluster, backlog: &Backlog, page_size: usize) -> Paging {
    let group = format!("bench-direct-{page_size}-{}", std::process::id());
    let mut pager = Pager::new();
    let mut positions: HashMap<i32, i64> = (0..3).map(|p| (p, 0)).collect();
    while pager.got < backlog.total {
        let s = Instant::now();
        let n = direct_page(cluster, &group, &backlog.topic, &mut positions, page_size).await;
        pager.page(s, n);
    }
    pager.finish()
}

/// One page of the direct client, from `positions` (updated): its size.
async fn direct_page(
    cluster: &Cluster,
    group: &str,
    topic: &str,
    positions: &mut HashMap<i32, i64>,
    page_size: usize,
) -> usize {
    let committed = cluster
        .committed_offsets(group, topic, &[0, 1, 2], far())
        .await
        .expect("offsets");
    for (p, o) in committed {
        if let Some(o) = o {
            positions.insert(p, o);
        }
    }
    let wanted: Vec<(i32, i64)> = positions.iter().map(|(p, o)| (*p, *o)).collect();
    let mut page = 0usize;
    for (p, r) in cluster
        .fetch(topic, &wanted, 1024 * 1024, i32::MAX, far())
        .await
    {
        let part = r.expect("fetch");
        let mut out = Vec::new();
        let room = page_size - page;
        decode_records(
            part.records,
            positions[&p],
            &part.aborted,
            room.min(page_size.div_ceil(3)),
            &mut out,
        )
        .expect("decode");
        if let Some(last) = out.last() {
            positions.insert(p, last.offset + 1);
        }
        page += out.len();
    }
    let commit: Vec<(i32, i64)> = positions.iter().map(|(p, o)| (*p, *o)).collect();
    cluster
        .commit_offsets(group, topic, &commit, far())
        .await
        .expect("commit");
    page
}

/// kafka-records: one GET a page; the first page seeks to the beginning.
async fn service_paging(service: &Service, backlog: &Backlog, page_size: usize) -> Paging {
    let topic = &backlog.topic;
    let group = format!("bench-service-{page_size}-{}", std::process::id());
    let mut http = Http::connect(&service.url).await;
    let mut pager = Pager::new();
    while pager.got < backlog.total {
        let s = Instant::now();
        let seek = if pager.pages.is_empty() {
            "&distanceFromBeginning=0"
        } else {
            ""
        };
        let (status, body) = http
            .get(&format!(
                "/records/{topic}?groupId={group}&limit={page_size}&timeout=2s{seek}"
            ))
            .await;
        assert_eq!(status, 200);
        let n = serde_json::from_slice::<ServicePage>(&body)
            .expect("json")
            .records
            .len();
        assert!(n > 0, "a page came back empty before the topic was drained");
        pager.page(s, n);
    }
    pager.finish()
}

/// bridge: one consumer, subscribed; per page it polls until it holds
/// `page_size` records (or a poll comes back empty), then commits. A
/// poll returns at most the bridge's `kafka.consumer.max.poll.records`
/// (500 unless the bridge is started with another), and the bridge
/// cannot cap one by count: a byte cap too small for a record loses it
/// (422). Started with max.poll.records=100, a page of 100 is one poll
/// and one commit, the same work as one GET; the table notes pages of
/// another size.
async fn bridge_paging(url: &str, backlog: &Backlog, page_size: usize) -> Paging {
    let mut http = Http::connect(url).await;
    let group = format!("bench-bridge-{page_size}-{}", std::process::id());
    let (status, _) = http
        .post_json(&format!("/consumers/{group}"), BRIDGE_V2, &json!({"name": "pager", "format": "json", "auto.offset.reset": "earliest", "enable.auto.commit": false}))
        .await;
    assert_eq!(status, 200);
    let base = format!("/consumers/{group}/instances/pager");
    let (status, _) = http
        .post_json(
            &format!("{base}/subscription"),
            BRIDGE_V2,
            &json!({"topics": [backlog.topic]}),
        )
        .await;
    assert_eq!(status, 204);
    let mut pager = Pager::new();
    let mut polls = 0usize;
    while pager.got < backlog.total {
        let s = Instant::now();
        let mut page = 0usize;
        while page < page_size && pager.got + page < backlog.total {
            let body = bridge_poll(&mut http, &base, 10_000_000).await;
            polls += 1;
            let records: Vec<IgnoredAny> = serde_json::from_slice(&body).expect("json");
            if records.is_empty() && page > 0 {
                break;
            }
            page += records.len();
        }
        let (status, _) = http
            .post_json(&format!("{base}/offsets"), BRIDGE_V2, &json!({}))
            .await;
        assert!(status == 204 || status == 200);
        pager.page(s, page);
    }
    let per_page = pager.got as f64 / pager.pages.len().max(1) as f64;
    let paging = pager.finish();
    eprintln!(
        "bridge paging {page_size}/page: {} pages of {per_page:.0} records on average, {polls} polls",
        paging.pages.len()
    );
    if per_page > page_size as f64 * 1.05 {
        eprintln!(
            "  the bridge's polls are larger than a page: start it with kafka.consumer.max.poll.records={page_size} (or less) to compare pages of {page_size}"
        );
    }
    http.call(Method::DELETE, &base, &[("content-type", BRIDGE_V2)], None)
        .await;
    paging
}

/// 2,000 GETs waiting on an idle topic at once: all answer 200 in time, and
/// the service's peak RSS.
async fn long_polls(o: &Options, cluster: &Cluster, service: &Service, rows: &mut Vec<Row>) {
    let topic = new_topic(cluster, "idle", 1).await;
    let n = if o.quick { 500 } else { 2000 };
    let before = service.memory().rss;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let url = service.url.clone();
        let topic = topic.clone();
        tasks.push(tokio::spawn(async move {
            let mut http = Http::connect(&url).await;
            http.get(&format!("/records/{topic}?timeout=5s")).await.0
        }));
    }
    // Sample the service's RSS while they wait.
    let mut peak: f64 = 0.0;
    while t.elapsed() < Duration::from_secs(4) {
        peak = peak.max(service.memory().rss);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut ok = 0;
    for task in tasks {
        if task.await.expect("task") == 200 {
            ok += 1;
        }
    }
    let elapsed = t.elapsed();
    let hwm = service.memory().peak;
    eprintln!(
        "long polls: {ok}/{n} answered 200 in {:.1} s; RSS before {before:.1} MB, peak while waiting {peak:.1} MB, high-water {hwm:.1} MB",
        elapsed.as_secs_f64()
    );
    assert_eq!(ok, n, "every long poll must answer 200");
    rows.push(Row::service(
        "2000 long polls",
        "peak RSS MB",
        peak.max(hwm),
    ));
    rows.push(Row::service(
        "2000 long polls",
        "all 200, seconds",
        elapsed.as_secs_f64(),
    ));
}

/// What the `topics` workload measured: `GET /topics/{topic}` beside the
/// tools that describe a topic, and its scaling with the partition count.
struct Described {
    compared: Vec<Compared>,
    scaling: Vec<Scale>,
}

/// One metric of the service beside another way's (its name and figure).
struct Compared {
    metric: &'static str,
    service: f64,
    other: Option<(&'static str, f64)>,
}

/// `GET /topics/{topic}` on a topic of `partitions` partitions.
struct Scale {
    partitions: usize,
    p50: f64,
    p90: f64,
    /// Brokers leading its partitions.
    leaders: usize,
    /// Kafka requests per describe, by API, as the service's `/metrics`
    /// counted them over the measured describes.
    requests: BTreeMap<String, f64>,
}

impl Scale {
    /// The requests per describe, as `3 ListOffsets + 1 Metadata + ...`.
    fn requests_text(&self) -> String {
        let mut by_count: Vec<_> = self.requests.iter().collect();
        by_count.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
        by_count
            .iter()
            .map(|(api, n)| format!("{} {api}", fmt_count(**n)))
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

/// A per-request count: whole when it is one.
fn fmt_count(n: f64) -> String {
    if (n - n.round()).abs() < 0.005 {
        format!("{}", n.round())
    } else {
        format!("{n:.2}")
    }
}

impl Described {
    fn print(&self) {
        println!();
        println!(
            "| {:<28} | {:<8} | {:>13} | {:<30} | {:>10} | {:>13} |",
            "describe a topic",
            "metric",
            "kafka-records",
            "compared with",
            "its value",
            "it/service"
        );
        println!(
            "|{}|{}|{}|{}|{}|{}|",
            "-".repeat(30),
            "-".repeat(10),
            "-".repeat(15),
            "-".repeat(32),
            "-".repeat(12),
            "-".repeat(15)
        );
        for c in &self.compared {
            let (name, value, ratio) = match c.other {
                Some((name, v)) => (name, format!("{v:.3}"), format!("{:.1}x", v / c.service)),
                None => ("-", "-".to_string(), "-".to_string()),
            };
            println!(
                "| {:<28} | {:<8} | {:>13.3} | {name:<30} | {value:>10} | {ratio:>13} |",
                "describe, 64 partitions", c.metric, c.service
            );
        }
        println!();
        println!(
            "| {:>10} | {:>8} | {:>8} | {:>20} | {:>24} | {:>14} | {:<44} |",
            "partitions",
            "p50 ms",
            "p90 ms",
            "p50 us per partition",
            "us per added partition",
            "leader brokers",
            "Kafka requests per describe (/metrics)"
        );
        println!(
            "|{}|{}|{}|{}|{}|{}|{}|",
            "-".repeat(12),
            "-".repeat(10),
            "-".repeat(10),
            "-".repeat(22),
            "-".repeat(26),
            "-".repeat(16),
            "-".repeat(46)
        );
        let mut previous: Option<&Scale> = None;
        for s in &self.scaling {
            // The cost of each partition beyond the previous row's: what a
            // partition adds once the fixed cost of a request is paid.
            let added = previous
                .map(|p| {
                    format!(
                        "{:.1}",
                        (s.p50 - p.p50) * 1000.0 / (s.partitions - p.partitions) as f64
                    )
                })
                .unwrap_or_else(|| "-".to_string());
            println!(
                "| {:>10} | {:>8.3} | {:>8.3} | {:>20.1} | {:>24} | {:>14} | {:<44} |",
                s.partitions,
                s.p50,
                s.p90,
                s.p50 * 1000.0 / s.partitions as f64,
                added,
                s.leaders,
                s.requests_text()
            );
            previous = Some(s);
        }
        println!(
            "(GET /topics/{{topic}} sequential, through a kept-alive connection; kcat and TopicCommand timed as whole processes, \
             from spawn to exit; Kafka requests are the service's kafka_records_kafka_requests_total, read before and after \
             the measured describes; the ListOffsets of one broker are sent together, one round trip)"
        );
    }
}

/// `GET /topics/{topic}` on a 64-partition topic beside `kcat -L` and
/// Kafka's TopicCommand, then on topics of 1, 64 and 1,024 partitions.
async fn topics(o: &Options, cluster: &Cluster, service: &Service) -> Described {
    let n = if o.quick { 100 } else { 1000 };
    let mut scaling = Vec::new();
    let mut compared = Vec::new();
    let mut topics = Vec::new();
    for partitions in [1usize, 64, 1024] {
        let topic = new_topic(cluster, &format!("topics-{partitions}"), partitions as i32).await;
        // Some records in each partition, so every offset is one to read.
        fill(cluster, &topic, partitions as i32, 10, 100).await;
        topics.push((partitions, topic));
    }
    // One unmeasured round over every topic first: the first topic
    // measured would otherwise also pay for the broker's code warming up.
    for (partitions, topic) in &topics {
        let mut http = Http::connect(&service.url).await;
        settled(&mut http, topic, *partitions).await;
        describes(&mut http, topic, n).await;
    }
    for (partitions, topic) in topics {
        // A connection per topic: the service closes one left idle
        // (--client-timeout) while the tools below run.
        let mut http = Http::connect(&service.url).await;
        let leaders = settled(&mut http, &topic, partitions).await;
        let before = kafka_requests(&mut http).await;
        let mut latencies = describes(&mut http, &topic, n).await;
        let after = kafka_requests(&mut http).await;
        let requests = after
            .iter()
            .map(|(api, count)| {
                let sent = count - before.get(api).copied().unwrap_or(0);
                (api.clone(), sent as f64 / n as f64)
            })
            .filter(|(_, per)| *per > 0.0)
            .collect();
        let p50 = percentile(&mut latencies, 0.5).expect("latencies");
        let p90 = percentile(&mut latencies, 0.9).expect("latencies");
        eprintln!("GET /topics/{topic}: {partitions} partitions, p50 {p50:.3} ms, p90 {p90:.3} ms");
        scaling.push(Scale {
            partitions,
            p50,
            p90,
            leaders,
            requests,
        });
        if partitions != 64 {
            continue;
        }
        let runs = if o.quick { 5 } else { 20 };
        let mut kcat = processes(runs, "with 64 partitions", || {
            let mut c = std::process::Command::new("kcat");
            c.args(["-b", &o.bootstrap, "-L", "-t", &topic]);
            c
        });
        let runs = if o.quick { 2 } else { 5 };
        let mut tool = processes(runs, "PartitionCount: 64", || {
            let mut c = std::process::Command::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/scripts/kafka.sh"
            ));
            c.args([
                "tool",
                "org.apache.kafka.tools.TopicCommand",
                "--bootstrap-server",
                &o.bootstrap,
                "--describe",
                "--topic",
                &topic,
            ]);
            c
        });
        compared.push(Compared {
            metric: "p50 ms",
            service: p50,
            other: percentile(&mut kcat, 0.5).map(|v| ("kcat -L -t (process)", v)),
        });
        compared.push(Compared {
            metric: "p50 ms",
            service: p50,
            other: percentile(&mut tool, 0.5).map(|v| ("TopicCommand --describe (JVM)", v)),
        });
        compared.push(Compared {
            metric: "p90 ms",
            service: p90,
            other: percentile(&mut kcat, 0.9).map(|v| ("kcat -L -t (process)", v)),
        });
    }
    Described { compared, scaling }
}

/// Waits until `GET /topics/{topic}` shows `partitions` partitions, each
/// with a leader and its offsets; how many brokers lead them.
async fn settled(http: &mut Http, topic: &str, partitions: usize) -> usize {
    let t = Instant::now();
    loop {
        let (status, body) = http.get(&format!("/topics/{topic}")).await;
        if status == 200 {
            let v: Value = serde_json::from_slice(&body).expect("json");
            let parts = v["partitions"].as_array().cloned().unwrap_or_default();
            let ready = parts.len() == partitions
                && parts
                    .iter()
                    .all(|p| p["leader"].is_i64() && p["lastStableOffset"].as_i64() == Some(10));
            if ready {
                let mut leaders: Vec<i64> =
                    parts.iter().filter_map(|p| p["leader"].as_i64()).collect();
                leaders.sort_unstable();
                leaders.dedup();
                return leaders.len();
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "{topic} not described with {partitions} led partitions after 60 s: {status} {}",
            String::from_utf8_lossy(&body)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The service's `kafka_records_kafka_requests_total`, by API.
async fn kafka_requests(http: &mut Http) -> BTreeMap<String, u64> {
    let (status, body) = http.get("/metrics").await;
    assert_eq!(status, 200, "GET /metrics");
    service::kafka_requests_in(&String::from_utf8_lossy(&body))
}

/// `n` sequential `GET /topics/{topic}`; the latencies after the first
/// tenth (the warm-up).
async fn describes(http: &mut Http, topic: &str, n: usize) -> Vec<Duration> {
    let path = format!("/topics/{topic}");
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let (status, body) = http.get(&path).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        if i >= n / 10 {
            latencies.push(t.elapsed());
        }
    }
    latencies
}

/// `runs` runs of the process `command` makes, each from spawn to exit,
/// after one unmeasured run (the warm-up: binaries and jars into the page
/// cache); each must succeed and print `expect`.
fn processes(
    runs: usize,
    expect: &str,
    command: impl Fn() -> std::process::Command,
) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(runs);
    for i in 0..=runs {
        let t = Instant::now();
        let out = command().output().expect("spawn");
        let elapsed = t.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(expect),
            "{:?} did not print {expect:?}: {stdout} {}",
            command(),
            String::from_utf8_lossy(&out.stderr)
        );
        if i > 0 {
            latencies.push(elapsed);
        }
    }
    latencies
}
