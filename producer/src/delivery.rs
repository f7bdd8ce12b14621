//! Delivery futures: one shared completion per batch, one small future per record.
//!
//! A batch owns a [`BatchCompleter`]; each record appended to it gets a [`DeliveryFuture`] that
//! holds an `Arc` of the batch's [`Completion`] plus its own offset delta and timestamp. When the
//! broker answers, the completer stores the batch's outcome once and wakes every waiting
//! future; each future derives its record's offset as `base_offset + offset_delta`. No channel,
//! no allocation per record beyond the future itself (and a waker slot while it is pending).
//!
//! A completer that is dropped before it completed resolves its futures with
//! [`ProducerError::Closed`], so every accepted record's future resolves (DESIGN.md invariant 6).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

use crate::error::{CloseReason, ProducerError};
use crate::record::RecordMetadata;

/// What the broker said about a whole batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOutcome {
    /// The offset of the batch's first record; `-1` when unknown (`acks = 0`).
    pub base_offset: i64,
    /// The broker's log append time in milliseconds, for `LogAppendTime` topics; `None` means
    /// the records keep their create time.
    pub log_append_time: Option<i64>,
}

/// The shared state of one batch's delivery. Created by [`BatchCompleter::new`].
pub struct Completion {
    topic: Arc<str>,
    partition: i32,
    result: OnceLock<Result<BatchOutcome, ProducerError>>,
    /// Wakers of pending futures; a future keeps the index of its slot.
    waiters: Mutex<Vec<Option<Waker>>>,
}

impl fmt::Debug for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("result", &self.result.get())
            .finish_non_exhaustive()
    }
}

impl Completion {
    fn lock_waiters(&self) -> std::sync::MutexGuard<'_, Vec<Option<Waker>>> {
        // Wakers are plain values; a panic elsewhere cannot leave them inconsistent.
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn complete(&self, result: Result<BatchOutcome, ProducerError>) -> bool {
        if self.result.set(result).is_err() {
            return false;
        }
        let waiters = std::mem::take(&mut *self.lock_waiters());
        for waker in waiters.into_iter().flatten() {
            waker.wake();
        }
        true
    }
}

/// The sending side of a batch's completion; owned by the batch.
///
/// Completing twice is ignored (the first outcome wins). Dropping it uncompleted resolves the
/// batch's futures with [`ProducerError::Closed`].
#[derive(Debug)]
pub struct BatchCompleter {
    completion: Arc<Completion>,
}

impl BatchCompleter {
    /// A completer for a batch of `topic`/`partition`.
    pub fn new(topic: Arc<str>, partition: i32) -> Self {
        BatchCompleter {
            completion: Arc::new(Completion {
                topic,
                partition,
                result: OnceLock::new(),
                waiters: Mutex::new(Vec::new()),
            }),
        }
    }

    /// A future for the record at `offset_delta` in this batch, created at `timestamp` (ms).
    pub fn future(&self, offset_delta: u32, timestamp: i64) -> DeliveryFuture {
        DeliveryFuture {
            completion: Arc::clone(&self.completion),
            offset_delta,
            timestamp,
            slot: None,
        }
    }

    /// The shared completion (for `flush`, which waits for whole batches).
    pub(crate) fn completion(&self) -> Arc<Completion> {
        Arc::clone(&self.completion)
    }

    /// Resolve every future of the batch. Returns `false` if it was already resolved.
    pub fn complete(&self, result: Result<BatchOutcome, ProducerError>) -> bool {
        self.completion.complete(result)
    }

    /// Whether the batch's outcome is known.
    pub fn is_completed(&self) -> bool {
        self.completion.result.get().is_some()
    }
}

impl Drop for BatchCompleter {
    fn drop(&mut self) {
        if self.completion.complete(Err(ProducerError::Closed {
            reason: CloseReason::Dropped,
        })) {
            tracing::debug!(
                topic = %self.completion.topic,
                partition = self.completion.partition,
                "batch dropped before completion; its records fail with Closed"
            );
        }
    }
}

/// Resolves to where one record was written, or why it was not.
///
/// Dropping it does not cancel the send: the record is delivered regardless.
#[must_use = "the record is sent regardless; await the future to learn its offset or error"]
pub struct DeliveryFuture {
    completion: Arc<Completion>,
    offset_delta: u32,
    timestamp: i64,
    slot: Option<usize>,
}

impl fmt::Debug for DeliveryFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryFuture")
            .field("topic", &self.completion.topic)
            .field("partition", &self.completion.partition)
            .field("offset_delta", &self.offset_delta)
            .finish_non_exhaustive()
    }
}

impl DeliveryFuture {
    /// A future that resolves when the batch behind `completion` has its outcome (the record
    /// data it reports is that of the batch's first record).
    pub(crate) fn watch(completion: &Arc<Completion>) -> DeliveryFuture {
        DeliveryFuture {
            completion: Arc::clone(completion),
            offset_delta: 0,
            timestamp: -1,
            slot: None,
        }
    }

    /// The partition the record was assigned to.
    pub fn partition(&self) -> i32 {
        self.completion.partition
    }

    /// The outcome if it is known already, without waiting.
    pub fn try_result(&self) -> Option<Result<RecordMetadata, ProducerError>> {
        self.completion.result.get().map(|r| self.resolve(r))
    }

