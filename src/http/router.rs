//! Routes and the handlers that turn HTTP requests into use-case calls.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::auth::BearerToken;
use super::error::{status_of, ApiError, ErrorBody};
use super::query::{self, Query};
use super::{empty_response, json_response, Body};
use crate::kafka::Cluster;
use crate::metrics::{self, Metrics, Route};
use crate::records::post::RecordResult;
use crate::records::{check_topic_name, delete, get, post, RecordsError};

/// What every request handler shares.
pub struct App {
    /// The shared Kafka handle.
    pub cluster: Cluster,
    /// What one request may ask for.
    pub limits: Limits,
    /// Whether POST and DELETE of records are refused (403).
    pub read_only: bool,
    /// The token every route but `/healthy` needs, if any.
    pub token: Option<BearerToken>,
    /// Permits for record requests served at once; none left → 503.
    pub requests: Arc<Semaphore>,
    /// What `GET /metrics` reports; shared with background writes.
    pub metrics: Arc<Metrics>,
    /// Async writes still running, so shutdown can wait for them.
    pub background: tokio_util::task::TaskTracker,
}

/// What one request may ask for, each bound protecting the process.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body (413 beyond).
    pub body_bytes: usize,
    /// Most records in one POST (413 beyond).
    pub records_per_request: usize,
    /// Largest `limit` of a GET (400 beyond).
    pub limit: usize,
    /// Longest `timeout` (400 beyond).
    pub timeout: Duration,
    /// Most bytes in one GET response.
    pub response_bytes: usize,
}

impl Limits {
    /// A request's `timeout`, if within the service's bound.
    pub fn check_timeout(&self, timeout: Duration) -> Result<Duration, ApiError> {
        if timeout > self.timeout {
            return Err(ApiError::bad_request(format!(
                "timeout: {} is longer than the longest allowed, {} (--max-timeout)",
                humantime::format_duration(timeout),
                humantime::format_duration(self.timeout)
            )));
        }
        Ok(timeout)
    }
}

/// How long a client turned away by the request limit should wait.
const RETRY_AFTER_SECONDS: &str = "1";

type HttpResponse = Response<Body>;

/// Answers one request. Never fails: every error becomes a JSON error response.
pub async fn handle(
    app: Arc<App>,
    request: Request<Incoming>,
) -> Result<HttpResponse, std::convert::Infallible> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let route = route_of(&method, &path);
    let measured = app.metrics.request(route);
    let response = serve(&app, route, request).await.unwrap_or_else(|e| {
        if e.status.is_server_error() {
            // Kafka failures: the message names the topic, partition and call.
            tracing::warn!(method = %method, path = %path, status = e.status.as_u16(), error = %e.message, "request failed");
        }
        e.into_response()
    });
    measured.finish(response.status().as_u16(), response.body().data_len());
    tracing::info!(
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
        records = response.extensions().get::<RecordCount>().map_or(0, |c| c.0),
        "request"
    );
    Ok(response)
}

/// How many records a response wrote, accepted or returned, for the request log.
#[derive(Debug, Clone, Copy)]
struct RecordCount(usize);

fn with_records(mut response: HttpResponse, count: usize) -> HttpResponse {
    response.extensions_mut().insert(RecordCount(count));
    response
}

/// What a path names, whatever the method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    Records,
    Topic,
    Healthy,
    Ready,
    Metrics,
    OpenApi,
}

impl Resource {
    fn of(path: &str) -> Option<Resource> {
        let path = path.trim_start_matches('/');
        match path.split_once('/') {
            None => match path {
                "records" => Some(Resource::Records),
                "healthy" => Some(Resource::Healthy),
                "ready" => Some(Resource::Ready),
                "metrics" => Some(Resource::Metrics),
                "openapi.json" => Some(Resource::OpenApi),
                _ => None,
            },
            Some(("records", topic)) if !topic.contains('/') => Some(Resource::Topic),
            Some(_) => None,
        }
    }

