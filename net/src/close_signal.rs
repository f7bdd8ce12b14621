//! A close signal that is cheap to check on every request and can be awaited.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio_util::sync::CancellationToken;

/// Closed once, checked often: the flag answers [`is_closed`](Self::is_closed) with one atomic
/// load (a `CancellationToken` takes its lock to answer that), the token wakes whoever awaits
/// the close.
#[derive(Debug, Default)]
pub(crate) struct CloseSignal {
    closed: AtomicBool,
    token: CancellationToken,
}

impl CloseSignal {
    /// Closes it and wakes the waiters. Idempotent; returns whether this call closed it.
    pub(crate) fn close(&self) -> bool {
        let first = !self.closed.swap(true, Ordering::AcqRel);
        self.token.cancel();
        first
    }

    /// Whether [`close`](Self::close) was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The token to await the close with (`cancelled`, `cancelled_owned`).
    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closes_once_and_wakes_waiters() {
        let s = std::sync::Arc::new(CloseSignal::default());
        assert!(!s.is_closed());
        let waiter = tokio::spawn({
            let token = s.token().clone();
            async move { token.cancelled().await }
        });
        assert!(s.close(), "the first close closes");
        assert!(!s.close(), "later closes change nothing");
        assert!(s.is_closed());
        assert!(s.token().is_cancelled());
        waiter.await.expect("the waiter woke");
    }
}
