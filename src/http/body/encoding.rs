//! Request bodies read piece by piece as they arrive, decoded as they are
//! read: as sent, or gzip (`Content-Encoding: gzip`).
//!
//! Gzip is decompressed a small piece of input at a time ([`GZIP_FEED`]), so
//! whatever a piece expands to (deflate turns a byte into at most about
//! 1032), the output of one step stays near a megabyte and the reader's
//! caller can refuse a body before it grows further: a gzip bomb costs a
//! little CPU, never memory.

use std::io::Write as _;
use std::pin::Pin;
use std::time::Duration;

use bytes::{Buf, Bytes};
use flate2::write::MultiGzDecoder;
use hyper::body::Body;
use hyper::header::{HeaderMap, CONTENT_ENCODING};
use hyper::StatusCode;

use crate::http::error::ApiError;
use crate::http::BoxError;

/// How a request body is encoded: its `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// As sent (no `Content-Encoding`, or `identity`).
    Identity,
    /// gzip (`gzip` or `x-gzip`), one member or several.
    Gzip,
}

impl Encoding {
    /// The encoding `headers` give the body; one the service cannot decode
    /// is a 415 naming it.
    pub(crate) fn of(headers: &HeaderMap) -> Result<Encoding, ApiError> {
        let mut named = Vec::new();
        for value in headers.get_all(CONTENT_ENCODING) {
            let Ok(text) = value.to_str() else {
                return Err(unsupported(&String::from_utf8_lossy(value.as_bytes())));
            };
            named.extend(
                text.split(',')
                    .map(|c| c.trim().to_ascii_lowercase())
                    .filter(|c| !c.is_empty() && c != "identity"),
            );
        }
        match named.as_slice() {
            [] => Ok(Encoding::Identity),
            [one] if one == "gzip" || one == "x-gzip" => Ok(Encoding::Gzip),
            _ => Err(unsupported(&named.join(", "))),
        }
    }
}

/// The 415 of a `Content-Encoding` the service does not decode.
fn unsupported(named: &str) -> ApiError {
    let shown: String = named.chars().take(100).collect();
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!(
            "Content-Encoding '{shown}' is not supported; send the body as is or compressed with gzip (Content-Encoding: gzip); nothing was written"
        ),
    )
}

/// What the next read of a body gave.
#[derive(Debug)]
pub(crate) enum Piece {
    /// Decoded bytes (never empty).
    Data(Bytes),
    /// Nothing has arrived yet (only when the read was asked not to wait).
    Pause,
    /// The body has ended, and everything it held was given.
    End,
}

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Nothing arrived for this long.
    Stalled(Duration),
    /// The connection failed (the client went away).
    Failed(String),
    /// The body is not valid gzip.
    Corrupt(String),
}

impl ReadError {
    /// The status and what went wrong, for an error answer.
    pub(crate) fn status_and_message(&self) -> (StatusCode, String) {
        match self {
            ReadError::Stalled(d) => (
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "nothing of the body arrived for {} (--client-timeout)",
                    humantime::format_duration(*d)
                ),
            ),
            ReadError::Failed(e) => (
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {e}"),
            ),
            ReadError::Corrupt(e) => (
                StatusCode::BAD_REQUEST,
                format!("the body is not valid gzip (Content-Encoding: gzip): {e}"),
            ),
        }
    }
}

/// Compressed bytes go to the decoder at most this many at a time: deflate
/// expands a byte to at most about 1032, so one step's output stays near a
/// megabyte.
const GZIP_FEED: usize = 1024;

/// A gzip decoder and the compressed bytes it has not decoded yet.
struct Gzip {
    decoder: MultiGzDecoder<Vec<u8>>,
    input: Bytes,
}

impl Gzip {
    /// Decodes the next piece of the input.
    fn feed(&mut self) -> std::io::Result<Bytes> {
        let piece = self.input.split_to(self.input.len().min(GZIP_FEED));
        self.decoder.write_all(&piece)?;
        // What the decoder holds back goes out now: a line sent before the
        // client pauses is read before the pause.
        self.decoder.flush()?;
        Ok(Bytes::from(std::mem::take(self.decoder.get_mut())))
    }

    /// The end of the input: the last output, once the stream is checked
    /// whole (its trailer and checksum).
    fn finish(&mut self) -> std::io::Result<Bytes> {
        self.decoder.try_finish()?;
        Ok(Bytes::from(std::mem::take(self.decoder.get_mut())))
    }
}

