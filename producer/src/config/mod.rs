//! Producer settings, named after Java's `ProducerConfig`, with Java 3.x defaults.
//!
//! [`ProducerConfig::builder`] collects settings; [`ProducerConfigBuilder::build`] validates the
//! combination exactly where Java's `KafkaProducer` constructor would throw a `ConfigException`,
//! and returns a [`ConfigError`] that says which setting to change.

mod builder;
mod validate;

pub use builder::ProducerConfigBuilder;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::partitioner::PartitionerFn;

/// How many replicas must acknowledge a write before the broker answers (`acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Acks {
    /// `acks=0`: the broker does not answer; offsets are unknown (reported as `-1`).
    None,
    /// `acks=1`: the leader has written the record.
    Leader,
    /// `acks=all` (`-1`): every in-sync replica has the record. Java's default since 3.0.
    #[default]
    All,
}

impl Acks {
    /// The value sent in a Produce request (`0`, `1` or `-1`).
    pub fn as_i16(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

pub use klamm_protocol::record::Compression;

/// How records are assigned to partitions when they name none (`partitioner.class`).
#[derive(Clone, Default)]
pub enum PartitionerChoice {
    /// Java's built-in partitioner: murmur2 of the key for keyed records, the uniform sticky
    /// partitioner of KIP-794 for keyless ones.
    #[default]
    Default,
    /// Java's `RoundRobinPartitioner`: every record (keyed or not) goes to the next available
    /// partition in turn.
    RoundRobin,
    /// A user function; see [`PartitionerFn`].
    Custom(Arc<PartitionerFn>),
}

impl fmt::Debug for PartitionerChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartitionerChoice::Default => f.write_str("Default"),
            PartitionerChoice::RoundRobin => f.write_str("RoundRobin"),
            PartitionerChoice::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// Validated producer settings. Build one with [`ProducerConfig::builder`].
///
/// Every field carries the Java setting it corresponds to and Java 3.x's default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProducerConfig {
    /// `bootstrap.servers`: `host:port` pairs to fetch the first metadata from. Required.
    pub bootstrap: Vec<String>,
    /// `client.id`, sent in every request header. Default `"klamm-producer"`.
    pub client_id: String,
    /// `acks`. Default [`Acks::All`].
    pub acks: Acks,
    /// `linger.ms`: how long a batch may wait for more records. Default 0 (Java 3.x; Java 4.0
    /// uses 5 ms).
    pub linger: Duration,
    /// `batch.size` in bytes: a batch is sealed when the next record would not fit. `0` puts
    /// every record in its own batch, as in Java. Default 16384.
    pub batch_size: usize,
    /// `buffer.memory` in bytes: the most that records waiting to be sent may occupy.
    /// Default 32 MiB.
    pub buffer_memory: usize,
    /// `max.block.ms`: how long `send` waits for buffer memory (or metadata). Default 60 s.
    pub max_block: Duration,
    /// `max.request.size` in bytes: the largest record (and request) the producer sends.
    /// Default 1 MiB.
    pub max_request_size: usize,
    /// `compression.type`. Default [`Compression::None`].
    pub compression: Compression,
    /// `compression.gzip.level` (KIP-390): 1 (fastest) to 9 (smallest), used when
    /// `compression` is gzip. Default `None`: level 6, Java's default.
    pub compression_gzip_level: Option<i32>,
    /// `compression.zstd.level` (KIP-390): -131072 (fastest) to 22 (smallest), used when
    /// `compression` is zstd. Default `None`: level 3, Java's default. (LZ4 compresses at
    /// lz4_flex's one level; there is no `compression.lz4.level`.)
    pub compression_zstd_level: Option<i32>,
    /// `delivery.timeout.ms`: upper bound from `send` returning to the future resolving.
    /// Default 120 s.
    pub delivery_timeout: Duration,
    /// `request.timeout.ms`: how long to wait for one response. Default 30 s.
    pub request_timeout: Duration,
    /// `retry.backoff.ms`: the first wait before retrying. Default 100 ms.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms` (KIP-580): the exponential backoff's ceiling. Default 1 s.
    pub retry_backoff_max: Duration,
    /// `retries`: how often a batch is retried (within `delivery_timeout`). Default `i32::MAX`.
    pub retries: u32,
    /// `max.in.flight.requests.per.connection`. Default 5 (at most 5 with idempotence).
    pub max_in_flight: usize,
    /// `enable.idempotence`, after Java's rule: on by default, turned off silently when it was
    /// not set explicitly and another setting conflicts with it (acks != all, ...).
    pub enable_idempotence: bool,
    /// `partitioner.class`. Default [`PartitionerChoice::Default`].
    pub partitioner: PartitionerChoice,
    /// `partitioner.ignore.keys`: use the sticky partitioner for keyed records too. Default false.
    pub partitioner_ignore_keys: bool,
    /// `partitioner.adaptive.partitioning.enable`: the sticky partitioner favours partitions
    /// whose leaders have shorter queues. Default true.
    pub partitioner_adaptive: bool,
    /// `partitioner.availability.timeout.ms` (KIP-794): a leader that has had batches ready
    /// for this long without taking any (down, hanging, throttling) has its partitions left
    /// out by the adaptive sticky partitioner until it takes requests again; zero disables
    /// the check. Like Java, it needs `partitioner_adaptive` and applies to records the
    /// sticky partitioner places (not keyed ones). Default 0.
    pub partitioner_availability_timeout: Duration,
    /// `metadata.max.age.ms`: refresh metadata at least this often. Default 5 min.
    pub metadata_max_age: Duration,
    /// `metadata.max.idle.ms`: forget a topic not produced to for this long (its metadata
    /// leaves the refreshes; its next record fetches it again). Default 5 min. A producer
    /// built on a shared klamm-net cluster (`build_on`) reports the topics it sends to, and
    /// the cluster's own `metadata_max_idle` decides.
    pub metadata_max_idle: Duration,
    /// `transactional.id`, for klamm-txn. Default none.
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`. Default 60 s.
    pub transaction_timeout: Duration,
}

impl ProducerConfig {
    /// A builder with Java 3.x defaults; only `bootstrap` is required.
    pub fn builder() -> ProducerConfigBuilder {
        ProducerConfigBuilder::default()
    }

    /// The level the configured codec compresses at, if one was set for it (KIP-390).
    ///
    /// ```
    /// use klamm_producer::{Compression, ProducerConfig};
    /// let config = ProducerConfig::builder()
    ///     .bootstrap(["localhost:9092"])
    ///     .compression(Compression::Zstd)
    ///     .compression_zstd_level(19)
    ///     .compression_gzip_level(1)
    ///     .build()?;
    /// assert_eq!(config.compression_level(), Some(19));
    /// # Ok::<(), klamm_producer::ConfigError>(())
    /// ```
    pub fn compression_level(&self) -> Option<i32> {
        match self.compression {
            Compression::Gzip => self.compression_gzip_level,
            Compression::Zstd => self.compression_zstd_level,
            _ => None,
        }
    }

    /// The wait before the `attempt`-th retry (1-based), as KIP-580 defines it:
    /// `retry_backoff * 2^(attempt-1)`, capped at `retry_backoff_max`, times a random factor
    /// in `[0.8, 1.2]` so that producers that failed together do not retry in lockstep.
    /// klamm-net's [`backoff`](klamm_net::backoff::backoff) computes it (one implementation
    /// for reconnects, batch retries and coordinator retries).
    pub fn backoff_for(&self, attempt: u32) -> Duration {
        klamm_net::backoff::backoff(
            self.retry_backoff,
            self.retry_backoff_max.max(self.retry_backoff),
            attempt.saturating_sub(1),
        )
    }

    /// [`backoff_for`](Self::backoff_for) before the jitter: the centre of the band the wait
    /// is drawn from.
    pub fn backoff_base_for(&self, attempt: u32) -> Duration {
        klamm_net::backoff::exponential(
            self.retry_backoff,
            self.retry_backoff_max.max(self.retry_backoff),
            attempt.saturating_sub(1),
        )
    }
}

/// A setting, or a combination of settings, that the producer refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `bootstrap` is empty.
    #[error("bootstrap is empty: give at least one broker address as host:port")]
    EmptyBootstrap,
    /// A bootstrap entry is not `host:port` with a valid port.
    #[error("bootstrap address {0:?} is not host:port with a port in 1..=65535")]
    InvalidBootstrapAddress(String),
    /// A size setting that must be positive is zero.
    #[error("{setting} must be greater than zero")]
    ZeroSize {
        /// The setting's name.
        setting: &'static str,
    },
    /// A value above what Kafka's protocol can carry.
    #[error("{setting} = {value} is larger than the maximum {max}")]
    TooLarge {
        /// The setting's name.
        setting: &'static str,
        /// The value given.
        value: u64,
        /// The largest accepted value.
        max: u64,
    },
    /// Idempotence was enabled explicitly together with a setting it cannot work with.
    #[error(
        "enable_idempotence(true) conflicts with {setting} = {value}: {requirement} \
         (or call enable_idempotence(false))"
    )]
    IdempotenceConflict {
        /// The conflicting setting's name.
        setting: &'static str,
        /// Its value.
        value: String,
        /// What idempotence requires.
        requirement: &'static str,
    },
    /// `delivery_timeout` was set explicitly below `linger + request_timeout`.
    #[error(
        "delivery_timeout ({delivery_ms} ms) must be at least linger + request_timeout \
         ({minimum_ms} ms)"
    )]
    DeliveryTimeoutTooShort {
        /// The configured delivery timeout in milliseconds.
        delivery_ms: u128,
        /// `linger + request_timeout` in milliseconds.
        minimum_ms: u128,
    },
    /// The codec is not compiled into this build (klamm-protocol's cargo feature is off).
    #[error(
        "compression {0} is not enabled in this build: turn on klamm-protocol's feature of that name"
    )]
    CompressionDisabled(Compression),
    /// A compression level outside its codec's range (KIP-390).
    #[error("{setting} {level} is out of range: {range}")]
    CompressionLevel {
        /// The setting's name.
        setting: &'static str,
        /// The level given.
        level: i32,
        /// The levels the codec accepts.
        range: &'static str,
    },
    /// A zero duration where the producer needs time to do its job.
    #[error("{setting} must be greater than zero")]
    ZeroDuration {
        /// The setting's name.
        setting: &'static str,
    },
    /// `client_id` or `transactional_id` holds characters Kafka does not allow or is too long.
    #[error("{setting} {value:?} is invalid: {reason}")]
    InvalidId {
        /// The setting's name.
        setting: &'static str,
        /// The value given.
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
}
