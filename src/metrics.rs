//! What `GET /metrics` reports: a registry of typed metric families, and the
//! few calls the HTTP layer makes to move them.
//!
//! Only [`crate::http`] touches this module: it counts from what the use cases
//! return (results and errors), so [`crate::records`] and [`crate::kafka`] know
//! nothing of metrics.
//!
//! Why `prometheus-client` is told in ARCHITECTURE.md.
//!
//! The metrics, all prefixed `kafka_records_`:
//!
//! | name | type | labels |
//! |---|---|---|
//! | `http_requests_total` | counter | `route`, `status` |
//! | `http_request_duration_seconds` | histogram | `route` |
//! | `http_requests_in_flight` | gauge | |
//! | `http_request_body_bytes_total` | counter | `route` |
//! | `http_response_body_bytes_total` | counter | `route` |
//! | `records_produced_total` | counter | |
//! | `records_fetched_total` | counter | |
//! | `async_records_failed_total` | counter | |
//! | `kafka_errors_total` | counter | `kind` |
//! | `kafka_requests_total` | counter | `api` |
//!
//! `kafka_requests_total` is read at each scrape from the count the Kafka
//! layer keeps of what it sends ([`crate::kafka::requests_sent`]): Kafka
//! requests are not a use case's result, and the layer still knows nothing
//! of this module.

use std::fmt::Write as _;
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::kafka::{ErrorKind as KafkaKind, KafkaError};
use crate::records::RecordsError;

/// The content type of the exposition: the crate writes OpenMetrics text,
/// which Prometheus asks for first and which reads as plain text with `curl`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The status recorded for a request whose client went away before it was
/// answered (hyper dropped the handler). Nginx's "client closed request".
pub const CLIENT_CLOSED_REQUEST: u16 = 499;

/// Upper bounds of the latency buckets, in seconds. A GET long-polls up to its
/// `timeout` (5 s by default), hence the buckets up to a minute.
const LATENCY_BUCKETS: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The route a request matched, as its template: the `route` label. Never the
/// raw path, so that topic names cannot multiply the series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `POST /records`
    PostRecords,
    /// `GET /records/{topic}`
    GetRecords,
    /// `DELETE /records/{topic}`
    DeleteRecords,
    /// `GET /topics`
    ListTopics,
    /// `GET /topics/{topic}`
    GetTopic,
    /// `POST /topics`
    CreateTopic,
    /// `DELETE /topics/{topic}`
    DeleteTopic,
    /// `GET /groups`
    ListGroups,
    /// `GET /groups/{group}`
    GetGroup,
    /// `POST /groups/{group}/offsets`
    ResetGroupOffsets,
    /// `GET /healthy`
    Healthy,
    /// `GET /ready`
    Ready,
    /// `GET /metrics`
    Metrics,
    /// `GET /openapi.json`
    OpenApi,
    /// `GET /`: the browser page
    Page,
    /// `GET /ui/settings.json`: what the page adapts to
    PageSettings,
    /// `GET /ui/{asset}`: the page's scripts and styles
    PageAsset,
    /// An unknown path (404), or a known path with a method it does not
    /// serve (405): the status tells which.
    Other,
}

impl Route {
    /// The label value: the method and path template, or `other`.
    pub fn template(self) -> &'static str {
        match self {
            Route::PostRecords => "POST /records",
            Route::GetRecords => "GET /records/{topic}",
            Route::DeleteRecords => "DELETE /records/{topic}",
            Route::ListTopics => "GET /topics",
            Route::GetTopic => "GET /topics/{topic}",
            Route::CreateTopic => "POST /topics",
            Route::DeleteTopic => "DELETE /topics/{topic}",
            Route::ListGroups => "GET /groups",
            Route::GetGroup => "GET /groups/{group}",
            Route::ResetGroupOffsets => "POST /groups/{group}/offsets",
            Route::Healthy => "GET /healthy",
            Route::Ready => "GET /ready",
            Route::Metrics => "GET /metrics",
            Route::OpenApi => "GET /openapi.json",
            Route::Page => "GET /",
            Route::PageSettings => "GET /ui/settings.json",
            Route::PageAsset => "GET /ui/{asset}",
            Route::Other => "other",
        }
    }
}

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        encoder.write_str(self.template())
    }
}

