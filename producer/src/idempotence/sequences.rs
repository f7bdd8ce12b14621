//! One partition's sequence numbers and its batches without a final outcome.

use std::collections::VecDeque;

/// Identifies a batch for its whole life (assigned by the accumulator, never reused).
pub type BatchId = u64;

/// The most batches per partition that may hold sequences without an outcome: Kafka's broker
/// keeps the metadata of the last 5 batches per producer and partition for de-duplication.
pub const MAX_IN_FLIGHT_PER_PARTITION: usize = 5;

/// Kafka's `DefaultRecordBatch.incrementSequence`: sequences wrap from `i32::MAX` to 0.
pub fn next_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

/// Why a batch with a sequence waits to be resent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unresolved {
    /// The broker answered with a retriable error: this attempt was not written.
    Rejected,
    /// No answer: this attempt may have been written.
    Unknown,
}

#[derive(Debug, Clone)]
struct Entry {
    id: BatchId,
    base: i32,
    count: i32,
    /// On the wire now (no answer yet).
    sent: bool,
    /// An earlier attempt got no answer, and no later answer settled whether it was written.
    maybe_written: bool,
    /// Written, but an older batch has no outcome yet: it still occupies the window, because
    /// the broker de-duplicates only against its last 5 batches.
    acked: bool,
}

/// Sequence state of one partition: the next sequence to hand out and the batches that hold
/// sequences but have no final outcome yet, oldest first.
#[derive(Debug, Default, Clone)]
pub struct PartitionSequences {
    next: i32,
    entries: VecDeque<Entry>,
    /// The broker lost this producer's state for the partition (sequence rejected at the
    /// oldest batch); cleared by the epoch bump.
    lost: bool,
    /// The producer id the partition's leader acknowledged a batch of, so holds state for.
    /// Until it does for the current producer id, one batch at a time: a broker with no
    /// state for a producer id accepts any sequence (Kafka 2.5+), so a later batch that
    /// overtook a failed first one would be written before it.
    known_to_broker: Option<i64>,
}

impl PartitionSequences {
    /// The sequence the next new batch gets.
    pub fn next(&self) -> i32 {
        self.next
    }

