//! Routing calls to the broker that must answer them (a partition's leader,
//! a group's or transaction's coordinator, or any broker), and the one retry
//! loop around them.
//!
//! Every operation takes a deadline and retries what is safe to retry (a
//! leader that moved, a broker that is briefly away) until then; a write is
//! never sent again once it may have reached a broker. When no broker answers
//! at all, calls fail at once ([`KafkaError::ClusterUnreachable`]) rather than
//! at their deadline.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use futures_util::future::join_all;
use kafka_protocol::messages::FindCoordinatorRequest;
use kafka_protocol::protocol::{Request, StrBytes};
use tokio::time::Instant;

use super::availability::{leader_unreachable, no_leader};
use super::cluster::{Cluster, CoordinatorKind};
use super::conn::Connection;
use super::error::{check, Context, KafkaError, Operation, ResponseError};
use super::versions;

/// The first pause between retries; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(20);
/// The longest pause between retries.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// Which failed calls [`Cluster::per_leader`] may send again.
#[derive(Debug, Clone, Copy)]
pub(super) enum Resend {
    /// Reads, offset look-ups and deletes: sending one twice does no harm, so
    /// every retriable error is retried, a broken connection included.
    Idempotent,
    /// Plain writes are not idempotent: only a refusal that proves nothing was
    /// appended is retried. A connection that breaks after the request went
    /// out leaves its fate unknown, so the write is reported as failed rather
    /// than risk writing its records twice.
    OnlyIfNothingWritten,
}

impl Resend {
    /// Whether a partition's error in a broker's answer may be retried.
    fn answered(self, e: &KafkaError) -> bool {
        match self {
            Resend::Idempotent => e.is_retriable(),
            Resend::OnlyIfNothingWritten => e.proves_nothing_written(),
        }
    }

    /// Whether a call that failed after its request may have reached the
    /// broker (a broken connection, a timeout) may be sent again.
    fn after_sending(self, e: &KafkaError) -> bool {
        match self {
            Resend::Idempotent => e.is_retriable(),
            Resend::OnlyIfNothingWritten => false,
        }
    }

    /// A partition's final error: for a write whose request may have been
    /// appended, one that says so ([`KafkaError::MaybeWritten`]).
    fn final_error(self, e: KafkaError, sent: bool) -> KafkaError {
        match self {
            Resend::OnlyIfNothingWritten
                if sent || e.write_fate() == super::error::WriteFate::Unknown =>
            {
                e.maybe_written()
            }
            _ => e,
        }
    }
}

/// Which of a broker's connections a call uses (see [`super::pool`]).
#[derive(Debug, Clone, Copy)]
pub(super) enum ConnectionKind {
    /// Short calls that never wait on the broker.
    Control,
    /// Fetches that do not wait.
    Reads,
}

/// Each partition's answer, or its error.
pub(super) type PerPartition<T> = Vec<(i32, Result<T, KafkaError>)>;

/// One pass over the leaders: answers that are final, and partitions to try
/// again with the error that sent them back.
struct Round<K, T> {
    done: PerPartition<T>,
    again: Vec<(i32, K)>,
    last_error: Option<KafkaError>,
    /// Whether an error says the cached metadata is stale.
    stale: bool,
}

impl<K, T> Round<K, T> {
    fn new(capacity: usize) -> Round<K, T> {
        Round {
            done: Vec::with_capacity(capacity),
            again: Vec::new(),
            last_error: None,
            stale: false,
        }
    }

    /// Partitions `items` are to be tried again, because of `error`.
    fn retry(&mut self, error: KafkaError, items: impl IntoIterator<Item = (i32, K)>) {
        self.stale |= error.invalidates_metadata();
        self.again.extend(items);
        self.last_error = Some(error);
    }

    /// Partitions `items` failed for good with `error`.
    fn fail(&mut self, error: &KafkaError, items: impl IntoIterator<Item = (i32, K)>) {
        self.done
            .extend(items.into_iter().map(|(p, _)| (p, Err(error.clone()))));
    }

    fn into_sorted(mut self) -> PerPartition<T> {
        self.done.sort_by_key(|(p, _)| *p);
        self.done
    }
}

/// What one leader's call came to: its partitions' answers, a failure after
/// the request was sent, or a failure before anything was sent.
enum LeaderOutcome<T> {
    Answered(PerPartition<T>),
    FailedAfterSending(KafkaError),
    NotSent(KafkaError),
}

