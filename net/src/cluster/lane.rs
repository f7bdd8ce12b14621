//! Connection lanes: independent sets of broker connections over one cluster's metadata.
//!
//! Kafka handles one request per connection at a time: the broker mutes a connection when a
//! request arrives and unmutes it only once the response is sent (`SocketServer` mute and
//! unmute). A request that waits on the broker (a Produce with `acks=all` waiting for its
//! replicas, an EndTxn writing to the transaction log) therefore holds back every later
//! request on that connection, whoever sent it. Clients that must not wait for each other,
//! such as the transactional producers of a pool, each use their own lane: its own connection
//! to each broker, while metadata, the coordinator cache, configuration and the throttle
//! deadline of each broker stay shared.
//!
//! Why the throttle deadline is shared (KIP-219, KIP-13): Kafka's quotas belong to the client
//! id (and user) on each broker, across all of that client's connections. The broker measures
//! the client id's rate over every connection and answers each over-quota request with a
//! throttle time, then mutes *that* connection. With a deadline per lane, the other lanes
//! kept sending while the client id was throttled, and drew throttles of their own. Measured
//! with integration scenario `quota_throttles_the_pool` (4 pooled producers, 160 transactions
//! under a 15 kB/s quota per broker, every connection through a timestamping proxy): on Apache
//! Kafka 4.1.1, with a deadline per lane 163 of 504 requests arrived on one lane while another
//! lane of the same client id to the same broker was throttled, and Kafka answered 162
//! throttles; with the shared deadline none did, and Kafka answered 81 (the testkit: 240 and
//! 145, against 0 and 136). The run took as long either way (the quota sets the pace). Lanes
//! share the client id (they share the cluster's configuration), so one deadline per broker
//! for all of them keeps the quota without extra throttles.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use super::pool::BrokerEntry;
use crate::throttle::ThrottleLayer;

/// The throttle deadline of each broker, shared by every lane (see the module documentation).
#[derive(Default)]
pub(crate) struct BrokerThrottles(Mutex<HashMap<i32, ThrottleLayer>>);

impl BrokerThrottles {
    /// Broker `node_id`'s throttle layer, created on first use.
    fn get(&self, node_id: i32, addr: &str) -> ThrottleLayer {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(node_id)
            .or_insert_with(|| ThrottleLayer::new(format!("broker {node_id} ({addr})")))
            .clone()
    }
}

/// One set of broker connections (lane 0 is the cluster's own; metadata refreshes use it).
pub(crate) struct Lane {
    pub(crate) index: usize,
    brokers: Mutex<HashMap<i32, Arc<BrokerEntry>>>,
    throttles: Arc<BrokerThrottles>,
}

impl Lane {
    fn new(index: usize, throttles: Arc<BrokerThrottles>) -> Arc<Self> {
        Arc::new(Lane {
            index,
            brokers: Mutex::new(HashMap::new()),
            throttles,
        })
    }

    pub(crate) fn brokers(&self) -> MutexGuard<'_, HashMap<i32, Arc<BrokerEntry>>> {
        self.brokers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entry of broker `node_id`, if this lane has one.
    pub(crate) fn get(&self, node_id: i32) -> Option<Arc<BrokerEntry>> {
        self.brokers().get(&node_id).cloned()
    }

    /// The entry of broker `node_id` at `addr`, created if needed (and closed at once when the
    /// cluster is closed, so nothing connects after `close`).
    pub(crate) fn ensure(&self, node_id: i32, addr: &str, closed: bool) -> Arc<BrokerEntry> {
        let mut brokers = self.brokers();
        let e = brokers.entry(node_id).or_insert_with(|| {
            BrokerEntry::new(node_id, addr.to_owned(), self.throttles.get(node_id, addr))
        });
        e.set_addr(addr);
        if closed {
            e.close();
        }
        e.clone()
    }

    /// Every entry, for work that must not hold the lane's lock (connecting, closing).
    pub(crate) fn entries(&self) -> Vec<Arc<BrokerEntry>> {
        self.brokers().values().cloned().collect()
    }
}

/// The lanes of one cluster, by index; created on first use, kept until the cluster goes
/// (there are as many as the indices asked for, such as a pool's size).
pub(crate) struct Lanes {
    lanes: Mutex<BTreeMap<usize, Arc<Lane>>>,
    throttles: Arc<BrokerThrottles>,
}

impl Lanes {
    pub(crate) fn new() -> Self {
        let throttles = Arc::new(BrokerThrottles::default());
        Lanes {
            lanes: Mutex::new(BTreeMap::from([(0, Lane::new(0, throttles.clone()))])),
            throttles,
        }
    }

    fn locked(&self) -> MutexGuard<'_, BTreeMap<usize, Arc<Lane>>> {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lane `index`, created if needed.
    pub(crate) fn get(&self, index: usize) -> Arc<Lane> {
        let throttles = &self.throttles;
        self.locked()
            .entry(index)
            .or_insert_with(|| Lane::new(index, throttles.clone()))
            .clone()
    }

    /// Every lane, by index.
    pub(crate) fn all(&self) -> Vec<Arc<Lane>> {
        self.locked().values().cloned().collect()
    }

    /// Every broker entry of every lane.
    pub(crate) fn entries(&self) -> Vec<Arc<BrokerEntry>> {
        self.all().iter().flat_map(|l| l.entries()).collect()
    }
}
