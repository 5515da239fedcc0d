//! POST /records against the real broker, checked through kcat (librdkafka),
//! an independent client, so a test passes only when the bytes, partitions,
//! offsets and timestamps that reached Kafka are right, not just the answer.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// Writing: where records go and what the answer says
// ---------------------------------------------------------------------------

#[tokio::test]
async fn records_to_several_topics_are_answered_in_request_order_with_kafka_offsets() {
    let first = new_topic("post-multi-a", 1).await;
    let second = new_topic("post-multi-b", 1).await;
    // Two records already in the first topic, so its offsets do not start at 0.
    kcat_produce(&first, 0, &["earlier-0", "earlier-1"]);
    let svc = Service::start();

    let sent = [
        (&first, "a0"),
        (&second, "b0"),
        (&first, "a1"),
        (&second, "b1"),
        (&second, "b2"),
    ];
    let records: Vec<Value> = sent
        .iter()
        .map(|(t, v)| json!({"topic": t, "value": v}))
        .collect();
    let body = post_ok(&svc, records).await;
    let results = results_of(&body);
    assert_eq!(results.len(), sent.len(), "{body}");

    let answered: Vec<(String, i64, i64)> = results
        .iter()
        .map(|r| {
            (
                r["topic"].as_str().unwrap_or_default().to_string(),
                r["partition"].as_i64().unwrap_or(-1),
                r["offset"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    let expected: Vec<(String, i64, i64)> = vec![
        (first.clone(), 0, 2),
        (second.clone(), 0, 0),
        (first.clone(), 0, 3),
        (second.clone(), 0, 1),
        (second.clone(), 0, 2),
    ];
    assert_eq!(answered, expected, "{body}");

    // Each answered (topic, partition, offset) holds that record's value in Kafka.
    let stored: HashMap<&str, Vec<KcatRecord>> = [
        (first.as_str(), kcat_read(&first)),
        (second.as_str(), kcat_read(&second)),
    ]
    .into_iter()
    .collect();
    assert_eq!(stored[first.as_str()].len(), 4);
    assert_eq!(stored[second.as_str()].len(), 3);
    for ((topic, value), (_, partition, offset)) in sent.iter().zip(&answered) {
        let record = stored[topic.as_str()]
            .iter()
            .find(|r| i64::from(r.partition) == *partition && r.offset == *offset)
            .unwrap_or_else(|| panic!("kcat has no {topic}/{partition}@{offset}"));
        assert_eq!(record.value.as_deref(), Some(value.as_bytes()));
    }
}

#[tokio::test]
async fn a_given_partition_is_where_the_record_goes() {
    let topic = new_topic("post-partition", 3).await;
    let svc = Service::start();

    // Keyed and keyless records alike: without honouring `partition`, keys
    // would be hashed and keyless records would all share one partition.
    let sent = [
        (2, Some("k-a"), "v0"),
        (0, None, "v1"),
        (1, Some("k-b"), "v2"),
        (2, None, "v3"),
        (0, Some("k-c"), "v4"),
        (1, None, "v5"),
    ];
    let records: Vec<Value> = sent
        .iter()
        .map(|(p, k, v)| json!({"topic": topic, "partition": p, "key": k, "value": v}))
        .collect();
    let body = post_ok(&svc, records).await;
    let answered: Vec<i64> = results_of(&body)
        .iter()
        .map(|r| r["partition"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(answered, vec![2, 0, 1, 2, 0, 1], "{body}");

    let stored = kcat_read(&topic);
    assert_eq!(stored.len(), sent.len());
    for (p, _, v) in sent {
        let record = stored
            .iter()
            .find(|r| r.value.as_deref() == Some(v.as_bytes()))
            .unwrap_or_else(|| panic!("kcat has no record {v}"));
        assert_eq!(record.partition, p, "record {v}");
    }
}

#[tokio::test]
async fn each_serializer_writes_the_bytes_the_java_serializer_writes() {
    let topic = new_topic("post-serializers", 1).await;
    let svc = Service::start();

    // Raw text, so that the JSON serializer's value arrives with whitespace to
    // drop and keys out of alphabetical order to keep.
    let body = format!(
        r#"{{"records": [
            {{"topic": "{topic}", "key": "clé", "value": "héllo wörld"}},
            {{"topic": "{topic}", "key": 42, "value": true}},
            {{"topic": "{topic}", "key": 1.5, "value": false, "keySerializer": "string"}},
            {{"topic": "{topic}", "value": "AAEC//4=", "valueSerializer": "bytearray"}},
            {{"topic": "{topic}", "key": -2, "keySerializer": "integer", "value": "123", "valueSerializer": "INTEGER"}},
            {{"topic": "{topic}", "key": 1234567890123, "keySerializer": "long", "value": "-1", "valueSerializer": "Long"}},
            {{"topic": "{topic}", "key": 1.5, "keySerializer": "float", "value": 0.1, "valueSerializer": "float"}},
            {{"topic": "{topic}", "key": "-2.5", "keySerializer": "double", "value": 0.1, "valueSerializer": "double"}},
            {{"topic": "{topic}", "key": "k", "value": {{ "z": 1, "a": [true, null, "x y"], "m": {{ "b": 2.5, "a": "" }} }}, "valueSerializer": "json"}},
            {{"topic": "{topic}", "key": null, "value": null}},
            {{"topic": "{topic}", "key": null, "value": null, "keySerializer": "integer", "valueSerializer": "json"}}
        ]}}"#
    );
    type Bytes = Option<Vec<u8>>;
    let some = |b: &[u8]| Some(b.to_vec());
    let expected: Vec<(Bytes, Bytes)> = vec![
        (some("clé".as_bytes()), some("héllo wörld".as_bytes())),
        (some(b"42"), some(b"true")),
        (some(b"1.5"), some(b"false")),
        (None, some(&[0x00, 0x01, 0x02, 0xff, 0xfe])),
        (some(&(-2i32).to_be_bytes()), some(&123i32.to_be_bytes())),
        (
            some(&1_234_567_890_123i64.to_be_bytes()),
            some(&(-1i64).to_be_bytes()),
        ),
        // 0x3fc00000 and 0x3dcccccd: what Java's FloatSerializer writes.
        (some(&[0x3f, 0xc0, 0, 0]), some(&[0x3d, 0xcc, 0xcc, 0xcd])),
        // -2.5 and 0.1 as IEEE-754 binary64.
        (
            some(&[0xc0, 0x04, 0, 0, 0, 0, 0, 0]),
            some(&[0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a]),
        ),
        (
            some(b"k"),
            some(br#"{"z":1,"a":[true,null,"x y"],"m":{"b":2.5,"a":""}}"#),
        ),
        (None, None),
        (None, None),
    ];

    let (status, answer) = post_raw(&svc, "/records", None, body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let answer: Value = serde_json::from_slice(&answer).expect("JSON answer");
    let results = results_of(&answer);
    assert_eq!(results.len(), expected.len(), "{answer}");

    let stored = kcat_read(&topic);
    assert_eq!(stored.len(), expected.len());
    for (i, ((key, value), (record, result))) in
        expected.iter().zip(stored.iter().zip(&results)).enumerate()
    {
        assert_eq!(record.offset, i as i64);
        assert_eq!(&record.key, key, "record {i}: key bytes as kcat reads them");
        assert_eq!(
            &record.value, value,
            "record {i}: value bytes as kcat reads them"
        );
        assert_eq!(
            result["serializedKeySize"].as_i64(),
            Some(byte_len(key)),
            "record {i}: {result}"
        );
        assert_eq!(
            result["serializedValueSize"].as_i64(),
            Some(byte_len(value)),
            "record {i}: {result}"
        );
    }
}

#[tokio::test]
async fn a_given_timestamp_is_stored_as_create_time_and_echoed() {
    let topic = new_topic("post-timestamp", 1).await;
    let svc = Service::start();

    let given: i64 = 1_600_000_000_123;
    let (status, body) = svc
        .post(json!({"records": [{"topic": topic, "value": "v", "timestamp": given}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        results_of(&body)[0]["timestamp"].as_i64(),
        Some(given),
        "{body}"
    );

    let stored = only_record(&topic);
    assert_eq!(stored.timestamp, given);
}

#[tokio::test]
async fn without_a_timestamp_the_current_time_is_stored_and_echoed() {
    let topic = new_topic("post-now", 1).await;
    let svc = Service::start();

    let before = now_ms();
    let (status, body) = svc
        .post(json!({"records": [{"topic": topic, "value": "v"}]}))
        .await;
    let after = now_ms();
    assert_eq!(status, 200, "{body}");
    let answered = results_of(&body)[0]["timestamp"]
        .as_i64()
        .unwrap_or_else(|| panic!("no timestamp in {body}"));
    let slack = 3 * 60 * 1000;
    assert!(
        (before - slack..=after + slack).contains(&answered),
        "timestamp {answered} is not near now ({before}..{after})"
    );

    let stored = only_record(&topic);
    assert_eq!(stored.timestamp, answered);
}

#[tokio::test]
async fn on_log_append_time_topics_the_answer_gives_the_broker_time() {
    let topic = unique_topic("post-logappend");
    create_topic(&topic, 1, &[("message.timestamp.type", "LogAppendTime")]).await;
    let svc = Service::start();

    let given: i64 = 1_000;
    let (status, body) = svc
        .post(json!({"records": [{"topic": topic, "value": "v", "timestamp": given}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    let answered = results_of(&body)[0]["timestamp"]
        .as_i64()
        .unwrap_or_else(|| panic!("no timestamp in {body}"));

    let stored = only_record(&topic);
    assert_ne!(stored.timestamp, given, "the broker replaces CreateTime");
    assert_eq!(answered, stored.timestamp, "{body}");
}

#[tokio::test]
async fn headers_keep_duplicates_in_order_and_null_values() {
    let topic = new_topic("post-headers", 1).await;
    let svc = Service::start();

    let headers = json!([
        {"key": "a", "value": b64(b"1")},
        {"key": "a", "value": b64(b"2")},
        {"key": "n", "value": null}
    ]);
    let (status, body) = svc
        .post(json!({"records": [{"topic": topic, "value": "v", "headers": headers}]}))
        .await;
    assert_eq!(status, 200, "{body}");

    // kcat renders a header with a null value as `NULL` (and an empty one as
    // `k=`), so this also tells null from empty.
    let stored = only_record(&topic);
    assert_eq!(stored.headers, "a=1,a=2,n=NULL");

    let (status, body) = svc
        .get(&format!(
            "/records/{topic}?distanceFromBeginning=0&limit=10"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let read = body["records"].as_array().cloned().unwrap_or_default();
    assert_eq!(read.len(), 1, "{body}");
    assert_eq!(read[0]["headers"], headers, "{body}");
}

#[tokio::test]
async fn keyed_records_land_where_the_java_partitioner_puts_them() {
    let topic = new_topic("post-murmur", 6).await;
    let reference = new_topic("post-murmur-ref", 6).await;
    let svc = Service::start();

    // ASCII and multi-byte UTF-8 keys of every length mod 4.
    let keys: Vec<String> = (0..30)
        .map(|i| match i % 3 {
            0 => format!("user-{i}"),
            1 => format!("clé-{i}-{}", "x".repeat(i % 4)),
            _ => format!("{i}"),
        })
        .collect();
    let records: Vec<Value> = keys
        .iter()
        .map(|k| json!({"topic": topic, "key": k, "value": "v"}))
        .collect();
    let body = post_ok(&svc, records).await;

    kcat_produce_keyed(
        &reference,
        &keys
            .iter()
            .map(|k| k.as_bytes().to_vec())
            .collect::<Vec<_>>(),
    );
    let java = partitions_by_key(&kcat_read(&reference));
    let ours = partitions_by_key(&kcat_read(&topic));
    assert_eq!(java.len(), keys.len());
    assert!(
        java.values().collect::<BTreeSet<_>>().len() > 1,
        "the reference spreads keys over partitions"
    );
    for key in &keys {
        let key = key.as_bytes();
        assert_eq!(
            ours.get(key),
            java.get(key),
            "key {:?}: ours vs librdkafka's murmur2",
            String::from_utf8_lossy(key)
        );
    }
    // The answer names the partition the record went to.
    for (key, result) in keys.iter().zip(results_of(&body)) {
        assert_eq!(
            result["partition"].as_i64(),
            java.get(key.as_bytes()).map(|p| i64::from(*p)),
            "key {key:?}: {result}"
        );
    }
}

#[tokio::test]
async fn an_integer_key_is_hashed_as_its_four_bytes() {
    let topic = new_topic("post-murmur-int", 6).await;
    let reference = new_topic("post-murmur-int-ref", 6).await;
    let svc = Service::start();

    // kcat reads keys up to a delimiter: leave out ints with a '\n' or ':' byte.
    let ints: Vec<i32> = (1..=40)
        .chain([123_456_789, -1, -987_654_321, i32::MAX, i32::MIN])
        .filter(|n| !n.to_be_bytes().iter().any(|b| *b == b'\n' || *b == b':'))
        .collect();
    let records: Vec<Value> = ints
        .iter()
        .map(|n| json!({"topic": topic, "key": n, "keySerializer": "integer", "value": "v"}))
        .collect();
    post_ok(&svc, records).await;

    // The reference topic gets both the 4-byte keys and their decimal text,
    // to show that the two usually hash to different partitions.
    let binary: Vec<Vec<u8>> = ints.iter().map(|n| n.to_be_bytes().to_vec()).collect();
    let text: Vec<Vec<u8>> = ints.iter().map(|n| n.to_string().into_bytes()).collect();
    kcat_produce_keyed(&reference, &[binary.clone(), text.clone()].concat());
    let java = partitions_by_key(&kcat_read(&reference));
    let ours = partitions_by_key(&kcat_read(&topic));
    assert!(
        binary.iter().zip(&text).any(|(b, t)| java[b] != java[t]),
        "the test needs keys whose bytes and text hash apart"
    );
    for (n, key) in ints.iter().zip(&binary) {
        assert_eq!(
            ours.get(key),
            java.get(key),
            "integer key {n}: ours vs librdkafka's murmur2 of its 4 bytes"
        );
    }
}

#[tokio::test]
async fn keyless_records_of_one_request_share_one_partition() {
    let topic = new_topic("post-sticky", 6).await;
    let svc = Service::start();

    let records: Vec<Value> = (0..24)
        .map(|i| json!({"topic": topic, "value": format!("v{i}")}))
        .collect();
    let body = post_ok(&svc, records).await;
    let answered: BTreeSet<i64> = results_of(&body)
        .iter()
        .map(|r| r["partition"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(answered.len(), 1, "{body}");

    let stored = kcat_read(&topic);
    assert_eq!(stored.len(), 24);
    let partitions: BTreeSet<i64> = stored.iter().map(|r| i64::from(r.partition)).collect();
    assert_eq!(partitions, answered);
    // In request order within the partition.
    let values: Vec<Vec<u8>> = stored.iter().filter_map(|r| r.value.clone()).collect();
    let sent: Vec<Vec<u8>> = (0..24).map(|i| format!("v{i}").into_bytes()).collect();
    assert_eq!(values, sent);
}

#[tokio::test]
async fn keyless_requests_do_not_all_pick_the_same_partition() {
    let topic = new_topic("post-sticky-random", 6).await;
    let svc = Service::start();

    // Twenty one-record requests all on one partition of six: chance 6^-19.
    for i in 0..20 {
        let (status, body) = svc
            .post(json!({"records": [{"topic": topic, "value": format!("v{i}")}]}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let stored = kcat_read(&topic);
    assert_eq!(stored.len(), 20);
    let partitions: BTreeSet<i32> = stored.iter().map(|r| r.partition).collect();
    assert!(
        partitions.len() > 1,
        "every request chose partition {partitions:?}"
    );
}

#[tokio::test]
async fn an_unknown_topic_is_created_by_the_write() {
    let topic = unique_topic("post-autocreate");
    let svc = Service::start();

    let (status, body) = svc
        .post(json!({"records": [{"topic": topic, "key": "k", "value": "created"}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(results_of(&body)[0]["offset"].as_i64(), Some(0), "{body}");

    let stored = eventually(Duration::from_secs(10), || {
        let stored = kcat_read(&topic);
        (!stored.is_empty()).then_some(stored)
    })
    .await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].key.as_deref(), Some(&b"k"[..]));
    assert_eq!(stored[0].value.as_deref(), Some(&b"created"[..]));
}

// ---------------------------------------------------------------------------
// Validation: all or nothing
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_unknown_serializer_rejects_the_whole_request() {
    rejected_and_nothing_written(
        |t| json!({"topic": t, "value": "x", "valueSerializer": "lng"}),
        None,
        &["records[2]", "valueSerializer", "lng"],
    )
    .await;
}

#[tokio::test]
async fn bad_base64_for_bytearray_rejects_the_whole_request() {
    rejected_and_nothing_written(
        |t| json!({"topic": t, "value": "not base64!", "valueSerializer": "bytearray"}),
        None,
        &["records[2]", "value"],
    )
    .await;
}

#[tokio::test]
async fn an_integer_out_of_i32_range_rejects_the_whole_request() {
    rejected_and_nothing_written(
        |t| json!({"topic": t, "key": 2_147_483_648i64, "keySerializer": "integer"}),
        None,
        &["records[2]", "key"],
    )
    .await;
}

#[tokio::test]
async fn a_header_value_that_is_not_base64_rejects_the_whole_request() {
    rejected_and_nothing_written(
        |t| json!({"topic": t, "value": "x", "headers": [{"key": "h", "value": "!!"}]}),
        None,
        &["records[2]", "headers[0]", "value"],
    )
    .await;
}

#[tokio::test]
async fn a_header_without_a_key_rejects_the_whole_request() {
    rejected_and_nothing_written(
        |t| json!({"topic": t, "value": "x", "headers": [{"value": "MQ=="}]}),
        None,
        &["records[2]", "headers[0]", "key"],
    )
    .await;
}

#[tokio::test]
async fn a_record_without_a_topic_rejects_the_whole_request() {
    rejected_and_nothing_written(|_| json!({"value": "x"}), None, &["records[2]", "topic"]).await;
}

#[tokio::test]
async fn an_invalid_topic_name_rejects_the_whole_request() {
    rejected_and_nothing_written(
        |_| json!({"topic": "no spaces allowed", "value": "x"}),
        None,
        &["records[2]", "topic", "no spaces allowed"],
    )
    .await;
}

#[tokio::test]
async fn a_bad_timeout_rejects_the_whole_request() {
    rejected_and_nothing_written(
        |t| json!({"topic": t, "value": "x"}),
        Some(("timeout", json!("5 parsecs"))),
        &["timeout"],
    )
    .await;
}

#[tokio::test]
async fn an_unknown_record_field_rejects_the_whole_request() {
    rejected_and_nothing_written(
        |t| json!({"topic": t, "value": "x", "partiton": 0}),
        None,
        &["records[2]", "partiton"],
    )
    .await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_400() {
    let svc = Service::start();
    let (status, body) = post_raw(&svc, "/records", None, "records: [1, 2]".into()).await;
    assert_error(status, &json_of(&body), 400, &["JSON"]);
}

#[tokio::test]
async fn an_empty_records_array_is_a_400() {
    let svc = Service::start();
    let (status, body) = svc.post(json!({"records": []})).await;
    assert_error(status, &body, 400, &["records"]);
}

#[tokio::test]
async fn a_form_encoded_content_type_is_still_read_as_json() {
    let topic = new_topic("post-curl-d", 1).await;
    let svc = Service::start();

    let body = json!({"records": [{"topic": topic, "value": "from curl -d"}]}).to_string();
    let (status, answer) = post_raw(
        &svc,
        "/records",
        Some("application/x-www-form-urlencoded"),
        body,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));

    let stored = only_record(&topic);
    assert_eq!(stored.value.as_deref(), Some(&b"from curl -d"[..]));
}

#[tokio::test]
async fn an_unknown_query_parameter_is_a_400_naming_it() {
    let topic = new_topic("post-query", 1).await;
    let svc = Service::start();

    let body = json!({"records": [{"topic": topic, "value": "x"}]}).to_string();
    let (status, answer) = post_raw(&svc, "/records?foo=1", None, body).await;
    assert_error(status, &json_of(&answer), 400, &["'foo'"]);
    assert!(kcat_read(&topic).is_empty(), "nothing is written");
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_and_nothing_is_written() {
    let topic = new_topic("post-too-large", 1).await;
    let svc = Service::start_with(&["--max-body-bytes", "1000"], &[]);

    // Under the limit: written, so the 413 below is the limit and nothing else.
    let (status, body) = svc
        .post(json!({"records": [{"topic": topic, "value": "small"}]}))
        .await;
    assert_eq!(status, 200, "{body}");

    let big = json!({"records": [{"topic": topic, "value": "x".repeat(2000)}]}).to_string();
    assert!(big.len() > 2000);
    let (status, answer) = post_raw(&svc, "/records", None, big).await;
    assert_error(status, &json_of(&answer), 413, &[]);

    let stored = only_record(&topic);
    assert_eq!(stored.value.as_deref(), Some(&b"small"[..]));
}

// ---------------------------------------------------------------------------
// Failures while writing, async and timeouts
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_unknown_partition_fails_that_record_only_with_a_404() {
    let topic = new_topic("post-partial", 1).await;
    let svc = Service::start();

    let (status, body) = svc
        .post(json!({"records": [
            {"topic": topic, "partition": 5, "value": "bad"},
            {"topic": topic, "value": "good"}
        ]}))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], 404, "{body}");
    let results = results_of(&body);
    assert_eq!(results.len(), 2, "{body}");
    assert_eq!(results[0]["topic"], topic.as_str(), "{body}");
    assert_eq!(results[0]["partition"], 5, "{body}");
    assert_eq!(results[0]["error"]["code"], 404, "{body}");
    assert!(results[0].get("offset").is_none(), "{body}");
    assert!(results[1].get("error").is_none(), "{body}");
    assert_eq!(results[1]["partition"], 0, "{body}");
    assert_eq!(results[1]["offset"], 0, "{body}");

    let stored = only_record(&topic);
    assert_eq!(stored.value.as_deref(), Some(&b"good"[..]));
}

#[tokio::test]
async fn async_writes_answer_202_at_once_and_arrive_later() {
    let topic = new_topic("post-async", 1).await;
    let svc = Service::start();

    let body = json!({"async": true, "records": [
        {"topic": topic, "value": "a0"},
        {"topic": topic, "value": "a1"},
        {"topic": topic, "value": "a2"}
    ]})
    .to_string();
    let (status, answer) = post_raw(&svc, "/records", None, body).await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&answer));
    assert!(
        answer.is_empty(),
        "202 has an empty body, got {:?}",
        String::from_utf8_lossy(&answer)
    );

    let stored = eventually(Duration::from_secs(15), || {
        let stored = kcat_read(&topic);
        (stored.len() >= 3).then_some(stored)
    })
    .await;
    let values: Vec<Vec<u8>> = stored.iter().filter_map(|r| r.value.clone()).collect();
    assert_eq!(values, vec![b"a0".to_vec(), b"a1".to_vec(), b"a2".to_vec()]);
}

#[tokio::test]
async fn async_writes_are_validated_before_the_202() {
    let topic = new_topic("post-async-invalid", 1).await;
    let svc = Service::start();

    let (status, body) = svc
        .post(json!({"async": true, "records": [
            {"topic": topic, "value": "good"},
            {"topic": topic, "value": "x", "valueSerializer": "lng"}
        ]}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("records[1].valueSerializer"),
        "{body}"
    );
    // Give a background write, if one wrongly started, time to land.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(kcat_read(&topic), vec![], "nothing is written");
}

#[tokio::test]
async fn a_timeout_too_short_for_any_write_is_a_400_not_a_504_after_writing() {
    // Such a write could only end in a 504 after its record may have been
    // written: it is refused first (more in tests/writes.rs).
    let topic = new_topic("post-timeout", 1).await;
    let svc = Service::start();

    // The topic's metadata cannot even be fetched in 1 ns: nothing is sent,
    // so the answer must not say the record may have been written.
    let (status, body) = svc
        .post(json!({"timeout": "1ns", "records": [{"topic": topic, "value": "late"}]}))
        .await;
    assert_error(status, &body, 400, &["timeout", "nothing was written"]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(kcat_read(&topic), vec![], "nothing is written");
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// POSTs a 3-record body whose first two records (to a fresh, pre-created
/// topic) are good and whose third is `bad(topic)`, optionally with one
/// body-level field set; expects a 400 whose message holds every fragment,
/// and the topic still empty.
async fn rejected_and_nothing_written(
    bad: impl Fn(&str) -> Value,
    body_field: Option<(&str, Value)>,
    fragments: &[&str],
) {
    let topic = new_topic("post-invalid", 1).await;
    let svc = Service::start();

    let mut body = json!({"records": [
        {"topic": topic, "key": "k0", "value": "good-0"},
        {"topic": topic, "key": "k1", "value": "good-1"},
        bad(&topic)
    ]});
    if let Some((name, value)) = body_field {
        body[name] = value;
    }
    let (status, answer) = svc.post(body.clone()).await;
    assert_eq!(status, 400, "{body} -> {answer}");
    assert_error(status, &answer, 400, fragments);
    assert_eq!(kcat_read(&topic), vec![], "nothing is written");
}

/// POSTs `body` as is (optionally with a Content-Type); returns status and
/// the raw answer.
async fn post_raw(
    svc: &Service,
    path_and_query: &str,
    content_type: Option<&str>,
    body: String,
) -> (u16, Vec<u8>) {
    let mut request = svc.request(Method::POST, path_and_query);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.body(body).send().await.expect("POST");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("response body");
    (status, bytes.to_vec())
}

/// The one record kcat reads in `topic`.
fn only_record(topic: &str) -> KcatRecord {
    let mut stored = kcat_read(topic);
    assert_eq!(stored.len(), 1, "{stored:?}");
    stored.remove(0)
}

/// An answer's body as JSON.
fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("JSON error body")
}

fn results_of(body: &Value) -> Vec<Value> {
    body["results"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no results in {body}"))
}

fn byte_len(bytes: &Option<Vec<u8>>) -> i64 {
    bytes.as_ref().map_or(-1, |b| b.len() as i64)
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Which partition each key's record is in.
fn partitions_by_key(records: &[KcatRecord]) -> HashMap<Vec<u8>, i32> {
    records
        .iter()
        .map(|r| (r.key.clone().unwrap_or_default(), r.partition))
        .collect()
}

/// Produces one record per key with kcat and librdkafka's `murmur2_random`
/// partitioner, the Java client's default for keyed records. Keys must not
/// contain `:` or a newline (kcat's key and record delimiters here).
fn kcat_produce_keyed(topic: &str, keys: &[Vec<u8>]) {
    let lines: Vec<Vec<u8>> = keys
        .iter()
        .map(|key| {
            assert!(
                !key.contains(&b':') && !key.contains(&b'\n'),
                "key {key:?} holds a delimiter"
            );
            [key, &b":v"[..]].concat()
        })
        .collect();
    Kcat::new()
        .set("partitioner=murmur2_random")
        .produce(topic)
        .keyed()
        .send(&lines);
}

#[tokio::test]
async fn an_unknown_topic_fails_with_404_when_the_broker_does_not_create_topics() {
    let broker = OwnCluster::start("broker", 1, &["auto.create.topics.enable=false"]);
    let existing = unique_topic("noauto-existing");
    kafka_records::kafka::create_topic(&broker.bootstrap, &existing, 1, &[])
        .await
        .unwrap();
    let missing = unique_topic("noauto-missing");
    let svc = Service::on(&broker.bootstrap).start();
    let (status, body) = svc
        .post(json!({"records": [
            {"topic": missing, "value": "lost"},
            {"topic": existing, "value": "kept"},
        ]}))
        .await;
    assert_eq!(status, 404, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results[0]["error"]["code"], 404, "{body}");
    assert!(
        results[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{body}"
    );
    assert_eq!(results[1]["offset"], 0, "{body}");
    // The topic was not created.
    let (status, _) = svc.get(&format!("/records/{missing}")).await;
    assert_eq!(status, 404);
}
