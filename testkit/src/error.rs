//! The testkit's error type.

use std::net::SocketAddr;

/// What can go wrong when starting or controlling a cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestkitError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No broker has this node id.
    #[error("no broker has node id {0}")]
    UnknownBroker(i32),
    /// The topic or partition does not exist.
    #[error("unknown topic or partition {topic}-{partition}")]
    UnknownPartition {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
    },
    /// A topic could not be created; the Kafka error code says why.
    #[error("cannot create topic {topic}: Kafka error code {code}")]
    CreateTopic {
        /// Topic.
        topic: String,
        /// Kafka error code.
        code: i16,
    },
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// TLS set-up failed.
    #[error("TLS set-up failed: {0}")]
    Tls(String),
}
