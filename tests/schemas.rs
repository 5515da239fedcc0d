//! The Schema Registry formats (`avro`, `protobuf`, `jsonschema`) against a
//! real registry (Apicurio, through its Confluent-compatible API, started
//! with scripts/registry.sh) and a real broker, checked both ways with
//! Confluent's own serializers (Python's confluent-kafka AvroSerializer,
//! ProtobufSerializer, JSONSerializer and their deserializers, through
//! tests/schemas_client.py). These tests never skip: without a registry or
//! the Python packages they fail.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::sync::OnceLock;

use common::*;
use serde_json::{json, Value};

// --- the registry and Confluent's client ---

/// Starts a registry of this test process's own, stopped with it at the
/// latest; its Confluent-compatible base URL.
fn start_registry(name: &str) -> String {
    common::start_registry(name, "the Schema Registry tests need a registry")
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

/// Runs tests/schemas_client.py (killed after five minutes, see
/// [`python_script`]).
fn python(args: &[&str], stdin: &str) -> Vec<Value> {
    let mut child = python_script("schemas_client.py")
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
        "tests/schemas_client.py {args:?} failed ({}; 124 is the five minutes passing; confluent-kafka[avro,json,protobuf,schemaregistry] and grpcio-tools are installed by scripts/test.sh)",
        out.status
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

/// The values a GET of `path` returns, each checked to name schema `id`.
async fn values_of_schema(svc: &Service, path: &str, id: u64) -> Vec<Value> {
    let records = read(svc, path).await;
    for r in &records {
        assert_eq!(r["valueSchemaId"].as_u64(), Some(id), "{r}");
    }
    values(&records, "value")
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
    let lines = read_ndjson(
        &svc,
        &format!(
            "/records/{topic}?valueDeserializer=avro&distanceFromBeginning=0&limit=2&format=ndjson"
        ),
    )
    .await;
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

// --- Protobuf ---

/// A file of shared types, imported by [`order_proto`] (a registry
/// reference named `shop/common.proto`).
const COMMON_PROTO: &str = r#"syntax = "proto3";
package shop.common;

message Address {
  string street = 1;
  string zip = 2;
  Country country = 3;
  enum Country { UNKNOWN = 0; DE = 1; FR = 2; }
}
"#;

/// Several messages, nested types, an import, a oneof, a map, an enum,
/// bytes and a well-known type.
const ORDER_PROTO: &str = r#"syntax = "proto3";
package shop;

import "shop/common.proto";
import "google/protobuf/timestamp.proto";

message Order {
  int64 id = 1;
  shop.common.Address ship_to = 2;
  repeated Item items = 3;
  map<string, string> attributes = 4;
  oneof payment {
    string card = 5;
    int32 voucher = 6;
  }
  Status status = 7;
  bytes signature = 8;
  google.protobuf.Timestamp placed_at = 9;
  double total = 10;

  message Item {
    string sku = 1;
    int32 qty = 2;
  }
  enum Status { NEW = 0; PAID = 1; SHIPPED = 2; }
}

message Refund {
  int64 order_id = 1;
  Order.Item item = 2;
  uint64 amount_cents = 3;
}
"#;

/// What tests/schemas_client.py needs to make the Python class of `message`.
fn proto_spec(message: &str) -> Value {
    json!({"files": {"shop/order.proto": ORDER_PROTO, "shop/common.proto": COMMON_PROTO},
           "file": "shop/order.proto", "message": message})
}

/// Orders in the proto3 JSON mapping, as protobuf's `MessageToDict` prints
/// them (and as the service shows them).
fn orders_proto_json() -> Vec<Value> {
    vec![
        json!({"id": "1", "shipTo": {"street": "Main St 1", "zip": "10115", "country": "DE"},
               "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
               "attributes": {"gift": "yes"}, "card": "visa", "status": "PAID",
               "signature": "AP9/", "placedAt": "2023-11-14T22:13:20.123Z", "total": 12.5}),
        json!({"id": "-9007199254740993", "items": [{"sku": "C-3"}], "voucher": 42,
               "status": "SHIPPED"}),
    ]
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn base64_bytes(record: &Value, field: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(record[field].as_str().unwrap())
        .unwrap()
}

/// Reads `count` records of partition 0 with Confluent's deserializers;
/// `proto` names the Protobuf message classes of key and value.
fn confluent_consume_proto(url: &str, topic: &str, count: usize, proto: Value) -> Vec<Value> {
    python(
        &[
            "consume",
            &bootstrap(),
            url,
            topic,
            &count.to_string(),
            "string",
            "protobuf",
        ],
        &format!("{}\n", json!({ "value": proto })),
    )
}

#[tokio::test]
async fn records_written_by_confluents_protobuf_serializer_read_in_the_proto3_json_mapping() {
    let url = registry();
    let svc = service(url);
    let topic = new_topic("proto-read", 1).await;
    let orders = orders_proto_json();
    let refund = json!({"orderId": "1", "item": {"sku": "A-1", "qty": 1}, "amountCents": "18446744073709551615"});
    let item = json!({"sku": "Z", "qty": -3});
    let written = vec![
        json!({"key": "o1", "value": orders[0], "valueFormat": "protobuf", "valueSchema": proto_spec("shop.Order")}),
        json!({"key": "o2", "value": orders[1], "valueFormat": "protobuf", "valueSchema": proto_spec("shop.Order")}),
        json!({"key": "r", "value": refund, "valueFormat": "protobuf", "valueSchema": proto_spec("shop.Refund")}),
        json!({"key": "i", "value": item, "valueFormat": "protobuf", "valueSchema": proto_spec("shop.Order.Item")}),
    ];
    let produced = confluent_produce(url, &topic, &written);
    // One schema (the file) for all three messages; the message indexes
    // tell them apart: [0] as the single byte 0, [1] as 2 2, [0, 1] as 4 0 2.
    let id = produced[0]["valueSchemaId"].as_u64().unwrap();
    let headers: Vec<Vec<u8>> = produced
        .iter()
        .map(|p| hex_bytes(p["valueHex"].as_str().unwrap())[5..].to_vec())
        .collect();
    assert_eq!(headers[0][0], 0);
    assert_eq!(headers[2][..2], [2, 2]);
    assert_eq!(headers[3][..3], [4, 0, 2]);
    let registered = registry_get(url, &format!("/schemas/ids/{id}")).await;
    assert_eq!(
        registered["references"][0]["name"], "shop/common.proto",
        "{registered}"
    );

    let read_values = values_of_schema(
        &svc,
        &format!("/records/{topic}?valueDeserializer=protobuf&distanceFromBeginning=0&limit=10"),
        id,
    )
    .await;
    assert_eq!(
        read_values,
        vec![orders[0].clone(), orders[1].clone(), refund, item]
    );
    // The same in a stream.
    let lines = read_ndjson(&svc, &format!("/records/{topic}?valueDeserializer=PROTOBUF&distanceFromBeginning=0&limit=2&format=ndjson")).await;
    assert_eq!(values(&lines, "value"), orders);
}

#[tokio::test]
async fn protobuf_records_posted_are_what_confluents_serializer_writes_and_its_deserializer_reads()
{
    let url = registry();
    let svc = service(url);
    // Confluent's serializer registers the file and its import first.
    let theirs = new_topic("proto-theirs", 1).await;
    let orders = orders_proto_json();
    let refund = json!({"orderId": "7", "item": {"sku": "A-1", "qty": 1}, "amountCents": "250"});
    let item = json!({"sku": "Z", "qty": -3});
    let produced = confluent_produce(
        url,
        &theirs,
        &[
            json!({"key": null, "value": orders[0], "valueFormat": "protobuf", "valueSchema": proto_spec("shop.Order")}),
            json!({"key": null, "value": orders[1], "valueFormat": "protobuf", "valueSchema": proto_spec("shop.Order")}),
            json!({"key": null, "value": refund, "valueFormat": "protobuf", "valueSchema": proto_spec("shop.Refund")}),
            json!({"key": null, "value": item, "valueFormat": "protobuf", "valueSchema": proto_spec("shop.Order.Item")}),
        ],
    );
    let id = produced[0]["valueSchemaId"].as_u64().unwrap();
    let subject = format!("{theirs}-value");

    // By id (the first message), by subject (latest and version 1), and
    // other messages by name: full, or within the package.
    let topic = new_topic("proto-write", 1).await;
    post_ok(
        &svc,
        vec![
            json!({"topic": topic, "partition": 0, "valueSerializer": "protobuf", "valueSchemaId": id, "value": orders[0]}),
            json!({"topic": topic, "partition": 0, "valueSerializer": "protobuf", "valueSubject": subject, "value": orders[1]}),
            json!({"topic": topic, "partition": 0, "valueSerializer": "protobuf", "valueSubject": subject,
                   "valueSchemaVersion": 1, "valueMessage": "shop.Refund", "value": refund}),
            json!({"topic": topic, "partition": 0, "valueSerializer": "protobuf", "valueSchemaId": id,
                   "valueMessage": "Order.Item", "value": item}),
        ],
    )
    .await;
    let ours = read(
        &svc,
        &format!("/records/{topic}?valueDeserializer=bytearray&distanceFromBeginning=0&limit=4"),
    )
    .await;
    // Byte for byte (the map has one entry: maps have no order on the wire).
    let expected: Vec<Vec<u8>> = produced
        .iter()
        .map(|p| hex_bytes(p["valueHex"].as_str().unwrap()))
        .collect();
    let got: Vec<Vec<u8>> = ours.iter().map(|r| base64_bytes(r, "value")).collect();
    assert_eq!(got, expected);
    let back = confluent_consume_proto(url, &topic, 2, proto_spec("shop.Order"));
    assert_eq!(values(&back, "value"), orders);

    // By the text of a schema of its own, registered as PROTOBUF.
    let standalone = r#"syntax = "proto3";
package demo;
message Ping {
  string from = 1;
  oneof body { string text = 2; Nested nested = 3; }
  message Nested { repeated int32 n = 1; }
}
"#;
    let text_topic = new_topic("proto-text", 1).await;
    let pings = vec![
        json!({"from": "a", "text": "hi"}),
        json!({"from": "b", "nested": {"n": [1, -2, 3]}}),
    ];
    post_ok(
        &svc,
        pings
            .iter()
            .map(|p| json!({"topic": text_topic, "partition": 0, "key": "k", "valueSerializer": "protobuf",
                            "valueSchema": standalone, "value": p}))
            .collect(),
    )
    .await;
    let latest = registry_get(
        url,
        &format!("/subjects/{text_topic}-value/versions/latest"),
    )
    .await;
    assert_eq!(latest["schemaType"], "PROTOBUF", "{latest}");
    let spec = json!({"files": {"demo/ping.proto": standalone}, "file": "demo/ping.proto", "message": "demo.Ping"});
    let back = confluent_consume_proto(url, &text_topic, 2, spec);
    assert_eq!(values(&back, "value"), pings);
    let records = read(
        &svc,
        &format!("/records/{text_topic}?valueDeserializer=protobuf&seekTo=0&limit=2"),
    )
    .await;
    assert_eq!(values(&records, "value"), pings);
    assert_eq!(records[0]["valueSchemaId"], latest["id"]);
}

#[tokio::test]
async fn protobuf_keys_with_a_schema() {
    let url = registry();
    let svc = service(url);
    let topic = new_topic("proto-keys", 1).await;
    let key_proto = "syntax = \"proto3\";\npackage keys;\nmessage OrderKey { string region = 1; int32 n = 2; }\n";
    post_ok(
        &svc,
        vec![
            json!({"topic": topic, "partition": 0, "keySerializer": "protobuf", "keySchema": key_proto,
                   "keyMessage": "keys.OrderKey", "key": {"region": "eu", "n": 3}, "value": "hello"}),
        ],
    )
    .await;
    let records = read(
        &svc,
        &format!("/records/{topic}?keyDeserializer=protobuf&seekTo=0&limit=1"),
    )
    .await;
    assert_eq!(records[0]["key"], json!({"region": "eu", "n": 3}));
    assert_eq!(records[0]["value"], "hello");
    let key_id =
        registry_get(url, &format!("/subjects/{topic}-key/versions/latest")).await["id"].as_u64();
    assert_eq!(records[0]["keySchemaId"].as_u64(), key_id);
    assert!(records[0].get("valueSchemaId").is_none());
}

// --- JSON Schema ---

fn address_json_schema() -> Value {
    json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
           "properties": {"street": {"type": "string"}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
           "required": ["zip"], "additionalProperties": false})
}

fn order_json_schema() -> Value {
    json!({"$schema": "http://json-schema.org/draft-07/schema#", "title": "Order", "type": "object",
           "properties": {
               "id": {"type": "integer"},
               "shipTo": {"$ref": "address.json"},
               "items": {"type": "array", "items": {"type": "object",
                   "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
                   "required": ["sku", "qty"]}},
               "note": {"type": ["string", "null"]}},
           "required": ["id", "shipTo"]})
}

fn orders_json() -> Vec<Value> {
    vec![
        json!({"id": 1, "shipTo": {"street": "Main St 1", "zip": "10115"},
               "items": [{"sku": "A-1", "qty": 2}], "note": "ring twice, ünïcode"}),
        json!({"id": 2, "shipTo": {"zip": "75001"}, "items": [], "note": null}),
    ]
}

#[tokio::test]
async fn json_schema_records_with_refs_round_trip_both_ways() {
    let url = registry();
    let svc = service(url);
    let ref_subject = unique_topic("address.json");
    let references =
        json!([{"name": "address.json", "subject": ref_subject, "schema": address_json_schema()}]);
    // Confluent's JSONSerializer writes, the service reads ...
    let theirs = new_topic("jsonschema-theirs", 1).await;
    let orders = orders_json();
    let produced = confluent_produce(
        url,
        &theirs,
        &orders
            .iter()
            .map(|o| {
                json!({"key": "k", "value": o, "valueFormat": "jsonschema",
                            "valueSchema": order_json_schema(), "valueReferences": references})
            })
            .collect::<Vec<_>>(),
    );
    let id = produced[0]["valueSchemaId"].as_u64().unwrap();
    let registered = registry_get(url, &format!("/schemas/ids/{id}")).await;
    assert_eq!(
        registered["references"][0]["name"], "address.json",
        "{registered}"
    );
    let read_values = values_of_schema(
        &svc,
        &format!("/records/{theirs}?valueDeserializer=jsonschema&seekTo=0&limit=5"),
        id,
    )
    .await;
    assert_eq!(read_values, orders);
    // ... and the service writes (by id, by subject), the bytes Confluent's
    // serializer writes, which its deserializer reads.
    let topic = new_topic("jsonschema-write", 1).await;
    post_ok(
        &svc,
        vec![
            json!({"topic": topic, "partition": 0, "key": "k", "valueSerializer": "jsonschema", "valueSchemaId": id, "value": orders[0]}),
            json!({"topic": topic, "partition": 0, "key": "k", "valueSerializer": "JSONSCHEMA",
                   "valueSubject": format!("{theirs}-value"), "value": orders[1]}),
        ],
    )
    .await;
    let ours = read(
        &svc,
        &format!("/records/{topic}?valueDeserializer=bytearray&seekTo=0&limit=2"),
    )
    .await;
    let got: Vec<Vec<u8>> = ours.iter().map(|r| base64_bytes(r, "value")).collect();
    let expected: Vec<Vec<u8>> = produced
        .iter()
        .map(|p| hex_bytes(p["valueHex"].as_str().unwrap()))
        .collect();
    assert_eq!(got, expected);
    let back = confluent_consume(url, &topic, 2, "string", "jsonschema");
    assert_eq!(values(&back, "value"), orders);

    // A value whose referenced part does not fit: 400, nothing written.
    let mut bad = orders[1].clone();
    bad["shipTo"]["zip"] = json!("7500");
    let (status, body) = svc
        .post(json!({"records": [
            {"topic": topic, "valueSerializer": "jsonschema", "valueSchemaId": id, "value": orders[0]},
            {"topic": topic, "valueSerializer": "jsonschema", "valueSchemaId": id, "value": bad}]}))
        .await;
    assert_error(
        status,
        &body,
        400,
        &["records[1].value.shipTo.zip", "7500", "nothing was written"],
    );
    assert_eq!(kcat_read(&topic).len(), 2);

    // Schema text of its own, registered as JSON.
    let text_topic = new_topic("jsonschema-text", 1).await;
    let schema =
        json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]});
    post_ok(
        &svc,
        vec![
            json!({"topic": text_topic, "partition": 0, "valueSerializer": "jsonschema", "valueSchema": schema, "value": {"n": 5}}),
        ],
    )
    .await;
    let latest = registry_get(
        url,
        &format!("/subjects/{text_topic}-value/versions/latest"),
    )
    .await;
    assert_eq!(latest["schemaType"], "JSON", "{latest}");
    let back = confluent_consume(url, &text_topic, 1, "string", "jsonschema");
    assert_eq!(values(&back, "value"), vec![json!({"n": 5})]);
    let (status, body) = svc
        .post(json!({"records": [{"topic": text_topic, "valueSerializer": "jsonschema", "valueSchema": schema, "value": {"n": "five"}}]}))
        .await;
    assert_error(status, &body, 400, &["records[0].value.n", "integer"]);
    assert_eq!(kcat_read(&text_topic).len(), 1);
}

