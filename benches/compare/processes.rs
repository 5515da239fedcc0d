//! One-shot calls as whole processes, what a user would otherwise run for
//! one record: `curl` to the service, `kcat`, and Kafka's Java console
//! consumer and producer (through `scripts/kafka.sh tool`), each reading one
//! record at an offset and writing one record. Timed by hyperfine (wall
//! time, spawn to exit, its median), with the peak RSS of each tool from
//! GNU time (`%M`, the largest of the process and its children). The
//! service's own memory is not in curl's figure: it runs anyway.

use std::process::Command;

use kafka_records::kafka::Cluster;

use super::{fill, new_topic, Options, Service};

/// What the whole-process calls measured.
pub(crate) struct Processes {
    rows: Vec<Call>,
}

/// One tool's one-shot call.
pub(crate) struct Call {
    pub(crate) tool: &'static str,
    /// "read" or "write".
    pub(crate) call: &'static str,
    /// Median wall time, ms.
    pub(crate) median_ms: f64,
    /// Median of the runs' peak RSS, MB.
    pub(crate) peak_mb: f64,
    runs: usize,
}

/// The tools, in the order of the table.
pub(crate) const CURL: &str = "curl + kafka-records";
pub(crate) const KCAT: &str = "kcat";
pub(crate) const JAVA: &str = "Kafka console tool (JVM)";

impl Processes {
    pub(crate) async fn measure(o: &Options, cluster: &Cluster, service: &Service) -> Processes {
        let topic = new_topic(cluster, "process", 1).await;
        fill(cluster, &topic, 1, 1000, 100).await;
        let offset = 567;
        let b = &o.bootstrap;
        let url = &service.url;
        let kafka_sh = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kafka.sh");
        let value = "v".repeat(100);
        let body =
            format!(r#"{{"records":[{{"topic":"{topic}","partition":0,"value":"{value}"}}]}}"#);
        let (fast, slow) = if o.quick { (10, 2) } else { (30, 5) };
        // A record's value is a JSON string of x's: each read prints it.
        let read_shows = "xxxxxxxxxx";
        let calls: Vec<(&'static str, &'static str, String, &str, usize)> = vec![
            (
                CURL,
                "read",
                format!("curl -sf '{url}/records/{topic}?partition=0&seekTo={offset}&limit=1'"),
                read_shows,
                fast,
            ),
            (
                KCAT,
                "read",
                format!("kcat -C -q -e -b {b} -t {topic} -p 0 -o {offset} -c 1"),
                read_shows,
                fast,
            ),
            (
                JAVA,
                "read",
                format!(
                    "{kafka_sh} tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server {b} \
                     --topic {topic} --partition 0 --offset {offset} --max-messages 1 --timeout-ms 20000 2>/dev/null"
                ),
                read_shows,
                slow,
            ),
            (
                CURL,
                "write",
                format!(
                    "curl -sf -H 'content-type: application/json' --data '{body}' {url}/records"
                ),
                "offset",
                fast,
            ),
            (
                KCAT,
                "write",
                // -X acks=all: what the service writes with (librdkafka's
                // default too); kcat waits for the delivery before it exits.
                format!("printf '%s' {value} | kcat -P -b {b} -t {topic} -p 0 -X acks=all && echo written"),
                "written",
                fast,
            ),
            (
                JAVA,
                "write",
                format!(
                    "printf '%s\\n' {value} | {kafka_sh} tool org.apache.kafka.tools.ConsoleProducer \
                     --bootstrap-server {b} --topic {topic} --producer-property acks=all 2>/dev/null && echo written"
                ),
                "written",
                slow,
            ),
        ];
        let mut rows = Vec::new();
        for (tool, call, command, expect, runs) in calls {
            check(&command, expect);
            let median_ms = hyperfine(&command, runs);
            let peak_mb = peak_rss_mb(&command, runs.min(5));
            eprintln!(
                "{tool} {call}: median {median_ms:.1} ms, peak RSS {peak_mb:.1} MB ({runs} runs)"
            );
            rows.push(Call {
                tool,
                call,
                median_ms,
                peak_mb,
                runs,
            });
        }
        Processes { rows }
    }

    /// The median wall time of `tool`'s `call`.
    pub(crate) fn median(&self, tool: &str, call: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.tool == tool && r.call == call)
            .map(|r| r.median_ms)
    }

    pub(crate) fn print(&self) {
        println!();
        println!(
            "| {:<26} | {:<5} | {:>10} | {:>13} | {:>4} | {:>10} |",
            "one-shot call, a process", "call", "median ms", "peak RSS MB", "runs", "it/curl"
        );
        println!(
            "|{}|{}|{}|{}|{}|{}|",
            "-".repeat(28),
            "-".repeat(7),
            "-".repeat(12),
            "-".repeat(15),
            "-".repeat(6),
            "-".repeat(12)
        );
        for r in &self.rows {
            let ratio = self
                .median(CURL, r.call)
                .map_or("-".to_string(), |c| format!("{:.1}x", r.median_ms / c));
            println!(
                "| {:<26} | {:<5} | {:>10.1} | {:>13.1} | {:>4} | {:>10} |",
                r.tool, r.call, r.median_ms, r.peak_mb, r.runs, ratio
            );
        }
        println!(
            "(one record read at an offset and one written, acks=all, each a whole process timed by hyperfine from spawn \
             to exit; peak RSS by GNU time, the service's own not counted)"
        );
    }
}

/// Runs `command` once through the shell: it must succeed and print `expect`.
fn check(command: &str, expect: &str) {
    let out = Command::new("sh")
        .args(["-c", command])
        .output()
        .expect("spawn sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(expect),
        "{command} did not print {expect:?}: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// hyperfine's median of `runs` runs of `command` (after one warm-up run),
/// in ms.
fn hyperfine(command: &str, runs: usize) -> f64 {
    let json = std::env::temp_dir().join(format!("bench-hyperfine-{}.json", std::process::id()));
    let out = Command::new("hyperfine")
        .args(["--style", "none", "--warmup", "1", "--runs"])
        .arg(runs.to_string())
        .arg("--export-json")
        .arg(&json)
        .arg(command)
        .output()
        .expect("hyperfine (Debian's hyperfine package)");
    assert!(
        out.status.success(),
        "hyperfine {command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("hyperfine's JSON")).expect("JSON");
    std::fs::remove_file(&json).ok();
    v["results"][0]["median"].as_f64().expect("median") * 1000.0
}

/// The median over `runs` runs of the peak RSS of `command` and its
/// children, in MB, from GNU time.
fn peak_rss_mb(command: &str, runs: usize) -> f64 {
    let mut peaks: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let out = Command::new("/usr/bin/time")
                .args(["-f", "peak-kb %M", "sh", "-c", command])
                .output()
                .expect("GNU time (Debian's time package)");
            let stderr = String::from_utf8_lossy(&out.stderr);
            stderr
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("peak-kb "))
                .and_then(|kb| kb.trim().parse::<f64>().ok())
                .expect("time's peak-kb line")
                / 1024.0
        })
        .collect();
    super::median(&mut peaks)
}
