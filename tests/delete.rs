//! DELETE /records/{topic}: what is deleted, what is kept, and which requests
//! are refused with nothing deleted. Records are written and checked with
//! kcat, an independent client.

mod common;

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn without_parameters_every_record_of_every_partition_is_deleted() {
    let topic = three_partitions_of_records("delete-all").await;
    let svc = Service::start();

    let (status, body) = svc.delete(&format!("/records/{topic}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        low_watermarks(&body),
        vec![(0, 2), (1, 3), (2, 4)],
        "each partition's new start is its end: {body}"
    );
    assert_eq!(kcat_read(&topic), vec![], "kcat still reads records");
    let (status, body) = svc
        .get(&format!(
            "/records/{topic}?distanceFromBeginning=0&limit=100&timeout=1s"
        ))
        .await;
    assert_eq!((status, records_only(body)), (200, json!({"records": []})));
}

#[tokio::test]
async fn partition_parameter_deletes_only_that_partition() {
    let topic = three_partitions_of_records("delete-one").await;
    let svc = Service::start();

    let (status, body) = svc.delete(&format!("/records/{topic}?partition=1")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"partitions": [{"partition": 1, "lowWatermark": 3}]})
    );
    assert_eq!(
        stored(&topic),
        vec![
            (0, 0, "a".into()),
            (0, 1, "b".into()),
            (2, 0, "f".into()),
            (2, 1, "g".into()),
            (2, 2, "h".into()),
            (2, 3, "i".into()),
        ]
    );
}

#[tokio::test]
async fn offset_parameter_deletes_only_records_below_it() {
    let topic = new_topic("delete-below", 1).await;
    let values: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    kcat_produce(&topic, 0, &values);
    let svc = Service::start();

    let (status, body) = svc.delete(&format!("/records/{topic}?offset=4")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"partitions": [{"partition": 0, "lowWatermark": 4}]})
    );
    assert_eq!(
        stored(&topic),
        (4..10).map(|i| (0, i, format!("v{i}"))).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn an_unknown_topic_is_a_404_and_is_not_created() {
    let svc = Service::start();
    assert_unknown_topic_not_created(&svc, Method::DELETE, "").await;
}

#[tokio::test]
async fn an_unknown_partition_is_a_404_and_nothing_is_deleted() {
    refused_and_nothing_deleted("delete-no-partition", "partition=9", 404, &["9"]).await;
}

#[tokio::test]
async fn an_offset_past_the_end_is_a_400_and_nothing_is_deleted() {
    let topic = new_topic("delete-past-end", 2).await;
    let values: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    kcat_produce(&topic, 0, &values);
    kcat_produce(&topic, 1, &["w0", "w1"]);
    let svc = Service::start();

    // Past the end of partition 1 only: partition 0 must not be truncated either.
    let (status, body) = svc.delete(&format!("/records/{topic}?offset=5")).await;
    assert_error(status, &body, 400, &["offset", "partition 1"]);
    let (status, body) = svc
        .delete(&format!("/records/{topic}?partition=0&offset=11"))
        .await;
    assert_error(status, &body, 400, &["offset", "partition 0"]);
    assert_eq!(stored(&topic).len(), 12, "records were deleted");
}

#[tokio::test]
async fn a_negative_offset_is_a_400_and_nothing_is_deleted() {
    refused_and_nothing_deleted("delete-negative", "offset=-1", 400, &["offset", "-1"]).await;
}

#[tokio::test]
async fn an_unknown_parameter_is_a_400_and_nothing_is_deleted() {
    // A typo must never fall back to "delete everything".
    let needles = ["ofset", "offset", "partition"];
    refused_and_nothing_deleted("delete-typo", "ofset=1", 400, &needles).await;
}

#[tokio::test]
async fn a_compacted_topic_is_a_400_saying_its_cleanup_policy_forbids_it() {
    let topic = unique_topic("delete-compacted");
    create_topic(&topic, 1, &[("cleanup.policy", "compact")]).await;
    // Compacted topics only take keyed records.
    Kcat::new()
        .produce(&topic)
        .partition(0)
        .keyed()
        .send(&["k1:a", "k2:b"]);
    let svc = Service::start();
    let (status, body) = svc.delete(&format!("/records/{topic}")).await;
    assert_error(status, &body, 400, &["cleanup.policy", &topic]);
    assert_eq!(stored(&topic).len(), 2, "records were deleted");
}

#[tokio::test]
async fn other_methods_on_a_topic_are_a_405() {
    let topic = new_topic("delete-put", 1).await;
    let svc = Service::start();
    let r = svc
        .request(Method::PUT, &format!("/records/{topic}"))
        .body("{}")
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status().as_u16(), 405);
    let allow = r
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap_or("").to_string())
        .unwrap_or_default();
    assert!(
        allow.contains("GET") && allow.contains("DELETE"),
        "Allow: {allow:?}"
    );
    let body: Value = r.json().await.expect("JSON body");
    assert_eq!(body["code"], json!(405), "{body}");
    assert!(body["message"].is_string(), "{body}");
}

// --- helpers ---

/// A three-partition topic holding `a`, `b` in partition 0, `c`, `d`, `e` in
/// partition 1 and `f` to `i` in partition 2, written by kcat.
async fn three_partitions_of_records(prefix: &str) -> String {
    let topic = new_topic(prefix, 3).await;
    kcat_produce(&topic, 0, &["a", "b"]);
    kcat_produce(&topic, 1, &["c", "d", "e"]);
    kcat_produce(&topic, 2, &["f", "g", "h", "i"]);
    topic
}

/// DELETEs with `query` on a fresh topic holding two records; expects an
/// error with `status` naming each of `needles`, and both records kept.
async fn refused_and_nothing_deleted(prefix: &str, query: &str, status: u16, needles: &[&str]) {
    let topic = new_topic(prefix, 1).await;
    kcat_produce(&topic, 0, &["a", "b"]);
    let svc = Service::start();
    let answer = svc.delete(&format!("/records/{topic}?{query}")).await;
    assert_error(answer.0, &answer.1, status, needles);
    assert_eq!(stored(&topic).len(), 2, "records were deleted");
}

/// `(partition, lowWatermark)` of a DELETE response, by partition.
fn low_watermarks(body: &Value) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = body["partitions"]
        .as_array()
        .unwrap_or_else(|| panic!("no partitions array: {body}"))
        .iter()
        .map(|p| {
            (
                p["partition"].as_i64().unwrap(),
                p["lowWatermark"].as_i64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// `(partition, offset, value)` of every record kcat reads.
fn stored(topic: &str) -> Vec<(i32, i64, String)> {
    kcat_read(topic).iter().map(KcatRecord::placed).collect()
}
