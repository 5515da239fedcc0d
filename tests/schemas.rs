//! The Schema Registry formats (`avro`) against a real registry (Apicurio,
//! through its Confluent-compatible API, started with scripts/registry.sh)
//! and a real broker, checked both ways with Confluent's own serializers
//! (Python's confluent-kafka AvroSerializer and AvroDeserializer, through
//! tests/schemas_client.py). These tests never skip: without a registry or
//! the Python package they fail.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::*;
use serde_json::{json, Value};

// --- the registry and Confluent's client ---

fn registry_sh() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/registry.sh")
}

/// Starts a registry of this test process's own, stopped with it at the
/// latest; its Confluent-compatible base URL.
fn start_registry(name: &str) -> String {
    let out = Command::new(registry_sh())
        .args(["start", "--name", name])
        .args(["--owner", &std::process::id().to_string()])
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/registry.sh");
    assert!(
        out.status.success(),
        "scripts/registry.sh start --name {name} failed: the Schema Registry tests need a registry"
    );
    let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(url.starts_with("http://"), "registry URL: {url:?}");
    url
}

fn stop_registry(name: &str) {
    let status = Command::new(registry_sh())
        .args(["stop", "--name", name])
        .status()
        .expect("scripts/registry.sh stop");
    assert!(status.success(), "scripts/registry.sh stop --name {name}");
}

/// The registry the tests share.
fn registry() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| start_registry(&unique_topic("schemas")))
}

/// The service on the test broker with `--schema-registry-url url`.
fn service(url: &str) -> Service {
    Service::start_with(&["--schema-registry-url", url], &[])
}

fn python(args: &[&str], stdin: &str) -> Vec<Value> {
    let mut child = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/schemas_client.py"
        ))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "tests/schemas_client.py {args:?} failed (confluent-kafka[avro,schemaregistry] is installed by scripts/test.sh)"
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Writes `records` ({"key", "value", "keySchema"?, "valueSchema"?}) with
/// Confluent's AvroSerializer to partition 0; each value's schema id.
fn confluent_produce(url: &str, topic: &str, records: &[Value]) -> Vec<Value> {
    let lines: String = records.iter().map(|r| format!("{r}\n")).collect();
    python(&["produce", &bootstrap(), url, topic], &lines)
}

/// Reads `count` records of partition 0 with Confluent's AvroDeserializer
/// (`avro`) or as text (`string`).
fn confluent_consume(url: &str, topic: &str, count: usize, key: &str, value: &str) -> Vec<Value> {
    python(
        &[
            "consume",
            &bootstrap(),
            url,
            topic,
            &count.to_string(),
            key,
            value,
        ],
        "",
    )
}