    /// The methods it serves, for a 405's `Allow`.
    fn allow(self) -> &'static str {
        match self {
            Resource::Records => "POST",
            Resource::Topic => "GET, DELETE",
            Resource::Healthy | Resource::Ready | Resource::Metrics | Resource::OpenApi => "GET",
        }
    }
}

/// The route a request takes, from its method and path alone: known before
/// the request is served, so that it labels the request's metrics, and the
/// one table [`serve`] dispatches on.
fn route_of(method: &Method, path: &str) -> Route {
    match (Resource::of(path), method) {
        (Some(Resource::Records), &Method::POST) => Route::PostRecords,
        (Some(Resource::Topic), &Method::GET) => Route::GetRecords,
        (Some(Resource::Topic), &Method::DELETE) => Route::DeleteRecords,
        (Some(Resource::Healthy), &Method::GET) => Route::Healthy,
        (Some(Resource::Ready), &Method::GET) => Route::Ready,
        (Some(Resource::Metrics), &Method::GET) => Route::Metrics,
        (Some(Resource::OpenApi), &Method::GET) => Route::OpenApi,
        _ => Route::Other,
    }
}

/// Checks what every request must pass before its route serves it: the
/// bearer token, read-only mode, and the limit on record requests at once.
async fn serve(
    app: &App,
    route: Route,
    request: Request<Incoming>,
) -> Result<HttpResponse, ApiError> {
    if let Some(token) = &app.token {
        if route != Route::Healthy && !token.allows(request.headers()) {
            return Ok(unauthorized());
        }
    }
    if app.read_only && matches!(route, Route::PostRecords | Route::DeleteRecords) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this service is read-only (--read-only): records cannot be written or deleted here",
        ));
    }
    let _permit = match route {
        Route::PostRecords | Route::GetRecords | Route::DeleteRecords => {
            match Arc::clone(&app.requests).try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => return Ok(too_busy()),
            }
        }
        _ => None,
    };
    route_to(app, route, request).await
}

/// A 401 that names the scheme and never echoes what was sent.
fn unauthorized() -> HttpResponse {
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "missing or wrong bearer token: send the header 'Authorization: Bearer TOKEN'",
    )
    .into_response();
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// A 503 for a request beyond the limit on record requests at once.
fn too_busy() -> HttpResponse {
    let mut response = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "too many requests in flight (--max-concurrent-requests); retry after a second",
    )
    .into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    response
}

async fn route_to(
    app: &App,
    route: Route,
    request: Request<Incoming>,
) -> Result<HttpResponse, ApiError> {
    match route {
        Route::PostRecords => post_records(app, request).await,
        Route::GetRecords => {
            let topic = topic_of(request.uri().path())?;
            get_records(app, topic, request.uri().query()).await
        }
        Route::DeleteRecords => {
            let topic = topic_of(request.uri().path())?;
            delete_records(app, topic, request.uri().query()).await
        }
        Route::Healthy => Ok(empty_response(StatusCode::NO_CONTENT)),
        Route::Ready => ready(app).await,
        Route::Metrics => metrics_response(app),
        Route::OpenApi => Ok(super::openapi::response()),
        Route::Other => {
            let path = request.uri().path();
            match Resource::of(path) {
                Some(resource) => Ok(not_allowed(resource.allow())),
                None => Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!(
                        "no route for {path}; the API has POST /records, GET and DELETE /records/{{topic}}"
                    ),
                )),
            }
        }
    }
}

/// The topic of a `/records/{topic}` path, decoded and checked.
fn topic_of(path: &str) -> Result<String, ApiError> {
    let raw = path
        .trim_start_matches('/')
        .strip_prefix("records/")
        .unwrap_or_default();
    let topic = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::bad_request("topic: the path is not valid UTF-8"))?
        .into_owned();
    check_topic_name(&topic).map_err(|e| ApiError::bad_request(format!("topic: '{topic}' {e}")))?;
    Ok(topic)
}

