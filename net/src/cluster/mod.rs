//! The cluster handle: bootstrap, metadata cache, one connection per broker (per lane),
//! coordinators.

mod builder;
mod coordinator;
mod interest;
mod lane;
mod metadata;
mod pool;
mod service;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use crate::close_signal::CloseSignal;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use klamm_protocol::error_code::ErrorCode;
use klamm_protocol::messages::MetadataRequest;
use klamm_protocol::messages::metadata::request::MetadataRequestTopic;
use tokio::time::Instant;

pub use builder::{ClusterBuilder, bootstrap_servers};
pub use coordinator::CoordinatorType;
pub use metadata::{BrokerInfo, Metadata, PartitionMetadata, TopicMetadata};
pub use service::{BrokerFuture, BrokerService};

use self::interest::TopicInterest;
use self::lane::{Lane, Lanes};
use self::pool::BrokerEntry;
use crate::connection::BrokerConnection;
use crate::error::Error;

type Refresh = Shared<BoxFuture<'static, Result<Arc<Metadata>, Error>>>;

/// A handle to a Kafka cluster: the metadata cache and one pooled connection per broker.
///
/// Cheap to clone; clones share everything. [`lane`](Self::lane) gives a handle that shares
/// the metadata and coordinator caches but has connections of its own. Metadata is refreshed
/// on demand ([`refresh_metadata`](Self::refresh_metadata)), after errors that mean it is stale
/// ([`on_error`](Self::on_error)), when a broker connection is found broken, and every
/// `metadata.max.age.ms`.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
    /// This handle's connections.
    lane: Arc<Lane>,
}

struct Inner {
    cfg: ClusterBuilder,
    metadata: RwLock<Arc<Metadata>>,
    interest: Mutex<TopicInterest>,
    /// Connection sets; lane 0 is the cluster's own, used by metadata refreshes.
    lanes: Lanes,
    refreshing: Mutex<Option<Refresh>>,
    coordinators: Mutex<HashMap<(CoordinatorType, String), i32>>,
    closed: CloseSignal,
    refreshes: AtomicU64,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("bootstrap", &self.inner.cfg.bootstrap)
            .field("brokers", &self.metadata().brokers.len())
            .field("lane", &self.lane.index)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Error codes after which partition metadata is stale.
fn stale_metadata(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotLeaderOrFollower
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::UnknownLeaderEpoch
            | ErrorCode::KafkaStorageError
            | ErrorCode::NotEnoughReplicas
    )
}

