//! Exponential backoff with jitter (KIP-580), the one implementation every Klamm crate uses:
//! klamm-net's reconnects (`reconnect.backoff.ms` / `.max.ms`), klamm-producer's batch and
//! InitProducerId retries and klamm-txn's coordinator retries (`retry.backoff.ms` /
//! `retry.backoff.max.ms`).
//!
//! KIP-580 defines the wait before retry number `failures + 1` as
//! `min(max, initial * 2^failures) * random in [1 - JITTER, 1 + JITTER]` with a jitter of
//! 0.2, as Java's `ExponentialBackoff`; the jitter keeps many clients that failed together
//! from retrying in lockstep (so a result may exceed `max` by up to 20 %).

use std::time::Duration;

/// KIP-580's jitter: a backoff is spread over `[1 - JITTER, 1 + JITTER]` times its base.
pub const JITTER: f64 = 0.2;

/// `initial * 2^failures`, capped at `max`, then spread by ±20 % jitter so that many clients
/// do not retry in lockstep. `failures` counts consecutive failures (0 for the first retry).
///
/// ```
/// use std::time::Duration;
/// use klamm_net::backoff::backoff;
/// let b = backoff(Duration::from_millis(50), Duration::from_secs(1), 3);
/// assert!(b >= Duration::from_millis(320) && b <= Duration::from_millis(480));
/// ```
pub fn backoff(initial: Duration, max: Duration, failures: u32) -> Duration {
    jitter(exponential(initial, max, failures), rand::random::<f64>())
}

/// The backoff before jitter: `initial * 2^failures`, capped at `max` (saturating, so any
/// `failures` is fine).
///
/// ```
/// use std::time::Duration;
/// use klamm_net::backoff::exponential;
/// let (i, m) = (Duration::from_millis(100), Duration::from_secs(1));
/// assert_eq!(exponential(i, m, 0), Duration::from_millis(100));
/// assert_eq!(exponential(i, m, 3), Duration::from_millis(800));
/// assert_eq!(exponential(i, m, 40), m);
/// ```
pub fn exponential(initial: Duration, max: Duration, failures: u32) -> Duration {
    let factor = 1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX);
    initial.saturating_mul(factor).min(max)
}

/// `base` spread by the jitter: `unit` in `[0, 1]` (clamped; a uniform random draw in
/// practice) maps linearly onto `[base * (1 - JITTER), base * (1 + JITTER)]`. Use it alone for
/// a constant backoff that still needs jitter.
///
/// ```
/// use std::time::Duration;
/// use klamm_net::backoff::jitter;
/// let base = Duration::from_millis(20);
/// assert_eq!(jitter(base, 0.0), Duration::from_millis(16));
/// assert_eq!(jitter(base, 1.0), Duration::from_millis(24));
/// ```
pub fn jitter(base: Duration, unit: f64) -> Duration {
    let unit = if unit.is_nan() {
        0.5
    } else {
        unit.clamp(0.0, 1.0)
    };
    base.mul_f64(1.0 - JITTER + 2.0 * JITTER * unit)
}

/// [`jitter`] with a random draw: `base` spread over `[0.8, 1.2] * base`.
pub fn jittered(base: Duration) -> Duration {
    jitter(base, rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within_band(got: Duration, base_ms: f64) -> bool {
        let ms = got.as_secs_f64() * 1000.0;
        ms >= base_ms * (1.0 - JITTER) - 1e-6 && ms <= base_ms * (1.0 + JITTER) + 1e-6
    }

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
            (u32::MAX, 1000),
        ] {
            assert_eq!(exponential(i, m, failures), Duration::from_millis(expected));
            for _ in 0..200 {
                let b = backoff(i, m, failures);
                assert!(within_band(b, expected as f64), "{failures}: {b:?}");
            }
        }
        let spread: std::collections::HashSet<u128> =
            (0..20).map(|_| backoff(i, m, 2).as_nanos()).collect();
        assert!(spread.len() > 1, "jitter varies");
    }

    #[test]
    fn jitter_maps_the_unit_interval_onto_the_band() {
        let base = Duration::from_millis(100);
        assert_eq!(jitter(base, 0.0), Duration::from_millis(80));
        assert_eq!(jitter(base, 0.5), Duration::from_millis(100));
        assert_eq!(jitter(base, 1.0), Duration::from_millis(120));
        // out-of-range draws cannot leave the band
        assert_eq!(jitter(base, -3.0), Duration::from_millis(80));
        assert_eq!(jitter(base, 7.0), Duration::from_millis(120));
        assert_eq!(jitter(base, f64::NAN), Duration::from_millis(100));
        assert_eq!(jitter(Duration::ZERO, 1.0), Duration::ZERO);
    }

    #[test]
    fn random_draws_cover_the_band() {
        let base = Duration::from_millis(100);
        let draws: Vec<f64> = (0..2_000)
            .map(|_| jittered(base).as_secs_f64() * 1000.0)
            .collect();
        assert!(
            draws
                .iter()
                .all(|&d| (80.0 - 1e-6..=120.0 + 1e-6).contains(&d))
        );
        // both tails are reached: the draw is spread, not stuck near the base
        assert!(draws.iter().any(|&d| d < 85.0), "low tail");
        assert!(draws.iter().any(|&d| d > 115.0), "high tail");
    }
}
