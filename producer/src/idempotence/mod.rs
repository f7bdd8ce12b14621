//! Idempotence bookkeeping (KIP-98, KIP-360) as pure logic: producer id and epoch, and per
//! partition the next sequence number and the batches that hold sequences but have no final
//! outcome yet. Owned by the sender task alone, so it needs no lock.
//!
//! Rules (DESIGN.md invariants 1 and 2):
//! * A batch gets its base sequence when first drained ([`Idempotence::admit`]) and keeps it
//!   across retries. At most [`MAX_IN_FLIGHT_PER_PARTITION`] batches per partition hold
//!   sequences without an outcome (Kafka's broker remembers the last 5 per producer).
//! * A batch being retried is resent only when it is the oldest unresolved batch of its
//!   partition, so a failed batch is always resent before any later one.
//! * Until the partition's leader acknowledged a batch of the current producer id, one batch
//!   of the partition at a time: a broker with no state for a producer id accepts any
//!   sequence (Kafka 2.5+, KIP-360), so a second batch that overtook a failed first one would
//!   be written before it. That is the case for every new producer id (an idempotent
//!   producer's InitProducerId always hands out one) and every partition not yet written;
//!   an epoch bump of the same producer id keeps the broker's state (the new epoch must start
//!   at sequence 0 there), so it keeps pipelining.
//! * A gap (a batch with a sequence failed for good, or the broker lost our state:
//!   OUT_OF_ORDER_SEQUENCE_NUMBER / UNKNOWN_PRODUCER_ID on the oldest batch) requires an epoch
//!   bump. The bump happens only when no batch is in flight and no batch has an unknown outcome
//!   (sent, then the connection dropped): those are first resolved by resending them under the
//!   old epoch, where the broker de-duplicates. Then every partition restarts at sequence 0 and
//!   the waiting batches are renumbered in order, so nothing is duplicated or reordered.

mod sequences;

pub use sequences::{
    BatchId, MAX_IN_FLIGHT_PER_PARTITION, PartitionSequences, Unresolved, next_sequence,
};

use std::collections::HashMap;

/// A producer id and epoch, as InitProducerId returns them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProducerIdEpoch {
    /// The producer id.
    pub id: i64,
    /// The epoch.
    pub epoch: i16,
}

/// A topic and partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic.
    pub topic: std::sync::Arc<str>,
    /// The partition.
    pub partition: i32,
}

/// What the sender may do with a partition's head batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send it with this producer id, epoch and base sequence (write them into the batch if
    /// they differ from what it holds).
    Send {
        /// Producer id and epoch to write.
        producer: ProducerIdEpoch,
        /// Base sequence to write.
        base_sequence: i32,
    },
    /// Not now: keep it queued (ordering, the in-flight limit or a pending epoch bump).
    Wait,
}

/// How a sent batch ended, as far as sequence bookkeeping cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Written (including DUPLICATE_SEQUENCE_NUMBER: written before).
    Written,
    /// A retriable error the broker answered with: not written; will be retried.
    RetriableRejected,
    /// No answer (connection lost, request timed out): may or may not be written; will be
    /// retried under the same sequence so that the broker de-duplicates.
    Unknown,
    /// OUT_OF_ORDER_SEQUENCE_NUMBER or UNKNOWN_PRODUCER_ID: not written.
    SequenceRejected,
    /// Failed for good (non-retriable error, retries or delivery timeout exhausted): the
    /// batch leaves the bookkeeping and its sequence range becomes a gap.
    Failed {
        /// Whether the broker may have written it (no answer was seen for its last attempt).
        maybe_written: bool,
    },
}

/// What the sender must do after [`Idempotence::on_outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Resolve the batch's futures with success.
    Complete,
    /// Requeue the batch at the head of its partition, in sequence order.
    Retry,
    /// Resolve the batch's futures with its error.
    Fail,
}

/// Sequence bookkeeping of one idempotent producer.
#[derive(Debug, Default)]
pub struct Idempotence {
    producer: Option<ProducerIdEpoch>,
    partitions: HashMap<TopicPartition, PartitionSequences>,
    bump_requested: bool,
    sent: usize,
}

impl Idempotence {
    /// Bookkeeping with no producer id yet (InitProducerId pending).
    pub fn new() -> Self {
        Self::default()
    }

    /// The current producer id and epoch.
    pub fn producer(&self) -> Option<ProducerIdEpoch> {
        self.producer
    }

    /// Whether an epoch bump is waiting to happen.
    pub fn bump_requested(&self) -> bool {
        self.bump_requested
    }

    /// Batches sent and not answered yet, over all partitions.
    pub fn in_flight(&self) -> usize {
        self.sent
    }

    /// The partition's state, if any batch of it was ever admitted.
    pub fn partition(&self, tp: &TopicPartition) -> Option<&PartitionSequences> {
        self.partitions.get(tp)
    }

    /// Whether the bump may happen now: requested (or no producer id yet) and nothing in
    /// flight and no batch with an unknown outcome anywhere.
    pub fn can_bump(&self) -> bool {
        (self.bump_requested || self.producer.is_none())
            && self.sent == 0
            && self.partitions.values().all(|p| !p.has_unknown())
    }

