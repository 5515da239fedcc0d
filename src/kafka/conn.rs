//! One TCP connection to one broker, with pipelined requests, over TLS and
//! authenticated with SASL when so configured (see `security`).
//!
//! A broker answers the requests of one connection in the order it received
//! them, so a FIFO of waiting callers is all the bookkeeping needed: the writer
//! task queues the caller before it writes the frame, and the reader task hands
//! each response to the caller at the front of the queue (checking the
//! correlation id). A connection that fails fails every caller queued on it and
//! is replaced by the pool on its next use.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::error::KafkaError;
use super::security::Security;
use super::versions::Negotiated;

/// The client id the broker sees in its request logs and quotas.
const CLIENT_ID: &str = "kafka-records";

/// A response bigger than this is a protocol error, not something to buffer.
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// How many requests may wait to be written before callers queue on the channel.
const WRITE_QUEUE: usize = 1024;

/// API keys counted by [`requests_sent`]; Kafka's highest is below this.
const COUNTED_KEYS: usize = 128;

/// Requests handed to a connection's writer since the process started, by
/// API key, over every connection of every cluster handle.
static SENT: [AtomicU64; COUNTED_KEYS] = [const { AtomicU64::new(0) }; COUNTED_KEYS];

/// The requests sent to brokers since the process started, by API name
/// (`ListOffsets`, `Fetch`, ...), for the APIs used at least once.
pub fn requests_sent() -> Vec<(String, u64)> {
    SENT.iter()
        .enumerate()
        .filter_map(|(key, count)| {
            let count = count.load(Ordering::Relaxed);
            let api = ApiKey::try_from(key as i16).ok()?;
            (count > 0).then(|| (format!("{api:?}"), count))
        })
        .collect()
}

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
    /// What the broker offers (its API versions), once ApiVersions answered.
    versions: Arc<std::sync::OnceLock<Negotiated>>,
}

impl Connection {
    /// Connects to `addr` (over TLS and with SASL authentication as
    /// `security` says) and checks that the broker speaks every API version
    /// this service sends. `timeout` bounds the whole set-up.
    pub async fn connect(
        addr: &str,
        timeout: Duration,
        security: &Security,
    ) -> Result<Connection, KafkaError> {
        let deadline = Instant::now() + timeout;
        let stream = tokio::time::timeout_at(deadline, TcpStream::connect(addr))
            .await
            .map_err(|_| KafkaError::unreachable(format!("connecting to {addr} timed out")))?
            .map_err(|e| KafkaError::unreachable_by(format!("cannot connect to {addr}: {e}"), e))?;
        stream.set_nodelay(true).ok();
        let addr: Arc<str> = addr.into();
        // The reader and writer tasks are generic over the stream, so the
        // plaintext path keeps the socket's own halves and nothing per request
        // changes with TLS.
        let conn = match &security.tls {
            None => {
                let (read, write) = stream.into_split();
                Connection::start(addr, read, write)
            }
            Some(tls) => {
                let stream = tokio::time::timeout_at(deadline, tls.handshake(&addr, stream))
                    .await
                    .map_err(|_| {
                        KafkaError::unreachable(format!("TLS handshake with {addr} timed out"))
                    })??;
                let (read, write) = tokio::io::split(stream);
                Connection::start(addr, read, write)
            }
        };
        tokio::time::timeout_at(deadline, conn.negotiate(security))
            .await
            .map_err(|_| {
                KafkaError::unreachable(format!(
                    "{addr} did not answer ApiVersions{sasl} in time",
                    addr = conn.addr,
                    sasl = if security.sasl.is_some() {
                        " and SASL authentication"
                    } else {
                        ""
                    }
                ))
            })??;
        Ok(conn)
    }

