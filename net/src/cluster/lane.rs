//! Connection lanes: independent sets of broker connections over one cluster's metadata.
//!
//! Kafka handles one request per connection at a time: the broker mutes a connection when a
//! request arrives and unmutes it only once the response is sent (`SocketServer` mute and
//! unmute). A request that waits on the broker (a Produce with `acks=all` waiting for its
//! replicas, an EndTxn writing to the transaction log) therefore holds back every later
//! request on that connection, whoever sent it. Clients that must not wait for each other,
//! such as the transactional producers of a pool, each use their own lane: its own connection
//! to each broker (with its own throttle deadline, as Kafka throttles per connection), while
//! metadata, the coordinator cache and configuration stay shared.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use super::pool::BrokerEntry;

/// One set of broker connections (lane 0 is the cluster's own; metadata refreshes use it).
pub(crate) struct Lane {
    pub(crate) index: usize,
    brokers: Mutex<HashMap<i32, Arc<BrokerEntry>>>,
}

impl Lane {
    pub(crate) fn new(index: usize) -> Arc<Self> {
        Arc::new(Lane {
            index,
            brokers: Mutex::new(HashMap::new()),
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
        let e = brokers
            .entry(node_id)
            .or_insert_with(|| BrokerEntry::new(node_id, addr.to_owned()));
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
pub(crate) struct Lanes(Mutex<BTreeMap<usize, Arc<Lane>>>);

impl Lanes {
    pub(crate) fn new() -> Self {
        Lanes(Mutex::new(BTreeMap::from([(0, Lane::new(0))])))
    }

    fn locked(&self) -> MutexGuard<'_, BTreeMap<usize, Arc<Lane>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lane `index`, created if needed.
    pub(crate) fn get(&self, index: usize) -> Arc<Lane> {
        self.locked()
            .entry(index)
            .or_insert_with(|| Lane::new(index))
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