fn metrics_response(app: &App) -> Result<HttpResponse, ApiError> {
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

fn not_allowed(allow: &'static str) -> HttpResponse {
    let mut response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed here; allowed: {allow}"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

async fn ready(app: &App) -> Result<HttpResponse, ApiError> {
    app.cluster
        .ready(Instant::now() + Duration::from_secs(2))
        .await
        .map_err(|e| {
            app.metrics.kafka_error(&e);
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}"))
        })?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

async fn post_records(app: &App, request: Request<Incoming>) -> Result<HttpResponse, ApiError> {
    Query::parse(request.uri().query(), &[])?;
    let body = Limited::new(request.into_body(), app.limits.body_bytes)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the body is larger than {} bytes; send fewer records per request",
                        app.limits.body_bytes
                    ),
                )
            } else {
                ApiError::bad_request(format!("cannot read the body: {e}"))
            }
        })?
        .to_bytes();
    app.metrics.request_body(Route::PostRecords, body.len());
    // Parsed as JSON whatever the Content-Type says: `curl -d` sends a form type.
    let request = post::parse_bytes(&body)?;
    let records = request.records.len();
    if records > app.limits.records_per_request {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "records: {records} records are more than the {} one request may write (--max-records-per-request); nothing was written: send them in several requests",
                app.limits.records_per_request
            ),
        ));
    }
    app.limits.check_timeout(request.timeout)?;
    if request.asynchronous {
        let accepted = request.records.len();
        let cluster = app.cluster.clone();
        let metrics = Arc::clone(&app.metrics);
        app.background.spawn(async move {
            let results = post::run(&cluster, request).await;
            let failed = results.iter().filter(|r| r.error().is_some()).count();
            metrics.records_produced(results.len() - failed);
            metrics.async_records_failed(failed);
            metrics.records_errors(results.iter().filter_map(RecordResult::error));
            log_failures(&results);
            if failed > 0 {
                tracing::warn!(failed, total = results.len(), "async write failed");
            }
        });
        return Ok(with_records(empty_response(StatusCode::ACCEPTED), accepted));
    }
    let results = post::run(&app.cluster, request).await;
    let errors = || results.iter().filter_map(RecordResult::error);
    let written = results.len() - errors().count();
    app.metrics.records_produced(written);
    app.metrics.records_errors(errors());
    log_failures(&results);
    Ok(with_records(post_response(&results), written))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[serde(untagged)]
enum ResultOut<'a> {
    Written {
        topic: &'a str,
        partition: i32,
        offset: i64,
        timestamp: i64,
        #[serde(rename = "serializedKeySize")]
        serialized_key_size: i64,
        #[serde(rename = "serializedValueSize")]
        serialized_value_size: i64,
    },
    Failed {
        topic: &'a str,
        partition: Option<i32>,
        error: ErrorBody<'a>,
    },
}

impl<'a> ResultOut<'a> {
    /// The entry of a written record; `None` for a failed one.
    fn written(r: &'a RecordResult) -> Option<ResultOut<'a>> {
        match r {
            RecordResult::Written {
                topic,
                partition,
                offset,
                timestamp,
                serialized_key_size,
                serialized_value_size,
            } => Some(ResultOut::Written {
                topic,
                partition: *partition,
                offset: *offset,
                timestamp: *timestamp,
                serialized_key_size: *serialized_key_size,
                serialized_value_size: *serialized_value_size,
            }),
            RecordResult::Failed { .. } => None,
        }
    }
}

#[derive(Serialize)]
struct PostBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    results: Vec<ResultOut<'a>>,
}

/// Logs each failed write once per topic and partition, with its cause.
fn log_failures(results: &[RecordResult]) {
    let mut seen = std::collections::HashSet::new();
    for r in results {
        if let RecordResult::Failed {
            topic,
            partition,
            error,
        } = r
        {
            if seen.insert((&**topic, *partition)) {
                tracing::warn!(topic = %topic, partition = partition.unwrap_or(-1), status = status_of(error).as_u16(), error = %error, "records not written");
            }
        }
    }
}

