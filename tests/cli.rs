//! The binary's flags and environment variables.
mod common;

use common::binary;

#[test]
fn help_lists_every_flag_with_its_environment_variable_and_default() {
    let help = common::help(&[]);
    common::assert_help_lists(
        &help,
        &[
            ("--bootstrap-servers", "KAFKA_RECORDS_BOOTSTRAP_SERVERS"),
            ("--listen", "KAFKA_RECORDS_LISTEN"),
            ("--max-body-bytes", "KAFKA_RECORDS_MAX_BODY_BYTES"),
            ("--max-connections", "KAFKA_RECORDS_MAX_CONNECTIONS"),
            ("--shutdown-timeout", "KAFKA_RECORDS_SHUTDOWN_TIMEOUT"),
            ("--log-format", "KAFKA_RECORDS_LOG_FORMAT"),
        ],
    );
    assert!(
        help.contains("127.0.0.1:8001"),
        "default listen address not shown"
    );
    assert!(
        help.contains("localhost:9092"),
        "default bootstrap not shown"
    );
}

#[test]
fn environment_variables_configure_the_service() {
    // Neither flag given: the variables alone say where to listen and connect.
    let svc = binary()
        .env("KAFKA_RECORDS_LISTEN", "127.0.0.1:0")
        .env("KAFKA_RECORDS_BOOTSTRAP_SERVERS", &common::bootstrap())
        .start();
    let addr = svc.url.strip_prefix("http://").expect("listening line");
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert_ne!(addr, "127.0.0.1:8001", "KAFKA_RECORDS_LISTEN was ignored");
}

#[tokio::test]
async fn ready_answers_204_with_kafka_and_503_without() {
    let svc = common::Service::start();
    let (status, _) = svc.get("/ready").await;
    assert_eq!(status, 204);
    let (status, _) = svc.get("/healthy").await;
    assert_eq!(status, 204);

    // Port 1: nothing listens there. The service still starts and serves, but is not ready.
    let svc = common::Service::on("127.0.0.1:1").start();
    let (status, body) = svc.get("/ready").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("not ready"),
        "{body}"
    );
    let (status, _) = svc.get("/healthy").await;
    assert_eq!(status, 204);
}

#[test]
fn bad_flag_values_are_refused_at_start_up_naming_the_flag() {
    for (args, flag) in [
        (vec!["--listen", "not-an-address"], "--listen"),
        (
            vec!["--bootstrap-servers", "kafka-without-port"],
            "--bootstrap-servers",
        ),
        (
            vec!["--bootstrap-servers", "localhost:99999"],
            "--bootstrap-servers",
        ),
        (vec!["--max-body-bytes", "0"], "--max-body-bytes"),
        (vec!["--max-connections", "0"], "--max-connections"),
        (vec!["--shutdown-timeout", "soon"], "--shutdown-timeout"),
        (vec!["--log-format", "xml"], "--log-format"),
    ] {
        let out = binary().args(&args).output();
        assert_eq!(out.status.code(), Some(2), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{args:?}: {err}");
    }
    // The same check applies to the environment variable.
    let out = binary()
        .env("KAFKA_RECORDS_BOOTSTRAP_SERVERS", "nohostport")
        .output();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HOST:PORT"));
}

#[tokio::test]
async fn json_logs_have_one_line_per_request_with_records() {
    let topic = common::unique_topic("logs");
    common::create_topic(&topic, 1, &[]).await;
    // The binary's own log filter (info): request lines are logged at info.
    let svc = binary()
        .on(&common::bootstrap())
        .any_port()
        .args(["--log-format", "json"])
        .keep_logs()
        .start();
    let body = serde_json::json!({"records": [{"topic": topic, "value": "a"}, {"topic": topic, "value": "b"}]});
    assert_eq!(svc.post(body).await.0, 200);
    let bad = serde_json::json!({"records": [{"topic": topic, "partition": 9, "value": "c"}]});
    assert_eq!(svc.post(bad).await.0, 404);
    let stderr = svc.logs();
    let request = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["message"] == "request")
        .unwrap_or_else(|| panic!("no JSON request line in:\n{stderr}"));
    let f = &request["fields"];
    assert_eq!(f["method"], "POST", "{request}");
    assert_eq!(f["path"], "/records", "{request}");
    assert_eq!(f["status"], 200, "{request}");
    assert_eq!(f["records"], 2, "{request}");
    assert!(f["ms"].as_f64().is_some(), "{request}");
    // A Kafka failure is logged with its topic and partition.
    let failure = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["message"] == "records not written")
        .unwrap_or_else(|| panic!("no failure line in:\n{stderr}"));
    assert_eq!(failure["level"], "WARN", "{failure}");
    assert_eq!(failure["fields"]["topic"], topic.as_str(), "{failure}");
    assert_eq!(failure["fields"]["partition"], 9, "{failure}");
    assert_eq!(failure["fields"]["status"], 404, "{failure}");
}
