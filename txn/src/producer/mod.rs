//! [`TransactionalProducer`]: exactly-once writes on a producer backend, shareable between
//! tasks.
//!
//! `send` may run from many tasks inside one transaction; `init_transactions`,
//! `begin_transaction`, `send_offsets_to_transaction`, `commit_transaction` and
//! `abort_transaction` change the transaction's state and are serialised by the
//! [`TransactionManager`]: a second call while one runs waits for its turn (first come, first
//! served) and is then judged against the state the first one left; `begin_transaction` never
//! waits. A background task adds newly used partitions to the
//! transaction (one batched AddPartitionsToTxn per round) so the sender can drain them.

mod backend;
mod close;
mod kafka;

pub use backend::ProducerBackend;
pub use kafka::TransactionalProducerBuilder;

use std::sync::{Arc, Mutex};

use klamm_producer::idempotence::TopicPartition;
use klamm_producer::{DeliveryFuture, ProducerError, ProducerRecord};
use tokio::task::JoinHandle;

use crate::coordinator::{
    ConsumerGroupMetadata, CoordinatorTransport, OffsetAndMetadata, TxnDriver,
};
use crate::error::TxnError;
use crate::manager::{TransactionManager, TxnConfig, TxnStatus};
use crate::state::TxnState;

/// A transactional producer: a [`ProducerBackend`] driven by a [`TransactionManager`]
/// through a [`CoordinatorTransport`]. `Send + Sync`; share it with an `Arc`.
pub struct TransactionalProducer<B, T> {
    shared: Arc<Shared<B, T>>,
    adder: Mutex<Option<JoinHandle<()>>>,
}

struct Shared<B, T> {
    driver: TxnDriver<T>,
    backend: B,
}

impl<B, T> std::fmt::Debug for TransactionalProducer<B, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionalProducer")
            .field("status", &self.shared.driver.manager().status())
            .finish_non_exhaustive()
    }
}

impl<B: ProducerBackend, T: CoordinatorTransport + 'static> TransactionalProducer<B, T> {
    /// A producer in [`TxnState::Uninitialized`] over `backend`, whose sender consults
    /// `manager` (the same manager must be handed to the backend's sender hook). Spawns the
    /// partition-adding task on the current Tokio runtime.
    pub fn new(manager: Arc<TransactionManager>, backend: B, transport: T) -> Self {
        let shared = Arc::new(Shared {
            driver: TxnDriver::new(manager, transport),
            backend,
        });
        let adder = tokio::spawn(add_partitions_task(Arc::downgrade(&shared)));
        TransactionalProducer {
            shared,
            adder: Mutex::new(Some(adder)),
        }
    }

    /// A manager for `config`, to hand to both the backend's sender hook and [`Self::new`].
    pub fn manager_for(config: TxnConfig) -> Arc<TransactionManager> {
        Arc::new(TransactionManager::new(config))
    }

    /// The transaction manager.
    pub fn manager(&self) -> &Arc<TransactionManager> {
        self.shared.driver.manager()
    }

    /// The producer backend.
    pub fn backend(&self) -> &B {
        &self.shared.backend
    }

    /// The current state, for health checks.
    pub fn state(&self) -> TxnState {
        self.manager().state()
    }

    /// A snapshot of the manager, for health checks and metrics.
    pub fn status(&self) -> TxnStatus {
        self.manager().status()
    }

    /// Gets a producer id and epoch for the transactional id, fencing older producers with
    /// the same id. Call once before the first transaction; after a timeout, call again.
    pub async fn init_transactions(&self) -> Result<(), TxnError> {
        self.shared.driver.init_transactions().await
    }

    /// Opens a transaction.
    pub fn begin_transaction(&self) -> Result<(), TxnError> {
        self.shared.driver.begin_transaction()
    }

    /// Sends a record inside the open transaction. Returns once the record is buffered; the
    /// future resolves when it is written (visible to `read_committed` readers after the
    /// commit). May be called from many tasks at once.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, TxnError> {
        let mgr = self.manager();
        let permit = mgr.admit_send()?;
        let topic = Arc::clone(&record.topic);
        let future = match self.shared.backend.send(record).await {
            Ok(f) => f,
            Err(e) => {
                let e = TxnError::Producer(e);
                if e.kind() == klamm_producer::ErrorKind::Fatal {
                    // the producer underneath cannot go on (closed, fenced): neither can we
                    mgr.enter_fatal(e.clone());
                }
                return Err(e);
            }
        };
        permit.register(&TopicPartition {
            topic,
            partition: future.partition(),
        });
        Ok(future)
    }

    /// Adds a consumer's offsets to the open transaction: they are committed with it.
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
        group: &ConsumerGroupMetadata,
    ) -> Result<(), TxnError> {
        self.shared
            .driver
            .send_offsets_to_transaction(offsets, group)
            .await
    }

    /// Flushes every record of the transaction, then commits it. If it fails with a
    /// timeout, the outcome is unknown: call it again, it returns the coordinator's outcome.
    pub async fn commit_transaction(&self) -> Result<(), TxnError> {
        let backend = &self.shared.backend;
        self.shared
            .driver
            .commit_transaction(async {
                backend.flush().await;
                Ok(())
            })
            .await
    }

    /// Aborts the open transaction: unsent records fail, sent ones are never visible to
    /// `read_committed` readers. Also the way out of AbortableError.
    pub async fn abort_transaction(&self) -> Result<(), TxnError> {
        let backend = &self.shared.backend;
        self.shared
            .driver
            .abort_transaction(backend.abort_unsent(ProducerError::Fatal(Arc::from(
                "the transaction was aborted before this record was sent",
            ))))
            .await
    }
}

impl<B, T> Drop for TransactionalProducer<B, T> {
    fn drop(&mut self) {
        if let Some(h) = self.adder.lock().unwrap_or_else(|p| p.into_inner()).take() {
            h.abort();
        }
    }
}

/// Adds registered partitions to the open transaction as they appear, so the sender can
/// drain them without waiting for the commit.
async fn add_partitions_task<B: ProducerBackend, T: CoordinatorTransport + 'static>(
    shared: std::sync::Weak<Shared<B, T>>,
) {
    let Some(mgr) = shared.upgrade().map(|s| Arc::clone(s.driver.manager())) else {
        return;
    };
    loop {
        let changed = mgr.partitions_changed();
        if mgr.has_pending_partitions()
            && matches!(mgr.state(), TxnState::InTransaction | TxnState::Committing)
        {
            let Some(s) = shared.upgrade() else {
                return;
            };
            // errors are recorded in the manager's state (abortable or fatal)
            if let Err(e) = s.driver.add_pending_partitions().await {
                tracing::debug!(error = %e, "adding partitions to the transaction failed");
            }
            continue;
        }
        if mgr.state() == TxnState::FatalError {
            return;
        }
        changed.await;
    }
}

#[cfg(test)]
mod close_tests;
#[cfg(test)]
mod fake_backend;
#[cfg(test)]
mod tests;
