//! The registry client's credentials and CA file, and its one request per
//! schema id, end to end: a real Schema Registry (Apicurio,
//! scripts/registry.sh) behind a real reverse proxy (nginx,
//! scripts/registry-proxy.sh) that serves HTTPS with a throwaway CA and lets
//! through only requests with HTTP basic credentials or a bearer token. The
//! proxy's access log counts what reached the registry, independently of
//! the service. These tests never skip: without a registry or nginx they
//! fail.

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use common::*;
use serde_json::{json, Value};

/// The registry the tests share (each test puts a proxy of its own in
/// front of it).
fn registry() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        start_registry(
            &unique_topic("schemas-auth"),
            "the registry authentication tests need a registry",
        )
    })
}

fn proxy(auth: ProxyAuth) -> RegistryProxy {
    RegistryProxy::start(&unique_topic("auth"), registry(), auth)
}

/// Version `v` (from 0) of an Avro schema no other test registers (so its
/// ids are new); each version adds an optional field to the one before, as
/// the registry's BACKWARD rule allows.
fn schema_of(topic: &str, v: usize) -> Value {
    let mut fields = vec![
        json!({"name": "n", "type": "int"}),
        json!({"name": "tag", "type": "string"}),
    ];
    fields.extend(
        (1..=v).map(
            |i| json!({"name": format!("extra{i}"), "type": ["null", "int"], "default": null}),
        ),
    );
    json!({"type": "record", "name": "R", "namespace": topic.replace('-', "_"), "fields": fields})
}

fn avro_record(topic: &str, n: i32) -> Value {
    json!({"topic": topic, "partition": 0, "valueSerializer": "avro",
           "valueSchema": schema_of(topic, 0), "value": {"n": n, "tag": "x"}})
}

/// The service with the registry at `url` and more `flags`.
fn service(url: &str, flags: &[&str]) -> Service {
    let mut args = vec!["--schema-registry-url", url];
    args.extend_from_slice(flags);
    Service::start_with(&args, &[])
}

/// How many requests of `proxy`'s log asked for `method path` (the path
/// under the registry's base URL, without a query), by status.
fn requests_for(proxy: &RegistryProxy, method: &str, path: &str) -> Vec<String> {
    let base = proxy.url.splitn(4, '/').nth(3).unwrap_or("");
    let wanted = format!("/{base}{path}");
    proxy
        .requests()
        .iter()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            let (m, uri, status) = (parts.next()?, parts.next()?, parts.next()?);
            let uri = uri.split('?').next().unwrap_or(uri);
            (m == method && uri == wanted).then(|| status.to_string())
        })
        .collect()
}

/// A POST of an Avro record with its schema, then a GET of it, through the
/// proxy with `credentials`: both work, and both reached the registry.
async fn round_trip(proxy: &RegistryProxy, credentials: &[&str]) {
    let ca = proxy.ca_file();
    let mut flags = credentials.to_vec();
    flags.extend(["--schema-registry-ca-file", &ca]);
    let svc = service(&proxy.url, &flags);
    let topic = new_topic("avro-auth", 1).await;
    post_ok(&svc, vec![avro_record(&topic, 7)]).await;
    let records = read(
        &svc,
        &format!("/records/{topic}?valueDeserializer=avro&seekTo=0&limit=1"),
    )
    .await;
    assert_eq!(records[0]["value"], json!({"n": 7, "tag": "x"}));
    let id = records[0]["valueSchemaId"].as_u64().expect("a schema id");
    // Through the proxy: the registration, and the schema by its id.
    assert_eq!(
        requests_for(proxy, "POST", &format!("/subjects/{topic}-value/versions")),
        vec!["200"]
    );
    assert_eq!(
        requests_for(proxy, "GET", &format!("/schemas/ids/{id}")),
        vec!["200"]
    );
    // Another instance reads it back through the proxy too.
    let reader = service(&proxy.url, &flags);
    let records = read(
        &reader,
        &format!("/records/{topic}?valueDeserializer=avro&seekTo=0&limit=1"),
    )
    .await;
    assert_eq!(records[0]["value"], json!({"n": 7, "tag": "x"}));
    assert_eq!(
        requests_for(proxy, "GET", &format!("/schemas/ids/{id}")),
        vec!["200", "200"]
    );
}

/// With `credentials` (wrong, or none) the proxy answers 401: a POST and a
/// GET are 503 naming the 401 and the credential flags, and nothing is
/// written to Kafka.
async fn refused(proxy: &RegistryProxy, credentials: &[&str]) {
    let ca = proxy.ca_file();
    let mut flags = credentials.to_vec();
    flags.extend(["--schema-registry-ca-file", &ca]);
    let svc = service(&proxy.url, &flags);
    let topic = new_topic("avro-auth-refused", 1).await;
    let (status, body) = svc.post(json!({"records": [avro_record(&topic, 1)]})).await;
    assert_error(
        status,
        &body,
        503,
        &[
            "records[0].value",
            "schema registry is unavailable",
            "401 Unauthorized",
            "--schema-registry-user-info or --schema-registry-bearer-token",
            "nothing was written",
        ],
    );
    assert!(
        !body["message"].as_str().unwrap().contains("<html>"),
        "{body}"
    );
    assert!(kcat_read(&topic).is_empty(), "a record reached Kafka");
    assert_eq!(
        requests_for(proxy, "POST", &format!("/subjects/{topic}-value/versions")),
        vec!["401"]
    );
    // A record in the wire format whose schema this instance must fetch.
    let writer = service(registry(), &[]);
    post_ok(&writer, vec![avro_record(&topic, 2)]).await;
    let (status, body) = svc
        .get(&format!("/records/{topic}?valueDeserializer=avro&seekTo=0"))
        .await;
    assert_error(
        status,
        &body,
        503,
        &[
            &topic,
            "partition 0 offset 0",
            "schema registry is unavailable",
            "401 Unauthorized",
        ],
    );
}

