//! The response body: bytes, optionally followed by work that must happen
//! only once those bytes have been handed to the client's connection.
//!
//! A GET with a consumer group commits its offsets after the response has
//! been written. The body hands hyper the records, yields once so hyper can
//! write them to the socket, then runs the commit, and only then ends the
//! chunked response, so a client sees the end of the response only after the
//! commit. If the client is gone before that (hyper notices a closed
//! connection, or a write fails), hyper drops the body and nothing is
//! committed. If the commit fails, the body ends with an error, hyper cuts
//! the connection, and the client sees an incomplete response instead of a
//! success it cannot trust.
//!
//! The limit of this guarantee: hyper asks for more body once the bytes are
//! in its write buffer, not once the kernel accepted them, so a very large
//! response may still be partly buffered when the commit starts. A client
//! that disconnects then still gets nothing it could take for a success.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;

use super::compress::Encoder;

/// A request's share of `--max-concurrent-requests`, held by whatever
/// still needs memory for it: the response body until it is written, an
/// async write until it ends.
pub type Permit = std::sync::Arc<tokio::sync::OwnedSemaphorePermit>;

/// Where a connection parks the permits of bodies it has taken but maybe
/// not yet written to the socket: hyper drops a body once its last bytes are
/// in its write buffer, and a client that stops reading keeps them there.
/// The connection releases what is parked each time its socket is flushed
/// empty, and when it closes.
#[derive(Clone, Default)]
pub struct Unflushed(std::sync::Arc<std::sync::Mutex<Vec<Permit>>>);

impl Unflushed {
    fn park(&self, permit: Permit) {
        if let Ok(mut parked) = self.0.lock() {
            parked.push(permit);
        }
    }

    /// Releases every parked permit: what their bodies wrote has left.
    pub fn release(&self) {
        if let Ok(mut parked) = self.0.lock() {
            if !parked.is_empty() {
                parked.clear();
            }
        }
    }
}

/// Work to run once the body's bytes are out.
pub type AfterWrite = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Why a body ended badly: the after-write work failed.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

enum After {
    /// Not yet started: the data still has to be flushed.
    Pending(AfterWrite),
    /// Yielded once after the data; the next poll runs the work.
    Flushing(AfterWrite),
}

/// Bytes written as they are produced: a stream of records. The stream is
/// polled only when hyper wants more to write, so it produces no faster
/// than the client reads.
pub type ByteStream = Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, BodyError>> + Send>>;

/// The body of every response.
pub struct Body {
    data: Option<Bytes>,
    len: u64,
    /// Bytes still to come after `data`, then `after`.
    stream: Option<ByteStream>,
    /// Compresses `stream`'s chunks (and `data`, already compressed when set).
    encoder: Option<Encoder>,
    after: Option<After>,
    /// Released once the body's bytes have left (see [`Unflushed`]).
    held: Option<(Permit, Option<Unflushed>)>,
}

impl Drop for Body {
    fn drop(&mut self) {
        if let Some((permit, Some(unflushed))) = self.held.take() {
            unflushed.park(permit);
        }
    }
}

impl Body {
    /// A body of exactly these bytes.
    pub fn full(data: Bytes) -> Body {
        Body {
            len: data.len() as u64,
            data: (!data.is_empty()).then_some(data),
            stream: None,
            encoder: None,
            after: None,
            held: None,
        }
    }

    /// A body of the chunks `stream` produces, as the client reads them.
    pub fn stream(stream: ByteStream) -> Body {
        Body {
            len: 0,
            data: None,
            stream: Some(stream),
            encoder: None,
            after: None,
            held: None,
        }
    }

    /// Whether the body is a stream of unknown length.
    pub fn is_stream(&self) -> bool {
        self.stream.is_some()
    }

    /// Compresses the body with `encoder`: its data at once, a stream chunk
    /// by chunk. False when compressing failed (the body is then unchanged).
    pub fn compress(&mut self, mut encoder: Encoder) -> bool {
        if let Some(data) = &self.data {
            let Ok(mut compressed) = encoder.chunk(data).map(Vec::from) else {
                return false;
            };
            if self.stream.is_none() {
                let Ok(end) = encoder.finish() else {
                    return false;
                };
                compressed.extend_from_slice(&end);
                self.len = compressed.len() as u64;
                self.data = Some(Bytes::from(compressed));
                return true;
            }
            self.data = Some(Bytes::from(compressed));
        }
        self.encoder = Some(encoder);
        true
    }

    /// Holds `permit` until the body's bytes have left through the
    /// connection's socket (`unflushed`), or until the body is dropped when
    /// there is no connection.
    pub fn hold(&mut self, permit: Permit, unflushed: Option<Unflushed>) {
        self.held = Some((permit, unflushed));
    }

    /// How many bytes of data the body carries (after-write work adds none).
    pub fn data_len(&self) -> u64 {
        self.len
    }

    /// The bytes of a body made with [`Body::full`].
    pub fn into_bytes(mut self) -> Bytes {
        self.data.take().unwrap_or_default()
    }

    /// These bytes, then `after` once they are written.
    pub fn with_after_write(data: Bytes, after: AfterWrite) -> Body {
        Body {
            len: data.len() as u64,
            data: Some(data),
            stream: None,
            encoder: None,
            after: Some(After::Pending(after)),
            held: None,
        }
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if let Some(stream) = self.stream.as_mut() {
            match futures_util::Stream::poll_next(stream.as_mut(), cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    let chunk = match self.encoder.as_mut() {
                        Some(encoder) => match encoder.chunk(&chunk) {
                            Ok(compressed) => compressed,
                            Err(e) => return Poll::Ready(Some(Err(e.into()))),
                        },
                        None => chunk,
                    };
                    if chunk.is_empty() {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    return Poll::Ready(Some(Ok(Frame::data(chunk))));
                }
                Poll::Ready(Some(Err(e))) => {
                    self.stream = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    self.stream = None;
                    if let Some(encoder) = self.encoder.take() {
                        match encoder.finish() {
                            Ok(end) if !end.is_empty() => {
                                return Poll::Ready(Some(Ok(Frame::data(end))))
                            }
                            Ok(_) => {}
                            Err(e) => return Poll::Ready(Some(Err(e.into()))),
                        }
                    }
                }
            }
        }
        match self.after.take() {
            None => Poll::Ready(None),
            Some(After::Pending(work)) => {
                // Let hyper write and flush the data before the work starts.
                self.after = Some(After::Flushing(work));
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Some(After::Flushing(mut work)) => match work.as_mut().poll(cx) {
                Poll::Pending => {
                    self.after = Some(After::Flushing(work));
                    Poll::Pending
                }
                Poll::Ready(Ok(())) => Poll::Ready(None),
                Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e.into()))),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.after.is_none() && self.stream.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        if self.after.is_some() || self.stream.is_some() {
            // Unknown length: chunked, so the client sees the end only after the work.
            SizeHint::default()
        } else {
            SizeHint::with_exact(self.len)
        }
    }
}

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