async fn registry_get(url: &str, path: &str) -> Value {
    reqwest::get(format!("{url}{path}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

// --- schemas and values ---

fn order_schema() -> Value {
    json!({"type": "record", "name": "Order", "namespace": "shop", "fields": [
        {"name": "id", "type": "long"},
        {"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [
            {"name": "name", "type": "string"},
            {"name": "email", "type": ["null", "string"], "default": null}]}},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID", "SHIPPED"]}},
        {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
            {"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}},
        {"name": "attributes", "type": {"type": "map", "values": "string"}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "placedAt", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "due", "type": {"type": "int", "logicalType": "date"}},
        {"name": "signature", "type": "bytes"},
        {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 4}},
        {"name": "discount", "type": ["null", "double"], "default": null},
        {"name": "note", "type": ["null", "string", "shop.Customer"], "default": null}
    ]})
}

/// Two orders as Python gives them to the serializer (tagged where JSON
/// lacks the type) ...
fn orders_python() -> Vec<Value> {
    vec![
        json!({"id": 1, "customer": {"name": "Ann", "email": "ann@example.com"}, "status": "PAID",
               "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}], "attributes": {"gift": "yes"},
               "price": {"$decimal": "12.34"}, "placedAt": {"$ms": 1700000000123i64}, "due": {"$days": 19700},
               "signature": {"$bytes": "00ff7f"}, "hash": {"$bytes": "deadbeef"}, "discount": 0.5, "note": "rush"}),
        json!({"id": -7, "customer": {"name": "Bob", "email": null}, "status": "NEW",
               "items": [], "attributes": {},
               "price": {"$decimal": "-1.50"}, "placedAt": {"$ms": 0}, "due": {"$days": 0},
               "signature": {"$bytes": ""}, "hash": {"$bytes": "00000001"}, "discount": null,
               "note": {"name": "Bob", "email": null}}),
    ]
}

/// ... and in Avro's JSON encoding, as the service shows them.
fn orders_avro_json() -> Vec<Value> {
    vec![
        json!({"id": 1, "customer": {"name": "Ann", "email": {"string": "ann@example.com"}}, "status": "PAID",
               "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}], "attributes": {"gift": "yes"},
               "price": "\u{4}\u{d2}", "placedAt": 1700000000123i64, "due": 19700,
               "signature": "\u{0}\u{ff}\u{7f}", "hash": "\u{de}\u{ad}\u{be}\u{ef}",
               "discount": {"double": 0.5}, "note": {"string": "rush"}}),
        json!({"id": -7, "customer": {"name": "Bob", "email": null}, "status": "NEW",
               "items": [], "attributes": {},
               "price": "\u{ff}\u{6a}", "placedAt": 0, "due": 0,
               "signature": "", "hash": "\u{0}\u{0}\u{0}\u{1}", "discount": null,
               "note": {"shop.Customer": {"name": "Bob", "email": null}}}),
    ]
}

fn values(records: &[Value], field: &str) -> Vec<Value> {
    records.iter().map(|r| r[field].clone()).collect()
}

// --- reading what Confluent's serializer wrote ---

#[tokio::test]
async fn records_written_by_confluents_avro_serializer_read_in_avros_json_encoding() {
    let url = registry();
    let svc = service(url);
    let topic = new_topic("avro-read", 1).await;
    let written: Vec<Value> = orders_python()
        .into_iter()
        .map(|v| json!({"key": "k", "value": v, "valueSchema": order_schema()}))
        .collect();
    let ids = confluent_produce(url, &topic, &written);
    let id = ids[0]["valueSchemaId"].as_u64().unwrap();
    let latest = registry_get(url, &format!("/subjects/{topic}-value/versions/latest")).await;
    assert_eq!(latest["id"].as_u64(), Some(id), "{latest}");

    let records = read(
        &svc,
        &format!("/records/{topic}?valueDeserializer=avro&distanceFromBeginning=0&limit=10"),
    )
    .await;
    assert_eq!(values(&records, "value"), orders_avro_json());
    for r in &records {
        assert_eq!(r["valueSchemaId"].as_u64(), Some(id), "{r}");
        assert_eq!(r["key"], "k");
        assert!(r.get("keySchemaId").is_none(), "{r}");
    }

    // The same in a stream, and through a filter on a decoded field.
    let r = svc
        .request(
            Method::GET,
            &format!("/records/{topic}?valueDeserializer=avro&distanceFromBeginning=0&limit=2&format=ndjson"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let lines: Vec<Value> = r
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(values(&lines, "value"), orders_avro_json());
    let filtered = read(
        &svc,
        &format!("/records/{topic}?valueDeserializer=avro&distanceFromBeginning=0&limit=10&timeout=1s&filter=.value.status%3D%3D%22NEW%22"),
    )
    .await;
    assert_eq!(values(&filtered, "value"), orders_avro_json()[1..]);
}

// --- writing what Confluent's deserializer reads ---

#[tokio::test]
async fn records_posted_with_a_schema_are_read_by_confluents_avro_deserializer() {
    let url = registry();
    let svc = service(url);
    let topic = new_topic("avro-write", 1).await;
    let orders = orders_avro_json();
    // By schema text (registered under <topic>-value) ...
    let body = post_ok(
        &svc,
        vec![
            json!({"topic": topic, "partition": 0, "key": "a", "valueSerializer": "avro",
                    "valueSchema": order_schema().to_string(), "value": orders[0]}),
        ],
    )
    .await;
    assert_eq!(body["results"][0]["offset"], 0, "{body}");
    let latest = registry_get(url, &format!("/subjects/{topic}-value/versions/latest")).await;
    let id = latest["id"].as_u64().unwrap();
    // ... by id, and by subject (latest, and version 1).
    post_ok(
        &svc,
        vec![
            json!({"topic": topic, "partition": 0, "key": "b", "valueSerializer": "AVRO",
                   "valueSchemaId": id, "value": orders[1]}),
            json!({"topic": topic, "partition": 0, "key": "c", "valueSerializer": "avro",
                   "valueSubject": format!("{topic}-value"), "value": orders[0]}),
            json!({"topic": topic, "partition": 0, "key": "d", "valueSerializer": "avro",
                   "valueSubject": format!("{topic}-value"), "valueSchemaVersion": 1, "value": orders[1]}),
        ],
    )
    .await;
    let read_back = confluent_consume(url, &topic, 4, "string", "avro");
    let python = orders_python();
    assert_eq!(
        values(&read_back, "value"),
        vec![
            python[0].clone(),
            python[1].clone(),
            python[0].clone(),
            python[1].clone()
        ]
    );
    assert_eq!(values(&read_back, "key"), vec!["a", "b", "c", "d"]);
    // Byte for byte what Confluent's serializer writes for the same values.
    let theirs = new_topic("avro-theirs", 1).await;
    let written: Vec<Value> = python
        .iter()
        .map(|v| json!({"key": null, "value": v, "valueSchema": order_schema()}))
        .collect();
    confluent_produce(url, &theirs, &written);
    let ours = read(
        &svc,
        &format!("/records/{topic}?valueDeserializer=bytearray&distanceFromBeginning=0&limit=2"),
    )
    .await;
    let confluent = read(
        &svc,
        &format!("/records/{theirs}?valueDeserializer=bytearray&distanceFromBeginning=0&limit=2"),
    )
    .await;
    // The same schema under another subject: compare past the schema id.
    let datum = |r: &Value| {
        use base64::Engine as _;
        let b = base64::engine::general_purpose::STANDARD
            .decode(r["value"].as_str().unwrap())
            .unwrap();
        (b[0], b[5..].to_vec())
    };
    assert_eq!(
        ours.iter().map(datum).collect::<Vec<_>>(),
        confluent.iter().map(datum).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn keys_with_a_schema_and_plain_values() {
    let url = registry();
    let svc = service(url);
    let topic = new_topic("avro-keys", 1).await;
    let key_schema = json!({"type": "record", "name": "OrderKey", "namespace": "shop",
        "fields": [{"name": "region", "type": "string"}, {"name": "n", "type": "int"}]});
    post_ok(
        &svc,
        vec![
            json!({"topic": topic, "partition": 0, "keySerializer": "avro", "keySchema": key_schema,
                    "key": {"region": "eu", "n": 3}, "value": "hello"}),
        ],
    )
    .await;
    confluent_produce(
        url,
        &topic,
        &[json!({"key": {"region": "us", "n": -1}, "keySchema": key_schema, "value": "world"})],
    );
    let records = read(
        &svc,
        &format!("/records/{topic}?keyDeserializer=avro&distanceFromBeginning=0&limit=2"),
    )
    .await;
    assert_eq!(
        values(&records, "key"),
        vec![
            json!({"region": "eu", "n": 3}),
            json!({"region": "us", "n": -1})
        ]
    );
    assert_eq!(values(&records, "value"), vec!["hello", "world"]);
    let key_id =
        registry_get(url, &format!("/subjects/{topic}-key/versions/latest")).await["id"].as_u64();
    for r in &records {
        assert_eq!(r["keySchemaId"].as_u64(), key_id, "{r}");
        assert!(r.get("valueSchemaId").is_none(), "{r}");
    }
    let theirs = confluent_consume(url, &topic, 2, "avro", "string");
    assert_eq!(values(&theirs, "key"), values(&records, "key"));
    assert_eq!(values(&theirs, "value"), vec!["hello", "world"]);
}

#[tokio::test]
async fn each_record_is_read_with_the_schema_version_it_was_written_with() {
    let url = registry();
    let svc = service(url);
    let topic = new_topic("avro-evolution", 1).await;
    let v1 = json!({"type": "record", "name": "User", "namespace": "evo",
        "fields": [{"name": "name", "type": "string"}]});
    let v2 = json!({"type": "record", "name": "User", "namespace": "evo",
        "fields": [{"name": "name", "type": "string"},
                   {"name": "age", "type": ["null", "int"], "default": null}]});
    // Version 1 by Confluent's serializer, version 2 by the service.
    let ids = confluent_produce(
        url,
        &topic,
        &[json!({"key": null, "value": {"name": "ann"}, "valueSchema": v1})],
    );
    let id1 = ids[0]["valueSchemaId"].as_u64().unwrap();
    let subject = format!("{topic}-value");
    post_ok(
        &svc,
        vec![
            json!({"topic": topic, "partition": 0, "valueSerializer": "avro", "valueSchema": v2,
                   "value": {"name": "bob", "age": {"int": 40}}}),
            // An older version by number, a field left out taking its default.
            json!({"topic": topic, "partition": 0, "valueSerializer": "avro", "valueSubject": subject,
                   "valueSchemaVersion": 1, "value": {"name": "cid"}}),
            json!({"topic": topic, "partition": 0, "valueSerializer": "avro", "valueSubject": subject,
                   "value": {"name": "dee"}}),
        ],
    )
    .await;
    let id2 = registry_get(url, &format!("/subjects/{subject}/versions/2")).await["id"].as_u64();
    assert_ne!(id2, Some(id1));
    let records = read(
        &svc,
        &format!("/records/{topic}?valueDeserializer=avro&distanceFromBeginning=0&limit=4"),
    )
    .await;
    assert_eq!(
        values(&records, "value"),
        vec![
            json!({"name": "ann"}),
            json!({"name": "bob", "age": {"int": 40}}),
            json!({"name": "cid"}),
            json!({"name": "dee", "age": null}),
        ]
    );
    let ids: Vec<Option<u64>> = records
        .iter()
        .map(|r| r["valueSchemaId"].as_u64())
        .collect();
    assert_eq!(ids, vec![Some(id1), id2, Some(id1), id2]);
    let theirs = confluent_consume(url, &topic, 4, "string", "avro");
    assert_eq!(
        values(&theirs, "value"),
        vec![
            json!({"name": "ann"}),
            json!({"name": "bob", "age": 40}),
            json!({"name": "cid"}),
            json!({"name": "dee", "age": null}),
        ]
    );
}

// --- refusals ---

#[tokio::test]
async fn a_value_that_does_not_fit_its_schema_is_refused_and_nothing_is_written() {
    let url = registry();
    let svc = service(url);
    let topic = new_topic("avro-invalid", 1).await;
    let mut bad = orders_avro_json()[0].clone();
    bad["items"][1]["qty"] = json!("two");
    let (status, body) = svc
        .post(json!({"records": [
            {"topic": topic, "valueSerializer": "avro", "valueSchema": order_schema(), "value": orders_avro_json()[0]},
            {"topic": topic, "valueSerializer": "avro", "valueSchema": order_schema(), "value": bad}]}))
        .await;
    assert_error(
        status,
        &body,
        400,
        &[
            "records[1].value.items[1].qty",
            "expected an integer",
            "nothing was written",
        ],
    );
    let (status, body) = svc
        .post(json!({"records": [
            {"topic": topic, "valueSerializer": "avro", "valueSchema": "{\"type\": \"enum\", \"name\": \"E\", \"symbols\": [\"A\"]}", "value": "B"}]}))
        .await;
    assert_error(
        status,
        &body,
        400,
        &["records[0].value", "'B' is not a symbol of enum E"],
    );
    let (status, body) = svc
        .post(json!({"records": [{"topic": topic, "valueSerializer": "avro", "value": 1}]}))
        .await;
    assert_error(
        status,
        &body,
        400,
        &["records[0].valueSerializer", "valueSchemaId"],
    );
    let (status, body) = svc
        .post(json!({"records": [{"topic": topic, "valueSchemaId": 1, "value": 1}]}))
        .await;
    assert_error(status, &body, 400, &["records[0].valueSchemaId", "avro"]);
    let (status, body) = svc
        .post(json!({"records": [{"topic": topic, "valueSerializer": "avro", "valueSchemaId": 999999, "value": 1}]}))
        .await;
    assert_error(status, &body, 400, &["records[0].value", "999999"]);
    let records = read(
        &svc,
        &format!("/records/{topic}?valueDeserializer=bytearray&distanceFromBeginning=0&limit=5&timeout=500ms"),
    )
    .await;
    assert!(records.is_empty(), "{records:?}");
}

#[tokio::test]
async fn bytes_not_in_the_wire_format_or_of_an_unknown_id_are_422() {
    let url = registry();
    let svc = service(url);
    let topic = new_topic("avro-undecodable", 1).await;
    post_ok(
        &svc,
        vec![
            json!({"topic": topic, "partition": 0, "value": "plain text"}),
            // Magic byte 0, schema id 0x7ffffff0, one byte of datum.
            json!({"topic": topic, "partition": 0, "valueSerializer": "bytearray", "value": "AH////AC"}),
        ],
    )
    .await;
    let (status, body) = svc
        .get(&format!(
            "/records/{topic}?valueDeserializer=avro&seekTo=0&limit=1"
        ))
        .await;
    assert_error(
        status,
        &body,
        422,
        &[&topic, "partition 0 offset 0", "value", "magic byte"],
    );
    let (status, body) = svc
        .get(&format!(
            "/records/{topic}?valueDeserializer=avro&seekTo=1&limit=1"
        ))
        .await;
    assert_error(
        status,
        &body,
        422,
        &[
            &topic,
            "partition 0 offset 1",
            "value",
            "no schema with id 2147483632",
        ],
    );
    // Without a registry the formats are refused up front.
    let plain = Service::start();
    let (status, body) = plain
        .get(&format!("/records/{topic}?valueDeserializer=avro&seekTo=0"))
        .await;
    assert_error(
        status,
        &body,
        400,
        &["valueDeserializer", "--schema-registry-url"],
    );
    let (status, body) = plain
        .post(json!({"records": [{"topic": topic, "valueSerializer": "avro", "valueSchemaId": 1, "value": 1}]}))
        .await;
    assert_error(
        status,
        &body,
        400,
        &["records[0].value", "--schema-registry-url"],
    );
}

#[tokio::test]
async fn a_registry_that_stops_answering_is_503_and_cached_schemas_still_serve() {
    let name = unique_topic("schemas-stopped");
    let url = start_registry(&name);
    let svc = service(&url);
    let topic = new_topic("avro-registry-down", 1).await;
    let schema = json!({"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]});
    post_ok(
        &svc,
        vec![
            json!({"topic": topic, "partition": 0, "valueSerializer": "avro", "valueSchema": schema,
                    "value": {"a": 1}}),
        ],
    )
    .await;
    stop_registry(&name);
    // The service that wrote the record has its schema.
    let records = read(
        &svc,
        &format!("/records/{topic}?valueDeserializer=avro&seekTo=0"),
    )
    .await;
    assert_eq!(values(&records, "value"), vec![json!({"a": 1})]);
    // Another instance has to ask the registry.
    let fresh = service(&url);
    let (status, body) = fresh
        .get(&format!("/records/{topic}?valueDeserializer=avro&seekTo=0"))
        .await;
    assert_error(
        status,
        &body,
        503,
        &[
            &topic,
            "partition 0 offset 0",
            "value",
            "schema registry is unavailable",
        ],
    );
    let (status, body) = svc
        .post(json!({"records": [{"topic": topic, "valueSerializer": "avro",
                                   "valueSchema": {"type": "record", "name": "S", "fields": []}, "value": {}}]}))
        .await;
    assert_error(
        status,
        &body,
        503,
        &["records[0].value", "schema registry is unavailable"],
    );
}

#[tokio::test]
async fn ndjson_lines_take_schemas_too() {
    let url = registry();
    let svc = service(url);
    let topic = new_topic("avro-ndjson", 1).await;
    let schema = json!({"type": "record", "name": "L", "fields": [{"name": "n", "type": "long"}]});
    let body = format!(
        "{}\n{}\n",
        json!({"topic": topic, "partition": 0, "valueSerializer": "avro", "valueSchema": schema, "value": {"n": 1}}),
        json!({"topic": topic, "partition": 0, "valueSerializer": "avro", "valueSchema": schema, "value": {"n": "x"}}),
    );
    let r = svc
        .request(Method::POST, "/records")
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert_error(
        status,
        &body,
        400,
        &["line 2: value.n", "expected an integer"],
    );
    let records = read(
        &svc,
        &format!("/records/{topic}?valueDeserializer=avro&seekTo=0&limit=5&timeout=500ms"),
    )
    .await;
    assert_eq!(values(&records, "value"), vec![json!({"n": 1})]);
}
