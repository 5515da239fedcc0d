//! Shared long polls: many GETs waiting on the same partitions cost the
//! broker a handful of requests.
//!
//! A GET that has read to the end of its partitions registers a *watch* on
//! each (topic, partition, offset) and sleeps. A background poller covers
//! every watched partition with a fetch that waits on the broker (on a
//! connection of its own, so produce and metadata calls never queue behind
//! it). When that fetch reports news for a partition, every waiter on it is
//! woken at once and the watch is cleared; waiters that still find nothing
//! register again. A waiter that registers at an offset below the one its
//! partition's fetch is waiting at gets a new fetch, so no wake-up is lost.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::cluster::Cluster;

/// How long one shared fetch waits on the broker before it is renewed.
const ROUND_WAIT: Duration = Duration::from_secs(2);
/// Pause after a failed round, so a broker that is down is not hammered.
const ERROR_BACKOFF: Duration = Duration::from_millis(200);

type Key = (Arc<str>, i32);
/// (partition, offset) pairs of one topic.
type Positions = Vec<(i32, i64)>;

struct Watch {
    /// Identifies this watch; guards of a cleared watch must not touch a new one.
    id: u64,
    /// Offsets waiters are at, with how many wait at each.
    offsets: BTreeMap<i64, usize>,
    notify: Arc<Notify>,
    /// The round covering this partition and the offset it fetches from.
    covered: Option<(u64, i64)>,
}

/// All watches of one cluster handle.
#[derive(Default)]
pub struct Watches {
    map: Mutex<HashMap<Key, Watch>>,
    /// Wakes the poller when a watch needs a round.
    poke: Notify,
    poller: std::sync::OnceLock<()>,
    ids: AtomicU64,
    /// Waiting fetches sent so far, however many GETs they served.
    rounds: AtomicU64,
}

/// Unregisters one waiter when its GET stops waiting.
struct Registration {
    watches: Arc<Watches>,
    key: Key,
    id: u64,
    offset: i64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let Ok(mut map) = self.watches.map.lock() else {
            return;
        };
        let Some(w) = map.get_mut(&self.key).filter(|w| w.id == self.id) else {
            return;
        };
        if let Some(n) = w.offsets.get_mut(&self.offset) {
            *n -= 1;
            if *n == 0 {
                w.offsets.remove(&self.offset);
            }
        }
        if w.offsets.is_empty() {
            map.remove(&self.key);
        }
    }
}

impl Watches {
    /// How many shared waiting fetches have been started.
    pub fn rounds_started(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }

    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Waits until one of `positions` of `topic` has news, or `deadline`.
    pub async fn wait(cluster: &Cluster, topic: &str, positions: &[(i32, i64)], deadline: Instant) {
        let watches = Arc::clone(cluster.watches());
        watches.poller.get_or_init(|| {
            tokio::spawn(poll_loop(cluster.clone()));
        });
        let topic: Arc<str> = topic.into();
        let mut registrations = Vec::with_capacity(positions.len());
        let mut notifies = Vec::with_capacity(positions.len());
        let mut needs_round = false;
        if let Ok(mut map) = watches.map.lock() {
            for &(partition, offset) in positions {
                let key = (Arc::clone(&topic), partition);
                let w = map.entry(key.clone()).or_insert_with(|| Watch {
                    id: watches.next_id(),
                    offsets: BTreeMap::new(),
                    notify: Arc::new(Notify::new()),
                    covered: None,
                });
                *w.offsets.entry(offset).or_insert(0) += 1;
                match w.covered {
                    Some((_, at)) if at <= offset => {}
                    _ => {
                        w.covered = None;
                        needs_round = true;
                    }
                }
                notifies.push(Arc::clone(&w.notify));
                registrations.push(Registration {
                    watches: Arc::clone(&watches),
                    key,
                    id: w.id,
                    offset,
                });
            }
        }
        // Subscribe before the poller can possibly wake anyone.
        let mut woken: Vec<_> = notifies.iter().map(|n| Box::pin(n.notified())).collect();
        for n in &mut woken {
            n.as_mut().enable();
        }
        if needs_round {
            watches.poke.notify_one();
        }
        if woken.is_empty() {
            tokio::time::sleep_until(deadline).await;
        } else {
            let _ =
                tokio::time::timeout_at(deadline, futures_util::future::select_all(woken)).await;
        }
        drop(registrations);
    }
}

/// Starts a round for every watched partition no round covers.
async fn poll_loop(cluster: Cluster) {
    let watches = Arc::clone(cluster.watches());
    loop {
        watches.poke.notified().await;
        // Group uncovered partitions by topic and mark them covered in the same
        // critical section, so a registration in between cannot be missed.
        let mut rounds: HashMap<Arc<str>, (u64, Positions)> = HashMap::new();
        if let Ok(mut map) = watches.map.lock() {
            for ((topic, partition), w) in map.iter_mut() {
                if w.covered.is_some() {
                    continue;
                }
                if let Some((&offset, _)) = w.offsets.iter().next() {
                    let (id, positions) = rounds
                        .entry(Arc::clone(topic))
                        .or_insert_with(|| (watches.next_id(), Vec::new()));
                    positions.push((*partition, offset));
                    w.covered = Some((*id, offset));
                }
            }
        }
        for (topic, (id, positions)) in rounds {
            watches.rounds.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(round(cluster.clone(), topic, id, positions));
        }
    }
}

/// One shared waiting fetch over `positions`; wakes the waiters of every
/// partition with news and asks for a new round for the rest.
async fn round(cluster: Cluster, topic: Arc<str>, id: u64, positions: Vec<(i32, i64)>) {
    let watches = Arc::clone(cluster.watches());
    let result = cluster.wait_round(&topic, &positions, ROUND_WAIT).await;
    let failed = result.is_err();
    if let Err(e) = &result {
        tracing::debug!(topic = %topic, error = %e, "shared fetch failed");
        cluster.invalidate(&topic);
        tokio::time::sleep(ERROR_BACKOFF).await;
    }
    let news: HashMap<i32, bool> = result.unwrap_or_default().into_iter().collect();
    let mut again = false;
    if let Ok(mut map) = watches.map.lock() {
        for (partition, _) in &positions {
            let key = (Arc::clone(&topic), *partition);
            let Some(w) = map.get_mut(&key) else { continue };
            if w.covered.map(|(round, _)| round) != Some(id) {
                continue; // a newer round covers it, or one is about to
            }
            w.covered = None;
            // On failure wake the waiters too: their own fetch reports the error.
            if failed || news.get(partition).copied().unwrap_or(false) {
                w.notify.notify_waiters();
                map.remove(&key);
            } else {
                again = true;
            }
        }
    }
    if again {
        watches.poke.notify_one();
    }
}
