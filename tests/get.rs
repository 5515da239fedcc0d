//! GET /records/{topic}: where reads start, when they return, how records are
//! chosen and decoded, and which requests are refused. Data that should come
//! from an independent client is written with kcat.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

// --- where a read starts ---

#[tokio::test]
async fn distance_from_latest_starts_that_many_before_the_end() {
    let c = Classic::start("from-latest").await;
    let records = c.read("distanceFromLatest=3&limit=2").await;
    assert_eq!(records, Classic::expected(7..9));
}

#[tokio::test]
async fn distance_from_beginning_starts_that_many_after_the_start() {
    let c = Classic::start("from-beginning").await;
    let records = c.read("distanceFromBeginning=2&limit=3").await;
    assert_eq!(records, Classic::expected(2..5));
}

#[tokio::test]
async fn seek_to_starts_at_that_offset() {
    let c = Classic::start("seek-to").await;
    let records = c.read("seekTo=5&limit=2").await;
    assert_eq!(records, Classic::expected(5..7));
}

#[tokio::test]
async fn seek_to_timestamp_starts_at_the_first_record_at_or_after_it() {
    let c = Classic::start("seek-ts").await;
    // Exactly record 4's timestamp, then one between records 3 and 4.
    for ts in [c.base + 4_000, c.base + 3_500] {
        let records = c
            .records(&format!(
                "seekToTimestamp={ts}&limit=2&valueDeserializer=integer"
            ))
            .await;
        assert_eq!(
            keys_and_values(&records),
            Classic::expected(4..6),
            "seekToTimestamp={ts}"
        );
        assert_eq!(records[0]["timestamp"], json!(c.base + 4_000));
    }
}

#[tokio::test]
async fn limit_is_exact_never_more() {
    let c = Classic::start("limit-exact").await;
    let records = c
        .records("distanceFromBeginning=0&limit=4&timeout=10s")
        .await;
    assert_eq!(offsets(&records), vec![(0, 0), (0, 1), (0, 2), (0, 3)]);
}

#[tokio::test]
async fn limit_defaults_to_one() {
    let c = Classic::start("limit-default").await;
    let records = c.records("distanceFromBeginning=0").await;
    assert_eq!(offsets(&records), vec![(0, 0)]);
}

// --- clamping ---

#[tokio::test]
async fn distance_from_latest_past_the_start_is_clamped_to_the_log_start() {
    let c = Classic::start("clamp-latest").await;
    // Truncate so the log start is not 0: a start computed as max(end - n, 0) would be wrong.
    c.truncate_below_3().await;
    let records = c.read("distanceFromLatest=100&limit=2").await;
    assert_eq!(records, Classic::expected(3..5));
}

#[tokio::test]
async fn distance_from_beginning_past_the_end_is_clamped_to_the_end() {
    let c = Classic::start("clamp-beginning").await;
    c.starts_at_the_end("distanceFromBeginning=100").await;
}

#[tokio::test]
async fn seek_to_past_the_end_is_clamped_to_the_end() {
    let c = Classic::start("clamp-seek-end").await;
    c.starts_at_the_end("seekTo=1000").await;
}

#[tokio::test]
async fn seek_to_before_a_truncated_start_is_clamped_to_the_log_start() {
    let c = Classic::start("clamp-seek-start").await;
    c.truncate_below_3().await;
    let records = c.read("seekTo=0&limit=2").await;
    assert_eq!(records, Classic::expected(3..5));
}

#[tokio::test]
async fn seek_to_timestamp_in_the_future_starts_at_the_end() {
    let c = Classic::start("clamp-ts").await;
    let tomorrow = now_ms() + 86_400_000;
    c.starts_at_the_end(&format!("seekToTimestamp={tomorrow}"))
        .await;
}

#[tokio::test]
async fn without_a_seek_only_records_written_while_waiting_are_returned() {
    let c = Classic::start("no-seek").await;
    let records = c.read_while_writing("").await;
    assert_only_live(&records);
}

// --- when a read returns ---

