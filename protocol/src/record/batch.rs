//! Decoding one RecordBatch v2.

use bytes::Bytes;

use crate::error::DecodeError;

use super::control::{ControlRecordType, EndTxnMarker};
use super::header::{Attributes, BatchHeader, TimestampType, off};
use super::records::{MIN_RECORD_SIZE, Records};
use super::{Compression, DEFAULT_MAX_DECOMPRESSED_SIZE, RECORD_BATCH_OVERHEAD};

/// Options for decoding record batches.
///
/// ```
/// use klamm_protocol::record::DecodeOptions;
/// let lenient = DecodeOptions { verify_crc: false, ..DecodeOptions::default() };
/// assert_eq!(lenient.max_decompressed_size, 64 * 1024 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Check each batch's CRC-32C (default `true`); a mismatch is
    /// [`DecodeError::CrcMismatch`]. Turn it off to read batches from peers known to write a
    /// wrong CRC (the librdkafka mock cluster writes 0 in its control batches).
    pub verify_crc: bool,
    /// The largest decompressed records section accepted for one batch (default 64 MiB,
    /// [`DEFAULT_MAX_DECOMPRESSED_SIZE`]). Bigger ones fail instead of allocating.
    pub max_decompressed_size: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            verify_crc: true,
            max_decompressed_size: DEFAULT_MAX_DECOMPRESSED_SIZE,
        }
    }
}

/// One decoded RecordBatch v2: its header fields, with the records read lazily by
/// [`records`](Self::records).
///
/// ```
/// use klamm_protocol::record::{BatchBuilder, Compression, Header, RecordBatch};
/// let mut b = BatchBuilder::new(Compression::None);
/// b.append(100, Some(b"k"), None, &[] as &[Header])?;
/// let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
/// assert_eq!(batch.record_count(), 1);
/// let r = batch.records()?.next().unwrap()?;
/// assert_eq!((r.offset, r.timestamp, r.value), (0, 100, None));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    bytes: Bytes,
    header: BatchHeader,
    compression: Compression,
    max_decompressed_size: usize,
}