impl Cluster {
    /// Runs `call` once per leader broker with that broker's share of `items`,
    /// concurrently; partitions that fail with an error `resend` allows to
    /// retry are retried (with fresh metadata) until the deadline.
    pub(super) async fn per_leader<K, T, F, Fut>(
        &self,
        topic: &str,
        items: Vec<(i32, K)>,
        deadline: Instant,
        connections: ConnectionKind,
        resend: Resend,
        call: F,
    ) -> PerPartition<T>
    where
        K: Clone,
        F: Fn(Connection, Vec<(i32, K)>) -> Fut,
        Fut: Future<Output = Result<PerPartition<T>, KafkaError>>,
    {
        let mut round = Round::new(items.len());
        let mut todo = items;
        let mut backoff = FIRST_BACKOFF;
        loop {
            self.leader_round(
                topic,
                todo,
                deadline,
                connections,
                resend,
                &call,
                &mut round,
            )
            .await;
            if round.again.is_empty() {
                return round.into_sorted();
            }
            if round.stale {
                self.invalidate(topic);
            }
            if let Some(e) = &round.last_error {
                tracing::debug!(topic, error = %e, "retrying {} partitions", round.again.len());
            }
            if Instant::now() + backoff >= deadline {
                let e = KafkaError::Timeout(match round.last_error.take() {
                    Some(e) => e.to_string(),
                    None => "deadline passed".into(),
                });
                let again = std::mem::take(&mut round.again);
                round.fail(&e, again);
                return round.into_sorted();
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            todo = std::mem::take(&mut round.again);
            round.stale = false;
        }
    }

    /// One pass: groups `todo` by leader, calls each leader, and sorts the
    /// outcomes into `round`.
    #[allow(clippy::too_many_arguments)]
    async fn leader_round<K, T, F, Fut>(
        &self,
        topic: &str,
        todo: Vec<(i32, K)>,
        deadline: Instant,
        connections: ConnectionKind,
        resend: Resend,
        call: &F,
        round: &mut Round<K, T>,
    ) where
        K: Clone,
        F: Fn(Connection, Vec<(i32, K)>) -> Fut,
        Fut: Future<Output = Result<PerPartition<T>, KafkaError>>,
    {
        let info = match self.topic(topic, false, deadline).await {
            Ok(info) => info,
            Err(e) if e.is_retriable() && Instant::now() < deadline => return round.retry(e, todo),
            Err(e) => return round.fail(&e, todo),
        };
        let mut by_leader: HashMap<i32, Vec<(i32, K)>> = HashMap::new();
        for (p, k) in todo {
            match info.partition(p) {
                // No leader: offline, if fresh metadata says so.
                Ok(part) if part.leader < 0 && info.is_fresh() => {
                    round.done.push((p, Err(no_leader(topic, p))))
                }
                Ok(part) if part.leader < 0 => round.retry(
                    KafkaError::broker(
                        ResponseError::LeaderNotAvailable,
                        Context::of(Operation::Leaders).topic(topic).partition(p),
                        Some("cached metadata names no leader"),
                    ),
                    [(p, k)],
                ),
                Ok(part) => by_leader.entry(part.leader).or_default().push((p, k)),
                Err(e) => round.done.push((p, Err(e))),
            }
        }
        let calls = by_leader.into_iter().map(|(leader, items)| async move {
            let outcome = self
                .call_leader(leader, items.clone(), deadline, connections, call)
                .await;
            (leader, items, outcome)
        });
        for (leader, items, outcome) in join_all(calls).await {
            let in_time = Instant::now() < deadline;
            match outcome {
                LeaderOutcome::Answered(answers) => {
                    for (p, answer) in answers {
                        match answer {
                            Err(e) if resend.answered(&e) && in_time => {
                                let item = items.iter().find(|(ip, _)| *ip == p).cloned();
                                round.retry(e, item);
                            }
                            Err(e) => round.done.push((p, Err(resend.final_error(e, false)))),
                            answer => round.done.push((p, answer)),
                        }
                    }
                }
                LeaderOutcome::FailedAfterSending(e) if resend.after_sending(&e) && in_time => {
                    round.retry(e, items)
                }
                LeaderOutcome::NotSent(e @ KafkaError::Unreachable { .. }) if in_time => {
                    // A leader that cannot be reached although fresh metadata
                    // names it: unless another in-sync replica can take over,
                    // nothing changes until its broker is back.
                    let (waited, offline): (Vec<_>, Vec<_>) =
                        items.into_iter().partition(|(p, _)| {
                            !info.is_fresh() || info.partition(*p).is_ok_and(|part| part.failover)
                        });
                    for (p, _) in offline {
                        round
                            .done
                            .push((p, Err(leader_unreachable(topic, p, leader, &e))));
                    }
                    if !waited.is_empty() {
                        round.retry(e, waited);
                    }
                }
                LeaderOutcome::NotSent(e) if e.is_retriable() && in_time => round.retry(e, items),
                LeaderOutcome::FailedAfterSending(e) => {
                    let e = resend.final_error(e, true);
                    round.fail(&e, items)
                }
                LeaderOutcome::NotSent(e) => round.fail(&e, items),
            }
        }
    }

    /// Sends one leader its share of the partitions.
    async fn call_leader<K, T, F, Fut>(
        &self,
        leader: i32,
        items: Vec<(i32, K)>,
        deadline: Instant,
        connections: ConnectionKind,
        call: &F,
    ) -> LeaderOutcome<T>
    where
        F: Fn(Connection, Vec<(i32, K)>) -> Fut,
        Fut: Future<Output = Result<PerPartition<T>, KafkaError>>,
    {
        let conn = async {
            let broker = self.broker(leader)?;
            match connections {
                ConnectionKind::Control => broker.control.get(deadline).await,
                ConnectionKind::Reads => broker.reads.get(deadline).await,
            }
        };
        match conn.await {
            Err(e) => LeaderOutcome::NotSent(e),
            Ok(conn) => match timeout(deadline, call(conn, items)).await {
                Ok(answers) => LeaderOutcome::Answered(answers),
                Err(e) => LeaderOutcome::FailedAfterSending(e),
            },
        }
    }

    /// Runs `call` on the first broker that answers: known brokers first, then
    /// the bootstrap servers. A broker that cannot be connected to, or whose
    /// connection breaks before it answers, is skipped for the next one; when
    /// none is left the error is [`KafkaError::ClusterUnreachable`], which is
    /// final: with every broker down there is nothing to wait for, so requests
    /// fail at once rather than at their timeout.
    pub(super) async fn on_any_broker<T, F, Fut>(
        &self,
        deadline: Instant,
        call: F,
    ) -> Result<T, KafkaError>
    where
        F: Fn(Connection) -> Fut,
        Fut: Future<Output = Result<T, KafkaError>>,
    {
        let brokers = self.known_brokers();
        let pools = brokers
            .iter()
            .map(|b| &b.control)
            .chain(self.bootstrap().iter());
        let mut failures: Vec<String> = Vec::new();
        let mut refused = None;
        for pool in pools {
            let attempt = async {
                let conn = pool.get(deadline).await?;
                timeout(deadline, call(conn)).await
            };
            match attempt.await {
                Err(KafkaError::Unreachable { reason, .. }) => {
                    if !failures.contains(&reason) {
                        failures.push(reason);
                    }
                }
                // Another broker may accept us; if none does, this says why.
                Err(e @ KafkaError::Auth(_)) => refused = Some(e),
                other => return other,
            }
        }
        if let Some(e) = refused {
            return Err(e);
        }
        Err(KafkaError::ClusterUnreachable(if failures.is_empty() {
            "no bootstrap server configured".into()
        } else {
            failures.join("; ")
        }))
    }

    /// Runs `call` on the controller that Metadata names, for calls only a
    /// controller serves: topics are created and deleted by it. In ZooKeeper
    /// mode (Kafka 2.8) other brokers refuse them with NOT_CONTROLLER; in
    /// KRaft mode every broker forwards them, and Metadata names some live
    /// broker. When Metadata names none, or it cannot be connected to, any
    /// broker is asked. `call` turns the answer into a result: a
    /// NOT_CONTROLLER refusal (the controller moved since) is tried again on
    /// fresh metadata until `deadline`.
    pub(super) async fn on_controller<T, F, Fut>(
        &self,
        deadline: Instant,
        call: F,
    ) -> Result<T, KafkaError>
    where
        F: Fn(Connection) -> Fut,
        Fut: Future<Output = Result<T, KafkaError>>,
    {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let controller = self
                .metadata(Some(vec![]), false, deadline)
                .await?
                .controller_id
                .0;
            let conn = match self.broker(controller) {
                Ok(broker) => broker.control.get(deadline).await.ok(),
                Err(_) => None,
            };
            let answer = match conn {
                Some(conn) => timeout(deadline, call(conn)).await,
                None => self.on_any_broker(deadline, &call).await,
            };
            match answer {
                Err(KafkaError::Broker {
                    error: ResponseError::NotController,
                    ..
                }) if Instant::now() + backoff < deadline => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                other => return other,
            }
        }
    }

