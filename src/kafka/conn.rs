//! One TCP connection to one broker, with pipelined requests.
//!
//! A broker answers the requests of one connection in the order it received
//! them, so a FIFO of waiting callers is all the bookkeeping needed: the writer
//! task queues the caller before it writes the frame, and the reader task hands
//! each response to the caller at the front of the queue (checking the
//! correlation id). A connection that fails fails every caller queued on it and
//! is replaced by the pool on its next use.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiVersionsRequest, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::error::KafkaError;

/// The client id the broker sees in its request logs and quotas.
const CLIENT_ID: &str = "kafka-records";

/// A response bigger than this is a protocol error, not something to buffer.
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// How many requests may wait to be written before callers queue on the channel.
const WRITE_QUEUE: usize = 1024;

type Reply = oneshot::Sender<Result<Bytes, KafkaError>>;

struct Outgoing {
    correlation_id: i32,
    frame: Bytes,
    reply: Reply,
}

/// A cheap handle to a live connection; clones share the socket.
#[derive(Clone)]
pub struct Connection {
    addr: Arc<str>,
    tx: mpsc::Sender<Outgoing>,
    /// Set by either task when the socket fails, so the pool replaces it.
    broken: Arc<AtomicBool>,
    correlation: Arc<AtomicI32>,
    /// The broker's supported versions per API key: (key, min, max).
    versions: Arc<std::sync::OnceLock<Vec<(i16, i16, i16)>>>,
}

impl Connection {
    /// Connects to `addr` and checks that the broker speaks every API version this
    /// service sends.
    pub async fn connect(addr: &str, timeout: Duration) -> Result<Connection, KafkaError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| KafkaError::Unreachable(format!("connecting to {addr} timed out")))?
            .map_err(|e| KafkaError::Unreachable(format!("cannot connect to {addr}: {e}")))?;
        stream.set_nodelay(true).ok();
        let (read, write) = stream.into_split();
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let pending = Arc::new(Mutex::new(VecDeque::new()));
        let broken = Arc::new(AtomicBool::new(false));
        let addr: Arc<str> = addr.into();
        tokio::spawn(write_loop(
            write,
            rx,
            Arc::clone(&pending),
            Arc::clone(&broken),
        ));
        tokio::spawn(read_loop(
            read,
            pending,
            Arc::clone(&broken),
            Arc::clone(&addr),
        ));
        let conn = Connection {
            addr,
            tx,
            broken,
            correlation: Arc::new(AtomicI32::new(0)),
            versions: Arc::new(std::sync::OnceLock::new()),
        };
        let versions = tokio::time::timeout(
            timeout,
            conn.call(
                ApiVersionsRequest::default()
                    .with_client_software_name(StrBytes::from_static_str(CLIENT_ID))
                    .with_client_software_version(StrBytes::from_static_str(env!(
                        "CARGO_PKG_VERSION"
                    ))),
                3,
            ),
        )
        .await
        .map_err(|_| {
            KafkaError::Unreachable(format!(
                "{addr} did not answer ApiVersions in time",
                addr = conn.addr
            ))
        })??;
        super::versions::check(&conn.addr, &versions)?;
        let _ = conn.versions.set(
            versions
                .api_keys
                .iter()
                .map(|k| (k.api_key, k.min_version, k.max_version))
                .collect(),
        );
        Ok(conn)
    }

    /// Whether the broker speaks `version` of the API `key`. Optional calls
    /// check this first: a broker may close the connection on an API it lacks.
    pub fn supports(&self, key: i16, version: i16) -> bool {
        self.versions.get().is_some_and(|v| {
            v.iter()
                .any(|(k, min, max)| *k == key && *min <= version && version <= *max)
        })
    }

    /// Whether the socket has failed; a broken connection is never reused.
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed) || self.tx.is_closed()
    }

    /// Sends one request at `version` and waits for its response.
    pub async fn call<R: Request>(
        &self,
        request: R,
        version: i16,
    ) -> Result<R::Response, KafkaError> {
        let correlation_id = self.correlation.fetch_add(1, Ordering::Relaxed);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let mut buf = BytesMut::with_capacity(128);
        buf.put_i32(0);
        header
            .encode(&mut buf, R::header_version(version))
            .and_then(|_| request.encode(&mut buf, version))
            .map_err(|e| KafkaError::Protocol(format!("encoding api {}: {e}", R::KEY)))?;
        let size = (buf.len() - 4) as i32;
        buf[0..4].copy_from_slice(&size.to_be_bytes());

        let (reply, response) = oneshot::channel();
        self.tx
            .send(Outgoing {
                correlation_id,
                frame: buf.freeze(),
                reply,
            })
            .await
            .map_err(|_| self.gone())?;
        let mut body = response.await.map_err(|_| self.gone())??;
        ResponseHeader::decode(&mut body, R::Response::header_version(version))
            .and_then(|_| R::Response::decode(&mut body, version))
            .map_err(|e| {
                KafkaError::Protocol(format!("decoding api {} v{version} response: {e}", R::KEY))
            })
    }

    fn gone(&self) -> KafkaError {
        self.broken.store(true, Ordering::Relaxed);
        KafkaError::Unreachable(format!("connection to {} was closed", self.addr))
    }
}

