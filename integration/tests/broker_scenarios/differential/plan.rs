//! What a case sends: the pinned request versions, the record batches it produces and the
//! Fetches it reads with.

/// The request versions a case runs at (both brokers must support them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    /// InitProducerId.
    pub init_producer_id: i16,
    /// AddPartitionsToTxn (v3 and below: the client form; v4+: the batched form).
    pub add_partitions: i16,
    /// Produce.
    pub produce: i16,
    /// EndTxn.
    pub end_txn: i16,
    /// Fetch (topics by name up to v12).
    pub fetch: i16,
}

/// Transaction version 1 (KIP-98 as clients before KIP-890 speak it).
pub const TV1: Versions = Versions {
    init_producer_id: 4,
    add_partitions: 3,
    produce: 9,
    end_txn: 3,
    fetch: 11,
};

/// Transaction version 2 (KIP-890 part 2: Produce v12 adds partitions implicitly, EndTxn v5
/// bumps the epoch), at the newest versions both brokers and klamm-protocol share.
pub const TV2: Versions = Versions {
    init_producer_id: 5,
    add_partitions: 5,
    produce: 12,
    end_txn: 5,
    fetch: 12,
};

/// The DescribeProducers version (the only one there is).
pub const DESCRIBE_PRODUCERS: i16 = 0;

/// A record batch a case produces.
#[derive(Debug, Clone)]
pub struct Batch {
    pub(super) partition: i32,
    pub(super) records: usize,
    pub(super) producer: Option<(i64, i16, i32)>,
    pub(super) transactional: bool,
    pub(super) transactional_id: Option<String>,
    pub(super) timestamp: Option<i64>,
}

impl Batch {
    /// `records` records without a producer id.
    pub fn plain(partition: i32, records: usize) -> Self {
        Batch {
            partition,
            records,
            producer: None,
            transactional: false,
            transactional_id: None,
            timestamp: None,
        }
    }

    /// `records` idempotent records of `pid`/`epoch` from sequence `seq`.
    pub fn idempotent(partition: i32, records: usize, pid: i64, epoch: i16, seq: i32) -> Self {
        Batch {
            producer: Some((pid, epoch, seq)),
            ..Batch::plain(partition, records)
        }
    }

    /// The same records, transactional, sent with `transactional_id`.
    pub fn txn(mut self, transactional_id: &str) -> Self {
        self.transactional = true;
        self.transactional_id = Some(transactional_id.to_owned());
        self
    }

    /// The same records stamped from `timestamp` on (instead of now).
    pub fn stamped(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// The same records marked transactional, in a Produce that names no transactional id.
    pub fn txn_without_id(mut self) -> Self {
        self.transactional = true;
        self
    }
}

/// A Fetch of one partition.
#[derive(Debug, Clone, Copy)]
pub struct Read {
    /// The partition.
    pub partition: i32,
    /// From this offset.
    pub offset: i64,
    /// `read_committed` (else `read_uncommitted`).
    pub committed: bool,
}

impl Read {
    /// A `read_committed` Fetch of `partition` from offset 0.
    pub fn committed(partition: i32) -> Self {
        Read {
            partition,
            offset: 0,
            committed: true,
        }
    }

    /// A `read_uncommitted` Fetch of `partition` from offset 0.
    pub fn uncommitted(partition: i32) -> Self {
        Read {
            committed: false,
            ..Read::committed(partition)
        }
    }

    /// The same Fetch from `offset`.
    pub fn at(mut self, offset: i64) -> Self {
        self.offset = offset;
        self
    }
}
