//! The response future: applies the response's throttle time to the connection's deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::handle::Shared;
use super::kip219::ThrottleTime;

pin_project! {
    /// The future of a [`ThrottleService`](super::ThrottleService) call.
    ///
    /// When the inner future yields a response, its `throttle_time_ms` (if any, and unless the
    /// broker already delayed it) moves the connection's deadline to `now + throttle_time_ms`,
    /// never backwards, before the response is handed to the caller.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        shared: Arc<Shared>,
        in_flight: InFlight,
    }
}

/// Counts a request in its connection's in-flight gauge from `call` until its future is
/// dropped (after completing, or cancelled).
struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, shared: Arc<Shared>) -> Self {
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        ResponseFuture {
            inner,
            in_flight: InFlight(shared.clone()),
            shared,
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    T: ThrottleTime,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = ready!(this.inner.poll(cx));
        if let Ok(resp) = &out {
            this.shared
                .observe(resp.throttle_time_ms(), resp.throttled_by_broker());
        }
        Poll::Ready(out)
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("connection", &self.shared.label)
            .finish_non_exhaustive()
    }
}
