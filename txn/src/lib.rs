#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod classify;
pub mod cluster;
pub mod coordinator;
pub mod error;
mod hook;
pub mod manager;
pub mod partitions;
pub mod producer;
pub mod state;

pub use classify::{Disposition, ErrorCategory, TxnApi};
pub use cluster::ClusterTransport;
pub use coordinator::{
    ConsumerGroupMetadata, CoordinatorTransport, OffsetAndMetadata, Target, TransportError,
    TxnDriver,
};
pub use error::TxnError;
pub use manager::{TransactionManager, TxnConfig, TxnStatus};
pub use producer::{ProducerBackend, TransactionalProducer, TransactionalProducerBuilder};
pub use state::{Op, TxnState};
