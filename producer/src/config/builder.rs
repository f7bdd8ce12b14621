//! [`ProducerConfigBuilder`]: one setter per Java setting, validated in `build`.

use std::sync::Arc;
use std::time::Duration;

use super::{Acks, Compression, ConfigError, PartitionerChoice, ProducerConfig};
use crate::partitioner::PartitionerContext;

/// Collects producer settings; [`build`](Self::build) validates them.
///
/// Settings left alone take Java 3.x's defaults. A few defaults depend on whether a setting was
/// given explicitly (as in Java): idempotence is switched off silently when it was not enabled
/// explicitly and `acks`, `retries` or `max_in_flight` conflict with it, and an unset
/// `delivery_timeout` grows to `linger + request_timeout` when that is larger.
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until build() is called"]
pub struct ProducerConfigBuilder {
    pub(super) bootstrap: Vec<String>,
    pub(super) client_id: Option<String>,
    pub(super) acks: Option<Acks>,
    pub(super) linger: Option<Duration>,
    pub(super) batch_size: Option<usize>,
    pub(super) buffer_memory: Option<usize>,
    pub(super) max_block: Option<Duration>,
    pub(super) max_request_size: Option<usize>,
    pub(super) compression: Option<Compression>,
    pub(super) compression_gzip_level: Option<i32>,
    pub(super) compression_zstd_level: Option<i32>,
    pub(super) delivery_timeout: Option<Duration>,
    pub(super) request_timeout: Option<Duration>,
    pub(super) retry_backoff: Option<Duration>,
    pub(super) retry_backoff_max: Option<Duration>,
    pub(super) retries: Option<u32>,
    pub(super) max_in_flight: Option<usize>,
    pub(super) enable_idempotence: Option<bool>,
    pub(super) partitioner: Option<PartitionerChoice>,
    pub(super) partitioner_ignore_keys: Option<bool>,
    pub(super) partitioner_adaptive: Option<bool>,
    pub(super) partitioner_availability_timeout: Option<Duration>,
    pub(super) metadata_max_age: Option<Duration>,
    pub(super) metadata_max_idle: Option<Duration>,
    pub(super) transactional_id: Option<String>,
    pub(super) transaction_timeout: Option<Duration>,
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.$name = Some(value);
            self
        }
    };
}

impl ProducerConfigBuilder {
    /// `bootstrap.servers`: the brokers to fetch the first metadata from (`host:port` each).
    /// Replaces any earlier list.
    pub fn bootstrap<I, S>(mut self, servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.bootstrap = servers.into_iter().map(Into::into).collect();
        self
    }

    /// `client.id`: the name brokers log and apply quotas to.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    setter!(
        /// `acks`: how many replicas must have a record before it counts as written.
        acks: Acks
    );
    setter!(
        /// `linger.ms`: how long a batch waits for more records before it is sendable.
        linger: Duration
    );
    setter!(
        /// `batch.size`: the size in bytes a batch is sealed at (`0`: one record per batch).
        batch_size: usize
    );
    setter!(
        /// `buffer.memory`: the bytes records waiting to be sent may take at most.
        buffer_memory: usize
    );
    setter!(
        /// `max.block.ms`: how long `send` waits for buffer memory before it fails.
        max_block: Duration
    );
    setter!(
        /// `max.request.size`: the largest record, and the largest Produce request, in bytes.
        max_request_size: usize
    );
    setter!(
        /// `compression.type`.
        compression: Compression
    );
    setter!(
        /// `compression.gzip.level` (KIP-390): 1 to 9, for gzip batches (default 6).
        compression_gzip_level: i32
    );
    setter!(
        /// `compression.zstd.level` (KIP-390): -131072 to 22, for zstd batches (default 3).
        compression_zstd_level: i32
    );
    setter!(
        /// `delivery.timeout.ms`: how long a record may take from `send` to its outcome.
        delivery_timeout: Duration
    );
    setter!(
        /// `request.timeout.ms`: how long to wait for a broker's response.
        request_timeout: Duration
    );
    setter!(
        /// `retry.backoff.ms`: the first wait before a retry.
        retry_backoff: Duration
    );
    setter!(
        /// `retry.backoff.max.ms`: the ceiling of the exponential retry backoff.
        retry_backoff_max: Duration
    );
    setter!(
        /// `retries`: how often a failed batch may be retried within `delivery_timeout`.
        retries: u32
    );
    setter!(
        /// `max.in.flight.requests.per.connection` (at most 5 with idempotence).
        max_in_flight: usize
    );
    setter!(
        /// `enable.idempotence`: exactly-once, in-order writes per partition.
        enable_idempotence: bool
    );
    setter!(
        /// `partitioner.ignore.keys`: spread keyed records like keyless ones.
        partitioner_ignore_keys: bool
    );
    setter!(
        /// `partitioner.adaptive.partitioning.enable`: favour partitions with short queues.
        partitioner_adaptive: bool
    );
    setter!(
        /// `partitioner.availability.timeout.ms`: skip partitions whose leader stalls this
        /// long (zero: never).
        partitioner_availability_timeout: Duration
    );
    setter!(
        /// `metadata.max.age.ms`: refresh metadata at least this often.
        metadata_max_age: Duration
    );
    setter!(
        /// `metadata.max.idle.ms`: forget topics not produced to for this long.
        metadata_max_idle: Duration
    );
    setter!(
        /// `transaction.timeout.ms` (used by klamm-txn).
        transaction_timeout: Duration
    );
    setter!(
        /// `partitioner.class`: the partitioner for records that name no partition.
        partitioner: PartitionerChoice
    );

    /// `transactional.id` (used by klamm-txn; requires idempotence).
    pub fn transactional_id(mut self, id: impl Into<String>) -> Self {
        self.transactional_id = Some(id.into());
        self
    }

    /// A custom partitioner: a function from the record's topic, key and the number of
    /// partitions to a partition in `0..partitions`.
    pub fn partitioner_fn<F>(self, f: F) -> Self
    where
        F: Fn(&PartitionerContext<'_>) -> i32 + Send + Sync + 'static,
    {
        self.partitioner(PartitionerChoice::Custom(Arc::new(f)))
    }

    /// Validate the settings and fill in the defaults.
    pub fn build(self) -> Result<ProducerConfig, ConfigError> {
        super::validate::validate(self)
    }
}
