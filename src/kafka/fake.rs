//! A scripted stand-in for a broker, for unit tests of failure handling that
//! a real broker cannot be made to show on cue (a connection that breaks
//! right after a produce reached it, a leader that is gone until metadata
//! names another).
//!
//! It answers ApiVersions (every key, versions 0 to 20, unless a [`Script`]
//! offers older ones), Metadata (one topic
//! `t` with partition 0, led by whichever broker the script names) and Fetch
//! (an empty partition; the first few fetches can be made to hang up
//! instead). On Produce it counts the request and hangs up without
//! answering, as a broker that dies mid-request does, unless a [`Script`]
//! says to accept batches (up to a size) or refuse them. It also coordinates
//! transactions (FindCoordinator, InitProducerId, AddPartitionsToTxn, and
//! EndTxn answered, refused, hung up on or left unanswered as scripted),
//! answers DescribeConfigs of `t` with a scripted `max.message.bytes`, and
//! ListOffsets with the end of its log (a commit's end after a scripted
//! number of answers).

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    add_partitions_to_txn_response::{
        AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
    },
    api_versions_response::ApiVersion,
    describe_configs_response::{DescribeConfigsResourceResult, DescribeConfigsResult},
    fetch_response::{FetchableTopicResponse, PartitionData},
    list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse},
    metadata_response::{MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic},
    produce_response::{PartitionProduceResponse, TopicProduceResponse},
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, ApiVersionsResponse, BrokerId,
    DescribeConfigsResponse, EndTxnRequest, EndTxnResponse, FetchResponse, FindCoordinatorResponse,
    InitProducerIdResponse, ListOffsetsResponse, MetadataResponse, ProduceRequest, ProduceResponse,
    ProducerId, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::ResponseError;
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
    /// The node id the fake gives itself.
    node: AtomicI32,
    metadata: AtomicUsize,
    produce: AtomicUsize,
    fetch: AtomicUsize,
    /// Fetches still to be answered by hanging up.
    fetch_hang_ups: AtomicUsize,
    /// Whether the leader is the only in-sync replica (no failover possible).
    leader_alone: AtomicBool,
    commits: AtomicUsize,
    aborts: AtomicUsize,
    list_offsets: AtomicUsize,
    script: Mutex<Script>,
    log: Mutex<Log>,
}

/// How the fake answers what it does not simply hang up on.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Produce: `None` hangs up after reading the request.
    pub produce: Option<ProduceScript>,
    /// EndTxn committing.
    pub commit: EndScript,
    /// EndTxn aborting.
    pub abort: EndScript,
    /// DescribeConfigs of the topic: its `max.message.bytes`, or refused.
    pub max_message_bytes: Option<usize>,
    /// How many ListOffsets answers after a commit still give the end from
    /// before it, as Kafka does until its commit markers are written.
    pub stale_stable_answers: usize,
    /// ApiVersions: the newest version offered of these keys instead of 20
    /// (a broker of an older Kafka release), or `-1` to leave a key out.
    pub newest_versions: Vec<(ApiKey, i16)>,
    /// How many Metadata answers still say `t` is unknown, as a broker that
    /// has not yet heard of a topic the controller just created.
    pub unknown_topic_answers: usize,
}

/// How the fake answers Produce.
#[derive(Debug, Clone, Copy)]
pub enum ProduceScript {
    /// Appends batches of at most this many bytes (any, for `None`), and
    /// refuses larger ones with MESSAGE_TOO_LARGE.
    Accept(Option<usize>),
    /// Refuses every batch with this error.
    Refuse(ResponseError),
}

/// How the fake answers EndTxn.
#[derive(Debug, Clone, Copy, Default)]
pub enum EndScript {
    /// With this error (`None`: success).
    #[default]
    Answer,
    /// Refused with this error.
    Refuse(ResponseError),
    /// Hangs up after reading the request, every time.
    HangUp,
    /// Never answers, leaving the connection open.
    Silent,
}

/// The fake's one partition.
#[derive(Debug, Default)]
struct Log {
    /// The next offset.
    end: i64,
    /// The end read_committed readers see.
    stable: i64,
    /// A commit's end, not yet stable, and how many answers remain before it is.
    committing: Option<(i64, usize)>,
    /// Each batch appended: base offset and record count.
    batches: Vec<(i64, i32)>,
}

impl FakeBroker {
    /// Starts a fake, node [`NODE`], that names itself the leader of `t`/0.
    pub async fn start() -> FakeBroker {
        FakeBroker::start_node(NODE).await
    }

