//! Legacy message sets, magic 0 and 1 (Kafka before 0.11): decode only.
//!
//! An entry is `offset: int64, message_size: int32` followed by the message:
//! `crc: uint32` (CRC-32 IEEE of the rest), `magic: int8`, `attributes: int8`,
//! `timestamp: int64` (magic 1 only), `key: bytes`, `value: bytes`. A compressed message
//! (attribute bits 0-2) is a wrapper whose value is a compressed message set; its records are
//! yielded in its place, with absolute offsets (magic 1 inner offsets are relative to the
//! wrapper, whose offset is the last inner one's). LZ4 in magic 0 used a broken frame header
//! checksum that this decoder does not accept.
//!
//! ```
//! use bytes::Bytes;
//! use klamm_protocol::record::{legacy::MessageSet, DecodeOptions};
//! // One magic 0 message at offset 7, key null, value "hi".
//! let mut msg = vec![0u8, 0]; // magic 0, attributes 0
//! msg.extend_from_slice(&(-1i32).to_be_bytes());
//! msg.extend_from_slice(&2i32.to_be_bytes());
//! msg.extend_from_slice(b"hi");
//! let crc = crc32fast_like(&msg);
//! let mut set = 7i64.to_be_bytes().to_vec();
//! set.extend_from_slice(&((msg.len() + 4) as i32).to_be_bytes());
//! set.extend_from_slice(&crc.to_be_bytes());
//! set.extend_from_slice(&msg);
//! let records: Vec<_> = MessageSet::new(Bytes::from(set), DecodeOptions::default())
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(records[0].offset, 7);
//! assert_eq!(records[0].value.as_deref(), Some(&b"hi"[..]));
//! # fn crc32fast_like(d: &[u8]) -> u32 {
//! #     let mut c = !0u32;
//! #     for &b in d { c ^= b as u32; for _ in 0..8 { c = if c & 1 != 0 { 0xedb88320 ^ (c >> 1) } else { c >> 1 }; } }
//! #     !c
//! # }
//! # Ok::<(), klamm_protocol::DecodeError>(())
//! ```

use std::collections::VecDeque;

use bytes::Bytes;

use crate::error::DecodeError;

use super::header::{TimestampType, be_i32, be_i64, be_u32};
use super::{Compression, DecodeOptions, LOG_OVERHEAD};

/// The smallest legacy message after its length: crc, magic, attributes, key and value
/// lengths.
const MIN_MESSAGE_V0: usize = 14;

/// One record of a legacy message set.
///
/// ```
/// use bytes::{BufMut, BytesMut};
/// use klamm_protocol::record::{DecodeOptions, legacy::MessageSet};
/// // One magic-0 message: offset, size, crc, magic, attributes, null key, value "x".
/// let mut buf = BytesMut::new();
/// buf.put_i64(7);
/// buf.put_i32(15);
/// buf.put_u32(0); // not checked below
/// buf.put_slice(&[0, 0]);
/// buf.put_i32(-1);
/// buf.put_i32(1);
/// buf.put_u8(b'x');
/// let opts = DecodeOptions { verify_crc: false, ..DecodeOptions::default() };
/// let record = MessageSet::new(buf.freeze(), opts).next().unwrap()?;
/// assert_eq!((record.offset, record.magic, record.timestamp), (7, 0, None));
/// assert_eq!(record.value.as_deref(), Some(&b"x"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyRecord {
    /// The absolute offset.
    pub offset: i64,
    /// The message format: 0 or 1.
    pub magic: i8,
    /// The timestamp (magic 1), or `None` (magic 0).
    pub timestamp: Option<i64>,
    /// The timestamp type (magic 1).
    pub timestamp_type: Option<TimestampType>,
    /// The compression of the wrapper message the record came in (`None` when it was not
    /// compressed).
    pub compression: Compression,
    /// The key, `None` when null.
    pub key: Option<Bytes>,
    /// The value, `None` when null.
    pub value: Option<Bytes>,
}

/// One parsed message (not yet flattened).
struct Message {
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: Option<i64>,
    key: Option<Bytes>,
    value: Option<Bytes>,
}

