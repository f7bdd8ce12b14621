//! The pool over klamm-txn's coordinator-level transactional client, [`TxnDriver`], with
//! every pooled client sharing one klamm-net [`Cluster`] (metadata and coordinator caches),
//! each on its own connections by default.
//!
//! A `TxnDriver` runs the whole coordinator conversation (FindCoordinator, InitProducerId with
//! fencing, AddPartitionsToTxn, AddOffsetsToTxn + TxnOffsetCommit, EndTxn with retries) but
//! sends no records itself: transactions through it carry consumer offsets
//! (`send_offsets_to_transaction`) and partitions registered by hand. For records, pool
//! klamm-txn's `TransactionalProducer` with [`TxnProducerFactory`](crate::TxnProducerFactory),
//! which shares one cluster the same way.

use std::sync::Arc;
use std::time::Duration;

use klamm_net::Cluster;
use klamm_txn::{
    ClusterTransport, CoordinatorTransport, TransactionManager, TxnConfig, TxnDriver, TxnError,
    TxnState,
};

use crate::lanes::LaneAssigner;
use crate::producer::{Health, PoolProducer, ProducerFactory};

/// The pool's view of a klamm-txn state.
pub fn health_of(state: TxnState) -> Health {
    match state {
        TxnState::Ready => Health::Ready,
        TxnState::InTransaction => Health::InTransaction,
        TxnState::Committing
        | TxnState::CommitOutcomeUnknown
        | TxnState::Aborting
        | TxnState::AbortOutcomeUnknown => Health::Completing,
        TxnState::AbortableError => Health::AbortableError,
        TxnState::Uninitialized | TxnState::Initializing | TxnState::FatalError => {
            Health::FatalError
        }
    }
}

impl<T: CoordinatorTransport + 'static> PoolProducer for TxnDriver<T> {
    type Error = TxnError;

    async fn begin(&self) -> Result<(), TxnError> {
        self.begin_transaction()
    }

    async fn commit(&self) -> Result<(), TxnError> {
        // No records of its own to flush.
        self.commit_transaction(async { Ok(()) }).await
    }

    async fn abort(&self) -> Result<(), TxnError> {
        self.abort_transaction(async {}).await
    }

    fn health(&self) -> Health {
        health_of(self.manager().state())
    }

    /// A driver's connections belong to the shared [`Cluster`] (its lane is kept for the
    /// driver that replaces it under the same id), so there is nothing to release; the pool
    /// has already aborted an open transaction.
    async fn close(&self, _timeout: Duration) {}
}

/// Creates [`TxnDriver`]s that all talk through one shared klamm-net [`Cluster`], each on its
/// own connections unless [`share_connections`](Self::share_connections) says otherwise (as
/// [`TxnProducerFactory`](crate::TxnProducerFactory) does).
#[derive(Debug, Clone)]
pub struct DriverFactory {
    cluster: Cluster,
    template: TxnConfig,
    lanes: LaneAssigner,
}

impl DriverFactory {
    /// A factory over `cluster`; every driver gets `template`'s settings with its own
    /// transactional id.
    pub fn new(cluster: Cluster, template: TxnConfig) -> Self {
        DriverFactory {
            cluster,
            template,
            lanes: LaneAssigner::default(),
        }
    }

    /// Whether every driver shares one connection per broker (`true`) or each has its own
    /// (`false`, the default): Kafka handles one request per connection at a time, so drivers
    /// on one connection wait for each other's transaction log writes.
    pub fn share_connections(mut self, shared: bool) -> Self {
        self.lanes.share(shared);
        self
    }

    /// Connects to `bootstrap` (klamm-net defaults) and uses klamm-txn's default settings.
    pub async fn connect(bootstrap: &str) -> Result<Self, klamm_net::Error> {
        let cluster = Cluster::builder().bootstrap(bootstrap).connect().await?;
        Ok(Self::new(cluster, TxnConfig::new("")))
    }

    /// The shared cluster handle (close it after closing the pool).
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The settings every driver starts from.
    pub fn template(&self) -> &TxnConfig {
        &self.template
    }
}

impl ProducerFactory for DriverFactory {
    type Producer = TxnDriver<ClusterTransport>;

    async fn create(&self, transactional_id: &str) -> Result<Self::Producer, TxnError> {
        let mut config = self.template.clone();
        config.transactional_id = Arc::from(transactional_id);
        let driver = TxnDriver::new(
            Arc::new(TransactionManager::new(config)),
            ClusterTransport::new(self.lanes.cluster_for(&self.cluster, transactional_id)),
        );
        driver.init_transactions().await?;
        Ok(driver)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_maps_to_a_health() {
        let expect = |s| match s {
            TxnState::Ready => Health::Ready,
            TxnState::InTransaction => Health::InTransaction,
            TxnState::AbortableError => Health::AbortableError,
            s if s.has_transaction() => Health::Completing,
            _ => Health::FatalError,
        };
        for s in TxnState::ALL {
            assert_eq!(health_of(s), expect(s), "{s}");
        }
    }
}
