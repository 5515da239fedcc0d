//! The page at `GET /`: served from the binary with its types, compression
//! and policy; and used in a real browser (Debian's chromium, headless,
//! driven by playwright-core through `tests/page/page.mjs`) against the real
//! service, broker and Schema Registry, with kcat writing and reading beside
//! it.
//!
//! The browser test fails, never skips, when chromium, node or the npm
//! package is missing: `scripts/test.sh` installs them. Screenshots of each
//! view go to `target/page-screenshots/`.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::*;
use serde_json::Value;

const PAGE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/page");
const SCREENSHOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/page-screenshots");

/// A Schema Registry of this test's own (scripts/registry.sh), stopped
/// with the test process at the latest; its Confluent-compatible base URL.
fn start_registry(name: &str) -> String {
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/registry.sh"))
        .args(["start", "--name", name])
        .args(["--owner", &std::process::id().to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("scripts/registry.sh");
    assert!(
        out.status.success(),
        "scripts/registry.sh start --name {name} failed: the page test reads Avro through a registry"
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn stop_registry(name: &str) {
    let _ = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/registry.sh"))
        .args(["stop", "--name", name])
        .status();
}

/// The browser: `KAFKA_RECORDS_TEST_CHROMIUM`, else Debian's `chromium`.
fn chromium() -> String {
    let path = std::env::var("KAFKA_RECORDS_TEST_CHROMIUM").unwrap_or_else(|_| {
        let out = Command::new("sh")
            .args(["-c", "command -v chromium"])
            .output()
            .expect("sh");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    });
    assert!(
        !path.is_empty() && Path::new(&path).exists(),
        "chromium not found: install Debian's package (apt-get install chromium; scripts/test.sh does) \
         or set KAFKA_RECORDS_TEST_CHROMIUM; the page test does not skip"
    );
    path
}

/// playwright-core, as pinned by tests/page/package-lock.json: installed
/// with `npm ci` when missing.
fn playwright() {
    if Path::new(PAGE_DIR)
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(PAGE_DIR)
        .status()
        .expect(
            "npm not found: install Node.js (scripts/test.sh does); the page test does not skip",
        );
    assert!(status.success(), "npm ci in tests/page failed");
}

#[tokio::test]
async fn the_page_is_served_compressed_with_its_types_and_a_strict_policy() {
    let svc = Service::start();
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/app.css", "text/css; charset=utf-8"),
    ] {
        let r = svc
            .request(Method::GET, path)
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "GET {path}");
        let h = r.headers();
        assert_eq!(h["content-type"], content_type, "{path}");
        assert_eq!(h["content-encoding"], "gzip", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert_eq!(h["x-content-type-options"], "nosniff");
        let etag = h["etag"].clone();
        // HEAD: the same head, no body.
        let head = svc.send(Method::HEAD, path).await;
        assert_eq!(head.status().as_u16(), 200);
        assert_eq!(head.headers()["content-type"], content_type);
        assert!(head.bytes().await.unwrap().is_empty());
        // A browser that has it revalidates for nothing.
        let again = svc
            .request(Method::GET, path)
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status().as_u16(), 304, "{path}");
    }
    let (status, body) = svc.get("/ui/nothing.js").await;
    assert_error(status, &body, 404, &["no page file 'nothing.js'"]);
    let (status, body) = svc.get("/?topic=x").await;
    assert_error(status, &body, 400, &["topic"]);
    let (status, body) = svc.get("/ui/settings.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["readOnly"], false);
    assert_eq!(body["schemaRegistry"], false);
    assert!(!body["formats"].as_array().unwrap().contains(&"avro".into()));

    // With a token, the page loads without it and asks for it; the rest
    // needs it.
    let guarded = Service::start_with(&[], &[("KAFKA_RECORDS_AUTH_TOKEN", "page-secret")]);
    assert_eq!(guarded.send(Method::GET, "/").await.status().as_u16(), 200);
    assert_eq!(
        guarded
            .send(Method::GET, "/ui/app.js")
            .await
            .status()
            .as_u16(),
        200
    );
    let (status, _) = guarded.get("/ui/settings.json").await;
    assert_eq!(status, 401);
    let r = guarded
        .request(Method::GET, "/ui/settings.json")
        .bearer_auth("page-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    // A page of another origin cannot call the service, the page included.
    let r = svc
        .request(Method::GET, "/ui/settings.json")
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test]
async fn the_page_browses_tails_filters_writes_and_shows_lag_in_chromium() {
    let chromium = chromium();
    playwright();

    // A topic kcat creates (by writing to it), records with a header each.
    let topic = unique_topic("page");
    let records = 5;
    for i in 0..records {
        Kcat::new()
            .produce(&topic)
            .partition(0)
            .header(&format!("trace=t{i}"))
            .send(&[format!("{{\"n\": {i}}}")]);
    }
    // A group that has read two of them.
    let group = unique_topic("page-group");
    let committed = 2;
    commit_offsets_of(&group, &topic, &[(0, committed)]).await;

    // The service the page writes through has a registry: Avro in both ways.
    let registry_name = unique_topic("page-registry");
    let registry = start_registry(&registry_name);
    let avro_topic = unique_topic("page-avro");
    let new_topic = unique_topic("page-new");
    let svc = Service::start_with(&["--schema-registry-url", &registry], &[]);
    let read_only = Service::start_with(&["--read-only"], &[]);
    let token = "page-token-of-the-test";
    let guarded = Service::start_with(&[], &[("KAFKA_RECORDS_AUTH_TOKEN", token)]);
    let write_value = format!("written by the page {}", unique_topic("v"));
    // The page's checks add two records written during the tail and one
    // written through the page before it looks at the group.
    let lag = records + 3 - committed;

    let started = Instant::now();
    let out = Command::new("node")
        .arg("page.mjs")
        .current_dir(PAGE_DIR)
        .env("CHROMIUM", &chromium)
        .env("PAGE_URL", &svc.url)
        .env("PAGE_RO_URL", &read_only.url)
        .env("PAGE_TOKEN_URL", &guarded.url)
        .env("PAGE_TOKEN", token)
        .env("PAGE_BOOTSTRAP", bootstrap())
        .env("PAGE_TOPIC", &topic)
        .env("PAGE_RECORDS", records.to_string())
        .env("PAGE_GROUP", &group)
        .env("PAGE_LAG", lag.to_string())
        .env("PAGE_WRITE_VALUE", &write_value)
        .env("PAGE_AVRO_TOPIC", &avro_topic)
        .env("PAGE_NEW_TOPIC", &new_topic)
        .env("PAGE_SCREENSHOTS", SCREENSHOTS)
        .output()
        .expect(
            "node not found: install Node.js (scripts/test.sh does); the page test does not skip",
        );
    stop_registry(&registry_name);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "the browser test failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    println!(
        "browser test: {:.1} s; screenshots in {SCREENSHOTS}",
        started.elapsed().as_secs_f64()
    );
    let figures: Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|v| v.get("figures").cloned())
        .expect("the script's figures");
    let tail_ms = figures["tailMs"].as_u64().unwrap();
    assert!(tail_ms <= 2000, "live tail took {tail_ms} ms");

    // The record written through the page, as kcat reads it.
    let written = kcat_read(&topic);
    let offset = figures["writtenOffset"].as_i64().unwrap();
    let record = written
        .iter()
        .find(|r| r.offset == offset)
        .unwrap_or_else(|| panic!("kcat finds no record at offset {offset}: {written:?}"));
    assert_eq!(record.value.as_deref(), Some(write_value.as_bytes()));
    assert_eq!(record.key.as_deref(), Some(&b"from-the-page"[..]));
    assert_eq!(record.headers, "origin=page");
    // And the read-only service wrote nothing: every record is accounted for.
    assert_eq!(written.len() as i64, records + 3, "{written:?}");
    // The topic the page created (two partitions, as kcat lists them),
    // whose three records it deleted.
    let listed = Kcat::new().metadata(Some(&new_topic));
    assert_eq!(
        listed
            .partitions
            .iter()
            .filter(|p| p.topic == new_topic)
            .count(),
        2,
        "{:?}",
        listed.partitions
    );
    assert!(
        kcat_read(&new_topic).is_empty(),
        "records left in {new_topic}"
    );
    let (_, topic) = svc.get(&format!("/topics/{new_topic}")).await;
    assert_eq!(topic["partitions"][0]["startOffset"], 3, "{topic}");
    // The Avro record, in the registry's wire format: magic byte 0, then
    // the schema id.
    let avro = kcat_read(&avro_topic);
    assert_eq!(avro.len(), 1, "{avro:?}");
    assert_eq!(avro[0].value.as_deref().map(|v| v[0]), Some(0), "{avro:?}");
}