/// The body of a POST whose records were all written, written directly: the
/// same bytes serde would write for [`PostBody`], at a fraction of the cost
/// (each topic's JSON string is written once, numbers with `itoa`).
fn written_body(results: &[RecordResult]) -> Option<Vec<u8>> {
    // Sized for the usual entry, so the body is not copied as it grows: 110
    // bytes of names and numbers besides the topic.
    let topic_len = results.first().map_or(0, |r| r.topic().len());
    let mut out = Vec::with_capacity(16 + results.len() * (140 + topic_len));
    out.extend_from_slice(b"{\"results\":[");
    let mut numbers = itoa::Buffer::new();
    // The last topic's name as a JSON string, reused while records share it.
    let mut topic_json: (Option<&str>, Vec<u8>) = (None, Vec::new());
    for (i, r) in results.iter().enumerate() {
        let RecordResult::Written {
            topic,
            partition,
            offset,
            timestamp,
            serialized_key_size,
            serialized_value_size,
        } = r
        else {
            return None;
        };
        if topic_json.0 != Some(topic.as_ref()) {
            topic_json.1.clear();
            serde_json::to_writer(&mut topic_json.1, topic.as_ref() as &str).ok()?;
            topic_json.0 = Some(topic.as_ref());
        }
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"topic\":");
        out.extend_from_slice(&topic_json.1);
        for (name, n) in [
            (&b",\"partition\":"[..], i64::from(*partition)),
            (b",\"offset\":", *offset),
            (b",\"timestamp\":", *timestamp),
            (b",\"serializedKeySize\":", *serialized_key_size),
            (b",\"serializedValueSize\":", *serialized_value_size),
        ] {
            out.extend_from_slice(name);
            out.extend_from_slice(numbers.format(n).as_bytes());
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    Some(out)
}

fn post_response(results: &[RecordResult]) -> HttpResponse {
    if let Some(body) = written_body(results) {
        return super::json_bytes_response(StatusCode::OK, body);
    }
    let errors: Vec<ApiError> = results
        .iter()
        .map(|r| {
            r.error()
                .map(|e| ApiError::new(status_of(e), e.to_string()))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .flatten()
        .collect();
    let mut error_iter = errors.iter();
    let out: Vec<ResultOut<'_>> = results
        .iter()
        .map(|r| {
            ResultOut::written(r).unwrap_or_else(|| ResultOut::Failed {
                topic: r.topic(),
                partition: r.partition(),
                error: error_iter.next().map_or(
                    ErrorBody {
                        code: 500,
                        message: "unknown",
                    },
                    ApiError::body,
                ),
            })
        })
        .collect();
    let Some(first) = errors.first() else {
        return json_response(
            StatusCode::OK,
            &PostBody {
                code: None,
                message: None,
                results: out,
            },
        );
    };
    let written = results.len() - errors.len();
    let aborted = results
        .iter()
        .find_map(RecordResult::error)
        .and_then(|e| match e {
            RecordsError::Aborted { .. } => Some(e.to_string()),
            _ => None,
        });
    let message = if let Some(aborted) = aborted {
        // A transaction is all or nothing: say so rather than "may or may not".
        format!(
            "none of the {} records became visible: {aborted}",
            results.len()
        )
    } else if first.status == StatusCode::GATEWAY_TIMEOUT {
        format!(
            "the timeout passed: {written} of {} records are confirmed written (those with an offset); the others may or may not have been written",
            results.len()
        )
    } else {
        format!(
            "{} of {} records failed; see each record's error (first: {})",
            errors.len(),
            results.len(),
            first.message
        )
    };
    json_response(
        first.status,
        &PostBody {
            code: Some(first.status.as_u16()),
            message: Some(message),
            results: out,
        },
    )
}

async fn get_records(
    app: &App,
    topic: String,
    raw_query: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let request = query::get_request(topic, raw_query, &app.limits)?;
    let page = get::run(&app.cluster, &request)
        .await
        .inspect_err(|e| app.metrics.records_error(e))?;
    let rendered = page.render(app.limits.response_bytes)?;
    drop(page);
    app.metrics.records_fetched(rendered.count);
    let response = with_records(
        super::json_bytes_response(StatusCode::OK, rendered.body),
        rendered.count,
    );
    let Some(commit) = rendered.commit else {
        return Ok(response);
    };
    // Commit only once the records are written to the client.
    let cluster = app.cluster.clone();
    let metrics = Arc::clone(&app.metrics);
    let (parts, body) = response.into_parts();
    let after = Box::pin(async move {
        get::commit(&cluster, &commit).await.map_err(|e| {
            metrics.records_error(&e);
            tracing::warn!(group = %commit.group, topic = %commit.topic, error = %e, "commit after response failed");
            e.to_string()
        })
    });
    Ok(Response::from_parts(
        parts,
        Body::then(body.into_bytes(), after),
    ))
}

async fn delete_records(
    app: &App,
    topic: String,
    raw_query: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let request = query::delete_request(topic, raw_query)?;
    let partitions = delete::run(&app.cluster, &request)
        .await
        .inspect_err(|e| app.metrics.records_error(e))?;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Partition {
        partition: i32,
        low_watermark: i64,
    }
    #[derive(Serialize)]
    struct Body {
        partitions: Vec<Partition>,
    }
    Ok(json_response(
        StatusCode::OK,
        &Body {
            partitions: partitions
                .into_iter()
                .map(|p| Partition {
                    partition: p.partition,
                    low_watermark: p.low_watermark,
                })
                .collect(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_label_of_a_topic_path_is_its_template() {
        assert_eq!(
            route_of(&Method::GET, "/records/some-topic").template(),
            "GET /records/{topic}"
        );
        assert_eq!(
            route_of(&Method::DELETE, "/records/some-topic").template(),
            "DELETE /records/{topic}"
        );
        assert_eq!(route_of(&Method::POST, "/records"), Route::PostRecords);
        assert_eq!(route_of(&Method::GET, "/metrics"), Route::Metrics);
        assert_eq!(route_of(&Method::GET, "/healthy"), Route::Healthy);
        assert_eq!(route_of(&Method::GET, "/ready"), Route::Ready);
        assert_eq!(route_of(&Method::GET, "/openapi.json"), Route::OpenApi);
    }

    #[test]
    fn the_written_body_is_what_serde_writes() {
        let written = |topic: &str, partition, offset| RecordResult::Written {
            topic: topic.into(),
            partition,
            offset,
            timestamp: 1_700_000_000_000,
            serialized_key_size: -1,
            serialized_value_size: 12,
        };
        let results = vec![
            written("orders", 0, 0),
            written("orders", 1, i64::MAX),
            written("we\"ird\\topic", 2, 7),
            written("orders", 0, 1),
        ];
        let by_serde = serde_json::to_vec(&PostBody {
            code: None,
            message: None,
            results: results
                .iter()
                .map(|r| ResultOut::written(r).unwrap())
                .collect(),
        })
        .unwrap();
        assert_eq!(
            String::from_utf8(written_body(&results).unwrap()).unwrap(),
            String::from_utf8(by_serde).unwrap()
        );
        let failed = RecordResult::Failed {
            topic: "orders".into(),
            partition: None,
            error: RecordsError::Invalid("x".into()),
        };
        assert!(written_body(&[written("orders", 0, 0), failed]).is_none());
    }

    #[test]
    fn unknown_paths_and_wrong_methods_are_other() {
        for (method, path) in [
            (Method::GET, "/topics/some-topic"),
            (Method::GET, "/records/some-topic/extra"),
            (Method::PUT, "/records/some-topic"),
            (Method::GET, "/records"),
            (Method::POST, "/metrics"),
        ] {
            assert_eq!(route_of(&method, path), Route::Other, "{method} {path}");
        }
    }
}
