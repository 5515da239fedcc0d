//! The HTTP edge: routing, strict parsing of requests into the typed
//! requests of [`crate::records`], and JSON out. Errors become status codes in
//! [`error`] only.

mod auth;
pub mod body;
pub mod error;
pub mod openapi;
pub mod query;
mod router;

use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;

pub use auth::BearerToken;
pub use body::Body;
pub use router::{handle, App, Limits};

/// The content type of every JSON response.
const JSON: &str = "application/json; charset=utf-8";

/// A response with `body` serialized as JSON.
pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response<Body> {
    match serde_json::to_vec(body) {
        Ok(bytes) => json_bytes_response(status, bytes),
        Err(e) => {
            let body = format!(
                "{{\"code\":500,\"message\":{}}}",
                serde_json::Value::String(format!("cannot encode the response: {e}"))
            );
            let mut response = Response::new(Body::full(Bytes::from(body)));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
            response
        }
    }
}

/// A response whose body is JSON already written.
pub fn json_bytes_response(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Body::full(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// A response with a status and no body.
pub fn empty_response(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::full(Bytes::new()));
    *response.status_mut() = status;
    response
}