impl Cluster {
    /// Starts building a cluster handle.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    pub(crate) async fn start(cfg: ClusterBuilder) -> Result<Cluster, Error> {
        let inner = Arc::new(Inner {
            interest: Mutex::new(TopicInterest::new(cfg.metadata_max_idle)),
            cfg,
            metadata: RwLock::new(Arc::new(Metadata::default())),
            lanes: Lanes::new(),
            refreshing: Mutex::new(None),
            coordinators: Mutex::new(HashMap::new()),
            closed: CloseSignal::default(),
            refreshes: AtomicU64::new(0),
        });
        let cluster = Cluster::on_lane(inner, 0);
        cluster.refresh_metadata().await?;
        tokio::spawn(periodic_refresh(Arc::downgrade(&cluster.inner)));
        tokio::spawn(close_idle_connections(Arc::downgrade(&cluster.inner)));
        Ok(cluster)
    }

    fn on_lane(inner: Arc<Inner>, index: usize) -> Cluster {
        let lane = inner.lanes.get(index);
        Cluster { inner, lane }
    }

    /// A handle on the same cluster (metadata, coordinator cache, configuration, `close`)
    /// whose requests go over connection lane `index`: its own connection to each broker,
    /// opened on first use. Handles of the same lane share its connections; the handle
    /// [`connect`](ClusterBuilder::connect) returns is lane 0, which metadata refreshes use.
    ///
    /// Kafka handles one request per connection at a time, so a request that waits on the
    /// broker (`acks=all`, a transaction log write) holds back everything behind it on its
    /// connection; clients that must not wait for each other, such as the producers of a
    /// pool, each take a lane.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), klamm_net::Error> {
    /// let cluster = klamm_net::Cluster::builder().bootstrap("localhost:9092").connect().await?;
    /// let second = cluster.lane(1);
    /// assert_eq!(second.lane_index(), 1);
    /// // the same metadata, another connection to the broker
    /// let a = cluster.any_broker().await?;
    /// let b = second.broker(a.node_id()).await?;
    /// # let _ = b; Ok(()) }
    /// ```
    pub fn lane(&self, index: usize) -> Cluster {
        Cluster::on_lane(self.inner.clone(), index)
    }

    /// Which connection lane this handle uses (see [`lane`](Self::lane)).
    pub fn lane_index(&self) -> usize {
        self.lane.index
    }

    /// The current metadata snapshot.
    pub fn metadata(&self) -> Arc<Metadata> {
        self.inner
            .metadata
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many metadata refreshes completed (for observability and tests).
    pub fn metadata_refreshes(&self) -> u64 {
        self.inner.refreshes.load(Ordering::Relaxed)
    }

    /// Fetches fresh metadata for every topic asked about so far. Concurrent callers share one
    /// request.
    pub async fn refresh_metadata(&self) -> Result<Arc<Metadata>, Error> {
        self.start_refresh().await
    }

    /// Starts a refresh in the background (or joins the running one) without waiting.
    pub fn request_refresh(&self) {
        drop(self.start_refresh());
    }

    fn start_refresh(&self) -> Refresh {
        let mut slot = lock(&self.inner.refreshing);
        if let Some(r) = &*slot {
            return r.clone();
        }
        let inner = self.inner.clone();
        let task = tokio::spawn(async move {
            let r = refresh(&inner).await;
            *lock(&inner.refreshing) = None;
            r
        });
        let fut = async move {
            task.await.unwrap_or_else(|e| {
                Err(Error::NoBroker(format!(
                    "metadata refresh task failed: {e}"
                )))
            })
        }
        .boxed()
        .shared();
        *slot = Some(fut.clone());
        fut
    }

    /// Reacts to an error code from a response: refreshes metadata in the background when the
    /// code means it is stale (NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, ...).
    /// Returns whether a refresh was started.
    pub fn on_error(&self, code: ErrorCode) -> bool {
        let stale = stale_metadata(code);
        if stale {
            tracing::debug!(%code, "metadata stale; refreshing");
            self.request_refresh();
        }
        stale
    }

    /// A topic's metadata, fetching it first if this handle has not asked for it yet.
    /// A topic the cluster does not have is an error with its code
    /// (UNKNOWN_TOPIC_OR_PARTITION, retriable: it may be being created).
    pub async fn topic(&self, name: &str) -> Result<Arc<TopicMetadata>, Error> {
        let added = lock(&self.inner.interest).use_topic(name, Instant::now());
        let mut meta = self.metadata();
        if added || meta.topic(name).is_none_or(|t| t.error.is_err()) {
            meta = self.refresh_metadata().await?;
            if meta.topic(name).is_none() {
                // The refresh we joined may have started before the topic was added.
                meta = self.refresh_metadata().await?;
            }
        }
        match meta.topic(name) {
            Some(t) if t.error.is_ok() => Ok(t.clone()),
            Some(t) => Err(Error::Kafka {
                context: "topic metadata",
                code: t.error,
                message: None,
            }),
            None => Err(Error::Kafka {
                context: "topic metadata",
                code: ErrorCode::UnknownTopicOrPartition,
                message: None,
            }),
        }
    }

    /// Marks `topics` as in use now, so that `metadata.max.idle.ms` does not forget them
    /// (a producer reports the topics it sends to). Topics this handle never asked about
    /// ([`topic`](Self::topic)) are ignored.
    pub fn touch_topics<'a>(&self, topics: impl IntoIterator<Item = &'a str>) {
        lock(&self.inner.interest).touch(topics, Instant::now());
    }

    /// The service of broker `node_id`, connecting (with backoff after failures) if needed.
    pub async fn broker(&self, node_id: i32) -> Result<BrokerService, Error> {
        if self.inner.closed.is_closed() {
            return Err(Error::Closed);
        }
        let entry = match self.entry(node_id) {
            Some(e) => e,
            None => {
                self.refresh_metadata().await?;
                self.entry(node_id).ok_or_else(|| {
                    Error::NoBroker(format!("broker {node_id} is not in metadata"))
                })?
            }
        };
        if entry.has_broken_connection() {
            // A broken connection often means the cluster changed: refresh metadata, and
            // look coordinators on that broker up again, as the Java client does.
            lock(&self.inner.coordinators).retain(|_, node| *node != node_id);
            self.request_refresh();
        }
        entry.service(&self.inner.cfg.connection).await
    }

    /// The service of broker `node_id` if a healthy connection to it is open now; `None`
    /// (never waiting, never connecting) otherwise. For callers that must not suspend, such
    /// as a task writing requests in a fixed order; [`broker`](Self::broker) connects.
    pub fn connected_broker(&self, node_id: i32) -> Option<BrokerService> {
        if self.inner.closed.is_closed() {
            return None;
        }
        let entry = self.lane.get(node_id)?;
        entry.connected_service(&self.inner.cfg.connection)
    }

    /// The service of the leader of `topic`/`partition`, refreshing metadata once if the
    /// leader is unknown.
    pub async fn leader(&self, topic: &str, partition: i32) -> Result<BrokerService, Error> {
        let mut leader = self.metadata().leader(topic, partition);
        if leader.is_none() {
            self.topic(topic).await?;
            leader = self.refresh_metadata().await?.leader(topic, partition);
        }
        match leader {
            Some(id) => self.broker(id).await,
            None => Err(Error::Kafka {
                context: "partition leader",
                code: ErrorCode::LeaderNotAvailable,
                message: Some(format!("{topic}-{partition} has no leader")),
            }),
        }
    }

    /// The coordinator for `key` (a transactional id or a group), cached until
    /// [`invalidate_coordinator`](Self::invalidate_coordinator).
    pub async fn coordinator(
        &self,
        kind: CoordinatorType,
        key: &str,
    ) -> Result<BrokerService, Error> {
        let cached = lock(&self.inner.coordinators)
            .get(&(kind, key.to_owned()))
            .copied();
        if let Some(id) = cached {
            return self.broker(id).await;
        }
        let found = self.find_coordinators(kind, &[key.to_owned()]).await?;
        let (_, r) = found
            .into_iter()
            .next()
            .ok_or_else(|| Error::NoBroker("empty FindCoordinator answer".into()))?;
        self.broker(r?).await
    }

    /// Looks up several coordinators in one request (FindCoordinator v4+; one request per key
    /// on older brokers) and caches the answers. Returns each key's broker id or error.
    pub async fn find_coordinators(
        &self,
        kind: CoordinatorType,
        keys: &[String],
    ) -> Result<Vec<(String, Result<i32, Error>)>, Error> {
        let svc = self.any_broker().await?;
        let found = coordinator::find(&svc, kind, keys).await?;
        let mut out = Vec::with_capacity(found.len());
        for (key, r) in found {
            let r = r.map(|b| {
                self.ensure_entry(b.node_id, &b.addr());
                lock(&self.inner.coordinators).insert((kind, key.clone()), b.node_id);
                b.node_id
            });
            out.push((key, r));
        }
        Ok(out)
    }

    /// Forgets the cached coordinator for `key` (after NOT_COORDINATOR or
    /// COORDINATOR_NOT_AVAILABLE; a broken connection to a coordinator forgets it by itself).
    pub fn invalidate_coordinator(&self, kind: CoordinatorType, key: &str) {
        lock(&self.inner.coordinators).remove(&(kind, key.to_owned()));
    }

    /// Some broker's service, preferring one that is connected and not throttled.
    pub async fn any_broker(&self) -> Result<BrokerService, Error> {
        let mut last = None;
        for id in candidates(&self.inner, &self.lane) {
            match self.broker(id).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(Error::NoBroker(match last {
            Some(e) => format!("no broker reachable; last error: {e}"),
            None => "metadata lists no broker".into(),
        }))
    }

    /// Throttle metrics of every broker this handle's lane has connected to, by broker id
    /// (Java's `produce-throttle-time-avg/max` are [`ThrottleMetrics::throttle_time_avg_ms`] and
    /// `throttle_time_max_ms`).
    ///
    /// [`ThrottleMetrics::throttle_time_avg_ms`]: crate::throttle::ThrottleMetrics::throttle_time_avg_ms
    pub fn throttle_metrics(&self) -> Vec<(i32, crate::throttle::ThrottleMetrics)> {
        let mut out: Vec<_> = self
            .lane
            .brokers()
            .iter()
            .map(|(&id, e)| (id, e.throttle().handle().metrics()))
            .collect();
        out.sort_by_key(|(id, _)| *id);
        out
    }

    /// Closes every connection of every lane and every throttle gate (waking throttled
    /// waiters at once with a "closed" error) and stops background refreshes.
    pub fn close(&self) {
        self.inner.closed.close();
        for e in self.inner.lanes.entries() {
            e.close();
        }
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.is_closed()
    }

    fn entry(&self, node_id: i32) -> Option<Arc<BrokerEntry>> {
        if let Some(e) = self.lane.get(node_id) {
            return Some(e);
        }
        let addr = self.metadata().brokers.get(&node_id)?.addr();
        Some(self.ensure_entry(node_id, &addr))
    }

    fn ensure_entry(&self, node_id: i32, addr: &str) -> Arc<BrokerEntry> {
        self.lane
            .ensure(node_id, addr, self.inner.closed.is_closed())
    }
}