    /// A connection to the coordinator of `key` (a group or transactional id),
    /// found with FindCoordinator and cached until an error says it moved.
    async fn coordinator(
        &self,
        kind: CoordinatorKind,
        key: &str,
        deadline: Instant,
    ) -> Result<Connection, KafkaError> {
        let id = match self.cached_coordinator(kind, key) {
            Some(id) => id,
            None => self.find_coordinator(kind, key, deadline).await?,
        };
        let broker = self.broker(id)?;
        broker.control.get(deadline).await.inspect_err(|_| {
            self.set_coordinator(kind, key, None);
        })
    }

    /// Asks any broker which broker coordinates `key`, and remembers it.
    async fn find_coordinator(
        &self,
        kind: CoordinatorKind,
        key: &str,
        deadline: Instant,
    ) -> Result<i32, KafkaError> {
        let request = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(key.to_string()))
            .with_key_type(match kind {
                CoordinatorKind::Group => 0,
                CoordinatorKind::Transaction => 1,
            });
        let response = self
            .ask_any_broker(deadline, request, versions::FIND_COORDINATOR)
            .await?;
        check(
            response.error_code,
            || Context::of(Operation::FindCoordinator).id(key),
            response.error_message.as_ref().map(|m| m.as_str()),
        )?;
        let id = response.node_id.0;
        // It may be a broker this handle has not heard of yet.
        self.learn_broker(id, format!("{}:{}", response.host.as_str(), response.port));
        self.set_coordinator(kind, key, Some(id));
        Ok(id)
    }

    /// Runs `attempt` on a connection to the coordinator of `key`, retrying
    /// retriable errors until `deadline` and looking the coordinator up again
    /// whenever an error says it moved.
    pub(super) async fn with_coordinator<T, F, Fut>(
        &self,
        kind: CoordinatorKind,
        key: &str,
        deadline: Instant,
        attempt: F,
    ) -> Result<T, KafkaError>
    where
        F: Fn(Connection) -> Fut,
        Fut: Future<Output = Result<T, KafkaError>>,
    {
        retry(deadline, || async {
            let conn = self.coordinator(kind, key, deadline).await?;
            attempt(conn).await.inspect_err(|e| {
                if e.invalidates_metadata() {
                    self.set_coordinator(kind, key, None);
                }
            })
        })
        .await
    }
}

