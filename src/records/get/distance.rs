//! `distanceFromLatest` and `distanceFromBeginning` in *visible* records.
//!
//! Offsets are not records: a transaction's commit or abort marker takes an
//! offset, records of aborted transactions take offsets a read_committed
//! reader never sees, and compaction leaves gaps. "The last `n` records" is
//! therefore found by reading, not by subtracting offsets:
//!
//! - from the latest: the batches of a window `[end - w, end)` are read and
//!   their visible records counted (control batches and aborted transactions
//!   dropped exactly as a normal read drops them); while fewer than `n` are
//!   found, the window moves below the part already counted and grows
//!   fourfold, until `n` are found or the log start is reached;
//! - from the beginning: the log is read forward from its start until the
//!   `n+1`-th visible record.
//!
//! Every fetch is bounded by [`SCAN_BYTES`] (the first ones by less) and the windows grow
//! geometrically, so the work is at most a few times the bytes between the
//! start position and the end (or the start), and all of it within the
//! request's deadline. Where `n` is at least the number of offsets there
//! are, no read is needed: there cannot be more visible records than offsets.

use std::sync::atomic::{AtomicI32, Ordering};

use futures_util::future::join_all;
use tokio::time::Instant;

use super::{Seek, StartPosition};
use crate::kafka::{decode_records, Cluster, FetchedRecord, KafkaError};
use crate::records::RecordsError;

/// The most bytes one fetch of a count brings back.
const SCAN_BYTES: i32 = 1024 * 1024;

/// The bytes the first fetch of a count asks for (each next one asks for
/// twice as many, up to [`SCAN_BYTES`]): the common count, a few records
/// before the end or after the start, costs a small read.
const FIRST_SCAN_BYTES: i32 = 64 * 1024;

/// Offsets below the first window's `n` that it also covers: a few markers
/// or aborted records then cost no second fetch.
const WINDOW_SLACK: i64 = 16;

/// Replaces each start position (the log start, as `starts` hold it) by the
/// offset `seek` names in visible records, every partition at once.
pub(super) async fn resolve(
    cluster: &Cluster,
    topic: &str,
    seek: Seek,
    starts: &mut [StartPosition],
    deadline: Instant,
) -> Result<(), RecordsError> {
    let resolved = join_all(starts.iter().map(|s| {
        let counter = Counter {
            cluster,
            topic,
            partition: s.id,
            deadline,
            fetch_bytes: AtomicI32::new(FIRST_SCAN_BYTES),
        };
        let (first, end) = (s.position, s.end);
        async move {
            match seek {
                Seek::FromLatest(n) => counter.nth_last(n, first, end).await,
                Seek::FromBeginning(n) => counter.nth_after_start(n, first, end).await,
                Seek::To(_) | Seek::ToTimestamp(_) => Ok(first),
            }
        }
    }))
    .await;
    for (s, position) in starts.iter_mut().zip(resolved) {
        s.position = position?;
    }
    Ok(())
}

/// Counts the visible records of one partition.
struct Counter<'a> {
    cluster: &'a Cluster,
    topic: &'a str,
    partition: i32,
    deadline: Instant,
    /// What the next fetch asks for.
    fetch_bytes: AtomicI32,
}