/// Parses the entry at the start of `buf`. `Ok(None)` means the entry is cut off.
fn parse_entry(
    buf: &Bytes,
    pos: usize,
    verify_crc: bool,
) -> Result<Option<(Message, usize)>, DecodeError> {
    let rest = &buf[pos..];
    if rest.len() < LOG_OVERHEAD {
        return Ok(None);
    }
    let offset = be_i64(rest, 0);
    let size = be_i32(rest, 8);
    if size < MIN_MESSAGE_V0 as i32 {
        return Err(DecodeError::InvalidLength {
            what: "legacy message",
            len: size as i64,
            remaining: rest.len() - LOG_OVERHEAD,
        });
    }
    let total = LOG_OVERHEAD + size as usize;
    if total > rest.len() {
        return Ok(None);
    }
    let m = &rest[LOG_OVERHEAD..total];
    let stored = be_u32(m, 0);
    if verify_crc {
        let computed = super::crc32::crc32(&m[4..]);
        if computed != stored {
            return Err(DecodeError::CrcMismatch { stored, computed });
        }
    }
    let magic = m[4] as i8;
    let attributes = m[5] as i8;
    let mut p = 6;
    let timestamp = match magic {
        0 => None,
        1 => {
            if m.len() < p + 8 + 8 {
                return Err(DecodeError::Truncated {
                    what: "legacy message v1",
                    needed: p + 16,
                    remaining: m.len(),
                });
            }
            p += 8;
            Some(be_i64(m, 6))
        }
        other => return Err(DecodeError::UnsupportedMagic(other)),
    };
    let base = pos + LOG_OVERHEAD;
    let mut field = |what: &'static str| -> Result<Option<Bytes>, DecodeError> {
        if m.len() < p + 4 {
            return Err(DecodeError::Truncated {
                what,
                needed: 4,
                remaining: m.len() - p,
            });
        }
        let len = be_i32(m, p);
        p += 4;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 || len as usize > m.len() - p {
            return Err(DecodeError::InvalidLength {
                what,
                len: len as i64,
                remaining: m.len() - p,
            });
        }
        let s = buf.slice(base + p..base + p + len as usize);
        p += len as usize;
        Ok(Some(s))
    };
    let key = field("legacy message key")?;
    let value = field("legacy message value")?;
    if p != m.len() {
        return Err(DecodeError::TrailingBytes(m.len() - p));
    }
    Ok(Some((
        Message {
            offset,
            magic,
            attributes,
            timestamp,
            key,
            value,
        },
        total,
    )))
}

/// The records of a legacy message set, with compressed wrappers expanded.
///
/// Stops cleanly at a cut-off last entry ([`truncated_tail`](Self::truncated_tail)); yields
/// an `Err` once and stops on anything malformed.
///
/// ```
/// use bytes::{BufMut, BytesMut};
/// use klamm_protocol::record::{DecodeOptions, legacy::MessageSet};
/// // One magic-0 message: offset, size, crc, magic, attributes, null key, value "x".
/// let mut buf = BytesMut::new();
/// buf.put_i64(7);
/// buf.put_i32(15);
/// buf.put_u32(0); // not checked below
/// buf.put_slice(&[0, 0]);
/// buf.put_i32(-1);
/// buf.put_i32(1);
/// buf.put_u8(b'x');
/// let opts = DecodeOptions { verify_crc: false, ..DecodeOptions::default() };
/// let records: Vec<_> = MessageSet::new(buf.freeze(), opts).collect::<Result<_, _>>()?;
/// assert_eq!(records.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MessageSet {
    buf: Bytes,
    pos: usize,
    opts: DecodeOptions,
    inner: VecDeque<LegacyRecord>,
    truncated: Option<usize>,
    done: bool,
}

