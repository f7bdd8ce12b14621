//! Produce byte-rate quotas per client id, computed like Kafka's `ClientQuotaManager`:
//! a sampled rate over `samples` windows of `window` each (Kafka: 11 x 1 s), and on a
//! violation `throttle = (observed - quota) / quota * window size` (`QuotaUtils.throttleTime`),
//! where the window size is the time the samples span, at least `samples - 1` full windows.

use std::collections::HashMap;

/// Kafka's `quota.window.num` default.
pub const DEFAULT_SAMPLES: usize = 11;
/// Kafka's `quota.window.size.seconds` default, in milliseconds.
pub const DEFAULT_WINDOW_MS: i64 = 1_000;

#[derive(Debug, Clone, Copy)]
struct Sample {
    start_ms: i64,
    value: f64,
}

/// A sampled rate (Kafka's `Rate` over a `SampledStat`).
#[derive(Debug, Clone)]
pub struct RateSensor {
    samples: Vec<Sample>,
    max_samples: usize,
    window_ms: i64,
}

impl RateSensor {
    /// A sensor with `samples` windows of `window_ms`.
    pub fn new(samples: usize, window_ms: i64) -> Self {
        RateSensor {
            samples: Vec::new(),
            max_samples: samples.max(2),
            window_ms: window_ms.max(1),
        }
    }

    fn purge(&mut self, now_ms: i64) {
        let span = self.window_ms * self.max_samples as i64;
        self.samples.retain(|s| now_ms - s.start_ms < span);
    }

    /// Adds `value` at `now_ms`.
    pub fn record(&mut self, value: f64, now_ms: i64) {
        self.purge(now_ms);
        let need_new = self
            .samples
            .last()
            .is_none_or(|s| now_ms - s.start_ms >= self.window_ms);
        if need_new {
            if self.samples.len() == self.max_samples {
                self.samples.remove(0);
            }
            self.samples.push(Sample {
                start_ms: now_ms,
                value: 0.0,
            });
        }
        if let Some(s) = self.samples.last_mut() {
            s.value += value;
        }
    }

    /// The window the rate is measured over, in ms.
    pub fn window_size_ms(&mut self, now_ms: i64) -> i64 {
        self.purge(now_ms);
        let oldest = self.samples.first().map_or(now_ms, |s| s.start_ms);
        let mut elapsed = now_ms - oldest;
        let full = elapsed / self.window_ms;
        let min_full = self.max_samples as i64 - 1;
        if full < min_full {
            elapsed += (min_full - full) * self.window_ms;
        }
        elapsed
    }

    /// The rate per second at `now_ms`.
    pub fn rate(&mut self, now_ms: i64) -> f64 {
        let window = self.window_size_ms(now_ms);
        let total: f64 = self.samples.iter().map(|s| s.value).sum();
        total / (window as f64 / 1000.0)
    }
}

/// Produce quotas of every client id.
#[derive(Debug)]
pub struct Quotas {
    default_bytes_per_sec: Option<f64>,
    per_client: HashMap<String, f64>,
    sensors: HashMap<String, RateSensor>,
    samples: usize,
    window_ms: i64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            default_bytes_per_sec: None,
            per_client: HashMap::new(),
            sensors: HashMap::new(),
            samples: DEFAULT_SAMPLES,
            window_ms: DEFAULT_WINDOW_MS,
        }
    }
}

impl Quotas {
    /// Sets the produce quota of one client id (`Some`) or of every client without its own
    /// (`None`); `bytes_per_sec` `None` removes it.
    pub fn set_produce_quota(&mut self, client_id: Option<&str>, bytes_per_sec: Option<f64>) {
        match (client_id, bytes_per_sec) {
            (Some(c), Some(q)) => {
                self.per_client.insert(c.to_string(), q);
            }
            (Some(c), None) => {
                self.per_client.remove(c);
            }
            (None, q) => self.default_bytes_per_sec = q,
        }
    }

    /// Changes the sampling (Kafka: `quota.window.num`, `quota.window.size.seconds`).
    pub fn set_sampling(&mut self, samples: usize, window_ms: i64) {
        self.samples = samples;
        self.window_ms = window_ms;
        self.sensors.clear();
    }

    /// Records `bytes` produced by `client_id` at `now_ms` and returns the throttle time in
    /// ms Kafka would answer with (0 when within quota or no quota applies).
    pub fn record_produce(&mut self, client_id: &str, bytes: usize, now_ms: i64) -> i32 {
        let Some(quota) = self
            .per_client
            .get(client_id)
            .copied()
            .or(self.default_bytes_per_sec)
        else {
            return 0;
        };
        let (samples, window) = (self.samples, self.window_ms);
        let sensor = self
            .sensors
            .entry(client_id.to_string())
            .or_insert_with(|| RateSensor::new(samples, window));
        sensor.record(bytes as f64, now_ms);
        let rate = sensor.rate(now_ms);
        if rate <= quota || quota <= 0.0 {
            return 0;
        }
        let throttle = (rate - quota) / quota * sensor.window_size_ms(now_ms) as f64;
        throttle.round().clamp(0.0, f64::from(i32::MAX)) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_uses_at_least_samples_minus_one_windows() {
        let mut s = RateSensor::new(11, 1000);
        s.record(10_000.0, 0);
        // 10 KB over the minimum window of 10 s
        assert_eq!(s.window_size_ms(0), 10_000);
        assert!((s.rate(0) - 1_000.0).abs() < 1e-9);
        s.record(10_000.0, 15_000);
        // after 11 windows the first sample is gone
        assert!((s.rate(15_000) - 1_000.0).abs() < 1e-9);
    }

    #[test]
    fn throttle_time_is_kafkas_formula() {
        let mut q = Quotas::default();
        assert_eq!(
            q.record_produce("c", 1 << 20, 0),
            0,
            "no quota, no throttle"
        );
        q.set_produce_quota(Some("c"), Some(1000.0));
        // 20,000 bytes at once: rate 2,000 B/s over 10 s; (2000-1000)/1000 * 10,000 ms
        assert_eq!(q.record_produce("c", 20_000, 0), 10_000);
        // another client has no quota
        assert_eq!(q.record_produce("d", 20_000, 0), 0);
        q.set_produce_quota(None, Some(4000.0));
        assert_eq!(q.record_produce("d", 20_000, 0), 0);
        assert_eq!(q.record_produce("d", 30_000, 0), 2_500);
        q.set_produce_quota(Some("c"), None);
        // "c" now falls back to the default quota: 30,000 in 10 s = 3,000 B/s <= 4,000
        assert_eq!(q.record_produce("c", 10_000, 0), 0);
    }

    #[test]
    fn within_quota_is_never_throttled() {
        let mut q = Quotas::default();
        q.set_sampling(3, 100);
        q.set_produce_quota(None, Some(10_000.0));
        for t in 0..100 {
            assert_eq!(q.record_produce("c", 100, t * 20), 0);
        }
    }
}
