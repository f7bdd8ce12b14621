//! Fault injection and observation: rules that intercept requests by API key (and broker),
//! counters of every fault injected, and the arrival log of every request per connection.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use klamm_protocol::ApiKey;

/// Most arrivals (and throttle events) the logs keep; later ones are only counted
/// ([`crate::Cluster::arrivals_dropped`]).
pub const MAX_ARRIVALS: usize = 1_000_000;

/// What an injected fault does to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultAction {
    /// Answer with this Kafka error code in every error field of the response, without
    /// applying the request.
    Error(i16),
    /// Hold the request this long, then handle it normally.
    Delay(Duration),
    /// Close the connection without applying or answering the request.
    DropBefore,
    /// Apply the request, then close the connection without answering.
    DropAfter,
    /// Apply the request and answer with this `throttle_time_ms`, throttling the connection
    /// as Kafka does for the request's version (see the crate docs).
    Throttle(i32),
}

/// A fault rule: which requests it matches and what it does.
///
/// ```
/// use std::time::Duration;
/// use klamm_protocol::ApiKey;
/// use klamm_testkit::{Fault, FaultAction};
///
/// // drop the connection after applying every 1,000th Produce on broker 1
/// let f = Fault::new(ApiKey::Produce, FaultAction::DropAfter).broker(1).every(1000);
/// // answer the next three Metadata requests with LEADER_NOT_AVAILABLE (5)
/// let g = Fault::new(ApiKey::Metadata, FaultAction::Error(5)).times(3);
/// # let _ = (f, g);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    api: ApiKey,
    broker: Option<i32>,
    every: u64,
    times: Option<u64>,
    action: FaultAction,
}

impl Fault {
    /// A fault on every request of `api` on every broker, until removed.
    pub fn new(api: ApiKey, action: FaultAction) -> Self {
        Fault {
            api,
            broker: None,
            every: 1,
            times: None,
            action,
        }
    }

    /// Only requests received by this broker (node id).
    pub fn broker(mut self, node_id: i32) -> Self {
        self.broker = Some(node_id);
        self
    }

    /// Only every `n`th matching request (the `n`th, `2n`th, ...); 0 is treated as 1.
    pub fn every(mut self, n: u64) -> Self {
        self.every = n.max(1);
        self
    }

    /// Fire at most `n` times, then stay inert.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }
}

/// Handle of an injected fault, to read its counter or remove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FaultId(u64);

/// How many faults of each kind were injected into one API's requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InjectedCounts {
    /// Requests answered with an injected error.
    pub errors: u64,
    /// Requests delayed.
    pub delays: u64,
    /// Connections closed before applying a request.
    pub drops_before: u64,
    /// Connections closed after applying a request.
    pub drops_after: u64,
    /// Responses given an injected throttle time.
    pub throttles: u64,
}

/// One request as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// Node id of the broker that received it.
    pub broker: i32,
    /// Connection number (unique in the cluster).
    pub connection: u64,
    /// When its frame was read (on tokio's clock, so a paused test clock applies).
    pub at: Instant,
    /// API key.
    pub api_key: i16,
    /// API version.
    pub api_version: i16,
    /// Correlation id.
    pub correlation_id: i32,
    /// Client id from the header.
    pub client_id: Option<String>,
    /// The connection's throttle deadline at arrival, if one was still in the future: a
    /// request that arrives before it was sent too early by the client.
    pub throttled_until: Option<Instant>,
}

/// One throttled response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleEvent {
    /// Node id of the broker.
    pub broker: i32,
    /// Connection number.
    pub connection: u64,
    /// API key of the throttled response.
    pub api_key: i16,
    /// When the response was sent.
    pub at: Instant,
    /// Its `throttle_time_ms`.
    pub throttle_ms: i32,
    /// Whether a quota caused it (false: injected).
    pub from_quota: bool,
}

#[derive(Debug)]
struct Rule {
    id: FaultId,
    fault: Fault,
    seen: u64,
    fired: u64,
}

