//! The state every pool handle, guard and recovery task shares.
//!
//! The slot bookkeeping sits behind one `std::sync::Mutex` that is only ever held for a few
//! pointer moves, never across an `.await`. A tokio [`Semaphore`] counts the available entries
//! (its permits always equal the queue's length once a push is published), which gives
//! borrowers a fair FIFO wait with a timeout and lets `close` wake every waiter at once.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::config::PoolConfig;
use crate::group::Forming;
use crate::metrics::Counters;
use crate::producer::{ProducerFactory, transactional_id};

/// An available slot: a ready producer, or (lazy pools) a slot whose producer is not created yet.
pub(crate) enum Entry<P> {
    /// Created, initialised, no transaction open.
    Ready { slot: usize, producer: Arc<P> },
    /// Not created yet: the borrower creates it.
    Uncreated { slot: usize },
}

/// The slot table.
pub(crate) struct Inner<P> {
    /// Available entries: ready producers at the front (most recently returned first, which
    /// keeps a small working set warm), uncreated slots at the back.
    queue: VecDeque<Entry<P>>,
    /// Every live producer by slot, whether idle, lent out or being recovered, so `close` can
    /// reach borrowed ones.
    live: Vec<Option<Arc<P>>>,
    /// Slots that are not in `queue` and not retired: lent out, being created or recovered.
    outstanding: usize,
    /// Set once by `close`.
    closed: bool,
}

/// Shared by every handle of one pool.
pub(crate) struct Shared<F: ProducerFactory> {
    pub(crate) factory: F,
    pub(crate) config: PoolConfig,
    /// `ids[slot]` is the slot's stable transactional id.
    pub(crate) ids: Vec<Arc<str>>,
    pub(crate) counters: Counters,
    /// One permit per entry in `inner.queue`.
    pub(crate) available: Semaphore,
    inner: Mutex<Inner<F::Producer>>,
    /// Cancelled by `close`: stops replacement loops.
    pub(crate) shutdown: CancellationToken,
    /// Woken whenever a slot stops being outstanding.
    settled: Notify,
    /// Where recovery tasks run (guards may be dropped outside the runtime's context).
    pub(crate) runtime: tokio::runtime::Handle,
    /// Group commit: the group taking members, if any.
    pub(crate) groups: Forming<F::Producer>,
}

impl<F: ProducerFactory> Shared<F> {
    /// A pool with every slot outstanding (the caller publishes them with `give_back` or
    /// `give_back_uncreated`).
    pub(crate) fn new(factory: F, config: PoolConfig, runtime: tokio::runtime::Handle) -> Self {
        let ids = (0..config.size)
            .map(|slot| Arc::from(transactional_id(&config.id_prefix, slot)))
            .collect();
        let live = (0..config.size).map(|_| None).collect();
        Shared {
            factory,
            ids,
            counters: Counters::default(),
            available: Semaphore::new(0),
            inner: Mutex::new(Inner {
                queue: VecDeque::with_capacity(config.size),
                live,
                outstanding: config.size,
                closed: false,
            }),
            shutdown: CancellationToken::new(),
            settled: Notify::new(),
            runtime,
            groups: Forming::default(),
            config,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<F::Producer>> {
        // Nothing panics while holding the lock; if something ever did, the table is still
        // consistent (every update is a single push/pop/assignment), so go on with it.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes an available entry after its permit was acquired (and forgotten). `None` only if
    /// `close` drained the queue in between.
    pub(crate) fn take(&self) -> Option<Entry<F::Producer>> {
        let mut inner = self.lock();
        let entry = inner.queue.pop_front();
        if entry.is_some() {
            inner.outstanding += 1;
        }
        entry
    }

    /// Publishes a ready producer. Gives it back as `Err` when the pool is closed: the caller
    /// must close it and `retire` the slot.
    pub(crate) fn give_back(
        &self,
        slot: usize,
        producer: Arc<F::Producer>,
    ) -> Result<(), Arc<F::Producer>> {
        {
            let mut inner = self.lock();
            if inner.closed {
                return Err(producer);
            }
            inner.live[slot] = Some(Arc::clone(&producer));
            inner.queue.push_front(Entry::Ready { slot, producer });
            inner.outstanding -= 1;
        }
        self.available.add_permits(1);
        self.settled.notify_waiters();
        Ok(())
    }

    /// Publishes a slot whose producer is not created (lazy pools, or a failed lazy creation).
    pub(crate) fn give_back_uncreated(&self, slot: usize) {
        {
            let mut inner = self.lock();
            inner.live[slot] = None;
            inner.outstanding -= 1;
            if inner.closed {
                drop(inner);
                self.settled.notify_waiters();
                return;
            }
            inner.queue.push_back(Entry::Uncreated { slot });
        }
        self.available.add_permits(1);
        self.settled.notify_waiters();
    }

    /// Records the live producer of an outstanding slot (after a creation).
    pub(crate) fn set_live(&self, slot: usize, producer: Option<Arc<F::Producer>>) {
        self.lock().live[slot] = producer;
    }

    /// Ends an outstanding slot for good (the pool is closed and its producer closed).
    pub(crate) fn retire(&self, slot: usize) {
        {
            let mut inner = self.lock();
            inner.live[slot] = None;
            inner.outstanding -= 1;
        }
        self.settled.notify_waiters();
    }

    /// True once `close` started.
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Number of ready producers waiting to be borrowed.
    pub(crate) fn idle(&self) -> usize {
        self.lock()
            .queue
            .iter()
            .filter(|e| matches!(e, Entry::Ready { .. }))
            .count()
    }

    /// Marks the pool closed and takes every idle producer out (the caller closes them).
    pub(crate) fn close_and_drain(&self) -> Vec<(usize, Arc<F::Producer>)> {
        let drained: Vec<_> = {
            let mut inner = self.lock();
            inner.closed = true;
            let queue = std::mem::take(&mut inner.queue);
            let mut ready = Vec::new();
            for entry in queue {
                if let Entry::Ready { slot, producer } = entry {
                    inner.live[slot] = None;
                    ready.push((slot, producer));
                }
            }
            ready
        };
        self.available.close();
        self.shutdown.cancel();
        self.settled.notify_waiters();
        drained
    }

    /// Waits until no slot is outstanding, or until `deadline`. True when none is left.
    pub(crate) async fn settle(&self, deadline: tokio::time::Instant) -> bool {
        loop {
            let notified = self.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.lock().outstanding == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.lock().outstanding == 0;
            }
        }
    }

    /// The live producers of slots still outstanding (lent out or recovering).
    pub(crate) fn outstanding_producers(&self) -> Vec<(usize, Arc<F::Producer>)> {
        self.lock()
            .live
            .iter()
            .enumerate()
            .filter_map(|(slot, p)| p.as_ref().map(|p| (slot, Arc::clone(p))))
            .collect()
    }
}
