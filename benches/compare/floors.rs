//! The independent floors: rskafka and librdkafka (through the rdkafka
//! crate) doing the same one-shot reads and writes as the crate's own Kafka
//! layer, each in a process of its own (`kafka-records-floors`, built from
//! floors/ by scripts/bench.sh), kept for the whole run so its rounds take
//! turns with the others' on warm connections. The process times its own
//! requests; the benchmark reads its CPU from /proc.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Load, Until};

/// The clients, in the order of the table's columns.
pub(crate) const KINDS: [&str; 2] = ["rskafka", "rdkafka"];

/// One floor's process.
pub(crate) struct Floor {
    pub(crate) name: &'static str,
    child: Child,
    io: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
}

/// A floor's answer to one command (see floors/src/main.rs).
#[derive(serde::Deserialize)]
struct Answer {
    rate: f64,
    latencies_us: Vec<u64>,
}

impl Floor {
    /// Both floors, connected to `bootstrap`.
    pub(crate) fn start_all(bootstrap: &str) -> Vec<Floor> {
        KINDS
            .into_iter()
            .map(|k| Floor::start(k, bootstrap))
            .collect()
    }

    fn start(name: &'static str, bootstrap: &str) -> Floor {
        let binary = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/release/kafka-records-floors"
        );
        assert!(
            std::path::Path::new(binary).exists(),
            "no {binary}: build it with cargo build --release -p kafka-records-floors (scripts/bench.sh does)"
        );
        let mut child = Command::new(binary)
            .args([name, bootstrap])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn kafka-records-floors");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Floor {
            name,
            child,
            io: Mutex::new((stdin, stdout)),
        }
    }

    /// The process's id, for its CPU time.
    pub(crate) fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Sends `command` and waits for its answer (on a worker thread that may
    /// block: the benchmark runs on a multi-threaded runtime).
    fn ask(&self, command: serde_json::Value) -> Answer {
        tokio::task::block_in_place(|| {
            let mut io = self.io.lock().expect("floor io");
            let (stdin, stdout) = &mut *io;
            writeln!(stdin, "{command}").expect("command to the floor");
            stdin.flush().expect("command to the floor");
            let mut line = String::new();
            stdout.read_line(&mut line).expect("answer from the floor");
            assert!(
                !line.is_empty(),
                "the {} floor exited (see its message above)",
                self.name
            );
            serde_json::from_str(&line).expect("the floor's answer")
        })
    }

    /// One record at each of `offsets`, the i-th from `partitions[i % len]`,
    /// sequential; the latencies after the first tenth (the warm-up).
    pub(crate) fn reads(&self, topic: &str, partitions: &[i32], offsets: &[i64]) -> Vec<Duration> {
        let answer = self.ask(json!({
            "op": "read", "topic": topic, "partitions": partitions, "offsets": offsets,
        }));
        let mut latencies = durations(&answer.latencies_us);
        latencies.drain(..offsets.len() / 10);
        latencies
    }

    /// `clients` concurrent writers of batches of `records` copies of
    /// `value` to partition 0 of `topic`, until `until`.
    pub(crate) fn writes(
        &self,
        topic: &str,
        value: &str,
        records: usize,
        clients: usize,
        until: Until,
    ) -> Load {
        let millis = until
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()).as_millis() as u64);
        let count = (until.requests != usize::MAX).then_some(until.requests);
        let answer = self.ask(json!({
            "op": "write", "topic": topic, "value": value, "records": records,
            "clients": clients, "millis": millis, "count": count,
        }));
        Load {
            rate: answer.rate,
            latencies: durations(&answer.latencies_us),
        }
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn durations(micros: &[u64]) -> Vec<Duration> {
    micros.iter().map(|us| Duration::from_micros(*us)).collect()
}
