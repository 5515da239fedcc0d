//! The service's own routes: `/healthy`, `/ready`, `/metrics`, `/openapi.json`.

use std::time::Duration;

use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use tokio::time::Instant;

use super::HttpResponse;
use crate::http::error::ApiError;
use crate::http::response::{empty_response, Body};
use crate::http::router::App;
use crate::metrics;

/// How long `/ready` waits for a broker to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// GET /healthy: 204 while the process serves.
pub(crate) fn healthy() -> HttpResponse {
    empty_response(StatusCode::NO_CONTENT)
}

/// GET /ready: 204 when a broker answers, else 503 with the reason.
pub(crate) async fn ready(app: &App) -> Result<HttpResponse, ApiError> {
    app.cluster
        .ready(Instant::now() + READY_TIMEOUT)
        .await
        .map_err(|e| {
            app.metrics.kafka_error(&e);
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}"))
        })?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// GET /metrics: the Prometheus text exposition.
pub(crate) fn metrics(app: &App) -> Result<HttpResponse, ApiError> {
    let text = app.metrics.encode().map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the metrics: {e}"),
        )
    })?;
    let mut response = Response::new(Body::full(text.into()));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    Ok(response)
}
