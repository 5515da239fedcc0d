//! The HTTP edge: the route table and its guards ([`router`]), one file per
//! route family (`routes`), request readers ([`body`], [`query`]), responses
//! ([`response`]), and the one map from errors to status codes ([`error`]).

mod auth;
pub mod body;
mod browsers;
pub mod compress;
pub mod error;
pub mod openapi;
pub mod query;
pub mod response;
mod router;
mod routes;

pub use auth::BearerToken;
pub use browsers::Browsers;
pub use response::{empty_response, json_bytes_response, json_response, Body, Permit, Unflushed};
pub use router::{handle, App, Limits};

/// The error type of request bodies the router accepts: any body whose
/// errors can be boxed (hyper's own, or a test's in-memory body).
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