/// A request body read piece by piece and decoded as it is read.
pub(crate) struct BodyReader<B> {
    body: Pin<Box<B>>,
    gzip: Option<Gzip>,
    /// Whether the body's last frame was read.
    ended: bool,
    /// Whether everything was given.
    done: bool,
    /// The longest wait for the next piece, if bounded here.
    stall: Option<Duration>,
    /// Bytes read from the connection (compressed ones, for gzip).
    wire_bytes: u64,
}

impl<B> BodyReader<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    /// Reads `body`, decoding `encoding`; each piece must arrive within
    /// `stall` when given.
    pub(crate) fn new(body: B, encoding: Encoding, stall: Option<Duration>) -> BodyReader<B> {
        let gzip = (encoding == Encoding::Gzip).then(|| Gzip {
            decoder: MultiGzDecoder::new(Vec::new()),
            input: Bytes::new(),
        });
        BodyReader {
            body: Box::pin(body),
            gzip,
            ended: false,
            done: false,
            stall,
            wire_bytes: 0,
        }
    }

    /// The bytes read from the connection so far.
    pub(crate) fn wire_bytes(&self) -> u64 {
        self.wire_bytes
    }

    /// The next piece of the decoded body. With `pause`, [`Piece::Pause`]
    /// when nothing more has arrived, instead of waiting for it.
    pub(crate) async fn next(&mut self, pause: bool) -> Result<Piece, ReadError> {
        loop {
            if self.done {
                return Ok(Piece::End);
            }
            if let Some(gzip) = &mut self.gzip {
                if !gzip.input.is_empty() {
                    let out = gzip.feed().map_err(corrupt)?;
                    if !out.is_empty() {
                        return Ok(Piece::Data(out));
                    }
                    continue;
                }
            }
            if self.ended {
                self.done = true;
                if let Some(gzip) = &mut self.gzip {
                    let out = gzip.finish().map_err(corrupt)?;
                    if !out.is_empty() {
                        return Ok(Piece::Data(out));
                    }
                }
                return Ok(Piece::End);
            }
            let Some(frame) = self.frame(pause).await? else {
                return Ok(Piece::Pause);
            };
            match frame {
                None => self.ended = true,
                Some(Err(e)) => return Err(ReadError::Failed(e.into().to_string())),
                Some(Ok(frame)) => {
                    // Trailers carry nothing a POST reads.
                    let Ok(mut data) = frame.into_data() else {
                        continue;
                    };
                    // Without a copy for hyper's own bodies (`Bytes`).
                    let data = data.copy_to_bytes(data.remaining());
                    self.wire_bytes += data.len() as u64;
                    match &mut self.gzip {
                        Some(gzip) => gzip.input = data,
                        None if data.is_empty() => {}
                        None => return Ok(Piece::Data(data)),
                    }
                }
            }
        }
    }

    /// The body's next frame (`None` at its end); `None` when `pause` and
    /// nothing has arrived.
    async fn frame(&mut self, pause: bool) -> Result<Option<Option<FrameOf<B>>>, ReadError> {
        let body = &mut self.body;
        let frame = std::future::poll_fn(|cx| match body.as_mut().poll_frame(cx) {
            std::task::Poll::Ready(frame) => std::task::Poll::Ready(Some(frame)),
            std::task::Poll::Pending if pause => std::task::Poll::Ready(None),
            std::task::Poll::Pending => std::task::Poll::Pending,
        });
        match self.stall {
            None => Ok(frame.await),
            Some(stall) => tokio::time::timeout(stall, frame)
                .await
                .map_err(|_| ReadError::Stalled(stall)),
        }
    }
}

/// One frame of body `B`, or its error.
type FrameOf<B> = Result<hyper::body::Frame<<B as Body>::Data>, <B as Body>::Error>;