    /// Spawns the writer and reader tasks of a connected stream.
    fn start<R, W>(addr: Arc<str>, read: R, write: W) -> Connection
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let pending = Arc::new(Mutex::new(VecDeque::new()));
        let broken = Arc::new(AtomicBool::new(false));
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
        Connection {
            addr,
            tx,
            broken,
            correlation: Arc::new(AtomicI32::new(0)),
            versions: Arc::new(std::sync::OnceLock::new()),
        }
    }

    /// ApiVersions, then SASL authentication when configured: what a new
    /// connection does before any other request (as the Java client does).
    async fn negotiate(&self, security: &Security) -> Result<(), KafkaError> {
        let versions = self
            .call(
                ApiVersionsRequest::default()
                    .with_client_software_name(StrBytes::from_static_str(CLIENT_ID))
                    .with_client_software_version(StrBytes::from_static_str(env!(
                        "CARGO_PKG_VERSION"
                    ))),
                3,
            )
            .await?;
        let _ = self
            .versions
            .set(super::versions::check(&self.addr, &versions)?);
        if let Some(sasl) = &security.sasl {
            super::sasl::authenticate(self, &self.addr, sasl).await?;
        }
        Ok(())
    }

    /// Whether the broker takes a call written for `version` of the API
    /// `key` (that version, or an older one the call can use). Optional calls
    /// check this first: a broker may close the connection on an API it lacks.
    pub fn supports(&self, key: i16, version: i16) -> bool {
        self.versions
            .get()
            .is_some_and(|v| v.supports(key, version))
    }

    /// Whether the socket has failed; a broken connection is never reused.
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed) || self.tx.is_closed()
    }

    /// Sends one request written for `version` and waits for its response.
    /// The broker gets that version, or its own newest when that is older
    /// and the call can use it (see `versions`); a call the broker cannot
    /// take fails at once, naming the broker's release and what it lacks.
    pub async fn call<R: Request>(
        &self,
        request: R,
        version: i16,
    ) -> Result<R::Response, KafkaError> {
        let version = match self.versions.get() {
            // ApiVersions itself, before the broker said what it offers.
            None => version,
            Some(offer) => offer
                .pick(R::KEY, version)
                .ok_or_else(|| offer.unsupported(&self.addr, R::KEY, version))?,
        };
        let correlation_id = self.correlation.fetch_add(1, Ordering::Relaxed);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let encoding = |e: &dyn std::fmt::Display| {
            KafkaError::Protocol(format!("encoding api {}: {e}", R::KEY))
        };
        // Sized first: a produce request carries whole batches, which a
        // growing buffer would copy again at every doubling.
        let size = header
            .compute_size(R::header_version(version))
            .and_then(|h| Ok(h + request.compute_size(version)?))
            .map_err(|e| encoding(&e))?;
        let mut buf = BytesMut::with_capacity(4 + size);
        buf.put_i32(0);
        header
            .encode(&mut buf, R::header_version(version))
            .and_then(|_| request.encode(&mut buf, version))
            .map_err(|e| encoding(&e))?;
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
        if let Some(sent) = usize::try_from(R::KEY).ok().and_then(|k| SENT.get(k)) {
            sent.fetch_add(1, Ordering::Relaxed);
        }
        let mut body = response.await.map_err(|_| self.gone())??;
        ResponseHeader::decode(&mut body, R::Response::header_version(version))
            .and_then(|_| R::Response::decode(&mut body, version))
            .map_err(|e| {
                KafkaError::Protocol(format!("decoding api {} v{version} response: {e}", R::KEY))
            })
    }

    fn gone(&self) -> KafkaError {
        self.broken.store(true, Ordering::Relaxed);
        KafkaError::unreachable(format!("connection to {} was closed", self.addr))
    }
}

/// Small frames waiting together (commits, offsets, fetches) are written
/// with one system call; frames this large or larger (produce batches) go
/// straight to the socket, so their bytes are not copied once more.
const WRITE_BUFFER: usize = 8 * 1024;

/// Responses are read through a buffer this large: small ones (produce
/// acknowledgements, commits) arriving together take one system call.
const READ_BUFFER: usize = 64 * 1024;

/// Most frames gathered into one write.
const WRITE_BATCH: usize = 64;

