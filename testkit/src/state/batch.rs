//! The fixed header of a RecordBatch v2 as the broker needs it: read it, validate it, rewrite
//! the base offset and partition leader epoch in place, and write control (marker) batches.
//!
//! Only fields outside the CRC-protected region are ever rewritten, so the batch stays
//! byte-identical to what the producer wrote apart from its base offset and leader epoch.

use bytes::{BufMut, Bytes, BytesMut};

/// Size of the RecordBatch v2 header up to and including the record count.
pub const HEADER_LEN: usize = 61;
/// Offset of the first byte covered by the CRC (the attributes field).
const CRC_START: usize = 21;
const ATTR_TRANSACTIONAL: i16 = 0x10;
const ATTR_CONTROL: i16 = 0x20;

/// Why a produced record set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Shorter than a header, or the length field disagrees with the bytes.
    #[error("record batch is truncated or its length field is wrong")]
    Truncated,
    /// Magic byte other than 2.
    #[error("record batch magic {0} is not supported (only v2)")]
    Magic(i8),
    /// CRC-32C mismatch.
    #[error("record batch CRC mismatch: header says {expected:#010x}, computed {actual:#010x}")]
    Crc {
        /// CRC in the header.
        expected: u32,
        /// CRC of the bytes.
        actual: u32,
    },
    /// The record set holds no batch or more than one.
    #[error("expected exactly one record batch, found {0}")]
    BatchCount(usize),
    /// Negative record count or offset delta.
    #[error("record batch has an invalid record count or offset delta")]
    Invalid,
}

/// The header fields of one RecordBatch v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Base offset as written (producers write 0).
    pub base_offset: i64,
    /// Offset of the last record relative to the base offset.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest timestamp in the batch.
    pub max_timestamp: i64,
    /// Producer id, -1 when not idempotent.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 when not idempotent.
    pub base_sequence: i32,
    /// Number of records.
    pub record_count: i32,
    /// Raw attributes.
    pub attributes: i16,
}

impl BatchHeader {
    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }

    /// Whether the batch is a control batch (commit/abort markers).
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }

    /// Sequence of the last record (wrapping like Kafka's `DefaultRecordBatch.lastSequence`).
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        if last > i64::from(i32::MAX) {
            (last - i64::from(i32::MAX) - 1) as i32
        } else {
            last as i32
        }
    }
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Reads and validates (length, magic, CRC) the single batch of a produced record set.
///
/// Kafka accepts exactly one batch per partition in Produce v3+.
pub fn parse_single_batch(records: &[u8]) -> Result<BatchHeader, BatchError> {
    if records.len() < HEADER_LEN {
        return Err(if records.is_empty() {
            BatchError::BatchCount(0)
        } else {
            BatchError::Truncated
        });
    }
    let batch_len = i32_at(records, 8);
    let total = usize::try_from(batch_len)
        .ok()
        .and_then(|l| l.checked_add(12))
        .ok_or(BatchError::Truncated)?;
    if total < HEADER_LEN || total > records.len() {
        return Err(BatchError::Truncated);
    }
    if total < records.len() {
        return Err(BatchError::BatchCount(2));
    }
    let magic = records[16] as i8;
    if magic != 2 {
        return Err(BatchError::Magic(magic));
    }
    let expected = u32::from_be_bytes([records[17], records[18], records[19], records[20]]);
    let actual = crc32c::crc32c(&records[CRC_START..total]);
    if expected != actual {
        return Err(BatchError::Crc { expected, actual });
    }
    let header = read_header(records);
    if header.last_offset_delta < 0 || header.record_count < 0 {
        return Err(BatchError::Invalid);
    }
    Ok(header)
}

/// Reads the header of a batch already known to be at least [`HEADER_LEN`] bytes long.
fn read_header(b: &[u8]) -> BatchHeader {
    BatchHeader {
        base_offset: i64_at(b, 0),
        attributes: i16_at(b, 21),
        last_offset_delta: i32_at(b, 23),
        base_timestamp: i64_at(b, 27),
        max_timestamp: i64_at(b, 35),
        producer_id: i64_at(b, 43),
        producer_epoch: i16_at(b, 51),
        base_sequence: i32_at(b, 53),
        record_count: i32_at(b, 57),
    }
}

