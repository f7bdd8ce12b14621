//! Set-up shared by the transaction unit tests of the state (`txn_tests`, `txn_v2_tests`).

use std::time::{Duration, Instant};

use super::{ClusterState, StateConfig};

/// One broker with topic `t` of 2 partitions, finalizing `transaction_version`, writing
/// markers after `marker_delay`.
pub(crate) fn cluster(transaction_version: i16, marker_delay: Duration) -> ClusterState {
    let mut s = ClusterState::new(
        1,
        StateConfig {
            marker_delay,
            transaction_version,
            ..StateConfig::default()
        },
    );
    s.create_topic("t", 2).unwrap();
    s
}

/// A cluster as [`cluster`] makes it, the time, and transactional id `x`'s producer id and
/// first epoch.
pub(crate) fn with_producer(
    transaction_version: i16,
    marker_delay: Duration,
) -> (ClusterState, Instant, i64, i16) {
    let now = Instant::now();
    let mut s = cluster(transaction_version, marker_delay);
    let (pid, epoch) = s.init_producer_id(Some("x"), 60_000, None, now, 0).unwrap();
    (s, now, pid, epoch)
}
