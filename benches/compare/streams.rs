//! The stream workloads: GET as NDJSON and Server-Sent Events beside kcat
//! (and kcat piped into jq for a search), on the same broker in the same run.
//!
//! - `tail`: records/s an NDJSON reader gets draining a topic from its start
//!   to its end, beside `kcat -C -o beginning -e` as a whole process;
//! - `latency`: from a produce to the SSE event reaching the client, beside
//!   `kcat -C -o end -u` printing the record, p50 and p99;
//! - `search`: records/s scanned by a jq filter on a field of JSON values,
//!   beside `kcat -C -e | jq -c 'select(…)'`, both finding the same records;
//! - `stream-memory`: the service's RSS above its idle baseline per stream,
//!   for 100 concurrent draining streams and for one slow reader, each on a
//!   fresh process.

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::TokioIo;
use kafka_records::kafka::{encode_records, Cluster, ProduceRecord};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::{
    broker_cpu_seconds, cpu_seconds, far, median, new_topic, percentile, start_service, Http,
    Options, Service,
};

/// `untilTimestamp` far in the future: a read bounded by each partition's
/// end when it starts.
const FAR_FUTURE_MS: i64 = 99_999_999_999_999;

/// Partitions of the topics drained and searched.
const PARTITIONS: i32 = 8;

/// What the stream workloads measured, printed as a table of their own.
#[derive(Default)]
pub(crate) struct Streams {
    rows: Vec<Versus>,
}

/// One metric of the service beside another way's, and the goal it has.
struct Versus {
    workload: String,
    metric: &'static str,
    service: f64,
    other: Option<(&'static str, f64)>,
    goal: Goal,
}

/// What a row should come to.
#[derive(Clone, Copy)]
enum Goal {
    None,
    /// service/other at least this.
    RatioAtLeast(f64),
    /// service/other above this.
    RatioAbove(f64),
    /// The service's value below this.
    Below(f64),
    /// The same value on both sides.
    Same,
}

impl Versus {
    fn ratio(&self) -> Option<f64> {
        self.other
            .map(|(_, v)| v)
            .filter(|v| *v != 0.0)
            .map(|v| self.service / v)
    }

    fn goal(&self) -> String {
        let verdict = |met: bool| if met { "met" } else { "missed" };
        match (self.goal, self.ratio()) {
            (Goal::None, _) => "-".to_string(),
            (Goal::RatioAtLeast(g), Some(r)) => format!("≥ {g}x: {}", verdict(r >= g)),
            (Goal::RatioAbove(g), Some(r)) => format!("> {g}x: {}", verdict(r > g)),
            (Goal::Below(g), _) => format!("< {g}: {}", verdict(self.service < g)),
            (Goal::Same, Some(r)) => format!("equal: {}", verdict(r == 1.0)),
            (_, None) => "not measured".to_string(),
        }
    }
}

impl Streams {
    /// Runs the stream workloads that `run` selects by name: `tail`,
    /// `latency`, `search`, `stream-memory`. None when it selects none.
    pub(crate) async fn measure(
        o: &Options,
        cluster: &Cluster,
        service: &Service,
        run: impl Fn(&str) -> bool,
    ) -> Option<Streams> {
        let names = ["tail", "latency", "search", "stream-memory"];
        if !names.iter().any(|n| run(n)) {
            return None;
        }
        let mut s = Streams::default();
        // One drained topic for the tail and the memory workloads.
        let drained = if run("tail") || run("stream-memory") {
            Some(Drained::fill(o, cluster).await)
        } else {
            None
        };
        if let Some(d) = drained.as_ref().filter(|_| run("tail")) {
            s.tail(o, service, d).await;
        }
        if run("latency") {
            s.latency(o, cluster, service).await;
        }
        if run("search") {
            s.search(o, cluster, service).await;
        }
        if let Some(d) = drained.as_ref().filter(|_| run("stream-memory")) {
            s.memory(o, d).await;
        }
        Some(s)
    }