impl RecordBatch {
    /// Decodes the one batch that `bytes` holds exactly, verifying its CRC.
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS, RecordBatch};
    /// let mut b = BatchBuilder::new(Compression::Lz4);
    /// b.append(0, Some(b"k"), Some(b"v"), NO_HEADERS)?;
    /// let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.compression(), Compression::Lz4);
    /// assert_eq!(batch.records()?.next().unwrap()?.key.as_deref(), Some(&b"k"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decode(bytes: Bytes) -> Result<Self, DecodeError> {
        Self::decode_with(bytes, &DecodeOptions::default())
    }

    /// Decodes the one batch that `bytes` holds exactly, with options.
    ///
    /// Checks the magic byte, the batch length against the input, the record count (not
    /// negative, and not more records than the section could hold), the compression codec
    /// and, when asked, the CRC. Records are not read until [`records`](Self::records).
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, DecodeOptions, NO_HEADERS, RecordBatch};
    /// let mut b = BatchBuilder::new(Compression::None);
    /// b.append(0, None, Some(b"v"), NO_HEADERS)?;
    /// let mut bytes = b.seal()?.into_bytes().to_vec();
    /// bytes[21] ^= 1; // damage the stored CRC
    /// assert!(RecordBatch::decode(bytes.clone().into()).is_err());
    /// let lenient = DecodeOptions { verify_crc: false, ..DecodeOptions::default() };
    /// assert_eq!(RecordBatch::decode_with(bytes.into(), &lenient)?.record_count(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decode_with(bytes: Bytes, opts: &DecodeOptions) -> Result<Self, DecodeError> {
        let header = BatchHeader::parse(&bytes)?;
        let compression = header.attributes.compression()?;
        let section = bytes.len() - RECORD_BATCH_OVERHEAD;
        let bound = if compression == Compression::None {
            section
        } else {
            opts.max_decompressed_size
        };
        if header.record_count as u64 * MIN_RECORD_SIZE as u64 > bound as u64 {
            return Err(DecodeError::InvalidLength {
                what: "record count",
                len: header.record_count as i64,
                remaining: section,
            });
        }
        let batch = RecordBatch {
            bytes,
            header,
            compression,
            max_decompressed_size: opts.max_decompressed_size,
        };
        if opts.verify_crc {
            batch.verify_crc()?;
        }
        Ok(batch)
    }

    /// Checks the stored CRC-32C against the batch contents.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert!(batch.verify_crc().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify_crc(&self) -> Result<(), DecodeError> {
        let computed = self.computed_crc();
        if computed != self.header.crc {
            return Err(DecodeError::CrcMismatch {
                stored: self.header.crc,
                computed,
            });
        }
        Ok(())
    }

    /// The CRC-32C of the batch contents (attributes to the end), as it should be stored.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.computed_crc(), batch.crc());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn computed_crc(&self) -> u32 {
        crc32c::crc32c(&self.bytes[off::ATTRIBUTES..])
    }

    /// The whole encoded batch.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.as_bytes().len(), batch.size());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The encoded size in bytes.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.size(), RECORD_BATCH_OVERHEAD + 2 * 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// The base offset.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.base_offset(), 100);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn base_offset(&self) -> i64 {
        self.header.base_offset
    }

    /// The offset of the last record (base offset + last offset delta).
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.last_offset(), 101);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn last_offset(&self) -> i64 {
        self.header
            .base_offset
            .wrapping_add(self.header.last_offset_delta as i64)
    }

    /// The offset after this batch: where the next batch starts.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.next_offset(), 102);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// The batch length field (size minus the 12 bytes before it).
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.batch_length() as usize, batch.size() - LOG_OVERHEAD);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn batch_length(&self) -> i32 {
        self.header.batch_length
    }

    /// The partition leader epoch.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.partition_leader_epoch(), NO_PARTITION_LEADER_EPOCH);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn partition_leader_epoch(&self) -> i32 {
        self.header.partition_leader_epoch
    }

    /// The CRC-32C stored in the batch.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.crc(), batch.computed_crc());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn crc(&self) -> u32 {
        self.header.crc
    }

    /// The attributes.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.attributes().compression()?, Compression::None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attributes(&self) -> Attributes {
        self.header.attributes
    }

    /// The compression codec of the records section.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.compression(), Compression::None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The timestamp type.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn timestamp_type(&self) -> TimestampType {
        self.header.attributes.timestamp_type()
    }

    /// Whether the batch belongs to a transaction.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert!(!batch.is_transactional());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_transactional(&self) -> bool {
        self.header.attributes.is_transactional()
    }

    /// Whether the batch holds control records (transaction markers).
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert!(!batch.is_control());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_control(&self) -> bool {
        self.header.attributes.is_control()
    }

    /// The last record's offset delta.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.last_offset_delta(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn last_offset_delta(&self) -> i32 {
        self.header.last_offset_delta
    }

    /// The base timestamp (the first record's, or the delete horizon, see
    /// [`Attributes::has_delete_horizon`]).
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.base_timestamp(), 1_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn base_timestamp(&self) -> i64 {
        self.header.base_timestamp
    }

    /// The largest timestamp (the append time for `LogAppendTime` batches).
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.max_timestamp(), 1_005);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_timestamp(&self) -> i64 {
        self.header.max_timestamp
    }

    /// The producer id (-1 when not idempotent).
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.producer_id(), 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn producer_id(&self) -> i64 {
        self.header.producer_id
    }

    /// The producer epoch.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.producer_epoch(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn producer_epoch(&self) -> i16 {
        self.header.producer_epoch
    }

    /// The base sequence (-1 when not idempotent).
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.base_sequence(), 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn base_sequence(&self) -> i32 {
        self.header.base_sequence
    }

    /// The last record's sequence, wrapping like Kafka's.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.last_sequence(), 11);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn last_sequence(&self) -> i32 {
        super::sealed::last_sequence(self.header.base_sequence, self.header.last_offset_delta)
    }

    /// The number of records the header announces.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.record_count(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn record_count(&self) -> i32 {
        self.header.record_count
    }

    /// The records, read lazily. A compressed batch is decompressed here, into one buffer
    /// bounded by [`DecodeOptions::max_decompressed_size`]; the records' keys, values and
    /// header values are zero-copy slices of that buffer (or of the batch when uncompressed).
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(100).producer(7, 1, 10);
    /// # b.append(1_000, None, Some(b"a"), NO_HEADERS)?;
    /// # b.append(1_005, None, Some(b"b"), NO_HEADERS)?;
    /// # let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// let offsets: Vec<i64> = batch.records()?.map(|r| r.map(|r| r.offset)).collect::<Result<_, _>>()?;
    /// assert_eq!(offsets, [100, 101]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn records(&self) -> Result<Records, DecodeError> {
        let section = self.bytes.slice(RECORD_BATCH_OVERHEAD..);
        let section = if self.compression == Compression::None {
            section
        } else {
            Bytes::from(
                self.compression
                    .decompress(&section, self.max_decompressed_size)?,
            )
        };
        Records::new(section, &self.header)
    }

    /// For a control batch, the transaction marker it holds (`None` for data batches and for
    /// control batches of other types, such as KRaft's).
    ///
    /// ```
    /// use klamm_protocol::record::{control, ControlRecordType, EndTxnMarker, RecordBatch};
    /// let marker = EndTxnMarker::new(ControlRecordType::Commit, 5);
    /// let batch = control::end_txn_batch(marker, 1000, 0, 1_700_000_000_000)?;
    /// let read = RecordBatch::decode(batch.into_bytes())?;
    /// assert_eq!(read.end_txn_marker()?, Some(marker));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn end_txn_marker(&self) -> Result<Option<EndTxnMarker>, DecodeError> {
        if !self.is_control() {
            return Ok(None);
        }
        let Some(r) = self.records()?.next() else {
            return Err(DecodeError::Invalid {
                what: "control batch",
                detail: "no control record".into(),
            });
        };
        let r = r?;
        let key = r.key.as_deref().ok_or(DecodeError::UnexpectedNull {
            field: "control record key",
        })?;
        match ControlRecordType::from_key(key)? {
            ControlRecordType::Commit | ControlRecordType::Abort => {
                EndTxnMarker::from_record(&r).map(Some)
            }
            _ => Ok(None),
        }
    }
}