#[tokio::test]
async fn an_idle_topic_answers_an_empty_list_after_the_timeout() {
    let topic = new_topic("idle", 1).await;
    let svc = Service::start();
    let started = Instant::now();
    let (status, body) = svc
        .get(&format!("/records/{topic}?timeout=1s&limit=10"))
        .await;
    assert_eq!((status, records_only(body)), (200, json!({"records": []})));
    // It waited: the request's own deadline is one second after it arrived.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "answered after {:?}, before its 1s timeout",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_read_at_the_end_of_every_partition_returns_without_waiting_for_the_limit() {
    let topic = new_topic("no-wait", 1).await;
    let svc = Service::start();
    kcat_produce(&topic, 0, &["a", "b", "c"]);
    // With a 30 s timeout, waiting for 100 records would trip the 20 s safety net.
    let (status, body) = tokio::time::timeout(
        Duration::from_secs(20),
        svc.get(&format!(
            "/records/{topic}?distanceFromBeginning=0&limit=100&timeout=30s"
        )),
    )
    .await
    .expect("the GET waited for `limit` records instead of returning the 3 it had");
    assert_eq!(status, 200, "{body}");
    let values: Vec<&Value> = body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["value"])
        .collect();
    assert_eq!(values, vec![&json!("a"), &json!("b"), &json!("c")]);
}