async fn write_loop<W: AsyncWrite + Unpin>(
    write: W,
    mut rx: mpsc::Receiver<Outgoing>,
    pending: Arc<Mutex<VecDeque<(i32, Reply)>>>,
    broken: Arc<AtomicBool>,
) {
    let mut write = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, write);
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while rx.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        let mut written = Ok(());
        for out in batch.drain(..) {
            if broken.load(Ordering::Relaxed) || written.is_err() {
                let _ = out
                    .reply
                    .send(Err(KafkaError::unreachable("connection is broken")));
                continue;
            }
            // Queue the caller before the frame can be answered.
            if let Ok(mut queue) = pending.lock() {
                queue.push_back((out.correlation_id, out.reply));
            }
            written = write.write_all(&out.frame).await;
        }
        // One flush for the frames that came together: nothing waits in
        // the buffer once the queue is empty (and TLS sends its last record).
        if let Err(e) = written.and(write.flush().await) {
            broken.store(true, Ordering::Relaxed);
            fail_all(
                &pending,
                &io_error(format!("writing to broker failed: {e}"), e),
            );
        }
    }
    // Every handle is gone: close our side (a TLS close_notify, then FIN), so
    // that the broker closes too and the reader task ends.
    let _ = write.shutdown().await;
}

async fn read_loop<R: AsyncRead + Unpin>(
    read: R,
    pending: Arc<Mutex<VecDeque<(i32, Reply)>>>,
    broken: Arc<AtomicBool>,
    addr: Arc<str>,
) {
    let mut read = tokio::io::BufReader::with_capacity(READ_BUFFER, read);
    let reason = loop {
        let size = match read.read_i32().await {
            Ok(size) => size,
            Err(e) => break io_error(format!("connection to {addr} closed: {e}"), e),
        };
        if size < 4 || size as usize > MAX_RESPONSE_BYTES {
            // A TLS record header (alert or handshake, version 3.x) read as a size.
            let tls = matches!((size as u32) >> 16, 0x1503 | 0x1603);
            break KafkaError::unreachable(if tls {
                format!(
                    "{addr} answered with TLS: is it an SSL listener? (see --security-protocol)"
                )
            } else {
                format!("{addr} sent a response of {size} bytes")
            });
        }
        let mut body = BytesMut::zeroed(size as usize);
        if let Err(e) = read.read_exact(&mut body).await {
            break io_error(format!("connection to {addr} closed mid-response: {e}"), e);
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
                break KafkaError::unreachable(msg);
            }
            None => {
                break KafkaError::unreachable(format!("{addr} sent a response nobody asked for"))
            }
        }
    };
    broken.store(true, Ordering::Relaxed);
    fail_all(&pending, &reason);
}

fn fail_all(pending: &Mutex<VecDeque<(i32, Reply)>>, reason: &KafkaError) {
    if let Ok(mut queue) = pending.lock() {
        for (_, reply) in queue.drain(..) {
            let _ = reply.send(Err(reason.clone()));
        }
    }
}

/// A failed read or write: a TLS alert after the handshake (a broker that
/// refuses our client certificate) is an authentication failure; anything
/// else means the connection broke.
fn io_error(message: String, e: std::io::Error) -> KafkaError {
    // Whether TLS failed, and whether because the broker ended the session:
    // an alert, or a record that cannot be decrypted (Kafka 2.8 answers a
    // missing client certificate with one, openssl's client fails on it
    // too: its alert, under keys the client has moved on from).
    let alert = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .map(|tls| {
            matches!(
                tls,
                rustls::Error::AlertReceived(_) | rustls::Error::DecryptError
            )
        });
    match alert {
        Some(true) => KafkaError::Auth(format!(
            "{message} (the broker ended the TLS session: does it require a client certificate? see --tls-cert-file)"
        )),
        Some(false) => KafkaError::Auth(message),
        None => KafkaError::unreachable_by(message, e),
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.addr)
            .finish()
    }
}
