//! The Avro read: a GET of 10,000 Avro records of an order-like schema (20
//! fields, nested records, unions, arrays, an enum, a logical type),
//! records/s, beside the same records read with `bytearray` (no decoding)
//! and beside Python's confluent-kafka consumer with its `AvroDeserializer`
//! (compare/avro_consumer.py), on the registry scripts/bench.sh starts
//! (`KAFKA_RECORDS_BENCH_REGISTRY_URL`, Apicurio through scripts/registry.sh).
//!
//! The registry's requests are counted by the registry itself: Apicurio's
//! management endpoint (`KAFKA_RECORDS_BENCH_REGISTRY_METRICS`) reports
//! `rest_requests_seconds_count` per method and path; the service's own
//! /metrics counts no registry requests.

use std::time::{Duration, Instant};

use kafka_records::kafka::Cluster;
use serde_json::{json, Value};

use super::{median, new_topic, Http, Launch, Options, ServicePage};

/// Records written and read each round.
const RECORDS: usize = 10_000;

/// Unmeasured reads of each side before the measured rounds.
const WARM_UP_READS: usize = 5;

/// The schema: an order, as a shop would write one.
const SCHEMA: &str = r#"{"type": "record", "name": "Order", "namespace": "shop", "fields": [
  {"name": "id", "type": "long"},
  {"name": "createdAt", "type": {"type": "long", "logicalType": "timestamp-millis"}},
  {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID", "SHIPPED", "CANCELLED"]}},
  {"name": "channel", "type": "string"},
  {"name": "currency", "type": "string"},
  {"name": "subtotal", "type": "double"},
  {"name": "tax", "type": "double"},
  {"name": "shippingCost", "type": "double"},
  {"name": "total", "type": "double"},
  {"name": "discount", "type": ["null", "double"], "default": null},
  {"name": "coupon", "type": ["null", "string"], "default": null},
  {"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [
    {"name": "id", "type": "string"},
    {"name": "name", "type": "string"},
    {"name": "email", "type": "string"},
    {"name": "address", "type": {"type": "record", "name": "Address", "fields": [
      {"name": "street", "type": "string"},
      {"name": "city", "type": "string"},
      {"name": "zip", "type": "string"},
      {"name": "country", "type": "string"}]}}]}},
  {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
    {"name": "sku", "type": "string"},
    {"name": "quantity", "type": "int"},
    {"name": "unitPrice", "type": "double"}]}}},
  {"name": "tags", "type": {"type": "array", "items": "string"}},
  {"name": "isGift", "type": "boolean"},
  {"name": "giftMessage", "type": ["null", "string"], "default": null},
  {"name": "priority", "type": "int"},
  {"name": "warehouse", "type": "string"},
  {"name": "sourceIp", "type": "string"},
  {"name": "version", "type": "int"}]}"#;

/// Order `i`, in Avro's JSON encoding (a union's branch named).
fn order(i: usize) -> Value {
    let items: Vec<Value> = (0..1 + i % 3)
        .map(|k| json!({"sku": format!("SKU-{:05}", (i * 7 + k) % 10_000), "quantity": 1 + k as i32, "unitPrice": 9.95 + k as f64}))
        .collect();
    let status = ["NEW", "PAID", "SHIPPED", "CANCELLED"][i % 4];
    json!({
        "id": i as i64,
        "createdAt": 1_700_000_000_000i64 + i as i64,
        "status": status,
        "channel": "web",
        "currency": "EUR",
        "subtotal": 40.5 + i as f64 % 100.0,
        "tax": 7.7,
        "shippingCost": 4.9,
        "total": 53.1 + i as f64 % 100.0,
        "discount": if i % 3 == 0 { json!({"double": 5.0}) } else { Value::Null },
        "coupon": if i % 5 == 0 { json!({"string": "WINTER"}) } else { Value::Null },
        "customer": {
            "id": format!("c-{}", i % 1000),
            "name": format!("Customer {}", i % 1000),
            "email": format!("customer{}@example.com", i % 1000),
            "address": {"street": "1 Main Street", "city": "Springfield", "zip": "12345", "country": "NL"}
        },
        "items": items,
        "tags": ["online", "newsletter"],
        "isGift": i % 2 == 0,
        "giftMessage": if i % 10 == 0 { json!({"string": "Happy birthday"}) } else { Value::Null },
        "priority": (i % 4) as i32,
        "warehouse": "AMS-1",
        "sourceIp": "192.0.2.10",
        "version": 1
    })
}

