//! Exponential backoff with jitter, as Java's `reconnect.backoff.ms` / `.max.ms`.

use std::time::Duration;

/// `initial * 2^failures`, capped at `max`, then spread by ±20 % jitter so that many clients
/// do not reconnect in lockstep. `failures` counts consecutive failures (0 for the first retry).
///
/// ```
/// use std::time::Duration;
/// use klamm_net::backoff::backoff;
/// let b = backoff(Duration::from_millis(50), Duration::from_secs(1), 3);
/// assert!(b >= Duration::from_millis(320) && b <= Duration::from_millis(480));
/// ```
pub fn backoff(initial: Duration, max: Duration, failures: u32) -> Duration {
    let exp = initial.saturating_mul(1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX));
    let base = exp.min(max);
    let jitter: f64 = rand::random_range(0.8..=1.2);
    base.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_then_caps_with_jitter() {
        let i = Duration::from_millis(50);
        let m = Duration::from_secs(1);
        for (failures, expected) in [
            (0u32, 50u64),
            (1, 100),
            (2, 200),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            for _ in 0..50 {
                let b = backoff(i, m, failures).as_secs_f64() * 1000.0;
                let e = expected as f64;
                assert!(
                    b >= e * 0.8 - 1e-6 && b <= e * 1.2 + 1e-6,
                    "{failures}: {b}"
                );
            }
        }
        let spread: std::collections::HashSet<u128> =
            (0..20).map(|_| backoff(i, m, 2).as_nanos()).collect();
        assert!(spread.len() > 1, "jitter varies");
    }
}
