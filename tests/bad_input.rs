//! Bad input over HTTP, one table per endpoint: every body field and query
//! parameter with wrong JSON types, numbers out of range, bad encodings,
//! malformed or hostile JSON, unknown names, repeats and bad durations.
//!
//! Each case must be answered with its 4xx status and the JSON error body
//! `{"code": <status>, "message": ...}` whose message names the field or
//! parameter at fault. Each table targets one topic holding known records,
//! and afterwards kcat (an independent client) must find exactly those
//! records: nothing written, nothing deleted. Cases naming a topic that does
//! not exist must not create it. All failing cases are reported together.

mod common;

use std::time::Duration;

use common::*;
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde_json::{json, Value};

/// One bad request and what it must be answered with.
struct Case {
    name: String,
    method: Method,
    /// Path and query, sent as is (percent-encode what must be).
    path: String,
    /// The raw body: may be invalid UTF-8 or truncated JSON.
    body: Vec<u8>,
    status: u16,
    /// Each must appear in the error message.
    needles: Vec<String>,
}

fn case(
    name: impl Into<String>,
    method: Method,
    path: impl Into<String>,
    body: impl Into<Vec<u8>>,
    status: u16,
    needles: &[&str],
) -> Case {
    Case {
        name: name.into(),
        method,
        path: path.into(),
        body: body.into(),
        status,
        needles: needles.iter().map(|n| n.to_string()).collect(),
    }
}

/// Sends every case and returns a description of each that was not
/// answered as expected.
async fn run(svc: &Service, cases: &[Case]) -> Vec<String> {
    let mut failures = Vec::new();
    for c in cases {
        // Every case is refused at once; a service that waits instead fails the case.
        let mut request = svc
            .request(c.method.clone(), &c.path)
            .timeout(Duration::from_secs(15));
        if c.method == Method::POST {
            // What `curl -d` sends: the body is JSON whatever the type says.
            request = request
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(c.body.clone());
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: no answer: {e}", c.name));
                continue;
            }
        };
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = response.bytes().await.unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let body: Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(_) => {
                failures.push(format!(
                    "{}: {status} with a body that is not JSON: {text}",
                    c.name
                ));
                continue;
            }
        };
        let mut wrong = Vec::new();
        if status != c.status {
            wrong.push(format!("status {status}, expected {}", c.status));
        }
        if !content_type.starts_with("application/json") {
            wrong.push(format!("content type {content_type:?}"));
        }
        if body["code"] != json!(status) {
            wrong.push("code is not the status".to_string());
        }
        match body["message"].as_str() {
            None => wrong.push("no message".to_string()),
            Some(message) => {
                for needle in &c.needles {
                    if !message.contains(needle.as_str()) {
                        wrong.push(format!("message lacks {needle:?}"));
                    }
                }
            }
        }
        if !wrong.is_empty() {
            let shown: String = text.chars().take(600).collect();
            failures.push(format!("{}: {}; body: {shown}", c.name, wrong.join(", ")));
        }
    }
    failures
}

fn report(group: &str, cases: &[Case], failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} of {} {group} cases failed:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
}

// ---------------------------------------------------------------------------
// POST /records
// ---------------------------------------------------------------------------

/// The most a body may have in the POST table's service.
const MAX_BODY: usize = 1 << 20;