/// Broker ids in the order to try them: connected (on `lane`) and unthrottled first.
fn candidates(inner: &Inner, lane: &Lane) -> Vec<i32> {
    let meta = inner
        .metadata
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let brokers = lane.brokers();
    let mut ids: Vec<(u8, i32)> = meta
        .brokers
        .keys()
        .map(|&id| {
            let rank = match brokers.get(&id) {
                Some(e) if e.is_connected() && e.throttle().handle().deadline().is_none() => 0,
                Some(e) if e.throttle().handle().deadline().is_none() => 1,
                None => 1,
                Some(_) => 2,
            };
            (rank, id)
        })
        .collect();
    ids.sort_unstable();
    ids.into_iter().map(|(_, id)| id).collect()
}

/// One metadata round trip: known brokers first, then the bootstrap list.
async fn refresh(inner: &Arc<Inner>) -> Result<Arc<Metadata>, Error> {
    if inner.closed.is_closed() {
        return Err(Error::Closed);
    }
    let (topics, forgotten) = {
        let mut interest = lock(&inner.interest);
        let forgotten = interest.forget_idle(Instant::now());
        let topics: Vec<MetadataRequestTopic> = interest
            .names()
            .map(|t| MetadataRequestTopic {
                name: Some(t.clone()),
                ..Default::default()
            })
            .collect();
        (topics, forgotten)
    };
    if !forgotten.is_empty() {
        tracing::debug!(topics = ?forgotten, "forgetting topics idle for metadata.max.idle.ms");
    }
    let req = MetadataRequest {
        topics: Some(topics),
        allow_auto_topic_creation: inner.cfg.allow_auto_topic_creation,
        ..Default::default()
    };
    let cfg = &inner.cfg.connection;
    let mut last_err = None;
    // Metadata goes over lane 0, the cluster's own connections.
    let base = inner.lanes.get(0);
    for id in candidates(inner, &base) {
        let Some(addr) = inner
            .metadata
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .brokers
            .get(&id)
            .map(BrokerInfo::addr)
        else {
            continue;
        };
        let entry = base.ensure(id, &addr, inner.closed.is_closed());
        let r = match entry.service(cfg).await {
            Ok(svc) => svc.send(req.clone()).await,
            Err(e) => Err(e),
        };
        match r {
            Ok(resp) => return Ok(install(inner, &resp.body, &forgotten)),
            Err(e) => {
                tracing::debug!(node = id, error = %e, "metadata request failed; trying another broker");
                last_err = Some(e);
            }
        }
    }
    // Only when no known broker answered: a throwaway connection to a bootstrap address,
    // outside the throttle layer. Kafka mutes the connection a throttled answer went out on
    // (KIP-219), not the client's new ones, so a fresh connection is not held back by the
    // broker, and its own answer's throttle is not lost: the broker id is not known yet, but
    // the next request to that broker on a pooled connection is answered with the client
    // id's throttle again while the quota is exceeded.
    for addr in &inner.cfg.bootstrap {
        let r = async {
            let conn = BrokerConnection::connect(addr, cfg).await?;
            let r = tokio::time::timeout(cfg.request_timeout, conn.send(req.clone()))
                .await
                .map_err(|_| Error::Timeout)
                .and_then(|r| r);
            conn.close();
            r
        }
        .await;
        match r {
            Ok(resp) => return Ok(install(inner, &resp.body, &forgotten)),
            Err(e) => {
                tracing::debug!(bootstrap = %addr, error = %e, "bootstrap metadata request failed");
                last_err = Some(e);
            }
        }
    }
    Err(match last_err {
        // Authentication or configuration problems are reported as they are: retrying
        // elsewhere will not help.
        Some(e) if !e.is_retriable() => e,
        Some(e) => Error::NoBroker(format!(
            "metadata refresh failed on every broker; last error: {e}"
        )),
        None => Error::NoBroker("no broker to ask for metadata".into()),
    })
}