    /// Install a producer id and epoch from InitProducerId (the first one, or a bump).
    /// Every partition restarts at sequence 0; batches waiting with sequences are renumbered
    /// in order. Refused (returns `false`) while [`can_bump`](Self::can_bump) is false.
    pub fn set_producer(&mut self, producer: ProducerIdEpoch) -> bool {
        if self.producer.is_some() && !self.can_bump() {
            return false;
        }
        if self.producer.is_some() {
            tracing::info!(
                producer_id = producer.id,
                epoch = producer.epoch,
                "idempotent producer epoch bumped; sequences restart at 0"
            );
        }
        self.producer = Some(producer);
        self.bump_requested = false;
        // Keep what the brokers know of this producer id (an epoch bump), so that its
        // partitions keep pipelining.
        self.partitions.retain(|_, p| {
            p.restart();
            !p.is_idle() || p.known_to_broker(producer.id)
        });
        true
    }

    /// Whether nothing is in flight and no batch has an unknown outcome: a producer id and
    /// epoch chosen elsewhere may replace the current one now.
    pub fn is_quiescent(&self) -> bool {
        self.sent == 0 && self.partitions.values().all(|p| !p.has_unknown())
    }

    /// Installs a producer id and epoch chosen by a transaction manager (KIP-890 part 2: the
    /// coordinator bumps the epoch at the end of every transaction) as a bump: every
    /// partition restarts at sequence 0. Refused (returns `false`) unless
    /// [`is_quiescent`](Self::is_quiescent).
    pub fn replace_producer(&mut self, producer: ProducerIdEpoch) -> bool {
        if !self.is_quiescent() {
            return false;
        }
        self.bump_requested = true;
        self.set_producer(producer)
    }

    /// Decide about a partition's head batch. `id` identifies the batch for its whole life;
    /// `records` is its record count.
    pub fn admit(&mut self, tp: &TopicPartition, id: BatchId, records: i32) -> Admission {
        let Some(producer) = self.producer else {
            return Admission::Wait;
        };
        let bumping = self.bump_requested;
        let seqs = self.partitions.entry(tp.clone()).or_default();
        let base = if seqs.contains(id) {
            seqs.resend(id, bumping)
        } else if bumping {
            None
        } else {
            seqs.assign(id, records, producer.id)
        };
        match base {
            Some(base_sequence) => {
                self.sent += 1;
                Admission::Send {
                    producer,
                    base_sequence,
                }
            }
            None => Admission::Wait,
        }
    }

    /// Record how a sent batch ended and say what to do with it.
    pub fn on_outcome(&mut self, tp: &TopicPartition, id: BatchId, outcome: Outcome) -> Next {
        let Some(seqs) = self.partitions.get_mut(tp) else {
            return if outcome == Outcome::Written {
                Next::Complete
            } else {
                Next::Fail
            };
        };
        if seqs.is_sent(id) {
            self.sent -= 1;
        }
        match outcome {
            Outcome::Written => {
                // Nothing is in flight across a bump, so the batch went with this producer id.
                if let Some(producer) = self.producer {
                    seqs.acknowledge(id, producer.id);
                }
                Next::Complete
            }
            Outcome::RetriableRejected => {
                seqs.mark(id, Unresolved::Rejected);
                Next::Retry
            }
            Outcome::Unknown => {
                seqs.mark(id, Unresolved::Unknown);
                Next::Retry
            }
            Outcome::SequenceRejected => {
                seqs.mark_sequence_rejected(id);
                if seqs.is_oldest(id) {
                    // Everything before it was answered: the broker lost our state.
                    tracing::info!(topic = %tp.topic, partition = tp.partition,
                        "sequence rejected at the oldest batch; epoch bump requested");
                    seqs.mark_lost();
                    self.bump_requested = true;
                }
                // Otherwise an earlier batch failed and this one followed it; retrying after
                // the earlier one is resolved fixes it.
                Next::Retry
            }
            Outcome::Failed { maybe_written } => {
                if seqs.remove(id, maybe_written) {
                    self.bump_requested = true;
                }
                Next::Fail
            }
        }
    }

    /// Forget a batch that is failed while queued (delivery timeout, close): nothing to do if
    /// it never got a sequence; otherwise like [`Outcome::Failed`], keeping what is known
    /// about whether it may have been written.
    pub fn abandon(&mut self, tp: &TopicPartition, id: BatchId) {
        if let Some(seqs) = self.partitions.get_mut(tp)
            && seqs.contains(id)
        {
            let sent = seqs.is_sent(id);
            if sent {
                self.sent -= 1;
            }
            if seqs.remove(id, sent) {
                self.bump_requested = true;
            }
        }
    }

    /// The batch `id` (answered, not written) was split into `pieces` (`(id, record count)`,
    /// in order): they take over its place and its sequence range, the first at its base
    /// sequence, each next one after the previous (Java's `ProducerBatch.split` does the
    /// same), so the batches after it keep their sequences. The pieces are resent one at a
    /// time, oldest first.
    ///
    /// An earlier attempt of the batch that got no answer is taken as refused too (the broker
    /// refuses the same bytes again): as in Java, which splits regardless. Only a broker whose
    /// limit was lowered between two attempts could have written the first one; then the
    /// halves' sequences no longer match and the broker refuses them as out of order.
    pub fn split(&mut self, tp: &TopicPartition, id: BatchId, pieces: &[(BatchId, i32)]) {
        let Some(seqs) = self.partitions.get_mut(tp) else {
            return;
        };
        if seqs.is_sent(id) {
            self.sent -= 1;
        }
        seqs.split(id, pieces);
    }
}

#[cfg(test)]
mod tests;