/// Faults, counters and logs; the cluster keeps one behind a mutex.
#[derive(Debug, Default)]
pub struct Observations {
    rules: Vec<Rule>,
    next_id: u64,
    injected: HashMap<ApiKey, InjectedCounts>,
    fired_by_removed: HashMap<FaultId, u64>,
    arrivals: Vec<Arrival>,
    /// Arrivals not logged because the log was full.
    pub arrivals_dropped: u64,
    throttles: Vec<ThrottleEvent>,
    /// Requests that arrived on a connection before its throttle deadline.
    pub early_requests: u64,
    /// Requests refused as malformed (bad frame, header or body).
    pub malformed_requests: u64,
    /// Error codes sent, by (API, broker), then code.
    error_codes: HashMap<(ApiKey, i32), BTreeMap<i16, u64>>,
    /// Responses a quota throttled, by broker.
    quota_throttles: BTreeMap<i32, u64>,
    /// Retried batches recognised as duplicates (answered with their original offset).
    duplicate_batches: u64,
}

impl Observations {
    /// Adds a fault rule.
    pub fn inject(&mut self, fault: Fault) -> FaultId {
        self.next_id += 1;
        let id = FaultId(self.next_id);
        self.rules.push(Rule {
            id,
            fault,
            seen: 0,
            fired: 0,
        });
        id
    }

    /// Removes a rule; its count stays readable.
    pub fn remove(&mut self, id: FaultId) {
        if let Some(pos) = self.rules.iter().position(|r| r.id == id) {
            let r = self.rules.remove(pos);
            self.fired_by_removed.insert(id, r.fired);
        }
    }

    /// Removes every rule.
    pub fn clear(&mut self) {
        let ids: Vec<FaultId> = self.rules.iter().map(|r| r.id).collect();
        for id in ids {
            self.remove(id);
        }
    }

