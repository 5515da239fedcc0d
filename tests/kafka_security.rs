//! TLS and SASL towards Kafka, against a real broker with such listeners.
//!
//! The tests of this binary share one cluster of their own, started with
//! `scripts/kafka.sh start --secure` (SSL, SASL_PLAINTEXT, SASL_SSL and
//! mutual-TLS listeners, a throwaway CA, a user with a random password) on
//! first use and stopped by the script once this process exits. They need no
//! KAFKA_RECORDS_TEST_BOOTSTRAP.
//!
//! The independent client is kcat. Debian's kcat links librdkafka 2.0, whose
//! SCRAM client resends the client nonce in client-final, which Kafka 4
//! rightly refuses (fixed in librdkafka 2.6.1); so the SCRAM tests cross-check
//! through kcat on the same broker's PLAIN and SSL listeners.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::{
    assert_error, assert_help_lists, binary, help, kafka_sh, post_ok, read, start_cluster,
    unique_topic, Client, Kcat, Launch, Service,
};
use serde_json::{json, Value};

/// The shared secure cluster: its listeners and files.
struct Secure {
    dir: PathBuf,
    plaintext: String,
    ssl: String,
    sasl_plaintext: String,
    sasl_ssl: String,
    mtls: String,
    user: String,
    password: String,
}

impl Secure {
    fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
    fn ca(&self) -> String {
        self.file("ca.pem")
    }

    /// The service over TLS (`ssl`) to `listener`, trusting `ca`.
    fn tls(&self, listener: &str, ca: &str) -> Launch {
        Service::on(listener).args(["--security-protocol", "ssl", "--tls-ca-file", ca])
    }

    /// The service on the listener of SASL `protocol` (`sasl_plaintext` or
    /// `sasl_ssl`, then trusting the cluster's CA) as `user` with
    /// `mechanism`; the password is still to give.
    fn sasl(&self, protocol: &str, mechanism: &str, user: &str) -> Launch {
        let listener = match protocol {
            "sasl_ssl" => &self.sasl_ssl,
            _ => &self.sasl_plaintext,
        };
        let launch = Service::on(listener).args([
            "--security-protocol",
            protocol,
            "--sasl-mechanism",
            mechanism,
            "--sasl-username",
            user,
        ]);
        match protocol {
            "sasl_ssl" => launch.args(["--tls-ca-file", &self.ca()]),
            _ => launch,
        }
    }
}

/// Starts the cluster on first use. SCRAM-SHA-256 is left off the SASL_SSL
/// listener, so that a test can ask for a mechanism a listener lacks.
fn secure() -> &'static Secure {
    static SECURE: OnceLock<Secure> = OnceLock::new();
    SECURE.get_or_init(|| {
        let name = unique_topic("sec");
        let plaintext = start_cluster(
            &name,
            &[
                "--secure",
                "--config",
                "listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512",
            ],
        );
        let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.kafka")).join(&name);
        let listener = |l: &str| {
            let out = Command::new(kafka_sh())
                .args(["bootstrap", "--name", &name, "--listener", l])
                .output()
                .expect("scripts/kafka.sh bootstrap");
            assert!(out.status.success(), "no bootstrap for listener {l}");
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        let users = std::fs::read_to_string(dir.join("users")).expect("users file");
        let (user, password) = users.trim().split_once(':').expect("NAME:PASSWORD");
        Secure {
            plaintext,
            ssl: listener("ssl"),
            sasl_plaintext: listener("sasl_plaintext"),
            sasl_ssl: listener("sasl_ssl"),
            mtls: listener("mtls"),
            user: user.to_string(),
            password: password.to_string(),
            dir,
        }
    })
}

/// kcat on the SSL listener, trusting the cluster's CA.
fn kcat_ssl(s: &Secure) -> Kcat {
    Kcat::on(&s.ssl)
        .set("security.protocol=ssl")
        .set(format!("ssl.ca.location={}", s.ca()))
}

/// kcat on the SASL_PLAINTEXT listener as the cluster's user, with PLAIN.
fn kcat_plain(s: &Secure) -> Kcat {
    kcat_sasl(s, &s.sasl_plaintext, "sasl_plaintext")
}

/// kcat on the SASL_SSL listener as the cluster's user, with PLAIN.
fn kcat_plain_over_tls(s: &Secure) -> Kcat {
    kcat_sasl(s, &s.sasl_ssl, "sasl_ssl").set(format!("ssl.ca.location={}", s.ca()))
}

fn kcat_sasl(s: &Secure, listener: &str, protocol: &str) -> Kcat {
    Kcat::on(listener)
        .set(format!("security.protocol={protocol}"))
        .set("sasl.mechanisms=PLAIN")
        .set(format!("sasl.username={}", s.user))
        .set(format!("sasl.password={}", s.password))
}

