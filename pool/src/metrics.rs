//! The pool's counters and gauges: plain atomics a user reads with
//! [`TransactionalPool::metrics`](crate::TransactionalPool::metrics) and exports however they like.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Live counters, updated without locks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) in_use: AtomicUsize,
    pub(crate) waiters: AtomicUsize,
    pub(crate) recovering: AtomicUsize,
    pub(crate) checkouts: AtomicU64,
    pub(crate) checkout_timeouts: AtomicU64,
    pub(crate) wait_nanos_total: AtomicU64,
    pub(crate) wait_nanos_max: AtomicU64,
    pub(crate) commits: AtomicU64,
    pub(crate) commit_failures: AtomicU64,
    pub(crate) aborts: AtomicU64,
    pub(crate) abort_failures: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) creates: AtomicU64,
    pub(crate) create_failures: AtomicU64,
    pub(crate) replacements: AtomicU64,
    pub(crate) groups: AtomicU64,
    pub(crate) group_members: AtomicU64,
    pub(crate) group_size_max: AtomicUsize,
    pub(crate) group_sizes: [AtomicU64; GROUP_SIZE_BUCKETS],
    pub(crate) group_reruns: AtomicU64,
    pub(crate) group_aborts: AtomicU64,
}

/// Buckets of [`PoolMetrics::group_sizes`]: 1, 2, 3-4, 5-8, 9-16, 17-32, 33-64, 65 and more.
pub const GROUP_SIZE_BUCKETS: usize = 8;

/// The bucket of a group of `size` members: sizes up to `2^i` (and above `2^(i-1)`) in
/// bucket `i`, the last bucket open-ended.
fn group_size_bucket(size: usize) -> usize {
    let bits = usize::BITS - size.saturating_sub(1).leading_zeros();
    (bits as usize).min(GROUP_SIZE_BUCKETS - 1)
}

impl Counters {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_wait(&self, waited: Duration) {
        let nanos = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.checkouts.fetch_add(1, Ordering::Relaxed);
        self.wait_nanos_total.fetch_add(nanos, Ordering::Relaxed);
        self.wait_nanos_max.fetch_max(nanos, Ordering::Relaxed);
    }

    /// Counts a group transaction begun with `size` closures in it.
    pub(crate) fn record_group(&self, size: usize) {
        self.groups.fetch_add(1, Ordering::Relaxed);
        self.group_members.fetch_add(size as u64, Ordering::Relaxed);
        self.group_size_max.fetch_max(size, Ordering::Relaxed);
        self.group_sizes[group_size_bucket(size)].fetch_add(1, Ordering::Relaxed);
    }
}

/// Decrements a gauge when dropped (so a cancelled future still leaves the gauge right).
pub(crate) struct GaugeGuard<'a>(&'a AtomicUsize);

impl<'a> GaugeGuard<'a> {
    pub(crate) fn enter(gauge: &'a AtomicUsize) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        GaugeGuard(gauge)
    }

    /// Enters unless the gauge already stands at `max`.
    pub(crate) fn try_enter(gauge: &'a AtomicUsize, max: usize) -> Option<Self> {
        let prev = gauge.fetch_add(1, Ordering::Relaxed);
        if prev >= max {
            gauge.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(GaugeGuard(gauge))
    }
}

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A snapshot of the pool's metrics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PoolMetrics {
    /// Configured number of producers.
    pub size: usize,
    /// Producers created, initialised and waiting to be borrowed.
    pub idle: usize,
    /// Producers lent out right now.
    pub in_use: usize,
    /// Slots being recovered in the background (abort after a dropped guard, or replacement).
    pub recovering: usize,
    /// Callers waiting for a free producer right now.
    pub waiters: usize,
    /// Successful checkouts so far.
    pub checkouts: u64,
    /// Checkouts that gave up after `checkout_timeout`.
    pub checkout_timeouts: u64,
    /// Total time successful checkouts waited.
    pub wait_time_total: Duration,
    /// Longest time one successful checkout waited.
    pub wait_time_max: Duration,
    /// Transactions committed.
    pub commits: u64,
    /// Commits that failed (aborted or outcome unknown).
    pub commit_failures: u64,
    /// Transactions aborted (closure errors, panics, dropped guards, failed commits).
    pub aborts: u64,
    /// Aborts that failed (the producer was replaced instead).
    pub abort_failures: u64,
    /// Transaction closures that panicked.
    pub panics: u64,
    /// Producers created and initialised (initial, lazy and replacements).
    pub creates: u64,
    /// Creation attempts that failed.
    pub create_failures: u64,
    /// Producers closed and replaced under the same id (a new epoch).
    pub replacements: u64,
    /// Group commit: Kafka transactions begun for groups (a group that is aborted and run
    /// again counts once per attempt).
    pub groups: u64,
    /// Group commit: closures run in those transactions (the sum of their sizes).
    pub group_members: u64,
    /// Group commit: the most closures one group transaction held.
    pub group_size_max: usize,
    /// Group commit: group transactions by size, in buckets 1, 2, 3-4, 5-8, 9-16, 17-32,
    /// 33-64 and 65 or more closures.
    pub group_sizes: [u64; GROUP_SIZE_BUCKETS],
    /// Group commit: closures run again because another closure of their group failed,
    /// panicked or was dropped (their first attempt was aborted).
    pub group_reruns: u64,
    /// Group commit: group transactions aborted because one of their closures failed.
    pub group_aborts: u64,
}

