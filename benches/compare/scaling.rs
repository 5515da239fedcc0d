//! How the service's figures grow: one-shot reads on topics of 1, 64 and
//! 1,024 partitions (the i-th read from partition i × 7 mod P), and batched
//! writes from 1, 8 and 64 concurrent clients; each beside the direct client
//! on the same broker in the same run.

use std::time::Duration;

use kafka_records::kafka::Cluster;

use super::{
    direct_reads_at, fill, median, new_topic, percentile, service_reads_at, Batch, Options, Rounds,
    Service, Writer,
};

/// What the scaling loads measured.
pub(crate) struct Scaling {
    reads: Vec<ReadScale>,
    writes: Vec<WriteScale>,
}

/// One-shot reads on a topic of `partitions` partitions: p50 and p99, ms.
struct ReadScale {
    partitions: usize,
    direct: (f64, f64),
    service: (f64, f64),
}

/// Batched writes from `clients` clients: records/s (the median round) and
/// p50 ms per batch.
struct WriteScale {
    clients: usize,
    direct: (f64, f64),
    service: (f64, f64),
}

/// Records in each partition of the read topics.
const PER_PARTITION: usize = 20;

impl Scaling {
    pub(crate) async fn measure(o: &Options, cluster: &Cluster, service: &Service) -> Scaling {
        let n = if o.quick { 300 } else { 2000 };
        let mut reads = Vec::new();
        for partitions in [1usize, 64, 1024] {
            let topic = new_topic(cluster, &format!("scale-{partitions}"), partitions as i32).await;
            fill(cluster, &topic, partitions as i32, PER_PARTITION, 100).await;
            let wanted: Vec<(i32, i64)> = (0..n)
                .map(|i| {
                    (
                        ((i * 7) % partitions) as i32,
                        ((i * 13) % PER_PARTITION) as i64,
                    )
                })
                .collect();
            let mut direct = direct_reads_at(cluster, &topic, &wanted).await;
            let mut svc = service_reads_at(service, &topic, &wanted).await;
            let p = |l: &mut Vec<Duration>| {
                (
                    percentile(l, 0.5).unwrap_or(0.0),
                    percentile(l, 0.99).unwrap_or(0.0),
                )
            };
            let (direct, service) = (p(&mut direct), p(&mut svc));
            eprintln!(
                "one-shot reads, {partitions} partitions: p50/p99 ms direct {direct:.3?}, kafka-records {service:.3?}"
            );
            reads.push(ReadScale {
                partitions,
                direct,
                service,
            });
        }

        let value = "v".repeat(100);
        let batch = Batch::new(&value, 100);
        let rounds = if o.quick {
            Rounds {
                warm_up: Duration::from_millis(500),
                each: Duration::from_millis(500),
                count: 1,
            }
        } else {
            Rounds {
                warm_up: Duration::from_secs(1),
                each: Duration::from_secs(2),
                count: 3,
            }
        };
        let mut writes = Vec::new();
        for clients in [1usize, 8, 64] {
            let writers: Vec<Writer<'_>> =
                Writer::all(cluster, service, &[], &batch, &format!("scale-{clients}")).await;
            let mut sides = rounds.alternate(service, &writers, clients).await;
            let mut at = |i: usize| {
                let s = &mut sides[i];
                (
                    median(&mut s.rates),
                    percentile(&mut s.latencies, 0.5).unwrap_or(0.0),
                )
            };
            let (direct, service) = (at(0), at(1));
            eprintln!(
                "writes, {clients} clients: records/s and p50 ms direct {direct:.1?}, kafka-records {service:.1?}"
            );
            writes.push(WriteScale {
                clients,
                direct,
                service,
            });
        }
        Scaling { reads, writes }
    }

    pub(crate) fn print(&self) {
        println!();
        println!(
            "| {:>10} | {:>15} | {:>15} | {:>15} | {:>15} | {:>16} |",
            "partitions",
            "direct p50 ms",
            "direct p99 ms",
            "service p50 ms",
            "service p99 ms",
            "service/direct"
        );
        println!(
            "|{}|{}|{}|{}|{}|{}|",
            "-".repeat(12),
            "-".repeat(17),
            "-".repeat(17),
            "-".repeat(17),
            "-".repeat(17),
            "-".repeat(18)
        );
        for r in &self.reads {
            println!(
                "| {:>10} | {:>15.3} | {:>15.3} | {:>15.3} | {:>15.3} | {:>15.2}x |",
                r.partitions,
                r.direct.0,
                r.direct.1,
                r.service.0,
                r.service.1,
                r.service.0 / r.direct.0
            );
        }
        println!("(one-shot reads, sequential, spread over the partitions)");
        println!();
        println!(
            "| {:>7} | {:>16} | {:>16} | {:>16} | {:>16} | {:>16} |",
            "clients",
            "direct rec/s",
            "direct p50 ms",
            "service rec/s",
            "service p50 ms",
            "service/direct"
        );
        println!(
            "|{}|{}|{}|{}|{}|{}|",
            "-".repeat(9),
            "-".repeat(18),
            "-".repeat(18),
            "-".repeat(18),
            "-".repeat(18),
            "-".repeat(18)
        );
        for w in &self.writes {
            println!(
                "| {:>7} | {:>16.0} | {:>16.3} | {:>16.0} | {:>16.3} | {:>15.2}x |",
                w.clients,
                w.direct.0,
                w.direct.1,
                w.service.0,
                w.service.1,
                w.service.0 / w.direct.0
            );
        }
        println!("(batches of 100 records of 100 B to one partition, records/s of the median round, p50 per batch)");
    }
}
