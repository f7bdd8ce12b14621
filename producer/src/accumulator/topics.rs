//! The accumulator's per-topic state: the partitioner, the partitions as last seen in
//! metadata, and one batch queue per partition, found through one map lookup per record.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

use super::ProducerBatch;
use crate::partitioner::{PartitionAvailability, TopicPartitioner};
use crate::sender::TopicInfo;

#[derive(Debug, Default)]
pub(crate) struct PartitionQueue {
    pub(crate) batches: VecDeque<ProducerBatch>,
    /// Set while a batch of this partition is in flight and order must be kept without
    /// idempotence (`max_in_flight == 1`, Java's `guaranteeMessageOrder`).
    pub(crate) muted: bool,
}

pub(crate) type SharedQueue = Arc<Mutex<PartitionQueue>>;

pub(crate) fn lock(q: &SharedQueue) -> std::sync::MutexGuard<'_, PartitionQueue> {
    // A panic while holding a partition lock cannot break the queue's invariants worse than
    // losing the append in progress, whose future then resolves with Closed.
    q.lock().unwrap_or_else(|e| e.into_inner())
}

/// A topic's partitions as of one metadata version (see
/// [`crate::sender::Transport::metadata_version`]).
#[derive(Debug)]
pub(crate) struct CachedPartitions {
    pub(crate) version: u64,
    pub(crate) info: TopicInfo,
}

/// A topic's queues (indexed by partition) and cached partitions; changed only under the
/// topic map's write lock.
#[derive(Debug, Default)]
pub(crate) struct TopicTable {
    pub(crate) queues: Vec<SharedQueue>,
    pub(crate) cached: Option<CachedPartitions>,
}

impl TopicTable {
    /// Make sure queues `0..count` exist.
    pub(crate) fn grow(&mut self, count: usize) {
        while self.queues.len() < count {
            self.queues.push(SharedQueue::default());
        }
    }

    /// The cached partitions if they were computed at `version`.
    pub(crate) fn cached_at(&self, version: u64) -> Option<PartitionAvailability<'_>> {
        self.cached
            .as_ref()
            .filter(|c| c.version == version)
            .map(|c| PartitionAvailability {
                count: c.info.partitions,
                available: &c.info.available,
            })
    }
}

/// One topic's state, kept in the accumulator's topic map (so one read lock and one lookup
/// reach all of it).
#[derive(Debug)]
pub(crate) struct TopicEntry {
    pub(crate) name: Arc<str>,
    pub(crate) partitioner: TopicPartitioner,
    pub(crate) table: TopicTable,
}

impl TopicEntry {
    pub(crate) fn new(name: Arc<str>, batch_size: usize) -> Self {
        TopicEntry {
            name,
            partitioner: TopicPartitioner::new(batch_size),
            table: TopicTable::default(),
        }
    }
}

/// A topic name as the map's key: equal names are equal, and the same `Arc` is recognised
/// without comparing the bytes (an application usually sends many records with one `Arc`).
#[derive(Debug, Clone)]
pub(crate) struct TopicName(pub(crate) Arc<str>);

impl PartialEq for TopicName {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || *self.0 == *other.0
    }
}

impl Eq for TopicName {}

impl std::hash::Hash for TopicName {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

/// A fast hasher for topic names (the map is looked up once per record; the names come from
/// the application, not from the network, so no flooding resistance is needed). The FxHash
/// mixing step over 8-byte words.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct NameHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl NameHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for NameHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Topic name to its state.
pub(crate) type TopicMap = HashMap<TopicName, TopicEntry, BuildHasherDefault<NameHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn names_hash_apart() {
        let h = BuildHasherDefault::<NameHasher>::default();
        let names = [
            "a", "b", "ab", "ba", "orders", "orders-1", "orders-2", "12345678",
        ];
        let mut hashes: Vec<u64> = names.iter().map(|n| h.hash_one(n)).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), names.len());
        // Equal names hash equally whatever their allocation.
        assert_eq!(
            h.hash_one("orders"),
            h.hash_one(String::from("orders").as_str())
        );
    }

    #[test]
    fn cached_partitions_answer_only_their_version() {
        let mut t = TopicTable::default();
        assert!(t.cached_at(1).is_none());
        t.cached = Some(CachedPartitions {
            version: 3,
            info: TopicInfo {
                partitions: 2,
                available: Arc::from([1]),
            },
        });
        assert!(t.cached_at(2).is_none());
        let p = t.cached_at(3).unwrap();
        assert_eq!((p.count, p.available), (2, &[1][..]));
        t.grow(2);
        t.grow(1);
        assert_eq!(t.queues.len(), 2);
    }
}
