//! `Accept-Encoding: gzip` or `zstd` on GET answers: a page of more than
//! about a kilobyte is compressed whole; a stream is compressed as it goes,
//! each chunk flushed through the encoder so that every event reaches the
//! client at once.

use std::io::Write;

use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_ENCODING, CONTENT_LENGTH, VARY};
use hyper::Response;

use super::response::Body;

/// Bodies smaller than this are sent as they are: compressing them saves
/// little and costs a header.
const MIN_BYTES: u64 = 1024;

/// gzip at a fast level: a dump is compressed as quickly as it is read.
const GZIP_LEVEL: u32 = 3;

/// zstd's own default level.
const ZSTD_LEVEL: i32 = 3;

/// A content coding this service writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// RFC 1952.
    Gzip,
    /// RFC 8878.
    Zstd,
}

impl Encoding {
    /// The coding to use for a request's `Accept-Encoding`: zstd when
    /// accepted (it is faster at a better ratio), else gzip, else none. A
    /// coding with `q=0` is refused; `*` accepts both.
    pub fn negotiate(accept: Option<&HeaderValue>) -> Option<Encoding> {
        let accept = accept?.to_str().ok()?;
        let mut zstd = None;
        let mut gzip = None;
        let mut any = None;
        for item in accept.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .filter_map(|q| q.trim().parse::<f32>().ok())
                .next()
                .unwrap_or(1.0);
            let accepted = q > 0.0;
            match name.as_str() {
                "zstd" => zstd = Some(accepted),
                "gzip" | "x-gzip" => gzip = Some(accepted),
                "*" => any = Some(accepted),
                _ => {}
            }
        }
        if zstd.or(any) == Some(true) {
            Some(Encoding::Zstd)
        } else if gzip.or(any) == Some(true) {
            Some(Encoding::Gzip)
        } else {
            None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Zstd => "zstd",
        }
    }
}

/// A stream's encoder: each chunk in, its compressed bytes out at once.
pub enum Encoder {
    /// gzip.
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    /// zstd.
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Encoder {
    /// An encoder of `encoding`.
    pub fn new(encoding: Encoding) -> std::io::Result<Encoder> {
        Ok(match encoding {
            Encoding::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(GZIP_LEVEL),
            )),
            Encoding::Zstd => {
                Encoder::Zstd(zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL)?)
            }
        })
    }

    /// `data` compressed and flushed: the client can decode all of it now.
    pub fn chunk(&mut self, data: &[u8]) -> std::io::Result<Bytes> {
        let out = match self {
            Encoder::Gzip(e) => {
                e.write_all(data)?;
                e.flush()?;
                e.get_mut()
            }
            Encoder::Zstd(e) => {
                e.write_all(data)?;
                e.flush()?;
                e.get_mut()
            }
        };
        Ok(Bytes::from(std::mem::take(out)))
    }

    /// The end of the compressed stream.
    pub fn finish(self) -> std::io::Result<Bytes> {
        Ok(Bytes::from(match self {
            Encoder::Gzip(e) => e.finish()?,
            Encoder::Zstd(e) => e.finish()?,
        }))
    }
}

/// Compresses a GET answer as `encoding` says, when it is worth it: a
/// stream always, a body of more than [`MIN_BYTES`]. Every answer that
/// could have been compressed says so in `Vary`.
pub fn compress(response: &mut Response<Body>, encoding: Option<Encoding>) {
    response
        .headers_mut()
        .append(VARY, HeaderValue::from_static("accept-encoding"));
    let Some(encoding) = encoding else {
        return;
    };
    if !response.body().is_stream() && response.body().data_len() <= MIN_BYTES {
        return;
    }
    if response.headers().contains_key(CONTENT_ENCODING) {
        return;
    }
    let compressed = match Encoder::new(encoding) {
        Ok(encoder) => response.body_mut().compress(encoder),
        Err(_) => false,
    };
    if compressed {
        response.headers_mut().remove(CONTENT_LENGTH);
        response
            .headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static(encoding.name()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiate(accept: &str) -> Option<Encoding> {
        Encoding::negotiate(Some(&HeaderValue::from_str(accept).unwrap()))
    }

    #[test]
    fn zstd_is_preferred_and_q_zero_refuses() {
        assert_eq!(negotiate("gzip, deflate, br, zstd"), Some(Encoding::Zstd));
        assert_eq!(negotiate("gzip"), Some(Encoding::Gzip));
        assert_eq!(negotiate("zstd;q=0, gzip;q=0.5"), Some(Encoding::Gzip));
        assert_eq!(negotiate("gzip;q=0"), None);
        assert_eq!(negotiate("identity"), None);
        assert_eq!(negotiate("*"), Some(Encoding::Zstd));
        assert_eq!(negotiate("*, zstd;q=0"), Some(Encoding::Gzip));
        assert_eq!(Encoding::negotiate(None), None);
    }

    #[test]
    fn each_chunk_decodes_at_once() {
        for encoding in [Encoding::Gzip, Encoding::Zstd] {
            let mut e = Encoder::new(encoding).unwrap();
            let mut sent = Vec::new();
            sent.extend_from_slice(&e.chunk(b"{\"a\":1}\n").unwrap());
            // What was sent so far decodes to the first chunk, before the end.
            let so_far = decode_partial(encoding, &sent);
            assert_eq!(so_far, b"{\"a\":1}\n", "{encoding:?}");
            sent.extend_from_slice(&e.chunk(b"{\"b\":2}\n").unwrap());
            sent.extend_from_slice(&e.finish().unwrap());
            assert_eq!(decode_partial(encoding, &sent), b"{\"a\":1}\n{\"b\":2}\n");
        }
    }

    fn decode_partial(encoding: Encoding, data: &[u8]) -> Vec<u8> {
        use std::io::Read;
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        match encoding {
            Encoding::Gzip => {
                let mut d = flate2::read::GzDecoder::new(data);
                while let Ok(n) = d.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    out.extend_from_slice(&buf[..n]);
                }
            }
            Encoding::Zstd => {
                let mut d = zstd::stream::read::Decoder::new(data).unwrap();
                while let Ok(n) = d.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    out.extend_from_slice(&buf[..n]);
                }
            }
        }
        out
    }
}
