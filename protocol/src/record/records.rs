//! The lazy record iterator of a v2 batch.

use bytes::Bytes;

use crate::error::DecodeError;

use super::header::{BatchHeader, TimestampType};

/// The smallest possible record: length, attributes, timestamp delta, offset delta, key
/// length, value length and header count, one byte each.
pub(crate) const MIN_RECORD_SIZE: usize = 7;

/// One record of a batch. Keys, values and header values are zero-copy [`Bytes`] slices.
///
/// ```
/// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS};
/// let mut b = BatchBuilder::new(Compression::None).base_offset(10);
/// b.append(1_000, Some(b"k"), None, NO_HEADERS)?;
/// let record = b.seal()?.decode()?.records()?.next().unwrap()?;
/// assert_eq!((record.offset, record.timestamp), (10, 1_000));
/// assert_eq!(record.key.as_deref(), Some(&b"k"[..]));
/// assert_eq!(record.value, None); // a tombstone
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The absolute offset (batch base offset + offset delta).
    pub offset: i64,
    /// The offset delta within the batch.
    pub offset_delta: i32,
    /// The absolute timestamp: base timestamp + delta, or the batch's max timestamp for
    /// `LogAppendTime` batches.
    pub timestamp: i64,
    /// The timestamp delta as stored.
    pub timestamp_delta: i64,
    /// The record attributes byte (unused by Kafka so far).
    pub attributes: i8,
    /// The key, `None` when null.
    pub key: Option<Bytes>,
    /// The value, `None` when null (a tombstone).
    pub value: Option<Bytes>,
    /// The headers, read lazily.
    pub headers: RecordHeaders,
}

/// A decoded record header.
///
/// ```
/// # use klamm_protocol::record::*;
/// # let mut b = BatchBuilder::new(Compression::None).base_offset(10);
/// # b.append(1_000, Some(b"k"), Some(b"v"), &[Header::new("h", Some(b"1")), Header::new("g", None)])?;
/// # let batch = b.seal()?.decode()?;
/// let record = batch.records()?.next().unwrap()?;
/// let h: RecordHeader = record.headers.iter().next().unwrap();
/// assert_eq!((h.key_str()?, h.value.as_deref()), ("h", Some(&b"1"[..])));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordHeader {
    /// The key bytes (UTF-8 in Kafka; see [`key_str`](Self::key_str)).
    pub key: Bytes,
    /// The value, `None` when null.
    pub value: Option<Bytes>,
}

impl RecordHeader {
    /// The key as a string, or [`DecodeError::InvalidUtf8`].
    ///
    /// ```
    /// use bytes::Bytes;
    /// use klamm_protocol::record::RecordHeader;
    /// let h = RecordHeader { key: Bytes::from_static(&[0xff]), value: None };
    /// assert!(h.key_str().is_err()); // not UTF-8
    /// ```
    pub fn key_str(&self) -> Result<&str, DecodeError> {
        std::str::from_utf8(&self.key).map_err(|_| DecodeError::InvalidUtf8)
    }
}

/// The headers of one record, validated when the record was read and walked on demand.
///
/// ```
/// use klamm_protocol::record::{BatchBuilder, Compression, Header, RecordBatch};
/// let mut b = BatchBuilder::new(Compression::None);
/// b.append(0, None, None, &[Header::new("a", Some(b"1")), Header::new("b", None)])?;
/// let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
/// let r = batch.records()?.next().unwrap()?;
/// assert_eq!(r.headers.len(), 2);
/// assert_eq!(r.headers.get("a").unwrap().value.as_deref(), Some(&b"1"[..]));
/// let keys: Vec<_> = r.headers.iter().map(|h| h.key).collect();
/// assert_eq!(keys, ["a", "b"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordHeaders {
    /// `None` when there are no headers (no reference to the batch is held then).
    raw: Option<Bytes>,
    count: usize,
}

