//! One partition's log: record batches with assigned offsets, high watermark, log start offset,
//! last stable offset and the index of aborted transactions, plus its producer state and the
//! segments a Fetch reads one at a time.

use std::collections::BTreeMap;

use bytes::Bytes;

use klamm_protocol::record::SealedBatch;

use super::batch::{self, BatchError, BatchHeader};
use super::producer::{ProducerStates, SeqCheck};
use super::segments::Segments;
use crate::codes;

/// One batch in the log.
#[derive(Debug, Clone)]
pub struct StoredBatch {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// Largest timestamp in the batch.
    pub max_timestamp: i64,
    /// The batch as the producer wrote it, with the base offset and leader epoch filled in.
    pub bytes: Bytes,
}

/// An aborted transaction, as Fetch reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer id.
    pub producer_id: i64,
    /// Offset of the transaction's first batch on this partition.
    pub first_offset: i64,
    /// Offset of the ABORT marker.
    pub last_offset: i64,
}

/// The result of appending a produced batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Base offset the batch got (or had, for a duplicate).
    pub base_offset: i64,
    /// Whether the batch was a retried duplicate (nothing appended).
    pub duplicate: bool,
}

/// A partition's log.
#[derive(Debug, Default)]
pub struct PartitionLog {
    batches: Vec<StoredBatch>,
    log_start: i64,
    next_offset: i64,
    /// First offset of every open transaction, by producer id.
    ongoing: BTreeMap<i64, i64>,
    aborted: Vec<AbortedTxn>,
    producers: ProducerStates,
    segments: Segments,
}

impl PartitionLog {
    /// The log end offset, which is also the high watermark (every replica is this memory).
    pub fn high_watermark(&self) -> i64 {
        self.next_offset
    }

