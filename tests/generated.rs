//! Generated requests: schemathesis (PyPI) reads `/openapi.json` from the
//! running service and sends a bounded number of generated requests per
//! operation, valid and invalid, against a real broker of its own (it
//! deletes what it finds listed). No response may be
//! a 5xx, and every response must match the schema documented for it.
//!
//! Checks: all of schemathesis's, except `positive_data_acceptance`: a
//! schema cannot say that `timeout` is bounded by the service's
//! `--max-timeout` flag, so a schema-valid `timeout=1h` is rightly a 400.
//! Phases: examples, fuzzing and stateful; the coverage phase is left out
//! because it crashes inside schemathesis on this Python (an AST recursion
//! error in hypothesis's lambda descriptions), not on anything it sent.
//! `KAFKA_RECORDS_SCHEMATHESIS_EXAMPLES` and `..._SEED` change the bound and
//! the seed (fixed by default, so a failure reproduces).

mod common;

use std::process::Command;

/// What hypothesis's lambda descriptions meet on CPython 3.11 (see above).
const AST_BUG: &str = "AST constructor recursion depth mismatch";

use common::*;

#[tokio::test]
async fn generated_requests_get_no_5xx_and_documented_responses() {
    let examples =
        std::env::var("KAFKA_RECORDS_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "30".into());
    let seed = std::env::var("KAFKA_RECORDS_SCHEMATHESIS_SEED").unwrap_or_else(|_| "7".into());
    // A cluster of its own: generated requests delete topics and groups'
    // offsets they find listed, which must not be another test's.
    let cluster = OwnCluster::start("generated", 1, &[]);
    // Short waits: a generated long poll must not hold the run.
    let svc = Service::on(&cluster.bootstrap)
        .args(["--max-timeout", "3s", "--max-stream-duration", "3s"])
        .start();
    warm_up_coordinators(&cluster.bootstrap).await;
    let url = format!("{}/openapi.json", svc.url);
    let run = |seed: &str| {
        let out = Command::new("schemathesis")
            .args(["run", &url, "--checks", "all", "--exclude-checks", "positive_data_acceptance"])
            .args(["--phases", "examples,fuzzing,stateful", "--max-examples", &examples, "--seed", seed])
            // Creating a topic of a thousand partitions on a small machine can
            // take half a minute: slow is not wrong here.
            .args(["--workers", "2", "--no-color", "--request-timeout", "120"])
            .args(["--max-response-time", "120"])
            .env("SCHEMATHESIS_HOOKS", "")
            .output()
            .expect("schemathesis is not installed: run scripts/test.sh, which installs it, or pip install schemathesis");
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("{report}");
        (out.status.success(), report)
    };
    let (mut passed, mut report) = run(&seed);
    // The same CPython 3.11 bug as the coverage phase's can also stop the
    // fuzzing phase while it builds a request, before anything is sent for
    // that case. Such a run, with no failure of a check, is made once more
    // with the next seed; a failed check is never run again.
    if !passed && report.contains(AST_BUG) && !report.contains(" FAILURES ") {
        let next = seed
            .parse::<u64>()
            .map_or(seed.clone(), |s| (s + 1).to_string());
        eprintln!("schemathesis stopped on its own error ({AST_BUG}); again with seed {next}");
        (passed, report) = run(&next);
    }
    assert!(
        passed,
        "schemathesis found failures (seed {seed}):\n{report}"
    );
    assert!(
        report.contains("passed") && !report.contains(" 0 generated"),
        "schemathesis ran nothing:\n{report}"
    );
}
