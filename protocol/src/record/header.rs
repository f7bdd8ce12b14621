//! The RecordBatch v2 header: field offsets, attributes and the parsed header.

use crate::error::DecodeError;

use super::{Compression, MAGIC_V2, RECORD_BATCH_OVERHEAD};

/// Byte offsets of the header fields inside a v2 batch.
pub(crate) mod off {
    pub const BASE_OFFSET: usize = 0;
    pub const BATCH_LENGTH: usize = 8;
    pub const PARTITION_LEADER_EPOCH: usize = 12;
    pub const MAGIC: usize = 16;
    pub const CRC: usize = 17;
    /// The CRC covers everything from here to the end of the batch.
    pub const ATTRIBUTES: usize = 21;
    pub const LAST_OFFSET_DELTA: usize = 23;
    pub const BASE_TIMESTAMP: usize = 27;
    pub const MAX_TIMESTAMP: usize = 35;
    pub const PRODUCER_ID: usize = 43;
    pub const PRODUCER_EPOCH: usize = 51;
    pub const BASE_SEQUENCE: usize = 53;
    pub const RECORD_COUNT: usize = 57;
}

/// Reads a big-endian integer at a fixed offset of a buffer already checked to be long enough.
macro_rules! read_be {
    ($name:ident, $ty:ty) => {
        #[inline]
        pub(crate) fn $name(buf: &[u8], at: usize) -> $ty {
            const N: usize = std::mem::size_of::<$ty>();
            let mut a = [0u8; N];
            a.copy_from_slice(&buf[at..at + N]);
            <$ty>::from_be_bytes(a)
        }
    };
}
read_be!(be_i16, i16);
read_be!(be_i32, i32);
read_be!(be_i64, i64);
read_be!(be_u32, u32);

/// How a batch's timestamps are to be read (attribute bit 3).
///
/// ```
/// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS, TimestampType};
/// let mut b = BatchBuilder::new(Compression::None).timestamp_type(TimestampType::LogAppendTime);
/// b.append(1_000, None, None, NO_HEADERS)?;
/// let batch = b.seal()?.decode()?;
/// assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// The producer's timestamp (`CreateTime`), what producers write.
    #[default]
    CreateTime,
    /// The broker's append time (`LogAppendTime`): the batch's max timestamp applies to every
    /// record.
    LogAppendTime,
}

/// The attributes field of a v2 batch (int16).
///
/// | bits | meaning |
/// |---|---|
/// | 0-2 | compression codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd) |
/// | 3 | timestamp type (1 = `LogAppendTime`) |
/// | 4 | transactional |
/// | 5 | control batch |
/// | 6 | has delete horizon (KIP-534: the base timestamp is the delete horizon) |
///
/// ```
/// use klamm_protocol::record::{Attributes, Compression};
/// let a = Attributes::default().with_compression(Compression::Zstd).with_transactional(true);
/// assert_eq!(a.0, 0b1_0100);
/// assert!(a.is_transactional());
/// assert_eq!(a.compression_id(), 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Attributes(pub i16);

impl Attributes {
    const COMPRESSION_MASK: i16 = 0x07;
    const TIMESTAMP_TYPE: i16 = 0x08;
    const TRANSACTIONAL: i16 = 0x10;
    const CONTROL: i16 = 0x20;
    const DELETE_HORIZON: i16 = 0x40;

    /// The raw compression codec id (bits 0-2).
    ///
    /// ```
    /// use klamm_protocol::record::Attributes;
    /// assert_eq!(Attributes(0b0001_0011).compression_id(), 3);
    /// ```
    pub const fn compression_id(self) -> u8 {
        (self.0 & Self::COMPRESSION_MASK) as u8
    }

    /// The compression codec, or an error for ids 5-7.
    ///
    /// ```
    /// use klamm_protocol::record::{Attributes, Compression};
    /// assert_eq!(Attributes(2).compression()?, Compression::Snappy);
    /// assert!(Attributes(7).compression().is_err());
    /// # Ok::<(), klamm_protocol::DecodeError>(())
    /// ```
    pub fn compression(self) -> Result<Compression, DecodeError> {
        Compression::from_id(self.compression_id())
    }

