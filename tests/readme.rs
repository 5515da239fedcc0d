//! The README's curl examples run against the real service and broker, in
//! order, so they stay true; the service has a real Schema Registry
//! (scripts/registry.sh), as `scripts/quickstart.sh --schema-registry` gives
//! it, for the Avro and Protobuf examples.
mod common;

use std::process::Command;

use serde_json::Value;

/// Every `curl` command of the README's `sh` blocks, joined across lines
/// until its quotes close.
fn readme_curls() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut commands = Vec::new();
    let mut in_sh = false;
    let mut current: Option<String> = None;
    for line in readme.lines() {
        // Fences indented in a list item count too.
        let fence = line.trim_start();
        if fence.starts_with("```") {
            in_sh = fence == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        match current.as_mut() {
            Some(cmd) => {
                cmd.push('\n');
                cmd.push_str(line);
            }
            None if line.trim_start().starts_with("curl ") => {
                current = Some(line.trim().to_string())
            }
            None => continue,
        }
        if current
            .as_ref()
            .is_some_and(|c| c.matches('\'').count() % 2 == 0)
        {
            commands.extend(current.take());
        }
    }
    commands
}

#[tokio::test]
async fn every_curl_example_in_the_readme_works() {
    let commands = readme_curls();
    assert!(
        commands.len() >= 10,
        "found only {} curl examples",
        commands.len()
    );
    assert!(
        commands
            .iter()
            .any(|c| c.contains("valueDeserializer=avro")),
        "the README's Avro round trip is not among the examples"
    );
    let registry = common::start_registry(
        &common::unique_topic("readme"),
        "the README's Avro and Protobuf examples need a Schema Registry",
    );
    let svc = common::Service::start_with(&["--schema-registry-url", &registry], &[]);
    common::warm_up_coordinators(&common::bootstrap()).await;
    let host = svc.url.trim_start_matches("http://").to_string();
    // Fresh topics and groups, so the examples run as on a new cluster.
    let names: Vec<(String, String)> = [
        "hello",
        "orders",
        "audit",
        "import-1",
        "fixtures",
        "billing",
        "users",
        "pings",
        "customers",
        "purchases",
    ]
    .iter()
    .map(|n| (n.to_string(), common::unique_topic(n)))
    .collect();
    for command in commands {
        let mut command = command.replace("localhost:8001", &host);
        for (name, fresh) in &names {
            command = command
                .replace(&format!("\"{name}\""), &format!("\"{fresh}\""))
                .replace(&format!("\"{name}-value\""), &format!("\"{fresh}-value\""))
                .replace(&format!("/records/{name}"), &format!("/records/{fresh}"))
                .replace(&format!("/topics/{name}"), &format!("/topics/{fresh}"))
                .replace(&format!("/groups/{name}/"), &format!("/groups/{fresh}/"))
                .replace(&format!("/groups/{name}'"), &format!("/groups/{fresh}'"))
                .replace(&format!("groupId={name}"), &format!("groupId={fresh}"))
                .replace(&format!("topic={name}&"), &format!("topic={fresh}&"));
        }
        let out = Command::new("bash")
            .args(["-c", &command])
            .output()
            .expect("bash");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "failed: {command}\n{stdout}");
        let text = stdout.trim();
        if text.starts_with("event: ") || text.starts_with(": keep-alive") {
            // A stream of Server-Sent Events: records, then its end.
            assert!(!text.contains("event: error"), "{command}: {text}");
            assert!(
                text.ends_with("}") && text.contains("event: end"),
                "{command}: {text}"
            );
        } else if text.starts_with('{') && text.lines().count() > 1 {
            // NDJSON: one record per line.
            for line in text.lines() {
                let json: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{command}: not NDJSON ({e}): {line}"));
                assert!(
                    json.get("code").is_none(),
                    "{command} answered an error: {line}"
                );
            }
        } else if text.starts_with('{') {
            let json: Value = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("{command}: not JSON ({e}): {text}"));
            assert!(
                json.get("code").is_none(),
                "{command} answered an error: {text}"
            );
            if command.contains("Deserializer=avro") || command.contains("Deserializer=protobuf") {
                // Decoded with the schema the example before registered.
                let records = json["records"].as_array().map_or(&[][..], |r| r);
                assert!(
                    !records.is_empty() && records.iter().all(|r| r["valueSchemaId"].is_u64()),
                    "{command}: {text}"
                );
            }
        } else {
            assert!(
                text.is_empty() || text.chars().all(|c| c.is_ascii_digit()),
                "{command}: {text}"
            );
            if !text.is_empty() {
                assert!(text.starts_with('2'), "{command} answered {text}");
            }
        }
    }
}
