//! `DELETE /records/{topic}`: query → [`delete::run`] → the new low watermarks.

use hyper::StatusCode;
use serde::Serialize;

use super::HttpResponse;
use crate::http::error::ApiError;
use crate::http::query;
use crate::http::response::json_response;
use crate::http::router::App;
use crate::records::delete;

/// One partition of the answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PartitionOut {
    partition: i32,
    low_watermark: i64,
}

/// The answer: `{"partitions": [...]}`.
#[derive(Serialize)]
struct DeleteOut {
    partitions: Vec<PartitionOut>,
}

/// DELETE /records/{topic}.
pub(crate) async fn delete_records(
    app: &App,
    topic: String,
    raw_query: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let request = query::delete_request(topic, raw_query)?;
    let partitions = delete::run(&app.cluster, &request)
        .await
        .inspect_err(|e| app.metrics.records_error(e))?;
    let partitions = partitions
        .into_iter()
        .map(|p| PartitionOut {
            partition: p.partition,
            low_watermark: p.low_watermark,
        })
        .collect();
    Ok(json_response(StatusCode::OK, &DeleteOut { partitions }))
}
