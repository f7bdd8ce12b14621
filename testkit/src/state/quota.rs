//! Produce byte-rate quotas per client id and per broker, computed like Kafka's
//! `ClientQuotaManager` (each broker measures and throttles only the traffic it receives):
//! a sampled rate over `samples` windows of `window` each (Kafka: 11 x 1 s), and on a
//! violation `throttle = (observed - quota) / quota * window size` (`QuotaUtils.throttleTime`),
//! where the window size is the time the samples span, at least `samples - 1` full windows.
//!
//! The cluster-wide quotas are Kafka's client quota configurations
//! ([`ClientQuotaConfigs`], altered over the wire with AlterClientQuotas or by the control
//! API): the `producer_byte_rate` of a client-id entity (named or default) is enforced; user
//! and ip entities and the other keys are stored and described, not enforced.

use std::collections::HashMap;

use super::client_quotas::{
    ClientQuotaConfigs, PRODUCER_BYTE_RATE, QuotaEntity, QuotaOp, QuotaRefusal,
};

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

/// Produce quotas of every client id, enforced by each broker on its own traffic, as Kafka
/// does: every broker keeps its own rate per client id and throttles when the bytes *it*
/// received exceed the quota (Kafka's byte-rate thresholds are "defined per broker"). A client
/// producing to three brokers may therefore send up to three times its quota in total.
///
/// Quotas are set for the whole cluster (applied by every broker, as a Kafka dynamic quota
/// config is) or, for tests, on one broker only; the most specific setting applies:
/// (broker, client id), then (cluster, client id), then (broker, default), then
/// (cluster, default).
#[derive(Debug)]
pub struct Quotas {
    configs: ClientQuotaConfigs,
    /// `producer_byte_rate` of the default client-id entity (derived from `configs`).
    default_bytes_per_sec: Option<f64>,
    /// `producer_byte_rate` of the named client-id entities (derived from `configs`).
    per_client: HashMap<String, f64>,
    broker_default: HashMap<i32, f64>,
    broker_client: HashMap<(i32, String), f64>,
    sensors: HashMap<(i32, String), RateSensor>,
    samples: usize,
    window_ms: i64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            configs: ClientQuotaConfigs::default(),
            default_bytes_per_sec: None,
            per_client: HashMap::new(),
            broker_default: HashMap::new(),
            broker_client: HashMap::new(),
            sensors: HashMap::new(),
            samples: DEFAULT_SAMPLES,
            window_ms: DEFAULT_WINDOW_MS,
        }
    }
}

impl Quotas {
    /// Measures rates over `samples` windows of `window_ms` each (Kafka's `quota.window.num`
    /// and `quota.window.size.seconds`); rates measured so far are forgotten.
    pub fn set_window(&mut self, samples: usize, window_ms: i64) {
        self.samples = samples.max(1);
        self.window_ms = window_ms.max(1);
        self.sensors.clear();
    }

    /// Sets the produce quota every broker applies to one client id (`Some`) or to every
    /// client without its own (`None`); `bytes_per_sec` `None` removes it. This is the
    /// `producer_byte_rate` of the client-id entity, set without Kafka's validation (the
    /// control API may set fractional rates).
    pub fn set_produce_quota(&mut self, client_id: Option<&str>, bytes_per_sec: Option<f64>) {
        self.configs.set(
            &QuotaEntity::client_id(client_id),
            PRODUCER_BYTE_RATE,
            bytes_per_sec,
        );
        self.reindex();
    }

    /// The client quota configurations (every entity and key, enforced or not).
    pub fn configs(&self) -> &ClientQuotaConfigs {
        &self.configs
    }

    /// AlterClientQuotas: validates and (unless `validate_only`) applies the entries as Kafka
    /// does ([`ClientQuotaConfigs::alter`]); the new `producer_byte_rate` of client-id entities
    /// applies from the next Produce on.
    pub fn alter_client_quotas(
        &mut self,
        entries: Vec<(QuotaEntity, Vec<QuotaOp>)>,
        validate_only: bool,
    ) -> Vec<(QuotaEntity, Result<(), QuotaRefusal>)> {
        let results = self.configs.alter(entries, validate_only);
        self.reindex();
        results
    }