    /// The timestamp type (bit 3).
    ///
    /// ```
    /// use klamm_protocol::record::{Attributes, TimestampType};
    /// assert_eq!(Attributes(0x08).timestamp_type(), TimestampType::LogAppendTime);
    /// assert_eq!(Attributes(0).timestamp_type(), TimestampType::CreateTime);
    /// ```
    pub const fn timestamp_type(self) -> TimestampType {
        if self.0 & Self::TIMESTAMP_TYPE != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Whether the batch belongs to a transaction (bit 4).
    ///
    /// ```
    /// use klamm_protocol::record::Attributes;
    /// assert!(Attributes(0x10).is_transactional());
    /// ```
    pub const fn is_transactional(self) -> bool {
        self.0 & Self::TRANSACTIONAL != 0
    }

    /// Whether the batch holds control records (bit 5).
    ///
    /// ```
    /// use klamm_protocol::record::Attributes;
    /// assert!(Attributes(0x30).is_control());
    /// assert!(!Attributes(0x10).is_control());
    /// ```
    pub const fn is_control(self) -> bool {
        self.0 & Self::CONTROL != 0
    }

    /// Whether the base timestamp is a delete horizon (bit 6, KIP-534).
    ///
    /// ```
    /// use klamm_protocol::record::Attributes;
    /// assert!(Attributes(0x40).has_delete_horizon());
    /// assert!(!Attributes::default().has_delete_horizon());
    /// ```
    pub const fn has_delete_horizon(self) -> bool {
        self.0 & Self::DELETE_HORIZON != 0
    }

    const fn with_bit(self, bit: i16, on: bool) -> Self {
        Attributes(if on { self.0 | bit } else { self.0 & !bit })
    }

    /// These attributes with the compression codec set.
    ///
    /// ```
    /// use klamm_protocol::record::{Attributes, Compression};
    /// let a = Attributes(0x10).with_compression(Compression::Gzip);
    /// assert_eq!(a.0, 0x11); // other bits kept
    /// ```
    pub const fn with_compression(self, c: Compression) -> Self {
        Attributes((self.0 & !Self::COMPRESSION_MASK) | c.id() as i16)
    }

    /// These attributes with the timestamp type set.
    ///
    /// ```
    /// use klamm_protocol::record::{Attributes, TimestampType};
    /// let a = Attributes::default().with_timestamp_type(TimestampType::LogAppendTime);
    /// assert_eq!(a.0, 0x08);
    /// ```
    pub const fn with_timestamp_type(self, t: TimestampType) -> Self {
        self.with_bit(
            Self::TIMESTAMP_TYPE,
            matches!(t, TimestampType::LogAppendTime),
        )
    }

    /// These attributes with the transactional flag set or cleared.
    ///
    /// ```
    /// use klamm_protocol::record::Attributes;
    /// assert_eq!(Attributes(0x10).with_transactional(false).0, 0);
    /// ```
    pub const fn with_transactional(self, on: bool) -> Self {
        self.with_bit(Self::TRANSACTIONAL, on)
    }

    /// These attributes with the control flag set or cleared.
    ///
    /// ```
    /// use klamm_protocol::record::Attributes;
    /// assert!(Attributes::default().with_control(true).is_control());
    /// ```
    pub const fn with_control(self, on: bool) -> Self {
        self.with_bit(Self::CONTROL, on)
    }
}

/// The fixed 61-byte header of a v2 batch, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub crc: u32,
    pub attributes: Attributes,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl BatchHeader {
    /// Parses and checks the header of the v2 batch that `buf` holds exactly.
    pub(crate) fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        if buf.len() < RECORD_BATCH_OVERHEAD {
            return Err(DecodeError::Truncated {
                what: "record batch header",
                needed: RECORD_BATCH_OVERHEAD,
                remaining: buf.len(),
            });
        }
        let magic = buf[off::MAGIC] as i8;
        if magic != MAGIC_V2 {
            return Err(DecodeError::UnsupportedMagic(magic));
        }
        let h = BatchHeader {
            base_offset: be_i64(buf, off::BASE_OFFSET),
            batch_length: be_i32(buf, off::BATCH_LENGTH),
            partition_leader_epoch: be_i32(buf, off::PARTITION_LEADER_EPOCH),
            crc: be_u32(buf, off::CRC),
            attributes: Attributes(be_i16(buf, off::ATTRIBUTES)),
            last_offset_delta: be_i32(buf, off::LAST_OFFSET_DELTA),
            base_timestamp: be_i64(buf, off::BASE_TIMESTAMP),
            max_timestamp: be_i64(buf, off::MAX_TIMESTAMP),
            producer_id: be_i64(buf, off::PRODUCER_ID),
            producer_epoch: be_i16(buf, off::PRODUCER_EPOCH),
            base_sequence: be_i32(buf, off::BASE_SEQUENCE),
            record_count: be_i32(buf, off::RECORD_COUNT),
        };
        let expected = buf.len() - super::LOG_OVERHEAD;
        if h.batch_length < 0 || h.batch_length as usize != expected {
            return Err(DecodeError::InvalidLength {
                what: "record batch",
                len: h.batch_length as i64,
                remaining: expected,
            });
        }
        if h.record_count < 0 {
            return Err(DecodeError::InvalidLength {
                what: "record count",
                len: h.record_count as i64,
                remaining: buf.len() - RECORD_BATCH_OVERHEAD,
            });
        }
        Ok(h)
    }
}