#[tokio::test]
async fn a_waiting_read_of_all_partitions_wakes_for_a_record_in_any_of_them() {
    let topic = new_topic("wake-any", 3).await;
    let svc = Service::start();
    // seekTo=0 on the empty topic is each partition's end, whenever it is resolved.
    let get = svc.spawn_get(&format!("/records/{topic}?seekTo=0&limit=10&timeout=30s"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    post_ok(
        &svc,
        vec![json!({"topic": topic, "partition": 2, "value": "late"})],
    )
    .await;
    let (status, body) = tokio::time::timeout(Duration::from_secs(20), get)
        .await
        .expect("the GET did not wake for the record in partition 2")
        .expect("GET task");
    assert_eq!(status, 200, "{body}");
    let records = body["records"].as_array().unwrap();
    assert_eq!(offsets(records), vec![(2, 0)], "{body}");
    assert_eq!(records[0]["value"], json!("late"));
}

#[tokio::test]
async fn reads_span_batches_and_stop_inside_one() {
    let topic = new_topic("batches", 1).await;
    let svc = Service::start();
    // Three kcat runs: three batches of three records.
    kcat_produce(&topic, 0, &["v0", "v1", "v2"]);
    kcat_produce(&topic, 0, &["v3", "v4", "v5"]);
    kcat_produce(&topic, 0, &["v6", "v7", "v8"]);
    let records = read(
        &svc,
        &format!("/records/{topic}?seekTo=2&limit=5&timeout=10s"),
    )
    .await;
    let values: Vec<(i64, &Value)> = records
        .iter()
        .map(|r| (r["offset"].as_i64().unwrap(), &r["value"]))
        .collect();
    assert_eq!(
        values,
        vec![
            (2, &json!("v2")),
            (3, &json!("v3")),
            (4, &json!("v4")),
            (5, &json!("v5")),
            (6, &json!("v6")),
        ]
    );
}

#[tokio::test]
async fn records_compressed_by_another_client_are_read() {
    let topic = unique_topic("compressed");
    let codecs = ["gzip", "snappy", "lz4", "zstd"];
    create_topic(&topic, codecs.len() as i32, &[]).await;
    let svc = Service::start();
    for (partition, codec) in codecs.iter().enumerate() {
        let values = [format!("{codec}-a"), format!("{codec}-b")];
        Kcat::new()
            .produce(&topic)
            .partition(partition as i32)
            .compression(codec)
            .send(&values);
    }
    let records = read(
        &svc,
        &format!("/records/{topic}?distanceFromBeginning=0&limit=100&timeout=10s"),
    )
    .await;
    let got: Vec<(i64, i64, &Value)> = records
        .iter()
        .map(|r| {
            (
                r["partition"].as_i64().unwrap(),
                r["offset"].as_i64().unwrap(),
                &r["value"],
            )
        })
        .collect();
    let expected: Vec<(i64, i64, Value)> = codecs
        .iter()
        .enumerate()
        .flat_map(|(p, codec)| {
            [
                (p as i64, 0, json!(format!("{codec}-a"))),
                (p as i64, 1, json!(format!("{codec}-b"))),
            ]
        })
        .collect();
    assert_eq!(
        got,
        expected
            .iter()
            .map(|(p, o, v)| (*p, *o, v))
            .collect::<Vec<_>>()
    );
}

// --- partitions ---

#[tokio::test]
async fn partition_parameter_reads_only_that_partition() {
    let query = "partition=1&distanceFromBeginning=0&limit=100&timeout=10s";
    let records = read_three_partitions("one-partition", 4, query).await;
    assert_eq!(offsets(&records), vec![(1, 0), (1, 1), (1, 2), (1, 3)]);
    let keys: Vec<&Value> = records.iter().map(|r| &r["key"]).collect();
    assert_eq!(
        keys,
        vec![
            &json!("p1-0"),
            &json!("p1-1"),
            &json!("p1-2"),
            &json!("p1-3")
        ]
    );
}

#[tokio::test]
async fn records_of_all_partitions_are_ordered_by_partition_then_offset() {
    let query = "distanceFromBeginning=0&limit=100&timeout=10s";
    let records = read_three_partitions("ordering", 4, query).await;
    let expected: Vec<(i64, i64)> = (0..3).flat_map(|p| (0..4).map(move |o| (p, o))).collect();
    assert_eq!(offsets(&records), expected);
}

#[tokio::test]
async fn records_beyond_the_limit_are_taken_fairly_across_partitions() {
    let query = "distanceFromBeginning=0&limit=6&timeout=10s";
    let records = read_three_partitions("fair", 7, query).await;
    // Each partition's first two, in partition order.
    let expected: Vec<(i64, i64)> = (0..3).flat_map(|p| (0..2).map(move |o| (p, o))).collect();
    assert_eq!(offsets(&records), expected);
}

// --- deserializers ---

#[tokio::test]
async fn string_deserializer_reads_utf8_text() {
    let read_back = round_trip(
        "string",
        "string",
        vec![json!("héllo ✓"), json!(""), json!("test7")],
    )
    .await;
    assert_eq!(read_back, vec![json!("héllo ✓"), json!(""), json!("test7")]);
}

#[tokio::test]
async fn bytearray_deserializer_reads_base64() {
    let sent = vec![json!("AAEC//4="), json!(""), json!("aGk=")];
    assert_eq!(
        round_trip("bytearray", "bytearray", sent.clone()).await,
        sent
    );
}

#[tokio::test]
async fn integer_deserializer_reads_four_byte_integers() {
    let sent = vec![json!(7), json!(i32::MIN), json!(i32::MAX), json!(-1)];
    assert_eq!(round_trip("integer", "integer", sent.clone()).await, sent);
}

#[tokio::test]
async fn long_deserializer_reads_eight_byte_integers() {
    // 2^53 + 1 does not survive a detour through f64.
    let sent = vec![
        json!(9_007_199_254_740_993_i64),
        json!(i64::MIN),
        json!(i64::MAX),
    ];
    assert_eq!(round_trip("long", "long", sent.clone()).await, sent);
}

#[tokio::test]
async fn float_deserializer_reads_the_shortest_number_for_the_f32() {
    let read_back = round_trip(
        "float",
        "float",
        vec![json!(0.1), json!(-1.5), json!(3.4028235e38), json!(0)],
    )
    .await;
    // 0.1 comes back as 0.1, not as the f64 widening 0.10000000149011612.
    let texts: Vec<String> = read_back.iter().map(Value::to_string).collect();
    assert_eq!(texts[0], "0.1");
    assert_eq!(texts[1], "-1.5");
    let numbers: Vec<f64> = read_back.iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(numbers, vec![0.1, -1.5, 3.4028235e38, 0.0]);
}

#[tokio::test]
async fn double_deserializer_reads_eight_byte_floats() {
    let read_back = round_trip(
        "double",
        "double",
        vec![
            json!(0.1),
            json!(-2.5),
            json!(1e300),
            json!(f64::MIN_POSITIVE),
        ],
    )
    .await;
    let texts: Vec<String> = read_back.iter().map(Value::to_string).collect();
    assert_eq!(texts[0], "0.1");
    assert_eq!(texts[1], "-2.5");
    let numbers: Vec<f64> = read_back.iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(numbers, vec![0.1, -2.5, 1e300, f64::MIN_POSITIVE]);
}

#[tokio::test]
async fn json_deserializer_embeds_the_stored_value() {
    let sent = vec![
        json!({"a": [1, 2, {"b": null}], "c": "x"}),
        json!("text"),
        json!(3),
        json!(true),
        json!([]),
    ];
    assert_eq!(round_trip("json", "json", sent.clone()).await, sent);
}

#[tokio::test]
async fn non_finite_floats_and_doubles_read_back_as_strings() {
    let topic = new_topic("non-finite", 2).await;
    let svc = Service::start();
    let specials = ["NaN", "Infinity", "-Infinity"];
    let mut records = Vec::new();
    for (partition, serializer) in [(0, "float"), (1, "double")] {
        for s in specials {
            records.push(json!({"topic": topic, "partition": partition,
                                "value": s, "valueSerializer": serializer}));
        }
    }
    post_ok(&svc, records).await;
    for (partition, deserializer) in [(0, "float"), (1, "double")] {
        let records = read(
            &svc,
            &format!(
                "/records/{topic}?partition={partition}&distanceFromBeginning=0&limit=10&timeout=10s&valueDeserializer={deserializer}"
            ),
        )
        .await;
        let values: Vec<&Value> = records.iter().map(|r| &r["value"]).collect();
        assert_eq!(
            values,
            vec![&json!("NaN"), &json!("Infinity"), &json!("-Infinity")],
            "{deserializer}"
        );
    }
}

#[tokio::test]
async fn deserializer_names_are_case_insensitive() {
    let c = Classic::start("case").await;
    let records = c
        .records("seekTo=7&limit=1&valueDeserializer=INTEGER&keyDeserializer=StRiNg")
        .await;
    assert_eq!(keys_and_values(&records), Classic::expected(7..8));
}

#[tokio::test]
async fn bytes_that_are_not_an_integer_are_a_422_naming_where() {
    let query = "seekTo=1&limit=1&timeout=10s&valueDeserializer=integer";
    undecodable_is_a_422(&["ok!!", "abc"], query, "offset 1").await;
}

#[tokio::test]
async fn bytes_that_are_not_json_are_a_422_naming_where() {
    let query = "distanceFromBeginning=0&limit=1&timeout=10s&valueDeserializer=json";
    undecodable_is_a_422(&[r#"{"a":"#], query, "offset 0").await;
}

#[tokio::test]
async fn string_deserializer_replaces_invalid_utf8() {
    let read_back = round_trip("bytearray", "string", vec![json!("/w==")]).await;
    assert_eq!(read_back, vec![json!("\u{FFFD}")]);
}

// --- record fields ---

#[tokio::test]
async fn headers_come_back_in_stored_order_with_duplicates() {
    assert_eq!(
        headers_read_back("headers", &["a=1", "a=2", "b=x"]).await,
        json!([
            {"key": "a", "value": "MQ=="},
            {"key": "a", "value": "Mg=="},
            {"key": "b", "value": "eA=="},
        ])
    );
}

#[tokio::test]
async fn null_and_empty_header_values_are_kept_apart() {
    // kcat writes `-H n` with a null value and `-H e=` with an empty one.
    assert_eq!(
        headers_read_back("header-null", &["n", "e="]).await,
        json!([{"key": "n", "value": null}, {"key": "e", "value": ""}])
    );
}

#[tokio::test]
async fn serialized_sizes_are_byte_lengths_and_minus_one_for_null() {
    let topic = new_topic("sizes", 1).await;
    let svc = Service::start();
    post_ok(
        &svc,
        vec![
            json!({"topic": topic, "key": null, "value": null}),
            json!({"topic": topic, "key": "test7", "value": 7, "valueSerializer": "integer"}),
        ],
    )
    .await;
    let records = read(
        &svc,
        &format!("/records/{topic}?distanceFromBeginning=0&limit=2&timeout=10s&valueDeserializer=integer"),
    )
    .await;
    assert_eq!(records.len(), 2);
    let sizes: Vec<(&Value, &Value, &Value, &Value)> = records
        .iter()
        .map(|r| {
            (
                &r["serializedKeySize"],
                &r["serializedValueSize"],
                &r["key"],
                &r["value"],
            )
        })
        .collect();
    assert_eq!(
        sizes,
        vec![
            (&json!(-1), &json!(-1), &Value::Null, &Value::Null),
            (&json!(5), &json!(4), &json!("test7"), &json!(7)),
        ]
    );
}

#[tokio::test]
async fn leader_epoch_is_zero_on_a_fresh_topic() {
    let topic = new_topic("epoch", 1).await;
    let svc = Service::start();
    kcat_produce(&topic, 0, &["v"]);
    let records = read(
        &svc,
        &format!("/records/{topic}?distanceFromBeginning=0&timeout=10s"),
    )
    .await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["leaderEpoch"], json!(0), "{}", records[0]);
    assert_eq!(records[0]["topic"], json!(topic));
    assert_eq!(records[0]["partition"], json!(0));
    assert_eq!(records[0]["offset"], json!(0));
    assert!(records[0]["timestamp"].as_i64().unwrap() > 0);
}

// --- refused requests ---

#[tokio::test]
async fn an_unknown_topic_is_a_404_and_is_not_created() {
    let svc = Service::start();
    assert_unknown_topic_not_created(&svc, Method::GET, "?timeout=1s").await;
}

#[tokio::test]
async fn an_unknown_partition_is_a_404() {
    let topic = new_topic("no-partition", 1).await;
    let svc = Service::start();
    let (status, body) = svc
        .get(&format!("/records/{topic}?partition=9&timeout=1s"))
        .await;
    assert_error(status, &body, 404, &["9"]);
}

#[tokio::test]
async fn an_unknown_parameter_is_a_400_naming_it_and_the_known_ones() {
    let c = Classic::start("typo").await;
    let (status, body) = c.get("distanceFromLastest=3").await;
    assert_error(
        status,
        &body,
        400,
        &[
            "distanceFromLastest",
            "distanceFromLatest",
            "distanceFromBeginning",
            "seekTo",
            "limit",
        ],
    );
}

#[tokio::test]
async fn two_seek_parameters_are_a_400() {
    let c = Classic::start("two-seeks").await;
    let (status, body) = c.get("distanceFromLatest=3&seekTo=1").await;
    assert_error(status, &body, 400, &["distanceFromLatest", "seekTo"]);
}

#[tokio::test]
async fn a_limit_below_one_or_not_a_number_is_a_400() {
    let c = Classic::start("bad-limit").await;
    for limit in ["0", "abc", "-1"] {
        let (status, body) = c.get(&format!("seekTo=0&limit={limit}")).await;
        assert_error(status, &body, 400, &["limit", limit]);
    }
}

#[tokio::test]
async fn a_timeout_without_a_known_unit_is_a_400() {
    let c = Classic::start("bad-timeout").await;
    let (status, body) = c.get("seekTo=0&timeout=5parsecs").await;
    assert_error(status, &body, 400, &["timeout", "5parsecs"]);
}

#[tokio::test]
async fn an_unknown_deserializer_is_a_400() {
    let c = Classic::start("bad-deserializer").await;
    let (status, body) = c.get("seekTo=0&valueDeserializer=thrift").await;
    assert_error(status, &body, 400, &["valueDeserializer", "thrift"]);
    let (status, body) = c.get("seekTo=0&keyDeserializer=int").await;
    assert_error(status, &body, 400, &["keyDeserializer", "int"]);
}

#[tokio::test]
async fn a_repeated_parameter_is_a_400() {
    let c = Classic::start("repeated").await;
    let (status, body) = c.get("seekTo=0&limit=1&limit=2").await;
    assert_error(status, &body, 400, &["limit"]);
}

// --- concurrency ---

#[tokio::test]
async fn waiting_reads_do_not_hold_up_writes_or_deletes() {
    let idle = new_topic("hol-idle", 1).await;
    let written = new_topic("hol-post", 1).await;
    let deleted = new_topic("hol-delete", 1).await;
    kcat_produce(&deleted, 0, &["x", "y"]);
    let svc = Service::start();

    // seekTo=0 on the empty topic is its end, however late each GET resolves
    // it, so every GET is sure to see the record written below at offset 0.
    let gets: Vec<JoinHandle<(u16, Value)>> = (0..200)
        .map(|_| svc.spawn_get(&format!("/records/{idle}?seekTo=0&timeout=15s")))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let (status, body) = svc
        .post(json!({"records": [{"topic": written, "value": "w"}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = svc.delete(&format!("/records/{deleted}")).await;
    assert_eq!(status, 200, "{body}");
    let finished = gets.iter().filter(|g| g.is_finished()).count();
    assert_eq!(
        finished, 0,
        "{finished} of 200 GETs finished before the POST and DELETE returned"
    );

    post_ok(&svc, vec![json!({"topic": idle, "value": "wake"})]).await;
    let results = tokio::time::timeout(
        Duration::from_secs(60),
        futures_util::future::join_all(gets),
    )
    .await
    .expect("the waiting GETs did not return");
    for result in results {
        let (status, body) = result.expect("GET task");
        assert_eq!(status, 200, "{body}");
        let records = body["records"].as_array().unwrap();
        assert_eq!(records.len(), 1, "{body}");
        assert_eq!(records[0]["value"], json!("wake"));
        assert_eq!(records[0]["offset"], json!(0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_reads_on_one_partition_share_their_broker_fetches() {
    let topic = new_topic("shared-wait", 1).await;
    let server = kafka_records::server::Server::bind(&kafka_records::Config::for_bootstrap(
        &common::bootstrap(),
    ))
    .await
    .unwrap();
    let cluster = server.cluster();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run(std::future::pending()));

    let http = reqwest::Client::new();
    let gets: Vec<_> = (0..100)
        .map(|_| {
            let http = http.clone();
            let url = format!("http://{addr}/records/{topic}?timeout=3s");
            tokio::spawn(async move {
                let r = http.get(url).send().await.expect("GET");
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.expect("JSON body"))
            })
        })
        .collect();
    let results = tokio::time::timeout(
        Duration::from_secs(60),
        futures_util::future::join_all(gets),
    )
    .await
    .expect("the waiting GETs did not return");
    for result in results {
        let (status, body) = result.expect("GET task");
        assert_eq!((status, records_only(body)), (200, json!({"records": []})));
    }
    let shared = cluster.shared_fetches_started();
    // One per round of up to 2 s, renewed while anyone waits: a handful, not one per GET.
    assert!(
        (1..=10).contains(&shared),
        "100 waiting GETs started {shared} shared fetches"
    );
}

// --- helpers ---

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A service and a one-partition topic holding the README's example: keys
/// `test0..test9`, integer values `0..9`, record `i` stamped `base + i`
/// seconds (an hour ago).
struct Classic {
    svc: Service,
    topic: String,
    /// The first record's timestamp.
    base: i64,
}

impl Classic {
    async fn start(prefix: &str) -> Classic {
        let svc = Service::start();
        let topic = new_topic(prefix, 1).await;
        let base = now_ms() - 3_600_000;
        let records = (0..10)
            .map(|i| {
                json!({"topic": topic, "key": format!("test{i}"), "value": i,
                       "valueSerializer": "integer", "timestamp": base + i * 1000})
            })
            .collect();
        let body = post_ok(&svc, records).await;
        let written: Vec<(i64, i64)> = body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["offset"].as_i64().unwrap(),
                    r["timestamp"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            written,
            (0..10).map(|i| (i, base + i * 1000)).collect::<Vec<_>>()
        );
        Classic { svc, topic, base }
    }

    /// `(offset, key, value)` of records `offsets`, as [`Classic::read`]
    /// returns them.
    fn expected(offsets: std::ops::Range<i64>) -> Vec<(i64, Value, Value)> {
        offsets
            .map(|i| (i, json!(format!("test{i}")), json!(i)))
            .collect()
    }

    /// `GET /records/{topic}?{query}`.
    async fn get(&self, query: &str) -> (u16, Value) {
        self.svc
            .get(&format!("/records/{}?{query}", self.topic))
            .await
    }

    /// The records `GET /records/{topic}?{query}` returns (200 or fail).
    async fn records(&self, query: &str) -> Vec<Value> {
        read(&self.svc, &format!("/records/{}?{query}", self.topic)).await
    }

    /// `(offset, key, value)` of the records a GET with `query` returns, its
    /// values read as integers.
    async fn read(&self, query: &str) -> Vec<(i64, Value, Value)> {
        let records = self
            .records(&format!("{query}&valueDeserializer=integer"))
            .await;
        keys_and_values(&records)
    }

    /// Deletes the records below offset 3, so the log no longer starts at 0.
    async fn truncate_below_3(&self) {
        let (status, body) = self
            .svc
            .delete(&format!("/records/{}?offset=3", self.topic))
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// A read with `seek` finds nothing within a second, and one that waits
    /// returns only records written while it waits: it started at the end,
    /// not somewhere past it.
    async fn starts_at_the_end(&self, seek: &str) {
        let answer = self.get(&format!("{seek}&limit=100&timeout=1s")).await;
        assert_eq!(
            (answer.0, records_only(answer.1)),
            (200, json!({"records": []}))
        );
        let records = self.read_while_writing(seek).await;
        assert_only_live(&records);
    }

    /// Starts a GET with `query` (plus a long timeout and a large limit),
    /// writing records `live0`, `live1`, ... (values 100, 101, ...) while it
    /// waits (see [`read_while_writing`]).
    async fn read_while_writing(&self, query: &str) -> Vec<Value> {
        let topic = &self.topic;
        let path =
            format!("/records/{topic}?{query}&limit=100&timeout=30s&valueDeserializer=integer");
        read_while_writing(&self.svc, &path, |n| {
            json!({"topic": topic, "key": format!("live{n}"), "value": 100 + n,
                   "valueSerializer": "integer"})
        })
        .await
    }
}

/// A GET with `query` of a topic kcat filled with `values` (partition 0)
/// is a 422 naming the topic, the partition, `offset` and the value.
async fn undecodable_is_a_422(values: &[&str], query: &str, offset: &str) {
    let topic = new_topic("undecodable", 1).await;
    let svc = Service::start();
    kcat_produce(&topic, 0, values);
    let (status, body) = svc.get(&format!("/records/{topic}?{query}")).await;
    assert_error(
        status,
        &body,
        422,
        &[&topic, "partition 0", offset, "value"],
    );
}

/// The headers GET returns for the one record kcat wrote with `headers`
/// (`-H`) to a topic of its own.
async fn headers_read_back(prefix: &str, headers: &[&str]) -> Value {
    let topic = new_topic(prefix, 1).await;
    let svc = Service::start();
    let produce = Kcat::new().produce(&topic).partition(0);
    let produce = headers.iter().fold(produce, |p, h| p.header(h));
    produce.send(&["v"]);
    let records = read(
        &svc,
        &format!("/records/{topic}?distanceFromBeginning=0&timeout=10s"),
    )
    .await;
    assert_eq!(records.len(), 1);
    records[0]["headers"].clone()
}

/// The records `GET /records/{topic}?{query}` returns from a three-partition
/// topic with `per_partition` records in each, keys `p{partition}-{n}`,
/// written interleaved (partition 2 first).
async fn read_three_partitions(prefix: &str, per_partition: usize, query: &str) -> Vec<Value> {
    let svc = Service::start();
    let topic = new_topic(prefix, 3).await;
    let records = (0..per_partition)
        .flat_map(|n| {
            let topic = topic.clone();
            [2, 0, 1].into_iter().map(
                move |p| json!({"topic": topic, "partition": p, "key": format!("p{p}-{n}"), "value": n}),
            )
        })
        .collect();
    post_ok(&svc, records).await;
    read(&svc, &format!("/records/{topic}?{query}")).await
}

/// Every record is one written by `read_while_writing`, none of the ten
/// written before, and there is at least one.
fn assert_only_live(records: &[Value]) {
    assert!(
        !records.is_empty(),
        "the GET returned none of the records written while it waited"
    );
    for r in records {
        let key = r["key"].as_str().unwrap_or("");
        assert!(
            key.starts_with("live") && r["offset"].as_i64().unwrap() >= 10,
            "an older record came back: {r}"
        );
        assert_eq!(r["value"], json!(100 + key[4..].parse::<i64>().unwrap()));
    }
}

/// `(offset, key, value)` of each record, in response order.
fn keys_and_values(records: &[Value]) -> Vec<(i64, Value, Value)> {
    records
        .iter()
        .map(|r| {
            (
                r["offset"].as_i64().unwrap(),
                r["key"].clone(),
                r["value"].clone(),
            )
        })
        .collect()
}

/// POSTs each of `values` as both key and value with `serializer`, reads them
/// back with `deserializer` for both, checks each key equals its value, and
/// returns the values in order.
async fn round_trip(serializer: &str, deserializer: &str, values: Vec<Value>) -> Vec<Value> {
    let topic = new_topic(&format!("serde-{serializer}-{deserializer}"), 1).await;
    let svc = Service::start();
    let n = values.len();
    let records = values
        .into_iter()
        .map(|v| {
            json!({"topic": topic, "key": v, "value": v,
                   "keySerializer": serializer, "valueSerializer": serializer})
        })
        .collect();
    post_ok(&svc, records).await;
    let records = read(
        &svc,
        &format!(
            "/records/{topic}?distanceFromBeginning=0&limit={n}&timeout=10s&keyDeserializer={deserializer}&valueDeserializer={deserializer}"
        ),
    )
    .await;
    assert_eq!(records.len(), n, "{records:?}");
    records
        .iter()
        .map(|r| {
            assert_eq!(r["key"], r["value"], "key and value differ: {r}");
            r["value"].clone()
        })
        .collect()
}

#[tokio::test]
async fn partitions_whose_batches_exceed_the_fetch_size_are_still_read() {
    // One ~210 KB batch per partition: bigger than the per-partition fetch
    // size of a small read, so the broker cuts every batch but the first.
    let topic = new_topic("big-batches", 3).await;
    let svc = Service::start();
    let value = "v".repeat(100);
    let records: Vec<Value> = (0..3)
        .flat_map(|p| (0..2000).map(move |_| p))
        .map(|p| json!({"topic": topic, "partition": p, "value": value}))
        .collect();
    let (status, body) = svc.post(json!({ "records": records })).await;
    assert_eq!(status, 200, "{}", body["message"]);
    let (status, body) = svc
        .get(&format!(
            "/records/{topic}?distanceFromBeginning=0&limit=30&timeout=5s"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let per_partition: Vec<usize> = (0..3)
        .map(|p| {
            body["records"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["partition"] == p)
                .count()
        })
        .collect();
    assert_eq!(
        per_partition,
        vec![10, 10, 10],
        "every partition must be read"
    );
}