// --- refusals of the Protobuf and JSON Schema formats ---

#[tokio::test]
async fn protobuf_and_json_schema_values_that_do_not_fit_are_refused_and_nothing_is_written() {
    let url = registry();
    let svc = service(url);
    let topic = new_topic("proto-invalid", 1).await;
    let schema = "syntax = \"proto3\";\npackage inv;\nmessage Order { repeated Item items = 1; message Item { string sku = 1; int32 qty = 2; } }\n";
    let good = json!({"items": [{"sku": "a", "qty": 1}]});
    let bad = json!({"items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": "two"}]});
    let (status, body) = svc
        .post(json!({"records": [
            {"topic": topic, "valueSerializer": "protobuf", "valueSchema": schema, "value": good},
            {"topic": topic, "valueSerializer": "protobuf", "valueSchema": schema, "value": bad}]}))
        .await;
    assert_error(
        status,
        &body,
        400,
        &["records[1].value.items[1].qty", "nothing was written"],
    );
    let (status, body) = svc
        .post(json!({"records": [
            {"topic": topic, "valueSerializer": "protobuf", "valueSchema": schema, "value": {"itemz": []}}]}))
        .await;
    assert_error(status, &body, 400, &["records[0].value", "itemz"]);
    let (status, body) = svc
        .post(json!({"records": [
            {"topic": topic, "valueSerializer": "protobuf", "valueSchema": schema, "valueMessage": "Nope", "value": {}}]}))
        .await;
    assert_error(
        status,
        &body,
        400,
        &["records[0].value", "no message 'Nope'", "inv.Order.Item"],
    );
    let (status, body) = svc
        .post(json!({"records": [
            {"topic": topic, "valueSerializer": "protobuf", "valueSchema": "message {", "value": {}}]}))
        .await;
    assert_error(
        status,
        &body,
        400,
        &["records[0].value", "not a valid Protobuf schema"],
    );
    let (status, body) = svc
        .post(json!({"records": [
            {"topic": topic, "valueSerializer": "avro", "valueSchema": "\"string\"", "valueMessage": "X", "value": "a"}]}))
        .await;
    assert_error(status, &body, 400, &["records[0].valueMessage", "protobuf"]);
    // NDJSON: the line and the path.
    let lines = format!(
        "{}\n{}\n",
        json!({"topic": topic, "partition": 0, "valueSerializer": "protobuf", "valueSchema": schema, "value": good}),
        json!({"topic": topic, "partition": 0, "valueSerializer": "protobuf", "valueSchema": schema, "value": bad}),
    );
    let r = svc
        .request(Method::POST, "/records")
        .header("content-type", "application/x-ndjson")
        .body(lines)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert_error(status, &body, 400, &["line 2: value.items[1].qty"]);
    // Only the NDJSON's first line was written; no subject for the refused
    // schema text.
    let written = kcat_read(&topic);
    assert_eq!(written.len(), 1, "{written:?}");
}

