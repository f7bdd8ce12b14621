//! The broker's view of a produced RecordBatch v2, on top of klamm-protocol's
//! [`SealedBatch`]: validate it (one batch, magic 2, CRC), read its producer fields, give it
//! its base offset and leader epoch (fields outside the CRC, so the batch otherwise stays
//! byte-identical to what the producer wrote), and write transaction marker batches.

use bytes::Bytes;
use klamm_protocol::DecodeError;
use klamm_protocol::record::control::end_txn_batch;
use klamm_protocol::record::{ControlRecordType, EndTxnMarker, LOG_OVERHEAD, SealedBatch};

/// Why a produced record set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The record set holds no batch or more than one (Kafka allows exactly one in v3+).
    #[error("expected exactly one record batch, found {0}")]
    BatchCount(usize),
    /// Magic byte other than 2.
    #[error("record batch magic {0} is not supported (only v2)")]
    Magic(i8),
    /// CRC-32C mismatch.
    #[error("record batch CRC mismatch")]
    Crc,
    /// Truncated or inconsistent header.
    #[error("corrupt record batch: {0}")]
    Corrupt(String),
}

/// The header fields of one RecordBatch v2 the broker checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the last record relative to the base offset.
    pub last_offset_delta: i32,
    /// Largest timestamp in the batch.
    pub max_timestamp: i64,
    /// Producer id, -1 when not idempotent.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 when not idempotent.
    pub base_sequence: i32,
    /// Sequence of the last record (wrapping as Kafka's).
    pub last_sequence: i32,
    /// Whether the batch belongs to a transaction.
    pub transactional: bool,
    /// Whether it is a control batch.
    pub control: bool,
}

impl BatchHeader {
    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.transactional
    }

    /// Whether the batch is a control batch (commit/abort markers).
    pub fn is_control(&self) -> bool {
        self.control
    }

    /// Sequence of the last record, -1 when not idempotent.
    pub fn last_sequence(&self) -> i32 {
        self.last_sequence
    }

    fn of(b: &SealedBatch) -> Self {
        BatchHeader {
            last_offset_delta: b.last_offset_delta(),
            max_timestamp: b.max_timestamp(),
            producer_id: b.producer_id(),
            producer_epoch: b.producer_epoch(),
            base_sequence: b.base_sequence(),
            last_sequence: if b.base_sequence() < 0 {
                -1
            } else {
                b.last_sequence()
            },
            transactional: b.is_transactional(),
            control: b.is_control(),
        }
    }
}

/// Validates the single batch of a produced record set (length, magic, CRC).
pub fn parse_single_batch(records: &Bytes) -> Result<(SealedBatch, BatchHeader), BatchError> {
    if records.is_empty() {
        return Err(BatchError::BatchCount(0));
    }
    if records.len() >= LOG_OVERHEAD {
        let len = i32::from_be_bytes([records[8], records[9], records[10], records[11]]);
        if usize::try_from(len).is_ok_and(|l| l + LOG_OVERHEAD < records.len()) {
            return Err(BatchError::BatchCount(2));
        }
    }
    let batch = SealedBatch::from_bytes(records.clone(), true).map_err(|e| match e {
        DecodeError::UnsupportedMagic(m) => BatchError::Magic(m),
        DecodeError::CrcMismatch { .. } => BatchError::Crc,
        e => BatchError::Corrupt(e.to_string()),
    })?;
    if batch.last_offset_delta() < 0 {
        return Err(BatchError::Corrupt("negative last offset delta".into()));
    }
    let h = BatchHeader::of(&batch);
    Ok((batch, h))
}

/// Whether the first batch of a produced record set is marked transactional, read from its
/// header alone (as Kafka's `RequestUtils.hasTransactionalRecords` looks at the first batch
/// of each partition before anything is validated); false for anything too short or not v2.
pub fn first_batch_is_transactional(records: &[u8]) -> bool {
    const MAGIC: usize = 16;
    const ATTRIBUTES: usize = 21;
    const TRANSACTIONAL: i16 = 0x10;
    records.len() >= ATTRIBUTES + 2
        && records[MAGIC] == 2
        && i16::from_be_bytes([records[ATTRIBUTES], records[ATTRIBUTES + 1]]) & TRANSACTIONAL != 0
}

/// Gives a batch its place in the log.
pub fn place(mut batch: SealedBatch, base_offset: i64, leader_epoch: i32) -> Bytes {
    batch.set_base_offset(base_offset);
    batch.set_partition_leader_epoch(leader_epoch);
    batch.into_bytes()
}