impl RecordHeaders {
    /// The number of headers.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(10);
    /// # b.append(1_000, Some(b"k"), Some(b"v"), &[Header::new("h", Some(b"1")), Header::new("g", None)])?;
    /// # let batch = b.seal()?.decode()?;
    /// assert_eq!(batch.records()?.next().unwrap()?.headers.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are no headers.
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS};
    /// let mut b = BatchBuilder::new(Compression::None);
    /// b.append(0, None, None, NO_HEADERS)?;
    /// assert!(b.seal()?.decode()?.records()?.next().unwrap()?.headers.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The headers in order.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(10);
    /// # b.append(1_000, Some(b"k"), Some(b"v"), &[Header::new("h", Some(b"1")), Header::new("g", None)])?;
    /// # let batch = b.seal()?.decode()?;
    /// let record = batch.records()?.next().unwrap()?;
    /// let keys: Vec<String> = record.headers.iter().map(|h| h.key_str().map(str::to_owned)).collect::<Result<_, _>>()?;
    /// assert_eq!(keys, ["h", "g"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = RecordHeader> + '_ {
        let mut pos = 0;
        static EMPTY: Bytes = Bytes::new();
        let raw = self.raw.as_ref().unwrap_or(&EMPTY);
        (0..self.count).map_while(move |_| {
            // Validated when the record was read, so this cannot fail; stop if it did.
            let key = read_slice(raw, &mut pos, false).ok()??;
            let value = read_slice(raw, &mut pos, true).ok()?;
            Some(RecordHeader {
                key: raw.slice(key.0..key.1),
                value: value.map(|(a, b)| raw.slice(a..b)),
            })
        })
    }

    /// The first header with this key.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(10);
    /// # b.append(1_000, Some(b"k"), Some(b"v"), &[Header::new("h", Some(b"1")), Header::new("g", None)])?;
    /// # let batch = b.seal()?.decode()?;
    /// let record = batch.records()?.next().unwrap()?;
    /// assert_eq!(record.headers.get("g").unwrap().value, None);
    /// assert!(record.headers.get("missing").is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, key: &str) -> Option<RecordHeader> {
        self.iter().find(|h| h.key == key.as_bytes())
    }
}

/// The records of one batch, read one at a time.
///
/// Yields `Err` once and then stops when a record is malformed, when the section ends before
/// the announced record count, or when bytes remain after it.
///
/// ```
/// # use klamm_protocol::record::*;
/// # let mut b = BatchBuilder::new(Compression::None).base_offset(10);
/// # b.append(1_000, Some(b"k"), Some(b"v"), &[Header::new("h", Some(b"1")), Header::new("g", None)])?;
/// # let batch = b.seal()?.decode()?;
/// // Owned records (zero-copy `Bytes`)...
/// for r in batch.records()? {
///     assert_eq!(r?.value.as_deref(), Some(&b"v"[..]));
/// }
/// // ...or borrowed ones, without reference counting.
/// let mut records = batch.records()?;
/// while let Some(r) = records.next_ref() {
///     assert_eq!(r?.value(), Some(&b"v"[..]));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Records {
    buf: Bytes,
    pos: usize,
    left: i32,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
    failed: bool,
}

impl Records {
    pub(crate) fn new(buf: Bytes, h: &BatchHeader) -> Result<Self, DecodeError> {
        if h.record_count as u64 * MIN_RECORD_SIZE as u64 > buf.len() as u64 {
            return Err(DecodeError::InvalidLength {
                what: "record count",
                len: h.record_count as i64,
                remaining: buf.len(),
            });
        }
        Ok(Records {
            buf,
            pos: 0,
            left: h.record_count,
            base_offset: h.base_offset,
            base_timestamp: h.base_timestamp,
            log_append_time: match h.attributes.timestamp_type() {
                TimestampType::LogAppendTime => Some(h.max_timestamp),
                TimestampType::CreateTime => None,
            },
            failed: false,
        })
    }