impl MessageSet {
    /// The records of the message set in `buf`.
    ///
    /// ```
    /// use bytes::{BufMut, BytesMut};
    /// use klamm_protocol::record::{DecodeOptions, legacy::MessageSet};
    /// // One magic-0 message: offset, size, crc, magic, attributes, null key, value "x".
    /// let mut buf = BytesMut::new();
    /// buf.put_i64(7);
    /// buf.put_i32(15);
    /// buf.put_u32(0); // not checked below
    /// buf.put_slice(&[0, 0]);
    /// buf.put_i32(-1);
    /// buf.put_i32(1);
    /// buf.put_u8(b'x');
    /// let opts = DecodeOptions { verify_crc: false, ..DecodeOptions::default() };
    /// assert_eq!(MessageSet::new(buf.freeze(), opts).count(), 1);
    /// ```
    pub fn new(buf: Bytes, opts: DecodeOptions) -> Self {
        MessageSet {
            buf,
            pos: 0,
            opts,
            inner: VecDeque::new(),
            truncated: None,
            done: false,
        }
    }

    /// After the walk ended: the size of a cut-off entry at the end, if any.
    ///
    /// ```
    /// use bytes::{BufMut, BytesMut};
    /// use klamm_protocol::record::{DecodeOptions, legacy::MessageSet};
    /// // One magic-0 message: offset, size, crc, magic, attributes, null key, value "x".
    /// let mut buf = BytesMut::new();
    /// buf.put_i64(7);
    /// buf.put_i32(15);
    /// buf.put_u32(0); // not checked below
    /// buf.put_slice(&[0, 0]);
    /// buf.put_i32(-1);
    /// buf.put_i32(1);
    /// buf.put_u8(b'x');
    /// let opts = DecodeOptions { verify_crc: false, ..DecodeOptions::default() };
    /// let bytes = buf.freeze();
    /// let mut set = MessageSet::new(bytes.slice(..20), opts);
    /// assert!(set.next().is_none());
    /// assert_eq!(set.truncated_tail(), Some(20));
    /// ```
    pub fn truncated_tail(&self) -> Option<usize> {
        self.truncated
    }

    fn record(m: Message, compression: Compression, ts_override: Option<i64>) -> LegacyRecord {
        let ts_type = (m.magic == 1).then_some({
            if m.attributes & 0x08 != 0 {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            }
        });
        LegacyRecord {
            offset: m.offset,
            magic: m.magic,
            timestamp: ts_override.or(m.timestamp),
            timestamp_type: ts_type,
            compression,
            key: m.key,
            value: m.value,
        }
    }

    /// Expands a compressed wrapper into `self.inner`.
    fn expand(&mut self, wrapper: Message, codec: Compression) -> Result<(), DecodeError> {
        let compressed = wrapper.value.as_deref().unwrap_or(&[]);
        let data = Bytes::from(codec.decompress(compressed, self.opts.max_decompressed_size)?);
        let mut pos = 0;
        let mut inner = Vec::new();
        while pos < data.len() {
            let Some((m, n)) = parse_entry(&data, pos, self.opts.verify_crc)? else {
                return Err(DecodeError::Truncated {
                    what: "compressed legacy message set",
                    needed: LOG_OVERHEAD,
                    remaining: data.len() - pos,
                });
            };
            if m.attributes & 0x07 != 0 {
                return Err(DecodeError::Invalid {
                    what: "legacy message set",
                    detail: "nested compressed message".into(),
                });
            }
            inner.push(m);
            pos += n;
        }
        // Magic 1 inner offsets are relative; the wrapper carries the last absolute offset.
        let shift = match (wrapper.magic, inner.last()) {
            (1, Some(last)) => wrapper.offset.wrapping_sub(last.offset),
            _ => 0,
        };
        let log_append = wrapper.magic == 1 && wrapper.attributes & 0x08 != 0;
        for mut m in inner {
            m.offset = m.offset.wrapping_add(shift);
            let ts = if log_append { wrapper.timestamp } else { None };
            self.inner.push_back(Self::record(m, codec, ts));
        }
        Ok(())
    }
}

