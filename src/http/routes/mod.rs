//! One file per route family, each decode → one use case → render, in the
//! manner of a command per file: the router picks the route, the route does
//! the rest.

pub(crate) mod groups;
pub(crate) mod page;
pub(crate) mod records_delete;
pub(crate) mod records_get;
pub(crate) mod records_post;
pub(crate) mod records_post_ndjson;
pub(crate) mod records_stream;
pub(crate) mod service;
pub(crate) mod topics;

use hyper::Response;

use super::response::Body;

/// The response every route answers.
pub(crate) type HttpResponse = Response<Body>;

/// How many records a response wrote, accepted or returned, for the request log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordCount(pub(crate) usize);

/// `response`, marked with how many records it carries.
pub(crate) fn with_records(mut response: HttpResponse, count: usize) -> HttpResponse {
    response.extensions_mut().insert(RecordCount(count));
    response
}
