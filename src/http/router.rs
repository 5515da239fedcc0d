//! The route table and the guards every request passes (bearer token,
//! read-only mode, the limit on record requests at once); each route lives
//! in [`super::routes`].

use std::sync::Arc;
use std::time::Duration;

use hyper::header::{
    HeaderValue, ACCEPT_ENCODING, ALLOW, CONNECTION, RETRY_AFTER, WWW_AUTHENTICATE,
};
use hyper::{Method, Request, StatusCode};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::auth::BearerToken;
use super::browsers::Browsers;
use super::compress::{compress, Encoding};
use super::error::ApiError;
use super::response::{empty_response, Permit, Unflushed};
use super::routes::{
    groups, page, records_delete, records_get, records_post, service, topics, HttpResponse,
    RecordCount,
};
use super::BoxError;
use crate::kafka::Cluster;
use crate::metrics::{Metrics, Route};
use crate::records::get::GroupTurns;
use crate::records::{check_id, check_topic_name};

/// What every request handler shares.
pub struct App {
    /// The shared Kafka handle.
    pub cluster: Cluster,
    /// What one request may ask for.
    pub limits: Limits,
    /// Whether POST and DELETE of records are refused (403).
    pub read_only: bool,
    /// The token every route but `/healthy` and the page's files needs, if any.
    pub token: Option<BearerToken>,
    /// Permits for record requests served at once; none left → 503.
    pub requests: Arc<Semaphore>,
    /// What `GET /metrics` reports; shared with background writes.
    pub metrics: Arc<Metrics>,
    /// Async writes still running, so shutdown can wait for them.
    pub background: tokio_util::task::TaskTracker,
    /// Which origins and host names browsers may use.
    pub browsers: Browsers,
    /// Consumer groups being read: GETs of one group take turns.
    pub group_turns: GroupTurns,
    /// The Schema Registry, when `--schema-registry-url` is given.
    pub registry: Option<crate::codec::registry::Registry>,
    /// Cancelled when the service shuts down: streams end cleanly.
    pub shutdown: tokio_util::sync::CancellationToken,
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
    /// Longest a client may take to send a request body (408 beyond).
    pub client_timeout: Duration,
    /// Most records a GET with a filter scans (it answers with a cursor beyond).
    pub scan_records: u64,
    /// Longest a stream may last.
    pub stream_duration: Duration,
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

/// Answers one request. Never fails: every error becomes a JSON error response.
pub async fn handle<B>(
    app: Arc<App>,
    request: Request<B>,
) -> Result<HttpResponse, std::convert::Infallible>
where
    B: hyper::body::Body,
    B::Error: Into<BoxError>,
{
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let route = route_of(&method, &path);
    let measured = app.metrics.request(route);
    let encoding = (method == Method::GET || method == Method::HEAD)
        .then(|| Encoding::negotiate(request.headers().get(ACCEPT_ENCODING)));
    let (response, origin) = match app.browsers.check(request.headers()) {
        Err(e) => (Err(e), None),
        Ok(origin) => {
            let preflight = app
                .browsers
                .preflight(&method, request.headers(), origin.as_ref());
            let response = match preflight {
                Some(answer) => Ok(answer),
                None => serve(&app, route, request).await,
            };
            (response, origin)
        }
    };
    let mut response = response.unwrap_or_else(|e| {
        if e.status.is_server_error() {
            // Kafka failures: the message names the topic, partition and call.
            tracing::warn!(method = %method, path = %path, status = e.status.as_u16(), error = %e.message, "request failed");
        }
        e.into_response()
    });
    // Errors too: a listed page reads why its request failed.
    Browsers::cors(&mut response, origin.as_ref());
    // Refused before its body was read (or while it was): the rest of the
    // body is still on the connection, so it closes after this answer, and
    // says so, so that a client does not send its next request on it.
    if matches!(
        response.status(),
        StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::REQUEST_TIMEOUT
            | StatusCode::UNSUPPORTED_MEDIA_TYPE
    ) {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    measured.finish(response.status().as_u16(), response.body().data_len());
    if let Some(encoding) = encoding {
        if response.status() == StatusCode::OK {
            compress(&mut response, encoding);
        }
    }
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

/// What a path names, whatever the method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    Records,
    Topic,
    Topics,
    TopicAdmin,
    Groups,
    Group,
    GroupOffsets,
    Healthy,
    Ready,
    Metrics,
    OpenApi,
    Page,
    PageSettings,
    PageAsset,
}

impl Resource {
    fn of(path: &str) -> Option<Resource> {
        let path = path.trim_start_matches('/');
        match path.split_once('/') {
            None => match path {
                "records" => Some(Resource::Records),
                "topics" => Some(Resource::Topics),
                "groups" => Some(Resource::Groups),
                "healthy" => Some(Resource::Healthy),
                "ready" => Some(Resource::Ready),
                "metrics" => Some(Resource::Metrics),
                "openapi.json" => Some(Resource::OpenApi),
                "" => Some(Resource::Page),
                _ => None,
            },
            Some(("ui", "settings.json")) => Some(Resource::PageSettings),
            Some(("ui", name)) if !name.contains('/') && !name.is_empty() => {
                Some(Resource::PageAsset)
            }
            Some(("records", topic)) if !topic.contains('/') => Some(Resource::Topic),
            Some(("topics", topic)) if !topic.contains('/') => Some(Resource::TopicAdmin),
            Some(("groups", group)) if !group.contains('/') => Some(Resource::Group),
            Some(("groups", rest)) => match rest.strip_suffix("/offsets") {
                Some(group) if !group.contains('/') && !group.is_empty() => {
                    Some(Resource::GroupOffsets)
                }
                _ => None,
            },
            Some(_) => None,
        }
    }

    /// The methods it serves, for a 405's `Allow`.
    fn allow(self) -> &'static str {
        match self {
            Resource::Records => "POST",
            Resource::Topic | Resource::TopicAdmin => "GET, HEAD, DELETE",
            Resource::Topics => "GET, HEAD, POST",
            Resource::Groups | Resource::Group => "GET, HEAD",
            Resource::GroupOffsets => "POST",
            Resource::Healthy
            | Resource::Ready
            | Resource::Metrics
            | Resource::OpenApi
            | Resource::Page
            | Resource::PageSettings
            | Resource::PageAsset => "GET, HEAD",
        }
    }
}

/// The route a request takes, from its method and path alone: known before
/// the request is served, so that it labels the request's metrics, and the
/// one table [`serve`] dispatches on.
fn route_of(method: &Method, path: &str) -> Route {
    // HEAD is GET without the body (hyper sends the head only, and never
    // polls the body, so a HEAD with a group commits nothing).
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    match (Resource::of(path), method) {
        (Some(Resource::Records), &Method::POST) => Route::PostRecords,
        (Some(Resource::Topic), &Method::GET) => Route::GetRecords,
        (Some(Resource::Topic), &Method::DELETE) => Route::DeleteRecords,
        (Some(Resource::Topics), &Method::GET) => Route::ListTopics,
        (Some(Resource::Topics), &Method::POST) => Route::CreateTopic,
        (Some(Resource::TopicAdmin), &Method::GET) => Route::GetTopic,
        (Some(Resource::TopicAdmin), &Method::DELETE) => Route::DeleteTopic,
        (Some(Resource::Groups), &Method::GET) => Route::ListGroups,
        (Some(Resource::Group), &Method::GET) => Route::GetGroup,
        (Some(Resource::GroupOffsets), &Method::POST) => Route::ResetGroupOffsets,
        (Some(Resource::Healthy), &Method::GET) => Route::Healthy,
        (Some(Resource::Ready), &Method::GET) => Route::Ready,
        (Some(Resource::Metrics), &Method::GET) => Route::Metrics,
        (Some(Resource::OpenApi), &Method::GET) => Route::OpenApi,
        (Some(Resource::Page), &Method::GET) => Route::Page,
        (Some(Resource::PageSettings), &Method::GET) => Route::PageSettings,
        (Some(Resource::PageAsset), &Method::GET) => Route::PageAsset,
        _ => Route::Other,
    }
}

/// Checks what every request must pass before its route serves it: the
/// bearer token, read-only mode, and the limit on record requests at once.
async fn serve<B>(app: &App, route: Route, request: Request<B>) -> Result<HttpResponse, ApiError>
where
    B: hyper::body::Body,
    B::Error: Into<BoxError>,
{
    if let Some(token) = &app.token {
        // The page's files hold no data: the page loads, then asks for the
        // token that its API calls need.
        let open = matches!(route, Route::Healthy | Route::Page | Route::PageAsset);
        if !open && !token.allows(request.headers()) {
            return Ok(unauthorized());
        }
    }
    if app.read_only
        && matches!(
            route,
            Route::PostRecords
                | Route::DeleteRecords
                | Route::CreateTopic
                | Route::DeleteTopic
                | Route::ResetGroupOffsets
        )
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this service is read-only (--read-only): records and topics cannot be written or deleted here",
        ));
    }
    let permit: Option<Permit> = match route {
        Route::PostRecords
        | Route::GetRecords
        | Route::DeleteRecords
        | Route::ListTopics
        | Route::GetTopic
        | Route::CreateTopic
        | Route::DeleteTopic
        | Route::ListGroups
        | Route::GetGroup
        | Route::ResetGroupOffsets => match Arc::clone(&app.requests).try_acquire_owned() {
            Ok(permit) => Some(Arc::new(permit)),
            Err(_) => return Ok(too_busy()),
        },
        _ => None,
    };
    let mut request = request;
    if let Some(permit) = &permit {
        // An async write keeps its own share (see records_post).
        request.extensions_mut().insert(Arc::clone(permit));
    }
    let unflushed = request.extensions().get::<Unflushed>().cloned();
    let mut response = route_to(app, route, request).await?;
    if let Some(permit) = permit {
        // The request's share of the limits is held until its body has been
        // written (or the client is gone), not just until it is rendered: a
        // client that does not read cannot make the service hold more bodies
        // than --max-concurrent-requests.
        response.body_mut().hold(permit, unflushed);
    }
    Ok(response)
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

