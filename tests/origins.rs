//! What web pages can do with a service on loopback: nothing, unless
//! `--cors-allowed-origins` lists their origin; and a DNS-rebound host name
//! gets 421. Run against the real broker; what was written is checked with kcat.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_cross_origin_text_post_is_refused_and_writes_nothing() {
    let svc = Service::start();
    let topic = new_topic("origins", 1).await;
    let body =
        json!({"records": [{"topic": topic, "partition": 0, "value": "from a page"}]}).to_string();
    // What a page on another site can send without any preflight.
    let response = svc
        .request(Method::POST, "/records")
        .header("Origin", "http://evil.example")
        .header("Content-Type", "text/plain")
        .header("Sec-Fetch-Site", "cross-site")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    let message = response.json::<serde_json::Value>().await.unwrap()["message"].to_string();
    assert!(
        message.contains("http://evil.example") && message.contains("--cors-allowed-origins"),
        "{message}"
    );
    // An image or script tag sends no Origin, but says it is cross-site.
    let response = svc
        .request(Method::GET, &format!("/records/{topic}?seekTo=0&groupId=g"))
        .header("Sec-Fetch-Site", "cross-site")
        .header("Sec-Fetch-Mode", "no-cors")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(
        kcat_read(&topic).is_empty(),
        "a refused request wrote records"
    );
    // curl, which sends no Origin, writes.
    let (status, _) = svc.post(serde_json::from_str(&body).unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(kcat_read(&topic).len(), 1);
}

#[tokio::test]
async fn a_host_name_that_is_not_the_services_is_misdirected() {
    let svc = Service::start();
    // DNS rebinding: the page's own name resolves to 127.0.0.1, so the
    // browser calls it same-origin; the Host header still names it.
    let response = svc
        .request(Method::GET, "/ready")
        .header("Host", "rebound.example:8001")
        .header("Origin", "http://rebound.example:8001")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 421);
    for host in ["localhost", "127.0.0.1:1234", "[::1]:8001"] {
        let response = svc
            .request(Method::GET, "/healthy")
            .header("Host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204, "Host: {host}");
    }
    let open = Service::start_with(&["--allowed-hosts", "kafka-records.internal"], &[]);
    let response = open
        .request(Method::GET, "/healthy")
        .header("Host", "kafka-records.internal:8001")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = open
        .request(Method::GET, "/healthy")
        .header("Host", "other.internal")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 421);
}

#[tokio::test]
async fn a_listed_origin_gets_preflights_and_cors_headers() {
    let origin = "http://ui.localhost:3000";
    let svc = Service::start_with(
        &["--cors-allowed-origins", origin, "--auth-token", "s3cret"],
        &[],
    );
    let topic = new_topic("cors", 1).await;
    // The preflight carries no token and is answered.
    let preflight = svc
        .request(Method::OPTIONS, "/records")
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], origin);
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert_eq!(
        h["access-control-allow-headers"],
        "authorization, content-type"
    );
    let response = svc
        .request(Method::POST, "/records")
        .header("Origin", origin)
        .header("Authorization", "Bearer s3cret")
        .json(&json!({"records": [{"topic": topic, "partition": 0, "value": "from the ui"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], origin);
    assert_eq!(response.headers()["vary"], "Origin");
    assert_eq!(kcat_read(&topic).len(), 1);
    // Errors carry the headers too, so the page can read why.
    let response = svc
        .request(Method::GET, "/ready")
        .header("Origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["access-control-allow-origin"], origin);
    // Another origin's preflight is refused.
    let refused = svc
        .request(Method::OPTIONS, "/records")
        .header("Origin", "http://other.localhost:3000")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
}