impl Counter<'_> {
    /// The offset of the `n`-th last visible record before `end`, or `first`
    /// when there are fewer.
    async fn nth_last(&self, n: i64, first: i64, end: i64) -> Result<i64, RecordsError> {
        if n <= 0 {
            return Ok(end);
        }
        if n >= end - first {
            return Ok(first);
        }
        let mut hi = end;
        // Visible records in [hi, end).
        let mut seen = 0i64;
        let mut window = n.saturating_add(WINDOW_SLACK);
        loop {
            let lo = hi.saturating_sub(window).max(first);
            let runs = self.visible_between(lo, hi).await?;
            let count = runs.count();
            if seen + count >= n {
                // The (n - seen)-th last of this window.
                return Ok(runs.nth_from_end(n - seen).unwrap_or(lo));
            }
            seen += count;
            if lo <= first {
                return Ok(first);
            }
            hi = lo;
            window = window.saturating_mul(4);
        }
    }

    /// The offset of the `n+1`-th visible record at or after `first`, or
    /// `end` when there are fewer.
    async fn nth_after_start(&self, n: i64, first: i64, end: i64) -> Result<i64, RecordsError> {
        if n >= end - first {
            return Ok(end);
        }
        let mut position = first;
        let mut seen = 0i64;
        let mut offsets = Vec::new();
        while position < end {
            offsets.clear();
            let next = self.read_once(position, end, &mut offsets).await?;
            let count = offsets.len() as i64;
            if seen + count > n {
                return Ok(offsets[(n - seen) as usize]);
            }
            seen += count;
            match next {
                Some(next) if next > position => position = next,
                _ => break,
            }
        }
        Ok(end)
    }

    /// The visible records' offsets in `[lo, hi)`.
    async fn visible_between(&self, lo: i64, hi: i64) -> Result<Runs, RecordsError> {
        let mut runs = Runs::default();
        let mut offsets = Vec::new();
        let mut position = lo;
        while position < hi {
            offsets.clear();
            let next = self.read_once(position, hi, &mut offsets).await?;
            offsets.iter().for_each(|o| runs.push(*o));
            match next {
                Some(next) if next > position => position = next,
                _ => break,
            }
        }
        Ok(runs)
    }

    /// One fetch at `position`: appends the offsets of the visible records
    /// below `hi` to `out`, and returns where the next fetch starts (`None`
    /// when there is nothing more to read).
    async fn read_once(
        &self,
        position: i64,
        hi: i64,
        out: &mut Vec<i64>,
    ) -> Result<Option<i64>, RecordsError> {
        let bytes = self.fetch_bytes.load(Ordering::Relaxed);
        self.fetch_bytes
            .store(bytes.saturating_mul(2).min(SCAN_BYTES), Ordering::Relaxed);
        let answers = self
            .cluster
            .fetch(
                self.topic,
                &[(self.partition, position)],
                bytes,
                bytes,
                self.deadline,
            )
            .await;
        let Some((_, answer)) = answers.into_iter().find(|(p, _)| *p == self.partition) else {
            return Err(KafkaError::Protocol(format!(
                "no answer for {}/{} in the broker's fetch response",
                self.topic, self.partition
            ))
            .into());
        };
        let fetched = answer?;
        if position < fetched.log_start_offset {
            // Records were deleted under the count: go on from the new start.
            return Ok(Some(fetched.log_start_offset));
        }
        let mut records: Vec<FetchedRecord> = Vec::new();
        let progress = decode_records(
            fetched.records,
            position,
            &fetched.aborted,
            usize::MAX,
            &mut records,
        )?;
        out.extend(records.iter().map(|r| r.offset).filter(|o| *o < hi));
        Ok(progress
            .next_offset
            .filter(|next| *next < fetched.last_stable_offset.min(hi)))
    }
}

/// Offsets in increasing order, kept as runs of consecutive ones: a window
/// of a million plain records is one run, whatever its size.
#[derive(Debug, Default)]
struct Runs {
    /// (first offset, how many).
    runs: Vec<(i64, i64)>,
}

impl Runs {
    /// Adds an offset above every one added so far.
    fn push(&mut self, offset: i64) {
        match self.runs.last_mut() {
            Some((first, len)) if *first + *len == offset => *len += 1,
            _ => self.runs.push((offset, 1)),
        }
    }

    /// How many offsets there are.
    fn count(&self) -> i64 {
        self.runs.iter().map(|(_, len)| len).sum()
    }

    /// The `k`-th last offset (`k` from 1).
    fn nth_from_end(&self, mut k: i64) -> Option<i64> {
        for (first, len) in self.runs.iter().rev() {
            if k <= *len {
                return Some(first + len - k);
            }
            k -= len;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_count_and_index_from_the_end() {
        let mut runs = Runs::default();
        for o in [3, 4, 5, 8, 9, 12] {
            runs.push(o);
        }
        assert_eq!(runs.runs, vec![(3, 3), (8, 2), (12, 1)]);
        assert_eq!(runs.count(), 6);
        let from_end: Vec<Option<i64>> = (1..=7).map(|k| runs.nth_from_end(k)).collect();
        assert_eq!(
            from_end,
            [12, 9, 8, 5, 4, 3]
                .map(Some)
                .into_iter()
                .chain([None])
                .collect::<Vec<_>>()
        );
    }
}