/// `key=value` of every record of `topic`, read by `kcat` from the beginning.
fn kcat_read(kcat: &Kcat, topic: &str) -> Vec<String> {
    let text = |b: &Option<Vec<u8>>| {
        String::from_utf8_lossy(b.as_deref().unwrap_or_default()).into_owned()
    };
    kcat.read(topic)
        .records()
        .iter()
        .map(|r| format!("{}={}", text(&r.key), text(&r.value)))
        .collect()
}

/// The service writes two records and reads them back; kcat, on `check`,
/// reads the same two, writes a third, and the service reads that too.
async fn round_trip(svc: &Service, check: &Kcat) {
    let topic = unique_topic("secure");
    post_ok(
        svc,
        vec![
            json!({"topic": topic, "key": "k1", "value": "v1"}),
            json!({"topic": topic, "key": "k2", "value": "v2"}),
        ],
    )
    .await;
    let records = read(
        svc,
        &format!("/records/{topic}?distanceFromBeginning=0&limit=10&timeout=10s"),
    )
    .await;
    let pairs: Vec<(Value, Value)> = records
        .iter()
        .map(|r| (r["key"].clone(), r["value"].clone()))
        .collect();
    assert_eq!(
        pairs,
        vec![(json!("k1"), json!("v1")), (json!("k2"), json!("v2"))]
    );
    assert_eq!(kcat_read(check, &topic), ["k1=v1", "k2=v2"]);

    check.produce(&topic).keyed().send(&["k3:v3"]);
    let records = read(
        svc,
        &format!("/records/{topic}?seekTo=2&limit=10&timeout=10s"),
    )
    .await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["key"], "k3");
    assert_eq!(records[0]["value"], "v3");
}

#[tokio::test]
async fn ssl_round_trip() {
    let s = secure();
    let ca = s.ca();
    let svc = s.tls(&s.ssl, &ca).start();
    let (status, body) = svc.get("/ready").await;
    assert_eq!(status, 204, "{body}");
    round_trip(&svc, &kcat_ssl(s)).await;
}

#[tokio::test]
async fn sasl_plaintext_with_plain_round_trip() {
    let s = secure();
    // Kafka's names, in any case, from flags and environment variables.
    let svc = Service::on(&s.sasl_plaintext)
        .args([
            "--security-protocol",
            "SASL_PLAINTEXT",
            "--sasl-mechanism",
            "PLAIN",
        ])
        .envs(&[
            ("KAFKA_RECORDS_SASL_USERNAME", &s.user),
            ("KAFKA_RECORDS_SASL_PASSWORD", &s.password),
        ])
        .start();
    round_trip(&svc, &kcat_plain(s)).await;
}

async fn scram_round_trip(mechanism: &str) {
    let s = secure();
    let password_file = s.dir.join(format!("password-{mechanism}"));
    // One trailing newline, as `echo` writes it, is not part of the password.
    std::fs::write(&password_file, format!("{}\n", s.password)).unwrap();
    let file = password_file.display().to_string();
    let svc = s
        .sasl("sasl_plaintext", mechanism, &s.user)
        .args(["--sasl-password-file", &file])
        .start();
    round_trip(&svc, &kcat_plain(s)).await;
}

#[tokio::test]
async fn sasl_plaintext_with_scram_sha_256_round_trip() {
    scram_round_trip("scram-sha-256").await;
}

#[tokio::test]
async fn sasl_plaintext_with_scram_sha_512_round_trip() {
    scram_round_trip("scram-sha-512").await;
}

