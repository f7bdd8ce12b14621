//! Control records (KIP-98): the COMMIT and ABORT markers a transaction coordinator writes
//! into every partition of a finished transaction.
//!
//! A control record's key is `version: int16, type: int16` and, for transaction markers, its
//! value is `version: int16, coordinator_epoch: int32`. Both versions are 0 today.
//!
//! ```
//! use klamm_protocol::record::{control, ControlRecordType, EndTxnMarker, RecordBatch};
//!
//! // A broker (the testkit) writes an ABORT marker for producer 9, epoch 2, at offset 31.
//! let mut batch = control::end_txn_batch(EndTxnMarker::new(ControlRecordType::Abort, 4), 9, 2, 0)?;
//! batch.set_base_offset(31);
//! let read = RecordBatch::decode(batch.into_bytes())?;
//! assert!(read.is_control() && read.is_transactional());
//! let marker = read.end_txn_marker()?.unwrap();
//! assert_eq!(marker.kind, ControlRecordType::Abort);
//! assert_eq!(marker.coordinator_epoch, 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::error::{DecodeError, EncodeError};

use super::write::Header;
use super::{BatchBuilder, Compression, NO_SEQUENCE, Record, SealedBatch};

/// The type of a control record (the key's second int16).
///
/// ```
/// use klamm_protocol::record::ControlRecordType;
/// let kind = ControlRecordType::from_key(&ControlRecordType::Commit.key())?;
/// assert_eq!(kind, ControlRecordType::Commit);
/// # Ok::<(), klamm_protocol::DecodeError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    /// Transaction aborted (0).
    Abort,
    /// Transaction committed (1).
    Commit,
    /// KRaft leader change (2).
    LeaderChange,
    /// KRaft snapshot header (3).
    SnapshotHeader,
    /// KRaft snapshot footer (4).
    SnapshotFooter,
    /// KRaft version (5).
    KraftVersion,
    /// KRaft voters (6).
    KraftVoters,
    /// A type this crate does not know.
    Unknown(i16),
}

impl ControlRecordType {
    /// The type for its wire value.
    ///
    /// ```
    /// use klamm_protocol::record::ControlRecordType;
    /// assert_eq!(ControlRecordType::from_i16(0), ControlRecordType::Abort);
    /// assert_eq!(ControlRecordType::from_i16(99), ControlRecordType::Unknown(99));
    /// ```
    pub const fn from_i16(v: i16) -> Self {
        match v {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            2 => ControlRecordType::LeaderChange,
            3 => ControlRecordType::SnapshotHeader,
            4 => ControlRecordType::SnapshotFooter,
            5 => ControlRecordType::KraftVersion,
            6 => ControlRecordType::KraftVoters,
            other => ControlRecordType::Unknown(other),
        }
    }

    /// The wire value.
    ///
    /// ```
    /// use klamm_protocol::record::ControlRecordType;
    /// assert_eq!(ControlRecordType::Commit.as_i16(), 1);
    /// assert_eq!(ControlRecordType::Unknown(99).as_i16(), 99);
    /// ```
    pub const fn as_i16(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
            ControlRecordType::LeaderChange => 2,
            ControlRecordType::SnapshotHeader => 3,
            ControlRecordType::SnapshotFooter => 4,
            ControlRecordType::KraftVersion => 5,
            ControlRecordType::KraftVoters => 6,
            ControlRecordType::Unknown(v) => v,
        }
    }

    /// Reads the type from a control record key (`version: int16, type: int16`).
    ///
    /// ```
    /// use klamm_protocol::record::ControlRecordType;
    /// assert_eq!(ControlRecordType::from_key(&[0, 0, 0, 1])?, ControlRecordType::Commit);
    /// assert!(ControlRecordType::from_key(&[0, 0]).is_err());
    /// # Ok::<(), klamm_protocol::DecodeError>(())
    /// ```
    pub fn from_key(key: &[u8]) -> Result<Self, DecodeError> {
        if key.len() < 4 {
            return Err(DecodeError::Truncated {
                what: "control record key",
                needed: 4,
                remaining: key.len(),
            });
        }
        let version = i16::from_be_bytes([key[0], key[1]]);
        if version < 0 {
            return Err(DecodeError::Invalid {
                what: "control record key",
                detail: format!("negative version {version}"),
            });
        }
        Ok(Self::from_i16(i16::from_be_bytes([key[2], key[3]])))
    }

    /// The control record key for this type (version 0).
    ///
    /// ```
    /// use klamm_protocol::record::ControlRecordType;
    /// assert_eq!(ControlRecordType::Abort.key(), [0, 0, 0, 0]); // version 0, type 0
    /// ```
    pub const fn key(self) -> [u8; 4] {
        let t = self.as_i16().to_be_bytes();
        [0, 0, t[0], t[1]]
    }
}

