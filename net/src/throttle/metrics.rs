//! Throttle metrics of one connection, named after the Java client's
//! `produce-throttle-time-avg` / `produce-throttle-time-max`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Lock-free counters, updated by every response that carries a `throttle_time_ms`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    responses: AtomicU64,
    throttled: AtomicU64,
    broker_delayed: AtomicU64,
    sum_ms: AtomicU64,
    max_ms: AtomicU64,
    waits: AtomicU64,
    sent_before_deadline: AtomicU64,
    admitted_before_throttle: AtomicU64,
    pipelined: AtomicU64,
}

impl Counters {
    /// Records one response's throttle time (zero included, as Java averages over every
    /// response).
    pub(crate) fn record(&self, throttle_ms: u32, broker_delayed: bool) {
        self.responses.fetch_add(1, Ordering::Relaxed);
        if throttle_ms == 0 {
            // Nearly every response: adding zero to the sum or the max would change nothing
            // but still take the cache line from the other cores.
            return;
        }
        self.throttled.fetch_add(1, Ordering::Relaxed);
        if broker_delayed {
            self.broker_delayed.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_ms
            .fetch_add(u64::from(throttle_ms), Ordering::Relaxed);
        self.max_ms
            .fetch_max(u64::from(throttle_ms), Ordering::Relaxed);
    }

    /// Records that a caller had to wait for the deadline.
    pub(crate) fn record_wait(&self) {
        self.waits.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a request handed to the connection while a deadline it had been told of was
    /// still pending: a violation (the layer is built never to do this; the count proves it).
    pub(crate) fn record_sent_before_deadline(&self) {
        self.sent_before_deadline.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a request admitted by `poll_ready` before a throttle arrived and handed to the
    /// connection after: it was on its way when the throttle was learned.
    pub(crate) fn record_admitted_before_throttle(&self) {
        self.admitted_before_throttle
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Records `n` requests in flight (already written or being written) when a throttled
    /// response arrived: pipelining, not a violation.
    pub(crate) fn record_pipelined(&self, n: u64) {
        if n > 0 {
            self.pipelined.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> ThrottleMetrics {
        ThrottleMetrics {
            responses: self.responses.load(Ordering::Relaxed),
            throttled_responses: self.throttled.load(Ordering::Relaxed),
            broker_delayed_responses: self.broker_delayed.load(Ordering::Relaxed),
            throttle_time_sum_ms: self.sum_ms.load(Ordering::Relaxed),
            throttle_time_max_ms: self.max_ms.load(Ordering::Relaxed),
            waits: self.waits.load(Ordering::Relaxed),
            sent_before_deadline: self.sent_before_deadline.load(Ordering::Relaxed),
            admitted_before_throttle: self.admitted_before_throttle.load(Ordering::Relaxed),
            pipelined: self.pipelined.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of one connection's throttle metrics since it was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ThrottleMetrics {
    /// Responses that carried a `throttle_time_ms` field (throttled or not).
    pub responses: u64,
    /// Responses with a positive `throttle_time_ms`.
    pub throttled_responses: u64,
    /// Throttled responses of pre-KIP-219 versions, which the broker had already delayed
    /// (these do not move the client's deadline).
    pub broker_delayed_responses: u64,
    /// Sum of every reported `throttle_time_ms`.
    pub throttle_time_sum_ms: u64,
    /// Largest reported `throttle_time_ms` (Java: `produce-throttle-time-max`).
    pub throttle_time_max_ms: u64,
    /// Times a caller's `poll_ready` had to wait for the deadline.
    pub waits: u64,
    /// Requests handed to the connection while a deadline already known when they were
    /// admitted was pending. Always 0 unless the layer is broken: KIP-219 asks the client
    /// to send nothing on a throttled connection before the deadline.
    pub sent_before_deadline: u64,
    /// Requests `poll_ready` admitted before a throttle arrived, handed to the connection
    /// just after: they were on their way when the throttle was learned (not a violation).
    pub admitted_before_throttle: u64,
    /// Requests already in flight on the connection when a throttled response arrived
    /// (pipelining: sent before the throttle existed; not a violation).
    pub pipelined: u64,
}

impl ThrottleMetrics {
    /// Average `throttle_time_ms` over every response that carried one (Java:
    /// `produce-throttle-time-avg`); `0.0` before the first response.
    ///
    /// ```
    /// let m = klamm_net::throttle::ThrottleMetrics::default();
    /// assert_eq!(m.throttle_time_avg_ms(), 0.0);
    /// ```
    pub fn throttle_time_avg_ms(&self) -> f64 {
        if self.responses == 0 {
            0.0
        } else {
            self.throttle_time_sum_ms as f64 / self.responses as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avg_and_max_like_java() {
        let c = Counters::default();
        c.record(0, false);
        c.record(300, false);
        c.record(100, true);
        c.record_wait();
        let m = c.snapshot();
        assert_eq!(m.responses, 3);
        assert_eq!(m.throttled_responses, 2);
        assert_eq!(m.broker_delayed_responses, 1);
        assert_eq!(m.throttle_time_max_ms, 300);
        assert!((m.throttle_time_avg_ms() - 400.0 / 3.0).abs() < 1e-9);
        assert_eq!(m.waits, 1);
    }
}
