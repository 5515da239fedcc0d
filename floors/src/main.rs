//! The benchmark's independent floors: one-shot reads and writes done by a
//! Kafka client this project did not write, in this process, timed here.
//!
//! `kafka-records-floors rskafka|rdkafka BOOTSTRAP` connects with that
//! client, then answers commands, one JSON object a line on stdin, with one
//! JSON line on stdout each (see [`Command`] and [`Answer`]). The benchmark
//! (benches/compare.rs) keeps one process per client for the whole run, so
//! its rounds alternate with the service's and the project's own Kafka
//! layer on warm connections, and it reads this process's CPU from /proc.

use std::io::{BufRead as _, Write as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// One command from the benchmark.
#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Command {
    /// Read one record at each of `offsets` of `partitions` (the i-th offset
    /// from partition `partitions[i % len]`), one after the other.
    Read {
        topic: String,
        partitions: Vec<i32>,
        offsets: Vec<i64>,
    },
    /// `clients` concurrent writers, each producing batches of `records`
    /// records of `value` to partition 0 of `topic` and waiting for each to
    /// be acknowledged by all in-sync replicas, for `millis` ms or `count`
    /// batches each.
    Write {
        topic: String,
        value: String,
        records: usize,
        clients: usize,
        millis: Option<u64>,
        count: Option<usize>,
    },
}

/// What a command measured: records/s over the whole command (writes) and
/// each request's latency in microseconds.
#[derive(Serialize)]
struct Answer {
    rate: f64,
    latencies_us: Vec<u64>,
}

/// When a writer stops.
#[derive(Clone, Copy)]
struct Until {
    deadline: Option<Instant>,
    count: usize,
}

impl Until {
    fn done(&self, sent: usize) -> bool {
        sent >= self.count || self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// A connected client of one kind.
enum Client {
    Rskafka(rskafka_floor::Rskafka),
    Rdkafka(rdkafka_floor::Rdkafka),
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (kind, bootstrap) = match (args.next(), args.next()) {
        (Some(k), Some(b)) => (k, b),
        _ => {
            eprintln!("usage: kafka-records-floors rskafka|rdkafka BOOTSTRAP");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = match kind.as_str() {
        "rskafka" => Client::Rskafka(runtime.block_on(rskafka_floor::Rskafka::connect(&bootstrap))),
        "rdkafka" => Client::Rdkafka(rdkafka_floor::Rdkafka::connect(&bootstrap)),
        other => {
            eprintln!("unknown client {other}: rskafka or rdkafka");
            std::process::exit(2);
        }
    };
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line.expect("stdin");
        let command: Command = serde_json::from_str(&line).expect("a command");
        let answer = match command {
            Command::Read {
                topic,
                partitions,
                offsets,
            } => {
                let wanted: Vec<(i32, i64)> = offsets
                    .iter()
                    .enumerate()
                    .map(|(i, o)| (partitions[i % partitions.len()], *o))
                    .collect();
                let latencies = match &client {
                    Client::Rskafka(c) => runtime.block_on(c.reads(&topic, &wanted)),
                    Client::Rdkafka(c) => c.reads(&topic, &wanted),
                };
                Answer {
                    rate: 0.0,
                    latencies_us: micros(&latencies),
                }
            }
            Command::Write {
                topic,
                value,
                records,
                clients,
                millis,
                count,
            } => {
                let until = Until {
                    deadline: millis.map(|m| Instant::now() + Duration::from_millis(m)),
                    count: count.unwrap_or(usize::MAX),
                };
                let value: Arc<[u8]> = value.into_bytes().into();
                let started = Instant::now();
                let latencies = runtime.block_on(async {
                    match &client {
                        Client::Rskafka(c) => {
                            c.writes(&topic, value, records, clients, until).await
                        }
                        Client::Rdkafka(c) => {
                            c.writes(&topic, value, records, clients, until).await
                        }
                    }
                });
                Answer {
                    rate: (latencies.len() * records) as f64 / started.elapsed().as_secs_f64(),
                    latencies_us: micros(&latencies),
                }
            }
        };
        serde_json::to_writer(&mut stdout, &answer).expect("stdout");
        stdout.write_all(b"\n").expect("stdout");
        stdout.flush().expect("stdout");
    }
}

fn micros(latencies: &[Duration]) -> Vec<u64> {
    latencies.iter().map(|d| d.as_micros() as u64).collect()
}

mod rskafka_floor {
    //! rskafka: one client, one partition client per topic and partition,
    //! shared by the concurrent writers (its requests are multiplexed on one
    //! connection per broker, as the service's are).

    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use chrono::{DateTime, Utc};
    use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
    use rskafka::client::{Client, ClientBuilder};
    use rskafka::record::Record;

    use super::Until;

    pub struct Rskafka {
        client: Client,
        partitions: Mutex<HashMap<(String, i32), Arc<PartitionClient>>>,
    }

    impl Rskafka {
        pub async fn connect(bootstrap: &str) -> Rskafka {
            let client = ClientBuilder::new(bootstrap.split(',').map(str::to_string).collect())
                .build()
                .await
                .expect("rskafka client");
            Rskafka {
                client,
                partitions: Mutex::new(HashMap::new()),
            }
        }

        async fn partition(&self, topic: &str, partition: i32) -> Arc<PartitionClient> {
            let key = (topic.to_string(), partition);
            if let Some(p) = self.partitions.lock().expect("lock").get(&key) {
                return Arc::clone(p);
            }
            let p = Arc::new(
                self.client
                    .partition_client(topic, partition, UnknownTopicHandling::Retry)
                    .await
                    .expect("partition client"),
            );
            self.partitions
                .lock()
                .expect("lock")
                .insert(key, Arc::clone(&p));
            p
        }

        /// One fetch at each offset (up to 64 KiB, no wait), keeping the
        /// record at that offset.
        pub async fn reads(&self, topic: &str, wanted: &[(i32, i64)]) -> Vec<Duration> {
            let mut clients = HashMap::new();
            for (p, _) in wanted {
                if !clients.contains_key(p) {
                    clients.insert(*p, self.partition(topic, *p).await);
                }
            }
            let mut latencies = Vec::with_capacity(wanted.len());
            for (p, offset) in wanted {
                let t = Instant::now();
                let (records, _) = clients[p]
                    .fetch_records(*offset, 1..64 * 1024, 0)
                    .await
                    .expect("fetch");
                let record = records.into_iter().find(|r| r.offset == *offset);
                assert!(record.is_some(), "no record at {p}/{offset}");
                latencies.push(t.elapsed());
            }
            latencies
        }

        /// `clients` tasks producing batches of `records` copies of `value`.
        pub async fn writes(
            &self,
            topic: &str,
            value: Arc<[u8]>,
            records: usize,
            clients: usize,
            until: Until,
        ) -> Vec<Duration> {
            let partition = self.partition(topic, 0).await;
            let mut tasks = Vec::new();
            for _ in 0..clients {
                let partition = Arc::clone(&partition);
                let value = Arc::clone(&value);
                tasks.push(tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    while !until.done(latencies.len()) {
                        let t = Instant::now();
                        // A batch as a user builds it: records with their
                        // own values and the time they were made.
                        let now = now();
                        let batch = (0..records)
                            .map(|_| Record {
                                key: None,
                                value: Some(value.to_vec()),
                                headers: Default::default(),
                                timestamp: now,
                            })
                            .collect();
                        partition
                            .produce(batch, Compression::NoCompression)
                            .await
                            .expect("produce");
                        latencies.push(t.elapsed());
                    }
                    latencies
                }));
            }
            let mut latencies = Vec::new();
            for t in tasks {
                latencies.extend(t.await.expect("writer"));
            }
            latencies
        }
    }

    fn now() -> DateTime<Utc> {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        DateTime::from_timestamp_millis(ms).unwrap_or_default()
    }
}

mod rdkafka_floor {
    //! librdkafka: one producer shared by the concurrent writers (as
    //! librdkafka means it to be used) and one consumer, assigned at each
    //! offset for a one-shot read.

    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use rdkafka::{Message as _, Offset, TopicPartitionList};