#[tokio::test]
async fn a_registry_behind_basic_authentication_and_a_private_ca() {
    let proxy = proxy(ProxyAuth::Basic);
    let user_info = proxy.user_info();
    round_trip(&proxy, &["--schema-registry-user-info", &user_info]).await;
    let user = user_info.split(':').next().unwrap();
    let wrong = format!("{user}:not-the-password");
    refused(&proxy, &["--schema-registry-user-info", &wrong]).await;
    refused(&proxy, &[]).await;
}

#[tokio::test]
async fn a_registry_behind_a_bearer_token_and_a_private_ca() {
    let proxy = proxy(ProxyAuth::Bearer);
    let token = proxy.token();
    round_trip(&proxy, &["--schema-registry-bearer-token", &token]).await;
    refused(&proxy, &["--schema-registry-bearer-token", "not-the-token"]).await;
    refused(&proxy, &[]).await;
    // Basic credentials are no bearer token.
    refused(&proxy, &["--schema-registry-user-info", "u:p"]).await;
}

#[tokio::test]
async fn a_registry_certificate_no_given_ca_signed_is_refused_naming_the_ca_flag() {
    let proxy = proxy(ProxyAuth::Basic);
    let user_info = proxy.user_info();
    // Another proxy's CA signed another certificate.
    let other = self::proxy(ProxyAuth::Bearer);
    let other_ca = other.ca_file();
    for (flags, needle) in [
        (
            vec!["--schema-registry-user-info", &user_info],
            "give the CA that signed it with --schema-registry-ca-file".to_string(),
        ),
        (
            vec![
                "--schema-registry-user-info",
                &user_info,
                "--schema-registry-ca-file",
                &other_ca,
            ],
            format!("the CA certificates of --schema-registry-ca-file {other_ca} do not trust"),
        ),
    ] {
        let svc = service(&proxy.url, &flags);
        let topic = new_topic("avro-untrusted", 1).await;
        let (status, body) = svc.post(json!({"records": [avro_record(&topic, 1)]})).await;
        assert_error(
            status,
            &body,
            503,
            &[
                "records[0].value",
                "schema registry is unavailable",
                "TLS handshake failed",
                &needle,
                "nothing was written",
            ],
        );
        assert!(kcat_read(&topic).is_empty(), "a record reached Kafka");
    }
    // No request got past the handshake.
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
}

#[tokio::test]
async fn a_burst_of_reads_asks_the_registry_once_per_schema_id() {
    // Records of three new schemas, written straight to the registry (not
    // through the proxy, whose log then holds only the reads' requests).
    let topic = new_topic("avro-burst", 1).await;
    let writer = service(registry(), &[]);
    let records: Vec<Value> = (0..30)
        .map(|i| {
            json!({"topic": topic, "partition": 0, "valueSerializer": "avro",
                   "valueSchema": schema_of(&topic, i % 3), "value": {"n": i, "tag": format!("t{i}")}})
        })
        .collect();
    post_ok(&writer, records).await;
    let expected = read(
        &writer,
        &format!("/records/{topic}?valueDeserializer=avro&seekTo=0&limit=30"),
    )
    .await;
    let ids: Vec<u64> = expected
        .iter()
        .map(|r| r["valueSchemaId"].as_u64().unwrap())
        .collect();
    let distinct: std::collections::BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), 3, "{ids:?}");

    // A fresh instance behind the proxy: 20 GETs at once.
    let proxy = proxy(ProxyAuth::Bearer);
    let token = proxy.token();
    let ca = proxy.ca_file();
    let reader = service(
        &proxy.url,
        &[
            "--schema-registry-bearer-token",
            &token,
            "--schema-registry-ca-file",
            &ca,
        ],
    );
    let path = format!("/records/{topic}?valueDeserializer=avro&seekTo=0&limit=30");
    let gets: Vec<_> = (0..20).map(|_| reader.spawn_get(&path)).collect();
    for get in gets {
        let (status, body) = get.await.unwrap();
        assert_eq!(status, 200, "{body}");
        let got = body["records"].as_array().expect("records");
        assert_eq!(got.len(), 30, "{body}");
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(g["value"], e["value"]);
            assert_eq!(g["valueSchemaId"], e["valueSchemaId"]);
        }
    }
    // Exactly one request for each id reached the registry.
    let mut asked: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for id in &distinct {
        asked.insert(
            *id,
            requests_for(&proxy, "GET", &format!("/schemas/ids/{id}")),
        );
    }
    let once: BTreeMap<u64, Vec<String>> = distinct
        .iter()
        .map(|id| (*id, vec!["200".to_string()]))
        .collect();
    assert_eq!(asked, once, "the proxy's log: {:?}", proxy.requests());
}