impl Cluster {
    /// Sends `request` to the coordinator of `key` (retried as
    /// [`Cluster::with_coordinator`] retries) and reads its answer with `read`.
    pub(super) async fn ask_coordinator<R, T>(
        &self,
        kind: CoordinatorKind,
        key: &str,
        deadline: Instant,
        request: R,
        version: i16,
        read: impl Fn(R::Response) -> Result<T, KafkaError>,
    ) -> Result<T, KafkaError>
    where
        R: Request + Clone,
    {
        self.with_coordinator(kind, key, deadline, |conn| {
            let request = request.clone();
            let read = &read;
            async move { read(conn.call(request, version).await?) }
        })
        .await
    }

    /// Sends `request` to the first broker that answers (see
    /// [`Cluster::on_any_broker`]).
    pub(super) async fn ask_any_broker<R>(
        &self,
        deadline: Instant,
        request: R,
        version: i16,
    ) -> Result<R::Response, KafkaError>
    where
        R: Request + Clone,
    {
        self.on_any_broker(deadline, |conn| {
            let request = request.clone();
            async move { conn.call(request, version).await }
        })
        .await
    }
}

/// Milliseconds until `deadline`, for a request's own timeout field.
pub(super) fn ms_until(deadline: Instant) -> i32 {
    deadline
        .saturating_duration_since(Instant::now())
        .as_millis()
        .clamp(1, i32::MAX as u128) as i32
}