fn install(
    inner: &Inner,
    resp: &klamm_protocol::messages::MetadataResponse,
    forgotten: &[String],
) -> Arc<Metadata> {
    let mut slot = inner.metadata.write().unwrap_or_else(|p| p.into_inner());
    let mut next = slot.merge(resp);
    if !forgotten.is_empty() {
        let interest = lock(&inner.interest);
        for name in forgotten {
            // Unless it was asked for again while the request was out.
            if !interest.contains(name) {
                next.topics.remove(name);
            }
        }
    }
    let next = Arc::new(next);
    *slot = next.clone();
    drop(slot);
    for lane in inner.lanes.all() {
        for b in next.brokers.values() {
            if let Some(e) = lane.get(b.node_id) {
                e.set_addr(&b.addr());
            }
        }
    }
    inner.refreshes.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(
        brokers = next.brokers.len(),
        topics = next.topics.len(),
        "metadata refreshed"
    );
    next
}

/// Closes pooled connections idle for `connections.max.idle.ms` (checked about ten times per
/// period, at least every 30 s) until the cluster is closed or dropped.
async fn close_idle_connections(weak: Weak<Inner>) {
    let Some(max_idle) = weak
        .upgrade()
        .map(|i| i.cfg.connection.connections_max_idle())
    else {
        return;
    };
    let every = (max_idle / 10).clamp(Duration::from_millis(10), Duration::from_secs(30));
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = weak.upgrade() else {
            return;
        };
        if inner.closed.is_closed() {
            return;
        }
        for entry in inner.lanes.entries() {
            entry.close_if_idle(max_idle);
        }
    }
}

/// Refreshes metadata every `metadata.max.age.ms` until the cluster is closed or dropped.
async fn periodic_refresh(weak: Weak<Inner>) {
    loop {
        let (closed, due) = {
            let Some(inner) = weak.upgrade() else { return };
            let meta = inner
                .metadata
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            (
                inner.closed.token().clone(),
                meta.fetched_at + inner.cfg.metadata_max_age,
            )
        };
        tokio::select! {
            _ = closed.cancelled() => return,
            _ = tokio::time::sleep_until(due) => {}
        }
        let Some(inner) = weak.upgrade() else { return };
        let fresh = inner
            .metadata
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .fetched_at
            + inner.cfg.metadata_max_age;
        if fresh <= Instant::now() {
            let cluster = Cluster::on_lane(inner, 0);
            if let Err(e) = cluster.refresh_metadata().await {
                tracing::info!(error = %e, "periodic metadata refresh failed");
                tokio::select! {
                    _ = closed.cancelled() => return,
                    _ = tokio::time::sleep(cluster.inner.cfg.connection.reconnect_backoff_max) => {}
                }
            }
        }
    }
}