/// What kind of Kafka failure a request met: the `kind` label of
/// `kafka_records_kafka_errors_total`, one per [`KafkaError`] variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KafkaErrorKind {
    /// No broker could be reached, or a connection broke.
    Unreachable,
    /// Kafka did not answer within the deadline.
    Timeout,
    /// The topic does not exist.
    UnknownTopic,
    /// The topic has no such partition.
    UnknownPartition,
    /// A broker answered with an error code.
    Broker,
    /// A consumer group has live members.
    GroupInUse,
    /// A newer producer with the same transactional id took over.
    Fenced,
    /// A response or stored batch could not be decoded.
    Protocol,
    /// A broker refused the credentials, or the TLS handshake failed.
    Auth,
    /// A partition had no leader that could be reached.
    Unavailable,
    /// The broker's Kafka release lacks what the request needed.
    Unsupported,
}

impl KafkaErrorKind {
    /// Every kind, so that each series exists (at 0) from the start.
    pub const ALL: [KafkaErrorKind; 11] = [
        KafkaErrorKind::Unreachable,
        KafkaErrorKind::Timeout,
        KafkaErrorKind::UnknownTopic,
        KafkaErrorKind::UnknownPartition,
        KafkaErrorKind::Broker,
        KafkaErrorKind::GroupInUse,
        KafkaErrorKind::Fenced,
        KafkaErrorKind::Protocol,
        KafkaErrorKind::Auth,
        KafkaErrorKind::Unavailable,
        KafkaErrorKind::Unsupported,
    ];

    /// The label of a Kafka error's kind: every broker error code is one
    /// series, `broker`.
    pub fn of(kind: KafkaKind) -> KafkaErrorKind {
        match kind {
            KafkaKind::Unreachable => KafkaErrorKind::Unreachable,
            KafkaKind::Timeout => KafkaErrorKind::Timeout,
            KafkaKind::UnknownTopic => KafkaErrorKind::UnknownTopic,
            KafkaKind::UnknownPartition => KafkaErrorKind::UnknownPartition,
            KafkaKind::Broker(_) => KafkaErrorKind::Broker,
            KafkaKind::GroupInUse => KafkaErrorKind::GroupInUse,
            KafkaKind::Fenced => KafkaErrorKind::Fenced,
            KafkaKind::Protocol => KafkaErrorKind::Protocol,
            KafkaKind::Auth => KafkaErrorKind::Auth,
            KafkaKind::PartitionUnavailable => KafkaErrorKind::Unavailable,
            KafkaKind::Unsupported => KafkaErrorKind::Unsupported,
        }
    }

    /// The label of the Kafka error behind a use-case error, `None` when
    /// Kafka was not the cause.
    pub fn of_records(error: &RecordsError) -> Option<KafkaErrorKind> {
        error.kafka_kind().map(KafkaErrorKind::of)
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            KafkaErrorKind::Unreachable => "unreachable",
            KafkaErrorKind::Timeout => "timeout",
            KafkaErrorKind::UnknownTopic => "unknown_topic",
            KafkaErrorKind::UnknownPartition => "unknown_partition",
            KafkaErrorKind::Broker => "broker",
            KafkaErrorKind::GroupInUse => "group_in_use",
            KafkaErrorKind::Fenced => "fenced",
            KafkaErrorKind::Protocol => "protocol",
            KafkaErrorKind::Auth => "auth",
            KafkaErrorKind::Unavailable => "unavailable",
            KafkaErrorKind::Unsupported => "unsupported",
        }
    }
}

impl EncodeLabelValue for KafkaErrorKind {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        encoder.write_str(self.as_str())
    }
}

/// Labels of the request counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteStatus {
    route: Route,
    status: u16,
}

/// Labels of the per-route families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteOnly {
    route: Route,
}

/// Labels of the Kafka error counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ErrorKind {
    kind: KafkaErrorKind,
}

/// Labels of the Kafka request counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Api {
    api: String,
}

/// `kafka_requests_total`: the Kafka layer's count of requests sent, by API,
/// read when scraped.
#[derive(Debug)]
struct KafkaRequests;