    /// The number of records not yet read.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(10);
    /// # b.append(1_000, Some(b"k"), Some(b"v"), &[Header::new("h", Some(b"1")), Header::new("g", None)])?;
    /// # let batch = b.seal()?.decode()?;
    /// let mut records = batch.records()?;
    /// assert_eq!(records.remaining(), 1);
    /// records.next();
    /// assert_eq!(records.remaining(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remaining(&self) -> usize {
        self.left.max(0) as usize
    }

    /// Reads the next record without touching any reference count: its key, value and
    /// headers are borrowed from the batch. This is the fastest way to walk a batch; call
    /// [`RecordRef::to_record`] (or [`RecordRef::value_bytes`] and friends) for owned,
    /// zero-copy [`Bytes`].
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, Header, RecordBatch};
    /// let mut b = BatchBuilder::new(Compression::None);
    /// for v in [&b"a"[..], b"bb"] {
    ///     b.append(0, None, Some(v), &[] as &[Header])?;
    /// }
    /// let batch = RecordBatch::decode(b.seal()?.into_bytes())?;
    /// let mut records = batch.records()?;
    /// let mut total = 0;
    /// while let Some(r) = records.next_ref() {
    ///     total += r?.value().map_or(0, <[u8]>::len);
    /// }
    /// assert_eq!(total, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn next_ref(&mut self) -> Option<Result<RecordRef<'_>, DecodeError>> {
        if self.failed || self.left <= 0 {
            return self.finish().map(Err);
        }
        match self.parse() {
            Ok(r) => {
                self.left -= 1;
                Some(Ok(RecordRef {
                    buf: &self.buf,
                    ..r
                }))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }

    /// The end of the walk: an error once if bytes remain after the last record, then `None`.
    #[cold]
    fn finish(&mut self) -> Option<DecodeError> {
        if self.failed {
            return None;
        }
        self.failed = true;
        (self.pos < self.buf.len()).then(|| DecodeError::TrailingBytes(self.buf.len() - self.pos))
    }

    /// Parses the record at `self.pos` and moves past it. The returned record borrows a
    /// placeholder buffer; `next_ref` puts the real one in.
    #[inline(always)]
    fn parse(&mut self) -> Result<RecordRef<'static>, DecodeError> {
        let all = &self.buf[..];
        let mut p = self.pos;
        let len = read_varint(all, &mut p)?;
        let rest = all.len() - p;
        if len < 0 || len as usize > rest {
            return Err(DecodeError::InvalidLength {
                what: "record",
                len: len as i64,
                remaining: rest,
            });
        }
        let end = p + len as usize;
        let body = &all[..end];
        let Some(&attributes) = body.get(p) else {
            return Err(truncated("record attributes", 0));
        };
        p += 1;
        let timestamp_delta = read_varlong(body, &mut p)?;
        let offset_delta = read_varint(body, &mut p)?;
        let key = read_slice(body, &mut p, true)?;
        let value = read_slice(body, &mut p, true)?;
        let count = read_varint(body, &mut p)?;
        if count < 0 {
            return Err(DecodeError::InvalidLength {
                what: "record header count",
                len: count as i64,
                remaining: end - p,
            });
        }
        let headers_at = p;
        for _ in 0..count {
            if read_slice(body, &mut p, false)?.is_none() {
                return Err(DecodeError::UnexpectedNull {
                    field: "record header key",
                });
            }
            read_slice(body, &mut p, true)?;
        }
        if p != end {
            return Err(length_mismatch(len, len as usize - (end - p)));
        }
        self.pos = end;
        static EMPTY: Bytes = Bytes::new();
        Ok(RecordRef {
            buf: &EMPTY,
            offset: self.base_offset.wrapping_add(offset_delta as i64),
            offset_delta,
            timestamp: self
                .log_append_time
                .unwrap_or_else(|| self.base_timestamp.wrapping_add(timestamp_delta)),
            timestamp_delta,
            attributes: attributes as i8,
            key,
            value,
            headers: (headers_at, end, count as usize),
        })
    }
}

/// A record borrowed from its batch (see [`Records::next_ref`]): no reference counting until
/// owned [`Bytes`] are asked for.
///
/// ```
/// # use klamm_protocol::record::*;
/// # let mut b = BatchBuilder::new(Compression::None).base_offset(10);
/// # b.append(1_000, Some(b"k"), Some(b"v"), &[Header::new("h", Some(b"1")), Header::new("g", None)])?;
/// # let batch = b.seal()?.decode()?;
/// let mut records = batch.records()?;
/// let r = records.next_ref().unwrap()?;
/// assert_eq!((r.offset, r.timestamp), (10, 1_000));
/// assert_eq!(r.key(), Some(&b"k"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    buf: &'a Bytes,
    /// The absolute offset (batch base offset + offset delta).
    pub offset: i64,
    /// The offset delta within the batch.
    pub offset_delta: i32,
    /// The absolute timestamp (see [`Record::timestamp`]).
    pub timestamp: i64,
    /// The timestamp delta as stored.
    pub timestamp_delta: i64,
    /// The record attributes byte.
    pub attributes: i8,
    key: Option<(usize, usize)>,
    value: Option<(usize, usize)>,
    headers: (usize, usize, usize),
}