#[tokio::test]
async fn sasl_ssl_with_scram_round_trip() {
    let s = secure();
    let svc = s
        .sasl("sasl_ssl", "scram-sha-512", &s.user)
        .env("KAFKA_RECORDS_SASL_PASSWORD", &s.password)
        .start();
    round_trip(&svc, &kcat_plain_over_tls(s)).await;
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate() {
    let s = secure();
    let (ca, cert, key) = (s.ca(), s.file("client.pem"), s.file("client.key"));
    // Without a certificate the broker ends the session.
    let svc = s.tls(&s.mtls, &ca).start();
    let (status, body) = svc.get("/ready").await;
    assert_error(status, &body, 503, &["not ready", "client certificate"]);

    let svc = s
        .tls(&s.mtls, &ca)
        .args(["--tls-cert-file", &cert, "--tls-key-file", &key])
        .start();
    let (status, body) = svc.get("/ready").await;
    assert_eq!(status, 204, "{body}");
    round_trip(&svc, &kcat_ssl(s)).await;
}

#[tokio::test]
async fn a_ca_that_did_not_sign_the_broker_certificate_is_refused() {
    let s = secure();
    let other = s.file("other-ca.pem");
    let svc = s.tls(&s.ssl, &other).start();
    let (status, body) = svc.get("/ready").await;
    assert_error(
        status,
        &body,
        503,
        &[
            "not ready",
            "TLS handshake with",
            "certificate",
            "UnknownIssuer",
        ],
    );
    let topic = unique_topic("secure-untrusted");
    let (status, body) = svc
        .post(json!({"records": [{"topic": topic, "value": "v"}]}))
        .await;
    assert_error(status, &body, 503, &["certificate"]);

    // Plaintext towards the TLS listener says what is wrong.
    let svc = Service::on(&s.ssl).start();
    let (status, body) = svc.get("/ready").await;
    assert_error(
        status,
        &body,
        503,
        &["answered with TLS", "--security-protocol"],
    );
}

#[tokio::test]
async fn a_mechanism_the_listener_lacks_is_named() {
    let s = secure();
    let svc = s
        .sasl("sasl_ssl", "scram-sha-256", &s.user)
        .env("KAFKA_RECORDS_SASL_PASSWORD", &s.password)
        .start();
    let (status, body) = svc.get("/ready").await;
    assert_error(
        status,
        &body,
        503,
        &[
            &format!("authentication to {} failed", s.sasl_ssl),
            "does not enable SCRAM-SHA-256",
            "PLAIN, SCRAM-SHA-512",
        ],
    );
}

/// Every API answer with a wrong password: 503, naming the broker and the
/// authentication failure, never the password.
async fn refused_everywhere(svc: &Client, broker: &str, mechanism: &str, password: &str) -> String {
    let topic = unique_topic("secure-refused");
    let mut seen = String::new();
    for (method, path, body) in [
        ("GET", "/ready".to_string(), String::new()),
        (
            "POST",
            "/records".to_string(),
            json!({"records": [{"topic": topic, "value": "v"}]}).to_string(),
        ),
        ("GET", format!("/records/{topic}?timeout=1s"), String::new()),
        ("DELETE", format!("/records/{topic}"), String::new()),
    ] {
        let started = std::time::Instant::now();
        let r = svc
            .request(method.parse().unwrap(), &path)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}"));
        assert_error(
            status,
            &body,
            503,
            &[&format!("authentication to {broker} failed"), mechanism],
        );
        assert!(
            !text.contains(password),
            "{method} {path} echoed the password: {text}"
        );
        // Not retried until the request's timeout: a wrong password stays wrong.
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{method} {path} took {:?}",
            started.elapsed()
        );
        seen.push_str(&text);
    }
    let metrics = svc.metrics().await;
    let auth = metrics
        .lines()
        .find(|l| l.starts_with(r#"kafka_records_kafka_errors_total{kind="auth"}"#))
        .unwrap_or_else(|| panic!("no auth kind in:\n{metrics}"));
    assert!(!auth.ends_with(" 0"), "{auth}");
    seen
}

#[tokio::test]
async fn a_wrong_password_is_a_503_that_never_shows_the_password() {
    let s = secure();
    // A password of its own, unlike anything else in the logs.
    let wrong = format!("wrong-{}", unique_topic("pw"));
    for (bootstrap, protocol, mechanism, user) in [
        (
            &s.sasl_plaintext,
            "sasl_plaintext",
            "PLAIN",
            s.user.as_str(),
        ),
        (
            &s.sasl_plaintext,
            "sasl_plaintext",
            "SCRAM-SHA-256",
            s.user.as_str(),
        ),
        (&s.sasl_ssl, "sasl_ssl", "SCRAM-SHA-512", s.user.as_str()),
        // An unknown user fails the same way.
        (
            &s.sasl_plaintext,
            "sasl_plaintext",
            "SCRAM-SHA-512",
            "mallory",
        ),
    ] {
        let svc = s
            .sasl(protocol, mechanism, user)
            .log("debug")
            .env("KAFKA_RECORDS_SASL_PASSWORD", &wrong)
            .keep_logs()
            .start();
        refused_everywhere(&svc, bootstrap, mechanism, &wrong).await;
        let logs = svc.logs();
        assert!(
            logs.contains("authentication to"),
            "the failure is not logged:\n{logs}"
        );
        assert!(
            !logs.contains(&wrong),
            "{mechanism}: the logs show the password:\n{logs}"
        );
    }
}

// ---- Start-up: flags that cannot work stop the process, naming the flag ----

#[test]
fn help_lists_the_security_flags_and_hides_the_password() {
    let help = help(&[("KAFKA_RECORDS_SASL_PASSWORD", "hunter2-in-env")]);
    assert_help_lists(
        &help,
        &[
            ("--security-protocol", "KAFKA_RECORDS_SECURITY_PROTOCOL"),
            ("--sasl-mechanism", "KAFKA_RECORDS_SASL_MECHANISM"),
            ("--sasl-username", "KAFKA_RECORDS_SASL_USERNAME"),
            ("--sasl-password", "KAFKA_RECORDS_SASL_PASSWORD"),
            ("--sasl-password-file", "KAFKA_RECORDS_SASL_PASSWORD_FILE"),
            ("--tls-ca-file", "KAFKA_RECORDS_TLS_CA_FILE"),
            ("--tls-cert-file", "KAFKA_RECORDS_TLS_CERT_FILE"),
            ("--tls-key-file", "KAFKA_RECORDS_TLS_KEY_FILE"),
        ],
    );
    for value in ["plaintext", "sasl_ssl", "scram-sha-512"] {
        assert!(
            help.contains(value),
            "--help does not list {value}:\n{help}"
        );
    }
    assert!(
        !help.contains("hunter2"),
        "--help shows the password:\n{help}"
    );
}

#[test]
fn security_flags_that_cannot_work_are_refused_at_start_up() {
    let dir = std::env::temp_dir().join(unique_topic("kr-sec-files"));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not PEM at all\n").unwrap();
    let empty = dir.join("empty-password");
    std::fs::write(&empty, "\n").unwrap();
    let (garbage, empty) = (garbage.display().to_string(), empty.display().to_string());
    let secret = "hunter2-on-the-command-line";
    let sasl = [
        "--security-protocol",
        "sasl_ssl",
        "--sasl-mechanism",
        "plain",
        "--sasl-username",
        "alice",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        sasl.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--security-protocol".into(), "tls".into()],
            "--security-protocol",
        ),
        (
            vec![
                "--security-protocol".into(),
                "sasl_ssl".into(),
                "--sasl-mechanism".into(),
                "gssapi".into(),
            ],
            "--sasl-mechanism",
        ),
        // SASL settings without a SASL protocol would be silently ignored.
        (
            vec!["--sasl-password".into(), secret.into()],
            "--sasl-password",
        ),
        (
            vec!["--tls-ca-file".into(), garbage.clone()],
            "--tls-ca-file",
        ),
        (
            vec![
                "--security-protocol".into(),
                "sasl_plaintext".into(),
                "--sasl-mechanism".into(),
                "scram-sha-256".into(),
                "--sasl-password".into(),
                secret.into(),
            ],
            "--sasl-username",
        ),
        (
            vec![
                "--security-protocol".into(),
                "sasl_plaintext".into(),
                "--sasl-username".into(),
                "alice".into(),
                "--sasl-password".into(),
                secret.into(),
            ],
            "--sasl-mechanism",
        ),
        (with(&[]), "--sasl-password"),
        (
            with(&["--sasl-password", secret, "--sasl-password-file", &empty]),
            "--sasl-password-file",
        ),
        (
            with(&["--sasl-password-file", &empty]),
            "--sasl-password-file",
        ),
        (
            with(&["--sasl-password-file", "/nonexistent/password"]),
            "--sasl-password-file",
        ),
        (
            with(&[
                "--sasl-password",
                secret,
                "--tls-ca-file",
                "/nonexistent/ca.pem",
            ]),
            "--tls-ca-file",
        ),
        (
            with(&["--sasl-password", secret, "--tls-ca-file", &garbage]),
            "--tls-ca-file",
        ),
        (
            vec![
                "--security-protocol".into(),
                "ssl".into(),
                "--tls-cert-file".into(),
                garbage.clone(),
            ],
            "--tls-key-file",
        ),
        (
            vec![
                "--security-protocol".into(),
                "ssl".into(),
                "--tls-key-file".into(),
                garbage.clone(),
            ],
            "--tls-cert-file",
        ),
    ];
    for (args, flag) in cases {
        let out = binary().args(&args).output();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} was accepted: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(!err.contains(secret), "{args:?} shows the password: {err}");
    }
    // A key that does not go with the certificate, from the secure cluster's files.
    let s = secure();
    let out = binary()
        .args(["--security-protocol", "ssl", "--tls-ca-file", &s.ca()])
        .args(["--tls-cert-file", &s.file("client.pem")])
        .args(["--tls-key-file", &s.file("broker.key")])
        .output();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--tls-key-file") && err.contains("does not go with"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_first_listener_stays_plaintext_and_needs_no_flags() {
    let s = secure();
    let svc = Service::on(&s.plaintext).start();
    let (status, body) = svc.get("/ready").await;
    assert_eq!(status, 204, "{body}");
}
