//! The per-connection throttle deadline: one atomic that only moves forward.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// A deadline held in one `AtomicU64`, as nanoseconds since a per-connection base instant.
///
/// `0` means "no deadline": the base instant is in the past as soon as the value exists, so a
/// deadline equal to it never delays anyone. [`Deadline::raise`] uses `fetch_max`, so a shorter
/// throttle can never shorten a longer one, whatever the order in which concurrent responses
/// are processed. No lock is ever taken.
#[derive(Debug)]
pub(crate) struct Deadline {
    base: Instant,
    nanos: AtomicU64,
}

impl Deadline {
    /// A deadline that delays nobody yet.
    pub(crate) fn new() -> Self {
        Deadline {
            base: Instant::now(),
            nanos: AtomicU64::new(0),
        }
    }

    /// Moves the deadline to `until` unless it is already later. Returns `true` when the
    /// deadline moved.
    pub(crate) fn raise(&self, until: Instant) -> bool {
        let n = to_nanos(until.saturating_duration_since(self.base));
        let prev = self.nanos.fetch_max(n, Ordering::AcqRel);
        n > prev
    }

    /// The current deadline, if one was ever set.
    pub(crate) fn get(&self) -> Option<Instant> {
        match self.nanos.load(Ordering::Acquire) {
            0 => None,
            n => Some(self.base + Duration::from_nanos(n)),
        }
    }

    /// The current deadline if it is still in the future. Reads the clock only when a
    /// deadline was ever set: a connection that was never throttled (nearly all of them)
    /// pays one atomic load per request.
    pub(crate) fn pending(&self) -> Option<Instant> {
        self.get().filter(|d| *d > Instant::now())
    }
}

fn to_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn only_moves_forward() {
        let d = Deadline::new();
        let now = Instant::now();
        assert_eq!(d.get(), None);
        assert!(d.raise(now + Duration::from_secs(10)));
        assert!(!d.raise(now + Duration::from_secs(1)));
        assert_eq!(d.get(), Some(now + Duration::from_secs(10)));
        assert!(d.raise(now + Duration::from_secs(11)));
        assert_eq!(d.get(), Some(now + Duration::from_secs(11)));
    }

    #[tokio::test(start_paused = true)]
    async fn past_deadline_is_not_pending() {
        let d = Deadline::new();
        let start = Instant::now();
        assert_eq!(d.pending(), None, "never set");
        d.raise(start + Duration::from_millis(5));
        assert_eq!(d.pending(), Some(start + Duration::from_millis(5)));
        tokio::time::advance(Duration::from_millis(4)).await;
        assert!(d.pending().is_some());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(d.pending(), None);
    }

    #[test]
    fn concurrent_raises_keep_the_maximum() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let _guard = rt.enter();
        let d = std::sync::Arc::new(Deadline::new());
        let base = Instant::now();
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let d = d.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        d.raise(base + Duration::from_micros(i * 4 + t));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(d.get(), Some(base + Duration::from_micros(9_999 * 4 + 3)));
    }
}
