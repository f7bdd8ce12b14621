#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod accumulator;
mod builder;
pub mod config;
pub mod delivery;
pub mod error;
#[cfg(test)]
mod fake;
pub mod idempotence;
#[cfg(test)]
mod max_block_tests;
pub mod memory;
pub mod partitioner;
mod producer;
pub mod record;
pub mod sender;
#[cfg(test)]
mod split_tests;
#[cfg(test)]
mod txn_hook_tests;

pub use builder::ProducerBuilder;
pub use config::{
    Acks, Compression, ConfigError, PartitionerChoice, ProducerConfig, ProducerConfigBuilder,
};
pub use delivery::DeliveryFuture;
pub use error::{CloseReason, ErrorKind, ProducerError};
pub use producer::{Producer, ProducerMetrics, SendFuture};
pub use record::{Header, ProducerRecord, RecordMetadata};
pub use sender::TransactionHook;