    /// Starts a fake that calls itself node `id` and names itself the
    /// leader of `t`/0.
    pub async fn start_node(id: i32) -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let leader = Arc::new(Mutex::new((id, addr.clone())));
        let counts = Arc::new(Counts::default());
        counts.node.store(id, Ordering::SeqCst);
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

    /// Answers as `script` says from now on.
    pub fn script(&self, script: Script) {
        *self.counts.script.lock().unwrap() = script;
    }

    /// EndTxn requests committing, and aborting, received so far.
    pub fn end_txn_requests(&self) -> (usize, usize) {
        (
            self.counts.commits.load(Ordering::SeqCst),
            self.counts.aborts.load(Ordering::SeqCst),
        )
    }

    /// ListOffsets requests received so far.
    pub fn list_offsets_requests(&self) -> usize {
        self.counts.list_offsets.load(Ordering::SeqCst)
    }

    /// Each batch appended so far: its base offset and record count.
    pub fn appended(&self) -> Vec<(i64, i32)> {
        self.counts.log.lock().unwrap().batches.clone()
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
        let body = match answer(api, version, frame, &me, &leader, &counts) {
            Reply::Body(body) => body,
            Reply::HangUp => return,
            Reply::Silent => continue,
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

/// What the fake does with a request.
enum Reply {
    Body(BytesMut),
    HangUp,
    Silent,
}

/// The body of the answer to a request of `api` (whose body is `request`),
/// or no answer.
fn answer(
    api: ApiKey,
    version: i16,
    mut request: Bytes,
    me: &str,
    leader: &Mutex<(i32, String)>,
    counts: &Counts,
) -> Reply {
    let script = counts.script.lock().unwrap().clone();
    let mut body = BytesMut::new();
    match api {
        ApiKey::ApiVersions => ApiVersionsResponse::default()
            .with_api_keys(
                (0..=80)
                    .map(|k| {
                        let newest = script
                            .newest_versions
                            .iter()
                            .find(|(key, _)| *key as i16 == k)
                            .map_or(20, |(_, v)| *v);
                        (k, newest)
                    })
                    .filter(|(_, newest)| *newest >= 0)
                    .map(|(k, newest)| {
                        ApiVersion::default()
                            .with_api_key(k)
                            .with_min_version(0)
                            .with_max_version(newest)
                    })
                    .collect(),
            )
            .encode(&mut body, version),
        ApiKey::Metadata => {
            counts.metadata.fetch_add(1, Ordering::SeqCst);
            let node = counts.node.load(Ordering::SeqCst);
            let (id, at) = leader.lock().unwrap().clone();
            let mut brokers = vec![broker(node, me)];
            if id != node && id >= 0 {
                brokers.push(broker(id, &at));
            }
            let mut isr = vec![BrokerId(id)];
            if id != node && !counts.leader_alone.load(Ordering::SeqCst) {
                isr.push(BrokerId(node));
            }
            let name = Some(TopicName(StrBytes::from_static_str("t")));
            let unknown = {
                let mut script = counts.script.lock().unwrap();
                let unknown = script.unknown_topic_answers > 0;
                script.unknown_topic_answers = script.unknown_topic_answers.saturating_sub(1);
                unknown
            };
            let topic = if unknown {
                MetadataResponseTopic::default()
                    .with_name(name)
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
            } else {
                MetadataResponseTopic::default()
                    .with_name(name)
                    .with_partitions(vec![MetadataResponsePartition::default()
                        .with_partition_index(0)
                        .with_leader_id(BrokerId(id))
                        .with_replica_nodes(isr.clone())
                        .with_isr_nodes(isr)])
            };
            MetadataResponse::default()
                .with_brokers(brokers)
                .with_topics(vec![topic])
                .encode(&mut body, version)
        }
        ApiKey::Fetch => {
            counts.fetch.fetch_add(1, Ordering::SeqCst);
            let hang_up = counts
                .fetch_hang_ups
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if hang_up {
                return Reply::HangUp;
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
            let Some(produce) = script.produce else {
                return Reply::HangUp; // the request reached the broker, no answer comes
            };
            let request = ProduceRequest::decode(&mut request, version).expect("produce request");
            let transactional = request.transactional_id.is_some();
            let mut log = counts.log.lock().unwrap();
            let partitions = request.topic_data.iter().flat_map(|t| &t.partition_data);
            let answers = partitions
                .map(|p| {
                    let batch = p.records.clone().unwrap_or_default();
                    let refused = match produce {
                        ProduceScript::Refuse(e) => Some(e),
                        ProduceScript::Accept(Some(max)) if batch.len() > max => {
                            Some(ResponseError::MessageTooLarge)
                        }
                        ProduceScript::Accept(_) => None,
                    };
                    let answer = PartitionProduceResponse::default().with_index(p.index);
                    if let Some(e) = refused {
                        return answer.with_error_code(e.code()).with_base_offset(-1);
                    }
                    let count = i32::from_be_bytes(batch[57..61].try_into().expect("count"));
                    let base = log.end;
                    log.batches.push((base, count));
                    log.end += i64::from(count);
                    if !transactional {
                        log.stable = log.end;
                    }
                    answer.with_base_offset(base).with_log_append_time_ms(-1)
                })
                .collect();
            ProduceResponse::default()
                .with_responses(vec![TopicProduceResponse::default()
                    .with_name(TopicName(StrBytes::from_static_str("t")))
                    .with_partition_responses(answers)])
                .encode(&mut body, version)
        }
        ApiKey::FindCoordinator => {
            let (host, port) = me.rsplit_once(':').expect("host:port");
            FindCoordinatorResponse::default()
                .with_node_id(BrokerId(counts.node.load(Ordering::SeqCst)))
                .with_host(StrBytes::from_string(host.to_string()))
                .with_port(port.parse().expect("port"))
                .encode(&mut body, version)
        }
        ApiKey::InitProducerId => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(7))
            .with_producer_epoch(0)
            .encode(&mut body, version),
        ApiKey::AddPartitionsToTxn => {
            let request = AddPartitionsToTxnRequest::decode(&mut request, version)
                .expect("AddPartitionsToTxn request");
            AddPartitionsToTxnResponse::default()
                .with_results_by_topic_v3_and_below(
                    request
                        .v3_and_below_topics
                        .iter()
                        .map(|t| {
                            AddPartitionsToTxnTopicResult::default()
                                .with_name(t.name.clone())
                                .with_results_by_partition(
                                    t.partitions
                                        .iter()
                                        .map(|p| {
                                            AddPartitionsToTxnPartitionResult::default()
                                                .with_partition_index(*p)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                )
                .encode(&mut body, version)
        }
        ApiKey::EndTxn => {
            let request = EndTxnRequest::decode(&mut request, version).expect("EndTxn request");
            let (count, end) = if request.committed {
                (&counts.commits, script.commit)
            } else {
                (&counts.aborts, script.abort)
            };
            count.fetch_add(1, Ordering::SeqCst);
            let code = match end {
                EndScript::HangUp => return Reply::HangUp,
                EndScript::Silent => return Reply::Silent,
                EndScript::Refuse(e) => e.code(),
                EndScript::Answer => {
                    let mut log = counts.log.lock().unwrap();
                    log.end += 1; // the marker
                    if request.committed {
                        log.committing = Some((log.end, script.stale_stable_answers));
                    } else {
                        log.stable = log.end;
                    }
                    0
                }
            };
            EndTxnResponse::default()
                .with_error_code(code)
                .encode(&mut body, version)
        }
        ApiKey::DescribeConfigs => {
            let result = match script.max_message_bytes {
                Some(max) => DescribeConfigsResult::default().with_configs(vec![
                    DescribeConfigsResourceResult::default()
                        .with_name(StrBytes::from_static_str("max.message.bytes"))
                        .with_value(Some(StrBytes::from_string(max.to_string()))),
                ]),
                None => DescribeConfigsResult::default()
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code()),
            };
            DescribeConfigsResponse::default()
                .with_results(vec![result])
                .encode(&mut body, version)
        }
        ApiKey::ListOffsets => {
            counts.list_offsets.fetch_add(1, Ordering::SeqCst);
            let mut log = counts.log.lock().unwrap();
            match log.committing {
                Some((end, n)) if n > 0 => log.committing = Some((end, n - 1)),
                Some((end, _)) => {
                    log.stable = end;
                    log.committing = None;
                }
                None => {}
            }
            ListOffsetsResponse::default()
                .with_topics(vec![ListOffsetsTopicResponse::default()
                    .with_name(TopicName(StrBytes::from_static_str("t")))
                    .with_partitions(vec![ListOffsetsPartitionResponse::default()
                        .with_partition_index(0)
                        .with_offset(log.stable)])])
                .encode(&mut body, version)
        }
        other => panic!("the fake broker does not answer {other:?}"),
    }
    .expect("encode response");
    Reply::Body(body)
}

fn broker(id: i32, addr: &str) -> MetadataResponseBroker {
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    MetadataResponseBroker::default()
        .with_node_id(BrokerId(id))
        .with_host(StrBytes::from_string(host.to_string()))
        .with_port(port.parse().expect("port"))
}