/// The route table: each route's handler.
async fn route_to<B>(app: &App, route: Route, request: Request<B>) -> Result<HttpResponse, ApiError>
where
    B: hyper::body::Body,
    B::Error: Into<BoxError>,
{
    match route {
        Route::PostRecords => records_post::post_records(app, request).await,
        Route::GetRecords => {
            let topic = name_in(request.uri().path(), "records/")?;
            records_get::get_records(app, topic, request.uri().query(), request.headers()).await
        }
        Route::DeleteRecords => {
            let topic = name_in(request.uri().path(), "records/")?;
            records_delete::delete_records(app, topic, request.uri().query()).await
        }
        Route::ListTopics => topics::list_topics(app, request.uri().query()).await,
        Route::GetTopic => {
            let topic = name_in(request.uri().path(), "topics/")?;
            topics::get_topic(app, topic, request.uri().query()).await
        }
        Route::CreateTopic => topics::create_topic(app, request).await,
        Route::DeleteTopic => {
            let topic = name_in(request.uri().path(), "topics/")?;
            topics::delete_topic(app, topic, request.uri().query()).await
        }
        Route::ListGroups => groups::list_groups(app, request.uri().query()).await,
        Route::GetGroup => {
            let group = group_in(request.uri().path())?;
            groups::get_group(app, group, request.uri().query()).await
        }
        Route::ResetGroupOffsets => {
            let group = group_in(request.uri().path())?;
            groups::reset_offsets(app, group, request).await
        }
        Route::Healthy => Ok(service::healthy()),
        Route::Ready => service::ready(app).await,
        Route::Metrics => service::metrics(app),
        Route::OpenApi => Ok(super::openapi::response()),
        Route::Page => page::page(request.uri().query(), request.headers()),
        Route::PageSettings => page::settings(app, request.uri().query()),
        Route::PageAsset => {
            let raw = request
                .uri()
                .path()
                .trim_start_matches('/')
                .strip_prefix("ui/")
                .unwrap_or_default();
            // Percent-encoded as any path segment may be (`app%2Ejs`).
            let name = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
            page::asset(&name, request.uri().query(), request.headers())
        }
        Route::Other => {
            let path = request.uri().path();
            match Resource::of(path) {
                Some(resource) if request.method() == Method::OPTIONS => {
                    let mut response = empty_response(StatusCode::NO_CONTENT);
                    response
                        .headers_mut()
                        .insert(ALLOW, HeaderValue::from_static(resource.allow()));
                    Ok(response)
                }
                Some(resource) => Ok(not_allowed(resource.allow())),
                None => Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!(
                        "no route for {path}; the API has POST /records, GET and DELETE /records/{{topic}}, GET and POST /topics, GET and DELETE /topics/{{topic}}, GET /groups, GET /groups/{{group}}, POST /groups/{{group}}/offsets, and the page at GET /"
                    ),
                )),
            }
        }
    }
}