    /// Rebuilds the enforced per-client-id produce quotas from the configurations.
    fn reindex(&mut self) {
        self.default_bytes_per_sec = None;
        self.per_client.clear();
        for (entity, values) in self.configs.all() {
            let (Some(client), Some(&rate)) =
                (entity.client_id_only(), values.get(PRODUCER_BYTE_RATE))
            else {
                continue;
            };
            match client {
                Some(c) => {
                    self.per_client.insert(c.to_owned(), rate);
                }
                None => self.default_bytes_per_sec = Some(rate),
            }
        }
    }

    /// Sets the produce quota of broker `node` only, for one client id (`Some`) or every client
    /// (`None`), overriding the cluster-wide setting of the same kind on that broker;
    /// `bytes_per_sec` `None` removes the override.
    pub fn set_broker_produce_quota(
        &mut self,
        node: i32,
        client_id: Option<&str>,
        bytes_per_sec: Option<f64>,
    ) {
        match (client_id, bytes_per_sec) {
            (Some(c), Some(q)) => {
                self.broker_client.insert((node, c.to_string()), q);
            }
            (Some(c), None) => {
                self.broker_client.remove(&(node, c.to_string()));
            }
            (None, Some(q)) => {
                self.broker_default.insert(node, q);
            }
            (None, None) => {
                self.broker_default.remove(&node);
            }
        }
    }

    /// The produce quota broker `node` applies to `client_id`, if any.
    pub fn produce_quota(&self, node: i32, client_id: &str) -> Option<f64> {
        self.broker_client
            .get(&(node, client_id.to_string()))
            .or_else(|| self.per_client.get(client_id))
            .or_else(|| self.broker_default.get(&node))
            .copied()
            .or(self.default_bytes_per_sec)
    }

    /// Changes the sampling (Kafka: `quota.window.num`, `quota.window.size.seconds`).
    pub fn set_sampling(&mut self, samples: usize, window_ms: i64) {
        self.samples = samples;
        self.window_ms = window_ms;
        self.sensors.clear();
    }

