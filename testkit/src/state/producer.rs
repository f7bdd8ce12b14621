//! Idempotent producer state of one partition, as Kafka's `ProducerStateManager` keeps it:
//! per producer id the epoch, the metadata of the last five batches (for duplicate detection)
//! and the first offset of the open transaction.

use std::collections::{HashMap, VecDeque};

use super::batch::BatchHeader;
use crate::codes;

/// How many recent batches per producer Kafka remembers for duplicate detection.
pub const BATCHES_TO_RETAIN: usize = 5;

/// Metadata of one appended batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchMeta {
    first_seq: i32,
    last_seq: i32,
    first_offset: i64,
}

/// One producer's state on one partition.
#[derive(Debug, Clone, Default)]
struct Entry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
    txn_first_offset: Option<i64>,
    last_timestamp: i64,
}

/// What DescribeProducers reports of one producer on one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerSnapshot {
    /// Producer id.
    pub producer_id: i64,
    /// Its epoch.
    pub epoch: i16,
    /// Last sequence appended, -1 if none is remembered.
    pub last_sequence: i32,
    /// Largest timestamp of its last batch or marker.
    pub last_timestamp: i64,
    /// First offset of its open transaction, -1 if none.
    pub txn_start_offset: i64,
}

/// The outcome of checking a batch against the producer state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqCheck {
    /// Append it.
    Append,
    /// A retry of a batch already in the log at this base offset: answer success with it.
    Duplicate(i64),
}

/// The state of every producer that wrote to one partition.
#[derive(Debug, Default)]
pub struct ProducerStates {
    entries: HashMap<i64, Entry>,
}

impl ProducerStates {
    /// Checks a data batch without changing anything; `Err` holds the Kafka error code.
    ///
    /// Rules, in Kafka's order: an epoch older than the known one is `INVALID_PRODUCER_EPOCH`;
    /// a batch equal to one of the last five of the same epoch is a duplicate; a producer with
    /// no state here may start at any sequence (Kafka 2.5+, KIP-360: its state may have been
    /// removed with the records it wrote, so the broker cannot tell a gap; older brokers
    /// answered `UNKNOWN_PRODUCER_ID`); a new epoch must start at 0; otherwise the first
    /// sequence must follow the last one (else `OUT_OF_ORDER_SEQUENCE_NUMBER`); a
    /// non-transactional write while the producer has an open transaction is
    /// `INVALID_TXN_STATE`.
    pub fn check(&self, h: &BatchHeader) -> Result<SeqCheck, i16> {
        if h.producer_id < 0 {
            return Ok(SeqCheck::Append);
        }
        let Some(entry) = self.entries.get(&h.producer_id) else {
            return Ok(SeqCheck::Append);
        };
        if h.producer_epoch < entry.epoch {
            return Err(codes::INVALID_PRODUCER_EPOCH);
        }
        if h.producer_epoch == entry.epoch {
            let last_seq = h.last_sequence();
            if let Some(dup) = entry
                .batches
                .iter()
                .find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq)
            {
                return Ok(SeqCheck::Duplicate(dup.first_offset));
            }
            if h.base_sequence >= 0 {
                // With no batch of this epoch remembered (the epoch came with a marker) the
                // run must start at 0, as Kafka's check against NO_SEQUENCE does.
                let last = entry.batches.back().map_or(-1, |b| b.last_seq);
                if !in_sequence(last, h.base_sequence) {
                    return Err(codes::OUT_OF_ORDER_SEQUENCE_NUMBER);
                }
            }
        } else if h.base_sequence > 0 {
            return Err(codes::OUT_OF_ORDER_SEQUENCE_NUMBER);
        }
        if entry.txn_first_offset.is_some() && !h.is_transactional() {
            return Err(codes::INVALID_TXN_STATE);
        }
        Ok(SeqCheck::Append)
    }

    /// Records an appended data batch at `first_offset`.
    pub fn record(&mut self, h: &BatchHeader, first_offset: i64) {
        if h.producer_id < 0 {
            return;
        }
        let entry = self.entries.entry(h.producer_id).or_default();
        if entry.epoch != h.producer_epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        if h.base_sequence >= 0 {
            if entry.batches.len() == BATCHES_TO_RETAIN {
                entry.batches.pop_front();
            }
            entry.batches.push_back(BatchMeta {
                first_seq: h.base_sequence,
                last_seq: h.last_sequence(),
                first_offset,
            });
        }
        if h.is_transactional() && entry.txn_first_offset.is_none() {
            entry.txn_first_offset = Some(first_offset);
        }
        entry.last_timestamp = h.max_timestamp;
    }

    /// Every producer with state here, by producer id.
    pub fn snapshot(&self) -> Vec<ProducerSnapshot> {
        let mut out: Vec<ProducerSnapshot> = self
            .entries
            .iter()
            .map(|(pid, e)| ProducerSnapshot {
                producer_id: *pid,
                epoch: e.epoch,
                last_sequence: e.batches.back().map_or(-1, |b| b.last_seq),
                last_timestamp: e.last_timestamp,
                txn_start_offset: e.txn_first_offset.unwrap_or(-1),
            })
            .collect();
        out.sort_by_key(|p| p.producer_id);
        out
    }

    /// Checks the epoch of an end-transaction marker (`INVALID_PRODUCER_EPOCH` if older).
    pub fn check_marker(&self, producer_id: i64, epoch: i16) -> Result<(), i16> {
        match self.entries.get(&producer_id) {
            Some(e) if epoch < e.epoch => Err(codes::INVALID_PRODUCER_EPOCH),
            _ => Ok(()),
        }
    }

    /// Records an end-transaction marker: the epoch moves up (clearing the batch metadata if
    /// it changed) and the open transaction ends. Returns its first offset, if one was open.
    pub fn record_marker(&mut self, producer_id: i64, epoch: i16, timestamp: i64) -> Option<i64> {
        let entry = self.entries.entry(producer_id).or_default();
        entry.last_timestamp = timestamp;
        if entry.epoch != epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.txn_first_offset.take()
    }

    /// The first offset of the producer's open transaction on this partition.
    pub fn open_txn(&self, producer_id: i64) -> Option<i64> {
        self.entries.get(&producer_id)?.txn_first_offset
    }
}

