//! Which partition leaders have stalled, for `partitioner.availability.timeout.ms` (KIP-794).
//!
//! As in Java's `RecordAccumulator`: on each drain, every leader that has a ready batch is
//! noted as *ready*, and as *drained* too when it could take a request. A leader ready for
//! longer than the timeout without being drained (its connection is down, its requests hang,
//! it throttles) has stalled: the adaptive sticky partitioner leaves its partitions out until
//! it drains again. Zero (the default) turns the check off.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// When each leader last had a ready batch, and when it last took one.
#[derive(Debug, Clone, Copy)]
struct NodeLatency {
    ready: Instant,
    drained: Instant,
}

/// Per-leader ready and drain times.
#[derive(Debug)]
pub(crate) struct NodeLatencies {
    timeout: Duration,
    nodes: Mutex<HashMap<i32, NodeLatency>>,
}

impl NodeLatencies {
    pub(crate) fn new(timeout: Duration) -> Self {
        NodeLatencies {
            timeout,
            nodes: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the check is on (a non-zero timeout).
    pub(crate) fn enabled(&self) -> bool {
        !self.timeout.is_zero()
    }

    /// Notes the leaders a drain at `now` found ready batches for, each with whether it
    /// could take a request.
    pub(crate) fn record(&self, now: Instant, seen: &HashMap<i32, bool>) {
        if seen.is_empty() {
            return;
        }
        let mut nodes = self.lock();
        for (&node, &drained) in seen {
            let stats = nodes.entry(node).or_insert(NodeLatency {
                ready: now,
                drained: now,
            });
            stats.ready = now;
            if drained {
                stats.drained = now;
            }
        }
    }

    /// Leaders that have had ready batches for longer than the timeout without taking any.
    pub(crate) fn stalled(&self) -> HashSet<i32> {
        if !self.enabled() {
            return HashSet::new();
        }
        self.lock()
            .iter()
            .filter(|(_, s)| s.ready.saturating_duration_since(s.drained) > self.timeout)
            .map(|(&node, _)| node)
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, NodeLatency>> {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_leader_ready_but_not_drained_past_the_timeout_has_stalled() {
        let l = NodeLatencies::new(Duration::from_millis(100));
        let t0 = Instant::now();
        l.record(t0, &HashMap::from([(1, true), (2, false)]));
        assert!(l.stalled().is_empty(), "nothing waited yet");
        l.record(
            t0 + Duration::from_millis(150),
            &HashMap::from([(1, true), (2, false)]),
        );
        assert_eq!(l.stalled(), HashSet::from([2]));
        // Draining again makes it available at once.
        l.record(t0 + Duration::from_millis(160), &HashMap::from([(2, true)]));
        assert!(l.stalled().is_empty());
        // Off: nothing ever stalls.
        let off = NodeLatencies::new(Duration::ZERO);
        off.record(t0, &HashMap::from([(3, false)]));
        off.record(t0 + Duration::from_secs(60), &HashMap::from([(3, false)]));
        assert!(!off.enabled() && off.stalled().is_empty());
    }
}
