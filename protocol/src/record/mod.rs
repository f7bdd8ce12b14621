//! Kafka record batches: RecordBatch v2 (magic 2) both ways, legacy message sets v0/v1 (decode
//! only), control records (KIP-98 transaction markers) and compression.
//!
//! # Writing
//! A [`BatchBuilder`] appends records straight into one buffer and [`BatchBuilder::seal`]s them
//! into a [`SealedBatch`]: the exact bytes Kafka keeps on disk and sends on the wire. The fields
//! a producer fills in later (producer id, epoch, base sequence, transactional flag) and the one
//! a broker assigns (base offset) can be set on the sealed batch without re-encoding it.
//!
//! ```
//! use klamm_protocol::record::{BatchBuilder, Compression, Header, RecordBatch};
//!
//! let mut b = BatchBuilder::new(Compression::None);
//! b.append(1_700_000_000_000, Some(b"k"), Some(b"v1"), &[Header::new("h", Some(b"x"))])?;
//! b.append(1_700_000_000_005, None, Some(b"v2"), &[] as &[Header])?;
//! let mut batch = b.seal()?;
//! batch.set_producer(42, 0, 7); // first drain: assign producer id, epoch, base sequence
//!
//! let read = RecordBatch::decode(batch.to_bytes())?;
//! assert_eq!(read.producer_id(), 42);
//! let records: Vec<_> = read.records()?.collect::<Result<_, _>>()?;
//! assert_eq!(records[1].value.as_deref(), Some(&b"v2"[..]));
//! assert_eq!(records[1].timestamp, 1_700_000_000_005);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Reading
//! [`RecordBatch::decode`] checks the header and the CRC-32C; [`RecordBatch::records`] walks the
//! records lazily and hands out keys, values and header values as zero-copy [`bytes::Bytes`]
//! slices (of the decompressed buffer when the batch is compressed). [`RecordBatches`] walks the
//! many batches of one `records` field and stops cleanly at a truncated last batch, as a Fetch
//! response may end with one.
//!
//! # Limits
//! Decoding never panics and never allocates more than its input holds, except for
//! decompression, whose output is bounded by [`DecodeOptions::max_decompressed_size`]
//! (default [`DEFAULT_MAX_DECOMPRESSED_SIZE`], 64 MiB): a batch that inflates beyond it is
//! refused with [`DecodeError::Invalid`](crate::DecodeError::Invalid).

mod batch;
mod batches;
mod builder;
mod compression;
pub mod control;
mod crc32;
mod header;
pub mod legacy;
mod records;
mod sealed;
mod write;

pub use batch::{DecodeOptions, RecordBatch};
pub use batches::RecordBatches;
pub use builder::{BatchBuilder, DEFAULT_CAPACITY};
pub use compression::Compression;
pub use control::{ControlRecordType, EndTxnMarker};
pub use header::{Attributes, TimestampType};
pub use records::{Record, RecordHeader, RecordHeaders, RecordRef, Records};
pub use sealed::SealedBatch;
pub use write::{AsHeader, Header};

/// An empty header list for [`BatchBuilder::append`], which needs a typed slice.
///
/// ```
/// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS};
/// let mut b = BatchBuilder::new(Compression::None);
/// b.append(0, None, Some(b"v"), NO_HEADERS)?;
/// # Ok::<(), klamm_protocol::EncodeError>(())
/// ```
pub const NO_HEADERS: &[Header<'static>] = &[];

/// The magic byte of RecordBatch v2, the only format this crate writes.
///
/// ```
/// use klamm_protocol::record::*;
/// let mut b = BatchBuilder::new(Compression::None);
/// b.append(0, None, Some(b"v"), NO_HEADERS)?;
/// let sealed = b.seal()?;
/// assert_eq!(sealed.as_bytes()[16] as i8, MAGIC_V2);
/// # Ok::<(), klamm_protocol::EncodeError>(())
/// ```
pub const MAGIC_V2: i8 = 2;

/// Size of the RecordBatch v2 header, up to and including the record count.
///
/// ```
/// use klamm_protocol::record::*;
/// let mut b = BatchBuilder::new(Compression::None);
/// b.append(0, None, Some(b"v"), NO_HEADERS)?;
/// // Header plus one record of 8 bytes.
/// assert_eq!(b.seal()?.size(), RECORD_BATCH_OVERHEAD + 8);
/// # Ok::<(), klamm_protocol::EncodeError>(())
/// ```
pub const RECORD_BATCH_OVERHEAD: usize = 61;

/// Bytes before the `batchLength` field's payload: base offset (8) and batch length (4).
/// A `records` field holding fewer bytes than this at its end holds a truncated batch.
///
/// ```
/// use klamm_protocol::record::*;
/// let mut b = BatchBuilder::new(Compression::None);
/// b.append(0, None, Some(b"v"), NO_HEADERS)?;
/// let batch = b.seal()?.decode()?;
/// assert_eq!(batch.batch_length() as usize + LOG_OVERHEAD, batch.size());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const LOG_OVERHEAD: usize = 12;

/// "No producer id" (not idempotent), as Kafka writes it.
///
/// ```
/// use klamm_protocol::record::*;
/// let mut b = BatchBuilder::new(Compression::None);
/// b.append(0, None, Some(b"v"), NO_HEADERS)?;
/// assert_eq!(b.seal()?.producer_id(), NO_PRODUCER_ID);
/// # Ok::<(), klamm_protocol::EncodeError>(())
/// ```
pub const NO_PRODUCER_ID: i64 = -1;

/// "No producer epoch", as Kafka writes it.
///
/// ```
/// use klamm_protocol::record::*;
/// let mut b = BatchBuilder::new(Compression::None);
/// b.append(0, None, Some(b"v"), NO_HEADERS)?;
/// assert_eq!(b.seal()?.producer_epoch(), NO_PRODUCER_EPOCH);
/// # Ok::<(), klamm_protocol::EncodeError>(())
/// ```
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// "No sequence", as Kafka writes it.
///
/// ```
/// use klamm_protocol::record::*;
/// let mut b = BatchBuilder::new(Compression::None);
/// b.append(0, None, Some(b"v"), NO_HEADERS)?;
/// let sealed = b.seal()?;
/// assert_eq!((sealed.base_sequence(), sealed.last_sequence()), (NO_SEQUENCE, NO_SEQUENCE));
/// # Ok::<(), klamm_protocol::EncodeError>(())
/// ```
pub const NO_SEQUENCE: i32 = -1;

/// "No partition leader epoch", as a producer writes it (the broker fills it in).
///
/// ```
/// use klamm_protocol::record::*;
/// let mut b = BatchBuilder::new(Compression::None);
/// b.append(0, None, Some(b"v"), NO_HEADERS)?;
/// assert_eq!(b.seal()?.partition_leader_epoch(), NO_PARTITION_LEADER_EPOCH);
/// # Ok::<(), klamm_protocol::EncodeError>(())
/// ```
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;

/// The default bound on the decompressed size of one batch: 64 MiB.
///
/// ```
/// use klamm_protocol::record::{DEFAULT_MAX_DECOMPRESSED_SIZE, DecodeOptions};
/// assert_eq!(DecodeOptions::default().max_decompressed_size, DEFAULT_MAX_DECOMPRESSED_SIZE);
/// ```
pub const DEFAULT_MAX_DECOMPRESSED_SIZE: usize = 64 * 1024 * 1024;
