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
//!
//! A batch the broker refuses as too large is split into pieces that are sent on their own
//! (see [`crate::accumulator`]); the records' futures stay with the original batch, whose
//! completion then holds one outcome per piece ([`Resolved::Split`]): each future finds its
//! piece by its offset delta. A [`BatchSink`] is where a batch reports: its own completer, or
//! its slot in the [`SplitParent`] it was cut from.

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

/// A batch's final outcome as its records' futures read it.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// One outcome for the whole batch.
    Whole(Result<BatchOutcome, ProducerError>),
    /// The batch was split and its pieces sent on their own: `(offset delta of the piece's
    /// first record within this batch, the piece's outcome)`, ascending, never empty.
    Split(Vec<(u32, Resolved)>),
}

impl Resolved {
    /// The outcome of the record at `offset_delta`, and its offset delta within the piece
    /// (or batch) that outcome is for.
    fn at(&self, offset_delta: u32) -> Result<(&BatchOutcome, u32), &ProducerError> {
        let mut resolved = self;
        let mut delta = offset_delta;
        loop {
            match resolved {
                Resolved::Whole(Ok(outcome)) => return Ok((outcome, delta)),
                Resolved::Whole(Err(e)) => return Err(e),
                Resolved::Split(pieces) => {
                    let i = pieces
                        .partition_point(|(start, _)| *start <= delta)
                        .saturating_sub(1);
                    let Some((start, piece)) = pieces.get(i) else {
                        return Err(&SPLIT_WITHOUT_PIECES);
                    };
                    delta = delta.saturating_sub(*start);
                    resolved = piece;
                }
            }
        }
    }
}

/// Never produced (a split has at least two pieces); answers a malformed split instead of a
/// panic.
static SPLIT_WITHOUT_PIECES: ProducerError = ProducerError::Closed {
    reason: CloseReason::Dropped,
};

/// The shared state of one batch's delivery. Created by [`BatchCompleter::new`].
pub struct Completion {
    topic: Arc<str>,
    partition: i32,
    result: OnceLock<Resolved>,
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

    fn complete(&self, result: Resolved) -> bool {
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
            slot: NO_SLOT,
        }
    }

    /// The shared completion (for `flush`, which waits for whole batches).
    pub(crate) fn completion(&self) -> Arc<Completion> {
        Arc::clone(&self.completion)
    }

    /// Resolve every future of the batch. Returns `false` if it was already resolved.
    pub fn complete(&self, result: Result<BatchOutcome, ProducerError>) -> bool {
        self.completion.complete(Resolved::Whole(result))
    }

    /// Resolve every future of the batch with a whole or piecewise outcome.
    pub fn complete_resolved(&self, resolved: Resolved) -> bool {
        self.completion.complete(resolved)
    }

    /// Whether the batch's outcome is known.
    pub fn is_completed(&self) -> bool {
        self.completion.result.get().is_some()
    }
}

impl Drop for BatchCompleter {
    fn drop(&mut self) {
        if self
            .completion
            .complete(Resolved::Whole(Err(ProducerError::Closed {
                reason: CloseReason::Dropped,
            })))
        {
            tracing::debug!(
                topic = %self.completion.topic,
                partition = self.completion.partition,
                "batch dropped before completion; its records fail with Closed"
            );
        }
    }
}

/// Where a batch reports its outcome.
#[derive(Debug)]
pub enum BatchSink {
    /// Its own completer: the batch's records hold futures on it.
    Own(BatchCompleter),
    /// Its slot in the batch it was split from.
    Piece(PieceSink),
}

impl BatchSink {
    /// Report the batch's outcome (the first report wins).
    pub fn report(self, resolved: Resolved) {
        match self {
            BatchSink::Own(c) => {
                c.complete_resolved(resolved);
            }
            BatchSink::Piece(mut p) => p.report(resolved),
        }
    }

    /// The completion the records' futures watch (for `flush`): the original batch's, even
    /// for a piece of a piece.
    pub(crate) fn root(&self) -> Arc<Completion> {
        match self {
            BatchSink::Own(c) => c.completion(),
            BatchSink::Piece(p) => Arc::clone(&p.parent.root),
        }
    }
}

/// A split batch waiting for its pieces: once every piece reported, it reports
/// [`Resolved::Split`] to its own sink.
#[derive(Debug)]
pub struct SplitParent {
    root: Arc<Completion>,
    starts: Vec<u32>,
    state: Mutex<SplitState>,
}

#[derive(Debug)]
struct SplitState {
    sink: Option<BatchSink>,
    outcomes: Vec<Option<Resolved>>,
    missing: usize,
}

impl SplitParent {
    /// A parent for a batch reporting to `sink`, cut into pieces whose first records have
    /// these offset deltas (ascending, the first 0). Returns one [`PieceSink`] per piece.
    pub fn split(sink: BatchSink, starts: Vec<u32>) -> Vec<PieceSink> {
        let n = starts.len();
        let parent = Arc::new(SplitParent {
            root: sink.root(),
            starts,
            state: Mutex::new(SplitState {
                sink: Some(sink),
                outcomes: vec![None; n],
                missing: n,
            }),
        });
        (0..n)
            .map(|index| PieceSink {
                parent: Arc::clone(&parent),
                index,
                reported: false,
            })
            .collect()
    }