/// What the Avro read measured.
pub(crate) struct AvroRead {
    /// records/s, the median round: GET with `valueDeserializer=avro`.
    avro: f64,
    /// records/s, the median round: the same GETs with `bytearray`.
    bytearray: f64,
    /// records/s, the median round: confluent-kafka's consumer.
    python: f64,
    /// Registry requests during the service's reads, and during Python's.
    service_requests: Option<f64>,
    python_requests: Option<f64>,
    rounds: usize,
}

impl AvroRead {
    pub(crate) async fn measure(o: &Options, cluster: &Cluster) -> Option<AvroRead> {
        let Some(registry) = std::env::var("KAFKA_RECORDS_BENCH_REGISTRY_URL")
            .ok()
            .filter(|s| !s.is_empty())
        else {
            eprintln!("avro: no KAFKA_RECORDS_BENCH_REGISTRY_URL (scripts/bench.sh starts a registry): skipped");
            return None;
        };
        let topic = new_topic(cluster, "avro", 1).await;
        write_orders(o, &registry, &topic).await;

        // A fresh service for the reads: it has not seen the schema yet.
        let service = Launch::new(&o.binary)
            .on(&o.bootstrap)
            .any_port()
            .log("warn")
            .args(["--schema-registry-url", registry.as_str()])
            .start();
        service.wait_ready(Duration::from_secs(30));
        let rounds = if o.quick { 2 } else { 15 };
        let mut http = Http::connect(&service.url).await;
        let before = registry_requests();
        // Unmeasured reads first: the first read of the topic brings its log
        // into the broker's cache and the schema into the service's (its
        // registry request is counted all the same), and the rates of both
        // sides went on rising over the first few reads after it (a round
        // takes well under a second).
        for _ in 0..WARM_UP_READS {
            read_all(&mut http, &topic, "avro").await;
            read_all(&mut http, &topic, "bytearray").await;
        }
        let (mut avro, mut plain) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            avro.push(read_all(&mut http, &topic, "avro").await);
            plain.push(read_all(&mut http, &topic, "bytearray").await);
        }
        let after = registry_requests();
        let service_requests = before.zip(after).map(|(b, a)| a - b);
        drop(service);

        let py_rounds = if o.quick { 1 } else { 3 };
        let before = registry_requests();
        let mut python = python_reads(o, &registry, &topic, py_rounds);
        let after = registry_requests();
        let python_requests = before.zip(after).map(|(b, a)| a - b);
        eprintln!(
            "avro reads, records/s: avro {avro:.0?}, bytearray {plain:.0?}, python {python:.0?}; registry requests: service {service_requests:?}, python {python_requests:?}"
        );
        Some(AvroRead {
            avro: median(&mut avro),
            bytearray: median(&mut plain),
            python: median(&mut python),
            service_requests,
            python_requests,
            rounds,
        })
    }

    pub(crate) fn print(&self) {
        println!();
        println!(
            "| {:<52} | {:>10} | {:>15} | {:>9} | {:<30} |",
            "10,000 Avro records (20 fields, nested, unions, arrays)",
            "records/s",
            "registry reqs",
            "avro/it",
            "goal"
        );
        println!(
            "|{}|{}|{}|{}|{}|",
            "-".repeat(54),
            "-".repeat(12),
            "-".repeat(17),
            "-".repeat(11),
            "-".repeat(32)
        );
        let reqs = |r: Option<f64>| r.map_or("not counted".to_string(), |r| format!("{r:.0}"));
        let verdict = |met: bool| if met { "met" } else { "missed" };
        println!(
            "| {:<52} | {:>10.0} | {:>15} | {:>9} | {:<30} |",
            "kafka-records GET, valueDeserializer=avro",
            self.avro,
            reqs(self.service_requests),
            "",
            ""
        );
        println!(
            "| {:<52} | {:>10.0} | {:>15} | {:>8.2}x | {:<30} |",
            "kafka-records GET, valueDeserializer=bytearray",
            self.bytearray,
            "",
            self.avro / self.bytearray,
            format!(
                "avro >= 0.5x: {}",
                verdict(self.avro >= 0.5 * self.bytearray)
            )
        );
        println!(
            "| {:<52} | {:>10.0} | {:>15} | {:>8.2}x | {:<30} |",
            "confluent-kafka Consumer + AvroDeserializer (Python)",
            self.python,
            reqs(self.python_requests),
            self.avro / self.python,
            format!("avro > 1x: {}", verdict(self.avro > self.python))
        );
        println!(
            "(median of {} rounds for the service, avro and bytearray alternating after {} unmeasured reads of each, each \
             a fresh read of the topic through one kept-alive connection, timed to the last byte of its answer; registry \
             requests counted by the registry, Apicurio's rest_requests_seconds_count, over all the reads of each side)",
            self.rounds,
            WARM_UP_READS
        );
    }
}

