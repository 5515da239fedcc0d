//! Request body readers: a POST body becomes a [`PostRequest`].
//!
//! The quick reader ([`quick`]) serves the common, valid body without
//! building a JSON tree per record; anything it does not accept as it is (a
//! wrong type, an unknown field, a bad value, a field given twice) goes
//! through the checking parser ([`checked`]), the one place that explains
//! what is wrong, so both paths accept exactly the same bodies.

pub(crate) mod checked;
pub(crate) mod quick;

use bytes::Bytes;

use crate::records::post::PostRequest;
use crate::records::RecordsError;

pub use checked::check_unique_keys;

/// Validates a POST body (JSON bytes) and serializes every key, value and
/// header. Keys, values and header names written without escapes are slices
/// of `body`, not copies.
pub fn read_post_body(body: &Bytes) -> Result<PostRequest, RecordsError> {
    if let Some(request) = quick::read(body) {
        return Ok(request);
    }
    checked::parse(body)
}