impl Iterator for MessageSet {
    type Item = Result<LegacyRecord, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.inner.pop_front() {
                return Some(Ok(r));
            }
            if self.done || self.pos >= self.buf.len() {
                return None;
            }
            let (m, n) = match parse_entry(&self.buf, self.pos, self.opts.verify_crc) {
                Ok(Some(entry)) => entry,
                Ok(None) => {
                    self.truncated = Some(self.buf.len() - self.pos);
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            self.pos += n;
            let codec = match Compression::from_id((m.attributes & 0x07) as u8) {
                Ok(c) => c,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            if codec == Compression::None {
                return Some(Ok(Self::record(m, codec, None)));
            }
            if let Err(e) = self.expand(m, codec) {
                self.done = true;
                return Some(Err(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes one legacy entry.
    fn entry(
        offset: i64,
        magic: i8,
        attrs: i8,
        ts: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut m = vec![magic as u8, attrs as u8];
        if magic == 1 {
            m.extend_from_slice(&ts.to_be_bytes());
        }
        for f in [key, value] {
            match f {
                Some(b) => {
                    m.extend_from_slice(&(b.len() as i32).to_be_bytes());
                    m.extend_from_slice(b);
                }
                None => m.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        let mut e = offset.to_be_bytes().to_vec();
        e.extend_from_slice(&((m.len() + 4) as i32).to_be_bytes());
        e.extend_from_slice(&super::super::crc32::crc32(&m).to_be_bytes());
        e.extend_from_slice(&m);
        e
    }

    fn read(set: Vec<u8>) -> Vec<LegacyRecord> {
        MessageSet::new(Bytes::from(set), DecodeOptions::default())
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn plain_v0_and_v1_messages() {
        let mut set = entry(5, 0, 0, 0, Some(b"k"), Some(b"v0"));
        set.extend(entry(6, 1, 0, 1234, None, Some(b"v1")));
        set.extend(entry(7, 1, 0x08, 99, None, None));
        let r = read(set);
        assert_eq!(r.len(), 3);
        assert_eq!(
            (r[0].offset, r[0].timestamp, r[0].key.as_deref()),
            (5, None, Some(&b"k"[..]))
        );
        assert_eq!((r[1].offset, r[1].timestamp), (6, Some(1234)));
        assert_eq!(r[1].timestamp_type, Some(TimestampType::CreateTime));
        assert_eq!(r[2].timestamp_type, Some(TimestampType::LogAppendTime));
        assert_eq!(r[2].value, None);
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn compressed_wrappers_expand_with_absolute_offsets() {
        // Magic 1: inner offsets are relative, the wrapper holds the last absolute offset.
        let mut inner = Vec::new();
        for i in 0..3 {
            inner.extend(entry(
                i,
                1,
                0,
                100 + i,
                None,
                Some(format!("m{i}").as_bytes()),
            ));
        }
        let mut compressed = Vec::new();
        Compression::Gzip.compress(&inner, &mut compressed).unwrap();
        let set = entry(42, 1, 1, 500, None, Some(&compressed));
        let r = read(set);
        let offsets: Vec<i64> = r.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [40, 41, 42]);
        assert_eq!(r[2].value.as_deref(), Some(&b"m2"[..]));
        assert_eq!(r[0].timestamp, Some(100));
        assert_eq!(r[0].compression, Compression::Gzip);

        // Magic 0: inner offsets are absolute.
        let mut inner = Vec::new();
        for i in 10..12 {
            inner.extend(entry(i, 0, 0, 0, None, Some(b"x")));
        }
        let mut compressed = Vec::new();
        Compression::Gzip.compress(&inner, &mut compressed).unwrap();
        let r = read(entry(11, 0, 1, 0, None, Some(&compressed)));
        assert_eq!(r.iter().map(|r| r.offset).collect::<Vec<_>>(), [10, 11]);
    }

    #[test]
    fn crc_mismatch_and_truncation() {
        let mut set = entry(1, 1, 0, 0, None, Some(b"hello"));
        let good = set.clone();
        let last = set.len() - 1;
        set[last] ^= 1;
        let mut it = MessageSet::new(Bytes::from(set), DecodeOptions::default());
        assert!(matches!(
            it.next(),
            Some(Err(DecodeError::CrcMismatch { .. }))
        ));
        assert!(it.next().is_none());

        let mut two = good.clone();
        two.extend_from_slice(&good[..good.len() - 3]);
        let mut it = MessageSet::new(Bytes::from(two), DecodeOptions::default());
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().is_none());
        assert_eq!(it.truncated_tail(), Some(good.len() - 3));
    }
}