/// Kafka's `inSequence`: the next sequence follows the last one, wrapping at `i32::MAX`.
fn in_sequence(last: i32, next: i32) -> bool {
    i64::from(next) == i64::from(last) + 1 || (next == 0 && last == i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::batch::{data_batch, parse_single_batch};

    fn h(pid: i64, epoch: i16, seq: i32, count: i32) -> BatchHeader {
        parse_single_batch(&data_batch(pid, epoch, seq, count, false))
            .unwrap()
            .1
    }

    fn append(s: &mut ProducerStates, b: &BatchHeader, offset: i64) -> Result<SeqCheck, i16> {
        let r = s.check(b)?;
        if r == SeqCheck::Append {
            s.record(b, offset);
        }
        Ok(r)
    }

    #[test]
    fn in_order_batches_append_and_retries_of_last_five_are_duplicates() {
        let mut s = ProducerStates::default();
        for i in 0..7 {
            assert_eq!(
                append(&mut s, &h(1, 0, i * 10, 10), i64::from(i) * 10),
                Ok(SeqCheck::Append)
            );
        }
        // batches 2..=6 are remembered, 0 and 1 are not
        assert_eq!(s.check(&h(1, 0, 20, 10)), Ok(SeqCheck::Duplicate(20)));
        assert_eq!(s.check(&h(1, 0, 60, 10)), Ok(SeqCheck::Duplicate(60)));
        assert_eq!(
            s.check(&h(1, 0, 10, 10)),
            Err(codes::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        // a gap, and an overlap that is not an exact retry
        assert_eq!(
            s.check(&h(1, 0, 71, 1)),
            Err(codes::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        assert_eq!(
            s.check(&h(1, 0, 65, 5)),
            Err(codes::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        assert_eq!(s.check(&h(1, 0, 70, 1)), Ok(SeqCheck::Append));
    }

    #[test]
    fn a_producer_without_state_may_start_at_any_sequence_then_keeps_it() {
        // As Kafka 2.5+ (checked against 4.1.1 by klamm-integration's differential suite).
        let mut s = ProducerStates::default();
        assert_eq!(append(&mut s, &h(9, 0, 5, 2), 0), Ok(SeqCheck::Append));
        assert_eq!(s.check(&h(9, 0, 5, 2)), Ok(SeqCheck::Duplicate(0)));
        assert_eq!(
            s.check(&h(9, 0, 8, 1)),
            Err(codes::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        assert_eq!(s.check(&h(9, 0, 7, 1)), Ok(SeqCheck::Append));
        assert_eq!(s.check(&h(10, 0, 0, 1)), Ok(SeqCheck::Append));
        assert_eq!(s.check(&h(-1, -1, -1, 1)), Ok(SeqCheck::Append));
    }

    #[test]
    fn epoch_rules() {
        let mut s = ProducerStates::default();
        append(&mut s, &h(1, 3, 0, 2), 0).unwrap();
        assert_eq!(s.check(&h(1, 2, 2, 1)), Err(codes::INVALID_PRODUCER_EPOCH));
        // a bump must restart sequences at 0, and resets them
        assert_eq!(
            s.check(&h(1, 4, 2, 1)),
            Err(codes::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        assert_eq!(append(&mut s, &h(1, 4, 0, 1), 2), Ok(SeqCheck::Append));
        assert_eq!(s.check(&h(1, 3, 0, 2)), Err(codes::INVALID_PRODUCER_EPOCH));
        assert_eq!(s.check(&h(1, 4, 1, 1)), Ok(SeqCheck::Append));
    }

    #[test]
    fn markers_end_transactions_and_fence_older_epochs() {
        let mut s = ProducerStates::default();
        let t = parse_single_batch(&data_batch(1, 0, 0, 3, true)).unwrap().1;
        assert_eq!(append(&mut s, &t, 10), Ok(SeqCheck::Append));
        assert_eq!(s.open_txn(1), Some(10));
        assert_eq!(s.check(&h(1, 0, 3, 1)), Err(codes::INVALID_TXN_STATE));
        assert_eq!(s.check_marker(1, 1), Ok(()));
        assert_eq!(s.record_marker(1, 1, 0), Some(10));
        assert_eq!(s.open_txn(1), None);
        assert_eq!(s.check(&t), Err(codes::INVALID_PRODUCER_EPOCH));
        assert_eq!(s.check_marker(1, 0), Err(codes::INVALID_PRODUCER_EPOCH));
    }

    #[test]
    fn sequence_wraps() {
        let mut s = ProducerStates::default();
        append(&mut s, &h(1, 0, 0, 1), 0).unwrap();
        // pretend the producer got near the end of the sequence space
        s.entries
            .get_mut(&1)
            .unwrap()
            .batches
            .back_mut()
            .unwrap()
            .last_seq = i32::MAX - 1;
        assert_eq!(
            append(&mut s, &h(1, 0, i32::MAX, 1), 1),
            Ok(SeqCheck::Append)
        );
        assert_eq!(s.check(&h(1, 0, 0, 1)), Ok(SeqCheck::Append));
        assert_eq!(
            s.check(&h(1, 0, 1, 1)),
            Err(codes::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
    }

    #[test]
    fn a_marker_epoch_bump_requires_sequence_zero() {
        let mut s = ProducerStates::default();
        append(&mut s, &h(1, 0, 0, 5), 0).unwrap();
        s.record_marker(1, 1, 0);
        assert_eq!(
            s.check(&h(1, 1, 5, 1)),
            Err(codes::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        assert_eq!(s.check(&h(1, 1, 0, 1)), Ok(SeqCheck::Append));
    }
}
