//! Which connections of the shared cluster each pooled producer uses.
//!
//! Kafka handles one request per connection at a time (the broker mutes a connection from a
//! request's arrival until its response is sent), so producers sharing a connection wait for
//! each other whenever the broker makes a request wait: a Produce with `acks=all` until its
//! replicas have it, an EndTxn until the transaction log has it. By default each transactional
//! id therefore gets its own klamm-net connection lane ([`Cluster::lane`]): its own connection
//! to each broker, still on the one metadata and coordinator cache. That is at most
//! `size x brokers` connections, as a pool of separately built producers would open, without
//! their separate metadata traffic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use klamm_net::Cluster;

/// Assigns each transactional id a lane of the shared cluster (or lane 0 to all, if shared).
#[derive(Debug, Clone, Default)]
pub(crate) struct LaneAssigner {
    shared: bool,
    /// Lane of each id seen so far: the same id (a replaced producer) keeps its lane, so a pool
    /// never uses more lanes than it has slots.
    by_id: Arc<Mutex<HashMap<String, usize>>>,
}

impl LaneAssigner {
    /// Every producer on lane 0 (one connection per broker for the whole pool) if `shared`.
    pub(crate) fn share(&mut self, shared: bool) {
        self.shared = shared;
    }

    pub(crate) fn is_shared(&self) -> bool {
        self.shared
    }

    /// The handle a producer with `transactional_id` talks through.
    pub(crate) fn cluster_for(&self, cluster: &Cluster, transactional_id: &str) -> Cluster {
        if self.shared {
            return cluster.clone();
        }
        let mut by_id = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        let next = by_id.len();
        let lane = *by_id.entry(transactional_id.to_owned()).or_insert(next);
        cluster.lane(lane)
    }
}
