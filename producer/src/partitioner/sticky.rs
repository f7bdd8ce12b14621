//! The uniform sticky partitioner of KIP-794 (Java's `BuiltInPartitioner`).
//!
//! Keyless records stick to one partition until about `batch_size` bytes were produced to it,
//! then move on to another partition chosen at random. With adaptive partitioning the choice is
//! weighted towards partitions whose leaders have shorter queues: a partition with queue length
//! `q` gets weight `max_q + 1 - q`, so the longest queue still gets a little traffic.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use rand::Rng;

/// What the sticky partitioner needs to know about a topic's partitions right now.
#[derive(Debug, Clone, Copy)]
pub struct PartitionAvailability<'a> {
    /// Number of partitions of the topic.
    pub count: i32,
    /// Partitions whose leader is known and not stalled, ascending. Empty when metadata does
    /// not say (then every partition is a candidate).
    pub available: &'a [i32],
}

#[derive(Debug, Default)]
struct State {
    /// Cumulative weights for adaptive partitioning (same order as `load_partitions`).
    cumulative: Vec<u32>,
    load_partitions: Vec<i32>,
}

/// No partition chosen yet.
const NONE: i32 = -1;

/// Per-topic state of the uniform sticky partitioner. A keyless record costs one atomic load
/// and one atomic add; the lock is taken only to switch partitions (Java's
/// `BuiltInPartitioner` counts produced bytes the same way, without a lock).
#[derive(Debug)]
pub struct StickyPartitioner {
    batch_size: usize,
    /// The partition records currently stick to, or [`NONE`].
    current: AtomicI32,
    /// Bytes appended to `current` since it was chosen.
    produced: AtomicUsize,
    state: Mutex<State>,
}

impl StickyPartitioner {
    /// A sticky partitioner that switches after `batch_size` bytes (Java: `batch.size`).
    pub fn new(batch_size: usize) -> Self {
        StickyPartitioner {
            batch_size,
            current: AtomicI32::new(NONE),
            produced: AtomicUsize::new(0),
            state: Mutex::new(State::default()),
        }
    }

    /// The partition the next keyless record goes to (choosing one if none is current or the
    /// current one no longer exists).
    pub fn partition(&self, topic: PartitionAvailability<'_>) -> Option<i32> {
        let p = self.current.load(Ordering::Acquire);
        if p != NONE && p < topic.count {
            return Some(p);
        }
        let state = self.lock();
        // Another thread may have chosen meanwhile.
        let p = self.current.load(Ordering::Acquire);
        if p != NONE && p < topic.count {
            return Some(p);
        }
        let next = choose(&state, topic)?;
        self.produced.store(0, Ordering::Relaxed);
        self.current.store(next, Ordering::Release);
        Some(next)
    }

    /// Report that `bytes` were appended to `partition`. `batch_full` says whether the
    /// partition's newest batch is now full; as in Java, the partitioner switches once
    /// `batch_size` bytes were produced and the batch is full (so no half-filled batch is left
    /// behind), or unconditionally after twice that.
    pub fn on_append(
        &self,
        partition: i32,
        bytes: usize,
        batch_full: bool,
        topic: PartitionAvailability<'_>,
    ) {
        if self.current.load(Ordering::Acquire) != partition {
            return;
        }
        let produced = self
            .produced
            .fetch_add(bytes, Ordering::Relaxed)
            .saturating_add(bytes);
        let threshold = self.batch_size.max(1);
        if (produced >= threshold && batch_full) || produced >= threshold.saturating_mul(2) {
            let state = self.lock();
            // Switch once, even if several appends crossed the threshold at the same time.
            if self.current.load(Ordering::Acquire) != partition {
                return;
            }
            if let Some(next) = choose(&state, topic) {
                tracing::trace!(from = partition, to = next, "sticky partition switch");
                self.current.store(next, Ordering::Release);
            }
            self.produced.store(0, Ordering::Relaxed);
        }
    }

    /// Update the adaptive weights from the queue lengths (batches waiting) of partitions,
    /// as `(partition, queue_len)`. An empty slice turns weighting off (uniform choice).
    pub fn update_load(&self, queues: &[(i32, u32)]) {
        let max = queues.iter().map(|&(_, q)| q).max().unwrap_or(0);
        let mut state = self.lock();
        state.cumulative.clear();
        state.load_partitions.clear();
        let mut total = 0u32;
        for &(partition, q) in queues {
            total = total.saturating_add(max - q + 1);
            state.cumulative.push(total);
            state.load_partitions.push(partition);
        }
    }