    fn report(&self, index: usize, resolved: Resolved) {
        let done = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            match st.outcomes.get_mut(index) {
                Some(slot @ None) => {
                    *slot = Some(resolved);
                    st.missing -= 1;
                }
                _ => return,
            }
            if st.missing > 0 {
                return;
            }
            let outcomes = std::mem::take(&mut st.outcomes);
            st.sink.take().map(|sink| (sink, outcomes))
        };
        if let Some((sink, outcomes)) = done {
            let pieces = self
                .starts
                .iter()
                .zip(outcomes)
                .map(|(start, r)| {
                    let r = r.unwrap_or(Resolved::Whole(Err(ProducerError::Closed {
                        reason: CloseReason::Dropped,
                    })));
                    (*start, r)
                })
                .collect();
            sink.report(Resolved::Split(pieces));
        }
    }
}

/// One piece's slot in its [`SplitParent`]. Dropped without a report, it reports
/// [`ProducerError::Closed`], so the original batch's futures still resolve.
#[derive(Debug)]
pub struct PieceSink {
    parent: Arc<SplitParent>,
    index: usize,
    reported: bool,
}

impl PieceSink {
    /// The original batch's completion (what `flush` waits for).
    pub(crate) fn root(&self) -> Arc<Completion> {
        Arc::clone(&self.parent.root)
    }

    fn report(&mut self, resolved: Resolved) {
        if !std::mem::replace(&mut self.reported, true) {
            self.parent.report(self.index, resolved);
        }
    }
}

impl Drop for PieceSink {
    fn drop(&mut self) {
        self.report(Resolved::Whole(Err(ProducerError::Closed {
            reason: CloseReason::Dropped,
        })));
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
    /// Index of this future's waker in the completion's list, or [`NO_SLOT`].
    slot: u32,
}

/// A future that never registered a waker.
const NO_SLOT: u32 = u32::MAX;

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
            slot: NO_SLOT,
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

    fn resolve(&self, result: &Resolved) -> Result<RecordMetadata, ProducerError> {
        let (outcome, delta) = result.at(self.offset_delta).map_err(Clone::clone)?;
        let offset = if outcome.base_offset < 0 {
            -1
        } else {
            outcome.base_offset + i64::from(delta)
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
        match waiters.get_mut(self.slot as usize) {
            Some(Some(w)) if w.will_wake(cx.waker()) => {}
            Some(slot) => *slot = Some(cx.waker().clone()),
            None => {
                waiters.push(Some(cx.waker().clone()));
                self.slot = u32::try_from(waiters.len() - 1).unwrap_or(NO_SLOT);
            }
        }
        Poll::Pending
    }
}

impl Drop for DeliveryFuture {
    fn drop(&mut self) {
        if self.slot != NO_SLOT
            && self.completion.result.get().is_none()
            && let Some(slot) = self.completion.lock_waiters().get_mut(self.slot as usize)
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

    #[tokio::test]
    async fn split_batches_resolve_each_record_from_its_piece() {
        let c = BatchCompleter::new("t".into(), 2);
        let futures: Vec<_> = (0..6).map(|i| c.future(i, 100 + i64::from(i))).collect();
        // Cut at 0 and 3; the second piece is cut again at 1 (records 3 | 4, 5).
        let mut pieces = SplitParent::split(BatchSink::Own(c), vec![0, 3]).into_iter();
        let (first, second) = (pieces.next().unwrap(), pieces.next().unwrap());
        let mut sub = SplitParent::split(BatchSink::Piece(second), vec![0, 1]).into_iter();
        let (a, b) = (sub.next().unwrap(), sub.next().unwrap());
        assert!(futures[0].try_result().is_none());
        BatchSink::Piece(b).report(Resolved::Whole(ok(70)));
        BatchSink::Piece(first).report(Resolved::Whole(ok(40)));
        assert!(futures[5].try_result().is_none(), "one piece is still out");
        BatchSink::Piece(a).report(Resolved::Whole(ok(60)));
        let offsets: Vec<i64> = futures
            .into_iter()
            .map(|f| f.try_result().unwrap().unwrap().offset)
            .collect();
        assert_eq!(offsets, [40, 41, 42, 60, 70, 71]);
    }

    #[tokio::test]
    async fn a_dropped_piece_fails_only_its_records() {
        let c = BatchCompleter::new("t".into(), 0);
        let futures: Vec<_> = (0..4).map(|i| c.future(i, 0)).collect();
        let watch = DeliveryFuture::watch(&c.completion());
        let mut pieces = SplitParent::split(BatchSink::Own(c), vec![0, 2]).into_iter();
        let first = pieces.next().unwrap();
        drop(pieces); // the second piece is lost
        assert!(watch.try_result().is_none());
        BatchSink::Piece(first).report(Resolved::Whole(ok(10)));
        let results: Vec<_> = futures
            .into_iter()
            .map(|f| f.try_result().unwrap())
            .collect();
        assert_eq!(results[1].as_ref().unwrap().offset, 11);
        assert!(matches!(results[2], Err(ProducerError::Closed { .. })));
        assert!(
            watch.try_result().is_some(),
            "flush sees the split batch done"
        );
    }

    #[test]
    fn a_delivery_future_is_small() {
        // An application may hold one per record in flight.
        assert!(std::mem::size_of::<DeliveryFuture>() <= 24);
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
