//! The partitions of the open transaction: those the coordinator has added, those waiting to
//! be added (batched into one AddPartitionsToTxn), and those in a request under way.

use std::collections::BTreeSet;

use klamm_producer::idempotence::TopicPartition;

/// Partition bookkeeping of one transaction. A partition is in exactly one of the three sets.
#[derive(Debug, Default, Clone)]
pub struct TxnPartitions {
    added: BTreeSet<TopicPartition>,
    pending: BTreeSet<TopicPartition>,
    in_flight: BTreeSet<TopicPartition>,
}

impl TxnPartitions {
    /// Empty bookkeeping.
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes that the transaction writes to `tp`. Returns `true` when `tp` is new and must be
    /// added with AddPartitionsToTxn before its first batch is sent.
    pub fn register(&mut self, tp: &TopicPartition) -> bool {
        if self.added.contains(tp) || self.in_flight.contains(tp) {
            return false;
        }
        self.pending.insert(tp.clone())
    }

    /// Notes that `tp` belongs to the transaction without a request (KIP-890 part 2: the
    /// broker adds partitions implicitly on produce).
    pub fn register_implicit(&mut self, tp: &TopicPartition) {
        self.pending.remove(tp);
        self.in_flight.remove(tp);
        self.added.insert(tp.clone());
    }

    /// Whether the coordinator has added `tp` to the transaction (its batches may be sent).
    pub fn is_added(&self, tp: &TopicPartition) -> bool {
        self.added.contains(tp)
    }

    /// Moves every pending partition into the in-flight set and returns them, in order, for
    /// one AddPartitionsToTxn request.
    pub fn take_pending(&mut self) -> Vec<TopicPartition> {
        let batch: Vec<_> = std::mem::take(&mut self.pending).into_iter().collect();
        self.in_flight.extend(batch.iter().cloned());
        batch
    }

    /// Records the answer for in-flight partitions: `added` joined the transaction, `retry`
    /// go back to pending. Partitions not named stay in flight.
    pub fn complete(&mut self, added: &[TopicPartition], retry: &[TopicPartition]) {
        for tp in added {
            if self.in_flight.remove(tp) {
                self.added.insert(tp.clone());
            }
        }
        for tp in retry {
            if self.in_flight.remove(tp) {
                self.pending.insert(tp.clone());
            }
        }
    }

    /// Whether any partition waits for AddPartitionsToTxn (pending or in flight).
    pub fn has_unadded(&self) -> bool {
        !self.pending.is_empty() || !self.in_flight.is_empty()
    }

    /// Whether a request for some partitions is under way.
    pub fn has_in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// Partitions waiting for a request.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Partitions the coordinator has added.
    pub fn added(&self) -> impl Iterator<Item = &TopicPartition> {
        self.added.iter()
    }

    /// Forgets pending partitions (an abort drops their batches, so they need no adding).
    pub fn drop_pending(&mut self) {
        self.pending.clear();
    }

    /// Forgets everything (the transaction ended).
    pub fn clear(&mut self) {
        self.added.clear();
        self.pending.clear();
        self.in_flight.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition {
            topic: t.into(),
            partition: p,
        }
    }

    #[test]
    fn register_batch_and_complete() {
        let mut ps = TxnPartitions::new();
        assert!(ps.register(&tp("a", 1)));
        assert!(!ps.register(&tp("a", 1)), "registered twice");
        assert!(ps.register(&tp("a", 0)));
        assert!(ps.register(&tp("b", 0)));
        assert_eq!(ps.pending_len(), 3);
        let batch = ps.take_pending();
        assert_eq!(batch, vec![tp("a", 0), tp("a", 1), tp("b", 0)]);
        assert_eq!(ps.pending_len(), 0);
        assert!(ps.has_in_flight());
        // while in flight, registering again does not queue it twice
        assert!(!ps.register(&tp("a", 0)));
        assert!(ps.take_pending().is_empty());
        ps.complete(&[tp("a", 0), tp("b", 0)], &[tp("a", 1)]);
        assert!(ps.is_added(&tp("a", 0)) && ps.is_added(&tp("b", 0)));
        assert!(!ps.is_added(&tp("a", 1)));
        assert!(!ps.has_in_flight() && ps.has_unadded());
        assert_eq!(ps.take_pending(), vec![tp("a", 1)]);
        ps.complete(&[tp("a", 1)], &[]);
        assert!(!ps.has_unadded());
        assert!(!ps.register(&tp("a", 1)), "already added");
        assert_eq!(ps.added().count(), 3);
        ps.clear();
        assert_eq!(ps.added().count(), 0);
        assert!(ps.register(&tp("a", 1)));
    }

    #[test]
    fn implicit_and_drop_pending() {
        let mut ps = TxnPartitions::new();
        ps.register(&tp("a", 0));
        ps.register_implicit(&tp("a", 0));
        assert!(ps.is_added(&tp("a", 0)) && !ps.has_unadded());
        ps.register(&tp("a", 1));
        ps.drop_pending();
        assert!(!ps.has_unadded());
        // completing a partition that is not in flight changes nothing
        ps.complete(&[tp("z", 9)], &[tp("y", 9)]);
        assert!(!ps.is_added(&tp("z", 9)) && ps.pending_len() == 0);
    }
}