impl<'a> RecordRef<'a> {
    /// The key, `None` when null.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(10);
    /// # b.append(1_000, Some(b"k"), Some(b"v"), &[Header::new("h", Some(b"1")), Header::new("g", None)])?;
    /// # let batch = b.seal()?.decode()?;
    /// let mut records = batch.records()?;
    /// let r = records.next_ref().unwrap()?;
    /// assert_eq!(r.key(), Some(&b"k"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn key(&self) -> Option<&'a [u8]> {
        self.key.map(|(a, b)| &self.buf[a..b])
    }

    /// The value, `None` when null.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(10);
    /// # b.append(1_000, Some(b"k"), Some(b"v"), &[Header::new("h", Some(b"1")), Header::new("g", None)])?;
    /// # let batch = b.seal()?.decode()?;
    /// let mut records = batch.records()?;
    /// let r = records.next_ref().unwrap()?;
    /// assert_eq!(r.value(), Some(&b"v"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn value(&self) -> Option<&'a [u8]> {
        self.value.map(|(a, b)| &self.buf[a..b])
    }

    /// The key as a zero-copy [`Bytes`].
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(10);
    /// # b.append(1_000, Some(b"k"), Some(b"v"), &[Header::new("h", Some(b"1")), Header::new("g", None)])?;
    /// # let batch = b.seal()?.decode()?;
    /// let mut records = batch.records()?;
    /// let r = records.next_ref().unwrap()?;
    /// let key: bytes::Bytes = r.key_bytes().unwrap();
    /// assert_eq!(&key[..], b"k");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn key_bytes(&self) -> Option<Bytes> {
        self.key.map(|(a, b)| self.buf.slice(a..b))
    }

    /// The value as a zero-copy [`Bytes`].
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(10);
    /// # b.append(1_000, Some(b"k"), Some(b"v"), &[Header::new("h", Some(b"1")), Header::new("g", None)])?;
    /// # let batch = b.seal()?.decode()?;
    /// let mut records = batch.records()?;
    /// let r = records.next_ref().unwrap()?;
    /// assert_eq!(r.value_bytes().as_deref(), Some(&b"v"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.value.map(|(a, b)| self.buf.slice(a..b))
    }

    /// The headers as owned, zero-copy [`RecordHeaders`].
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(10);
    /// # b.append(1_000, Some(b"k"), Some(b"v"), &[Header::new("h", Some(b"1")), Header::new("g", None)])?;
    /// # let batch = b.seal()?.decode()?;
    /// let mut records = batch.records()?;
    /// let r = records.next_ref().unwrap()?;
    /// assert_eq!(r.headers().get("h").unwrap().value.as_deref(), Some(&b"1"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn headers(&self) -> RecordHeaders {
        let (a, b, count) = self.headers;
        if count == 0 {
            RecordHeaders::default()
        } else {
            RecordHeaders {
                raw: Some(self.buf.slice(a..b)),
                count,
            }
        }
    }

    /// The headers as borrowed `(key, value)` pairs, without reference counting.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(10);
    /// # b.append(1_000, Some(b"k"), Some(b"v"), &[Header::new("h", Some(b"1")), Header::new("g", None)])?;
    /// # let batch = b.seal()?.decode()?;
    /// let mut records = batch.records()?;
    /// let r = records.next_ref().unwrap()?;
    /// let headers: Vec<_> = r.header_refs().collect();
    /// assert_eq!(headers, [(&b"h"[..], Some(&b"1"[..])), (&b"g"[..], None)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn header_refs(&self) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + 'a {
        let (a, b, count) = self.headers;
        let raw: &'a [u8] = &self.buf[a..b];
        let mut pos = 0;
        (0..count).map_while(move |_| {
            // Validated when the record was read, so this cannot fail; stop if it did.
            let (ka, kb) = read_slice(raw, &mut pos, false).ok()??;
            let value = read_slice(raw, &mut pos, true).ok()?;
            Some((&raw[ka..kb], value.map(|(va, vb)| &raw[va..vb])))
        })
    }

    /// The number of headers.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(10);
    /// # b.append(1_000, Some(b"k"), Some(b"v"), &[Header::new("h", Some(b"1")), Header::new("g", None)])?;
    /// # let batch = b.seal()?.decode()?;
    /// let mut records = batch.records()?;
    /// let r = records.next_ref().unwrap()?;
    /// assert_eq!(r.header_count(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn header_count(&self) -> usize {
        self.headers.2
    }

    /// The owned record, with zero-copy [`Bytes`] slices.
    ///
    /// ```
    /// # use klamm_protocol::record::*;
    /// # let mut b = BatchBuilder::new(Compression::None).base_offset(10);
    /// # b.append(1_000, Some(b"k"), Some(b"v"), &[Header::new("h", Some(b"1")), Header::new("g", None)])?;
    /// # let batch = b.seal()?.decode()?;
    /// let mut records = batch.records()?;
    /// let r = records.next_ref().unwrap()?;
    /// let owned = r.to_record();
    /// assert_eq!(owned.value.as_deref(), r.value());
    /// assert_eq!(owned.headers.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline(always)]
    pub fn to_record(&self) -> Record {
        Record {
            offset: self.offset,
            offset_delta: self.offset_delta,
            timestamp: self.timestamp,
            timestamp_delta: self.timestamp_delta,
            attributes: self.attributes,
            key: self.key_bytes(),
            value: self.value_bytes(),
            headers: self.headers(),
        }
    }
}

