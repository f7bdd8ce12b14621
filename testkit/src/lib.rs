#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod apis;
mod cluster;
pub mod codes;
mod control;
mod error;
mod replay;
pub mod requests;
mod sasl;
mod server;
pub mod state;
mod tls;
pub mod usage;

pub use cluster::{Cluster, ClusterBuilder, CoordinatorKind, DEFAULT_MAX_FRAME};
pub use control::{
    Arrival, Fault, FaultAction, FaultId, InjectedCounts, MAX_ARRIVALS, ThrottleEvent,
};
pub use error::TestkitError;
pub use replay::{seed, seed_or};
pub use sasl::{Mechanism, SaslConfig};
