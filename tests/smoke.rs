mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn classic_example_round_trips_through_kafka() {
    let topic = unique_topic("classic");
    create_topic(&topic, 1, &[]).await;
    let svc = Service::start();
    let records: Vec<_> = (0..10)
        .map(|i| json!({"topic": topic, "key": format!("test{i}"), "value": i, "valueSerializer": "integer"}))
        .collect();
    let (status, body) = svc.post(json!({ "records": records })).await;
    assert_eq!(status, 200, "{body}");
    let offsets: Vec<i64> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, (0..10).collect::<Vec<_>>());

    let (status, body) = svc
        .get(&format!(
            "/records/{topic}?distanceFromLatest=3&limit=2&valueDeserializer=integer"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let got: Vec<(i64, String, i64)> = body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["offset"].as_i64().unwrap(),
                r["key"].as_str().unwrap().to_string(),
                r["value"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, vec![(7, "test7".into(), 7), (8, "test8".into(), 8)]);

    let stored = kcat_read(&topic);
    assert_eq!(stored.len(), 10);
    assert_eq!(stored[7].key.as_deref(), Some(&b"test7"[..]));
    assert_eq!(stored[7].value.as_deref(), Some(&[0u8, 0, 0, 7][..]));
}