fn corrupt(e: std::io::Error) -> ReadError {
    ReadError::Corrupt(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use hyper::header::HeaderValue;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// A body of these pieces, one frame each.
    struct Pieces(std::collections::VecDeque<Bytes>);

    impl Body for Pieces {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            std::task::Poll::Ready(self.0.pop_front().map(|p| Ok(hyper::body::Frame::data(p))))
        }
    }

    fn body(chunks: Vec<Vec<u8>>) -> Pieces {
        Pieces(chunks.into_iter().map(Bytes::from).collect())
    }

    async fn read_all<B>(reader: &mut BodyReader<B>) -> Result<Vec<u8>, ReadError>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let mut out = Vec::new();
        loop {
            match reader.next(false).await? {
                Piece::Data(d) => out.extend_from_slice(&d),
                Piece::End => return Ok(out),
                Piece::Pause => unreachable!("asked to wait"),
            }
        }
    }

    #[test]
    fn the_encoding_is_gzip_identity_or_refused_by_name() {
        let of = |values: &[&str]| {
            let mut headers = HeaderMap::new();
            for v in values {
                headers.append(CONTENT_ENCODING, HeaderValue::from_str(v).unwrap());
            }
            Encoding::of(&headers)
        };
        assert_eq!(of(&[]).unwrap(), Encoding::Identity);
        assert_eq!(of(&["identity"]).unwrap(), Encoding::Identity);
        assert_eq!(of(&["GZIP"]).unwrap(), Encoding::Gzip);
        assert_eq!(of(&["x-gzip"]).unwrap(), Encoding::Gzip);
        assert_eq!(of(&["identity, gzip"]).unwrap(), Encoding::Gzip);
        for (values, named) in [
            (&["br"][..], "'br'"),
            (&["gzip, gzip"][..], "'gzip, gzip'"),
            (&["gzip", "deflate"][..], "'gzip, deflate'"),
        ] {
            let e = of(values).unwrap_err();
            assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
            assert!(e.message.contains(named), "{}", e.message);
        }
    }

    #[tokio::test]
    async fn gzip_is_decoded_across_frames_and_members() {
        let text: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let (a, b) = text.split_at(7_000);
        // Two members, cut into frames anywhere, even inside a header.
        let mut compressed = gzip(a);
        compressed.extend(gzip(b));
        let chunks: Vec<Vec<u8>> = compressed.chunks(5).map(<[u8]>::to_vec).collect();
        let mut reader = BodyReader::new(body(chunks), Encoding::Gzip, None);
        assert_eq!(read_all(&mut reader).await.unwrap(), text);
        assert_eq!(reader.wire_bytes(), compressed.len() as u64);
    }

    #[tokio::test]
    async fn a_corrupt_or_cut_gzip_stream_is_an_error() {
        let mut compressed = gzip(b"{\"records\": []}");
        let last = compressed.len() - 1;
        compressed[last] ^= 0xff;
        let mut reader = BodyReader::new(body(vec![compressed.clone()]), Encoding::Gzip, None);
        assert!(matches!(
            read_all(&mut reader).await,
            Err(ReadError::Corrupt(_))
        ));
        compressed.truncate(last - 6);
        let mut reader = BodyReader::new(body(vec![compressed]), Encoding::Gzip, None);
        assert!(matches!(
            read_all(&mut reader).await,
            Err(ReadError::Corrupt(_))
        ));
        let mut reader = BodyReader::new(body(vec![b"plain".to_vec()]), Encoding::Gzip, None);
        assert!(matches!(
            read_all(&mut reader).await,
            Err(ReadError::Corrupt(_))
        ));
    }

    #[tokio::test]
    async fn a_bomb_comes_out_a_bounded_piece_at_a_time() {
        let zeros = vec![0u8; 64 << 20];
        let compressed = gzip(&zeros);
        assert!(compressed.len() < 100_000, "{}", compressed.len());
        let mut reader = BodyReader::new(body(vec![compressed]), Encoding::Gzip, None);
        let mut total = 0;
        let mut largest = 0;
        while let Piece::Data(d) = reader.next(false).await.unwrap() {
            total += d.len();
            largest = largest.max(d.len());
        }
        assert_eq!(total, zeros.len());
        assert!(largest <= 1100 * GZIP_FEED, "a piece of {largest} bytes");
    }

    /// A body whose pieces a test sends when it likes.
    struct Sent(tokio::sync::mpsc::Receiver<Bytes>);

    impl Body for Sent {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            self.0
                .poll_recv(cx)
                .map(|piece| piece.map(|p| Ok(hyper::body::Frame::data(p))))
        }
    }

    #[tokio::test]
    async fn a_reader_that_may_pause_says_so_when_nothing_has_arrived() {
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        let mut reader = BodyReader::new(Sent(receiver), Encoding::Identity, None);
        assert!(matches!(reader.next(true).await, Ok(Piece::Pause)));
        sender.send(Bytes::from_static(b"ab")).await.unwrap();
        assert!(matches!(reader.next(true).await, Ok(Piece::Data(d)) if d == "ab"));
        drop(sender);
        assert!(matches!(reader.next(false).await, Ok(Piece::End)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_is_an_error_naming_the_bound() {
        let (_sender, receiver) = tokio::sync::mpsc::channel(4);
        let stall = Duration::from_secs(3);
        let mut reader = BodyReader::new(Sent(receiver), Encoding::Identity, Some(stall));
        let e = reader.next(false).await.unwrap_err();
        let (status, message) = e.status_and_message();
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert!(message.contains("3s (--client-timeout)"), "{message}");
    }
}