    /// How often a rule fired.
    pub fn fired(&self, id: FaultId) -> u64 {
        self.rules
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.fired)
            .or_else(|| self.fired_by_removed.get(&id).copied())
            .unwrap_or(0)
    }

    /// Counts of faults injected into `api`'s requests.
    pub fn injected(&self, api: ApiKey) -> InjectedCounts {
        self.injected.get(&api).copied().unwrap_or_default()
    }

    /// The actions of every rule that fires for this request, in rule order, counted.
    pub fn on_request(&mut self, api: ApiKey, broker: i32) -> Vec<FaultAction> {
        let mut out = Vec::new();
        for r in &mut self.rules {
            if r.fault.api != api || r.fault.broker.is_some_and(|b| b != broker) {
                continue;
            }
            if r.fault.times.is_some_and(|t| r.fired >= t) {
                continue;
            }
            r.seen += 1;
            if r.seen % r.fault.every != 0 {
                continue;
            }
            r.fired += 1;
            out.push(r.fault.action);
            let c = self.injected.entry(api).or_default();
            match r.fault.action {
                FaultAction::Error(_) => c.errors += 1,
                FaultAction::Delay(_) => c.delays += 1,
                FaultAction::DropBefore => c.drops_before += 1,
                FaultAction::DropAfter => c.drops_after += 1,
                FaultAction::Throttle(_) => c.throttles += 1,
            }
        }
        out
    }

    /// Logs an arrival (counting it as early if it came before its connection's deadline).
    pub fn log_arrival(&mut self, arrival: Arrival) {
        if arrival.throttled_until.is_some_and(|d| arrival.at < d) {
            self.early_requests += 1;
        }
        if self.arrivals.len() >= MAX_ARRIVALS {
            self.arrivals_dropped += 1;
        } else {
            self.arrivals.push(arrival);
        }
    }

    /// Counts error codes `broker` sent in one response of `api` (each occurrence once, so
    /// a Produce refusing three partitions counts three).
    pub fn count_error_codes(&mut self, api: ApiKey, broker: i32, codes: &[i16]) {
        let counts = self.error_codes.entry((api, broker)).or_default();
        for &c in codes {
            *counts.entry(c).or_default() += 1;
        }
    }

    /// Error codes sent in responses of `api`, by code: by every broker (`None`) or one.
    /// Code 0 (no error) is not counted.
    pub fn error_counts(&self, api: ApiKey, broker: Option<i32>) -> BTreeMap<i16, u64> {
        let mut out = BTreeMap::new();
        for ((a, b), counts) in &self.error_codes {
            if *a != api || broker.is_some_and(|n| n != *b) {
                continue;
            }
            for (code, n) in counts {
                *out.entry(*code).or_default() += n;
            }
        }
        out
    }

    /// Counts `n` produced batches `broker` recognised as retried duplicates.
    pub fn count_duplicate_batches(&mut self, broker: i32, n: u64) {
        tracing::debug!(
            broker,
            n,
            "duplicate batches answered with their original offsets"
        );
        self.duplicate_batches += n;
    }

    /// Produced batches recognised as retried duplicates.
    pub fn duplicate_batches(&self) -> u64 {
        self.duplicate_batches
    }

    /// Responses a quota throttled, by broker (counted even when the log is full).
    pub fn quota_throttles(&self) -> &BTreeMap<i32, u64> {
        &self.quota_throttles
    }

    /// Logs a throttled response.
    pub fn log_throttle(&mut self, event: ThrottleEvent) {
        if event.from_quota {
            *self.quota_throttles.entry(event.broker).or_default() += 1;
        }
        if self.throttles.len() < MAX_ARRIVALS {
            self.throttles.push(event);
        }
    }

    /// Every logged arrival.
    pub fn arrivals(&self) -> &[Arrival] {
        &self.arrivals
    }

    /// Every throttled response.
    pub fn throttles(&self) -> &[ThrottleEvent] {
        &self.throttles
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nth_and_times_and_broker_filters() {
        let mut o = Observations::default();
        let every3 = o.inject(Fault::new(ApiKey::Produce, FaultAction::DropAfter).every(3));
        let twice = o.inject(
            Fault::new(ApiKey::Produce, FaultAction::Error(6))
                .broker(1)
                .times(2),
        );
        let mut fired = Vec::new();
        for i in 0..9 {
            fired.push(o.on_request(ApiKey::Produce, i % 2));
        }
        assert_eq!(o.fired(every3), 3);
        assert_eq!(o.fired(twice), 2);
        assert_eq!(fired[2], vec![FaultAction::DropAfter]);
        assert_eq!(fired[1], vec![FaultAction::Error(6)]);
        assert!(fired[0].is_empty());
        assert!(o.on_request(ApiKey::Fetch, 1).is_empty());
        let c = o.injected(ApiKey::Produce);
        assert_eq!((c.drops_after, c.errors), (3, 2));
        o.remove(every3);
        assert_eq!(o.fired(every3), 3, "count survives removal");
        o.clear();
        assert!(o.on_request(ApiKey::Produce, 1).is_empty());
    }

    #[test]
    fn error_codes_are_counted_per_api_and_broker() {
        let mut o = Observations::default();
        o.count_error_codes(ApiKey::Produce, 0, &[45, 6, 45]);
        o.count_error_codes(ApiKey::Produce, 1, &[6]);
        o.count_error_codes(ApiKey::Metadata, 1, &[5]);
        let all = o.error_counts(ApiKey::Produce, None);
        assert_eq!(all, BTreeMap::from([(6, 2), (45, 2)]));
        assert_eq!(
            o.error_counts(ApiKey::Produce, Some(1)),
            BTreeMap::from([(6, 1)])
        );
        assert!(o.error_counts(ApiKey::Fetch, None).is_empty());
    }

    #[test]
    fn early_arrivals_are_counted() {
        let mut o = Observations::default();
        let now = Instant::now();
        let a = |at, until| Arrival {
            broker: 0,
            connection: 1,
            at,
            api_key: 0,
            api_version: 9,
            correlation_id: 1,
            client_id: None,
            throttled_until: until,
        };
        o.log_arrival(a(now, None));
        o.log_arrival(a(now, Some(now + Duration::from_secs(1))));
        o.log_arrival(a(
            now + Duration::from_secs(2),
            Some(now + Duration::from_secs(1)),
        ));
        assert_eq!(o.early_requests, 1);
        assert_eq!(o.arrivals().len(), 3);
    }
}
