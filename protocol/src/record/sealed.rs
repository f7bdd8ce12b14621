//! A finished RecordBatch v2 whose producer fields and base offset can still be set cheaply.

use bytes::{Bytes, BytesMut};

use crate::error::DecodeError;

use super::header::{Attributes, BatchHeader, be_i16, be_i32, be_i64, be_u32, off};
use super::{Compression, RECORD_BATCH_OVERHEAD, RecordBatch};

/// A sealed RecordBatch v2: exactly the bytes Kafka stores and sends, with a valid CRC-32C.
///
/// The header fields a producer assigns when it first drains the batch (producer id, epoch,
/// base sequence, transactional flag) and the ones a broker assigns (base offset, partition
/// leader epoch) can be set afterwards. Setting them rewrites those header bytes in place;
/// the fields under the CRC (producer id, epoch, base sequence, attributes) then cost one
/// hardware-accelerated CRC-32C pass over the batch (about 50 µs per MiB), never a re-encode.
/// (A producer that knows the fields before sealing sets them on the [`BatchBuilder`](super::BatchBuilder) instead,
/// and pays for the CRC once.)
///
/// Cloning is cheap ([`Bytes`] is reference counted); a setter called while a clone (say, of a
/// request in flight) is alive copies the batch first, so the clone never changes.
///
/// ```
/// use klamm_protocol::record::{BatchBuilder, Compression, RecordBatch, Header};
///
/// let mut b = BatchBuilder::new(Compression::None);
/// b.append(10, None, Some(b"x"), &[] as &[Header])?;
/// let mut batch = b.seal()?;
/// assert_eq!(batch.producer_id(), -1);
/// batch.set_producer(7, 1, 100);
/// batch.set_transactional(true);
/// batch.set_base_offset(5_000); // a broker assigns offsets
/// let read = RecordBatch::decode(batch.to_bytes())?; // verifies the CRC
/// assert_eq!((read.producer_id(), read.producer_epoch(), read.base_sequence()), (7, 1, 100));
/// assert!(read.is_transactional());
/// assert_eq!(read.base_offset(), 5_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBatch {
    bytes: Bytes,
}

impl SealedBatch {
    /// Wraps a buffer whose header fields (all but the CRC) are written; computes the CRC.
    pub(crate) fn from_written(mut buf: Vec<u8>) -> Self {
        let crc = crc32c::crc32c(&buf[off::ATTRIBUTES..]);
        buf[off::CRC..off::CRC + 4].copy_from_slice(&crc.to_be_bytes());
        SealedBatch {
            bytes: Bytes::from(buf),
        }
    }