impl Iterator for Records {
    type Item = Result<Record, DecodeError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        // The same steps as `next_ref`, spelled out so that the record is parsed and built in
        // the caller's loop (no out-of-line call returning a large `Option<Result<..>>`).
        if self.failed || self.left <= 0 {
            return self.finish().map(Err);
        }
        match self.parse() {
            Ok(r) => {
                self.left -= 1;
                Some(Ok(RecordRef {
                    buf: &self.buf,
                    ..r
                }
                .to_record()))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.failed {
            (0, Some(0))
        } else {
            (0, Some(self.remaining() + 1))
        }
    }
}

/// A record whose declared length differs from what its fields take (kept out of line: the
/// record walk's hot path only branches to it).
#[cold]
#[inline(never)]
fn length_mismatch(declared: i32, taken: usize) -> DecodeError {
    DecodeError::Invalid {
        what: "record",
        detail: format!("declared {declared} bytes but its fields take {taken}"),
    }
}

#[cold]
#[inline(never)]
fn truncated(what: &'static str, remaining: usize) -> DecodeError {
    DecodeError::Truncated {
        what,
        needed: remaining + 1,
        remaining,
    }
}

/// Reads an unsigned LEB128 value of at most `max` bytes.
#[inline(always)]
fn read_uvarint(buf: &[u8], pos: &mut usize, max: usize) -> Result<u64, DecodeError> {
    let start = *pos;
    match buf.get(start) {
        Some(&b) if b < 0x80 => {
            *pos = start + 1;
            return Ok(b as u64);
        }
        None => return Err(truncated("varint", 0)),
        _ => {}
    }
    let mut v = 0u64;
    for i in 0..max {
        let Some(&b) = buf.get(start + i) else {
            return Err(truncated("varint", i));
        };
        v |= ((b & 0x7f) as u64) << (7 * i);
        if b < 0x80 {
            if i == 9 && b > 1 {
                break; // more than 64 bits
            }
            *pos = start + i + 1;
            return Ok(v);
        }
    }
    Err(DecodeError::VarintTooLong { max_bytes: max })
}

/// Reads a zigzag varint (32 bits).
#[inline(always)]
pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> Result<i32, DecodeError> {
    let u = read_uvarint(buf, pos, 5)?;
    if u > u32::MAX as u64 {
        return Err(DecodeError::VarintTooLong { max_bytes: 5 });
    }
    let u = u as u32;
    Ok(((u >> 1) as i32) ^ -((u & 1) as i32))
}

/// Reads a zigzag varlong (64 bits).
#[inline(always)]
pub(crate) fn read_varlong(buf: &[u8], pos: &mut usize) -> Result<i64, DecodeError> {
    let u = read_uvarint(buf, pos, 10)?;
    Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
}

/// Reads a varint length and returns the range of the slice that follows (`None` for -1 when
/// `nullable`).
#[inline(always)]
fn read_slice(
    buf: &[u8],
    pos: &mut usize,
    nullable: bool,
) -> Result<Option<(usize, usize)>, DecodeError> {
    let len = read_varint(buf, pos)?;
    if len == -1 && nullable {
        return Ok(None);
    }
    let rest = buf.len() - *pos;
    if len < 0 || len as usize > rest {
        return Err(DecodeError::InvalidLength {
            what: "record field",
            len: len as i64,
            remaining: rest,
        });
    }
    let start = *pos;
    *pos = start + len as usize;
    Ok(Some((start, *pos)))
}
