#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod backoff;
mod close_signal;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod error;
pub mod quotas;
pub mod read;
pub mod sasl;
pub mod throttle;

pub use cluster::{
    BrokerService, Cluster, ClusterBuilder, CoordinatorType, Metadata, bootstrap_servers,
};
pub use config::{ConnectionConfig, ConnectionConfigBuilder, TlsConfig};
pub use connection::{ApiVersions, BrokerConnection, KafkaRequest, Response, ResponseBody};
pub use error::{ConfigError, Error};
