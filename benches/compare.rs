//! Side-by-side benchmark: the same Kafka work done three ways, in one run,
//! against one broker.
//!
//! 1. **direct**: the crate's own Kafka layer, in-process (the floor: what the
//!    broker and the wire cost);
//! 2. **kafka-records**: the release binary over HTTP on loopback;
//! 3. **bridge**: the Strimzi Kafka Bridge's HTTP API, when one runs
//!    (`--bridge-url`), with every call its API needs.
//!
//! Run it with `scripts/bench.sh` (starts the broker, builds the binary).
//! Prints a table of medians and ratios.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
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

/// Settings from the command line.
struct Options {
    bootstrap: String,
    binary: String,
    bridge: Option<String>,
    quick: bool,
    /// Run only the workloads whose name contains this.
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
    /// status and where its body is. Knows `content-length` and chunked bodies.
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A row of the final table: one metric, measured up to three ways.
struct Row {
    workload: &'static str,
    metric: &'static str,
    direct: Option<f64>,
    service: Option<f64>,
    bridge: Option<f64>,
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| {:<22} | {:<24} | {:>12} | {:>13} | {:>12} | {:>16} | {:>16} |",
        "workload",
        "metric",
        "direct",
        "kafka-records",
        "bridge",
        "service/direct",
        "bridge/service"
    );
    println!(
        "|{}|{}|{}|{}|{}|{}|{}|",
        "-".repeat(24),
        "-".repeat(26),
        "-".repeat(14),
        "-".repeat(15),
        "-".repeat(14),
        "-".repeat(18),
        "-".repeat(18)
    );
    let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    for r in rows {
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b != 0.0 => format!("{:.2}x", a / b),
            _ => "-".to_string(),
        };
        println!(
            "| {:<22} | {:<24} | {:>12} | {:>13} | {:>12} | {:>16} | {:>16} |",
            r.workload,
            r.metric,
            fmt(r.direct),
            fmt(r.service),
            fmt(r.bridge),
            ratio(r.service, r.direct),
            ratio(r.bridge, r.service),
        );
    }
    println!("(latencies in ms, lower is better; rates in records/s, higher is better; RSS in MB)");
}

/// The service as a separate process, so its memory can be read.
struct Service {
    child: Child,
    url: String,
}

impl Service {
    fn start(binary: &str, bootstrap: &str) -> (Service, Duration) {
        let started = Instant::now();
        let mut child = Command::new(binary)
            .args(["--bootstrap-servers", bootstrap, "--listen", "127.0.0.1:0"])
            .env("KAFKA_RECORDS_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("start {binary}: {e} (build it with cargo build --release)")
            });
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("listening line");
        let url = line.trim().trim_start_matches("listening on ").to_string();
        // Ready: /ready answers 204 (Kafka reachable).
        loop {
            let ok = std::net::TcpStream::connect(url.trim_start_matches("http://"))
                .ok()
                .and_then(|mut s| {
                    use std::io::{Read, Write};
                    s.write_all(b"GET /ready HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                        .ok()?;
                    let mut buf = [0u8; 12];
                    s.read_exact(&mut buf).ok()?;
                    Some(buf.ends_with(b"204"))
                })
                .unwrap_or(false);
            if ok {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "service not ready"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        (Service { child, url }, started.elapsed())
    }

    /// CPU time (user and system) the service has used, in seconds.
    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&self.child.id().to_string())
    }

