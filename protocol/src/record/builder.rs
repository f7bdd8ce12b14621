//! The append-only RecordBatch v2 builder.

use crate::error::EncodeError;

use super::header::{Attributes, TimestampType};
use super::write::{AsHeader, nullable_len_len, put_nullable, put_varlong, varlong_len, zigzag64};
use super::{
    Compression, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
    RECORD_BATCH_OVERHEAD, SealedBatch,
};

/// The batch capacity [`BatchBuilder::new`] reserves: Kafka's default `batch.size`, 16 KiB.
///
/// ```
/// use klamm_protocol::record::{BatchBuilder, Compression, DEFAULT_CAPACITY};
/// // Appending up to this size does not reallocate.
/// let b = BatchBuilder::new(Compression::None);
/// assert!(b.size() < DEFAULT_CAPACITY);
/// ```
pub const DEFAULT_CAPACITY: usize = 16 * 1024;

/// Builds one RecordBatch v2: records are appended straight into one buffer (no allocation per
/// record once the buffer has grown to the batch size), then [`seal`](Self::seal)ed.
///
/// The producer id, epoch, base sequence and transactional flag may be set here or later on
/// the [`SealedBatch`] (a producer assigns them when it first drains the batch). Compression is
/// applied to the records section at seal time.
///
/// ```
/// use klamm_protocol::record::{BatchBuilder, Compression, Header};
///
/// let mut b = BatchBuilder::with_capacity(Compression::None, 1024);
/// let batch_size = 1024;
/// let (key, value) = (Some(&b"user-1"[..]), Some(&b"clicked"[..]));
/// let headers = [Header::new("source", Some(b"web"))];
/// // A producer checks the size before appending, and seals when the batch is full.
/// if b.size_with(1_700_000_000_000, key, value, &headers) <= batch_size {
///     let offset_delta = b.append(1_700_000_000_000, key, value, &headers)?;
///     assert_eq!(offset_delta, 0);
/// }
/// let batch = b.seal()?;
/// assert_eq!(batch.record_count(), 1);
/// assert_eq!(batch.size(), 61 + 31);
/// # Ok::<(), klamm_protocol::EncodeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    /// The 61-byte header (written at seal time) followed by the uncompressed records.
    buf: Vec<u8>,
    compression: Compression,
    level: Option<i32>,
    attributes: Attributes,
    base_offset: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    count: i32,
}