fn post_cases(topic: &str, fresh: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut raw = |name: &str, body: Vec<u8>, status: u16, needles: &[&str]| {
        cases.push(case(name, Method::POST, "/records", body, status, needles));
    };
    // A body with `fields` (JSON text) added to a record of `topic`.
    let record = |fields: &str| format!(r#"{{"topic": "{topic}"{fields}}}"#);
    let body = |fields: &str| format!(r#"{{"records": [{}]}}"#, record(fields)).into_bytes();

    // --- the body as a whole: syntax, encoding, nesting ---
    let deep = |prefix: &str, open: &str, n: usize| {
        let mut b = prefix.as_bytes().to_vec();
        b.extend(open.repeat(n).into_bytes());
        b
    };
    let not_json = "the body is not valid JSON";
    raw("empty body", vec![], 400, &[not_json, "EOF"]);
    raw(
        "not JSON",
        b"records=1".to_vec(),
        400,
        &[not_json, "line 1 column 1"],
    );
    let mut truncated = body(r#", "value": "v""#);
    truncated.truncate(truncated.len() - 3);
    raw(
        "truncated JSON",
        truncated,
        400,
        &[not_json, "EOF while parsing"],
    );
    let mut trailing = body("");
    trailing.extend(b" {}");
    raw(
        "trailing data",
        trailing,
        400,
        &[not_json, "trailing characters"],
    );
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend(body(""));
    raw("byte order mark", bom, 400, &[not_json, "line 1 column 1"]);
    let mut bad_value = format!(r#"{{"records": [{{"topic": "{topic}", "value": "a"#).into_bytes();
    bad_value.extend(b"\xFF\xFEb\"}]}");
    raw(
        "invalid UTF-8 in a value",
        bad_value,
        400,
        &[not_json, "invalid unicode code point", "column"],
    );
    let mut bad_topic = format!(r#"{{"records": [{{"topic": "{topic}"#).into_bytes();
    bad_topic.extend(b"\xC3\x28\"}]}");
    raw(
        "invalid UTF-8 in the topic",
        bad_topic,
        400,
        &[not_json, "invalid unicode code point"],
    );
    raw(
        "invalid UTF-8 between tokens",
        b"{\"records\": \xFF[]}".to_vec(),
        400,
        &[not_json],
    );
    raw(
        "lone surrogate escape",
        body(r#", "value": "\ud800""#),
        400,
        &[not_json, "escape"],
    );
    raw(
        "raw control character in a string",
        body(", \"value\": \"a\nb\""),
        400,
        &[not_json, "control character"],
    );
    raw("NaN literal", body(r#", "value": NaN"#), 400, &[not_json]);
    raw(
        "100k nested arrays",
        deep("", "[", 100_000),
        400,
        &[not_json, "recursion limit exceeded"],
    );
    raw(
        "100k nested arrays in records",
        deep(r#"{"records": "#, "[", 100_000),
        400,
        &[not_json, "recursion limit exceeded"],
    );
    raw(
        "100k nested objects in a value",
        deep(
            &format!(r#"{{"records": [{{"topic": "{topic}", "valueSerializer": "json", "value": "#),
            r#"{"a": "#,
            100_000,
        ),
        400,
        &[not_json, "recursion limit exceeded"],
    );
    raw(
        "200 nested arrays in a json value, closed",
        format!(
            r#"{{"records": [{{"topic": "{topic}", "valueSerializer": "json", "value": {}{}}}]}}"#,
            "[".repeat(200),
            "]".repeat(200)
        )
        .into_bytes(),
        400,
        &[not_json, "recursion limit exceeded"],
    );
    let object = "the body must be a JSON object with a 'records' array";
    for (name, text) in [
        ("an array", "[]"),
        ("a string", r#""records""#),
        ("a number", "1e400"),
        ("null", "null"),
    ] {
        raw(
            &format!("the body is {name}"),
            text.as_bytes().to_vec(),
            400,
            &[object],
        );
    }
    let mut oversized = body(r#", "value": ""#);
    oversized.truncate(oversized.len() - 2);
    oversized.extend(vec![b'x'; MAX_BODY]);
    oversized.extend(br#""}]}"#);
    raw(
        "a body over the limit",
        oversized,
        413,
        &[&format!("larger than {MAX_BODY} bytes"), "fewer records"],
    );

    // --- body fields ---
    let rec = record("");
    let with = |fields: &str| format!(r#"{{"records": [{rec}]{fields}}}"#).into_bytes();
    raw(
        "records missing",
        b"{}".to_vec(),
        400,
        &["records: is required"],
    );
    raw(
        "records null",
        br#"{"records": null}"#.to_vec(),
        400,
        &["records: is required"],
    );
    for (name, text, got) in [
        ("object", "{}", "an object"),
        ("string", r#""r""#, "a string"),
        ("number", "1", "a number"),
        ("boolean", "true", "a boolean"),
    ] {
        raw(
            &format!("records is {name}"),
            format!(r#"{{"records": {text}}}"#).into_bytes(),
            400,
            &[&format!("records: must be an array, got {got}")],
        );
    }
    raw(
        "records empty",
        br#"{"records": []}"#.to_vec(),
        400,
        &["records: must hold at least one record"],
    );
    raw(
        "records[1] a number",
        format!(r#"{{"records": [{rec}, 1]}}"#).into_bytes(),
        400,
        &["records[1]: must be an object, got a number"],
    );
    raw(
        "records[0] null",
        br#"{"records": [null]}"#.to_vec(),
        400,
        &["records[0]: must be an object, got null"],
    );
    raw(
        "unknown body field",
        with(r#", "recrods": []"#),
        400,
        &[
            "unknown field 'recrods'",
            "known fields: records, transactionId, async, timeout",
        ],
    );
    raw(
        "records given twice",
        format!(r#"{{"records": [{{"topic": "{fresh}"}}], "records": [{rec}]}}"#).into_bytes(),
        400,
        &["records: given more than once"],
    );
    for (name, value, needle) in [
        (
            "a number",
            "5",
            "transactionId: must be a string, got a number",
        ),
        (
            "an object",
            "{}",
            "transactionId: must be a string, got an object",
        ),
        ("empty", r#""""#, "transactionId: must not be empty"),
        (
            "4097 bytes",
            &format!(r#""{}""#, "t".repeat(4097)),
            "transactionId: is 4097 bytes long",
        ),
    ] {
        raw(
            &format!("transactionId {name}"),
            with(&format!(r#", "transactionId": {value}"#)),
            400,
            &[needle],
        );
    }
    for (name, value) in [
        ("a string", r#""true""#),
        ("a number", "1"),
        ("an array", "[]"),
    ] {
        raw(
            &format!("async {name}"),
            with(&format!(r#", "async": {value}"#)),
            400,
            &["async: must be true or false"],
        );
    }
    for (name, value, needle) in [
        ("a number", "5", "timeout: must be a duration string"),
        (
            "an object",
            r#"{"s": 5}"#,
            "timeout: must be a duration string",
        ),
        ("without unit", r#""5""#, "timeout: '5' is not a duration"),
        ("empty", r#""""#, "timeout: '' is not a duration"),
        ("negative", r#""-1s""#, "timeout: '-1s' is not a duration"),
        (
            "unknown unit",
            r#""5 parsecs""#,
            "timeout: '5 parsecs' is not a duration",
        ),
        (
            "two dots",
            r#""1.5.2s""#,
            "timeout: '1.5.2s' is not a duration",
        ),
        (
            "beyond u64",
            r#""99999999999999999999s""#,
            "timeout: '99999999999999999999s' is not a duration",
        ),
        (
            "u64::MAX seconds",
            r#""18446744073709551615s""#,
            "timeout: '18446744073709551615s' is longer than the maximum of 365days",
        ),
        (
            "366 days",
            r#""366days""#,
            "timeout: '366days' is longer than the maximum",
        ),
    ] {
        // Each says what to do: the JSON type, or the duration, to use.
        let hint = if value.starts_with('"') {
            "; use a"
        } else {
            r#"such as "5s" or "1500ms""#
        };
        raw(
            &format!("timeout {name}"),
            with(&format!(r#", "timeout": {value}"#)),
            400,
            &[needle, hint],
        );
    }
    raw(
        "timeout given twice",
        with(r#", "timeout": "1s", "timeout": "2s""#),
        400,
        &["timeout: given more than once"],
    );
    raw(
        "async with a bad record",
        format!(
            r#"{{"async": true, "records": [{rec}, {}]}}"#,
            record(r#", "partition": -1"#)
        )
        .into_bytes(),
        400,
        &["records[1].partition: must be an integer from 0 to 2147483647, got -1"],
    );

    // --- record fields; the bad record is second, after a valid one ---
    let second =
        |fields: &str| format!(r#"{{"records": [{rec}, {}]}}"#, record(fields)).into_bytes();
    raw(
        "topic missing",
        br#"{"records": [{"value": "v"}]}"#.to_vec(),
        400,
        &["records[0].topic: is required"],
    );
    raw(
        "topic null",
        br#"{"records": [{"topic": null}]}"#.to_vec(),
        400,
        &["records[0].topic: is required"],
    );
    for (name, value, needle) in [
        (
            "a number",
            "5",
            "records[0].topic: must be a string, got a number",
        ),
        (
            "an array",
            r#"["t"]"#,
            "records[0].topic: must be a string, got an array",
        ),
        ("empty", r#""""#, "records[0].topic: '' must not be empty"),
        (
            "250 characters",
            &format!(r#""{}""#, "a".repeat(250)),
            "is 250 characters long; Kafka allows at most 249",
        ),
        (
            "a slash",
            r#""a/b""#,
            "records[0].topic: 'a/b' contains '/'",
        ),
        (
            "a space",
            r#""a b""#,
            "records[0].topic: 'a b' contains ' '",
        ),
        (
            "non-ASCII",
            r#""caf\u00e9""#,
            "records[0].topic: 'café' contains 'é'",
        ),
        ("a NUL", r#""a\u0000""#, r"contains '\0'"),
        (
            "dot-dot",
            r#""..""#,
            "records[0].topic: '..' must not be '.' or '..'",
        ),
    ] {
        raw(
            &format!("topic {name}"),
            format!(r#"{{"records": [{{"topic": {value}}}]}}"#).into_bytes(),
            400,
            &[needle],
        );
    }
    let partition = "records[1].partition: must be an integer from 0 to 2147483647, got";
    for (name, value, needles) in [
        ("-1", "-1", vec![partition, "-1"]),
        ("beyond i32", "2147483648", vec![partition, "2147483648"]),
        (
            "beyond i64",
            "123456789012345678901234567890",
            vec![partition, "123456789012345678901234567890"],
        ),
        ("1e400", "1e400", vec![partition, "1e+400"]),
        ("a fraction", "1.5", vec![partition, "1.5"]),
        ("1.0", "1.0", vec![partition, "1.0"]),
        (
            "a string",
            r#""0""#,
            vec!["records[1].partition: must be an integer, got a string"],
        ),
        (
            "a boolean",
            "true",
            vec!["records[1].partition: must be an integer, got a boolean"],
        ),
        (
            "an object",
            "{}",
            vec!["records[1].partition: must be an integer, got an object"],
        ),
    ] {
        raw(
            &format!("partition {name}"),
            second(&format!(r#", "partition": {value}"#)),
            400,
            &needles,
        );
    }
    raw(
        "partition the topic does not have",
        body(r#", "partition": 5"#),
        404,
        &[&format!("topic '{topic}' has no partition 5")],
    );
    for field in ["keySerializer", "valueSerializer"] {
        for (name, value, needle) in [
            ("unknown", r#""thrift""#, "unknown serializer 'thrift'; known: string, bytearray, integer, long, float, double, json, avro, protobuf, jsonschema"),
            ("empty", r#""""#, "unknown serializer ''"),
            ("with a blank", r#""string ""#, "unknown serializer 'string '"),
            ("a number", "5", "must be a string, got a number"),
        ] {
            raw(
                &format!("{field} {name}"),
                second(&format!(r#", "{field}": {value}"#)),
                400,
                &[&format!("records[1].{field}: {needle}")],
            );
        }
    }
    for (field, serde, value, needle) in [
        ("key", "bytearray", r#""!!!!""#, "bytearray expects a base64 string (standard alphabet, padded), got the string \"!!!!\""),
        ("key", "bytearray", r#""YQ""#, "Invalid padding"),
        ("value", "bytearray", r#""-_8=""#, "bytearray expects a base64 string"),
        ("value", "bytearray", r#""YQ==\n""#, "bytearray expects a base64 string"),
        ("value", "bytearray", "5", "bytearray expects a base64 string (standard alphabet, padded), got 5"),
        ("value", "integer", "1e400", "integer expects a whole number from -2147483648 to 2147483647"),
        ("value", "integer", "2147483648", "got 2147483648"),
        ("value", "integer", "1.5", "got 1.5"),
        ("key", "integer", r#""x""#, "got the string \"x\""),
        ("value", "integer", "true", "got true"),
        ("value", "long", "123456789012345678901234567890", "long expects a whole number from -9223372036854775808 to 9223372036854775807"),
        ("key", "long", "9223372036854775808", "got 9223372036854775808"),
        ("value", "float", r#""abc""#, "float expects a number"),
        ("value", "float", r#""inf""#, "got the string \"inf\""),
        ("value", "float", r#""1.5f""#, "got the string \"1.5f\""),
        ("value", "double", "[1]", "double expects a number (JSON number, numeric string, \"NaN\", \"Infinity\" or \"-Infinity\"), got an array"),
        ("value", "string", "[1]", "string expects a JSON string, number or boolean, got an array"),
        ("key", "string", r#"{"a": 1}"#, "got an object"),
    ] {
        raw(
            &format!("{field} {value} with {serde}"),
            second(&format!(r#", "{field}Serializer": "{serde}", "{field}": {value}"#)),
            400,
            &[&format!("records[1].{field} ({serde} serializer): "), needle],
        );
    }
    raw(
        "json value with a repeated key",
        second(r#", "valueSerializer": "json", "value": {"a": 1, "b": {"c": 1, "c": 2}}"#),
        400,
        &["records[1].value.b.c: given more than once"],
    );
    let timestamp = "records[1].timestamp: must be a whole number of milliseconds since the epoch, 0 or more, got";
    for (name, value, needles) in [
        ("-1", "-1", vec![timestamp, "-1"]),
        (
            "beyond i64",
            "9223372036854775808",
            vec![timestamp, "9223372036854775808"],
        ),
        ("1e400", "1e400", vec![timestamp, "1e+400"]),
        ("a fraction", "1.5", vec![timestamp, "1.5"]),
        (
            "a string",
            r#""5""#,
            vec!["records[1].timestamp: must be an integer, got a string"],
        ),
        (
            "a boolean",
            "false",
            vec!["records[1].timestamp: must be an integer, got a boolean"],
        ),
    ] {
        raw(
            &format!("timestamp {name}"),
            second(&format!(r#", "timestamp": {value}"#)),
            400,
            &needles,
        );
    }
    for (name, value, needle) in [
        (
            "an object",
            "{}",
            "records[1].headers: must be an array, got an object",
        ),
        (
            "a string",
            r#""h=1""#,
            "records[1].headers: must be an array, got a string",
        ),
        (
            "an array of strings",
            r#"["h"]"#,
            "records[1].headers[0]: must be an object {\"key\": ..., \"value\": ...}, got a string",
        ),
        (
            "without key",
            r#"[{"value": "YQ=="}]"#,
            "records[1].headers[0].key: is required",
        ),
        (
            "with a null key",
            r#"[{"key": null}]"#,
            "records[1].headers[0].key: is required",
        ),
        (
            "with a number key",
            r#"[{"key": 1}]"#,
            "records[1].headers[0].key: must be a string, got a number",
        ),
        (
            "with unpadded base64",
            r#"[{"key": "a", "value": "YQ"}]"#,
            "records[1].headers[0].value: must be standard padded base64",
        ),
        (
            "with non-base64",
            r#"[{"key": "a", "value": "!!!!"}]"#,
            "records[1].headers[0].value: must be standard padded base64",
        ),
        (
            "with a number value",
            r#"[{"key": "a", "value": 5}]"#,
            "records[1].headers[0].value: must be a base64 string or null, got a number",
        ),
        (
            "second with an array value",
            r#"[{"key": "a"}, {"key": "b", "value": ["YQ=="]}]"#,
            "records[1].headers[1].value: must be a base64 string or null, got an array",
        ),
        (
            "with an unknown field",
            r#"[{"key": "a", "value": null, "vlaue": "YQ=="}]"#,
            "records[1].headers[0]: unknown field 'vlaue'; known fields: key, value",
        ),
        (
            "with the key twice",
            r#"[{"key": "a", "key": "b"}]"#,
            "records[1].headers[0].key: given more than once",
        ),
    ] {
        raw(
            &format!("headers {name}"),
            second(&format!(r#", "headers": {value}"#)),
            400,
            &[needle],
        );
    }
    raw(
        "unknown record field",
        second(r#", "partiton": 0"#),
        400,
        &[
            "records[1]: unknown field 'partiton'",
            "known fields: topic, partition",
        ],
    );
    raw(
        "record field given twice",
        second(r#", "partition": 0, "partition": 5"#),
        400,
        &["records[1].partition: given more than once"],
    );

    // --- a topic that does not exist: refused before it is created ---
    let valid_fresh = format!(r#"{{"topic": "{fresh}", "value": "v"}}"#);
    raw(
        "unknown topic, bad second record",
        format!(r#"{{"records": [{valid_fresh}, {{"topic": "{fresh}", "partition": -1}}]}}"#)
            .into_bytes(),
        400,
        &["records[1].partition"],
    );
    raw(
        "unknown topic, bad timeout",
        format!(r#"{{"records": [{valid_fresh}], "timeout": "1x"}}"#).into_bytes(),
        400,
        &["timeout: '1x' is not a duration"],
    );
    raw(
        "topic given twice, the first unknown",
        format!(r#"{{"records": [{{"topic": "{fresh}", "value": "v", "topic": "{topic}"}}]}}"#)
            .into_bytes(),
        400,
        &["records[0].topic: given more than once"],
    );
    raw(
        "unknown topic, async, bad serializer",
        format!(r#"{{"async": true, "records": [{{"topic": "{fresh}", "value": "v", "valueSerializer": "long"}}]}}"#).into_bytes(),
        400,
        &["records[0].value (long serializer): "],
    );
    cases.push(case(
        "a query parameter",
        Method::POST,
        "/records?async=true",
        body(r#", "value": "v""#),
        400,
        &["unknown query parameter 'async'; this endpoint takes no query parameters"],
    ));
    cases
}

#[tokio::test]
async fn bad_post_bodies_are_refused_naming_the_field_and_write_nothing() {
    let topic = new_topic("bad-post", 1).await;
    let fresh = unique_topic("bad-post-fresh");
    kcat_produce(&topic, 0, &["known"]);
    let before = kcat_read(&topic);
    assert_eq!(before.len(), 1);
    let svc = Service::start_with(&["--max-body-bytes", &MAX_BODY.to_string()], &[]);

    let cases = post_cases(&topic, &fresh);
    let failures = run(&svc, &cases).await;

    // A write through the service after every case: what came before it
    // (asynchronous writes included) had its chance to land.
    post_ok(
        &svc,
        vec![json!({"topic": topic, "partition": 0, "value": "last"})],
    )
    .await;
    let after = kcat_read(&topic);
    report("POST", &cases, &failures);
    assert_eq!(after.len(), 2, "records were written: {after:?}");
    assert_eq!(after[0], before[0]);
    assert_eq!(after[1].value.as_deref(), Some(&b"last"[..]));
    assert!(!kcat_topic_exists(&fresh), "a refused POST created {fresh}");
}

// ---------------------------------------------------------------------------
// GET /records/{topic}
// ---------------------------------------------------------------------------

const GET_KNOWN: &str = "known parameters: partition, groupId, keyDeserializer, valueDeserializer, limit, timeout, distanceFromLatest, distanceFromBeginning, seekTo, seekToTimestamp";

fn get_cases(topic: &str, fresh: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut get = |query: &str, status: u16, needles: &[&str]| {
        cases.push(case(
            format!("GET ?{}", query.chars().take(80).collect::<String>()),
            Method::GET,
            format!("/records/{topic}?{query}"),
            vec![],
            status,
            needles,
        ));
    };
    // `None`: the largest value is the service's setting, not checked here.
    let whole = |name: &str, min: i64, max: Option<i64>| {
        let max = max.map(|m| m.to_string()).unwrap_or_default();
        format!("{name}: '{{}}' is not a whole number from {min} to {max}")
    };
    let i64_max = Some(i64::MAX);
    for (param, min, max, values) in [
        (
            "partition",
            0,
            Some(i64::from(i32::MAX)),
            vec!["-1", "2147483648", "x", "", "1.0", "0x1", "%2B1%2B"],
        ),
        (
            "limit",
            1,
            None,
            vec![
                "0",
                "-1",
                "4294967296",
                "99999999999999999999",
                "1e3",
                "ten",
                "",
                "%FF",
            ],
        ),
        (
            "distanceFromLatest",
            0,
            i64_max,
            vec!["-1", "x", "9223372036854775808"],
        ),
        (
            "distanceFromBeginning",
            0,
            i64_max,
            vec!["1.5", "-0.0", "%20"],
        ),
        (
            "seekTo",
            0,
            i64_max,
            vec!["-1", "9223372036854775808", "1e400"],
        ),
        (
            "seekToTimestamp",
            0,
            i64_max,
            vec![
                "-5",
                "2024-01-01T00:00:00Z",
                "123456789012345678901234567890",
            ],
        ),
    ] {
        let template = whole(param, min, max);
        for v in values {
            let decoded = form_decode(v);
            get(
                &format!("{param}={v}"),
                400,
                &[&template.replace("{}", &decoded)],
            );
        }
        get(
            &format!("{param}=1&{param}=1"),
            400,
            &[&format!("{param}: given more than once")],
        );
    }
    get("limit", 400, &["limit: '' is not a whole number"]);
    for (value, needle) in [
        ("5", "timeout: '5' is not a duration"),
        ("", "timeout: '' is not a duration"),
        ("-1s", "timeout: '-1s' is not a duration"),
        ("1parsec", "timeout: '1parsec' is not a duration"),
        ("1.5.2s", "timeout: '1.5.2s' is not a duration"),
        ("5%00s", "timeout: '5\0s' is not a duration"),
        (
            "99999999999999999999s",
            "timeout: '99999999999999999999s' is not a duration",
        ),
        (
            "18446744073709551615s",
            "timeout: '18446744073709551615s' is longer than the maximum of 365days",
        ),
        (
            "366days",
            "timeout: '366days' is longer than the maximum of 365days",
        ),
    ] {
        get(&format!("timeout={value}"), 400, &[needle, "; use a"]);
    }
    get(
        "timeout=1s&timeout=2s",
        400,
        &["timeout: given more than once"],
    );
    get(
        "groupId=",
        400,
        &["groupId: must not be empty; leave groupId out to read without a consumer group"],
    );
    get(
        &format!("groupId={}", "g".repeat(4097)),
        400,
        &["groupId: is 4097 bytes long; use at most 4096 bytes"],
    );
    get(
        &format!("groupId={}", "%C3%A9".repeat(2049)),
        400,
        &["groupId: is 4098 bytes long"],
    );
    get(
        "groupId=a&groupId=b",
        400,
        &["groupId: given more than once"],
    );
    for param in ["keyDeserializer", "valueDeserializer"] {
        for (value, shown) in [
            ("thrift", "thrift"),
            ("", ""),
            ("int", "int"),
            ("string%20", "string "),
            ("%FF", "\u{FFFD}"),
        ] {
            get(
                &format!("{param}={value}"),
                400,
                &[&format!(
                    "{param}: unknown deserializer '{shown}'; known: string, bytearray, integer, long, float, double, json, avro, protobuf, jsonschema"
                )],
            );
        }
        get(
            &format!("{param}=long&{param}=long"),
            400,
            &[&format!("{param}: given more than once")],
        );
    }
    let one_seek =
        "give at most one of distanceFromLatest, distanceFromBeginning, seekTo and seekToTimestamp";
    get("seekTo=0&distanceFromLatest=1", 400, &[one_seek]);
    get(
        "distanceFromBeginning=0&seekToTimestamp=0&limit=5",
        400,
        &[one_seek],
    );
    for (query, needle) in [
        (
            "distanceFromLastest=1",
            "unknown query parameter 'distanceFromLastest'",
        ),
        ("offset=0", "unknown query parameter 'offset'"),
        ("LIMIT=1", "unknown query parameter 'LIMIT'"),
        ("limit=1&foo=2&bar", "unknown query parameters 'foo', 'bar'"),
        ("=1", "unknown query parameter ''"),
        ("%FF=1", "unknown query parameter '\u{FFFD}'"),
    ] {
        get(query, 400, &[needle, GET_KNOWN]);
    }
    // Names are percent-decoded before they are compared: `seek%54o` is `seekTo`.
    get(
        "seek%54o=1&seekTo=2",
        400,
        &["seekTo: given more than once"],
    );
    get(
        "partition=5",
        404,
        &[&format!("topic '{topic}' has no partition 5")],
    );

    // The topic in the path.
    for (path, needle) in [
        ("/records/", "topic: '' must not be empty"),
        ("/records/%FF%FE", "topic: the path is not valid UTF-8"),
        ("/records/a%2Fb", "topic: 'a/b' contains '/'"),
        ("/records/a%20b", "topic: 'a b' contains ' '"),
        ("/records/a+b", "topic: 'a+b' contains '+'"),
        ("/records/caf%C3%A9", "topic: 'café' contains 'é'"),
        ("/records/%00", r"contains '\0'"),
        (
            &format!("/records/{}", "a".repeat(250)),
            "is 250 characters long; Kafka allows at most 249",
        ),
    ] {
        cases.push(case(
            format!("GET {}", path.chars().take(40).collect::<String>()),
            Method::GET,
            format!("{path}?timeout=0s"),
            vec![],
            400,
            &[needle],
        ));
    }
    // A topic that does not exist: the query is checked first, and nothing is created.
    cases.push(case(
        "GET unknown topic, bad limit",
        Method::GET,
        format!("/records/{fresh}?limit=0"),
        vec![],
        400,
        &["limit: '0' is not a whole number"],
    ));
    cases.push(case(
        "GET unknown topic, unknown parameter",
        Method::GET,
        format!("/records/{fresh}?offset=0"),
        vec![],
        400,
        &["unknown query parameter 'offset'"],
    ));
    cases
}

/// The value a query holds for `text`, decoded as the service decodes it.
fn form_decode(text: &str) -> String {
    let pairs: Vec<(String, String)> = reqwest::Url::parse(&format!("http://x/?v={text}"))
        .expect("url")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.into_iter().next().map(|(_, v)| v).unwrap_or_default()
}

#[tokio::test]
async fn bad_get_queries_are_refused_naming_the_parameter_and_change_nothing() {
    let topic = new_topic("bad-get", 1).await;
    let fresh = unique_topic("bad-get-fresh");
    kcat_produce(&topic, 0, &["known"]);
    let before = kcat_read(&topic);
    let svc = Service::start();

    let cases = get_cases(&topic, &fresh);
    let failures = run(&svc, &cases).await;

    let after = kcat_read(&topic);
    report("GET", &cases, &failures);
    assert_eq!(after, before);
    assert!(!kcat_topic_exists(&fresh), "a refused GET created {fresh}");
}

// ---------------------------------------------------------------------------
// DELETE /records/{topic}
// ---------------------------------------------------------------------------

fn delete_cases(topic: &str, fresh: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut delete = |query: &str, status: u16, needles: &[&str]| {
        cases.push(case(
            format!("DELETE ?{query}"),
            Method::DELETE,
            format!("/records/{topic}?{query}"),
            vec![],
            status,
            needles,
        ));
    };
    for (param, max, values) in [
        (
            "partition",
            i64::from(i32::MAX),
            vec!["-1", "2147483648", "x", "", "0.0", "%FF"],
        ),
        (
            "offset",
            i64::MAX,
            vec![
                "-1",
                "9223372036854775808",
                "1.5",
                "1e3",
                "",
                "one",
                "123456789012345678901234567890",
            ],
        ),
    ] {
        for v in values {
            let decoded = form_decode(v);
            delete(
                &format!("{param}={v}"),
                400,
                &[&format!(
                    "{param}: '{decoded}' is not a whole number from 0 to {max}"
                )],
            );
        }
        delete(
            &format!("{param}=0&{param}=0"),
            400,
            &[&format!("{param}: given more than once")],
        );
    }
    delete("offset", 400, &["offset: '' is not a whole number"]);
    // A typo must never fall back to "delete everything".
    for (query, needle) in [
        ("Offset=1", "unknown query parameter 'Offset'"),
        ("ofset=1", "unknown query parameter 'ofset'"),
        ("limit=1", "unknown query parameter 'limit'"),
        ("seekTo=1", "unknown query parameter 'seekTo'"),
        (
            "partition=0&all=true&x",
            "unknown query parameters 'all', 'x'",
        ),
    ] {
        delete(query, 400, &[needle, "known parameters: partition, offset"]);
    }
    delete(
        "offset=999",
        400,
        &[&format!(
            "offset: 999 is past the end of topic '{topic}' partition 0 (its end offset is 3)"
        )],
    );
    delete("partition=0&offset=4", 400, &["offset: 4 is past the end"]);
    delete(
        "partition=5",
        404,
        &[&format!("topic '{topic}' has no partition 5")],
    );

    for (path, needle) in [
        ("/records/", "topic: '' must not be empty"),
        ("/records/%FF", "topic: the path is not valid UTF-8"),
        ("/records/a%2Fb", "topic: 'a/b' contains '/'"),
        ("/records/a*", "topic: 'a*' contains '*'"),
        (
            &format!("/records/{}", "b".repeat(250)),
            "is 250 characters long; Kafka allows at most 249",
        ),
    ] {
        cases.push(case(
            format!("DELETE {}", path.chars().take(40).collect::<String>()),
            Method::DELETE,
            path,
            vec![],
            400,
            &[needle],
        ));
    }
    cases.push(case(
        "DELETE unknown topic, bad offset",
        Method::DELETE,
        format!("/records/{fresh}?offset=-1"),
        vec![],
        400,
        &["offset: '-1' is not a whole number"],
    ));
    cases.push(case(
        "DELETE unknown topic",
        Method::DELETE,
        format!("/records/{fresh}"),
        vec![],
        404,
        &[fresh],
    ));
    cases
}

#[tokio::test]
async fn bad_delete_queries_are_refused_naming_the_parameter_and_delete_nothing() {
    let topic = new_topic("bad-delete", 1).await;
    let fresh = unique_topic("bad-delete-fresh");
    kcat_produce(&topic, 0, &["zero", "one", "two"]);
    let before = kcat_read(&topic);
    assert_eq!(before.len(), 3);
    let svc = Service::start();

    let cases = delete_cases(&topic, &fresh);
    let failures = run(&svc, &cases).await;

    let after = kcat_read(&topic);
    report("DELETE", &cases, &failures);
    assert_eq!(after, before, "records were deleted");
    assert!(
        !kcat_topic_exists(&fresh),
        "a refused DELETE created {fresh}"
    );
}

// ---------------------------------------------------------------------------
// GET /, /ui/{asset}, /ui/settings.json: the page
// ---------------------------------------------------------------------------

fn page_cases() -> Vec<Case> {
    let long = "a".repeat(10_000);
    let mut cases = vec![
        case(
            "page query",
            Method::GET,
            "/?topic=t",
            vec![],
            400,
            &["topic"],
        ),
        case(
            "page query repeated",
            Method::GET,
            "/?a=1&a=2",
            vec![],
            400,
            &["a"],
        ),
        case(
            "settings query",
            Method::GET,
            "/ui/settings.json?x=1",
            vec![],
            400,
            &["x"],
        ),
        case(
            "asset query",
            Method::GET,
            "/ui/app.js?v=1",
            vec![],
            400,
            &["v"],
        ),
        case(
            "the page by its file name",
            Method::GET,
            "/ui/index.html",
            vec![],
            404,
            &["no page file 'index.html'"],
        ),
        case(
            "unknown file",
            Method::GET,
            "/ui/app.jsx",
            vec![],
            404,
            &["app.jsx", "/ui/app.js"],
        ),
        case(
            "a path out of /ui",
            Method::GET,
            "/ui/..%2FCargo.toml",
            vec![],
            404,
            &["no page file"],
        ),
        case(
            "an encoded NUL",
            Method::GET,
            "/ui/app.js%00",
            vec![],
            404,
            &["no page file"],
        ),
        case(
            "invalid UTF-8",
            Method::GET,
            "/ui/%FF%FE",
            vec![],
            404,
            &["no page file"],
        ),
        case(
            "a long name",
            Method::GET,
            format!("/ui/{long}"),
            vec![],
            404,
            &["no page file"],
        ),
        case(
            "nested",
            Method::GET,
            "/ui/a/app.js",
            vec![],
            404,
            &["no route"],
        ),
        case(
            "empty name",
            Method::GET,
            "/ui/",
            vec![],
            404,
            &["no route"],
        ),
    ];
    for (method, path) in [
        (Method::POST, "/"),
        (Method::DELETE, "/"),
        (Method::PUT, "/ui/app.js"),
        (Method::POST, "/ui/settings.json"),
    ] {
        cases.push(case(
            format!("{method} {path}"),
            method,
            path,
            b"{}".to_vec(),
            405,
            &["GET, HEAD"],
        ));
    }
    cases
}

#[tokio::test]
async fn bad_page_requests_are_refused_with_json_errors() {
    let svc = Service::start();
    let cases = page_cases();
    let failures = run(&svc, &cases).await;
    report("page", &cases, &failures);
}