/// A transaction marker: COMMIT or ABORT, and the coordinator epoch that wrote it.
///
/// ```
/// use klamm_protocol::record::{ControlRecordType, EndTxnMarker};
/// let marker = EndTxnMarker::new(ControlRecordType::Abort, 9);
/// assert_eq!(EndTxnMarker::decode(&marker.key(), &marker.value())?, marker);
/// assert!(!marker.is_commit());
/// # Ok::<(), klamm_protocol::DecodeError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndTxnMarker {
    /// [`ControlRecordType::Commit`] or [`ControlRecordType::Abort`].
    pub kind: ControlRecordType,
    /// The transaction coordinator's epoch.
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    /// A marker. `kind` should be `Commit` or `Abort`.
    ///
    /// ```
    /// use klamm_protocol::record::{ControlRecordType, EndTxnMarker};
    /// let marker = EndTxnMarker::new(ControlRecordType::Commit, 3);
    /// assert_eq!(marker.coordinator_epoch, 3);
    /// ```
    pub const fn new(kind: ControlRecordType, coordinator_epoch: i32) -> Self {
        EndTxnMarker {
            kind,
            coordinator_epoch,
        }
    }

    /// Whether this marker commits the transaction.
    ///
    /// ```
    /// use klamm_protocol::record::{ControlRecordType, EndTxnMarker};
    /// assert!(EndTxnMarker::new(ControlRecordType::Commit, 0).is_commit());
    /// ```
    pub fn is_commit(&self) -> bool {
        self.kind == ControlRecordType::Commit
    }

    /// The record key (version 0, type).
    ///
    /// ```
    /// use klamm_protocol::record::{ControlRecordType, EndTxnMarker};
    /// assert_eq!(EndTxnMarker::new(ControlRecordType::Commit, 0).key(), [0, 0, 0, 1]);
    /// ```
    pub const fn key(&self) -> [u8; 4] {
        self.kind.key()
    }

    /// The record value (version 0, coordinator epoch).
    ///
    /// ```
    /// use klamm_protocol::record::{ControlRecordType, EndTxnMarker};
    /// // version 0, then the coordinator epoch
    /// assert_eq!(EndTxnMarker::new(ControlRecordType::Commit, 2).value(), [0, 0, 0, 0, 0, 2]);
    /// ```
    pub const fn value(&self) -> [u8; 6] {
        let e = self.coordinator_epoch.to_be_bytes();
        [0, 0, e[0], e[1], e[2], e[3]]
    }

    /// Reads a marker from its key and value.
    ///
    /// ```
    /// use klamm_protocol::record::EndTxnMarker;
    /// let marker = EndTxnMarker::decode(&[0, 0, 0, 1], &[0, 0, 0, 0, 0, 4])?;
    /// assert!(marker.is_commit());
    /// assert_eq!(marker.coordinator_epoch, 4);
    /// assert!(EndTxnMarker::decode(&[0, 0, 0, 1], &[0]).is_err());
    /// # Ok::<(), klamm_protocol::DecodeError>(())
    /// ```
    pub fn decode(key: &[u8], value: &[u8]) -> Result<Self, DecodeError> {
        let kind = ControlRecordType::from_key(key)?;
        if !matches!(kind, ControlRecordType::Commit | ControlRecordType::Abort) {
            return Err(DecodeError::Invalid {
                what: "transaction marker",
                detail: format!(
                    "control record type {} is not COMMIT or ABORT",
                    kind.as_i16()
                ),
            });
        }
        if value.len() < 6 {
            return Err(DecodeError::Truncated {
                what: "transaction marker value",
                needed: 6,
                remaining: value.len(),
            });
        }
        let version = i16::from_be_bytes([value[0], value[1]]);
        if version < 0 {
            return Err(DecodeError::Invalid {
                what: "transaction marker value",
                detail: format!("negative version {version}"),
            });
        }
        Ok(EndTxnMarker {
            kind,
            coordinator_epoch: i32::from_be_bytes([value[2], value[3], value[4], value[5]]),
        })
    }

    /// Reads a marker from a control record.
    ///
    /// ```
    /// use klamm_protocol::record::{ControlRecordType, EndTxnMarker, RecordBatch, control};
    /// let marker = EndTxnMarker::new(ControlRecordType::Abort, 1);
    /// let batch = RecordBatch::decode(control::end_txn_batch(marker, 5, 0, 0)?.into_bytes())?;
    /// let record = batch.records()?.next().unwrap()?;
    /// assert_eq!(EndTxnMarker::from_record(&record)?, marker);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_record(r: &Record) -> Result<Self, DecodeError> {
        let key = r.key.as_deref().ok_or(DecodeError::UnexpectedNull {
            field: "control record key",
        })?;
        let value = r.value.as_deref().ok_or(DecodeError::UnexpectedNull {
            field: "transaction marker value",
        })?;
        Self::decode(key, value)
    }
}

/// Builds the control batch holding one transaction marker, as a coordinator writes it:
/// transactional and control attributes set, no sequence (-1), base offset 0 (set the real
/// one, and the partition leader epoch, on the returned batch), uncompressed.
///
/// ```
/// use klamm_protocol::record::{ControlRecordType, EndTxnMarker, control};
/// let marker = EndTxnMarker::new(ControlRecordType::Commit, 0);
/// let mut batch = control::end_txn_batch(marker, 1000, 2, 1_700_000_000_000)?;
/// batch.set_base_offset(42);
/// assert!(batch.is_control() && batch.is_transactional());
/// assert_eq!((batch.producer_id(), batch.record_count()), (1000, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn end_txn_batch(
    marker: EndTxnMarker,
    producer_id: i64,
    producer_epoch: i16,
    timestamp_ms: i64,
) -> Result<SealedBatch, EncodeError> {
    let mut b = BatchBuilder::with_capacity(Compression::None, 128)
        .producer(producer_id, producer_epoch, NO_SEQUENCE)
        .transactional(true)
        .control(true);
    b.append(
        timestamp_ms,
        Some(&marker.key()),
        Some(&marker.value()),
        &[] as &[Header],
    )?;
    b.seal()
}
