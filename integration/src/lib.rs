//! Klamm's integration harness: the same scenario runs against every broker that can run
//! it, and says plainly where it cannot.
//!
//! A scenario is an `async` function of a [`BrokerUnderTest`] (bootstrap address,
//! [`Capabilities`], and for in-process brokers a control handle). [`scenario::run`] runs it
//! once per broker named in `KLAMM_BROKERS` (default: the in-process `mock,testkit`),
//! skipping with a reason the brokers that lack what the scenario [`Needs`], and writes each
//! outcome to `$KLAMM_SCENARIO_REPORT/<broker>.jsonl` for `cargo xtask integration`'s table.
//!
//! ```no_run
//! use std::time::Duration;
//! use klamm_integration::{BrokerUnderTest, Needs, ScenarioResult, kafka, scenario};
//!
//! async fn metadata_answers(broker: BrokerUnderTest) -> ScenarioResult {
//!     let topic = scenario::unique_topic("metadata");
//!     kafka::create_topic(&broker, &topic, 3).await
//! }
//!
//! # async fn test() {
//! scenario::run("metadata_answers", Needs::NOTHING, Duration::from_secs(60), metadata_answers)
//!     .await;
//! # }
//! ```
//!
//! Out-of-process brokers (tansu, Apache Kafka in Docker, an external cluster) are started
//! by `cargo xtask integration`, which passes their addresses in `KLAMM_TANSU_BOOTSTRAP`,
//! `KLAMM_DOCKER_BOOTSTRAP` and `KLAMM_EXTERNAL_BOOTSTRAP`.
#![forbid(unsafe_code)]

pub mod broker;
pub mod error;
pub mod kafka;
pub mod klamm;
pub mod nodes;
pub mod proxy;
pub mod scenario;

pub use broker::{BrokerKind, BrokerUnderTest, Capabilities};
pub use error::HarnessError;
pub use scenario::{Needs, ScenarioError, ScenarioResult};

/// The workspace README, compiled so that every snippet in it is checked.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