    fn push(
        &mut self,
        workload: &str,
        metric: &'static str,
        service: f64,
        other: Option<(&'static str, f64)>,
        goal: Goal,
    ) {
        self.rows.push(Versus {
            workload: workload.to_string(),
            metric,
            service,
            other,
            goal,
        });
    }

    pub(crate) fn print(&self) {
        println!();
        println!(
            "| {:<30} | {:<22} | {:>13} | {:<32} | {:>12} | {:>10} | {:<14} |",
            "streams",
            "metric",
            "kafka-records",
            "compared with",
            "its value",
            "service/it",
            "goal"
        );
        println!(
            "|{}|{}|{}|{}|{}|{}|{}|",
            "-".repeat(32),
            "-".repeat(24),
            "-".repeat(15),
            "-".repeat(34),
            "-".repeat(14),
            "-".repeat(12),
            "-".repeat(16)
        );
        for r in &self.rows {
            let (name, value) = match r.other {
                Some((name, v)) => (name, format!("{v:.3}")),
                None => ("-", "-".to_string()),
            };
            let ratio = r.ratio().map_or("-".to_string(), |x| format!("{x:.2}x"));
            println!(
                "| {:<30} | {:<22} | {:>13.3} | {name:<32} | {value:>12} | {ratio:>10} | {:<14} |",
                r.workload,
                r.metric,
                r.service,
                r.goal()
            );
        }
        println!(
            "(rates in records/s, higher is better; latencies in ms from the produce to the record reaching the reader, \
             lower is better; MB per stream: the service's peak RSS above its idle RSS (a fresh process after one GET and one short stream), \
             divided by the streams; \
             kcat and jq timed as whole processes, from spawn to exit)"
        );
    }

    /// `tail`: an NDJSON reader draining the topic from its start to its
    /// end, beside kcat doing the same, in alternating rounds.
    async fn tail(&mut self, o: &Options, service: &Service, d: &Drained) {
        let rounds = if o.quick { 1 } else { 3 };
        let path = format!(
            "/records/{}?distanceFromBeginning=0&untilTimestamp={FAR_FUTURE_MS}&format=ndjson",
            d.topic
        );
        let (mut svc, mut kcat) = (Vec::new(), Vec::new());
        // One unmeasured read by each first: a fresh broker compiles its
        // fetch path (its JIT took more CPU than the fetches themselves in
        // the first reads), which would count against whichever reads first.
        assert_eq!(
            count_lines(get_stream(&service.url, &path, &[]).await).await,
            d.total
        );
        assert_eq!(kcat_lines(&o.bootstrap, &d.topic), d.total);
        for _ in 0..rounds {
            let (cpu, broker, t) = (service.cpu_seconds(), broker_cpu_seconds(), Instant::now());
            let client = cpu_seconds("self");
            let lines = count_lines(get_stream(&service.url, &path, &[]).await).await;
            let elapsed = t.elapsed().as_secs_f64();
            assert_eq!(lines, d.total, "the NDJSON stream's records");
            eprintln!(
                "tail, kafka-records: {lines} records in {elapsed:.2} s, {:.0}/s; CPU per record: service {:.2} us, client {:.2} us, broker {}",
                lines as f64 / elapsed,
                (service.cpu_seconds() - cpu) / lines as f64 * 1e6,
                (cpu_seconds("self") - client) / lines as f64 * 1e6,
                per_record_us(broker, lines)
            );
            svc.push(lines as f64 / elapsed);

            let (broker, t) = (broker_cpu_seconds(), Instant::now());
            let lines = kcat_lines(&o.bootstrap, &d.topic);
            let elapsed = t.elapsed().as_secs_f64();
            assert_eq!(lines, d.total, "kcat's records");
            eprintln!(
                "tail, kcat: {lines} records in {elapsed:.2} s, {:.0}/s; broker CPU per record {}",
                lines as f64 / elapsed,
                per_record_us(broker, lines)
            );
            kcat.push(lines as f64 / elapsed);
        }
        self.push(
            &format!("tail {}x100B, {PARTITIONS} partitions", d.label),
            "records/s (NDJSON)",
            median(&mut svc),
            Some(("kcat -C -o beginning -e", median(&mut kcat))),
            Goal::RatioAtLeast(0.5),
        );
    }

    /// `latency`: records produced one at a time through the Kafka layer,
    /// each carrying its send time, to an SSE stream at the end of a topic,
    /// then to kcat tailing another topic the same way.
    async fn latency(&mut self, o: &Options, cluster: &Cluster, service: &Service) {
        let n = if o.quick { 50 } else { 300 };

        let topic = new_topic(cluster, "latency-sse", 1).await;
        let body = get_stream(
            &service.url,
            &format!("/records/{topic}?format=sse"),
            &[("accept", "text/event-stream")],
        )
        .await;
        let (tx, rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(sse_arrivals(body, tx));
        let mut svc = produce_and_time(cluster, &topic, n, rx).await;
        reader.abort();

        let topic = new_topic(cluster, "latency-kcat", 1).await;
        let mut child = Command::new("kcat")
            .args([
                "-C",
                "-b",
                &o.bootstrap,
                "-t",
                &topic,
                "-o",
                "end",
                "-u",
                "-q",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("kcat");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::unbounded_channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(arrival) = arrival(&line) {
                    if tx.send(arrival).is_err() {
                        break;
                    }
                }
            }
        });
        let mut kcat = produce_and_time(cluster, &topic, n, rx).await;
        child.kill().ok();
        child.wait().ok();
        reader.join().ok();

        let workload = format!("latency, {n} records one by one");
        for (metric, p) in [("p50 ms (SSE)", 0.5), ("p99 ms (SSE)", 0.99)] {
            self.push(
                &workload,
                metric,
                percentile(&mut svc, p).expect("latencies"),
                percentile(&mut kcat, p).map(|v| ("kcat -C -o end -u", v)),
                Goal::None,
            );
        }
    }

    /// `search`: a filter on a field of JSON values, as an NDJSON stream,
    /// beside kcat piped into jq, in alternating rounds; both must find the
    /// same records.
    async fn search(&mut self, o: &Options, cluster: &Cluster, service: &Service) {
        let per_partition = if o.quick { 12_500 } else { 125_000 };
        let total = per_partition * PARTITIONS as usize;
        let topic = new_topic(cluster, "search", PARTITIONS).await;
        let t = Instant::now();
        fill_with(cluster, &topic, per_partition, |n| {
            let head = format!(r#"{{"id":{n},"amount":{},"name":""#, n % 1000);
            // About 100 bytes a value.
            format!(
                r#"{head}{}"}}"#,
                "c".repeat(98usize.saturating_sub(head.len()))
            )
        })
        .await;
        eprintln!(
            "search: {total} JSON values written in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let expected = (0..total).filter(|n| n % 1000 == 7).count();
        let path = format!(
            "/records/{topic}?filter=.value.amount%20%3D%3D%207&valueDeserializer=json\
             &distanceFromBeginning=0&untilTimestamp={FAR_FUTURE_MS}&format=ndjson"
        );
        let pipeline = format!(
            "kcat -C -b '{}' -t '{topic}' -o beginning -e -q | /usr/bin/jq -c 'select(.amount == 7)'",
            o.bootstrap
        );
        let rounds = if o.quick { 1 } else { 3 };
        let (mut svc, mut piped) = (Vec::new(), Vec::new());
        // The fewest records each side found in a round: a side that ends
        // early shows here (and its rate is then not a whole scan's).
        let (mut svc_found, mut piped_found) = (usize::MAX, usize::MAX);
        for _ in 0..rounds {
            let (cpu, t) = (service.cpu_seconds(), Instant::now());
            let found = count_lines(get_stream(&service.url, &path, &[]).await).await;
            let elapsed = t.elapsed().as_secs_f64();
            // A scan that ended early covered about 1,000 records for each
            // one it found, as matches are spread evenly over the topic.
            let scanned = if found == expected {
                total
            } else {
                found * total / expected
            };
            eprintln!(
                "search, kafka-records: {found} of {expected} found in {elapsed:.2} s, {:.0} scanned/s; service CPU {:.2} us per record scanned",
                scanned as f64 / elapsed,
                (service.cpu_seconds() - cpu) / scanned.max(1) as f64 * 1e6
            );
            if found != expected {
                eprintln!(
                    "  the stream ended before the end of the topic: about {scanned} of {total} records scanned (estimated from the records found)"
                );
            }
            svc_found = svc_found.min(found);
            svc.push(scanned as f64 / elapsed);

            let t = Instant::now();
            let out = Command::new("sh")
                .args(["-c", &pipeline])
                .stderr(Stdio::inherit())
                .output()
                .expect("sh");
            let elapsed = t.elapsed().as_secs_f64();
            assert!(out.status.success(), "{pipeline} failed");
            let found = out.stdout.iter().filter(|b| **b == b'\n').count();
            eprintln!(
                "search, kcat | jq: {found} of {expected} found in {elapsed:.2} s, {:.0} scanned/s",
                total as f64 / elapsed
            );
            assert_eq!(found, expected, "the records jq selected");
            piped_found = piped_found.min(found);
            piped.push(total as f64 / elapsed);
        }
        let workload = format!("search {} JSON values", label(total));
        let other = "kcat -C -e, piped to jq";
        self.push(
            &workload,
            "scanned/s (NDJSON)",
            median(&mut svc),
            Some((other, median(&mut piped))),
            Goal::RatioAbove(1.0),
        );
        self.push(
            &workload,
            "records found (fewest)",
            svc_found as f64,
            Some((other, piped_found as f64)),
            Goal::Same,
        );
    }

    /// `stream-memory`: 100 concurrent NDJSON streams draining the topic,
    /// then one stream with a slow reader, each on a fresh service so the
    /// high-water mark is that load's.
    async fn memory(&mut self, o: &Options, d: &Drained) {
        let path = format!("/records/{}?distanceFromBeginning=0&format=ndjson", d.topic);
        let streams = 100;
        let span = Duration::from_secs(if o.quick { 5 } else { 15 });
        let (service, idle) = fresh(o, &d.topic).await;
        let t = Instant::now();
        let until = tokio::time::Instant::now() + span;
        let mut tasks = Vec::new();
        for _ in 0..streams {
            let (url, path) = (service.url.clone(), path.clone());
            tasks.push(tokio::spawn(async move {
                let body = get_stream(&url, &path, &[]).await;
                count_lines_until(body, until).await
            }));
        }
        let (mut lines, mut finished) = (0, 0);
        for task in tasks {
            let (n, ended) = task.await.expect("stream task");
            lines += n;
            finished += usize::from(ended);
        }
        let memory = service.memory();
        let elapsed = t.elapsed().as_secs_f64();
        let per_stream = (memory.peak - idle) / streams as f64;
        eprintln!(
            "stream memory: {streams} streams over {elapsed:.1} s ({finished} reached the end), {lines} records read ({:.0}/s); \
             idle RSS {idle:.1} MB, high-water {:.1} MB, now {:.1} MB: {per_stream:.3} MB per stream",
            lines as f64 / elapsed,
            memory.peak,
            memory.rss
        );
        drop(service);
        self.push(
            &format!("stream-memory, {streams} draining"),
            "MB per stream",
            per_stream,
            None,
            Goal::Below(1.0),
        );
        self.push(
            &format!("stream-memory, {streams} draining"),
            "peak RSS MB",
            memory.peak,
            None,
            Goal::None,
        );

        let span = Duration::from_secs(if o.quick { 5 } else { 20 });
        let (service, idle) = fresh(o, &d.topic).await;
        let (got, early) = slow_reader(&service, &path, span).await;
        let memory = service.memory();
        let slow = memory.peak - idle;
        eprintln!(
            "stream memory, one slow reader (16 KiB every 100 ms for {} s): read {got} bytes; idle RSS {idle:.1} MB, \
             RSS {early:.1} MB after 2 s and {:.1} MB at the end, high-water {:.1} MB: {slow:.3} MB above idle",
            span.as_secs(),
            memory.rss,
            memory.peak
        );
        drop(service);
        self.push(
            "stream-memory, 1 slow reader",
            "MB per stream",
            slow,
            None,
            Goal::Below(1.0),
        );
    }
}

/// The topic the tail and memory workloads drain: 100-byte values in
/// [`PARTITIONS`] partitions.
struct Drained {
    topic: String,
    total: usize,
    label: String,
}

impl Drained {
    /// 1,000,000 records (100,000 with `--quick`).
    async fn fill(o: &Options, cluster: &Cluster) -> Drained {
        let per_partition = if o.quick { 12_500 } else { 125_000 };
        let total = per_partition * PARTITIONS as usize;
        let topic = new_topic(cluster, "tail", PARTITIONS).await;
        let value = format!("\"{}\"", "x".repeat(98));
        let t = Instant::now();
        fill_with(cluster, &topic, per_partition, |_| value.clone()).await;
        eprintln!(
            "tail: {total} records of 100 bytes written in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        Drained {
            topic,
            total,
            label: label(total),
        }
    }
}

/// 1000000 → "1M", 100000 → "100k".
fn label(n: usize) -> String {
    if n % 1_000_000 == 0 {
        format!("{}M", n / 1_000_000)
    } else {
        format!("{}k", n / 1000)
    }
}

fn per_record_us(broker_before: Option<f64>, records: usize) -> String {
    match (broker_before, broker_cpu_seconds()) {
        (Some(b), Some(a)) => format!("{:.2} us", (a - b) / records as f64 * 1e6),
        _ => "not measured".to_string(),
    }
}

/// A fresh service process, ready, and its idle RSS in MB after one
/// one-record GET and one short stream (1,000 records) on `topic`: the
/// baseline, holding what the first request and the first stream of a
/// process set up once (the connections to the broker, the topic's
/// metadata, the stream's code read in from the binary), so that what is
/// above it is the streams'. The high-water mark is reset after them
/// (`/proc/PID/clear_refs`), so it is the load's.
async fn fresh(o: &Options, topic: &str) -> (Service, f64) {
    let service = start_service(o);
    let cold = service.memory().rss;
    let mut http = Http::connect(&service.url).await;
    for query in ["limit=1", "limit=1000&format=ndjson"] {
        let (status, body) = http
            .get(&format!("/records/{topic}?distanceFromBeginning=0&{query}"))
            .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    drop(http);
    tokio::time::sleep(Duration::from_millis(200)).await;
    std::fs::write(format!("/proc/{}/clear_refs", service.pid()), "5")
        .expect("reset the service's high-water mark");
    let idle = service.memory().rss;
    eprintln!(
        "stream memory: a fresh service, RSS {cold:.1} MB once ready, {idle:.1} MB after one GET and one short stream (the baseline)"
    );
    (service, idle)
}

/// Fills every partition of `topic` with `per_partition` records whose
/// values `value` makes from the record's number (`i * PARTITIONS + p` for
/// the `i`th record of partition `p`), stamped now, 1,000 a batch.
async fn fill_with(
    cluster: &Cluster,
    topic: &str,
    per_partition: usize,
    value: impl Fn(usize) -> String,
) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let mut done = 0;
    let mut in_flight = Vec::new();
    while done < per_partition {
        let n = (per_partition - done).min(1000);
        let batches = (0..PARTITIONS)
            .map(|p| {
                let values: Vec<String> = (done..done + n)
                    .map(|i| value(i * PARTITIONS as usize + p as usize))
                    .collect();
                let records: Vec<ProduceRecord> = values
                    .iter()
                    .map(|v| ProduceRecord {
                        key: None,
                        value: Some(v.as_bytes()),
                        timestamp: now,
                        headers: &[],
                    })
                    .collect();
                (p, encode_records(&records, None))
            })
            .collect();
        let (cluster, topic) = (cluster.clone(), topic.to_string());
        in_flight.push(tokio::spawn(async move {
            for (_, r) in cluster.produce(&topic, batches, None, far()).await {
                r.expect("fill");
            }
        }));
        // A few requests at a time keep the broker busy, in order per
        // partition being of no matter here.
        if in_flight.len() == 4 {
            in_flight.remove(0).await.expect("fill task");
        }
        done += n;
    }
    for t in in_flight {
        t.await.expect("fill task");
    }
}

/// A GET on a connection of its own; its body, read as it comes. Fails
/// unless the answer is a 200.
async fn get_stream(url: &str, path: &str, headers: &[(&str, &str)]) -> Incoming {
    let host = url.trim_start_matches("http://").to_string();
    let tcp = TcpStream::connect(&host).await.expect("connect");
    tcp.set_nodelay(true).ok();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut req = Request::get(path).header("host", &host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = send
        .send_request(req.body(Full::new(Bytes::new())).expect("request"))
        .await
        .expect("send");
    let status = resp.status().as_u16();
    if status != 200 {
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        panic!("GET {path}: {status} {}", String::from_utf8_lossy(&body));
    }
    resp.into_body()
}

/// Reads `body` to its end, counting its lines.
async fn count_lines(mut body: Incoming) -> usize {
    let mut lines = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("the stream broke");
        if let Some(data) = frame.data_ref() {
            lines += data.iter().filter(|b| **b == b'\n').count();
        }
    }
    lines
}

/// Reads `body` until its end or `until`, counting its lines; whether it
/// reached its end.
async fn count_lines_until(mut body: Incoming, until: tokio::time::Instant) -> (usize, bool) {
    let mut lines = 0;
    loop {
        match tokio::time::timeout_at(until, body.frame()).await {
            Err(_) => return (lines, false),
            Ok(None) => return (lines, true),
            Ok(Some(frame)) => {
                if let Some(data) = frame.expect("the stream broke").data_ref() {
                    lines += data.iter().filter(|b| **b == b'\n').count();
                }
            }
        }
    }
}

/// `kcat -C -o beginning -e` on `topic` (every partition, to its end): the
/// lines it prints.
fn kcat_lines(bootstrap: &str, topic: &str) -> usize {
    let mut child = Command::new("kcat")
        .args([
            "-C",
            "-b",
            bootstrap,
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-q",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("kcat");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut buf = vec![0u8; 256 * 1024];
    let mut lines = 0;
    loop {
        match stdout.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => lines += buf[..n].iter().filter(|b| **b == b'\n').count(),
            Err(e) => panic!("reading kcat: {e}"),
        }
    }
    assert!(child.wait().expect("kcat").success(), "kcat failed");
    lines
}

/// Microseconds since the epoch: the send time a record carries.
fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_micros() as u64
}

/// A record's number and how long it took to arrive, from the text
/// `sent <us> seq <n>` in it (an SSE event or kcat's line).
fn arrival(text: &str) -> Option<(usize, Duration)> {
    let now = now_us();
    let rest = &text[text.find("sent ")? + 5..];
    let mut words = rest.split(' ');
    let sent: u64 = words.next()?.parse().ok()?;
    let seq: usize = (words.next()? == "seq")
        .then(|| words.next()?.parse().ok())
        .flatten()?;
    Some((seq, Duration::from_micros(now.saturating_sub(sent))))
}

/// Reads SSE events from `body`, sending each record's arrival.
async fn sse_arrivals(mut body: Incoming, tx: mpsc::UnboundedSender<(usize, Duration)>) {
    let mut pending = String::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return };
        let Some(data) = frame.data_ref() else {
            continue;
        };
        pending.push_str(std::str::from_utf8(data).expect("UTF-8 events"));
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            if event.starts_with("event: record") {
                if let Some(a) = arrival(&event) {
                    if tx.send(a).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Produces records to partition 0 of `topic` one at a time, each carrying
/// its send time, and waits for each to arrive (on `arrivals`) before a
/// short gap and the next. Records are sent first until one arrives (the
/// reader is then in place at the end), then 10 unmeasured ones, then `n`
/// measured: their latencies.
async fn produce_and_time(
    cluster: &Cluster,
    topic: &str,
    n: usize,
    mut arrivals: mpsc::UnboundedReceiver<(usize, Duration)>,
) -> Vec<Duration> {
    let gap = Duration::from_millis(20);
    let send = |seq: usize| {
        let value = format!("\"sent {} seq {seq} {}\"", now_us(), "p".repeat(60));
        let record = ProduceRecord {
            key: None,
            value: Some(value.as_bytes()),
            timestamp: (now_us() / 1000) as i64,
            headers: &[],
        };
        let encoded = encode_records(&[record], None);
        async move {
            for (_, r) in cluster
                .produce(topic, vec![(0, encoded)], None, far())
                .await
            {
                r.expect("produce");
            }
        }
    };
    // Until the reader is in place.
    let started = Instant::now();
    let mut seq = 0;
    loop {
        send(seq).await;
        seq += 1;
        let got = tokio::time::timeout(Duration::from_millis(500), arrivals.recv()).await;
        if matches!(got, Ok(Some(_))) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no record reached the reader of {topic} in 60 s"
        );
    }
    let warm_up = 10;
    let mut latencies = Vec::with_capacity(n);
    for i in 0..warm_up + n {
        // Late arrivals of the records sent before it was in place.
        while arrivals.try_recv().is_ok() {}
        let this = seq;
        seq += 1;
        send(this).await;
        let latency = loop {
            let got = tokio::time::timeout(Duration::from_secs(10), arrivals.recv())
                .await
                .unwrap_or_else(|_| panic!("record {this} did not reach the reader of {topic}"))
                .expect("the reader stopped");
            if got.0 == this {
                break got.1;
            }
        };
        if i >= warm_up {
            latencies.push(latency);
        }
        tokio::time::sleep(gap).await;
    }
    latencies
}

/// A reader that takes 16 KiB every 100 ms of an NDJSON stream for `span`:
/// how many bytes it read, and the service's RSS after 2 s.
async fn slow_reader(service: &Service, path: &str, span: Duration) -> (usize, f64) {
    let host = service.url.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(host).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 16 * 1024];
    let started = Instant::now();
    let mut got = 0;
    let mut early = None;
    while started.elapsed() < span {
        if early.is_none() && started.elapsed() >= Duration::from_secs(2) {
            early = Some(service.memory().rss);
        }
        let n = tcp.read(&mut buf).await.expect("read");
        assert!(n > 0, "the service ended the slow stream");
        if got == 0 {
            assert!(
                buf.starts_with(b"HTTP/1.1 200"),
                "{}",
                String::from_utf8_lossy(&buf[..n])
            );
        }
        got += n;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (got, early.unwrap_or_default())
}