impl Collector for KafkaRequests {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let sent = crate::kafka::requests_sent();
        let mut family = encoder.encode_descriptor(
            "kafka_requests",
            "Requests sent to Kafka brokers, by API (Produce, Fetch, ListOffsets, ...); APIs never used are left out",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (api, count) in sent {
            let labels = Api { api };
            ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The service's metrics: one per server, shared by every request.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteStatus, Counter>,
    latency: Family<RouteOnly, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    request_bytes: Family<RouteOnly, Counter>,
    response_bytes: Family<RouteOnly, Counter>,
    records_produced: Counter,
    records_fetched: Counter,
    async_records_failed: Counter,
    kafka_errors: Family<ErrorKind, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("kafka_records");
        let requests = Family::<RouteStatus, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template and status code (499: the client left first)",
            requests.clone(),
        );
        let latency: Family<RouteOnly, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time from receiving a request to its response head, by route template",
            Unit::Seconds,
            latency.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being handled now, including the scrape that reads this",
            in_flight.clone(),
        );
        let request_bytes = Family::<RouteOnly, Counter>::default();
        registry.register_with_unit(
            "http_request_body",
            "Request body bytes read, by route template",
            Unit::Bytes,
            request_bytes.clone(),
        );
        let response_bytes = Family::<RouteOnly, Counter>::default();
        registry.register_with_unit(
            "http_response_body",
            "Response body bytes handed to the connection, by route template",
            Unit::Bytes,
            response_bytes.clone(),
        );
        let records_produced = Counter::default();
        registry.register(
            "records_produced",
            "Records written to Kafka and acknowledged, by synchronous and asynchronous POSTs",
            records_produced.clone(),
        );
        let records_fetched = Counter::default();
        registry.register(
            "records_fetched",
            "Records returned by GET /records/{topic}",
            records_fetched.clone(),
        );
        let async_records_failed = Counter::default();
        registry.register(
            "async_records_failed",
            "Records of asynchronous POSTs (answered 202) whose background write failed",
            async_records_failed.clone(),
        );
        let kafka_errors = Family::<ErrorKind, Counter>::default();
        registry.register(
            "kafka_errors",
            "Requests, background writes and group commits that met a Kafka error, once per kind each",
            kafka_errors.clone(),
        );
        for kind in KafkaErrorKind::ALL {
            let _ = kafka_errors.get_or_create(&ErrorKind { kind });
        }
        registry.register_collector(Box::new(KafkaRequests));
        Metrics {
            registry,
            requests,
            latency,
            in_flight,
            request_bytes,
            response_bytes,
            records_produced,
            records_fetched,
            async_records_failed,
            kafka_errors,
        }
    }

    /// Starts measuring a request on `route`: it is in flight until the
    /// returned guard is finished or dropped.
    pub fn request(&self, route: Route) -> RequestMetrics<'_> {
        self.in_flight.inc();
        RequestMetrics {
            metrics: self,
            route,
            started: Instant::now(),
            answered: None,
        }
    }

    /// Counts `bytes` of request body read on `route`.
    pub fn request_body(&self, route: Route, bytes: usize) {
        self.request_bytes
            .get_or_create(&RouteOnly { route })
            .inc_by(bytes as u64);
    }

    /// Counts records written and acknowledged.
    pub fn records_produced(&self, records: usize) {
        self.records_produced.inc_by(records as u64);
    }

    /// Counts records returned to a reader.
    pub fn records_fetched(&self, records: usize) {
        self.records_fetched.inc_by(records as u64);
    }

    /// Counts records of an asynchronous POST whose background write failed.
    pub fn async_records_failed(&self, records: usize) {
        self.async_records_failed.inc_by(records as u64);
    }

    /// Counts a Kafka error.
    pub fn kafka_error(&self, error: &KafkaError) {
        self.kafka_error_kind(KafkaErrorKind::of(error.kind()));
    }

    /// Counts the Kafka error behind a use-case error, if there is one.
    pub fn records_error(&self, error: &RecordsError) {
        if let Some(kind) = KafkaErrorKind::of_records(error) {
            self.kafka_error_kind(kind);
        }
    }

    /// Counts the errors of one request's records once per kind: a broken
    /// connection fails every record it carried, and that is one failure to
    /// whoever watches Kafka, not one per record.
    pub fn records_errors<'e>(&self, errors: impl IntoIterator<Item = &'e RecordsError>) {
        let mut seen = [false; KafkaErrorKind::ALL.len()];
        for kind in errors.into_iter().filter_map(KafkaErrorKind::of_records) {
            seen[kind as usize] = true;
        }
        for kind in KafkaErrorKind::ALL {
            if seen[kind as usize] {
                self.kafka_error_kind(kind);
            }
        }
    }

    fn kafka_error_kind(&self, kind: KafkaErrorKind) {
        self.kafka_errors.get_or_create(&ErrorKind { kind }).inc();
    }

    /// The exposition in the OpenMetrics text format (see [`CONTENT_TYPE`]).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// One request being measured. It counts in flight from