    /// The log start offset.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start
    }

    /// The last stable offset: the first offset of the oldest open transaction, or the high
    /// watermark when none is open.
    pub fn last_stable_offset(&self) -> i64 {
        self.ongoing
            .values()
            .copied()
            .min()
            .unwrap_or(self.next_offset)
    }

    /// Validates and appends one produced record set (exactly one v2 batch). `Err` is a Kafka
    /// error code with a message.
    pub fn append(
        &mut self,
        records: &Bytes,
        leader_epoch: i32,
    ) -> Result<Appended, (i16, String)> {
        let (sealed, h) = batch::parse_single_batch(records)
            .map_err(|e| (batch_error_code(&e), e.to_string()))?;
        self.append_parsed(&h, sealed, leader_epoch)
    }

    /// Appends a record set whose single batch header `h` was already parsed and validated.
    pub fn append_parsed(
        &mut self,
        h: &BatchHeader,
        batch: SealedBatch,
        leader_epoch: i32,
    ) -> Result<Appended, (i16, String)> {
        if h.is_control() {
            return Err((
                codes::INVALID_RECORD,
                "clients may not write control batches".into(),
            ));
        }
        match self.producers.check(h) {
            Ok(SeqCheck::Duplicate(base_offset)) => Ok(Appended {
                base_offset,
                duplicate: true,
            }),
            Ok(SeqCheck::Append) => {
                let base = self.next_offset;
                let bytes = batch::place(batch, base, leader_epoch);
                let last = base + i64::from(h.last_offset_delta);
                self.push(StoredBatch {
                    base_offset: base,
                    last_offset: last,
                    max_timestamp: h.max_timestamp,
                    bytes,
                });
                self.next_offset = last + 1;
                self.producers.record(h, base);
                if h.is_transactional() {
                    self.ongoing.entry(h.producer_id).or_insert(base);
                }
                Ok(Appended {
                    base_offset: base,
                    duplicate: false,
                })
            }
            Err(code) => Err((
                code,
                format!(
                    "producer {} epoch {} sequence {} refused",
                    h.producer_id, h.producer_epoch, h.base_sequence
                ),
            )),
        }
    }

    /// Stores a batch at the end of the log, in a new segment when Kafka would roll one.
    fn push(&mut self, b: StoredBatch) {
        self.segments
            .append(b.base_offset, b.last_offset, b.max_timestamp, b.bytes.len());
        self.batches.push(b);
    }

    /// How many segments the log has (Kafka rolls one when a batch's timestamp is more than
    /// `segment.ms` after the segment's first batch's; see [`super::segments`]).
    pub fn segment_count(&self) -> usize {
        self.segments.count()
    }

    /// Writes an end-transaction marker for `producer_id` (COMMIT or ABORT) and closes its
    /// open transaction here; an aborted one is indexed for Fetch. Returns the marker's offset.
    pub fn write_marker(
        &mut self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        leader_epoch: i32,
        timestamp: i64,
    ) -> Result<i64, i16> {
        self.producers.check_marker(producer_id, epoch)?;
        let offset = self.next_offset;
        let bytes =
            batch::control_batch(offset, leader_epoch, producer_id, epoch, commit, timestamp)
                .ok_or(codes::INVALID_RECORD)?;
        self.push(StoredBatch {
            base_offset: offset,
            last_offset: offset,
            max_timestamp: timestamp,
            bytes,
        });
        self.next_offset = offset + 1;
        let first = self.producers.record_marker(producer_id, epoch, timestamp);
        self.ongoing.remove(&producer_id);
        if !commit && let Some(first_offset) = first {
            self.aborted.push(AbortedTxn {
                producer_id,
                first_offset,
                last_offset: offset,
            });
        }
        Ok(offset)
    }

    /// The producers with state on this partition (DescribeProducers).
    pub fn producers(&self) -> Vec<super::producer::ProducerSnapshot> {
        self.producers.snapshot()
    }

    /// Whether `producer_id` has an open transaction on this partition.
    pub fn has_open_txn(&self, producer_id: i64) -> bool {
        self.producers.open_txn(producer_id).is_some()
    }

    /// Reads batches from the one holding `offset`, below `upper` (the high watermark or the
    /// last stable offset), up to `max_bytes` but always at least one batch (KIP-74), and
    /// never past the end of that batch's segment (as Kafka reads one segment per Fetch).
    /// `Err(OFFSET_OUT_OF_RANGE)` when `offset` is outside `[log start, high watermark]`.
    pub fn read(&self, offset: i64, max_bytes: usize, upper: i64) -> Result<Vec<Bytes>, i16> {
        if offset < self.log_start || offset > self.next_offset {
            return Err(codes::OFFSET_OUT_OF_RANGE);
        }
        let start = self.batches.partition_point(|b| b.last_offset < offset);
        let end = self.segments.end_of(start).max(start);
        let mut out = Vec::new();
        let mut size = 0usize;
        for b in &self.batches[start..end] {
            if b.last_offset >= upper {
                break;
            }
            if !out.is_empty() && size + b.bytes.len() > max_bytes {
                break;
            }
            size += b.bytes.len();
            out.push(b.bytes.clone());
        }
        Ok(out)
    }

    /// The aborted transactions a `read_committed` Fetch from `offset` below `upper` (the
    /// last stable offset) that returned `fetched` bytes reports, as Kafka's: none when it
    /// could read nothing (`offset` at or past `upper`); otherwise those of
    /// [`aborted_between`](Self::aborted_between) `offset` and the first offset-index entry
    /// after the data returned, or the end of the segment read, or the log end (which may lie
    /// past `upper`).
    pub fn aborted_for_fetch(&self, offset: i64, upper: i64, fetched: usize) -> Vec<AbortedTxn> {
        if offset >= upper {
            return Vec::new();
        }
        let start = self.batches.partition_point(|b| b.last_offset < offset);
        let bound = self
            .segments
            .aborted_upper_bound(start, fetched, self.next_offset);
        self.aborted_between(offset, bound)
    }

    /// The aborted transactions that overlap `[offset, upper)`: those whose marker is at or
    /// after `offset` and whose first offset is before `upper`.
    pub fn aborted_between(&self, offset: i64, upper: i64) -> Vec<AbortedTxn> {
        self.aborted
            .iter()
            .filter(|a| a.last_offset >= offset && a.first_offset < upper)
            .copied()
            .collect()
    }

    /// The offset for a ListOffsets timestamp: -1 latest (`latest` is the high watermark or
    /// LSO), -2 earliest, -3 the batch with the largest timestamp, otherwise the first batch
    /// whose max timestamp is at or after it. Returns (offset, timestamp).
    pub fn offset_for(&self, timestamp: i64, latest: i64) -> (i64, i64) {
        match timestamp {
            -1 => (latest, -1),
            -2 => (self.log_start, -1),
            -3 => self
                .batches
                .iter()
                .max_by_key(|b| (b.max_timestamp, std::cmp::Reverse(b.base_offset)))
                .map_or((-1, -1), |b| (b.last_offset, b.max_timestamp)),
            t => self
                .batches
                .iter()
                .find(|b| b.max_timestamp >= t && b.base_offset < latest)
                .map_or((-1, -1), |b| (b.base_offset, b.max_timestamp)),
        }
    }

    /// Number of batches in the log (data and control).
    pub fn batch_count(&self) -> usize {
        self.batches.len()
    }

    /// Every batch in the log, in offset order.
    pub fn batches(&self) -> &[StoredBatch] {
        &self.batches
    }
}

