//! Walking the many batches of one `records` field.

use bytes::Bytes;

use crate::error::DecodeError;

use super::header::{be_i32, off};
use super::{DecodeOptions, LOG_OVERHEAD, MAGIC_V2, RECORD_BATCH_OVERHEAD, RecordBatch};

/// The batches of one `records` field (a Produce request partition, a Fetch response
/// partition), decoded one at a time.
///
/// A Fetch response may end with a partial batch (the broker cuts at `max_bytes`): the
/// iterator then ends cleanly and [`truncated_tail`](Self::truncated_tail) reports how many
/// bytes were left. A batch whose framing is intact but whose contents are bad (say, a CRC
/// mismatch) yields an `Err` and the walk goes on with the next batch; a broken framing (a
/// negative or too small length) yields an `Err` and ends the walk. Legacy message sets
/// (magic 0/1) yield [`DecodeError::UnsupportedMagic`] (read them with
/// [`legacy`](super::legacy)).
///
/// ```
/// use bytes::BytesMut;
/// use klamm_protocol::record::{BatchBuilder, Compression, Header, RecordBatches};
/// let mut field = BytesMut::new();
/// for i in 0..3 {
///     let mut b = BatchBuilder::new(Compression::None).base_offset(i);
///     b.append(0, None, Some(b"v"), &[] as &[Header])?;
///     field.extend_from_slice(b.seal()?.as_bytes());
/// }
/// field.extend_from_slice(&[0, 0, 0]); // a cut-off fourth batch
/// let mut batches = RecordBatches::new(field.freeze());
/// assert_eq!(batches.by_ref().count(), 3);
/// assert_eq!(batches.truncated_tail(), Some(3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct RecordBatches {
    buf: Bytes,
    pos: usize,
    opts: DecodeOptions,
    truncated: Option<usize>,
    done: bool,
}

impl RecordBatches {
    /// The batches of `records`, with default [`DecodeOptions`] (CRC verified).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS, RecordBatches};
    /// // Two batches back to back, as a Fetch response or a log segment holds them.
    /// let mut log = BytesMut::new();
    /// for base in [0, 1] {
    ///     let mut b = BatchBuilder::new(Compression::None).base_offset(base);
    ///     b.append(0, None, Some(b"v"), NO_HEADERS)?;
    ///     log.extend_from_slice(b.seal()?.as_bytes());
    /// }
    /// let offsets: Vec<i64> = RecordBatches::new(log.freeze()).map(|b| b.map(|b| b.base_offset())).collect::<Result<_, _>>()?;
    /// assert_eq!(offsets, [0, 1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(records: Bytes) -> Self {
        Self::with_options(records, DecodeOptions::default())
    }

    /// The batches of `records`, with options.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use klamm_protocol::record::{DecodeOptions, RecordBatches};
    /// let opts = DecodeOptions { verify_crc: false, ..DecodeOptions::default() };
    /// assert!(RecordBatches::with_options(Bytes::new(), opts).next().is_none());
    /// ```
    pub fn with_options(records: Bytes, opts: DecodeOptions) -> Self {
        RecordBatches {
            buf: records,
            pos: 0,
            opts,
            truncated: None,
            done: false,
        }
    }

    /// After the walk ended: the size of the partial batch at the end of the input, if any.
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS, RecordBatches};
    /// let mut b = BatchBuilder::new(Compression::None);
    /// b.append(0, None, Some(b"v"), NO_HEADERS)?;
    /// let whole = b.seal()?.into_bytes();
    /// // A fetch response may end in the middle of a batch.
    /// let mut batches = RecordBatches::new(whole.slice(..whole.len() - 3));
    /// assert!(batches.next().is_none());
    /// assert_eq!(batches.truncated_tail(), Some(whole.len() - 3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn truncated_tail(&self) -> Option<usize> {
        self.truncated
    }

    /// The byte position of the next batch in the input.
    ///
    /// ```
    /// use klamm_protocol::record::{BatchBuilder, Compression, NO_HEADERS, RecordBatches};
    /// let mut b = BatchBuilder::new(Compression::None);
    /// b.append(0, None, Some(b"v"), NO_HEADERS)?;
    /// let bytes = b.seal()?.into_bytes();
    /// let mut batches = RecordBatches::new(bytes.clone());
    /// batches.next().unwrap()?;
    /// assert_eq!(batches.position(), bytes.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl Iterator for RecordBatches {
    type Item = Result<RecordBatch, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.pos..];
        if rest.len() < LOG_OVERHEAD {
            self.truncated = Some(rest.len());
            self.done = true;
            return None;
        }
        let length = be_i32(rest, off::BATCH_LENGTH);
        // Legacy messages need at least 14 bytes after the length, v2 batches 49.
        if length < 14 {
            self.done = true;
            return Some(Err(DecodeError::InvalidLength {
                what: "record batch",
                len: length as i64,
                remaining: rest.len() - LOG_OVERHEAD,
            }));
        }
        let total = LOG_OVERHEAD as u64 + length as u64;
        if total > rest.len() as u64 {
            self.truncated = Some(rest.len());
            self.done = true;
            return None;
        }
        let total = total as usize;
        let start = self.pos;
        self.pos += total;
        let magic = rest[off::MAGIC] as i8;
        if magic != MAGIC_V2 {
            return Some(Err(DecodeError::UnsupportedMagic(magic)));
        }
        if total < RECORD_BATCH_OVERHEAD {
            self.done = true;
            return Some(Err(DecodeError::InvalidLength {
                what: "record batch",
                len: length as i64,
                remaining: rest.len() - LOG_OVERHEAD,
            }));
        }
        Some(RecordBatch::decode_with(
            self.buf.slice(start..start + total),
            &self.opts,
        ))
    }
}
