//! kcat (librdkafka), the tests' independent Kafka client, put together from
//! options: where it connects and with which librdkafka settings, then a
//! read, a write, a metadata listing or a group member.
//!
//! ```ignore
//! let records = Kcat::new().read(&topic).records();
//! Kcat::on(&cluster.live()).read(&topic).uncommitted().records();
//! Kcat::new().produce(&topic).partition(0).keyed().send(&["k1:a", "k2:b"]);
//! Kcat::on(&s.ssl).set("security.protocol=ssl").read(&topic).records();
//! ```

use std::io::Write;
use std::process::{Command, Stdio};

use super::{bootstrap, Background};

/// kcat on one cluster with its librdkafka settings (`-X`); cheap to clone,
/// so a test can keep one per listener.
#[derive(Debug, Clone)]
pub struct Kcat {
    bootstrap: String,
    settings: Vec<String>,
}

impl Default for Kcat {
    fn default() -> Kcat {
        Kcat::on(&bootstrap())
    }
}

impl Kcat {
    /// kcat on the test broker.
    pub fn new() -> Kcat {
        Kcat::default()
    }

    /// kcat on the cluster at `servers`.
    pub fn on(servers: &str) -> Kcat {
        Kcat {
            bootstrap: servers.to_string(),
            settings: Vec::new(),
        }
    }

    /// A librdkafka setting, `key=value` (`-X`): security, partitioner, ...
    pub fn set(mut self, setting: impl Into<String>) -> Kcat {
        self.settings.push(setting.into());
        self
    }

    /// Reads every record of `topic`, all partitions, from the beginning to
    /// the current end; read_committed unless told otherwise.
    pub fn read(&self, topic: &str) -> KcatRead {
        KcatRead {
            kcat: self.clone(),
            topic: topic.to_string(),
            committed: true,
        }
    }

    /// Writes records to `topic`, one a line.
    pub fn produce(&self, topic: &str) -> KcatProduce {
        KcatProduce {
            kcat: self.clone(),
            topic: topic.to_string(),
            flags: Vec::new(),
        }
    }

    /// The cluster's metadata (`-L`): of every topic, or of `topic` only.
    /// A listing that fails is empty, with `listed` false: while brokers
    /// move, a test asks again.
    pub fn metadata(&self, topic: Option<&str>) -> Metadata {
        let mut cmd = self.command(&["-L", "-m", "10"]);
        if let Some(t) = topic {
            cmd.args(["-t", t]);
        }
        let out = cmd.output().expect(INSTALLED);
        let mut metadata = Metadata::parse(&String::from_utf8_lossy(&out.stdout));
        metadata.listed = out.status.success();
        metadata
    }

    /// Whether the brokers list `topic`, asked with a metadata request for
    /// all topics (which never creates one).
    pub fn topic_exists(&self, topic: &str) -> bool {
        let metadata = self.metadata(None);
        assert!(metadata.listed, "kcat -L failed");
        metadata.topics.iter().any(|t| t == topic)
    }

    /// The offset of the first record of `topic`'s `partition` whose
    /// timestamp is at or after `timestamp_ms` (`-Q`, Kafka's ListOffsets
    /// by time, as librdkafka asks it); the end when there is none.
    pub fn offset_for_time(&self, topic: &str, partition: i32, timestamp_ms: i64) -> i64 {
        let out = self
            .command(&["-Q", "-t", &format!("{topic}:{partition}:{timestamp_ms}")])
            .output()
            .expect(INSTALLED);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "kcat -Q: {text}");
        // `TOPIC [PARTITION] offset N`
        text.split_once(" offset ")
            .and_then(|(_, n)| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("kcat -Q printed {text}"))
    }

    /// A balanced consumer in `group` (`-G`) reading `topic` for as long as
    /// the returned process lives.
    pub fn join_group(&self, group: &str, topic: &str) -> Background {
        Background::spawn(self.command(&["-G", group, "-q"]).arg(topic))
    }

    /// `kcat MODE... -b SERVERS -X SETTING...`
    fn command(&self, mode: &[&str]) -> Command {
        let mut cmd = Command::new("kcat");
        cmd.args(mode).args(["-b", &self.bootstrap]);
        for s in &self.settings {
            cmd.args(["-X", s]);
        }
        cmd
    }
}

const INSTALLED: &str = "kcat must be installed (scripts/test.sh installs it)";

/// A read being put together: see [`Kcat::read`].
pub struct KcatRead {
    kcat: Kcat,
    topic: String,
    committed: bool,
}

impl KcatRead {
    /// Every record in the log, those of open and aborted transactions too
    /// (`isolation.level=read_uncommitted`).
    pub fn uncommitted(mut self) -> KcatRead {
        self.committed = false;
        self
    }

    /// The records, ordered by partition and offset. kcat never shows
    /// control records.
    pub fn records(self) -> Vec<KcatRecord> {
        let isolation = if self.committed {
            "isolation.level=read_committed"
        } else {
            "isolation.level=read_uncommitted"
        };
        // Each record: a header line with sizes, then exactly that many key and value bytes.
        let out = self
            .kcat
            .set(isolation)
            .command(&["-C", "-t", &self.topic, "-o", "beginning", "-e", "-q"])
            .args(["-f", "%p %o %T %K %S %h\n%k%s\n"])
            .output()
            .expect(INSTALLED);
        assert!(
            out.status.success(),
            "kcat failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        KcatRecord::parse_all(&out.stdout)
    }
}

/// A write being put together: see [`Kcat::produce`].
pub struct KcatProduce {
    kcat: Kcat,
    topic: String,
    flags: Vec<String>,
}

impl KcatProduce {
    /// To this partition (`-p`); otherwise where kcat's partitioner puts them.
    pub fn partition(self, partition: i32) -> KcatProduce {
        self.flag("-p", &partition.to_string())
    }