/// The topic of a `/records/{topic}` or `/topics/{topic}` path (after
/// `prefix`), decoded and checked.
fn name_in(path: &str, prefix: &str) -> Result<String, ApiError> {
    let raw = path
        .trim_start_matches('/')
        .strip_prefix(prefix)
        .unwrap_or_default();
    let topic = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::bad_request("topic: the path is not valid UTF-8"))?
        .into_owned();
    check_topic_name(&topic).map_err(|e| ApiError::bad_request(format!("topic: '{topic}' {e}")))?;
    Ok(topic)
}

/// The group of a `/groups/{group}` or `/groups/{group}/offsets` path,
/// decoded and checked.
fn group_in(path: &str) -> Result<String, ApiError> {
    let raw = path
        .trim_start_matches('/')
        .strip_prefix("groups/")
        .unwrap_or_default();
    let raw = raw.strip_suffix("/offsets").unwrap_or(raw);
    let group = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::bad_request("group: the path is not valid UTF-8"))?
        .into_owned();
    check_id(&group).map_err(|e| ApiError::bad_request(format!("group: '{group}' {e}")))?;
    Ok(group)
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
    fn unknown_paths_and_wrong_methods_are_other() {
        for (method, path) in [
            (Method::GET, "/groups/some-group/members"),
            (Method::GET, "/records/some-topic/extra"),
            (Method::PUT, "/records/some-topic"),
            (Method::GET, "/records"),
            (Method::POST, "/metrics"),
        ] {
            assert_eq!(route_of(&method, path), Route::Other, "{method} {path}");
        }
    }

    /// The whole service in-process, over a Kafka that is wherever
    /// `bootstrap` says (a closed port: no Kafka at all).
    fn app(bootstrap: &str, configure: impl FnOnce(&mut App)) -> Arc<App> {
        let mut app = App {
            cluster: Cluster::new(crate::kafka::ClusterConfig {
                bootstrap: vec![bootstrap.to_string()],
            }),
            limits: Limits {
                body_bytes: 1024,
                records_per_request: 10,
                limit: 100,
                timeout: Duration::from_secs(60),
                response_bytes: 1 << 20,
                client_timeout: Duration::from_secs(10),
                scan_records: crate::records::get::DEFAULT_MAX_SCAN,
                stream_duration: Duration::from_secs(3600),
            },
            read_only: false,
            token: None,
            requests: Arc::new(Semaphore::new(8)),
            metrics: Arc::new(Metrics::new()),
            background: tokio_util::task::TaskTracker::new(),
            browsers: Browsers::new(true, &[], &[]),
            group_turns: GroupTurns::default(),
            registry: None,
            shutdown: Default::default(),
        };
        configure(&mut app);
        Arc::new(app)
    }

    /// Answers one request; the status, the headers and the JSON body
    /// (`Null` when empty).
    async fn call(
        app: &Arc<App>,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (StatusCode, hyper::HeaderMap, serde_json::Value) {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = http_body_util::Full::new(bytes::Bytes::from(body.to_string()));
        let response = handle(Arc::clone(app), request.body(body).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let bytes = http_body_util::BodyExt::collect(body)
            .await
            .unwrap()
            .to_bytes();
        let json = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (parts.status, parts.headers, json)
    }

    const NO_KAFKA: &str = "127.0.0.1:1";

    #[tokio::test]
    async fn routes_and_methods_are_answered_without_kafka() {
        let app = app(NO_KAFKA, |_| {});
        let (status, _, _) = call(&app, Method::GET, "/healthy", &[], "").await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _, body) = call(&app, Method::GET, "/nowhere", &[], "").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body["message"]
            .as_str()
            .unwrap()
            .contains("no route for /nowhere"));
        let (status, headers, _) = call(&app, Method::PUT, "/records/t", &[], "").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(headers[ALLOW], "GET, HEAD, DELETE");
        let (status, _, body) = call(&app, Method::GET, "/openapi.json", &[], "").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body["paths"]["/records"].is_object());
    }

    #[tokio::test]
    async fn bad_requests_are_refused_before_kafka_is_asked() {
        let app = app(NO_KAFKA, |_| {});
        let (status, _, body) = call(
            &app,
            Method::GET,
            "/records/t?distanceFromLastest=1",
            &[],
            "",
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("distanceFromLastest"),
            "{body}"
        );
        let (status, _, body) = call(&app, Method::GET, "/records/a%20b", &[], "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("topic: 'a b'"),
            "{body}"
        );
        let bad = r#"{"records": [{"topic": "t", "partiton": 1}]}"#;
        let (status, _, body) = call(&app, Method::POST, "/records", &[], bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["message"].as_str().unwrap().contains("'partiton'"),
            "{body}"
        );
        let large = format!(
            r#"{{"records": [{{"topic": "t", "value": "{}"}}]}}"#,
            "x".repeat(2000)
        );
        let (status, headers, _) = call(&app, Method::POST, "/records", &[], &large).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        // The rest of such a body may still be on the connection: it closes.
        assert_eq!(headers["connection"], "close");
        let many = format!(
            r#"{{"records": [{}]}}"#,
            [r#"{"topic": "t"}"#; 11].join(",")
        );
        let (status, _, body) = call(&app, Method::POST, "/records", &[], &many).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(body["message"]
            .as_str()
            .unwrap()
            .contains("--max-records-per-request"));
        // Nothing above needed Kafka: the metrics saw no Kafka error.
        let text = app.metrics.encode().unwrap();
        assert!(text.contains(r#"kafka_records_kafka_errors_total{kind="unreachable"} 0"#));
    }

    #[tokio::test]
    async fn the_guards_refuse_before_the_route_runs() {
        let token = crate::kafka::Secret::new("s3cret");
        let guarded = app(NO_KAFKA, |a| a.token = Some(BearerToken::new(&token)));
        let (status, headers, body) = call(&guarded, Method::GET, "/ready", &[], "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers[WWW_AUTHENTICATE], "Bearer");
        assert!(!body.to_string().contains("s3cret"));
        let (status, _, _) = call(&guarded, Method::GET, "/healthy", &[], "").await;
        assert_eq!(status, StatusCode::NO_CONTENT);

        let read_only = app(NO_KAFKA, |a| a.read_only = true);
        let (status, _, _) = call(&read_only, Method::DELETE, "/records/t", &[], "").await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        let busy = app(NO_KAFKA, |a| a.requests = Arc::new(Semaphore::new(0)));
        let (status, headers, _) = call(&busy, Method::GET, "/records/t", &[], "").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers[RETRY_AFTER], RETRY_AFTER_SECONDS);
    }

    #[tokio::test]
    async fn kafka_down_is_a_503_and_a_fake_broker_makes_the_service_ready() {
        let down = app(NO_KAFKA, |_| {});
        let (status, _, body) = call(&down, Method::GET, "/records/t?timeout=0s", &[], "").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("no broker answered"),
            "{body}"
        );

        let broker = crate::kafka::FakeBroker::start().await;
        let up = app(&broker.addr, |_| {});
        let (status, _, _) = call(&up, Method::GET, "/ready", &[], "").await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }

    #[tokio::test]
    async fn a_kafka_too_old_is_a_501_naming_its_release_and_what_it_lacks() {
        use kafka_protocol::messages::ApiKey;
        // A Kafka 2.7 broker: Metadata v10 at most, and none of the APIs
        // of later releases.
        let broker = crate::kafka::FakeBroker::start().await;
        broker.script(crate::kafka::Script {
            newest_versions: vec![
                (ApiKey::Produce, 9),
                (ApiKey::Fetch, 12),
                (ApiKey::ListOffsets, 6),
                (ApiKey::Metadata, 10),
                (ApiKey::ListGroups, 4),
                (ApiKey::ConsumerGroupDescribe, -1),
                (ApiKey::DescribeTopicPartitions, -1),
                (ApiKey::AddRaftVoter, -1),
            ],
            ..Default::default()
        });
        let old = app(&broker.addr, |_| {});
        let needles = [
            "the broker at",
            "runs a Kafka release older than 2.8",
            "lacks Metadata v11 to v12 (topics and leaders)",
            "kafka-records needs Kafka 2.8 or newer",
        ];
        for (method, path, body) in [
            (Method::GET, "/records/t?timeout=0s", ""),
            (
                Method::POST,
                "/records",
                r#"{"records": [{"topic": "t", "value": "v"}]}"#,
            ),
            (Method::GET, "/topics", ""),
        ] {
            let (status, _, answer) = call(&old, method.clone(), path, &[], body).await;
            assert_eq!(
                status,
                StatusCode::NOT_IMPLEMENTED,
                "{method} {path}: {answer}"
            );
            assert_eq!(answer["code"], 501, "{answer}");
            let message = answer["message"].as_str().unwrap();
            for needle in needles {
                assert!(message.contains(needle), "{needle:?} not in: {message}");
            }
        }
        // Not ready, and why.
        let (status, _, answer) = call(&old, Method::GET, "/ready", &[], "").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            answer["message"].as_str().unwrap().contains(needles[2]),
            "{answer}"
        );
    }
}
