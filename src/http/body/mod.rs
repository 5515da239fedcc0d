//! Request body readers: a POST body becomes a [`PostRequest`].
//!
//! The quick reader ([`quick`]) serves the common, valid body without
//! building a JSON tree per record; anything it does not accept as it is (a
//! wrong type, an unknown field, a bad value, a field given twice) goes
//! through the checking parser ([`checked`]), the one place that explains
//! what is wrong, so both paths accept exactly the same bodies.
//!
//! Bodies are read as they arrive and decoded as they are read
//! ([`encoding`]: as sent, or gzip); an NDJSON body is cut into lines
//! ([`ndjson`]) whose records the checking parser reads one by one.

pub(crate) mod checked;
pub(crate) mod encoding;
pub(crate) mod ndjson;
pub(crate) mod quick;

use bytes::{Bytes, BytesMut};
use hyper::header::CONTENT_LENGTH;
use hyper::{Request, StatusCode};

use super::error::ApiError;
use super::router::Limits;
use super::BoxError;

use crate::records::post::PostRequest;
use crate::records::RecordsError;

pub use checked::{check_unique_keys, parse_line, LineDefaults};
use encoding::{BodyReader, Encoding, Piece};

/// Validates a POST body (JSON bytes) and serializes every key, value and
/// header. Keys, values and header names written without escapes are slices
/// of `body`, not copies.
pub fn read_post_body(body: &Bytes) -> Result<PostRequest, RecordsError> {
    if let Some(request) = quick::read(body) {
        return Ok(request);
    }
    checked::parse(body)
}

/// The whole body, at most `--max-body-bytes`, within `--client-timeout`.
/// A declared length over the limit is refused before anything is read (so
/// a client that sent `Expect: 100-continue` gets 413, not `100 Continue`).
pub(crate) async fn read_body<B>(limits: &Limits, request: Request<B>) -> Result<Bytes, ApiError>
where
    B: hyper::body::Body,
    B::Error: Into<BoxError>,
{
    Ok(read_whole_body(limits, request, Encoding::Identity)
        .await?
        .0)
}

/// The whole body, as [`read_body`], decoded as its `Content-Encoding` says
/// (gzip, decompressed as it arrives): at most `--max-body-bytes` both as
/// sent and decoded, so that a small body that decompresses to gigabytes is
/// refused once it has given that many. Also the bytes read from the
/// connection.
pub(crate) async fn read_decoded_body<B>(
    limits: &Limits,
    request: Request<B>,
) -> Result<(Bytes, u64), ApiError>
where
    B: hyper::body::Body,
    B::Error: Into<BoxError>,
{
    let encoding = Encoding::of(request.headers())?;
    read_whole_body(limits, request, encoding).await
}

async fn read_whole_body<B>(
    limits: &Limits,
    request: Request<B>,
    encoding: Encoding,
) -> Result<(Bytes, u64), ApiError>
where
    B: hyper::body::Body,
    B::Error: Into<BoxError>,
{
    let limit = limits.body_bytes;
    let too_large = |decoded: bool| {
        let decompressed = if decoded { " once decompressed" } else { "" };
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {limit} bytes{decompressed} (--max-body-bytes); nothing was written: send fewer records per request"),
        )
    };
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(false));
    }
    let timeout = limits.client_timeout;
    let mut reader = BodyReader::new(request.into_body(), encoding, None);
    let read = async {
        let mut pieces: Vec<Bytes> = Vec::new();
        let mut len = 0;
        loop {
            match reader.next(false).await {
                Ok(Piece::Data(piece)) => {
                    len += piece.len();
                    if reader.wire_bytes() > limit as u64 {
                        return Err(too_large(false));
                    }
                    if len > limit {
                        return Err(too_large(encoding == Encoding::Gzip));
                    }
                    pieces.push(piece);
                }
                Ok(Piece::Pause) => {}
                Ok(Piece::End) => break,
                Err(e) => {
                    let (status, message) = e.status_and_message();
                    return Err(ApiError::new(
                        status,
                        format!("{message}; nothing was written"),
                    ));
                }
            }
        }
        if pieces.len() == 1 {
            return Ok(pieces.swap_remove(0));
        }
        let mut body = BytesMut::with_capacity(len);
        for piece in pieces {
            body.extend_from_slice(&piece);
        }
        Ok(body.freeze())
    };
    match tokio::time::timeout(timeout, read).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the body did not arrive within {} (--client-timeout); nothing was written",
                humantime::format_duration(timeout)
            ),
        )),
        Ok(body) => Ok((body?, reader.wire_bytes())),
    }
}

/// A JSON body that must be an object of `known` fields only, each key
/// given once; the error names what is wrong (`example` shows the shape).
pub(crate) fn strict_object(
    body: &[u8],
    known: &[&str],
    example: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let json: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    check_unique_keys(body).map_err(ApiError::bad_request)?;
    let serde_json::Value::Object(fields) = json else {
        return Err(ApiError::bad_request(format!(
            "the body must be a JSON object: {example}"
        )));
    };
    let unknown: Vec<&String> = fields
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{}; known fields: {}",
            super::error::unknown_names("field", &unknown),
            known.join(", ")
        )));
    }
    Ok(fields)
}
