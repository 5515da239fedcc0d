//! Reads are read_committed: the end of a partition is its last stable
//! offset, and records of an open transaction appear only once it commits.
//! The transaction is written by Confluent's Python client (librdkafka), an
//! independent producer, and held open until the test has read through it
//! (tests/open_transaction.py): no timing decides what the reads see.
mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test]
async fn an_open_transaction_is_invisible_until_it_commits() {
    let topic = new_topic("lso", 1).await;
    let svc = Service::start();
    let committed: Vec<_> = (0..3)
        .map(|i| json!({"topic": topic, "value": format!("c{i}")}))
        .collect();
    post_ok(&svc, committed).await;

    // 20 records in one transaction, acknowledged and left open.
    let open = OpenTransaction::start(&topic, 20);
    // An independent reader sees the uncommitted records in the log.
    eventually(Duration::from_secs(60), || {
        (Kcat::new().read(&topic).uncommitted().records().len() == 23).then_some(())
    })
    .await;

    // The end is the last stable offset (3), not the high watermark.
    let (status, body) = svc
        .get(&format!("/records/{topic}?distanceFromLatest=1&timeout=1s"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["records"][0]["offset"], 2, "{body}");
    assert_eq!(body["records"][0]["value"], "c2", "{body}");
    let (_, body) = svc
        .get(&format!(
            "/records/{topic}?distanceFromBeginning=0&limit=100&timeout=1s"
        ))
        .await;
    assert_eq!(body["records"].as_array().unwrap().len(), 3, "{body}");

    // Once it commits, all 20 appear (after the 3 plain ones), and no control record.
    open.commit();
    let (_, body) = svc
        .get(&format!(
            "/records/{topic}?distanceFromBeginning=0&limit=100&timeout=5s"
        ))
        .await;
    let records = body["records"].as_array().unwrap();
    assert_eq!(records.len(), 23, "{body}");
    let offsets: Vec<i64> = records
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(
        offsets,
        (0..23).collect::<Vec<_>>(),
        "the commit marker must not appear"
    );
    assert_eq!(kcat_read(&topic).len(), 23);
}
