//! The broker-parametrised scenario suite. Each `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` runs one scenario on every
//! broker in `KLAMM_BROKERS` (see `klamm_integration::scenario`); `cargo xtask integration`
//! selects the broker and prints the scenario x broker table.
//!
//! Add a scenario as a module here (one concern per file), declare what it [`Needs`], and
//! the harness runs it wherever it can.
//!
//! [`Needs`]: klamm_integration::Needs

mod differential;
mod kafka_faults;
mod klamm_batches;
mod klamm_pool;
mod klamm_producer;
mod klamm_txn;
mod klamm_txn_close;
mod leader_move;
mod pool_load;
mod quota_throttling;
mod roundtrip;
mod throttling;
mod transactions;