    /// Takes an encoded v2 batch (say, from a Produce request a broker received) so that its
    /// base offset or partition leader epoch can be set. `bytes` must hold exactly one batch.
    /// With `verify_crc` the stored CRC is checked first ([`DecodeError::CrcMismatch`]).
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, Header, SealedBatch};
    /// let mut b = BatchBuilder::new(Compression::None);
    /// b.append(0, None, Some(b"x"), &[] as &[Header])?;
    /// let wire = b.seal()?.into_bytes();
    /// let mut stored = SealedBatch::from_bytes(wire, true)?;
    /// stored.set_base_offset(42);
    /// stored.set_partition_leader_epoch(3);
    /// assert_eq!(stored.last_offset(), 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_bytes(bytes: Bytes, verify_crc: bool) -> Result<Self, DecodeError> {
        let h = BatchHeader::parse(&bytes)?;
        if verify_crc {
            let computed = crc32c::crc32c(&bytes[off::ATTRIBUTES..]);
            if computed != h.crc {
                return Err(DecodeError::CrcMismatch {
                    stored: h.crc,
                    computed,
                });
            }
        }
        Ok(SealedBatch { bytes })
    }

    /// The encoded batch.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// assert_eq!(sealed.as_bytes().len(), sealed.size());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The encoded batch as [`Bytes`] (a cheap reference-counted clone).
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// let shared = sealed.to_bytes();
    /// assert_eq!(&shared[..], sealed.as_bytes());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_bytes(&self) -> Bytes {
        self.bytes.clone()
    }

    /// The encoded batch, consuming `self`.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// let size = sealed.size();
    /// assert_eq!(sealed.into_bytes().len(), size);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// The encoded size in bytes.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// assert_eq!(sealed.size(), RECORD_BATCH_OVERHEAD + 2 * 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// A decoding view of the batch (no CRC check: the batch was built or checked already).
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// let batch = sealed.decode()?;
    /// assert_eq!(batch.records()?.count(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decode(&self) -> Result<RecordBatch, DecodeError> {
        RecordBatch::decode_with(
            self.bytes.clone(),
            &super::DecodeOptions {
                verify_crc: false,
                ..Default::default()
            },
        )
    }

    /// The base offset.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// assert_eq!(sealed.base_offset(), 100);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn base_offset(&self) -> i64 {
        be_i64(&self.bytes, off::BASE_OFFSET)
    }

    /// The offset of the last record: base offset + last offset delta.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// assert_eq!(sealed.last_offset(), 101);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .wrapping_add(self.last_offset_delta() as i64)
    }

    /// The partition leader epoch.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// assert_eq!(sealed.partition_leader_epoch(), -1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn partition_leader_epoch(&self) -> i32 {
        be_i32(&self.bytes, off::PARTITION_LEADER_EPOCH)
    }

    /// The stored CRC-32C.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// assert_eq!(sealed.crc(), sealed.decode()?.computed_crc());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn crc(&self) -> u32 {
        be_u32(&self.bytes, off::CRC)
    }

    /// The attributes.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// assert!(!sealed.attributes().is_transactional());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attributes(&self) -> Attributes {
        Attributes(be_i16(&self.bytes, off::ATTRIBUTES))
    }

    /// The compression codec of the records section.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// assert_eq!(sealed.compression(), Compression::None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compression(&self) -> Compression {
        // Sealed batches carry a valid codec: they were built or parsed by this crate.
        self.attributes().compression().unwrap_or(Compression::None)
    }

    /// Whether the transactional flag is set.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// assert!(!sealed.is_transactional());
    /// sealed.set_transactional(true);
    /// assert!(sealed.is_transactional());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_transactional(&self) -> bool {
        self.attributes().is_transactional()
    }

    /// Whether this is a control batch.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// assert!(!sealed.is_control());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_control(&self) -> bool {
        self.attributes().is_control()
    }

    /// The offset delta of the last record.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// assert_eq!(sealed.last_offset_delta(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn last_offset_delta(&self) -> i32 {
        be_i32(&self.bytes, off::LAST_OFFSET_DELTA)
    }

    /// The first record's timestamp.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// assert_eq!(sealed.base_timestamp(), 1_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn base_timestamp(&self) -> i64 {
        be_i64(&self.bytes, off::BASE_TIMESTAMP)
    }

    /// The largest record timestamp.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// assert_eq!(sealed.max_timestamp(), 1_005);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_timestamp(&self) -> i64 {
        be_i64(&self.bytes, off::MAX_TIMESTAMP)
    }

    /// The producer id (-1 when not idempotent).
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// assert_eq!(sealed.producer_id(), 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn producer_id(&self) -> i64 {
        be_i64(&self.bytes, off::PRODUCER_ID)
    }

    /// The producer epoch.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// assert_eq!(sealed.producer_epoch(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn producer_epoch(&self) -> i16 {
        be_i16(&self.bytes, off::PRODUCER_EPOCH)
    }

    /// The first record's sequence number (-1 when not idempotent).
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// assert_eq!(sealed.base_sequence(), 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn base_sequence(&self) -> i32 {
        be_i32(&self.bytes, off::BASE_SEQUENCE)
    }

    /// The last record's sequence number, wrapping past `i32::MAX` to 0 as Kafka does
    /// (-1 when not idempotent).
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// assert_eq!(sealed.last_sequence(), 11);
    /// sealed.set_base_sequence(i32::MAX);
    /// assert_eq!(sealed.last_sequence(), 0); // wraps
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn last_sequence(&self) -> i32 {
        last_sequence(self.base_sequence(), self.last_offset_delta())
    }

    /// The number of records.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// assert_eq!(sealed.record_count(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn record_count(&self) -> i32 {
        be_i32(&self.bytes, off::RECORD_COUNT)
    }

    /// Sets the base offset (outside the CRC: no CRC work).
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// sealed.set_base_offset(5_000);
    /// assert_eq!(sealed.last_offset(), 5_001);
    /// assert!(sealed.decode()?.verify_crc().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_base_offset(&mut self, base_offset: i64) {
        self.edit(false, |h| {
            h[off::BASE_OFFSET..off::BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes())
        });
    }

    /// Sets the partition leader epoch (outside the CRC: no CRC work).
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// sealed.set_partition_leader_epoch(3);
    /// assert_eq!(sealed.partition_leader_epoch(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_partition_leader_epoch(&mut self, epoch: i32) {
        self.edit(false, |h| {
            h[off::PARTITION_LEADER_EPOCH..off::PARTITION_LEADER_EPOCH + 4]
                .copy_from_slice(&epoch.to_be_bytes())
        });
    }

    /// Sets the producer id, epoch and base sequence and recomputes the CRC.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// sealed.set_producer(42, 0, 0);
    /// assert_eq!((sealed.producer_id(), sealed.producer_epoch(), sealed.base_sequence()), (42, 0, 0));
    /// assert!(sealed.decode()?.verify_crc().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_producer(&mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) {
        self.edit(true, |h| {
            h[off::PRODUCER_ID..off::PRODUCER_ID + 8].copy_from_slice(&producer_id.to_be_bytes());
            h[off::PRODUCER_EPOCH..off::PRODUCER_EPOCH + 2]
                .copy_from_slice(&producer_epoch.to_be_bytes());
            h[off::BASE_SEQUENCE..off::BASE_SEQUENCE + 4]
                .copy_from_slice(&base_sequence.to_be_bytes());
        });
    }

    /// Sets the base sequence alone (say, after an epoch bump resets sequences, KIP-360) and
    /// recomputes the CRC.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// sealed.set_base_sequence(0);
    /// assert_eq!(sealed.last_sequence(), 1);
    /// assert!(sealed.decode()?.verify_crc().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_base_sequence(&mut self, base_sequence: i32) {
        self.edit(true, |h| {
            h[off::BASE_SEQUENCE..off::BASE_SEQUENCE + 4]
                .copy_from_slice(&base_sequence.to_be_bytes())
        });
    }

    /// Sets or clears the transactional flag and recomputes the CRC.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let mut sealed = b.seal()?;
    /// sealed.set_transactional(true);
    /// assert!(sealed.decode()?.is_transactional());
    /// assert!(sealed.decode()?.verify_crc().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_transactional(&mut self, on: bool) {
        let attrs = self.attributes().with_transactional(on);
        self.edit(true, |h| {
            h[off::ATTRIBUTES..off::ATTRIBUTES + 2].copy_from_slice(&attrs.0.to_be_bytes())
        });
    }

    /// Applies `f` to the 61 header bytes (copying the batch first if a clone shares it), then
    /// recomputes the CRC when a covered field changed.
    fn edit(&mut self, crc: bool, f: impl FnOnce(&mut [u8])) {
        let mut buf = match std::mem::take(&mut self.bytes).try_into_mut() {
            Ok(unique) => unique,
            Err(shared) => BytesMut::from(&shared[..]),
        };
        f(&mut buf[..RECORD_BATCH_OVERHEAD]);
        if crc {
            let c = crc32c::crc32c(&buf[off::ATTRIBUTES..]);
            buf[off::CRC..off::CRC + 4].copy_from_slice(&c.to_be_bytes());
        }
        self.bytes = buf.freeze();
    }
}

impl AsRef<[u8]> for SealedBatch {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl From<SealedBatch> for Bytes {
    fn from(b: SealedBatch) -> Bytes {
        b.bytes
    }
}

/// Kafka's sequence arithmetic: sequences wrap from `i32::MAX` to 0.
pub(crate) fn last_sequence(base_sequence: i32, last_offset_delta: i32) -> i32 {
    if base_sequence < 0 {
        return base_sequence;
    }
    let inc = last_offset_delta.max(0);
    if base_sequence > i32::MAX - inc {
        inc - (i32::MAX - base_sequence) - 1
    } else {
        base_sequence + inc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_wraps_like_kafka() {
        assert_eq!(last_sequence(0, 4), 4);
        assert_eq!(last_sequence(-1, 4), -1);
        assert_eq!(last_sequence(i32::MAX, 0), i32::MAX);
        assert_eq!(last_sequence(i32::MAX, 1), 0);
        assert_eq!(last_sequence(i32::MAX - 1, 3), 1);
    }
}