    /// Each line is `key:value` (`-K :`).
    pub fn keyed(self) -> KcatProduce {
        self.flag("-K", ":")
    }

    /// A header on every record: `k=v`, `k=` (empty) or `k` (null) (`-H`).
    pub fn header(self, header: &str) -> KcatProduce {
        self.flag("-H", header)
    }

    /// Compressed with `codec`: gzip, snappy, lz4 or zstd (`-z`).
    pub fn compression(self, codec: &str) -> KcatProduce {
        self.flag("-z", codec)
    }

    fn flag(mut self, flag: &str, value: &str) -> KcatProduce {
        self.flags.extend([flag.to_string(), value.to_string()]);
        self
    }

    /// Writes each line as one record and waits for kcat to finish.
    pub fn send<L: AsRef<[u8]>>(self, lines: &[L]) {
        let mut child = self
            .kcat
            .command(&["-P", "-t", &self.topic])
            .args(&self.flags)
            .stdin(Stdio::piped())
            .spawn()
            .expect(INSTALLED);
        {
            let stdin = child.stdin.as_mut().expect("kcat stdin");
            for line in lines {
                stdin.write_all(line.as_ref()).expect("write to kcat");
                stdin.write_all(b"\n").expect("write to kcat");
            }
        }
        assert!(child.wait().expect("kcat").success(), "kcat produce failed");
    }
}

/// A record as read by kcat.
#[derive(Debug, Clone, PartialEq)]
pub struct KcatRecord {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// kcat's rendering of the headers: `k=v,k2=v2` (empty when none).
    pub headers: String,
}

impl KcatRecord {
    /// `(partition, offset, value)`, the value as UTF-8 text.
    pub fn placed(&self) -> (i32, i64, String) {
        let value = self.value.clone().expect("a value");
        let value = String::from_utf8(value).expect("a UTF-8 value");
        (self.partition, self.offset, value)
    }

    /// The records of kcat's output in the format of [`KcatRead::records`],
    /// sorted by partition and offset.
    fn parse_all(mut data: &[u8]) -> Vec<KcatRecord> {
        let mut records = Vec::new();
        while !data.is_empty() {
            let nl = data
                .iter()
                .position(|b| *b == b'\n')
                .expect("kcat header line");
            let line = String::from_utf8_lossy(&data[..nl]).to_string();
            data = &data[nl + 1..];
            let mut f = line.splitn(6, ' ');
            let mut next = || f.next().unwrap_or("").to_string();
            let partition = next().parse().unwrap();
            let offset = next().parse().unwrap();
            let timestamp = next().parse().unwrap();
            let key_len: i64 = next().parse().unwrap();
            let value_len: i64 = next().parse().unwrap();
            let headers = next();
            let mut take = |len: i64| {
                if len < 0 {
                    None
                } else {
                    let (a, b) = data.split_at(len as usize);
                    data = b;
                    Some(a.to_vec())
                }
            };
            let key = take(key_len);
            let value = take(value_len);
            assert_eq!(data.first(), Some(&b'\n'), "kcat record not terminated");
            data = &data[1..];
            records.push(KcatRecord {
                partition,
                offset,
                timestamp,
                key,
                value,
                headers,
            });
        }
        records.sort_by_key(|r| (r.partition, r.offset));
        records
    }
}

/// What kcat's metadata listing shows.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// Whether kcat got an answer.
    pub listed: bool,
    /// How many brokers are registered (fenced ones are left out).
    pub brokers: usize,
    pub topics: Vec<String>,
    pub partitions: Vec<PartitionState>,
}

/// One partition as kcat's metadata listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub topic: String,
    pub partition: i32,
    /// Node id of the leader, -1 while there is none.
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

impl Metadata {
    fn parse(text: &str) -> Metadata {
        let ids = |s: &str| -> Vec<i32> {
            s.trim()
                .trim_end_matches(',')
                .split(',')
                .filter(|x| !x.is_empty())
                .map(|x| x.trim().parse().expect("node id"))
                .collect()
        };
        let mut metadata = Metadata::default();
        for line in text.lines().map(str::trim) {
            if let Some(n) = line.strip_suffix(" brokers:") {
                metadata.brokers = n.parse().expect("broker count");
            } else if let Some(rest) = line.strip_prefix("topic \"") {
                let name = rest.split('"').next().unwrap_or("").to_string();
                metadata.topics.push(name);
            } else if let Some(rest) = line.strip_prefix("partition ") {
                // partition 0, leader 2, replicas: 2,3,1, isrs: 2,3,1[, offline...]
                let (p, rest) = rest.split_once(", leader ").expect("leader");
                let (leader, rest) = rest.split_once(", replicas: ").expect("replicas");
                let (replicas, rest) = rest.split_once(", isrs: ").expect("isrs");
                let isr = rest.split(", ").next().unwrap_or("");
                metadata.partitions.push(PartitionState {
                    topic: metadata.topics.last().cloned().unwrap_or_default(),
                    partition: p.parse().expect("partition"),
                    leader: leader.parse().expect("leader"),
                    replicas: ids(replicas),
                    isr: ids(isr),
                });
            }
        }
        metadata
    }
}