/// `f`, or a timeout error at `deadline`.
pub(super) async fn timeout<T>(
    deadline: Instant,
    f: impl Future<Output = Result<T, KafkaError>>,
) -> Result<T, KafkaError> {
    tokio::time::timeout_at(deadline, f)
        .await
        .map_err(|_| KafkaError::Timeout("the request's timeout passed".into()))?
}

/// Retries `f` on retriable errors with backoff until `deadline`.
pub(super) async fn retry<T, F, Fut>(deadline: Instant, mut f: F) -> Result<T, KafkaError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, KafkaError>>,
{
    let mut backoff = FIRST_BACKOFF;
    loop {
        match f().await {
            Err(e) if e.is_retriable() => {
                if Instant::now() + backoff >= deadline {
                    return Err(match e {
                        KafkaError::Unreachable { .. } => e,
                        other => KafkaError::Timeout(other.to_string()),
                    });
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::super::batch::{encode, ProduceRecord};
    use super::super::cluster::ClusterConfig;
    use super::super::fake::{closed_port, FakeBroker, NODE};
    use super::super::ops::OffsetQuery;
    use super::*;

    fn cluster(bootstrap: &[&str]) -> Cluster {
        Cluster::new(ClusterConfig {
            bootstrap: bootstrap.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn one_record() -> Bytes {
        encode(
            &[ProduceRecord {
                key: None,
                value: Some(b"v"),
                timestamp: 0,
                headers: &[],
            }],
            None,
        )
    }

    #[tokio::test]
    async fn with_every_broker_down_calls_fail_at_once_instead_of_at_their_deadline() {
        let (a, b) = (closed_port().await, closed_port().await);
        let cluster = cluster(&[&a, &b]);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(30);

        let e = cluster.topic("t", false, deadline).await.unwrap_err();
        assert!(matches!(e, KafkaError::ClusterUnreachable(_)), "{e}");
        // Both addresses were tried and both are named.
        assert!(
            e.to_string().contains(&a) && e.to_string().contains(&b),
            "{e}"
        );
        let e = cluster.ready(deadline).await.unwrap_err();
        assert!(matches!(e, KafkaError::ClusterUnreachable(_)), "{e}");
        let e = cluster
            .committed_offsets("g", "t", &[0], deadline)
            .await
            .unwrap_err();
        assert!(matches!(e, KafkaError::ClusterUnreachable(_)), "{e}");
        let e = cluster
            .begin_transaction("x", Duration::from_secs(5), deadline)
            .await
            .err()
            .expect("no transaction without brokers");
        assert!(matches!(e, KafkaError::ClusterUnreachable(_)), "{e}");
        for (_, r) in cluster
            .produce("t", vec![(0, one_record())], None, deadline)
            .await
        {
            let e = r.unwrap_err();
            assert!(matches!(e, KafkaError::ClusterUnreachable(_)), "{e}");
        }
        // Retrying until the deadline would take 30 s; a single pass over two
        // refused ports takes milliseconds. 10 s tells the two apart on any machine.
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn a_produce_whose_connection_breaks_after_sending_is_not_sent_again() {
        let broker = FakeBroker::start().await;
        let cluster = cluster(&[&broker.addr]);
        let deadline = Instant::now() + Duration::from_secs(3);
        let results = cluster
            .produce("t", vec![(0, one_record())], None, deadline)
            .await;
        let [(0, Err(e))] = &results[..] else {
            panic!("expected partition 0 to fail: {results:?}");
        };
        let KafkaError::MaybeWritten(cause) = e else {
            panic!("expected a write of unknown fate: {e}");
        };
        assert!(matches!(**cause, KafkaError::Unreachable { .. }), "{e}");
        assert_eq!(e.kind(), super::super::error::ErrorKind::Unreachable);
        assert!(
            e.to_string().contains("may or may not have been written"),
            "{e}"
        );
        // The broker may have appended the batch before the connection broke:
        // sending it again could write its records twice.
        assert_eq!(broker.produce_requests(), 1);
    }

    #[tokio::test]
    async fn a_read_from_a_leader_that_is_gone_follows_fresh_metadata_to_the_next() {
        let broker = Arc::new(FakeBroker::start().await);
        let cluster = cluster(&[&broker.addr]);
        let deadline = Instant::now() + Duration::from_secs(20);
        cluster.topic("t", false, deadline).await.expect("metadata");
        // The leader goes away: metadata still names it (as Kafka's does until
        // the controller notices), then names the fake broker.
        let gone = closed_port().await;
        broker.set_leader(2, &gone);
        cluster.invalidate("t");
        cluster.topic("t", false, deadline).await.expect("metadata");
        let before = broker.metadata_requests();
        let mover = tokio::spawn({
            let broker = Arc::clone(&broker);
            async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                broker.set_leader(NODE, &broker.addr);
            }
        });
        let results = cluster.fetch("t", &[(0, 0)], 1024, 1024, deadline).await;
        mover.await.unwrap();
        let [(0, Ok(_))] = &results[..] else {
            panic!("the fetch should follow the new leader: {results:?}");
        };
        assert_eq!(broker.fetch_requests(), 1);
        // The refused connections made the handle ask for metadata again.
        assert!(broker.metadata_requests() > before + 1);
    }

    #[tokio::test]
    async fn a_read_whose_connection_breaks_after_sending_is_sent_again() {
        let broker = FakeBroker::start().await;
        broker.hang_up_on_fetches(1);
        let cluster = cluster(&[&broker.addr]);
        let deadline = Instant::now() + Duration::from_secs(20);
        let results = cluster.fetch("t", &[(0, 0)], 1024, 1024, deadline).await;
        let [(0, Ok(_))] = &results[..] else {
            panic!("a fetch may simply be sent again: {results:?}");
        };
        assert_eq!(broker.fetch_requests(), 2);
    }

    #[tokio::test]
    async fn a_partition_without_a_leader_in_fresh_metadata_fails_at_once() {
        let broker = FakeBroker::start().await;
        broker.set_sole_leader(-1, &broker.addr);
        let cluster = cluster(&[&broker.addr]);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(30);
        let results = cluster
            .list_offsets("t", &[0], OffsetQuery::LastStable, deadline)
            .await;
        let [(0, Err(e))] = &results[..] else {
            panic!("expected partition 0 to fail: {results:?}");
        };
        assert!(matches!(e, KafkaError::PartitionUnavailable { .. }), "{e}");
        assert!(e.to_string().contains("has no leader"), "{e}");
        let written = cluster
            .produce("t", vec![(0, one_record())], None, deadline)
            .await;
        let [(0, Err(e))] = &written[..] else {
            panic!("expected partition 0 to fail: {written:?}");
        };
        assert_eq!(
            e.write_fate(),
            super::super::error::WriteFate::NotSent,
            "{e}"
        );
        assert_eq!(broker.produce_requests(), 0);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_sole_leader_that_cannot_be_reached_after_a_refresh_fails_at_once() {
        let broker = FakeBroker::start().await;
        let gone = closed_port().await;
        broker.set_sole_leader(2, &gone);
        let cluster = cluster(&[&broker.addr]);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(30);
        cluster.topic("t", false, deadline).await.expect("metadata");
        let before = broker.metadata_requests();
        let results = cluster.fetch("t", &[(0, 0)], 1024, 1024, deadline).await;
        let [(0, Err(e))] = &results[..] else {
            panic!("expected partition 0 to fail: {results:?}");
        };
        assert!(matches!(e, KafkaError::PartitionUnavailable { .. }), "{e}");
        assert!(e.to_string().contains("broker 2"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        // Fresh metadata was at hand; a stale copy is refreshed first.
        assert_eq!(broker.metadata_requests(), before);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let results = cluster.fetch("t", &[(0, 0)], 1024, 1024, deadline).await;
        assert!(matches!(
            &results[..],
            [(0, Err(KafkaError::PartitionUnavailable { .. }))]
        ));
        assert_eq!(broker.metadata_requests(), before + 1);
    }

    #[tokio::test]
    async fn a_leader_that_stays_down_is_retried_until_the_deadline_while_others_answer() {
        let broker = FakeBroker::start().await;
        broker.set_leader(2, &closed_port().await);
        let cluster = cluster(&[&broker.addr]);
        let started = Instant::now();
        let deadline = started + Duration::from_millis(1500);
        let results = cluster
            .list_offsets("t", &[0], OffsetQuery::LastStable, deadline)
            .await;
        let [(0, Err(e))] = &results[..] else {
            panic!("expected partition 0 to fail: {results:?}");
        };
        // Not "no broker answered": one did, so the leader may yet move.
        assert!(matches!(e, KafkaError::Timeout(_)), "{e}");
        assert!(started.elapsed() >= Duration::from_millis(1000));
        assert!(broker.metadata_requests() > 2);
    }
}