/// The control batch holding one end-transaction marker (KIP-98), placed at `base_offset`.
pub fn control_batch(
    base_offset: i64,
    leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    timestamp: i64,
) -> Option<Bytes> {
    let kind = if commit {
        ControlRecordType::Commit
    } else {
        ControlRecordType::Abort
    };
    let batch = end_txn_batch(
        EndTxnMarker::new(kind, 0),
        producer_id,
        producer_epoch,
        timestamp,
    )
    .ok()?;
    Some(place(batch, base_offset, leader_epoch))
}

#[cfg(test)]
pub(crate) use tests::{control_type, data_batch};

#[cfg(test)]
mod tests {
    use super::*;
    use klamm_protocol::record::{BatchBuilder, Compression, Header, RecordBatch};

    /// A data batch of `count` records.
    pub(crate) fn data_batch(pid: i64, epoch: i16, seq: i32, count: i32, txn: bool) -> Bytes {
        let mut b = BatchBuilder::new(Compression::None).transactional(txn);
        if pid >= 0 {
            b = b.producer(pid, epoch, seq);
        }
        for i in 0..count {
            b.append(1000 + i64::from(i), None, Some(b"v"), &[] as &[Header])
                .unwrap();
        }
        b.seal().unwrap().into_bytes()
    }

    /// Whether `b` is a commit (`true`) or abort marker; `None` for a data batch.
    pub(crate) fn control_type(b: &Bytes) -> Option<bool> {
        Some(
            RecordBatch::decode(b.clone())
                .ok()?
                .end_txn_marker()
                .ok()??
                .is_commit(),
        )
    }

    #[test]
    fn parses_and_places_without_touching_the_rest() {
        let b = data_batch(7, 3, 10, 5, true);
        let (sealed, h) = parse_single_batch(&b).unwrap();
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (7, 3, 10)
        );
        assert_eq!(h.last_sequence(), 14);
        assert!(h.is_transactional() && !h.is_control());
        let placed = place(sealed, 4242, 9);
        assert_eq!(
            RecordBatch::decode(placed.clone()).unwrap().base_offset(),
            4242
        );
        assert_eq!(&placed[16..], &b[16..]);
        assert_eq!(&placed[12..16], &9i32.to_be_bytes());
    }

    #[test]
    fn the_transactional_flag_is_read_from_the_header() {
        assert!(first_batch_is_transactional(&data_batch(7, 0, 0, 2, true)));
        assert!(!first_batch_is_transactional(&data_batch(
            7, 0, 0, 2, false
        )));
        let two = [
            data_batch(7, 0, 0, 1, true),
            data_batch(-1, -1, -1, 1, false),
        ]
        .concat();
        assert!(first_batch_is_transactional(&two));
        let mut v1 = data_batch(7, 0, 0, 1, true).to_vec();
        v1[16] = 1;
        assert!(!first_batch_is_transactional(&v1));
        assert!(!first_batch_is_transactional(&[0; 22]));
    }

    #[test]
    fn refuses_bad_batches() {
        let b = data_batch(1, 0, 0, 1, false);
        let mut corrupt = b.to_vec();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        assert_eq!(
            parse_single_batch(&Bytes::from(corrupt)).unwrap_err(),
            BatchError::Crc
        );
        assert!(matches!(
            parse_single_batch(&b.slice(..30)),
            Err(BatchError::Corrupt(_))
        ));
        assert_eq!(
            parse_single_batch(&Bytes::new()).unwrap_err(),
            BatchError::BatchCount(0)
        );
        let two = Bytes::from([b.to_vec(), b.to_vec()].concat());
        assert_eq!(
            parse_single_batch(&two).unwrap_err(),
            BatchError::BatchCount(2)
        );
        let mut magic = b.to_vec();
        magic[16] = 1;
        assert_eq!(
            parse_single_batch(&Bytes::from(magic)).unwrap_err(),
            BatchError::Magic(1)
        );
        let mut huge = b.to_vec();
        huge[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(matches!(
            parse_single_batch(&Bytes::from(huge)),
            Err(BatchError::Corrupt(_))
        ));
    }

    #[test]
    fn control_batches_are_valid_markers() {
        for commit in [true, false] {
            let b = control_batch(77, 2, 5, 1, commit, 123).unwrap();
            let (_, h) = parse_single_batch(&b).unwrap();
            assert!(h.is_control() && h.is_transactional());
            let read = RecordBatch::decode(b).unwrap();
            assert_eq!((read.base_offset(), read.producer_id()), (77, 5));
            assert_eq!(read.end_txn_marker().unwrap().unwrap().is_commit(), commit);
        }
    }
}
