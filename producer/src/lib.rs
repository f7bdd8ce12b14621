#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod config;
pub mod partitioner;

pub use config::{
    Acks, Compression, ConfigError, PartitionerChoice, ProducerConfig, ProducerConfigBuilder,
};
