//! State shared by every service of one connection, and the handle that controls it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::deadline::Deadline;
use super::metrics::{Counters, ThrottleMetrics};
use crate::close_signal::CloseSignal;

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) deadline: Deadline,
    /// Closed by [`ThrottleHandle::close`]; checked on every request, awaited by waiters.
    pub(crate) closed: CloseSignal,
    pub(crate) counters: Counters,
    pub(crate) label: Arc<str>,
    /// Requests handed to the connection whose response future is still alive.
    pub(crate) in_flight: AtomicU64,
}

impl Shared {
    pub(crate) fn new(label: Arc<str>) -> Arc<Self> {
        Arc::new(Shared {
            deadline: Deadline::new(),
            closed: CloseSignal::default(),
            counters: Counters::default(),
            label,
            in_flight: AtomicU64::new(0),
        })
    }

    /// Applies one response's throttle time, received now (the clock is read only for a
    /// throttle that moves the deadline).
    pub(crate) fn observe(&self, throttle_ms: Option<i32>, broker_delayed: bool) {
        let Some(ms) = throttle_ms else { return };
        // A negative value is a broker bug; treat it as "not throttled".
        let ms = u32::try_from(ms).unwrap_or(0);
        self.counters.record(ms, broker_delayed);
        if ms == 0 {
            return;
        }
        if broker_delayed {
            tracing::info!(
                connection = %self.label,
                throttle_ms = ms,
                "broker throttled this connection and already delayed its response (pre-KIP-219): not waiting again"
            );
            return;
        }
        // The other requests in flight were written before this throttle existed.
        self.counters
            .record_pipelined(self.in_flight.load(Ordering::Relaxed).saturating_sub(1));
        let until = Instant::now() + Duration::from_millis(u64::from(ms));
        let moved = self.deadline.raise(until);
        tracing::info!(
            connection = %self.label,
            throttle_ms = ms,
            deadline_moved = moved,
            "broker throttled this connection (KIP-219): holding further requests until the deadline"
        );
    }
}

/// Controls and observes the throttle state of one connection: close it (waking every waiter
/// at once), read its deadline and metrics.
///
/// Cheap to clone; every clone refers to the same connection state.
#[derive(Debug, Clone)]
pub struct ThrottleHandle {
    pub(crate) shared: Arc<Shared>,
}

impl ThrottleHandle {
    /// Closes the connection's throttle gate: every caller waiting in `poll_ready` wakes at once
    /// with [`ThrottleError::Closed`](super::ThrottleError::Closed), and so does every later
    /// caller. Idempotent.
    pub fn close(&self) {
        if self.shared.closed.close() {
            tracing::debug!(connection = %self.shared.label, "throttle gate closed");
        }
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.is_closed()
    }

    /// The deadline before which no request is sent, if it is still in the future.
    pub fn deadline(&self) -> Option<Instant> {
        self.shared.deadline.pending()
    }

    /// How long a new request would wait now.
    pub fn remaining(&self) -> Duration {
        self.deadline()
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
    }

    /// Raises the deadline to at least `until`, as a response with a throttle would. Useful for
    /// a connection that learns a throttle outside the layer (for example from a response whose
    /// caller had gone away).
    pub fn throttle_until(&self, until: Instant) {
        self.shared.deadline.raise(until);
    }

    /// Records a response's `throttle_time_ms` as if it had passed through the layer: updates
    /// the metrics and, unless `broker_delayed`, raises the deadline to now + `throttle_ms`.
    pub fn observe(&self, throttle_ms: i32, broker_delayed: bool) {
        self.shared.observe(Some(throttle_ms), broker_delayed);
    }

    /// A snapshot of this connection's throttle metrics.
    pub fn metrics(&self) -> ThrottleMetrics {
        self.shared.counters.snapshot()
    }

    /// The label given to the connection (used in tracing events).
    pub fn label(&self) -> &str {
        &self.shared.label
    }
}