impl PoolMetrics {
    /// Mean number of closures per group transaction, zero when there was none.
    pub fn group_size_avg(&self) -> f64 {
        if self.groups == 0 {
            0.0
        } else {
            self.group_members as f64 / self.groups as f64
        }
    }

    /// Mean wait of the successful checkouts, zero when there were none.
    pub fn wait_time_avg(&self) -> Duration {
        if self.checkouts == 0 {
            Duration::ZERO
        } else {
            let avg = self.wait_time_total.as_nanos() / u128::from(self.checkouts);
            Duration::from_nanos(u64::try_from(avg).unwrap_or(u64::MAX))
        }
    }
}

impl Counters {
    pub(crate) fn snapshot(&self, size: usize, idle: usize) -> PoolMetrics {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PoolMetrics {
            size,
            idle,
            in_use: self.in_use.load(Ordering::Relaxed),
            recovering: self.recovering.load(Ordering::Relaxed),
            waiters: self.waiters.load(Ordering::Relaxed),
            checkouts: r(&self.checkouts),
            checkout_timeouts: r(&self.checkout_timeouts),
            wait_time_total: Duration::from_nanos(r(&self.wait_nanos_total)),
            wait_time_max: Duration::from_nanos(r(&self.wait_nanos_max)),
            commits: r(&self.commits),
            commit_failures: r(&self.commit_failures),
            aborts: r(&self.aborts),
            abort_failures: r(&self.abort_failures),
            panics: r(&self.panics),
            creates: r(&self.creates),
            create_failures: r(&self.create_failures),
            replacements: r(&self.replacements),
            groups: r(&self.groups),
            group_members: r(&self.group_members),
            group_size_max: self.group_size_max.load(Ordering::Relaxed),
            group_sizes: std::array::from_fn(|i| r(&self.group_sizes[i])),
            group_reruns: r(&self.group_reruns),
            group_aborts: r(&self.group_aborts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_average_and_max() {
        let c = Counters::default();
        assert_eq!(c.snapshot(2, 0).wait_time_avg(), Duration::ZERO);
        c.record_wait(Duration::from_millis(10));
        c.record_wait(Duration::from_millis(30));
        let m = c.snapshot(2, 1);
        assert_eq!(m.checkouts, 2);
        assert_eq!(m.wait_time_avg(), Duration::from_millis(20));
        assert_eq!(m.wait_time_max, Duration::from_millis(30));
        assert_eq!((m.size, m.idle), (2, 1));
    }

    #[test]
    fn group_sizes_fall_in_power_of_two_buckets() {
        let buckets: Vec<usize> = [1, 2, 3, 4, 5, 8, 9, 16, 17, 33, 64, 65, 5000]
            .into_iter()
            .map(group_size_bucket)
            .collect();
        assert_eq!(buckets, vec![0, 1, 2, 2, 3, 3, 4, 4, 5, 6, 6, 7, 7]);
        let c = Counters::default();
        for size in [1, 10, 10, 3] {
            c.record_group(size);
        }
        let m = c.snapshot(1, 0);
        assert_eq!((m.groups, m.group_members, m.group_size_max), (4, 24, 10));
        assert_eq!(m.group_sizes, [1, 0, 1, 0, 2, 0, 0, 0]);
        assert!((m.group_size_avg() - 6.0).abs() < 1e-9);
    }

    #[test]
    fn gauge_guard_restores_on_drop() {
        let c = Counters::default();
        {
            let _g = GaugeGuard::enter(&c.waiters);
            assert_eq!(c.snapshot(1, 0).waiters, 1);
            let _h = GaugeGuard::try_enter(&c.waiters, 2).expect("below max");
            assert!(GaugeGuard::try_enter(&c.waiters, 2).is_none(), "at max");
            assert_eq!(c.snapshot(1, 0).waiters, 2);
        }
        assert_eq!(c.snapshot(1, 0).waiters, 0);
    }
}
