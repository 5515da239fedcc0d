//! The binary's flags and environment variables.
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kafka-records"))
}

#[test]
fn help_lists_every_flag_with_its_environment_variable_and_default() {
    let out = binary().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for (flag, env) in [
        ("--bootstrap-servers", "KAFKA_RECORDS_BOOTSTRAP_SERVERS"),
        ("--listen", "KAFKA_RECORDS_LISTEN"),
        ("--max-body-bytes", "KAFKA_RECORDS_MAX_BODY_BYTES"),
        ("--max-connections", "KAFKA_RECORDS_MAX_CONNECTIONS"),
        ("--shutdown-timeout", "KAFKA_RECORDS_SHUTDOWN_TIMEOUT"),
        ("--log-format", "KAFKA_RECORDS_LOG_FORMAT"),
    ] {
        assert!(
            help.contains(flag),
            "--help does not mention {flag}:\n{help}"
        );
        assert!(help.contains(env), "--help does not mention {env}:\n{help}");
    }
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
    let mut child = binary()
        .env("KAFKA_RECORDS_LISTEN", "127.0.0.1:0")
        .env("KAFKA_RECORDS_BOOTSTRAP_SERVERS", common::bootstrap())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    child.kill().ok();
    child.wait().ok();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .expect("listening line");
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
    let svc = common::Service::start_with(&["--bootstrap-servers", "127.0.0.1:1"], &[]);
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
fn a_bad_flag_value_is_refused_at_start_up() {
    let out = binary()
        .args(["--listen", "not-an-address"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--listen"), "{err}");
}