    use super::Until;

    pub struct Rdkafka {
        producer: FutureProducer,
        consumer: BaseConsumer,
    }

    impl Rdkafka {
        pub fn connect(bootstrap: &str) -> Rdkafka {
            let producer: FutureProducer = ClientConfig::new()
                .set("bootstrap.servers", bootstrap)
                // What the service writes with.
                .set("acks", "all")
                // Send what is queued at once: a batch of 100 is queued
                // whole before librdkafka's thread wakes, and a single
                // record is not held back for more.
                .set("linger.ms", "0")
                .create()
                .expect("rdkafka producer");
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", bootstrap)
                .set("group.id", format!("floors-{}", std::process::id()))
                .set("enable.auto.commit", "false")
                .set("enable.partition.eof", "false")
                // librdkafka prefetches to the partition's end and then
                // long-polls there (500 ms by default); a new assignment
                // waits for that fetch to come back. One-shot reads want it
                // short.
                .set("fetch.wait.max.ms", "1")
                .create()
                .expect("rdkafka consumer");
            Rdkafka { producer, consumer }
        }

        /// Assigns the consumer at each offset and polls until that record
        /// comes.
        pub fn reads(&self, topic: &str, wanted: &[(i32, i64)]) -> Vec<Duration> {
            let mut latencies = Vec::with_capacity(wanted.len());
            for (p, offset) in wanted {
                let t = Instant::now();
                let mut assignment = TopicPartitionList::new();
                assignment
                    .add_partition_offset(topic, *p, Offset::Offset(*offset))
                    .expect("assignment");
                self.consumer.assign(&assignment).expect("assign");
                loop {
                    match self.consumer.poll(Duration::from_secs(10)) {
                        Some(Ok(m)) if m.partition() == *p && m.offset() == *offset => break,
                        Some(Ok(_)) => {}
                        Some(Err(e)) => panic!("poll {p}/{offset}: {e}"),
                        None => panic!("no record at {p}/{offset} after 10 s"),
                    }
                }
                latencies.push(t.elapsed());
            }
            latencies
        }

        /// `clients` tasks each queueing a batch of `records` copies of
        /// `value` and waiting for every delivery report.
        pub async fn writes(
            &self,
            topic: &str,
            value: Arc<[u8]>,
            records: usize,
            clients: usize,
            until: Until,
        ) -> Vec<Duration> {
            let mut tasks = Vec::new();
            for _ in 0..clients {
                let producer = self.producer.clone();
                let topic = topic.to_string();
                let value = Arc::clone(&value);
                tasks.push(tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    while !until.done(latencies.len()) {
                        let t = Instant::now();
                        let deliveries: Vec<_> = (0..records)
                            .map(|_| {
                                producer
                                    .send_result(
                                        FutureRecord::<(), [u8]>::to(&topic)
                                            .partition(0)
                                            .payload(&value[..]),
                                    )
                                    .map_err(|(e, _)| e)
                                    .expect("queue")
                            })
                            .collect();
                        for d in deliveries {
                            d.await
                                .expect("delivery")
                                .map_err(|(e, _)| e)
                                .expect("produce");
                        }
                        latencies.push(t.elapsed());
                    }
                    latencies
                }));
            }
            let mut latencies = Vec::new();
            for t in tasks {
                latencies.extend(t.await.expect("writer"));
            }
            latencies
        }
    }
}
