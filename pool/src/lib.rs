#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod closure;
mod config;
mod driver;
mod error;
mod group;
mod guard;
mod lanes;
mod metrics;
mod pool;
mod producer;
mod recover;
mod shared;
mod txn_producer;

pub use config::{GroupCommit, MAX_GROUP, MAX_POOL_SIZE, PoolBuilder, PoolConfig};
pub use driver::{DriverFactory, health_of};
pub use error::{BoxError, CommitOutcome, PoolError, TransactionError};
pub use guard::{PooledProducer, Txn};
pub use metrics::{GROUP_SIZE_BUCKETS, PoolMetrics};
pub use pool::TransactionalPool;
pub use producer::{Health, PoolProducer, ProducerFactory, transactional_id};
pub use txn_producer::{FnFactory, KafkaTxnProducer, TxnProducerFactory};
