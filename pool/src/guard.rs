//! [`PooledProducer`], the guard `get` returns, and [`Txn`], the handle a `transaction` closure
//! receives.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tracing::warn;

use crate::error::{CommitOutcome, PoolError};
use crate::metrics::Counters;
use crate::producer::{Health, PoolProducer, ProducerFactory};
use crate::recover;
use crate::shared::Shared;

/// A producer borrowed from the pool (from [`TransactionalPool::get`](crate::TransactionalPool::get)).
///
/// Derefs to the producer, so its own API (`send`, `send_offsets_to_transaction`, ...) is at
/// hand. Use the guard's [`begin`](Self::begin) / [`commit`](Self::commit) /
/// [`abort`](Self::abort) rather than the producer's so the pool counts them and reacts to
/// failures. Dropping the guard gives the producer back: a Ready producer at once; one with an
/// open transaction or an error through a background task that aborts it (or replaces it)
/// before anyone else can borrow it. [`release`](Self::release) does the same inline.
pub struct PooledProducer<F: ProducerFactory> {
    shared: Arc<Shared<F>>,
    slot: usize,
    producer: Arc<F::Producer>,
    /// Set when the producer must be replaced rather than reused.
    replace: bool,
    /// Set by `release`, so `Drop` does not give the producer back a second time.
    released: bool,
}

impl<F: ProducerFactory> PooledProducer<F> {
    pub(crate) fn new(shared: Arc<Shared<F>>, slot: usize, producer: Arc<F::Producer>) -> Self {
        shared.counters.in_use.fetch_add(1, Ordering::Relaxed);
        PooledProducer {
            shared,
            slot,
            producer,
            replace: false,
            released: false,
        }
    }

    /// The producer's stable transactional id (`"{prefix}-{slot}"`).
    pub fn transactional_id(&self) -> &str {
        &self.shared.ids[self.slot]
    }

    /// The slot number (`0..size`).
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// The producer's health right now.
    pub fn health(&self) -> Health {
        self.producer.health()
    }

    pub(crate) fn shared(&self) -> &Shared<F> {
        &self.shared
    }

    pub(crate) fn arc(&self) -> Arc<F::Producer> {
        Arc::clone(&self.producer)
    }

    /// Makes the pool replace this producer (under the same id) instead of reusing it.
    pub fn mark_broken(&mut self) {
        self.replace = true;
    }

    /// Begins a transaction.
    pub async fn begin(&mut self) -> Result<(), PoolError> {
        let p = Arc::clone(&self.producer);
        p.begin().await.map_err(|e| {
            if p.health() == Health::FatalError {
                self.replace = true;
            }
            PoolError::Begin {
                id: self.transactional_id().to_owned(),
                source: Box::new(e),
            }
        })
    }

    /// Commits the open transaction. A commit whose outcome is unknown
    /// ([`Health::Completing`]) is retried up to `commit_attempts` times; on failure the
    /// transaction is aborted when it can be ([`CommitOutcome::Aborted`]), otherwise the
    /// producer is marked for replacement ([`CommitOutcome::Unknown`]).
    pub async fn commit(&mut self) -> Result<(), PoolError> {
        let p = Arc::clone(&self.producer);
        let cfg = &self.shared.config;
        let mut attempt = 1;
        loop {
            let err = match p.commit().await {
                Ok(()) => {
                    Counters::inc(&self.shared.counters.commits);
                    return Ok(());
                }
                Err(e) => e,
            };
            let health = p.health();
            if health == Health::Completing && attempt < cfg.commit_attempts {
                attempt += 1;
                warn!(transactional_id = %self.transactional_id(), error = %err, attempt,
                      "commit outcome unknown; retrying");
                tokio::time::sleep(cfg.commit_retry_backoff).await;
                continue;
            }
            Counters::inc(&self.shared.counters.commit_failures);
            let outcome = match health {
                Health::InTransaction | Health::AbortableError => {
                    if recover::abort(&self.shared, self.slot, &p).await.is_err() {
                        self.replace = true;
                    }
                    CommitOutcome::Aborted
                }
                _ => {
                    self.replace = true;
                    CommitOutcome::Unknown
                }
            };
            return Err(PoolError::Commit {
                id: self.transactional_id().to_owned(),
                outcome,
                source: Box::new(err),
            });
        }
    }

    /// Aborts the open transaction. On failure the producer is marked for replacement (which
    /// makes the broker abort the transaction when the new producer initialises).
    pub async fn abort(&mut self) -> Result<(), PoolError> {
        let p = Arc::clone(&self.producer);
        match p.health() {
            Health::Completing | Health::FatalError => {
                // Nothing an abort call can fix: the replacement's InitProducerId settles it.
                self.replace = true;
                Ok(())
            }
            Health::Ready => Ok(()),
            Health::InTransaction | Health::AbortableError => {
                let r = recover::abort(&self.shared, self.slot, &p).await;
                if r.is_err() {
                    self.replace = true;
                }
                r
            }
        }
    }

    /// Gives the producer back now, waiting for the abort or replacement it needs (instead of
    /// leaving that to a background task as dropping the guard does).
    pub async fn release(mut self) {
        self.released = true;
        self.shared.counters.in_use.fetch_sub(1, Ordering::Relaxed);
        let (shared, producer) = (Arc::clone(&self.shared), Arc::clone(&self.producer));
        let (slot, replace) = (self.slot, self.replace);
        drop(self);
        recover::recover_guarded(shared, slot, producer, replace).await;
    }
}

impl<F: ProducerFactory> Deref for PooledProducer<F> {
    type Target = F::Producer;

    fn deref(&self) -> &F::Producer {
        &self.producer
    }
}

impl<F: ProducerFactory> Drop for PooledProducer<F> {
    fn drop(&mut self) {
        if !self.released {
            self.shared.counters.in_use.fetch_sub(1, Ordering::Relaxed);
            let producer = Arc::clone(&self.producer);
            recover::return_from_drop(&self.shared, self.slot, producer, self.replace);
        }
    }
}

impl<F: ProducerFactory> fmt::Debug for PooledProducer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledProducer")
            .field("transactional_id", &self.transactional_id())
            .field("health", &self.health())
            .field("replace", &self.replace)
            .finish()
    }
}

/// The producer lent to a [`transaction`](crate::TransactionalPool::transaction) closure for
/// the duration of one transaction. Derefs to the producer (call its `send`).
///
/// It may be cloned to send from several tasks inside the transaction, but every clone must be
/// dropped before the closure's future completes: a handle that outlives it is detected, the
/// transaction is aborted instead of committed ([`PoolError::HandleEscaped`]) and the producer
/// is replaced, which fences the escaped handle.
pub struct Txn<P> {
    producer: Arc<P>,
    lease: Arc<()>,
    id: Arc<str>,
}

impl<P> Txn<P> {
    pub(crate) fn new(producer: Arc<P>, lease: Arc<()>, id: Arc<str>) -> Self {
        Txn {
            producer,
            lease,
            id,
        }
    }

    /// The producer's stable transactional id.
    pub fn transactional_id(&self) -> &str {
        &self.id
    }
}

impl<P> Clone for Txn<P> {
    fn clone(&self) -> Self {
        Txn {
            producer: Arc::clone(&self.producer),
            lease: Arc::clone(&self.lease),
            id: Arc::clone(&self.id),
        }
    }
}

impl<P> Deref for Txn<P> {
    type Target = P;

    fn deref(&self) -> &P {
        &self.producer
    }
}

impl<P> fmt::Debug for Txn<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Txn")
            .field("transactional_id", &self.id)
            .finish()
    }
}
