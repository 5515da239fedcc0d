//! Graceful shutdown on SIGTERM: stop accepting, finish requests in flight
//! and async writes within the bound, then exit 0.
mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test]
async fn a_waiting_read_finishes_after_sigterm_and_the_process_exits_0() {
    let topic = new_topic("shutdown-read", 1).await;
    let mut svc = Service::start();
    let url = svc.url.clone();
    let read = svc
        .request(Method::GET, &format!("/records/{topic}?timeout=3s"))
        .send();
    let read = tokio::spawn(async move { read.await.map(|r| r.status().as_u16()) });
    tokio::time::sleep(Duration::from_millis(500)).await;
    terminate_and_exit_0(
        &mut svc,
        Duration::from_secs(20),
        "the service did not exit",
    )
    .await;
    // The read in flight was answered, not cut off.
    assert_eq!(read.await.unwrap().expect("the read was cut off"), 200);
    // And nothing is accepted any more.
    assert!(reqwest::get(format!("{url}/healthy")).await.is_err());
}

#[tokio::test]
async fn async_writes_accepted_before_sigterm_are_all_written() {
    let topic = new_topic("shutdown-async", 1).await;
    let mut svc = Service::start();
    // ~16 MB in one async request: its write is still running when SIGTERM comes.
    let value = "x".repeat(1000);
    let records: Vec<_> = (0..16_000)
        .map(|i| json!({"topic": topic, "key": i.to_string(), "value": value}))
        .collect();
    let (status, _) = svc
        .post(json!({"async": true, "timeout": "60s", "records": records}))
        .await;
    assert_eq!(status, 202);
    terminate_and_exit_0(
        &mut svc,
        Duration::from_secs(60),
        "the service did not exit",
    )
    .await;
    assert_eq!(
        kcat_read(&topic).len(),
        16_000,
        "async writes were dropped at shutdown"
    );
}

#[tokio::test]
async fn the_shutdown_timeout_bounds_the_wait() {
    let topic = new_topic("shutdown-bound", 1).await;
    let mut svc = Service::start_with(&["--shutdown-timeout", "1s"], &[]);
    let read = svc
        .request(Method::GET, &format!("/records/{topic}?timeout=60s"))
        .send();
    let read = tokio::spawn(read);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Exits long before the read's 60 s, because the bound is 1 s.
    let not_applied = "the shutdown timeout was not applied";
    terminate_and_exit_0(&mut svc, Duration::from_secs(30), not_applied).await;
    assert!(
        read.await.unwrap().is_err(),
        "the 60 s read cannot have been answered"
    );
}

/// Sends SIGTERM and expects the process to exit with status 0 within
/// `within` (failing with `otherwise` when it does not exit).
async fn terminate_and_exit_0(svc: &mut Service, within: Duration, otherwise: &str) {
    svc.terminate();
    let status = svc.exited(within).await.expect(otherwise);
    assert!(status.success(), "exit status {status}");
}
