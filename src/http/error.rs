//! The one place where errors become HTTP status codes and JSON bodies.

use hyper::{Response, StatusCode};
use serde::Serialize;

use super::response::json_response;
use crate::kafka::{ErrorKind, KafkaError, Refusal};
use crate::records::RecordsError;

/// An error answer: a status and a message saying what went wrong and what to do.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Human-readable explanation naming the parameter, record or partition.
    pub message: String,
}

/// The JSON shape of every error: `{"code": 400, "message": "..."}`.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    /// The HTTP status code.
    pub code: u16,
    /// What went wrong.
    pub message: &'a str,
}

impl ApiError {
    /// A 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// An error with any status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// The JSON body of this error.
    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            code: self.status.as_u16(),
            message: &self.message,
        }
    }

    /// The HTTP response for this error.
    pub fn into_response(self) -> Response<super::response::Body> {
        json_response(self.status, &self.body())
    }
}

impl From<RecordsError> for ApiError {
    fn from(e: RecordsError) -> ApiError {
        ApiError::new(status_of(&e), e.to_string())
    }
}

impl From<KafkaError> for ApiError {
    fn from(e: KafkaError) -> ApiError {
        RecordsError::from(e).into()
    }
}

/// The status code of a use-case error.
pub fn status_of(e: &RecordsError) -> StatusCode {
    match e {
        RecordsError::Invalid(_) | RecordsError::Unsupported(_) => StatusCode::BAD_REQUEST,
        RecordsError::Undecodable(_) => StatusCode::UNPROCESSABLE_ENTITY,
        RecordsError::NotFound(_) => StatusCode::NOT_FOUND,
        RecordsError::Transaction { cause, .. } => status_of(cause),
        RecordsError::NotYetVisible(_) => StatusCode::GATEWAY_TIMEOUT,
        RecordsError::RegistryUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        RecordsError::Kafka(k) => status_of_kind(k.kind()),
    }
}

/// The status code of a Kafka failure.
fn status_of_kind(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::UnknownTopic
        | ErrorKind::UnknownPartition
        | ErrorKind::Broker(Refusal::UnknownTopicOrPartition) => StatusCode::NOT_FOUND,
        ErrorKind::Unreachable
        | ErrorKind::Auth
        | ErrorKind::PartitionUnavailable
        | ErrorKind::Broker(Refusal::Unavailable) => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        // A name that differs from an existing topic's only by '.' and '_'
        // conflicts with the cluster's state, not with the API's rules.
        ErrorKind::GroupInUse
        | ErrorKind::Fenced
        | ErrorKind::Broker(Refusal::AlreadyExists | Refusal::TopicCollision) => {
            StatusCode::CONFLICT
        }
        ErrorKind::Broker(
            Refusal::PolicyViolation | Refusal::OffsetOutOfRange | Refusal::InvalidRequest,
        ) => StatusCode::BAD_REQUEST,
        ErrorKind::Broker(Refusal::NotAuthorized) => StatusCode::FORBIDDEN,
        // The cluster's Kafka release lacks what the request needs: neither
        // the request nor a retry can change that, only a newer Kafka.
        ErrorKind::Unsupported | ErrorKind::Broker(Refusal::Unsupported) => {
            StatusCode::NOT_IMPLEMENTED
        }
        ErrorKind::Protocol | ErrorKind::Broker(Refusal::Other) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// "unknown field 'a'" or "unknown fields 'a', 'b'": names a request gave
/// that the endpoint does not know, for a 400.
pub(crate) fn unknown_names<S: AsRef<str>>(noun: &str, unknown: &[S]) -> String {
    let names: Vec<String> = unknown
        .iter()
        .map(|u| format!("'{}'", u.as_ref()))
        .collect();
    let plural = if unknown.len() > 1 { "s" } else { "" };
    format!("unknown {noun}{plural} {}", names.join(", "))
}