/// Copies `batch` with its base offset and partition leader epoch replaced (fields outside the
/// CRC, so the CRC stays valid).
pub fn with_base_offset(batch: &[u8], base_offset: i64, leader_epoch: i32) -> Bytes {
    let mut out = BytesMut::from(batch);
    out[0..8].copy_from_slice(&base_offset.to_be_bytes());
    out[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
    out.freeze()
}

fn put_varint(buf: &mut BytesMut, v: i32) {
    let mut z = ((v << 1) ^ (v >> 31)) as u32;
    while z >= 0x80 {
        buf.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    buf.put_u8(z as u8);
}

/// Writes a control batch holding one end-transaction marker (KIP-98), as the transaction
/// coordinator asks partition leaders to do.
pub fn control_batch(
    base_offset: i64,
    leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    timestamp: i64,
) -> Bytes {
    // The one record: key = (version 0, type), value = (version 0, coordinator epoch).
    let mut record = BytesMut::with_capacity(24);
    record.put_i8(0); // attributes
    put_varint(&mut record, 0); // timestamp delta (varlong 0 encodes the same)
    put_varint(&mut record, 0); // offset delta
    put_varint(&mut record, 4);
    record.put_i16(0);
    record.put_i16(i16::from(commit));
    put_varint(&mut record, 6);
    record.put_i16(0);
    record.put_i32(coordinator_epoch);
    put_varint(&mut record, 0); // headers
    let mut body = BytesMut::with_capacity(64);
    body.put_i16(ATTR_TRANSACTIONAL | ATTR_CONTROL);
    body.put_i32(0); // last offset delta
    body.put_i64(timestamp);
    body.put_i64(timestamp);
    body.put_i64(producer_id);
    body.put_i16(producer_epoch);
    body.put_i32(-1); // base sequence
    body.put_i32(1); // record count
    put_varint(&mut body, record.len() as i32);
    body.put_slice(&record);

    let mut out = BytesMut::with_capacity(HEADER_LEN + 24);
    out.put_i64(base_offset);
    out.put_i32((body.len() + 9) as i32); // leader epoch + magic + crc + body
    out.put_i32(leader_epoch);
    out.put_i8(2);
    out.put_u32(crc32c::crc32c(&body));
    out.put_slice(&body);
    out.freeze()
}

/// Reads the marker type of a control batch written by [`control_batch`] (or by Kafka):
/// `Some(true)` for COMMIT, `Some(false)` for ABORT.
pub fn control_type(batch: &[u8]) -> Option<bool> {
    // The first record starts after the header: length varint, attributes, ts delta,
    // offset delta, key length, then the key (version i16, type i16).
    let rec = batch.get(HEADER_LEN..)?;
    // All of these varints are one byte in a marker record.
    let key_type_at = 1 + 1 + 1 + 1 + 1 + 2;
    let t = i16::from_be_bytes([*rec.get(key_type_at)?, *rec.get(key_type_at + 1)?]);
    match t {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) use tests::data_batch;

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal data batch with `count` empty records' worth of offsets (no record bodies,
    /// which the broker never looks at).
    pub(crate) fn data_batch(pid: i64, epoch: i16, seq: i32, count: i32, txn: bool) -> Bytes {
        let mut body = BytesMut::new();
        body.put_i16(if txn { ATTR_TRANSACTIONAL } else { 0 });
        body.put_i32(count - 1);
        body.put_i64(1000);
        body.put_i64(1000 + i64::from(count));
        body.put_i64(pid);
        body.put_i16(epoch);
        body.put_i32(seq);
        body.put_i32(count);
        let mut out = BytesMut::new();
        out.put_i64(0);
        out.put_i32((body.len() + 9) as i32);
        out.put_i32(-1);
        out.put_i8(2);
        out.put_u32(crc32c::crc32c(&body));
        out.put_slice(&body);
        out.freeze()
    }

    #[test]
    fn parses_and_rewrites_without_touching_crc() {
        let b = data_batch(7, 3, 10, 5, true);
        let h = parse_single_batch(&b).unwrap();
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (7, 3, 10)
        );
        assert_eq!(h.last_sequence(), 14);
        assert!(h.is_transactional() && !h.is_control());
        let moved = with_base_offset(&b, 4242, 9);
        let h2 = parse_single_batch(&moved).unwrap();
        assert_eq!(h2.base_offset, 4242);
        assert_eq!(&moved[16..], &b[16..]);
    }

    #[test]
    fn refuses_bad_batches() {
        let b = data_batch(1, 0, 0, 1, false);
        let mut corrupt = BytesMut::from(&b[..]);
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        assert!(matches!(
            parse_single_batch(&corrupt),
            Err(BatchError::Crc { .. })
        ));
        assert_eq!(parse_single_batch(&b[..30]), Err(BatchError::Truncated));
        assert_eq!(parse_single_batch(&[]), Err(BatchError::BatchCount(0)));
        let mut two = BytesMut::from(&b[..]);
        two.extend_from_slice(&b);
        assert_eq!(parse_single_batch(&two), Err(BatchError::BatchCount(2)));
        let mut magic = BytesMut::from(&b[..]);
        magic[16] = 1;
        assert_eq!(parse_single_batch(&magic), Err(BatchError::Magic(1)));
        let mut huge = BytesMut::from(&b[..]);
        huge[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(parse_single_batch(&huge), Err(BatchError::Truncated));
    }

    #[test]
    fn sequence_wraps_like_kafka() {
        let mut h = parse_single_batch(&data_batch(1, 0, i32::MAX - 1, 3, false)).unwrap();
        assert_eq!(h.last_sequence(), 0);
        h.base_sequence = -1;
        assert_eq!(h.last_sequence(), -1);
    }

    #[test]
    fn control_batches_are_valid_and_typed() {
        for commit in [true, false] {
            let b = control_batch(77, 2, 5, 1, commit, 0, 123);
            let h = parse_single_batch(&b).unwrap();
            assert!(h.is_control() && h.is_transactional());
            assert_eq!((h.base_offset, h.producer_id, h.record_count), (77, 5, 1));
            assert_eq!(control_type(&b), Some(commit));
        }
    }
}
