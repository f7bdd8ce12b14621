//! The tower service: waits for the deadline in `poll_ready`, holding no lock.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::time::{Instant, Sleep};
use tokio_util::sync::WaitForCancellationFutureOwned;
use tower::Service;

use super::error::ThrottleError;
use super::future::ResponseFuture;
use super::handle::{Shared, ThrottleHandle};
use super::kip219::ThrottleTime;

/// A service that holds requests back while its connection is throttled (KIP-219).
///
/// `poll_ready` returns `Pending` until the connection's deadline, on a tokio timer; it reads
/// the deadline from one atomic and holds no lock while waiting. Each clone has its own timer,
/// so many tasks can wait on one connection; a caller that drops its future simply stops
/// waiting. [`ThrottleHandle::close`] wakes every waiter at once with
/// [`ThrottleError::Closed`].
///
/// Once the inner service is ready (a free in-flight slot, typically), the deadline is checked
/// again, so a throttle that arrived while the caller waited for the slot still holds it back
/// (keeping the slot). Requests already sent when a throttle is learned are not recalled (as
/// in the Java client).
pub struct ThrottleService<S> {
    inner: S,
    shared: Arc<Shared>,
    sleep: Option<Pin<Box<Sleep>>>,
    closed: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    waiting: bool,
    /// The deadline as it was when `poll_ready` last said ready (`Some(None)`: none was
    /// set); `None` when not ready. `call` compares it with the deadline then, to tell a
    /// throttle that arrived in between (the request was already on its way) from a request
    /// sent past a known deadline (a violation, counted).
    admitted: Option<Option<Instant>>,
}

impl<S> ThrottleService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        ThrottleService {
            inner,
            shared,
            sleep: None,
            closed: None,
            waiting: false,
            admitted: None,
        }
    }

    /// The handle of the connection this service belongs to.
    pub fn handle(&self) -> ThrottleHandle {
        ThrottleHandle {
            shared: self.shared.clone(),
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Polls until the deadline has passed (`Ready(Ok)`) or the gate is closed (`Ready(Err)`).
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ThrottleError>> {
        loop {
            if self.shared.closed.is_closed() {
                return Poll::Ready(Err(ThrottleError::Closed));
            }
            let Some(deadline) = self.shared.deadline.pending() else {
                self.waiting = false;
                return Poll::Ready(Ok(()));
            };
            if !self.waiting {
                self.waiting = true;
                self.shared.counters.record_wait();
                tracing::debug!(
                    connection = %self.shared.label,
                    wait_ms = deadline.saturating_duration_since(Instant::now()).as_millis() as u64,
                    "request held back by broker throttle"
                );
            }
            let shared = &self.shared;
            let closed = self
                .closed
                .get_or_insert_with(|| Box::pin(shared.closed.token().clone().cancelled_owned()));
            if closed.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(ThrottleError::Closed));
            }
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            if sleep.deadline() != deadline {
                sleep.as_mut().reset(deadline);
            }
            ready!(sleep.as_mut().poll(cx));
            // The timer fired; loop to re-read the deadline, which another response may have
            // raised meanwhile.
        }
    }
}

impl<S: Clone> Clone for ThrottleService<S> {
    fn clone(&self) -> Self {
        ThrottleService::new(self.inner.clone(), self.shared.clone())
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for ThrottleService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThrottleService")
            .field("inner", &self.inner)
            .field("connection", &self.shared.label)
            .field("deadline", &self.shared.deadline.get())
            .field("closed", &self.shared.closed.is_closed())
            .finish()
    }
}

impl<S, R> Service<R> for ThrottleService<S>
where
    S: Service<R>,
    S::Response: ThrottleTime,
    S::Error: From<ThrottleError>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        loop {
            ready!(self.poll_deadline(cx))?;
            ready!(self.inner.poll_ready(cx))?;
            // While we waited for the inner service (a free in-flight slot, typically), a
            // response may have brought a throttle: check again before saying ready. The inner
            // reservation is kept while waiting.
            if self.shared.closed.is_closed() || self.shared.deadline.pending().is_some() {
                continue;
            }
            self.admitted = Some(self.shared.deadline.get());
            return Poll::Ready(Ok(()));
        }
    }

    fn call(&mut self, req: R) -> Self::Future {
        let admitted = self.admitted.take();
        if self.shared.deadline.pending().is_some() {
            match admitted {
                // A response raised the deadline after `poll_ready` said ready.
                Some(at_ready) if at_ready != self.shared.deadline.get() => {
                    self.shared.counters.record_admitted_before_throttle()
                }
                // Ready was never asked for, or the deadline it saw is still pending.
                _ => self.shared.counters.record_sent_before_deadline(),
            }
        }
        ResponseFuture::new(self.inner.call(req), self.shared.clone())
    }
}