#[tokio::test]
async fn protobuf_and_json_schema_bytes_not_in_the_wire_format_or_of_an_unknown_id_are_422() {
    let url = registry();
    let svc = service(url);
    let topic = new_topic("proto-undecodable", 1).await;
    let avro_schema =
        json!({"type": "record", "name": "A", "fields": [{"name": "a", "type": "int"}]});
    post_ok(
        &svc,
        vec![
            // A wrong magic byte.
            json!({"topic": topic, "partition": 0, "value": "plain text"}),
            // Magic byte 0, schema id 0x7ffffff0, one byte of datum.
            json!({"topic": topic, "partition": 0, "valueSerializer": "bytearray", "value": "AH////AC"}),
            // An Avro schema's id.
            json!({"topic": topic, "partition": 0, "valueSerializer": "avro", "valueSchema": avro_schema, "value": {"a": 1}}),
        ],
    )
    .await;
    for format in ["protobuf", "jsonschema"] {
        let (status, body) = svc
            .get(&format!(
                "/records/{topic}?valueDeserializer={format}&seekTo=0&limit=1"
            ))
            .await;
        assert_error(
            status,
            &body,
            422,
            &[
                &topic,
                "partition 0 offset 0",
                "value",
                "magic byte",
                format,
            ],
        );
        let (status, body) = svc
            .get(&format!(
                "/records/{topic}?valueDeserializer={format}&seekTo=1&limit=1"
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
        let (status, body) = svc
            .get(&format!(
                "/records/{topic}?valueDeserializer={format}&seekTo=2&limit=1"
            ))
            .await;
        assert_error(
            status,
            &body,
            422,
            &[&topic, "partition 0 offset 2", "is a AVRO schema", format],
        );
    }
    // Protobuf bytes whose message indexes name no message.
    let proto = "syntax = \"proto3\";\nmessage P { int32 a = 1; }\n";
    let bad_index = new_topic("proto-bad-index", 1).await;
    post_ok(
        &svc,
        vec![
            json!({"topic": bad_index, "partition": 0, "valueSerializer": "protobuf", "valueSchema": proto, "value": {"a": 1}}),
        ],
    )
    .await;
    let id = registry_get(url, &format!("/subjects/{bad_index}-value/versions/latest")).await["id"]
        .as_u64()
        .unwrap() as u32;
    let mut bytes = vec![0];
    bytes.extend_from_slice(&id.to_be_bytes());
    bytes.extend_from_slice(&[2, 6, 8, 1]);
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
    post_ok(
        &svc,
        vec![json!({"topic": bad_index, "partition": 0, "valueSerializer": "bytearray", "value": encoded})],
    )
    .await;
    let (status, body) = svc
        .get(&format!(
            "/records/{bad_index}?valueDeserializer=protobuf&seekTo=1&limit=1"
        ))
        .await;
    assert_error(
        status,
        &body,
        422,
        &["partition 0 offset 1", "message indexes [3]"],
    );
}

// --- schema text that refers to other subjects ---

/// Registers `schema` (text, of `schema_type`) under `subject` straight at
/// the registry; its version.
async fn register(url: &str, subject: &str, schema_type: &str, schema: &str) -> i64 {
    let r = reqwest::Client::new()
        .post(format!("{url}/subjects/{subject}/versions"))
        .header("content-type", "application/vnd.schemaregistry.v1+json")
        .body(json!({"schema": schema, "schemaType": schema_type}).to_string())
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "registering {subject}: {:?}",
        r.text().await
    );
    registry_get(url, &format!("/subjects/{subject}/versions/latest")).await["version"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn schema_text_posted_with_references_to_other_subjects_is_registered_with_them() {
    let url = registry();
    let svc = service(url);

    // Avro: a named type of another subject, in a value's and a key's schema.
    let topic = new_topic("avro-refs", 1).await;
    let ns = topic.replace('-', "_");
    let customer = json!({"type": "record", "name": "Customer", "namespace": ns,
        "fields": [{"name": "name", "type": "string"}, {"name": "vip", "type": "boolean", "default": false}]});
    let customer_subject = unique_topic("customer");
    let version = register(url, &customer_subject, "AVRO", &customer.to_string()).await;
    let customer_ref = json!([{"name": format!("{ns}.Customer"), "subject": customer_subject, "version": version}]);
    let order = json!({"type": "record", "name": "Order", "namespace": ns,
        "fields": [{"name": "id", "type": "long"}, {"name": "customer", "type": format!("{ns}.Customer")}]});
    let key = json!({"type": "record", "name": "OrderKey", "namespace": ns,
        "fields": [{"name": "by", "type": format!("{ns}.Customer")}]});
    let avro_values = [
        json!({"id": 1, "customer": {"name": "ann", "vip": true}}),
        json!({"id": 2, "customer": {"name": "bob", "vip": false}}),
    ];
    post_ok(
        &svc,
        avro_values
            .iter()
            .map(|v| {
                json!({"topic": topic, "partition": 0,
                       "keySerializer": "avro", "key": {"by": v["customer"]},
                       "keySchema": {"schema": key.to_string(), "references": customer_ref},
                       "valueSerializer": "avro", "value": v,
                       "valueSchema": {"schema": order, "references": customer_ref}})
            })
            .collect(),
    )
    .await;
    for field in ["key", "value"] {
        let latest = registry_get(url, &format!("/subjects/{topic}-{field}/versions/latest")).await;
        assert_eq!(latest["references"], customer_ref, "{latest}");
    }
    let theirs = confluent_consume(url, &topic, 2, "avro", "avro");
    assert_eq!(values(&theirs, "value"), avro_values);
    assert_eq!(
        values(&theirs, "key"),
        avro_values
            .iter()
            .map(|v| json!({"by": v["customer"]}))
            .collect::<Vec<_>>()
    );
    let ours = read(
        &svc,
        &format!("/records/{topic}?keyDeserializer=avro&valueDeserializer=avro&seekTo=0&limit=2"),
    )
    .await;
    assert_eq!(values(&ours, "value"), avro_values);

    // Protobuf: an import of another subject's file.
    let proto_topic = new_topic("proto-refs", 1).await;
    let common_subject = unique_topic("common-proto");
    let version = register(url, &common_subject, "PROTOBUF", COMMON_PROTO).await;
    let shipment = "syntax = \"proto3\";\npackage ship;\nimport \"shop/common.proto\";\n\nmessage Shipment {\n  string id = 1;\n  shop.common.Address to = 2;\n}\n";
    let proto_refs =
        json!([{"name": "shop/common.proto", "subject": common_subject, "version": version}]);
    let shipments = vec![
        json!({"id": "s1", "to": {"street": "Main St 1", "zip": "10115", "country": "FR"}}),
        json!({"id": "s2"}),
    ];
    post_ok(
        &svc,
        shipments
            .iter()
            .map(|s| {
                json!({"topic": proto_topic, "partition": 0, "valueSerializer": "protobuf",
                       "valueSchema": {"schema": shipment, "references": proto_refs}, "value": s})
            })
            .collect(),
    )
    .await;
    let latest = registry_get(
        url,
        &format!("/subjects/{proto_topic}-value/versions/latest"),
    )
    .await;
    assert_eq!(latest["references"], proto_refs, "{latest}");
    assert_eq!(latest["schemaType"], "PROTOBUF", "{latest}");
    let spec = json!({"files": {"ship/shipment.proto": shipment, "shop/common.proto": COMMON_PROTO},
                      "file": "ship/shipment.proto", "message": "ship.Shipment"});
    let back = confluent_consume_proto(url, &proto_topic, 2, spec);
    assert_eq!(values(&back, "value"), shipments);

    // JSON Schema: a $ref to another subject's schema.
    let json_topic = new_topic("jsonschema-refs", 1).await;
    let address_subject = unique_topic("address");
    let version = register(
        url,
        &address_subject,
        "JSON",
        &address_json_schema().to_string(),
    )
    .await;
    let json_refs =
        json!([{"name": "address.json", "subject": address_subject, "version": version}]);
    let orders = orders_json();
    post_ok(
        &svc,
        orders
            .iter()
            .map(|o| {
                json!({"topic": json_topic, "partition": 0, "valueSerializer": "jsonschema",
                       "valueSchema": {"schema": order_json_schema(), "references": json_refs}, "value": o})
            })
            .collect(),
    )
    .await;
    let latest = registry_get(
        url,
        &format!("/subjects/{json_topic}-value/versions/latest"),
    )
    .await;
    assert_eq!(latest["references"], json_refs, "{latest}");
    let back = confluent_consume(url, &json_topic, 2, "string", "jsonschema");
    assert_eq!(values(&back, "value"), orders);

    // A value whose referenced part does not fit: 400, no schema
    // registered, nothing written.
    let refused = new_topic("jsonschema-refs-refused", 1).await;
    let mut bad = orders[0].clone();
    bad["shipTo"]["zip"] = json!("7500");
    let (status, body) = svc
        .post(json!({"records": [{"topic": refused, "valueSerializer": "jsonschema",
            "valueSchema": {"schema": order_json_schema(), "references": json_refs}, "value": bad}]}))
        .await;
    assert_error(
        status,
        &body,
        400,
        &["records[0].value.shipTo.zip", "7500", "nothing was written"],
    );
    let r = reqwest::get(format!("{url}/subjects/{refused}-value/versions"))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404, "{:?}", r.text().await);
    // A reference to a version that is not there, and one malformed.
    let (status, body) = svc
        .post(json!({"records": [{"topic": refused, "valueSerializer": "avro", "value": avro_values[0],
            "valueSchema": {"schema": order, "references": [{"name": format!("{ns}.Customer"), "subject": customer_subject, "version": 99}]}}]}))
        .await;
    assert_error(
        status,
        &body,
        400,
        &[
            "records[0].value",
            "version 99",
            &customer_subject,
            "nothing was written",
        ],
    );
    let (status, body) = svc
        .post(json!({"records": [{"topic": refused, "valueSerializer": "avro", "value": avro_values[0],
            "valueSchema": {"schema": order, "references": [{"name": "x", "subject": customer_subject}]}}]}))
        .await;
    assert_error(
        status,
        &body,
        400,
        &[
            "records[0].valueSchema.references[0].version",
            "an integer from 1",
        ],
    );
    assert!(kcat_read(&refused).is_empty());
}