impl BatchBuilder {
    /// An empty batch with [`DEFAULT_CAPACITY`] reserved.
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression};
    /// let b = BatchBuilder::new(Compression::Zstd);
    /// assert!(b.is_empty());
    /// assert_eq!(b.compression(), Compression::Zstd);
    /// ```
    pub fn new(compression: Compression) -> Self {
        Self::with_capacity(compression, DEFAULT_CAPACITY)
    }

    /// An empty batch with room for `capacity` bytes (header included) before it reallocates.
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS};
    /// let mut b = BatchBuilder::with_capacity(Compression::None, 1 << 20);
    /// for i in 0..1000 {
    ///     b.append(i, None, Some(&[0; 100]), NO_HEADERS)?;
    /// }
    /// assert_eq!(b.seal()?.record_count(), 1000);
    /// # Ok::<(), klamm_protocol::EncodeError>(())
    /// ```
    pub fn with_capacity(compression: Compression, capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity.max(RECORD_BATCH_OVERHEAD));
        buf.resize(RECORD_BATCH_OVERHEAD, 0);
        BatchBuilder {
            buf,
            compression,
            level: None,
            attributes: Attributes::default().with_compression(compression),
            base_offset: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            base_timestamp: -1,
            max_timestamp: -1,
            count: 0,
        }
    }

    /// Sets the producer id, epoch and base sequence (idempotent / transactional producers).
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS};
    /// let mut b = BatchBuilder::new(Compression::None).producer(1000, 0, 42);
    /// b.append(0, None, None, NO_HEADERS)?;
    /// b.append(0, None, None, NO_HEADERS)?;
    /// let sealed = b.seal()?;
    /// assert_eq!((sealed.base_sequence(), sealed.last_sequence()), (42, 43));
    /// # Ok::<(), klamm_protocol::EncodeError>(())
    /// ```
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Sets the compression level (Kafka's `compression.<codec>.level`, KIP-390): gzip 1-9
    /// (default 6), zstd -131072 to 22 (default 3, out-of-range levels are clamped by zstd).
    /// LZ4 and snappy have no level here (the LZ4 frames are the same format at any level).
    /// An invalid gzip level fails at [`seal`](Self::seal).
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS, RecordBatch};
    /// let mut b = BatchBuilder::new(Compression::Zstd).compression_level(19);
    /// b.append(0, None, Some(&[7; 1000]), NO_HEADERS)?;
    /// let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// assert_eq!(batch.records()?.count(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compression_level(mut self, level: i32) -> Self {
        self.level = Some(level);
        self
    }

    /// Marks the batch as part of a transaction.
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS};
    /// let mut b = BatchBuilder::new(Compression::None).producer(1000, 0, 0).transactional(true);
    /// b.append(0, None, None, NO_HEADERS)?;
    /// assert!(b.seal()?.is_transactional());
    /// # Ok::<(), klamm_protocol::EncodeError>(())
    /// ```
    pub fn transactional(mut self, on: bool) -> Self {
        self.attributes = self.attributes.with_transactional(on);
        self
    }

    /// Marks the batch as a control batch (see [`control`](super::control) for markers).
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, ControlRecordType, EndTxnMarker, NO_HEADERS};
    /// // What `control::end_txn_batch` does for transaction markers.
    /// let marker = EndTxnMarker::new(ControlRecordType::Commit, 0);
    /// let mut b = BatchBuilder::new(Compression::None).transactional(true).control(true);
    /// b.append(0, Some(&marker.key()), Some(&marker.value()), NO_HEADERS)?;
    /// assert!(b.seal()?.is_control());
    /// # Ok::<(), klamm_protocol::EncodeError>(())
    /// ```
    pub fn control(mut self, on: bool) -> Self {
        self.attributes = self.attributes.with_control(on);
        self
    }

    /// Sets the timestamp type (producers write `CreateTime`, the default).
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS, TimestampType};
    /// let mut b = BatchBuilder::new(Compression::None).timestamp_type(TimestampType::LogAppendTime);
    /// b.append(5, None, None, NO_HEADERS)?;
    /// assert_eq!(b.seal()?.decode()?.timestamp_type(), TimestampType::LogAppendTime);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn timestamp_type(mut self, t: TimestampType) -> Self {
        self.attributes = self.attributes.with_timestamp_type(t);
        self
    }

    /// Sets the base offset (0 by default; a broker assigns the real one).
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS};
    /// let mut b = BatchBuilder::new(Compression::None).base_offset(500);
    /// b.append(0, None, None, NO_HEADERS)?;
    /// assert_eq!(b.seal()?.base_offset(), 500);
    /// # Ok::<(), klamm_protocol::EncodeError>(())
    /// ```
    pub fn base_offset(mut self, base_offset: i64) -> Self {
        self.base_offset = base_offset;
        self
    }

    /// Sets the partition leader epoch (-1 by default; a broker fills it in).
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS};
    /// let mut b = BatchBuilder::new(Compression::None).partition_leader_epoch(4);
    /// b.append(0, None, None, NO_HEADERS)?;
    /// assert_eq!(b.seal()?.partition_leader_epoch(), 4);
    /// # Ok::<(), klamm_protocol::EncodeError>(())
    /// ```
    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Sets the producer id, epoch and base sequence on a builder in place (a producer
    /// draining the batch assigns them just before sealing, so the CRC is computed once).
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS};
    /// let mut b = BatchBuilder::new(Compression::None);
    /// b.append(0, None, Some(b"v"), NO_HEADERS)?;
    /// // Assigned when the batch is drained, before the one CRC computation.
    /// b.set_producer(7, 2, 100);
    /// let sealed = b.seal()?;
    /// assert_eq!((sealed.producer_id(), sealed.producer_epoch(), sealed.base_sequence()), (7, 2, 100));
    /// # Ok::<(), klamm_protocol::EncodeError>(())
    /// ```
    pub fn set_producer(&mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
    }

    /// Sets or clears the transactional flag in place.
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS};
    /// let mut b = BatchBuilder::new(Compression::None);
    /// b.append(0, None, None, NO_HEADERS)?;
    /// b.set_transactional(true);
    /// assert!(b.seal()?.is_transactional());
    /// # Ok::<(), klamm_protocol::EncodeError>(())
    /// ```
    pub fn set_transactional(&mut self, on: bool) {
        self.attributes = self.attributes.with_transactional(on);
    }

    /// The compression applied at seal time.
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression};
    /// assert_eq!(BatchBuilder::new(Compression::Gzip).compression(), Compression::Gzip);
    /// ```
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The number of records appended so far.
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS};
    /// let mut b = BatchBuilder::new(Compression::None);
    /// b.append(0, None, None, NO_HEADERS)?;
    /// assert_eq!(b.record_count(), 1);
    /// # Ok::<(), klamm_protocol::EncodeError>(())
    /// ```
    pub fn record_count(&self) -> i32 {
        self.count
    }

    /// Whether no record was appended yet.
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS};
    /// let mut b = BatchBuilder::new(Compression::None);
    /// assert!(b.is_empty());
    /// b.append(0, None, None, NO_HEADERS)?;
    /// assert!(!b.is_empty());
    /// # Ok::<(), klamm_protocol::EncodeError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The size of the batch so far, header included, before compression. For an uncompressed
    /// batch this is exactly the sealed size; compression usually makes the sealed batch
    /// smaller (but may, for incompressible data, add a few bytes of framing).
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS, RECORD_BATCH_OVERHEAD};
    /// let mut b = BatchBuilder::new(Compression::None);
    /// assert_eq!(b.size(), RECORD_BATCH_OVERHEAD);
    /// b.append(0, None, Some(b"v"), NO_HEADERS)?;
    /// assert_eq!(b.size(), b.clone().seal()?.size());
    /// # Ok::<(), klamm_protocol::EncodeError>(())
    /// ```
    pub fn size(&self) -> usize {
        self.buf.len()
    }

    /// The first record's timestamp (the batch's base timestamp), if any record was appended.
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS};
    /// let mut b = BatchBuilder::new(Compression::None);
    /// assert_eq!(b.base_timestamp(), None);
    /// b.append(1_000, None, None, NO_HEADERS)?;
    /// b.append(900, None, None, NO_HEADERS)?;
    /// assert_eq!(b.base_timestamp(), Some(1_000));
    /// # Ok::<(), klamm_protocol::EncodeError>(())
    /// ```
    pub fn base_timestamp(&self) -> Option<i64> {
        (self.count > 0).then_some(self.base_timestamp)
    }

    /// The exact encoded size of a record (its length prefix included) if appended now.
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS};
    /// let mut b = BatchBuilder::new(Compression::None);
    /// let n = b.record_size(0, None, Some(b"value"), NO_HEADERS);
    /// let before = b.size();
    /// b.append(0, None, Some(b"value"), NO_HEADERS)?;
    /// assert_eq!(b.size() - before, n);
    /// # Ok::<(), klamm_protocol::EncodeError>(())
    /// ```
    pub fn record_size<H: AsHeader>(
        &self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[H],
    ) -> usize {
        let body = self.body_len(timestamp_ms, key, value, headers);
        varlong_len(body as i64) + body
    }

    /// [`size`](Self::size) after appending this record: what a producer compares with
    /// `batch.size` and `max.request.size` before it appends.
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS};
    /// let mut b = BatchBuilder::new(Compression::None);
    /// let expected = b.size_with(0, Some(b"k"), None, NO_HEADERS);
    /// b.append(0, Some(b"k"), None, NO_HEADERS)?;
    /// assert_eq!(b.size(), expected);
    /// # Ok::<(), klamm_protocol::EncodeError>(())
    /// ```
    pub fn size_with<H: AsHeader>(
        &self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[H],
    ) -> usize {
        self.size() + self.record_size(timestamp_ms, key, value, headers)
    }

    #[inline(always)]
    fn timestamp_delta(&self, timestamp_ms: i64) -> i64 {
        if self.count == 0 {
            0
        } else {
            timestamp_ms.wrapping_sub(self.base_timestamp)
        }
    }

    /// The record's size without its length prefix.
    #[inline(always)]
    fn body_len<H: AsHeader>(
        &self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[H],
    ) -> usize {
        let mut n = 1 // attributes
            + varlong_len(self.timestamp_delta(timestamp_ms))
            + varlong_len(self.count as i64)
            + nullable_len_len(key.map(<[u8]>::len))
            + key.map_or(0, <[u8]>::len)
            + nullable_len_len(value.map(<[u8]>::len))
            + value.map_or(0, <[u8]>::len)
            + varlong_len(headers.len() as i64);
        for h in headers {
            let k = h.header_key().len();
            let v = h.header_value().map(<[u8]>::len);
            n += varlong_len(k as i64) + k + nullable_len_len(v) + v.unwrap_or(0);
        }
        n
    }

    /// Appends a record and returns its offset delta (0 for the first record).
    ///
    /// The first record's timestamp becomes the batch's base timestamp; later ones are stored
    /// as deltas (which may be negative). Fails, leaving the batch unchanged, when a length
    /// does not fit Kafka's int32 fields or the batch would exceed 2 GiB.
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, Header};
    /// let mut b = BatchBuilder::new(Compression::None);
    /// assert_eq!(b.append(1_000, Some(b"k"), Some(b"v"), &[Header::new("h", None)])?, 0);
    /// assert_eq!(b.append(990, None, None, &[] as &[Header])?, 1); // a tombstone, earlier timestamp
    /// let batch = b.seal()?.decode()?;
    /// let deltas: Vec<i64> = batch.records()?.map(|r| r.map(|r| r.timestamp_delta)).collect::<Result<_, _>>()?;
    /// assert_eq!(deltas, [0, -10]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn append<H: AsHeader>(
        &mut self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[H],
    ) -> Result<i32, EncodeError> {
        let body = self.body_len(timestamp_ms, key, value, headers);
        self.write(body, timestamp_ms, key, value, headers)
    }

    /// Appends the record only if the batch then holds at most `max_size` bytes
    /// ([`size`](Self::size), before compression), or if the batch is empty (a record bigger
    /// than the batch size gets a batch of its own, as in the Java producer). Returns its offset
    /// delta, or `Ok(None)`, leaving the batch unchanged, when it does not fit. This computes
    /// the record's size once, where [`size_with`](Self::size_with) then
    /// [`append`](Self::append) compute it twice.
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS};
    /// let mut b = BatchBuilder::new(Compression::None);
    /// assert_eq!(b.try_append(100, 0, None, Some(&[0; 80]), NO_HEADERS)?, Some(0));
    /// assert_eq!(b.try_append(100, 0, None, Some(&[0; 80]), NO_HEADERS)?, None); // full
    /// assert_eq!(b.record_count(), 1);
    /// # Ok::<(), klamm_protocol::EncodeError>(())
    /// ```
    pub fn try_append<H: AsHeader>(
        &mut self,
        max_size: usize,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[H],
    ) -> Result<Option<i32>, EncodeError> {
        let body = self.body_len(timestamp_ms, key, value, headers);
        if self.count > 0 && self.buf.len() + varlong_len(body as i64) + body > max_size {
            return Ok(None);
        }
        self.write(body, timestamp_ms, key, value, headers)
            .map(Some)
    }

    /// Writes a record whose body takes `body` bytes.
    #[inline(always)]
    fn write<H: AsHeader>(
        &mut self,
        body: usize,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[H],
    ) -> Result<i32, EncodeError> {
        let total = varlong_len(body as i64) + body;
        if body > i32::MAX as usize || self.buf.len() + total > i32::MAX as usize {
            return Err(EncodeError::TooLong {
                what: "record batch",
                len: self.buf.len().saturating_add(total),
            });
        }
        if self.count == i32::MAX {
            return Err(EncodeError::Invalid {
                what: "record batch",
                detail: "more than 2^31-1 records".into(),
            });
        }
        let delta = self.timestamp_delta(timestamp_ms);
        let offset_delta = self.count;
        let buf = &mut self.buf;
        buf.reserve(total + PREFIX);
        // The length, attributes, deltas and the key and value lengths go through a small
        // stack buffer that is appended with one constant-size copy and then cut back to what
        // was written (the reservation above has room for the overshoot): no per-byte capacity
        // checks. A key's bytes, when there is a key, interrupt the buffer once.
        let mut head = [0u8; PREFIX];
        let mut n = 0;
        put_var_at(&mut head, &mut n, zigzag64(body as i64));
        n += 1; // record attributes (unused), already 0
        put_var_at(&mut head, &mut n, zigzag64(delta));
        put_var_at(&mut head, &mut n, zigzag64(offset_delta as i64));
        match key {
            None => {
                head[n] = 1; // zigzag(-1)
                n += 1;
            }
            Some(k) => {
                put_var_at(&mut head, &mut n, zigzag64(k.len() as i64));
                flush(buf, &head, n);
                buf.extend_from_slice(k);
                n = 0;
            }
        }
        match value {
            None => {
                head[n] = 1;
                n += 1;
            }
            Some(v) => put_var_at(&mut head, &mut n, zigzag64(v.len() as i64)),
        }
        flush(buf, &head, n);
        if let Some(v) = value {
            buf.extend_from_slice(v);
        }
        if headers.is_empty() {
            buf.push(0);
        } else {
            put_varlong(buf, headers.len() as i64);
            for h in headers {
                put_nullable(buf, Some(h.header_key()));
                put_nullable(buf, h.header_value());
            }
        }
        if self.count == 0 {
            self.base_timestamp = timestamp_ms;
            self.max_timestamp = timestamp_ms;
        } else if timestamp_ms > self.max_timestamp {
            self.max_timestamp = timestamp_ms;
        }
        self.count += 1;
        Ok(offset_delta)
    }

    /// Finishes the batch: compresses the records section, writes the header and the CRC-32C.
    ///
    /// A batch must hold at least one record (Kafka has no empty batches on the produce path).
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS};
    /// assert!(BatchBuilder::new(Compression::None).seal().is_err()); // no empty batches
    /// let mut b = BatchBuilder::new(Compression::Zstd);
    /// b.append(0, None, Some(&[b'x'; 4096]), NO_HEADERS)?;
    /// let sealed = b.seal()?;
    /// assert!(sealed.size() < 4096); // the records section is compressed
    /// assert!(sealed.decode()?.verify_crc().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seal(self) -> Result<SealedBatch, EncodeError> {
        if self.count == 0 {
            return Err(EncodeError::Invalid {
                what: "record batch",
                detail: "a batch must hold at least one record".into(),
            });
        }
        let mut buf = if self.compression == Compression::None {
            self.buf
        } else {
            let records = &self.buf[RECORD_BATCH_OVERHEAD..];
            // zstd compresses into a reused scratch buffer and appends its output once, so the
            // batch is allocated at its exact size; the streaming codecs grow `out` as they go.
            let guess = match self.compression {
                Compression::Zstd => 0,
                _ => records.len() / 2 + 64,
            };
            let mut out = Vec::with_capacity(RECORD_BATCH_OVERHEAD + guess);
            out.resize(RECORD_BATCH_OVERHEAD, 0);
            self.compression
                .compress_at(self.level, records, &mut out)?;
            out
        };
        if buf.len() > i32::MAX as usize {
            return Err(EncodeError::TooLong {
                what: "record batch",
                len: buf.len(),
            });
        }
        let fields = SealFields {
            base_offset: self.base_offset,
            batch_length: (buf.len() - super::LOG_OVERHEAD) as i32,
            partition_leader_epoch: self.partition_leader_epoch,
            attributes: self.attributes,
            last_offset_delta: self.count - 1,
            base_timestamp: self.base_timestamp,
            max_timestamp: self.max_timestamp,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
            record_count: self.count,
        };
        fields.write(&mut buf[..RECORD_BATCH_OVERHEAD]);
        Ok(SealedBatch::from_written(buf))
    }
}

