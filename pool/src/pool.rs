//! [`TransactionalPool`]: checkout, `transaction`, `close` and metrics.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, debug_span, info, warn};

use crate::closure::{self, Ran};
use crate::config::{PoolBuilder, PoolConfig};
use crate::error::{PoolError, TransactionError};
use crate::group;
use crate::guard::{PooledProducer, Txn};
use crate::metrics::{Counters, GaugeGuard, PoolMetrics};
use crate::producer::{Health, PoolProducer, ProducerFactory};
use crate::recover;
use crate::shared::{Entry, Shared};

/// A bounded pool of long-lived transactional producers with stable transactional ids
/// (`"{prefix}-0" .. "{prefix}-{size-1}"`), lent out one transaction at a time.
///
/// Cheap to clone: clones share the same producers.
pub struct TransactionalPool<F: ProducerFactory> {
    shared: Arc<Shared<F>>,
}

impl<F: ProducerFactory> Clone for TransactionalPool<F> {
    fn clone(&self) -> Self {
        TransactionalPool {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<F: ProducerFactory> std::fmt::Debug for TransactionalPool<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionalPool")
            .field("id_prefix", &self.shared.config.id_prefix)
            .field("metrics", &self.metrics())
            .finish()
    }
}

/// Gives a reserved uncreated slot back unless disarmed (creation failed, or the checkout
/// future was dropped while creating).
struct ReturnUncreated<'a, F: ProducerFactory> {
    shared: &'a Shared<F>,
    slot: Option<usize>,
}

impl<F: ProducerFactory> Drop for ReturnUncreated<'_, F> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.shared.give_back_uncreated(slot);
        }
    }
}

impl<F: ProducerFactory> TransactionalPool<F> {
    /// Starts building a pool; see [`PoolBuilder`].
    pub fn builder() -> PoolBuilder<F> {
        PoolBuilder::new()
    }

