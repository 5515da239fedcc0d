//! Turns of one consumer group on one topic: GETs of the same group in this
//! instance read one after another.
//!
//! Two GETs of a group that ran at once would both start at the committed
//! offset, both return the same records, and the later commit could move the
//! offset back. So a GET with a group takes the group's turn before it reads
//! the committed offsets, and keeps it until its commit is done (the HTTP
//! layer holds the [`Turn`] in the response body's after-write work), or
//! until it is dropped: an error, a client that went away, a response never
//! delivered. Turns are handed out in arrival order (tokio's mutex is fair).
//!
//! The map holds an entry only while some GET holds or waits for it, so it
//! stays as small as the number of groups being read at this moment, not
//! every group ever seen.
//!
//! This is per instance: Kafka has no compare-and-set for standalone commits,
//! so nothing stops two instances from reading the same records of a group.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::OwnedMutexGuard;
use tokio::time::Instant;

/// (group, topic): commits of one group to different topics never overlap.
type Key = (String, String);

/// One key's lock and how many GETs hold or wait for it.
struct Entry {
    lock: Arc<tokio::sync::Mutex<()>>,
    users: usize,
}

/// The turns of every group being read through this instance.
#[derive(Default)]
pub struct GroupTurns {
    map: Arc<Mutex<HashMap<Key, Entry>>>,
}

impl std::fmt::Debug for GroupTurns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupTurns")
            .field("groups", &self.len())
            .finish()
    }
}

/// A GET's turn of a group: while it lives, no other GET of this instance
/// reads or commits for the group on this topic.
pub struct Turn {
    // Field order is drop order: the lock is released before the entry's
    // user count goes down, so an entry is never removed while locked.
    _guard: OwnedMutexGuard<()>,
    _claim: Claim,
}

impl std::fmt::Debug for Turn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turn")
            .field("group", &self._claim.key.0)
            .field("topic", &self._claim.key.1)
            .finish()
    }
}

/// Counts one GET as a user of an entry from the moment it asks for the
/// turn; dropping it (turn over, or the wait given up) removes the entry
/// when no one else uses it.
struct Claim {
    map: Arc<Mutex<HashMap<Key, Entry>>>,
    key: Key,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut map = lock(&self.map);
        if let Some(entry) = map.get_mut(&self.key) {
            entry.users -= 1;
            if entry.users == 0 {
                map.remove(&self.key);
            }
        }
    }
}

/// The map, even if a thread panicked while holding it (it holds only
/// counts, which every change leaves consistent).
fn lock(map: &Mutex<HashMap<Key, Entry>>) -> MutexGuard<'_, HashMap<Key, Entry>> {
    map.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl GroupTurns {
    /// Waits for the turn of `group` on `topic` until `until`; `None` when
    /// the time passed first.
    pub async fn take(&self, group: &str, topic: &str, until: Instant) -> Option<Turn> {
        let key = (group.to_string(), topic.to_string());
        let lock = {
            let mut map = lock(&self.map);
            let entry = map.entry(key.clone()).or_insert_with(|| Entry {
                lock: Arc::new(tokio::sync::Mutex::new(())),
                users: 0,
            });
            entry.users += 1;
            Arc::clone(&entry.lock)
        };
        let claim = Claim {
            map: Arc::clone(&self.map),
            key,
        };
        let guard = tokio::time::timeout_at(until, lock.lock_owned())
            .await
            .ok()?;
        Some(Turn {
            _guard: guard,
            _claim: claim,
        })
    }

    /// How many (group, topic) pairs are being read or waited for.
    pub fn len(&self) -> usize {
        lock(&self.map).len()
    }

    /// Whether no GET holds or waits for a turn.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn soon(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[tokio::test]
    async fn a_group_is_read_by_one_get_at_a_time_and_others_are_not_held_up() {
        let turns = GroupTurns::default();
        let first = turns.take("g", "t", soon(1000)).await.expect("free");
        // The same group on the same topic waits, and gives up at its time.
        assert!(turns.take("g", "t", soon(50)).await.is_none());
        // Other groups, and the same group on another topic, go at once.
        let other_group = turns.take("h", "t", soon(1000)).await.expect("free");
        let other_topic = turns.take("g", "u", soon(1000)).await.expect("free");
        assert_eq!(turns.len(), 3);
        drop((other_group, other_topic));
        // Once the first is done, the next one gets its turn.
        let waiting = {
            let turns = &turns;
            async move { turns.take("g", "t", soon(5000)).await }
        };
        let (next, ()) = tokio::join!(waiting, async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(first);
        });
        assert!(next.is_some());
    }

    #[tokio::test]
    async fn entries_are_removed_once_unused_so_the_map_stays_bounded() {
        let turns = GroupTurns::default();
        for i in 0..100 {
            let turn = turns.take(&format!("g{i}"), "t", soon(1000)).await;
            assert!(turn.is_some());
        }
        assert!(turns.is_empty(), "{turns:?}");
        // A waiter that gives up leaves nothing behind either.
        let held = turns.take("g", "t", soon(1000)).await.expect("free");
        assert!(turns.take("g", "t", soon(10)).await.is_none());
        assert_eq!(turns.len(), 1);
        drop(held);
        assert!(turns.is_empty(), "{turns:?}");
        // Nor does a waiter that is cancelled (its client went away).
        let held = turns.take("g", "t", soon(1000)).await.expect("free");
        let waiter = turns.take("g", "t", soon(5000));
        assert!(tokio::time::timeout(Duration::from_millis(10), waiter)
            .await
            .is_err());
        drop(held);
        assert!(turns.is_empty(), "{turns:?}");
    }
}