/// Room for a record's length, attributes, timestamp delta, offset delta and key and value
/// lengths (5 + 1 + 10 + 5 + 5 + 5 bytes at most), rounded up.
const PREFIX: usize = 32;

/// Appends the first `n` bytes of `head` with one constant-size copy, then cuts back.
#[inline(always)]
fn flush(buf: &mut Vec<u8>, head: &[u8; PREFIX], n: usize) {
    let start = buf.len();
    buf.extend_from_slice(head);
    buf.truncate(start + n);
}

/// Writes an unsigned LEB128 value into `head` at `*n`.
#[inline(always)]
fn put_var_at(head: &mut [u8; PREFIX], n: &mut usize, mut v: u64) {
    while v >= 0x80 {
        head[*n] = (v as u8) | 0x80;
        *n += 1;
        v >>= 7;
    }
    head[*n] = v as u8;
    *n += 1;
}

/// Header fields written at seal time (the CRC comes after).
pub(crate) struct SealFields {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub attributes: Attributes,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl SealFields {
    /// Writes every header field except the CRC into the 61-byte `h`.
    pub(crate) fn write(&self, h: &mut [u8]) {
        use super::header::off;
        h[off::BASE_OFFSET..off::BASE_OFFSET + 8].copy_from_slice(&self.base_offset.to_be_bytes());
        h[off::BATCH_LENGTH..off::BATCH_LENGTH + 4]
            .copy_from_slice(&self.batch_length.to_be_bytes());
        h[off::PARTITION_LEADER_EPOCH..off::PARTITION_LEADER_EPOCH + 4]
            .copy_from_slice(&self.partition_leader_epoch.to_be_bytes());
        h[off::MAGIC] = super::MAGIC_V2 as u8;
        h[off::ATTRIBUTES..off::ATTRIBUTES + 2].copy_from_slice(&self.attributes.0.to_be_bytes());
        h[off::LAST_OFFSET_DELTA..off::LAST_OFFSET_DELTA + 4]
            .copy_from_slice(&self.last_offset_delta.to_be_bytes());
        h[off::BASE_TIMESTAMP..off::BASE_TIMESTAMP + 8]
            .copy_from_slice(&self.base_timestamp.to_be_bytes());
        h[off::MAX_TIMESTAMP..off::MAX_TIMESTAMP + 8]
            .copy_from_slice(&self.max_timestamp.to_be_bytes());
        h[off::PRODUCER_ID..off::PRODUCER_ID + 8].copy_from_slice(&self.producer_id.to_be_bytes());
        h[off::PRODUCER_EPOCH..off::PRODUCER_EPOCH + 2]
            .copy_from_slice(&self.producer_epoch.to_be_bytes());
        h[off::BASE_SEQUENCE..off::BASE_SEQUENCE + 4]
            .copy_from_slice(&self.base_sequence.to_be_bytes());
        h[off::RECORD_COUNT..off::RECORD_COUNT + 4]
            .copy_from_slice(&self.record_count.to_be_bytes());
    }
}
