//! Who may do what: `--read-only`, the bearer token, and what logs and errors
//! never show (secrets, record contents). Run against the real broker.

mod common;

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn read_only_refuses_posts_and_deletes_with_403_and_still_reads() {
    let topic = new_topic("read-only", 1).await;
    kcat_produce(&topic, 0, &["before"]);
    let svc = Service::start_with(&["--read-only"], &[]);

    let (status, body) = svc
        .post(json!({"records": [{"topic": topic, "value": "nope"}]}))
        .await;
    assert_error(status, &body, 403, &["read-only"]);
    let (status, body) = svc.delete(&format!("/records/{topic}?offset=1")).await;
    assert_error(status, &body, 403, &["read-only"]);
    // Not even a topic that does not exist gets created.
    let fresh = unique_topic("read-only-fresh");
    let (status, _) = svc
        .post(json!({"records": [{"topic": fresh, "value": "nope"}]}))
        .await;
    assert_eq!(status, 403);

    let got = read(&svc, &format!("/records/{topic}?seekTo=0")).await;
    assert_eq!(got[0]["value"], "before");
    let records = kcat_read(&topic);
    assert_eq!(records.len(), 1, "nothing written or deleted");
    assert_eq!(records[0].offset, 0);
    assert!(!kcat_topic_exists(&fresh));

    // The same through the environment.
    let svc = Service::start_with(&[], &[("KAFKA_RECORDS_READ_ONLY", "true")]);
    let (status, _) = svc.delete(&format!("/records/{topic}?offset=1")).await;
    assert_eq!(status, 403);
}

const TOKEN: &str = "t0ken-Only_the-service_knows";

/// Sends `method path` with an optional `Authorization` value.
async fn call(svc: &Service, method: &str, path: &str, auth: Option<&str>) -> (u16, String) {
    let mut request = svc.request(method.parse().unwrap(), path);
    if method == "POST" {
        request = request.body(r#"{"records":[{"topic":"never-written","value":"x"}]}"#);
    }
    if let Some(a) = auth {
        request = request.header("authorization", a);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    if status == 401 {
        assert_eq!(
            r.headers().get("www-authenticate").unwrap(),
            "Bearer",
            "{method} {path}"
        );
    }
    (status, r.text().await.unwrap())
}

async fn check_token_is_required(svc: &Service, topic: &str) {
    let routes = [
        ("GET", format!("/records/{topic}?seekTo=0&timeout=0s")),
        ("POST", "/records".to_string()),
        ("DELETE", format!("/records/{topic}?offset=0")),
        ("GET", "/ready".to_string()),
        ("GET", "/metrics".to_string()),
        ("GET", "/openapi.json".to_string()),
        ("GET", "/ui/settings.json".to_string()),
        ("GET", "/no-such-route".to_string()),
    ];
    let wrong = format!("Bearer {TOKEN}x");
    let lower = format!("Bearer {}", TOKEN.to_lowercase());
    for (method, path) in &routes {
        for auth in [
            None,
            Some(wrong.as_str()),
            Some(lower.as_str()),
            Some("Bearer "),
            Some(TOKEN),
            Some("Basic dXNlcjpwYXNz"),
        ] {
            let (status, body) = call(svc, method, path, auth).await;
            assert_eq!(status, 401, "{method} {path} with {auth:?}: {body}");
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_error(401, &body, 401, &["bearer token"]);
            assert!(!body.to_string().contains(TOKEN), "a 401 echoes the token");
        }
    }
    // Nothing reached Kafka.
    assert_eq!(kcat_read(topic).len(), 1);
    assert!(!kcat_topic_exists("never-written"));

    // /healthy is open, for probes; so are the page and its files, which
    // hold no data (the page asks for the token).
    assert_eq!(call(svc, "GET", "/healthy", None).await.0, 204);
    for path in ["/", "/ui/app.js", "/ui/app.css"] {
        assert_eq!(call(svc, "GET", path, None).await.0, 200, "GET {path}");
    }

    let right = format!("Bearer {TOKEN}");
    let (status, body) = call(
        svc,
        "GET",
        &format!("/records/{topic}?seekTo=0"),
        Some(&right),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("kept"));
    assert_eq!(call(svc, "GET", "/ready", Some(&right)).await.0, 204);
    assert_eq!(call(svc, "GET", "/metrics", Some(&right)).await.0, 200);
}

#[tokio::test]
async fn a_bearer_token_from_a_flag_or_a_file_guards_every_route_but_healthy_and_the_page() {
    let topic = new_topic("token", 1).await;
    kcat_produce(&topic, 0, &["kept"]);

    let svc = Service::start_with(&[], &[("KAFKA_RECORDS_AUTH_TOKEN", TOKEN)]);
    check_token_is_required(&svc, &topic).await;

    let dir = std::env::temp_dir().join(unique_topic("token-file"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let svc = Service::start_with(&["--auth-token-file", file.to_str().unwrap()], &[]);
    check_token_is_required(&svc, &topic).await;
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_token_never_shows_in_help_or_start_up_errors() {
    let out = binary()
        .args(["--help"])
        .env("KAFKA_RECORDS_AUTH_TOKEN", TOKEN)
        .output();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--auth-token"), "{help}");
    assert!(!help.contains(TOKEN), "--help shows the token: {help}");

    // A bad start-up names the flag but not the token.
    let out = binary()
        .args(["--auth-token", &format!("{TOKEN} with spaces")])
        .output();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--auth-token"), "{err}");
    assert!(!err.contains(TOKEN), "the error echoes the token: {err}");

    let out = binary()
        .args(["--auth-token-file", "/no/such/token/file"])
        .output();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--auth-token-file"));
}

#[tokio::test]
async fn logs_show_neither_record_contents_nor_the_token_even_at_trace_level() {
    let topic = new_topic("quiet-logs", 1).await;
    let svc = Service::on(&bootstrap())
        .log("trace")
        .env("KAFKA_RECORDS_AUTH_TOKEN", TOKEN)
        .keep_logs()
        .start();
    let auth = format!("Bearer {TOKEN}");
    let authorized = |method, path: &str| svc.request(method, path).header("authorization", &auth);

    let secret_value = "VALUE-secret-4711";
    let secret_key = "KEY-secret-4712";
    let secret_header = "SGVhZGVyLXNlY3JldC00NzEz"; // "Header-secret-4713"
    let body = json!({"records": [
        {"topic": topic, "partition": 0, "key": secret_key, "value": secret_value,
         "headers": [{"key": "h", "value": secret_header}]},
        // A failing record (no such partition) is logged with its cause.
        {"topic": topic, "partition": 7, "key": secret_key, "value": secret_value},
    ]});
    let r = authorized(Method::POST, "/records")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "{}", r.text().await.unwrap());
    let r = authorized(
        Method::GET,
        &format!("/records/{topic}?seekTo=0&partition=0"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains(secret_value));
    // A value that cannot be decoded as asked.
    let r = authorized(
        Method::GET,
        &format!("/records/{topic}?seekTo=0&partition=0&valueDeserializer=integer"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    // A wrong token.
    let r = svc
        .request(Method::GET, "/ready")
        .header("authorization", format!("Bearer {TOKEN}-guess"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let logs = svc.logs();
    assert!(
        logs.contains("records not written"),
        "the failure is logged: {logs}"
    );
    for secret in [
        secret_value,
        secret_key,
        secret_header,
        "Header-secret-4713",
        TOKEN,
    ] {
        assert!(!logs.contains(secret), "the logs show {secret:?}");
    }
}