    /// Records `bytes` that broker `node` received from `client_id` at `now_ms` and returns
    /// the throttle time in ms that broker answers with (0 when within quota or no quota
    /// applies). Only `node`'s own rate for the client counts.
    pub fn record_produce(&mut self, node: i32, client_id: &str, bytes: usize, now_ms: i64) -> i32 {
        let Some(quota) = self.produce_quota(node, client_id) else {
            return 0;
        };
        let (samples, window) = (self.samples, self.window_ms);
        let sensor = self
            .sensors
            .entry((node, client_id.to_string()))
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
            q.record_produce(0, "c", 1 << 20, 0),
            0,
            "no quota, no throttle"
        );
        q.set_produce_quota(Some("c"), Some(1000.0));
        // 20,000 bytes at once: rate 2,000 B/s over 10 s; (2000-1000)/1000 * 10,000 ms
        assert_eq!(q.record_produce(0, "c", 20_000, 0), 10_000);
        // another client has no quota
        assert_eq!(q.record_produce(0, "d", 20_000, 0), 0);
        q.set_produce_quota(None, Some(4000.0));
        assert_eq!(q.record_produce(0, "d", 20_000, 0), 0);
        assert_eq!(q.record_produce(0, "d", 30_000, 0), 2_500);
        q.set_produce_quota(Some("c"), None);
        // "c" now falls back to the default quota: 30,000 in 10 s = 3,000 B/s <= 4,000
        assert_eq!(q.record_produce(0, "c", 10_000, 0), 0);
    }

    #[test]
    fn only_client_id_entities_are_enforced() {
        let mut q = Quotas::default();
        let op = |v| QuotaOp {
            key: PRODUCER_BYTE_RATE.into(),
            value: v,
        };
        let user = QuotaEntity::from_parts([("user".to_owned(), None)]);
        let both = QuotaEntity::from_parts([
            ("user".to_owned(), None),
            ("client-id".to_owned(), Some("c".to_owned())),
        ]);
        let r = q.alter_client_quotas(
            vec![
                (user, vec![op(Some(10.0))]),
                (both, vec![op(Some(20.0))]),
                (QuotaEntity::client_id(Some("c")), vec![op(Some(1000.0))]),
            ],
            false,
        );
        assert!(r.iter().all(|(_, r)| r.is_ok()), "{r:?}");
        assert_eq!(q.configs().all().count(), 3);
        assert_eq!(q.produce_quota(0, "c"), Some(1000.0));
        assert_eq!(q.produce_quota(0, "d"), None, "user quotas are stored only");
        // validate_only changes nothing; removal lifts the quota
        q.alter_client_quotas(
            vec![(QuotaEntity::client_id(Some("c")), vec![op(None)])],
            true,
        );
        assert_eq!(q.produce_quota(0, "c"), Some(1000.0));
        q.alter_client_quotas(
            vec![(QuotaEntity::client_id(Some("c")), vec![op(None)])],
            false,
        );
        assert_eq!(q.produce_quota(0, "c"), None);
        // the control API writes the same configuration
        q.set_produce_quota(None, Some(5.0));
        assert_eq!(
            q.configs()
                .get(&QuotaEntity::client_id(None), PRODUCER_BYTE_RATE),
            Some(5.0)
        );
        assert_eq!(q.produce_quota(0, "anyone"), Some(5.0));
    }

    #[test]
    fn within_quota_is_never_throttled() {
        let mut q = Quotas::default();
        q.set_sampling(3, 100);
        q.set_produce_quota(None, Some(10_000.0));
        for t in 0..100 {
            assert_eq!(q.record_produce(0, "c", 100, t * 20), 0);
        }
    }

    #[test]
    fn each_broker_measures_its_own_traffic() {
        let mut q = Quotas::default();
        q.set_produce_quota(Some("c"), Some(1000.0));
        // 8,000 bytes to each of two brokers at once: 800 B/s on each over 10 s, within the
        // quota on both, although 1,600 B/s in total.
        assert_eq!(q.record_produce(0, "c", 8_000, 0), 0);
        assert_eq!(q.record_produce(1, "c", 8_000, 0), 0);
        // broker 1 alone goes over: (2,000 - 1,000) / 1,000 * 10 s
        assert_eq!(q.record_produce(1, "c", 12_000, 0), 10_000);
        assert_eq!(
            q.record_produce(0, "c", 1_000, 0),
            0,
            "broker 0 is unaffected"
        );
    }

    #[test]
    fn a_quota_on_one_broker_applies_there_only() {
        let mut q = Quotas::default();
        q.set_broker_produce_quota(2, Some("c"), Some(1000.0));
        assert_eq!(q.produce_quota(2, "c"), Some(1000.0));
        assert_eq!(q.produce_quota(1, "c"), None);
        assert_eq!(q.produce_quota(2, "d"), None);
        assert_eq!(q.record_produce(1, "c", 20_000, 0), 0);
        assert_eq!(q.record_produce(2, "c", 20_000, 0), 10_000);
        // precedence: (broker, client) > (cluster, client) > (broker, default) > default
        q.set_produce_quota(None, Some(1.0));
        q.set_produce_quota(Some("c"), Some(2.0));
        q.set_broker_produce_quota(1, None, Some(3.0));
        assert_eq!(q.produce_quota(2, "c"), Some(1000.0));
        assert_eq!(q.produce_quota(1, "c"), Some(2.0));
        assert_eq!(q.produce_quota(1, "d"), Some(3.0));
        assert_eq!(q.produce_quota(0, "d"), Some(1.0));
        q.set_broker_produce_quota(2, Some("c"), None);
        q.set_broker_produce_quota(1, None, None);
        assert_eq!(q.produce_quota(2, "c"), Some(2.0));
        assert_eq!(q.produce_quota(1, "d"), Some(1.0));
    }
}