/// [`Metrics::request`] until dropped; on drop it records the request's
/// status, latency and response bytes, or status
/// [`CLIENT_CLOSED_REQUEST`] when it was never [`finish`](Self::finish)ed
/// because the client left and hyper dropped the handler.
#[derive(Debug)]
pub struct RequestMetrics<'m> {
    metrics: &'m Metrics,
    route: Route,
    started: Instant,
    /// Status and response body bytes, once answered.
    answered: Option<(u16, u64)>,
}

impl RequestMetrics<'_> {
    /// Records the answer: its status and the bytes of its body.
    pub fn finish(mut self, status: u16, body_bytes: u64) {
        self.answered = Some((status, body_bytes));
    }
}

impl Drop for RequestMetrics<'_> {
    fn drop(&mut self) {
        let m = self.metrics;
        let route = self.route;
        let (status, bytes) = self.answered.unwrap_or((CLIENT_CLOSED_REQUEST, 0));
        m.requests
            .get_or_create(&RouteStatus { route, status })
            .inc();
        m.latency
            .get_or_create(&RouteOnly { route })
            .observe(self.started.elapsed().as_secs_f64());
        m.response_bytes
            .get_or_create(&RouteOnly { route })
            .inc_by(bytes);
        m.in_flight.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix)?.strip_prefix(' '))
    }

    #[test]
    fn a_finished_request_counts_by_route_template_and_status() {
        let metrics = Metrics::new();
        metrics.request(Route::GetRecords).finish(200, 42);
        let text = metrics.encode().unwrap();
        assert_eq!(
            sample(
                &text,
                r#"kafka_records_http_requests_total{route="GET /records/{topic}",status="200"}"#
            ),
            Some("1"),
            "{text}"
        );
        assert_eq!(
            sample(
                &text,
                r#"kafka_records_http_response_body_bytes_total{route="GET /records/{topic}"}"#
            ),
            Some("42"),
            "{text}"
        );
        assert_eq!(
            sample(&text, "kafka_records_http_requests_in_flight"),
            Some("0")
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn a_request_dropped_unanswered_counts_as_499() {
        let metrics = Metrics::new();
        {
            let _measured = metrics.request(Route::PostRecords);
            let text = metrics.encode().unwrap();
            assert_eq!(
                sample(&text, "kafka_records_http_requests_in_flight"),
                Some("1")
            );
        }
        let text = metrics.encode().unwrap();
        assert_eq!(
            sample(
                &text,
                r#"kafka_records_http_requests_total{route="POST /records",status="499"}"#
            ),
            Some("1"),
            "{text}"
        );
        assert_eq!(
            sample(&text, "kafka_records_http_requests_in_flight"),
            Some("0")
        );
    }

    #[test]
    fn kafka_requests_are_what_the_kafka_layer_counted_when_scraped() {
        // Other tests send requests meanwhile: counts only grow.
        let before = crate::kafka::requests_sent();
        let text = Metrics::new().encode().unwrap();
        assert!(
            text.contains("# TYPE kafka_records_kafka_requests counter"),
            "{text}"
        );
        for (api, count) in before {
            let shown: u64 = sample(
                &text,
                &format!(r#"kafka_records_kafka_requests_total{{api="{api}"}}"#),
            )
            .unwrap_or_else(|| panic!("no {api} in {text}"))
            .parse()
            .unwrap();
            assert!(shown >= count, "{api}: {shown} < {count}");
        }
    }

    #[test]
    fn errors_of_one_request_count_once_per_kind() {
        let metrics = Metrics::new();
        let timeout = RecordsError::Kafka(KafkaError::Timeout("t".into()));
        let aborted = RecordsError::Transaction {
            transaction: "tx".into(),
            outcome: crate::records::TxnOutcome::Aborted,
            cause: Box::new(RecordsError::Kafka(KafkaError::Fenced("tx".into()))),
        };
        let invalid = RecordsError::Invalid("bad".into());
        metrics.records_errors([&timeout, &timeout, &aborted, &invalid]);
        let text = metrics.encode().unwrap();
        let count = |kind: &str| {
            sample(
                &text,
                &format!(r#"kafka_records_kafka_errors_total{{kind="{kind}"}}"#),
            )
        };
        assert_eq!(count("timeout"), Some("1"), "{text}");
        assert_eq!(count("fenced"), Some("1"), "{text}");
        assert_eq!(count("unreachable"), Some("0"), "{text}");
    }
}