    /// `(batch, base sequence)` of every batch without an outcome, oldest first.
    pub fn unresolved(&self) -> impl Iterator<Item = (BatchId, i32)> + '_ {
        self.entries
            .iter()
            .filter(|e| !e.acked)
            .map(|e| (e.id, e.base))
    }

    /// The window: batches from the oldest without an outcome to the newest (those written in
    /// between included). At most [`MAX_IN_FLIGHT_PER_PARTITION`].
    pub fn window_len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no batch holds a sequence.
    pub fn is_idle(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the partition's leader acknowledged a batch of `producer_id` (so checks its
    /// sequences, and batches may be pipelined).
    pub fn known_to_broker(&self, producer_id: i64) -> bool {
        self.known_to_broker == Some(producer_id)
    }

    pub(super) fn contains(&self, id: BatchId) -> bool {
        self.entries.iter().any(|e| e.id == id && !e.acked)
    }

    pub(super) fn is_sent(&self, id: BatchId) -> bool {
        self.entries.iter().any(|e| e.id == id && e.sent)
    }

    pub(super) fn is_oldest(&self, id: BatchId) -> bool {
        self.entries.front().is_some_and(|e| e.id == id)
    }

    /// Whether a batch here may have been written without our knowing.
    pub(super) fn has_unknown(&self) -> bool {
        self.entries.iter().any(|e| e.maybe_written)
    }

    /// A new batch of `producer_id`: the next sequence, unless the window is full, an older
    /// batch waits to be resent (it must go first), or the broker holds no state for
    /// `producer_id` here yet and a batch is already on its way (it must be written first).
    pub(super) fn assign(&mut self, id: BatchId, count: i32, producer_id: i64) -> Option<i32> {
        if self.entries.len() >= MAX_IN_FLIGHT_PER_PARTITION
            || self.entries.iter().any(|e| !e.sent && !e.acked)
            || (self.known_to_broker != Some(producer_id) && !self.entries.is_empty())
        {
            return None;
        }
        let base = self.next;
        self.next = next_sequence(base, count);
        self.entries.push_back(Entry {
            id,
            base,
            count,
            sent: true,
            maybe_written: false,
            acked: false,
        });
        Some(base)
    }

    /// A batch that already holds a sequence: resent only when it is the oldest without an
    /// outcome. While an epoch bump is pending, only batches needed to resolve an unknown
    /// outcome under the old epoch are resent.
    pub(super) fn resend(&mut self, id: BatchId, bumping: bool) -> Option<i32> {
        if bumping && (self.lost || !self.has_unknown()) {
            return None;
        }
        let first = self.entries.front_mut()?;
        if first.id != id || first.sent {
            return None;
        }
        first.sent = true;
        Some(first.base)
    }

    /// The batch was written by `producer_id` (which the broker now holds state for).
    pub(super) fn acknowledge(&mut self, id: BatchId, producer_id: i64) {
        self.known_to_broker = Some(producer_id);
        if let Some(e) = self.entry(id) {
            e.acked = true;
            e.sent = false;
            e.maybe_written = false;
        }
        self.trim();
    }

    /// Drop written batches from the front of the window.
    fn trim(&mut self) {
        while self.entries.front().is_some_and(|e| e.acked) {
            self.entries.pop_front();
        }
    }

    fn entry(&mut self, id: BatchId) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.id == id && !e.acked)
    }

    /// An attempt ended without a final outcome: `Unknown` (no answer) makes the batch "maybe
    /// written" until an answer settles it; `Rejected` (a retriable error answer) does not
    /// settle an earlier unknown attempt.
    pub(super) fn mark(&mut self, id: BatchId, why: Unresolved) {
        // Once the broker rejected the oldest batch's sequence, no later batch of this
        // partition can be written under this epoch (sequences must be contiguous), so an
        // unanswered attempt is known not to be written.
        let lost = self.lost;
        if let Some(e) = self.entry(id) {
            e.sent = false;
            e.maybe_written |= why == Unresolved::Unknown && !lost;
        }
    }

    /// The broker refused the batch's sequence: it is not written (a written one would have
    /// been answered as a duplicate).
    pub(super) fn mark_sequence_rejected(&mut self, id: BatchId) {
        if let Some(e) = self.entry(id) {
            e.sent = false;
            e.maybe_written = false;
        }
    }

    /// The broker has no state for us here: every later batch was (or will be) rejected too,
    /// so none of them may have been written.
    pub(super) fn mark_lost(&mut self) {
        self.lost = true;
        for e in &mut self.entries {
            e.maybe_written = false;
        }
    }

    /// Remove a batch that failed for good. Returns whether a gap remains that needs an epoch
    /// bump: not when it was the newest batch and surely not written (then its sequences are
    /// simply handed out again).
    pub(super) fn remove(&mut self, id: BatchId, maybe_written: bool) -> bool {
        let Some(pos) = self.entries.iter().position(|e| e.id == id && !e.acked) else {
            return false;
        };
        let last = pos + 1 == self.entries.len();
        let Some(e) = self.entries.remove(pos) else {
            return false;
        };
        self.trim();
        if last && !e.maybe_written && !maybe_written {
            self.next = e.base;
            false
        } else {
            true
        }
    }

    /// Replace the batch `id` by its pieces, which share its sequence range in order; none of
    /// them is on the wire.
    pub(super) fn split(&mut self, id: BatchId, pieces: &[(BatchId, i32)]) {
        let Some(pos) = self.entries.iter().position(|e| e.id == id && !e.acked) else {
            return;
        };
        let Some(old) = self.entries.remove(pos) else {
            return;
        };
        let mut base = old.base;
        for (i, &(piece, count)) in pieces.iter().enumerate() {
            self.entries.insert(
                pos + i,
                Entry {
                    id: piece,
                    base,
                    count,
                    sent: false,
                    maybe_written: false,
                    acked: false,
                },
            );
            base = next_sequence(base, count);
        }
    }

    /// After an epoch bump: restart at 0 and renumber the waiting batches in order.
    pub(super) fn restart(&mut self) {
        self.lost = false;
        self.entries.retain(|e| !e.acked);
        let mut next = 0;
        for e in &mut self.entries {
            e.base = next;
            next = next_sequence(next, e.count);
        }
        self.next = next;
    }
}