async fn write_loop(
    mut write: tokio::net::tcp::OwnedWriteHalf,
    mut rx: mpsc::Receiver<Outgoing>,
    pending: Arc<Mutex<VecDeque<(i32, Reply)>>>,
    broken: Arc<AtomicBool>,
) {
    while let Some(out) = rx.recv().await {
        if broken.load(Ordering::Relaxed) {
            let _ = out
                .reply
                .send(Err(KafkaError::Unreachable("connection is broken".into())));
            continue;
        }
        // Queue the caller before the frame can be answered.
        if let Ok(mut queue) = pending.lock() {
            queue.push_back((out.correlation_id, out.reply));
        }
        if let Err(e) = write.write_all(&out.frame).await {
            broken.store(true, Ordering::Relaxed);
            fail_all(&pending, &format!("writing to broker failed: {e}"));
        }
    }
}

async fn read_loop(
    mut read: tokio::net::tcp::OwnedReadHalf,
    pending: Arc<Mutex<VecDeque<(i32, Reply)>>>,
    broken: Arc<AtomicBool>,
    addr: Arc<str>,
) {
    let reason = loop {
        let size = match read.read_i32().await {
            Ok(size) => size,
            Err(e) => break format!("connection to {addr} closed: {e}"),
        };
        if size < 4 || size as usize > MAX_RESPONSE_BYTES {
            break format!("{addr} sent a response of {size} bytes");
        }
        let mut body = BytesMut::zeroed(size as usize);
        if let Err(e) = read.read_exact(&mut body).await {
            break format!("connection to {addr} closed mid-response: {e}");
        }
        let body = body.freeze();
        let correlation_id = (&body[..]).get_i32();
        let waiter = pending.lock().ok().and_then(|mut q| q.pop_front());
        match waiter {
            Some((expected, reply)) if expected == correlation_id => {
                let _ = reply.send(Ok(body));
            }
            Some((expected, reply)) => {
                let msg =
                    format!("{addr} answered correlation id {correlation_id}, expected {expected}");
                let _ = reply.send(Err(KafkaError::Protocol(msg.clone())));
                break msg;
            }
            None => break format!("{addr} sent a response nobody asked for"),
        }
    };
    broken.store(true, Ordering::Relaxed);
    fail_all(&pending, &reason);
}

fn fail_all(pending: &Mutex<VecDeque<(i32, Reply)>>, reason: &str) {
    if let Ok(mut queue) = pending.lock() {
        for (_, reply) in queue.drain(..) {
            let _ = reply.send(Err(KafkaError::Unreachable(reason.to_string())));
        }
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.addr)
            .finish()
    }
}
