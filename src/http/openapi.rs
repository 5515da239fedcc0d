//! `GET /openapi.json`: the OpenAPI 3 description of the API.

use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

use super::response::Body;

/// The document, kept true by `tests/openapi.rs`.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// The document as a response.
pub fn response() -> Response<Body> {
    let mut response = Response::new(Body::full(Bytes::from_static(DOCUMENT.as_bytes())));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}
