//! A scripted stand-in for a broker, for unit tests of failure handling that
//! a real broker cannot be made to show on cue (a connection that breaks
//! right after a produce reached it, a leader that is gone until metadata
//! names another).
//!
//! It answers ApiVersions (every key, versions 0 to 20), Metadata (one topic
//! `t` with partition 0, led by whichever broker the script names) and Fetch
//! (an empty partition; the first few fetches can be made to hang up
//! instead). On Produce it counts the request and hangs up without
//! answering, as a broker that dies mid-request does.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    api_versions_response::ApiVersion,
    fetch_response::{FetchableTopicResponse, PartitionData},
    metadata_response::{MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic},
    ApiKey, ApiVersionsResponse, BrokerId, FetchResponse, MetadataResponse, RequestHeader,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The node id the fake gives itself in metadata.
pub const NODE: i32 = 1;

/// A fake broker on a loopback port; stops when dropped.
pub struct FakeBroker {
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// Where metadata says partition 0's leader is: node id and address.
    leader: Arc<Mutex<(i32, String)>>,
    counts: Arc<Counts>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Counts {
    metadata: AtomicUsize,
    produce: AtomicUsize,
    fetch: AtomicUsize,
    /// Fetches still to be answered by hanging up.
    fetch_hang_ups: AtomicUsize,
    /// Whether the leader is the only in-sync replica (no failover possible).
    leader_alone: AtomicBool,
}

impl FakeBroker {
    /// Starts a fake that names itself the leader of `t`/0.
    pub async fn start() -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let leader = Arc::new(Mutex::new((NODE, addr.clone())));
        let counts = Arc::new(Counts::default());
        let task = tokio::spawn({
            let (leader, counts, me) = (Arc::clone(&leader), Arc::clone(&counts), addr.clone());
            async move {
                while let Ok((socket, _)) = listener.accept().await {
                    let (leader, counts, me) =
                        (Arc::clone(&leader), Arc::clone(&counts), me.clone());
                    tokio::spawn(serve(socket, me, leader, counts));
                }
            }
        });
        FakeBroker {
            addr,
            leader,
            counts,
            task,
        }
    }

    /// Makes metadata name node `id` at `addr` as the leader of `t`/0, with
    /// the fake itself an in-sync replica too (so it could take over).
    pub fn set_leader(&self, id: i32, addr: &str) {
        *self.leader.lock().unwrap() = (id, addr.to_string());
        self.counts.leader_alone.store(false, Ordering::SeqCst);
    }

    /// Makes metadata name node `id` at `addr` as the leader of `t`/0 and
    /// its only in-sync replica (`id` -1: no leader at all), as for a
    /// partition of replication factor 1 whose broker is down.
    pub fn set_sole_leader(&self, id: i32, addr: &str) {
        *self.leader.lock().unwrap() = (id, addr.to_string());
        self.counts.leader_alone.store(true, Ordering::SeqCst);
    }

    /// Makes the next `n` fetches hang up without an answer.
    pub fn hang_up_on_fetches(&self, n: usize) {
        self.counts.fetch_hang_ups.store(n, Ordering::SeqCst);
    }

    /// Metadata requests answered so far.
    pub fn metadata_requests(&self) -> usize {
        self.counts.metadata.load(Ordering::SeqCst)
    }

    /// Produce requests received so far (each one answered by hanging up).
    pub fn produce_requests(&self) -> usize {
        self.counts.produce.load(Ordering::SeqCst)
    }

    /// Fetch requests received so far.
    pub fn fetch_requests(&self) -> usize {
        self.counts.fetch.load(Ordering::SeqCst)
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback address nothing listens on.
pub async fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr").to_string()
}

async fn serve(
    mut socket: TcpStream,
    me: String,
    leader: Arc<Mutex<(i32, String)>>,
    counts: Arc<Counts>,
) {
    loop {
        let Ok(size) = socket.read_i32().await else {
            return;
        };
        let mut frame = BytesMut::zeroed(size as usize);
        if socket.read_exact(&mut frame).await.is_err() {
            return;
        }
        let mut frame = frame.freeze();
        let (key, version) = {
            let mut peek = &frame[..];
            (peek.get_i16(), peek.get_i16())
        };
        let api = ApiKey::try_from(key).expect("a known api key");
        let header = RequestHeader::decode(&mut frame, api.request_header_version(version))
            .expect("request header");
        // No answer: hang up, as a broker that died after reading the request.
        let Some(body) = answer(api, version, &me, &leader, &counts) else {
            return;
        };
        let mut out = BytesMut::new();
        out.put_i32(0);
        ResponseHeader::default()
            .with_correlation_id(header.correlation_id)
            .encode(&mut out, api.response_header_version(version))
            .expect("encode response header");
        out.extend_from_slice(&body);
        let len = (out.len() - 4) as i32;
        out[0..4].copy_from_slice(&len.to_be_bytes());
        if socket.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// The body of the answer to a request of `api`, or `None` to hang up.
fn answer(
    api: ApiKey,
    version: i16,
    me: &str,
    leader: &Mutex<(i32, String)>,
    counts: &Counts,
) -> Option<BytesMut> {
    let mut body = BytesMut::new();
    match api {
        ApiKey::ApiVersions => ApiVersionsResponse::default()
            .with_api_keys(
                (0..=80)
                    .map(|k| {
                        ApiVersion::default()
                            .with_api_key(k)
                            .with_min_version(0)
                            .with_max_version(20)
                    })
                    .collect(),
            )
            .encode(&mut body, version),
        ApiKey::Metadata => {
            counts.metadata.fetch_add(1, Ordering::SeqCst);
            let (id, at) = leader.lock().unwrap().clone();
            let mut brokers = vec![broker(NODE, me)];
            if id != NODE && id >= 0 {
                brokers.push(broker(id, &at));
            }
            let mut isr = vec![BrokerId(id)];
            if id != NODE && !counts.leader_alone.load(Ordering::SeqCst) {
                isr.push(BrokerId(NODE));
            }
            MetadataResponse::default()
                .with_brokers(brokers)
                .with_topics(vec![MetadataResponseTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
                    .with_partitions(vec![MetadataResponsePartition::default()
                        .with_partition_index(0)
                        .with_leader_id(BrokerId(id))
                        .with_replica_nodes(isr.clone())
                        .with_isr_nodes(isr)])])
                .encode(&mut body, version)
        }
        ApiKey::Fetch => {
            counts.fetch.fetch_add(1, Ordering::SeqCst);
            let hang_up = counts
                .fetch_hang_ups
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if hang_up {
                return None;
            }
            FetchResponse::default()
                .with_responses(vec![FetchableTopicResponse::default()
                    .with_topic(TopicName(StrBytes::from_static_str("t")))
                    .with_partitions(vec![PartitionData::default()
                        .with_partition_index(0)
                        .with_records(Some(Bytes::new()))])])
                .encode(&mut body, version)
        }
        ApiKey::Produce => {
            counts.produce.fetch_add(1, Ordering::SeqCst);
            return None; // the request reached the broker, no answer comes
        }
        other => panic!("the fake broker does not answer {other:?}"),
    }
    .expect("encode response");
    Some(body)
}

fn broker(id: i32, addr: &str) -> MetadataResponseBroker {
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    MetadataResponseBroker::default()
        .with_node_id(BrokerId(id))
        .with_host(StrBytes::from_string(host.to_string()))
        .with_port(port.parse().expect("port"))
}
