//! `DELETE /records/{topic}`: query → [`delete::run`] → the new low watermarks.

use hyper::StatusCode;
use serde::Serialize;

use super::HttpResponse;
use crate::http::error::ApiError;
use crate::http::query;
use crate::http::response::json_response;
use crate::http::router::App;
use crate::records::delete::{self, Deleted};

/// One partition of the answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PartitionOut {
    partition: i32,
    low_watermark: i64,
}

/// One partition that was not truncated.
#[derive(Serialize)]
struct UnavailableOut {
    partition: i32,
    reason: String,
}

/// The answer: `{"partitions": [...]}`; when partitions could not be
/// reached, a 503 that also has `code`, `message` and `unavailablePartitions`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeleteOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    partitions: Vec<PartitionOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unavailable_partitions: Vec<UnavailableOut>,
}

/// DELETE /records/{topic}.
pub(crate) async fn delete_records(
    app: &App,
    topic: String,
    raw_query: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let request = query::delete_request(topic, raw_query)?;
    let deleted = delete::run(&app.cluster, &request)
        .await
        .inspect_err(|e| app.metrics.records_error(e))?;
    for u in &deleted.unavailable {
        app.metrics.kafka_error(&u.error);
    }
    let partitions = deleted
        .partitions
        .iter()
        .map(|p| PartitionOut {
            partition: p.partition,
            low_watermark: p.low_watermark,
        })
        .collect();
    if deleted.unavailable.is_empty() {
        return Ok(json_response(
            StatusCode::OK,
            &DeleteOut {
                code: None,
                message: None,
                partitions,
                unavailable_partitions: Vec::new(),
            },
        ));
    }
    // A partial truncation is a failure, so that `curl --fail` and retrying
    // clients notice it; the body says what was truncated.
    let status = StatusCode::SERVICE_UNAVAILABLE;
    let message = partial_message(&request.topic, &deleted);
    tracing::warn!(topic = %request.topic, "{message}");
    Ok(json_response(
        status,
        &DeleteOut {
            code: Some(status.as_u16()),
            message: Some(message),
            partitions,
            unavailable_partitions: deleted
                .unavailable
                .iter()
                .map(|u| UnavailableOut {
                    partition: u.partition,
                    reason: u.reason(),
                })
                .collect(),
        },
    ))
}

/// What a partial truncation did and did not do.
fn partial_message(topic: &str, deleted: &Deleted) -> String {
    let list = |ids: Vec<i32>| {
        ids.iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let missed = list(deleted.unavailable.iter().map(|u| u.partition).collect());
    let done = list(deleted.partitions.iter().map(|p| p.partition).collect());
    let first = &deleted.unavailable[0];
    format!(
        "topic '{topic}' was truncated only in part: partition(s) {missed} cannot be reached now and kept their records (partition {}: {}); partition(s) {done} were truncated (see partitions). Delete again once the brokers are back",
        first.partition,
        first.reason()
    )
}