/// The Kafka error code for a refused batch.
pub fn batch_error_code(e: &BatchError) -> i16 {
    match e {
        BatchError::Magic(_) => codes::UNSUPPORTED_FOR_MESSAGE_FORMAT,
        BatchError::Crc | BatchError::Corrupt(_) => codes::CORRUPT_MESSAGE,
        BatchError::BatchCount(_) => codes::INVALID_RECORD,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::batch::{control_type, data_batch};
    use klamm_protocol::record::RecordBatch;

    #[test]
    fn offsets_are_assigned_and_batches_kept_intact() {
        let mut log = PartitionLog::default();
        let a = data_batch(-1, -1, -1, 3, false);
        let b = data_batch(-1, -1, -1, 2, false);
        assert_eq!(log.append(&a, 4).unwrap().base_offset, 0);
        assert_eq!(log.append(&b, 4).unwrap().base_offset, 3);
        assert_eq!(log.high_watermark(), 5);
        let read = log.read(4, 1 << 20, 5).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(
            RecordBatch::decode(read[0].clone()).unwrap().base_offset(),
            3
        );
        assert_eq!(&read[0][16..], &b[16..]);
        assert_eq!(&read[0][12..16], &4i32.to_be_bytes());
        assert_eq!(log.read(0, 1, 5).unwrap().len(), 1, "at least one batch");
        assert_eq!(log.read(6, 100, 5), Err(codes::OFFSET_OUT_OF_RANGE));
        assert!(log.read(5, 100, 5).unwrap().is_empty());
    }

    #[test]
    fn duplicates_keep_their_original_offset() {
        let mut log = PartitionLog::default();
        log.append(&data_batch(-1, -1, -1, 10, false), 0).unwrap();
        let first = data_batch(3, 0, 0, 5, false);
        assert_eq!(
            log.append(&first, 0).unwrap(),
            Appended {
                base_offset: 10,
                duplicate: false
            }
        );
        log.append(&data_batch(3, 0, 5, 5, false), 0).unwrap();
        assert_eq!(
            log.append(&first, 0).unwrap(),
            Appended {
                base_offset: 10,
                duplicate: true
            }
        );
        assert_eq!(log.high_watermark(), 20);
        let gap = log.append(&data_batch(3, 0, 11, 1, false), 0).unwrap_err();
        assert_eq!(gap.0, codes::OUT_OF_ORDER_SEQUENCE_NUMBER);
    }

    #[test]
    fn transactions_hold_back_the_lso_and_aborts_are_indexed() {
        let mut log = PartitionLog::default();
        log.append(&data_batch(-1, -1, -1, 2, false), 0).unwrap();
        log.append(&data_batch(7, 0, 0, 3, true), 0).unwrap(); // 2..=4
        log.append(&data_batch(-1, -1, -1, 1, false), 0).unwrap(); // 5
        assert_eq!(log.last_stable_offset(), 2);
        assert_eq!(log.high_watermark(), 6);
        assert!(log.has_open_txn(7));
        // a read_committed read stops before the open transaction
        assert_eq!(
            log.read(0, 1 << 20, log.last_stable_offset())
                .unwrap()
                .len(),
            1
        );
        let marker = log.write_marker(7, 0, false, 0, 99).unwrap();
        assert_eq!(marker, 6);
        assert_eq!(log.last_stable_offset(), 7);
        assert_eq!(
            log.aborted_between(0, 7),
            vec![AbortedTxn {
                producer_id: 7,
                first_offset: 2,
                last_offset: 6
            }]
        );
        assert!(log.aborted_between(7, 7).is_empty());
        let read = log.read(6, 1 << 20, 7).unwrap();
        assert_eq!(control_type(&read[0]), Some(false));
        // committed transactions are not indexed
        log.append(&data_batch(7, 0, 3, 1, true), 0).unwrap();
        log.write_marker(7, 0, true, 0, 99).unwrap();
        assert_eq!(log.aborted_between(0, 100).len(), 1);
        // an older epoch cannot write a marker after a newer one
        log.write_marker(7, 2, false, 0, 99).unwrap();
        assert_eq!(
            log.write_marker(7, 1, false, 0, 99),
            Err(codes::INVALID_PRODUCER_EPOCH)
        );
    }

    #[test]
    fn a_fetch_reads_one_segment_and_reports_the_aborts_kafka_reports() {
        // data_batch stamps 1970 timestamps; a marker written "now" rolls a new segment,
        // as Kafka 4.1.1 does (segment.ms), and a Fetch from 0 stops at the roll.
        let now = 1_800_000_000_000;
        let mut log = PartitionLog::default();
        log.append(&data_batch(7, 0, 0, 3, true), 0).unwrap(); // 0..=2
        log.write_marker(7, 0, false, 0, now).unwrap(); // 3, new segment
        log.append(&data_batch(-1, -1, -1, 1, false), 0).unwrap(); // 4
        log.append(&data_batch(7, 0, 3, 1, true), 0).unwrap(); // 5
        log.write_marker(7, 0, false, 0, now).unwrap(); // 6
        assert_eq!(log.segment_count(), 2);
        let lso = log.last_stable_offset();
        let first = log.read(0, 1 << 20, lso).unwrap();
        assert_eq!(first.len(), 1, "the first segment holds one batch");
        let size = first[0].len();
        // the aborts reported end at the next segment's base offset (3)
        let aborted = log.aborted_for_fetch(0, lso, size);
        assert_eq!(
            aborted.iter().map(|a| a.first_offset).collect::<Vec<_>>(),
            [0]
        );
        let rest = log.read(3, 1 << 20, lso).unwrap();
        assert_eq!(rest.len(), 4);
        let aborted = log.aborted_for_fetch(3, lso, rest.iter().map(Bytes::len).sum());
        assert_eq!(
            aborted.iter().map(|a| a.first_offset).collect::<Vec<_>>(),
            [0, 5]
        );
        // nothing to read: no aborts reported
        assert!(log.aborted_for_fetch(lso, lso, 0).is_empty());
    }

    #[test]
    fn list_offsets() {
        let mut log = PartitionLog::default();
        log.append(&data_batch(-1, -1, -1, 3, false), 0).unwrap(); // ts 1000..=1002
        log.append(&data_batch(-1, -1, -1, 9, false), 0).unwrap(); // ts 1000..=1008
        assert_eq!(log.offset_for(-1, 12), (12, -1));
        assert_eq!(log.offset_for(-2, 12), (0, -1));
        assert_eq!(log.offset_for(-3, 12), (11, 1008));
        assert_eq!(log.offset_for(1005, 12), (3, 1008));
        assert_eq!(log.offset_for(5000, 12), (-1, -1));
    }

    #[test]
    fn refuses_control_and_corrupt_batches() {
        let mut log = PartitionLog::default();
        let c = batch::control_batch(0, 0, 1, 0, true, 0).unwrap();
        assert_eq!(log.append(&c, 0).unwrap_err().0, codes::INVALID_RECORD);
        assert_eq!(
            log.append(&Bytes::from_static(&[1, 2, 3]), 0)
                .unwrap_err()
                .0,
            codes::CORRUPT_MESSAGE
        );
        assert_eq!(log.high_watermark(), 0);
    }
}