    fn resolve(
        &self,
        result: &Result<BatchOutcome, ProducerError>,
    ) -> Result<RecordMetadata, ProducerError> {
        let outcome = result.as_ref().map_err(Clone::clone)?;
        let offset = if outcome.base_offset < 0 {
            -1
        } else {
            outcome.base_offset + i64::from(self.offset_delta)
        };
        Ok(RecordMetadata {
            topic: Arc::clone(&self.completion.topic),
            partition: self.completion.partition,
            offset,
            timestamp: outcome.log_append_time.unwrap_or(self.timestamp),
        })
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, ProducerError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(result) = self.completion.result.get() {
            return Poll::Ready(self.resolve(result));
        }
        let completion = Arc::clone(&self.completion);
        let mut waiters = completion.lock_waiters();
        // Checked again under the lock: `complete` stores the result before it takes the
        // wakers, so either we see the result here or our waker is taken and woken.
        if let Some(result) = completion.result.get() {
            drop(waiters);
            return Poll::Ready(self.resolve(result));
        }
        match self.slot {
            Some(i) if i < waiters.len() => match &mut waiters[i] {
                Some(w) if w.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            },
            _ => {
                waiters.push(Some(cx.waker().clone()));
                self.slot = Some(waiters.len() - 1);
            }
        }
        Poll::Pending
    }
}

impl Drop for DeliveryFuture {
    fn drop(&mut self) {
        if let Some(i) = self.slot
            && self.completion.result.get().is_none()
            && let Some(slot) = self.completion.lock_waiters().get_mut(i)
        {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ok(base_offset: i64) -> Result<BatchOutcome, ProducerError> {
        Ok(BatchOutcome {
            base_offset,
            log_append_time: None,
        })
    }

    #[tokio::test]
    async fn every_record_gets_base_plus_delta() {
        let c = BatchCompleter::new("t".into(), 4);
        let futures: Vec<_> = (0..100)
            .map(|i| c.future(i, 1_000 + i64::from(i)))
            .collect();
        let waiting = tokio::spawn(futures::future::join_all(futures));
        tokio::task::yield_now().await;
        assert!(c.complete(ok(500)));
        let results = waiting.await.unwrap();
        for (i, r) in results.into_iter().enumerate() {
            let m = r.unwrap();
            assert_eq!(m.offset, 500 + i as i64);
            assert_eq!(m.partition, 4);
            assert_eq!(&*m.topic, "t");
            assert_eq!(m.timestamp, 1_000 + i as i64);
        }
    }

    #[tokio::test]
    async fn log_append_time_and_acks_zero() {
        let c = BatchCompleter::new("t".into(), 0);
        let f = c.future(3, 10);
        c.complete(Ok(BatchOutcome {
            base_offset: -1,
            log_append_time: Some(99),
        }));
        let m = f.await.unwrap();
        assert_eq!((m.offset, m.timestamp), (-1, 99));
    }

    #[tokio::test]
    async fn first_outcome_wins() {
        let c = BatchCompleter::new("t".into(), 0);
        let f = c.future(0, 0);
        assert!(c.complete(ok(7)));
        assert!(!c.complete(Err(ProducerError::Fatal("late".into()))));
        assert_eq!(f.await.unwrap().offset, 7);
    }

    #[tokio::test]
    async fn errors_reach_every_record() {
        let c = BatchCompleter::new("t".into(), 1);
        let a = c.future(0, 0);
        let b = c.future(1, 0);
        c.complete(Err(ProducerError::Fatal("boom".into())));
        assert_eq!(a.await.unwrap_err(), ProducerError::Fatal("boom".into()));
        assert_eq!(b.await.unwrap_err(), ProducerError::Fatal("boom".into()));
    }

    #[tokio::test]
    async fn dropped_completer_resolves_with_closed() {
        let c = BatchCompleter::new("t".into(), 1);
        let f = c.future(0, 0);
        let waiting = tokio::spawn(f);
        tokio::task::yield_now().await;
        drop(c);
        let err = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("future must resolve")
            .unwrap()
            .unwrap_err();
        assert_eq!(
            err,
            ProducerError::Closed {
                reason: CloseReason::Dropped
            }
        );
    }

    #[tokio::test]
    async fn try_result_and_repolling_do_not_grow_waiters() {
        let c = BatchCompleter::new("t".into(), 0);
        let mut f = c.future(2, 0);
        assert!(f.try_result().is_none());
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        for _ in 0..10 {
            assert!(Pin::new(&mut f).poll(&mut cx).is_pending());
        }
        assert_eq!(c.completion.lock_waiters().len(), 1);
        // A dropped pending future frees its waker slot.
        let g = c.future(3, 0);
        let mut g = Box::pin(g);
        assert!(g.as_mut().poll(&mut cx).is_pending());
        drop(g);
        assert!(c.completion.lock_waiters()[1].is_none());
        c.complete(ok(10));
        assert_eq!(f.try_result().unwrap().unwrap().offset, 12);
        assert!(c.is_completed());
    }

    #[test]
    fn concurrent_completion_wakes_every_thread() {
        for _ in 0..50 {
            let c = BatchCompleter::new("t".into(), 0);
            let handles: Vec<_> = (0..4)
                .map(|i| {
                    let f = c.future(i, 0);
                    std::thread::spawn(move || futures::executor::block_on(f))
                })
                .collect();
            c.complete(ok(0));
            for (i, h) in handles.into_iter().enumerate() {
                assert_eq!(h.join().unwrap().unwrap().offset, i as i64);
            }
        }
    }
}