    /// Resident memory now and at its peak, in MB.
    fn rss(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    /// Runs `load`, adding the CPU each process used during it.
    async fn measure<F: std::future::Future<Output = (f64, Vec<Duration>)>>(
        &mut self,
        service: &Service,
        load: F,
    ) -> (f64, Vec<Duration>) {
        let (c, s, b) = (
            cpu_seconds("self"),
            service.cpu_seconds(),
            broker_cpu_seconds(),
        );
        let out = load.await;
        self.requests += out.1.len();
        self.client += cpu_seconds("self") - c;
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
    let mut left = per_partition;
    while left > 0 {
        let n = left.min(1000);
        let batch: Vec<ProduceRecord> = (0..n)
            .map(|_| ProduceRecord {
                key: None,
                value: Some(&value),
                timestamp: 0,
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

#[tokio::main]
async fn main() {
    let o = options();
    let cluster = Cluster::new(ClusterConfig {
        bootstrap: o.bootstrap.split(',').map(str::to_string).collect(),
    });
    let mut rows = Vec::new();

    // Start-up and idle memory first, on a fresh process.
    let (service, startup) = Service::start(&o.binary, &o.bootstrap);
    let (idle_rss, _) = service.rss();
    eprintln!(
        "start-up to ready: {:.1} ms, idle RSS {idle_rss:.1} MB",
        ms(startup)
    );
    rows.push(Row {
        workload: "start-up",
        metric: "process start to ready ms",
        direct: None,
        service: Some(ms(startup)),
        bridge: None,
    });
    rows.push(Row {
        workload: "start-up",
        metric: "idle RSS MB",
        direct: None,
        service: Some(idle_rss),
        bridge: None,
    });

    let run = |name: &str| o.only.as_deref().is_none_or(|only| name.contains(only));
    if run("read") {
        one_shot_read(&o, &cluster, &service, &mut rows).await;
    }
    if run("write") {
        write(&o, &cluster, &service, &mut rows).await;
    }
    if run("paging") {
        for page_size in [100, 500] {
            group_paging(&o, &cluster, &service, &mut rows, page_size).await;
        }
    }
    if run("long-polls") {
        long_polls(&o, &cluster, &service, &mut rows).await;
    }

    print_table(&rows);
}

/// `GET ?partition=0&seekTo=N&limit=1`, sequential, on a warm service.
async fn one_shot_read(o: &Options, cluster: &Cluster, service: &Service, rows: &mut Vec<Row>) {
    let topic = topic_name("read");
    cluster
        .create_topic(&topic, 1, 1, &[], far())
        .await
        .expect("create");
    let records = 10_000usize;
    fill(cluster, &topic, 1, records, 100).await;
    let n = if o.quick { 300 } else { 3000 };
    let offsets: Vec<i64> = (0..n).map(|i| ((i * 7919) % records) as i64).collect();

    // direct: one fetch at the offset, decode one record.
    let mut direct = Vec::with_capacity(n);
    for (i, off) in offsets.iter().enumerate() {
        let t = Instant::now();
        let fetched = cluster
            .fetch(&topic, &[(0, *off)], 64 * 1024, i32::MAX, far())
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
        if i >= n / 10 {
            direct.push(t.elapsed());
        }
    }

    // kafka-records.
    let mut http = Http::connect(&service.url).await;
    let mut svc = Vec::with_capacity(n);
    for (i, off) in offsets.iter().enumerate() {
        let t = Instant::now();
        let (status, body) = http
            .get(&format!(
                "/records/{topic}?partition=0&seekTo={off}&limit=1"
            ))
            .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        if i >= n / 10 {
            svc.push(t.elapsed());
        }
    }

    // bridge: create a consumer, assign, seek, poll until the record, delete.
    let mut bridge = Vec::new();
    if let Some(url) = &o.bridge {
        let mut http = Http::connect(url).await;
        let bn = n.min(if o.quick { 30 } else { 300 });
        for (i, off) in offsets.iter().take(bn).enumerate() {
            let t = Instant::now();
            let got = bridge_read_one(&mut http, &topic, *off, i).await;
            assert!(got, "the bridge did not return offset {off}");
            if i >= bn / 10 {
                bridge.push(t.elapsed());
            }
        }
    }
    for (metric, p) in [("p50 ms", 0.5), ("p99 ms", 0.99)] {
        let pick = |v: &mut Vec<Duration>| {
            v.sort();
            (!v.is_empty()).then(|| ms(percentile(v, p)))
        };
        rows.push(Row {
            workload: "one-shot read",
            metric,
            direct: pick(&mut direct),
            service: pick(&mut svc),
            bridge: pick(&mut bridge),
        });
    }
}

const BRIDGE_JSON: &str = "application/vnd.kafka.json.v2+json";
const BRIDGE_V2: &str = "application/vnd.kafka.v2+json";

/// The bridge's sequence for one record at `offset`: create, assign, seek,
/// poll (until it comes), delete.
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

/// POST batches of 100 records of 100 bytes from 8 concurrent clients; and
/// single-record POSTs, sequential.
async fn write(o: &Options, cluster: &Cluster, service: &Service, rows: &mut Vec<Row>) {
    let clients = 8;
    let batches_per_client = if o.quick { 50 } else { 500 };
    let value = "v".repeat(100);

    // direct: the same batches through the Kafka layer.
    let topic = topic_name("write-direct");
    cluster
        .create_topic(&topic, 1, 1, &[], far())
        .await
        .expect("create");
    let batch: Vec<ProduceRecord> = (0..100)
        .map(|_| ProduceRecord {
            key: None,
            value: Some(value.as_bytes()),
            timestamp: 0,
            headers: &[],
        })
        .collect();
    let encoded = encode_records(&batch, None);

    // kafka-records.
    let service_topic = topic_name("write-service");
    cluster
        .create_topic(&service_topic, 1, 1, &[], far())
        .await
        .expect("create");
    let body = json!({"records": (0..100).map(|_| json!({"topic": service_topic, "partition": 0, "value": value})).collect::<Vec<_>>()});
    let body = Arc::new(body);

    // Alternate timed rounds of each, so drift in the broker (segment rolls,
    // page cache, the other core's load) falls on both sides alike; report
    // the median round. An untimed warm-up of each first, so neither side
    // pays for the broker's JIT.
    let (warm, round, rounds) = if o.quick {
        (Duration::from_millis(500), Duration::from_millis(500), 3)
    } else {
        (Duration::from_secs(3), Duration::from_secs(2), 7)
    };
    direct_writes(cluster, &topic, &encoded, clients, Until::time(warm)).await;
    concurrent_posts(
        &service.url,
        "/records",
        "application/json",
        &body,
        clients,
        Until::time(warm),
        200,
    )
    .await;
    let (mut direct_rates, mut svc_rates) = (Vec::new(), Vec::new());
    let (mut direct_lat, mut svc_lat) = (Vec::new(), Vec::new());
    let (mut direct_cpu, mut svc_cpu) = (CpuSplit::default(), CpuSplit::default());
    for _ in 0..rounds {
        let (rate, lat) = direct_cpu
            .measure(
                service,
                direct_writes(cluster, &topic, &encoded, clients, Until::time(round)),
            )
            .await;
        direct_rates.push(rate);
        direct_lat.extend(lat);
        let (rate, lat) = svc_cpu
            .measure(
                service,
                concurrent_posts(
                    &service.url,
                    "/records",
                    "application/json",
                    &body,
                    clients,
                    Until::time(round),
                    200,
                ),
            )
            .await;
        svc_rates.push(rate);
        svc_lat.extend(lat);
    }
    let direct_rate = median(&mut direct_rates);
    let svc_rate = median(&mut svc_rates);
    eprintln!("write rounds, records/s: direct {direct_rates:.0?}, service {svc_rates:.0?}");
    eprintln!("write CPU, direct: {}", direct_cpu.describe());
    eprintln!("write CPU, kafka-records: {}", svc_cpu.describe());

    // bridge.
    let (mut bridge_lat, bridge_rate) = match &o.bridge {
        Some(url) => {
            let topic = topic_name("write-bridge");
            cluster
                .create_topic(&topic, 1, 1, &[], far())
                .await
                .expect("create");
            let body = Arc::new(
                json!({"records": (0..100).map(|_| json!({"value": value, "partition": 0})).collect::<Vec<_>>()}),
            );
            let (rate, lat) = concurrent_posts(
                url,
                &format!("/topics/{topic}"),
                BRIDGE_JSON,
                &body,
                clients,
                Until::count(batches_per_client),
                200,
            )
            .await;
            (lat, Some(rate))
        }
        None => (Vec::new(), None),
    };
    rows.push(Row {
        workload: "write 8x100x100B",
        metric: "records/s",
        direct: Some(direct_rate),
        service: Some(svc_rate),
        bridge: bridge_rate,
    });
    for (metric, p) in [("p50 ms per batch", 0.5), ("p99 ms per batch", 0.99)] {
        direct_lat.sort();
        svc_lat.sort();
        bridge_lat.sort();
        rows.push(Row {
            workload: "write 8x100x100B",
            metric,
            direct: Some(ms(percentile(&direct_lat, p))),
            service: Some(ms(percentile(&svc_lat, p))),
            bridge: (!bridge_lat.is_empty()).then(|| ms(percentile(&bridge_lat, p))),
        });
    }

    // Single-record POSTs, sequential.
    let n = if o.quick { 200 } else { 2000 };
    let topic = topic_name("write-single");
    cluster
        .create_topic(&topic, 1, 1, &[], far())
        .await
        .expect("create");
    let one = encode_records(&batch[..1], None);
    let mut direct = Vec::new();
    for _ in 0..n {
        let s = Instant::now();
        for (_, r) in cluster
            .produce(&topic, vec![(0, one.clone())], None, far())
            .await
        {
            r.expect("produce");
        }
        direct.push(s.elapsed());
    }
    let body = Arc::new(json!({"records": [{"topic": topic, "partition": 0, "value": value}]}));
    let (_, mut svc) = concurrent_posts(
        &service.url,
        "/records",
        "application/json",
        &body,
        1,
        Until::count(n),
        200,
    )
    .await;
    let mut bridge = match &o.bridge {
        Some(url) => {
            let body = Arc::new(json!({"records": [{"value": value, "partition": 0}]}));
            concurrent_posts(
                url,
                &format!("/topics/{topic}"),
                BRIDGE_JSON,
                &body,
                1,
                Until::count(n),
                200,
            )
            .await
            .1
        }
        None => Vec::new(),
    };
    direct.sort();
    svc.sort();
    bridge.sort();
    rows.push(Row {
        workload: "write single record",
        metric: "p50 ms",
        direct: Some(ms(percentile(&direct, 0.5))),
        service: Some(ms(percentile(&svc, 0.5))),
        bridge: (!bridge.is_empty()).then(|| ms(percentile(&bridge, 0.5))),
    });
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

/// `clients` tasks each producing the 100-record batch through the Kafka
/// layer until `until`; returns records/s and every latency.
async fn direct_writes(
    cluster: &Cluster,
    topic: &str,
    encoded: &Bytes,
    clients: usize,
    until: Until,
) -> (f64, Vec<Duration>) {
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let cluster = cluster.clone();
        let topic = topic.to_string();
        let encoded = encoded.clone();
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
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let rate = (all.len() * 100) as f64 / t.elapsed().as_secs_f64();
    (rate, all)
}

/// `clients` connections each POSTing `body` until `until`; returns
/// records/s (100 per batch body, else 1) and every latency.
async fn concurrent_posts(
    url: &str,
    path: &str,
    content_type: &'static str,
    body: &Arc<Value>,
    clients: usize,
    until: Until,
    ok: u16,
) -> (f64, Vec<Duration>) {
    let records_per_body = body["records"].as_array().map_or(1, Vec::len);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let url = url.to_string();
        let path = path.to_string();
        let body = Arc::clone(body);
        tasks.push(tokio::spawn(async move {
            let mut http = RawHttp::connect(&url).await;
            let request = RawHttp::post_request(&url, &path, content_type, &body.to_string());
            let mut lat = Vec::new();
            while !until.done(lat.len()) {
                let s = Instant::now();
                let (status, resp) = http.call(&request).await;
                assert_eq!(status, ok, "POST {path}: {}", String::from_utf8_lossy(resp));
                lat.push(s.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let rate = (all.len() * records_per_body) as f64 / t.elapsed().as_secs_f64();
    (rate, all)
}

/// A GET answer, read only as far as counting its records: checking the
/// JSON without building it, so the client's cost stays out of the figures
/// (the bridge's answers are read the same way).
#[derive(serde::Deserialize)]
struct ServicePage {
    records: Vec<IgnoredAny>,
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
    let total = if o.quick { 10_000 } else { 100_000 };
    let topic = topic_name(&format!("paging-{page_size}"));
    cluster
        .create_topic(&topic, 3, 1, &[], far())
        .await
        .expect("create");
    fill(cluster, &topic, 3, total / 3 + 1, 100).await;
    let total = (total / 3 + 1) * 3;

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

    // direct: committed offsets, fetch, commit, per page.
    let group = format!("bench-direct-{page_size}-{}", std::process::id());
    let t = Instant::now();
    let mut got = 0usize;
    let mut direct_pages = Vec::new();
    let mut positions: HashMap<i32, i64> = (0..3).map(|p| (p, 0)).collect();
    while got < total {
        let s = Instant::now();
        let committed = cluster
            .committed_offsets(&group, &topic, &[0, 1, 2], far())
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
            .fetch(&topic, &wanted, 1024 * 1024, i32::MAX, far())
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
            .commit_offsets(&group, &topic, &commit, far())
            .await
            .expect("commit");
        got += page;
        direct_pages.push(s.elapsed());
    }
    let direct_rate = got as f64 / t.elapsed().as_secs_f64();

    // kafka-records: the first page seeks to the beginning.
    let group = format!("bench-service-{page_size}-{}", std::process::id());
    let mut http = Http::connect(&service.url).await;
    let t = Instant::now();
    let mut got = 0usize;
    let mut svc_pages = Vec::new();
    let mut first = true;
    while got < total {
        let s = Instant::now();
        let seek = if first {
            "&distanceFromBeginning=0"
        } else {
            ""
        };
        first = false;
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
        got += n;
        svc_pages.push(s.elapsed());
    }
    let svc_rate = got as f64 / t.elapsed().as_secs_f64();

    // bridge: one consumer, subscribed; per page it polls until it holds
    // `page_size` records (or a poll comes back empty), then commits. A
    // poll returns at most the bridge's `kafka.consumer.max.poll.records`
    // (500 unless the bridge is started with another), and the bridge
    // cannot cap one by count: a byte cap too small for a record loses it
    // (422). Started with max.poll.records=100, a page of 100 is one poll
    // and one commit, the same work as one GET; the table notes pages of
    // another size.
    let (bridge_rate, mut bridge_pages) = match &o.bridge {
        Some(url) => {
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
                    &json!({"topics": [topic]}),
                )
                .await;
            assert_eq!(status, 204);
            let t = Instant::now();
            let mut got = 0usize;
            let mut pages = Vec::new();
            let mut polls = 0usize;
            while got < total {
                let s = Instant::now();
                let mut page = 0usize;
                while page < page_size && got + page < total {
                    let body = bridge_poll(&mut http, &base, 10_000_000).await;
                    polls += 1;
                    let records: Vec<IgnoredAny> = serde_json::from_slice(&body).expect("json");
                    if records.is_empty() && page > 0 {
                        break;
                    }
                    page += records.len();
                }
                got += page;
                let (status, _) = http
                    .post_json(&format!("{base}/offsets"), BRIDGE_V2, &json!({}))
                    .await;
                assert!(status == 204 || status == 200);
                pages.push(s.elapsed());
            }
            let rate = got as f64 / t.elapsed().as_secs_f64();
            let per_page = got as f64 / pages.len().max(1) as f64;
            eprintln!(
                "bridge paging {page_size}/page: {} pages of {per_page:.0} records on average, {polls} polls",
                pages.len()
            );
            if per_page > page_size as f64 * 1.05 {
                eprintln!(
                    "  the bridge's polls are larger than a page: start it with kafka.consumer.max.poll.records={page_size} (or less) to compare pages of {page_size}"
                );
            }
            http.call(Method::DELETE, &base, &[("content-type", BRIDGE_V2)], None)
                .await;
            (Some(rate), pages)
        }
        None => (None, Vec::new()),
    };
    direct_pages.sort();
    svc_pages.sort();
    bridge_pages.sort();
    rows.push(Row {
        workload,
        metric: "records/s",
        direct: Some(direct_rate),
        service: Some(svc_rate),
        bridge: bridge_rate,
    });
    rows.push(Row {
        workload,
        metric: "p50 ms per page",
        direct: Some(ms(percentile(&direct_pages, 0.5))),
        service: Some(ms(percentile(&svc_pages, 0.5))),
        bridge: (!bridge_pages.is_empty()).then(|| ms(percentile(&bridge_pages, 0.5))),
    });
}

/// 2,000 GETs waiting on an idle topic at once: all answer 200 in time, and
/// the service's peak RSS.
async fn long_polls(o: &Options, cluster: &Cluster, service: &Service, rows: &mut Vec<Row>) {
    let topic = topic_name("idle");
    cluster
        .create_topic(&topic, 1, 1, &[], far())
        .await
        .expect("create");
    let n = if o.quick { 500 } else { 2000 };
    let (before, _) = service.rss();
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
        peak = peak.max(service.rss().0);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut ok = 0;
    for task in tasks {
        if task.await.expect("task") == 200 {
            ok += 1;
        }
    }
    let elapsed = t.elapsed();
    let (_, hwm) = service.rss();
    eprintln!(
        "long polls: {ok}/{n} answered 200 in {:.1} s; RSS before {before:.1} MB, peak while waiting {peak:.1} MB, high-water {hwm:.1} MB",
        elapsed.as_secs_f64()
    );
    assert_eq!(ok, n, "every long poll must answer 200");
    rows.push(Row {
        workload: "2000 long polls",
        metric: "peak RSS MB",
        direct: None,
        service: Some(peak.max(hwm)),
        bridge: None,
    });
    rows.push(Row {
        workload: "2000 long polls",
        metric: "all 200, seconds",
        direct: None,
        service: Some(elapsed.as_secs_f64()),
        bridge: None,
    });
}