    pub(crate) async fn start(factory: F, config: PoolConfig) -> Result<Self, PoolError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| PoolError::Config("build() must run inside a tokio runtime".to_owned()))?;
        let size = config.size;
        let lazy = config.lazy;
        let shared = Arc::new(Shared::new(factory, config, runtime));
        if lazy {
            for slot in 0..size {
                shared.give_back_uncreated(slot);
            }
        } else {
            let created =
                futures::future::join_all((0..size).map(|slot| recover::create(&shared, slot)))
                    .await;
            if let Some(pos) = created.iter().position(Result::is_err) {
                let close = shared.config.producer_close_timeout;
                let mut first_err = None;
                let mut closing = Vec::new();
                for (i, r) in created.into_iter().enumerate() {
                    match r {
                        Ok(p) => closing.push(async move { p.close(close).await }),
                        Err(e) if i == pos => first_err = Some(e),
                        Err(_) => {}
                    }
                }
                futures::future::join_all(closing).await;
                shared.close_and_drain();
                return Err(first_err.unwrap_or(PoolError::Closed));
            }
            // Publish in reverse so slot 0 is at the front of the queue.
            for (slot, producer) in created.into_iter().enumerate().rev() {
                if let Ok(producer) = producer {
                    let _ = shared.give_back(slot, producer);
                }
            }
        }
        info!(prefix = %shared.config.id_prefix, size, lazy, "transactional pool started");
        Ok(TransactionalPool { shared })
    }

    /// The pool's settings.
    pub fn config(&self) -> &PoolConfig {
        &self.shared.config
    }

    /// The transactional ids of the pool's slots, in slot order.
    pub fn transactional_ids(&self) -> impl Iterator<Item = &str> {
        self.shared.ids.iter().map(|id| &**id)
    }

    /// A snapshot of the pool's metrics.
    pub fn metrics(&self) -> PoolMetrics {
        self.shared
            .counters
            .snapshot(self.shared.config.size, self.shared.idle())
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Borrows a producer for manual control, waiting up to `checkout_timeout` for one to be
    /// free (FIFO among waiters). In a lazy pool the first borrows of a slot create its producer.
    pub async fn get(&self) -> Result<PooledProducer<F>, PoolError> {
        let shared = &self.shared;
        let start = tokio::time::Instant::now();
        loop {
            self.acquire(start).await?;
            let entry = shared.take();
            if let Some(Entry::Ready { slot, producer }) = &entry
                && producer.health() != Health::Ready
            {
                // It broke while idle (fenced, its transaction timed out, its connection
                // failed for good): recover it in the background and wait for another.
                debug!(transactional_id = %shared.ids[*slot], health = ?producer.health(),
                       "idle producer unhealthy at checkout");
                recover::return_from_drop(shared, *slot, Arc::clone(producer), false);
                continue;
            }
            shared.counters.record_wait(start.elapsed());
            return match entry {
                None => Err(PoolError::Closed),
                Some(Entry::Ready { slot, producer }) => {
                    Ok(PooledProducer::new(Arc::clone(shared), slot, producer))
                }
                Some(Entry::Uncreated { slot }) => {
                    // Give the slot back if creation fails or this future is dropped midway.
                    let mut reservation = ReturnUncreated {
                        shared,
                        slot: Some(slot),
                    };
                    let producer = recover::create(shared, slot).await?;
                    reservation.slot = None;
                    shared.set_live(slot, Some(Arc::clone(&producer)));
                    Ok(PooledProducer::new(Arc::clone(shared), slot, producer))
                }
            };
        }
    }

    /// Waits for an available entry until `start + checkout_timeout` and consumes its permit.
    async fn acquire(&self, start: tokio::time::Instant) -> Result<(), PoolError> {
        let shared = &self.shared;
        let timeout = shared.config.checkout_timeout;
        let permit = {
            let Some(_waiting) =
                GaugeGuard::try_enter(&shared.counters.waiters, shared.config.max_waiters)
            else {
                return Err(PoolError::TooManyWaiters {
                    max_waiters: shared.config.max_waiters,
                });
            };
            tokio::time::timeout_at(start + timeout, shared.available.acquire()).await
        };
        match permit {
            Ok(Ok(permit)) => {
                permit.forget();
                Ok(())
            }
            Ok(Err(_closed)) => Err(PoolError::Closed),
            Err(_elapsed) => {
                Counters::inc(&shared.counters.checkout_timeouts);
                Err(PoolError::CheckoutTimeout {
                    waited: start.elapsed(),
                    size: shared.config.size,
                })
            }
        }
    }

    /// Runs one transaction on a borrowed producer: checkout (up to `checkout_timeout`),
    /// begin, `f`, then commit when `f` returns `Ok` and abort when it returns `Err`, panics,
    /// or runs longer than `transaction_timeout`.
    /// The producer goes back to the pool in every case (aborted, or replaced under the same
    /// id when it is broken), also when this future is dropped midway. See the crate-level
    /// example.
    ///
    /// The returned future is boxed and `Send`, so it can be awaited in any spawned task or
    /// web handler (it also keeps rustc from having to prove `Send` through every producer
    /// future's lifetimes at the call site).
    pub fn transaction<'a, T, E, Fut, Func>(
        &'a self,
        f: Func,
    ) -> Pin<Box<dyn Future<Output = Result<T, TransactionError<E>>> + Send + 'a>>
    where
        Func: FnOnce(Txn<F::Producer>) -> Fut + Send + 'a,
        Fut: Future<Output = Result<T, E>> + Send + 'a,
        T: Send + 'a,
        E: Send + 'a,
    {
        Box::pin(self.run_transaction(f))
    }

    /// [`transaction`](Self::transaction) with **group commit** when the pool has it
    /// ([`PoolBuilder::group_commit`]); without it, exactly `transaction`.
    ///
    /// With group commit, grouped calls that arrive while the producers are busy share one
    /// Kafka transaction (up to `max_group` of them; see [`GroupCommit`](crate::GroupCommit)
    /// for when a group closes). Each closure runs in its caller's task, all of a group's
    /// concurrently, on the same producer; the caller gets `Ok` only once the shared
    /// transaction committed, so its records are then visible to `read_committed` readers
    /// exactly once. A Kafka transaction commits or aborts as a whole, so when any closure of
    /// the group returns `Err`, panics, runs out of `transaction_timeout`, keeps a [`Txn`]
    /// handle or has its caller's future dropped, the whole transaction is aborted: that
    /// caller gets its error, and the other closures **run again** in a new transaction of
    /// their own (the group minus the failed ones, on the same producer unless it has to be
    /// replaced). That is why `f` is `Fn`: it may be called more than once, and each call must
    /// write the request's records anew; nothing an aborted attempt wrote is ever visible
    /// under `read_committed` (the attempt's records stay in the log, marked aborted). Each
    /// run gets a fresh value; the value of the attempt that committed is returned. A failure
    /// of the group itself (checkout, begin, commit) is every member's error.
    ///
    /// - Failing closures cost the others a re-run: group commit pays when most requests
    ///   commit. Reject what you can before writing.
    /// - Offsets: if two closures of one group send offsets for the same consumer group and
    ///   partition (`send_offsets_to_transaction`), the last one the coordinator receives wins
    ///   (Kafka keeps one pending offset per partition per transaction), and which one that is
    ///   between concurrent closures is not defined. Send a partition's offsets from one request
    ///   at a time, or only with offsets where any order is acceptable.
    /// - Dropping the returned future while its closure runs removes the request from the
    ///   group (the group is aborted and the others run again); dropping it after its closure
    ///   finished does not: its records commit with the group.
    /// - The closure must not borrow anything shorter-lived than this future (it runs in the
    ///   caller's task; the group's transaction is driven by a task the pool spawns).
    ///
    /// ```no_run
    /// # async fn f(pool: klamm_pool::TransactionalPool<klamm_pool::TxnProducerFactory>)
    /// # -> Result<(), Box<dyn std::error::Error>> {
    /// use klamm_producer::ProducerRecord;
    ///
    /// let order_id = "o-17".to_owned();
    /// pool.transaction_grouped(|txn| {
    ///     // Fn: build each attempt's records from borrowed or cloned state.
    ///     let key = order_id.clone();
    ///     async move {
    ///         txn.send(ProducerRecord::new("orders").key(key.clone()).value("order")).await?;
    ///         txn.send(ProducerRecord::new("audit").key(key).value("created")).await?;
    ///         Ok::<_, klamm_txn::TxnError>(())
    ///     }
    /// })
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub fn transaction_grouped<'a, T, E, Fut, Func>(
        &'a self,
        f: Func,
    ) -> Pin<Box<dyn Future<Output = Result<T, TransactionError<E>>> + Send + 'a>>
    where
        Func: Fn(Txn<F::Producer>) -> Fut + Send + 'a,
        Fut: Future<Output = Result<T, E>> + Send + 'a,
        T: Send + 'a,
        E: Send + 'a,
    {
        match self.shared.config.group_commit {
            Some(group) => Box::pin(group::member::run(self, group, f)),
            None => Box::pin(self.run_transaction(f)),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<F>> {
        &self.shared
    }

    async fn run_transaction<T, E, Fut, Func>(&self, f: Func) -> Result<T, TransactionError<E>>
    where
        Func: FnOnce(Txn<F::Producer>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut guard = self.get().await?;
        guard.begin().await?;
        let id = Arc::clone(&self.shared.ids[guard.slot()]);
        let lease = Arc::new(());
        let txn = Txn::new(guard.arc(), Arc::clone(&lease), Arc::clone(&id));
        let span = debug_span!("pool.transaction", transactional_id = %id);
        let limit = self.shared.config.transaction_timeout;
        // On timeout the closure's future (and its Txn handles) is dropped inside `run`.
        match closure::run(f, txn, limit, span).await {
            Ran::TimedOut => {
                warn!(transactional_id = %id, ?limit, "transaction closure ran out of time; aborting");
                let _ = guard.abort().await;
                Err(PoolError::TransactionTimeout {
                    id: id.to_string(),
                    timeout: limit,
                }
                .into())
            }
            Ran::Panicked(message) => {
                Counters::inc(&self.shared.counters.panics);
                warn!(transactional_id = %id, %message, "transaction closure panicked; aborting");
                let _ = guard.abort().await;
                Err(PoolError::Panicked {
                    id: id.to_string(),
                    message,
                }
                .into())
            }
            Ran::Failed(e) => {
                // An abort failure marks the producer for replacement, which aborts the
                // transaction on the broker; the caller's error is what matters here.
                let _ = guard.abort().await;
                Err(TransactionError::Aborted(e))
            }
            Ran::Value(value) => {
                if Arc::strong_count(&lease) > 1 {
                    warn!(transactional_id = %id, "a Txn handle outlived its transaction");
                    let _ = guard.abort().await;
                    guard.mark_broken();
                    return Err(PoolError::HandleEscaped { id: id.to_string() }.into());
                }
                guard.commit().await?;
                Ok(value)
            }
        }
    }

    /// Closes the pool: new and waiting checkouts fail with [`PoolError::Closed`]; idle
    /// producers are closed at once; borrowed ones are waited for up to `timeout` (their
    /// guards close them on return); after that, whatever is still borrowed has its open
    /// transaction aborted and is closed under its borrower's feet (the borrower's next call
    /// fails). Returns the number of producers that had to be taken that way (0 when every
    /// borrower finished in time).
    pub async fn close(&self, timeout: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        let shared = &self.shared;
        let idle = shared.close_and_drain();
        let close_timeout = shared.config.producer_close_timeout;
        info!(prefix = %shared.config.id_prefix, idle = idle.len(), "closing transactional pool");
        futures::future::join_all(idle.iter().map(|(_, p)| p.close(close_timeout))).await;
        if shared.settle(deadline).await {
            return 0;
        }
        let stragglers = shared.outstanding_producers();
        warn!(
            count = stragglers.len(),
            ?timeout,
            "producers still borrowed at close; aborting them"
        );
        futures::future::join_all(stragglers.iter().map(|(slot, p)| async move {
            if matches!(p.health(), Health::InTransaction | Health::AbortableError) {
                let _ = recover::abort(shared, *slot, p).await;
            }
            p.close(close_timeout).await;
        }))
        .await;
        stragglers.len()
    }
}
