//! The service binary as a process of its own, put together from options:
//! which binary, its flags and environment; then run to its end, or started
//! and found at the address of the `listening on http://ADDR` line it
//! prints. Shared by the integration tests (through `tests/common/mod.rs`,
//! with the binary cargo builds for them) and the benchmark
//! (`benches/compare.rs`, with the release binary it measures).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How to run the binary. Nothing is added that is not asked for: without
/// [`Launch::on`] and [`Launch::any_port`] the binary's defaults and the
/// environment decide.
#[derive(Debug, Clone)]
pub struct Launch {
    binary: PathBuf,
    bootstrap: Option<String>,
    listen: Option<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    keep_logs: bool,
}

impl Launch {
    /// The binary at `binary`, with no flags.
    pub fn new(binary: impl Into<PathBuf>) -> Launch {
        Launch {
            binary: binary.into(),
            bootstrap: None,
            listen: None,
            args: Vec::new(),
            env: Vec::new(),
            keep_logs: false,
        }
    }

    /// `--bootstrap-servers SERVERS` (given again, the last one counts).
    pub fn on(mut self, servers: &str) -> Launch {
        self.bootstrap = Some(servers.to_string());
        self
    }

    /// `--listen 127.0.0.1:0`: a free loopback port.
    pub fn any_port(mut self) -> Launch {
        self.listen = Some("127.0.0.1:0".to_string());
        self
    }

    /// More flags.
    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> Launch {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_string()));
        self
    }

    /// An environment variable (set again, the last one counts).
    pub fn env(mut self, name: &str, value: &str) -> Launch {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// Several environment variables.
    pub fn envs(self, vars: &[(&str, &str)]) -> Launch {
        vars.iter().fold(self, |l, (k, v)| l.env(k, v))
    }

    /// `KAFKA_RECORDS_LOG`: which log lines the process writes.
    pub fn log(self, filter: &str) -> Launch {
        self.env("KAFKA_RECORDS_LOG", filter)
    }

    /// Keeps what the process writes to stderr (its logs) for
    /// [`Service::logs`] instead of passing it through.
    pub fn keep_logs(mut self) -> Launch {
        self.keep_logs = true;
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        if let Some(servers) = &self.bootstrap {
            cmd.args(["--bootstrap-servers", servers]);
        }
        if let Some(listen) = &self.listen {
            cmd.args(["--listen", listen]);
        }
        cmd.args(&self.args);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs the binary to its end (`--help`, flags it refuses) and returns
    /// its exit status, stdout and stderr.
    pub fn output(&self) -> Output {
        self.command()
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", self.binary.display()))
    }

    /// Starts the service; returns once it prints where it listens.
    pub fn start(&self) -> Service {
        let stderr = if self.keep_logs {
            Stdio::piped()
        } else {
            Stdio::inherit()
        };
        let mut child = self
            .command()
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.binary.display()));
        // Read all along, so that a full pipe never blocks the process.
        let logs = child.stderr.take().map(|mut err| {
            std::thread::spawn(move || {
                let mut text = String::new();
                err.read_to_string(&mut text).ok();
                text
            })
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the listening line");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from kafka-records: {line:?}"))
            .to_string();
        Service {
            child,
            client: Client {
                url,
                // Idle connections are closed by the client before the
                // service's --client-timeout (10 s by default) would close
                // them under it, as with any keep-alive server.
                http: reqwest::Client::builder()
                    .pool_idle_timeout(Duration::from_secs(4))
                    .build()
                    .expect("HTTP client"),
            },
            logs,
        }
    }
}

/// Where the service listens and an HTTP client for it: all a request
/// needs, cheap to clone into tasks.
#[derive(Debug, Clone)]
pub struct Client {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub http: reqwest::Client,
}

/// A running service, killed when dropped; its [`Client`] through `Deref`
/// (`svc.url`).
pub struct Service {
    child: Child,
    client: Client,
    logs: Option<JoinHandle<String>>,
}

impl std::ops::Deref for Service {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Service {
    /// A client of this service, to move into a task.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `GET /ready` answers 204 (Kafka answers), asking every
    /// millisecond; fails after `within`.
    pub fn wait_ready(&self, within: Duration) {
        let started = Instant::now();
        let addr = self.url.trim_start_matches("http://");
        let ready = || {
            let mut s = std::net::TcpStream::connect(addr).ok()?;
            // The service's own address as the host: it answers 421 to
            // hosts that are not its own (see src/http/browsers.rs).
            let request =
                format!("GET /ready HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
            s.write_all(request.as_bytes()).ok()?;
            let mut status_line = [0u8; 12];
            s.read_exact(&mut status_line).ok()?;
            Some(status_line.ends_with(b"204"))
        };
        while ready() != Some(true) {
            assert!(started.elapsed() < within, "service not ready");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Sends SIGTERM, as an orchestrator stopping the service would.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits up to `timeout` for the process to exit; its status if it did.
    pub async fn exited(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Stops the process and returns everything it logged (started with
    /// [`Launch::keep_logs`]).
    pub fn logs(mut self) -> String {
        self.stop();
        self.logs
            .take()
            .expect("started without keep_logs")
            .join()
            .expect("the log reader")
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The count of Kafka requests sent by API, read from the text of the
/// service's `GET /metrics` (`kafka_records_kafka_requests_total{api="..."}`).
pub fn kafka_requests_in(metrics: &str) -> std::collections::BTreeMap<String, u64> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("kafka_records_kafka_requests_total{api=\""))
        .map(|l| {
            let (api, count) = l.split_once("\"} ").expect("a sample");
            (api.to_string(), count.trim().parse().expect("a count"))
        })
        .collect()
}