    /// The partitions the adaptive weights choose from (empty: uniform choice).
    #[cfg(test)]
    pub(crate) fn weighted_partitions(&self) -> Vec<i32> {
        self.lock().load_partitions.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state inconsistent (plain numbers).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn choose(state: &State, topic: PartitionAvailability<'_>) -> Option<i32> {
    if topic.count <= 0 {
        return None;
    }
    let mut rng = rand::rng();
    if let Some(&total) = state.cumulative.last() {
        let pick = rng.random_range(0..total);
        let idx = state.cumulative.partition_point(|&c| c <= pick);
        if let Some(&p) = state.load_partitions.get(idx)
            && p < topic.count
        {
            return Some(p);
        }
    }
    if topic.available.is_empty() {
        Some(rng.random_range(0..topic.count))
    } else {
        let p = topic.available[rng.random_range(0..topic.available.len())];
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: PartitionAvailability<'static> = PartitionAvailability {
        count: 4,
        available: &[],
    };

    #[test]
    fn sticks_until_batch_size_then_switches_on_full_batch() {
        let s = StickyPartitioner::new(1000);
        let first = s.partition(ALL).unwrap();
        for _ in 0..9 {
            s.on_append(first, 100, false, ALL);
            assert_eq!(s.partition(ALL), Some(first));
        }
        // 1000 bytes produced but the batch is not full: stay.
        s.on_append(first, 100, false, ALL);
        assert_eq!(s.partition(ALL), Some(first));
        // The batch is full now: switch (counter reset).
        s.on_append(first, 100, true, ALL);
        assert_eq!(s.produced.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn switches_unconditionally_after_twice_batch_size() {
        let s = StickyPartitioner::new(100);
        let first = s.partition(ALL).unwrap();
        s.on_append(first, 150, false, ALL);
        assert_eq!(s.produced.load(Ordering::Relaxed), 150);
        s.on_append(first, 50, false, ALL);
        assert_eq!(s.produced.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn appends_to_other_partitions_do_not_count() {
        let s = StickyPartitioner::new(100);
        let first = s.partition(ALL).unwrap();
        s.on_append((first + 1) % 4, 1000, true, ALL);
        assert_eq!(s.partition(ALL), Some(first));
        assert_eq!(s.produced.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn only_available_partitions_are_chosen() {
        let topic = PartitionAvailability {
            count: 8,
            available: &[2, 5],
        };
        let s = StickyPartitioner::new(10);
        for _ in 0..200 {
            let p = s.partition(topic).unwrap();
            assert!(p == 2 || p == 5, "{p}");
            s.on_append(p, 10, true, topic);
        }
    }

    #[test]
    fn switching_is_roughly_uniform() {
        let s = StickyPartitioner::new(1);
        let mut counts = [0u32; 4];
        for _ in 0..8000 {
            let p = s.partition(ALL).unwrap();
            counts[p as usize] += 1;
            s.on_append(p, 1, true, ALL);
        }
        for c in counts {
            assert!((1600..2400).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn adaptive_weights_favour_short_queues() {
        let s = StickyPartitioner::new(1);
        // Partition 0 has a long queue (weight 1), partitions 1..3 are empty (weight 10 each).
        s.update_load(&[(0, 9), (1, 0), (2, 0), (3, 0)]);
        let mut counts = [0u32; 4];
        for _ in 0..6200 {
            let p = s.partition(ALL).unwrap();
            counts[p as usize] += 1;
            s.on_append(p, 1, true, ALL);
        }
        // Expected share of partition 0: 1/31 of the switches (about 200 of 6200).
        assert!(counts[0] < 500, "{counts:?}");
        assert!(counts[1..].iter().all(|&c| c > 1500), "{counts:?}");
        s.update_load(&[]);
        assert!(s.lock().cumulative.is_empty());
    }

    #[test]
    fn no_partitions_means_no_choice() {
        let s = StickyPartitioner::new(1);
        let none = PartitionAvailability {
            count: 0,
            available: &[],
        };
        assert_eq!(s.partition(none), None);
    }

    #[test]
    fn shrunken_topic_forces_a_new_choice() {
        let s = StickyPartitioner::new(1000);
        let wide = PartitionAvailability {
            count: 100,
            available: &[99],
        };
        assert_eq!(s.partition(wide), Some(99));
        let narrow = PartitionAvailability {
            count: 3,
            available: &[],
        };
        assert!(s.partition(narrow).unwrap() < 3);
    }
}