/// Writes the orders through a service of their own (its valueSchema
/// registered under TOPIC-value), 500 a POST.
async fn write_orders(o: &Options, registry: &str, topic: &str) {
    let service = Launch::new(&o.binary)
        .on(&o.bootstrap)
        .any_port()
        .log("warn")
        .args(["--schema-registry-url", registry])
        .start();
    service.wait_ready(Duration::from_secs(30));
    let mut http = Http::connect(&service.url).await;
    for start in (0..RECORDS).step_by(500) {
        let records: Vec<Value> = (start..(start + 500).min(RECORDS))
            .map(|i| {
                json!({"topic": topic, "partition": 0, "valueSerializer": "avro",
                       "valueSchema": SCHEMA, "value": order(i)})
            })
            .collect();
        let (status, body) = http
            .post_json(
                "/records",
                "application/json",
                &json!({ "records": records }),
            )
            .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
}

/// Reads the topic's first RECORDS records with `deserializer`: records/s,
/// timed from each request to the last byte of its answer. The client's
/// parse of a page, to count its records, stays out of the time: it is the
/// benchmark's own cost, and it grows with the answer's size: serde_json
/// skips through the 7.9 MB Avro page in 13 ms, a fifth of the Avro read's
/// time, and through the 4.7 MB `bytearray` page in 4 ms.
async fn read_all(http: &mut Http, topic: &str, deserializer: &str) -> f64 {
    let mut took = Duration::ZERO;
    let mut got = 0usize;
    while got < RECORDS {
        let t = Instant::now();
        let (status, body) = http
            .get(&format!(
                "/records/{topic}?partition=0&seekTo={got}&limit={}&valueDeserializer={deserializer}",
                RECORDS - got
            ))
            .await;
        took += t.elapsed();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let n = serde_json::from_slice::<ServicePage>(&body)
            .expect("json")
            .records
            .len();
        assert!(n > 0, "an empty page at {got}");
        got += n;
    }
    got as f64 / took.as_secs_f64()
}

/// compare/avro_consumer.py's rounds, records/s each.
fn python_reads(o: &Options, registry: &str, topic: &str, rounds: usize) -> Vec<f64> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/compare/avro_consumer.py"
    );
    let out = std::process::Command::new("python3")
        .args([
            script,
            &o.bootstrap,
            registry,
            topic,
            &RECORDS.to_string(),
            &rounds.to_string(),
        ])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "avro_consumer.py: {} (confluent-kafka is installed by scripts/confluent-kafka.sh)",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("avro_consumer.py's JSON");
    v["rates"]
        .as_array()
        .expect("rates")
        .iter()
        .filter_map(Value::as_f64)
        .collect()
}

/// Requests the registry has answered on its Confluent-compatible API so
/// far, from its own metrics; None when there is no metrics URL.
fn registry_requests() -> Option<f64> {
    let url = std::env::var("KAFKA_RECORDS_BENCH_REGISTRY_METRICS").ok()?;
    let out = std::process::Command::new("curl")
        .args(["-sf", &url])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let total = text
        .lines()
        .filter(|l| l.starts_with("rest_requests_seconds_count{") && l.contains("/apis/ccompat/"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    Some(total)
}
