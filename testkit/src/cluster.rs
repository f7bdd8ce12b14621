//! The cluster handle: start-up, brokers, and the control API tests use.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use klamm_protocol::ApiKey;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::control::{Arrival, Fault, FaultId, InjectedCounts, Observations, ThrottleEvent};
use crate::error::TestkitError;
use crate::sasl::SaslConfig;
use crate::state::{ClusterState, StateConfig};

/// Default largest request frame (Kafka's `socket.request.max.bytes`).
pub const DEFAULT_MAX_FRAME: usize = 100 * 1024 * 1024;

/// The kind of coordinator key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordinatorKind {
    /// A consumer group (key type 0).
    Group,
    /// A transactional id (key type 1).
    Transaction,
}

impl CoordinatorKind {
    pub(crate) fn key_type(self) -> i8 {
        match self {
            CoordinatorKind::Group => 0,
            CoordinatorKind::Transaction => 1,
        }
    }
}

pub(crate) struct BrokerSlot {
    pub node: i32,
    pub addr: SocketAddr,
    task: Option<JoinHandle<()>>,
}

/// Shared by the handle, the listeners and the connections.
pub(crate) struct Inner {
    state: Mutex<ClusterState>,
    observations: Mutex<Observations>,
    brokers: Mutex<Vec<BrokerSlot>>,
    /// Woken whenever records or markers are appended (Fetch long polling).
    pub appended: Notify,
    /// Largest request frame accepted.
    pub max_frame: usize,
    /// SASL users, when authentication is required.
    pub sasl: Option<SaslConfig>,
    /// TLS acceptor, when TLS is on.
    pub tls: Option<crate::tls::Tls>,
    next_conn: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the model half-updated in a way that
    // matters more than stopping every test: keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    /// The cluster state (never held across an await).
    pub fn state(&self) -> MutexGuard<'_, ClusterState> {
        lock(&self.state)
    }

    /// Faults and logs (never held across an await).
    pub fn observations(&self) -> MutexGuard<'_, Observations> {
        lock(&self.observations)
    }

    /// A fresh connection number.
    pub fn next_connection(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Address of a broker.
    pub fn broker_addr(&self, node: i32) -> Option<SocketAddr> {
        lock(&self.brokers)
            .iter()
            .find(|b| b.node == node)
            .map(|b| b.addr)
    }

    /// Node ids and addresses of every broker.
    pub fn broker_addrs(&self) -> Vec<(i32, SocketAddr)> {
        lock(&self.brokers)
            .iter()
            .map(|b| (b.node, b.addr))
            .collect()
    }

    /// Whether a broker is running.
    pub fn broker_up(&self, node: i32) -> bool {
        lock(&self.brokers)
            .iter()
            .any(|b| b.node == node && b.task.is_some())
    }
}

/// Builds a [`Cluster`].
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    brokers: i32,
    topics: Vec<(String, i32)>,
    state: StateConfig,
    produce_quota: Option<f64>,
    max_frame: usize,
    sasl: Option<SaslConfig>,
    tls: bool,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        ClusterBuilder {
            brokers: 1,
            topics: Vec::new(),
            state: StateConfig::default(),
            produce_quota: None,
            max_frame: DEFAULT_MAX_FRAME,
            sasl: None,
            tls: false,
        }
    }
}

impl ClusterBuilder {
    /// Number of brokers (node ids 0..n); default 1.
    pub fn brokers(mut self, n: i32) -> Self {
        self.brokers = n;
        self
    }

    /// A topic created at start-up.
    pub fn topic(mut self, name: &str, partitions: i32) -> Self {
        self.topics.push((name.to_string(), partitions));
        self
    }

    /// Whether Metadata requests create unknown topics (default true, as Kafka).
    pub fn auto_create_topics(mut self, on: bool) -> Self {
        self.state.auto_create_topics = on;
        self
    }

    /// Partitions of auto-created topics (default 1, Kafka's `num.partitions`).
    pub fn default_partitions(mut self, n: i32) -> Self {
        self.state.default_partitions = n;
        self
    }

    /// How long EndTxn stays in PrepareCommit/PrepareAbort (answering
    /// CONCURRENT_TRANSACTIONS) before the markers are written; default zero.
    pub fn marker_delay(mut self, d: Duration) -> Self {
        self.state.marker_delay = d;
        self
    }

    /// The finalized `transaction.version` feature (KIP-890): 2 (the default, as a fresh
    /// Kafka 4.x cluster) lets transactional producers use Produce v12 with implicit partition
    /// adds and EndTxn v5; 0 or 1 keeps them on AddPartitionsToTxn (a transactional Produce v12
    /// is then refused with UNSUPPORTED_VERSION). EndTxn v5 bumps the epoch at any level, as
    /// Kafka decides it by the request version.
    pub fn transaction_version(mut self, level: i16) -> Self {
        self.state.transaction_version = level;
        self
    }

    /// Largest record batch a Produce may carry (Kafka's `max.message.bytes`); larger ones are
    /// refused with MESSAGE_TOO_LARGE. No limit by default.
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.state.max_message_bytes = Some(bytes);
        self
    }

    /// A produce byte-rate quota for every client id, enforced by each broker on its own
    /// traffic (see [`Cluster::set_broker_produce_quota`] for one broker only).
    pub fn produce_quota(mut self, bytes_per_sec: f64) -> Self {
        self.produce_quota = Some(bytes_per_sec);
        self
    }

    /// Largest request frame accepted (default 100 MiB).
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = bytes;
        self
    }

    /// Requires SASL authentication with these users and mechanisms.
    pub fn sasl(mut self, config: SaslConfig) -> Self {
        self.sasl = Some(config);
        self
    }

    /// Serves TLS with a self-signed certificate for `localhost` and `127.0.0.1`, generated at
    /// start-up; [`Cluster::ca_certificate_pem`] gives it to clients to trust.
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// Binds every broker on an ephemeral 127.0.0.1 port and starts serving.
    pub async fn start(self) -> Result<Cluster, TestkitError> {
        if self.brokers < 1 || self.brokers > 64 {
            return Err(TestkitError::Config(format!(
                "brokers must be 1..=64, not {}",
                self.brokers
            )));
        }
        let mut state = ClusterState::new(self.brokers, self.state);
        for (name, partitions) in &self.topics {
            state
                .create_topic(name, *partitions)
                .map_err(|code| TestkitError::CreateTopic {
                    topic: name.clone(),
                    code,
                })?;
        }
        state.quotas.set_produce_quota(None, self.produce_quota);
        let tls = if self.tls {
            Some(crate::tls::Tls::generate()?)
        } else {
            None
        };
        let mut listeners = Vec::new();
        let mut slots = Vec::new();
        for node in 0..self.brokers {
            let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
            let l = TcpListener::bind(addr)
                .await
                .map_err(|source| TestkitError::Bind { addr, source })?;
            let addr = l
                .local_addr()
                .map_err(|source| TestkitError::Bind { addr, source })?;
            slots.push(BrokerSlot {
                node,
                addr,
                task: None,
            });
            listeners.push((node, l));
        }
        let inner = Arc::new(Inner {
            state: Mutex::new(state),
            observations: Mutex::new(Observations::default()),
            brokers: Mutex::new(slots),
            appended: Notify::new(),
            max_frame: self.max_frame,
            sasl: self.sasl,
            tls,
            next_conn: AtomicU64::new(1),
        });
        for (node, l) in listeners {
            let task = tokio::spawn(crate::server::listen(inner.clone(), node, l));
            set_task(&inner, node, Some(task));
        }
        let ticker = tokio::spawn(tick(Arc::downgrade(&inner)));
        tracing::info!(bootstrap = %bootstrap_of(&inner), "testkit cluster started");
        Ok(Cluster { inner, ticker })
    }
}

fn set_task(inner: &Inner, node: i32, task: Option<JoinHandle<()>>) {
    if let Some(slot) = lock(&inner.brokers).iter_mut().find(|b| b.node == node)
        && let Some(old) = std::mem::replace(&mut slot.task, task)
    {
        old.abort();
    }
}

fn bootstrap_of(inner: &Inner) -> String {
    inner
        .broker_addrs()
        .iter()
        .map(|(_, a)| a.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Completes due transactions and aborts timed-out ones, every 20 ms, while the cluster lives.
async fn tick(inner: std::sync::Weak<Inner>) {
    let mut every = tokio::time::interval(Duration::from_millis(20));
    loop {
        every.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        inner
            .state()
            .complete_due(crate::apis::now(), crate::apis::now_ms());
        inner.appended.notify_waiters();
    }
}

/// An in-memory Kafka cluster serving real TCP on 127.0.0.1. Dropping it stops every broker.
pub struct Cluster {
    inner: Arc<Inner>,
    ticker: JoinHandle<()>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("bootstrap", &self.bootstrap())
            .finish()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.ticker.abort();
        for slot in lock(&self.inner.brokers).iter_mut() {
            if let Some(t) = slot.task.take() {
                t.abort();
            }
        }
    }
}

impl Cluster {
    /// A builder with one broker, no topics and Kafka's defaults.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    /// `host:port` of every broker, comma-separated, for a client's bootstrap setting.
    pub fn bootstrap(&self) -> String {
        bootstrap_of(&self.inner)
    }

    /// Node ids and addresses of the brokers.
    pub fn brokers(&self) -> Vec<(i32, SocketAddr)> {
        self.inner.broker_addrs()
    }

    /// Creates a topic.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), TestkitError> {
        self.inner
            .state()
            .create_topic(name, partitions)
            .map_err(|code| TestkitError::CreateTopic {
                topic: name.to_string(),
                code,
            })
    }

    /// The leader of a partition.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        self.inner
            .state()
            .partition(topic, partition)
            .map(|p| p.leader)
    }

    /// Moves a partition's leadership (bumping its leader epoch); the old leader answers
    /// NOT_LEADER_OR_FOLLOWER from now on.
    pub fn move_leader(&self, topic: &str, partition: i32, node: i32) -> Result<(), TestkitError> {
        if self.inner.state().move_leader(topic, partition, node) {
            Ok(())
        } else if self.inner.broker_addr(node).is_none() {
            Err(TestkitError::UnknownBroker(node))
        } else {
            Err(TestkitError::UnknownPartition {
                topic: topic.to_string(),
                partition,
            })
        }
    }

    /// The coordinator of a group or transactional id.
    pub fn coordinator(&self, kind: CoordinatorKind, key: &str) -> i32 {
        self.inner.state().coordinator(kind.key_type(), key)
    }

    /// Moves the coordinator of a key; the old one answers NOT_COORDINATOR from now on.
    pub fn move_coordinator(
        &self,
        kind: CoordinatorKind,
        key: &str,
        node: i32,
    ) -> Result<(), TestkitError> {
        if self.inner.broker_addr(node).is_none() {
            return Err(TestkitError::UnknownBroker(node));
        }
        self.inner
            .state()
            .move_coordinator(kind.key_type(), key, node);
        Ok(())
    }

    /// Stops a broker: its listener closes and every connection to it is dropped. Its
    /// partitions keep their leader (as just after a crash), so clients see connection errors
    /// until it is restarted or leaders are moved.
    pub fn stop_broker(&self, node: i32) -> Result<(), TestkitError> {
        if self.inner.broker_addr(node).is_none() {
            return Err(TestkitError::UnknownBroker(node));
        }
        set_task(&self.inner, node, None);
        tracing::info!(node, "broker stopped");
        Ok(())
    }

    /// Restarts a stopped broker on the same port. Its state was never lost.
    pub async fn restart_broker(&self, node: i32) -> Result<(), TestkitError> {
        let addr = self
            .inner
            .broker_addr(node)
            .ok_or(TestkitError::UnknownBroker(node))?;
        set_task(&self.inner, node, None);
        // The old listener's socket closes once its task is gone; retry briefly.
        let mut tries = 0;
        let l = loop {
            match TcpListener::bind(addr).await {
                Ok(l) => break l,
                Err(source) if tries >= 50 => return Err(TestkitError::Bind { addr, source }),
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        let task = tokio::spawn(crate::server::listen(self.inner.clone(), node, l));
        set_task(&self.inner, node, Some(task));
        tracing::info!(node, %addr, "broker restarted");
        Ok(())
    }

    /// Changes the finalized `transaction.version` (bumping the features epoch). Clients
    /// learn it from the ApiVersions answer of their next connection, as with Kafka.
    pub fn set_transaction_version(&self, level: i16) {
        let mut state = self.inner.state();
        state.config.transaction_version = level;
        state.config.features_epoch += 1;
    }

    /// Changes the largest record batch a Produce may carry (Kafka's `max.message.bytes`;
    /// `None`: no limit).
    pub fn set_max_message_bytes(&self, bytes: Option<usize>) {
        self.inner.state().config.max_message_bytes = bytes;
    }

    /// The finalized `transaction.version` and the features epoch.
    pub fn transaction_version(&self) -> (i16, i64) {
        let state = self.inner.state();
        (
            state.config.transaction_version,
            state.config.features_epoch,
        )
    }

    /// How many requests of `api` arrived (from the arrival log), e.g. to prove that a
    /// transaction-version-2 producer sends no AddPartitionsToTxn.
    pub fn arrivals_of(&self, api: ApiKey) -> usize {
        self.arrivals()
            .iter()
            .filter(|a| a.api_key == api.as_i16())
            .count()
    }

    /// Whether a broker is running.
    pub fn broker_running(&self, node: i32) -> bool {
        self.inner.broker_up(node)
    }

    /// Adds a fault rule.
    pub fn inject(&self, fault: Fault) -> FaultId {
        self.inner.observations().inject(fault)
    }

    /// Removes a fault rule (its count stays readable).
    pub fn remove_fault(&self, id: FaultId) {
        self.inner.observations().remove(id);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.inner.observations().clear();
    }

    /// How often a fault fired.
    pub fn fault_fired(&self, id: FaultId) -> u64 {
        self.inner.observations().fired(id)
    }

    /// Counts of faults injected into an API's requests.
    pub fn injected(&self, api: ApiKey) -> InjectedCounts {
        self.inner.observations().injected(api)
    }

    /// Measures client rates over `samples` windows of `window` each, as Kafka's
    /// `quota.window.num` and `quota.window.size.seconds` (defaults 11 and 1 s) do; a
    /// throttle is at most about that long. Rates measured so far are forgotten.
    ///
    /// ```
    /// # async fn f() -> Result<(), klamm_testkit::TestkitError> {
    /// let kit = klamm_testkit::Cluster::builder().start().await?;
    /// kit.set_quota_window(2, std::time::Duration::from_secs(1));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_quota_window(&self, samples: usize, window: std::time::Duration) {
        let ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        self.inner.state().quotas.set_window(samples, ms);
    }

    /// Sets the produce byte-rate quota of a client id (`Some`) or the default of every
    /// client (`None`) on every broker; `None` as rate removes it. As in Kafka, each broker
    /// enforces it on the traffic it receives: a client's rate is measured per broker.
    pub fn set_produce_quota(&self, client_id: Option<&str>, bytes_per_sec: Option<f64>) {
        self.inner
            .state()
            .quotas
            .set_produce_quota(client_id, bytes_per_sec);
    }

    /// Sets a produce byte-rate quota on broker `node` only, for a client id (`Some`) or every
    /// client (`None`), overriding the cluster-wide setting of the same kind there; `None` as
    /// rate removes the override. Other brokers keep their settings.
    ///
    /// ```
    /// # async fn f() -> Result<(), klamm_testkit::TestkitError> {
    /// let cluster = klamm_testkit::Cluster::builder().brokers(3).start().await?;
    /// // broker 1 throttles "orders-pool" above 20 KB/s; brokers 0 and 2 never do
    /// cluster.set_broker_produce_quota(1, Some("orders-pool"), Some(20_000.0))?;
    /// # Ok(()) }
    /// ```
    pub fn set_broker_produce_quota(
        &self,
        node: i32,
        client_id: Option<&str>,
        bytes_per_sec: Option<f64>,
    ) -> Result<(), TestkitError> {
        if self.inner.broker_addr(node).is_none() {
            return Err(TestkitError::UnknownBroker(node));
        }
        self.inner
            .state()
            .quotas
            .set_broker_produce_quota(node, client_id, bytes_per_sec);
        Ok(())
    }

    /// How often the brokers sent each error code in responses of `api`, summed over every
    /// broker: code to count. Code 0 (no error) is not counted; a response counts each field
    /// its version encodes (a Produce refusing three partitions counts three). Injected errors
    /// ([`FaultAction::Error`](crate::FaultAction::Error)) count as sent. Responses never sent
    /// (acks=0, dropped connections) do not.
    ///
    /// ```
    /// # async fn f(cluster: klamm_testkit::Cluster) {
    /// use klamm_protocol::ApiKey;
    /// use klamm_testkit::codes::OUT_OF_ORDER_SEQUENCE_NUMBER;
    /// let produce_errors = cluster.error_counts(ApiKey::Produce);
    /// assert_eq!(produce_errors.get(&OUT_OF_ORDER_SEQUENCE_NUMBER), None);
    /// # }
    /// ```
    pub fn error_counts(&self, api: ApiKey) -> BTreeMap<i16, u64> {
        self.inner.observations().error_counts(api, None)
    }

    /// [`error_counts`](Self::error_counts) of one broker.
    pub fn error_counts_on(&self, api: ApiKey, node: i32) -> BTreeMap<i16, u64> {
        self.inner.observations().error_counts(api, Some(node))
    }

    /// How often the brokers sent `code` in responses of `api` (see
    /// [`error_counts`](Self::error_counts)).
    pub fn error_count(&self, api: ApiKey, code: i16) -> u64 {
        self.error_counts(api).get(&code).copied().unwrap_or(0)
    }

    /// Produced batches the brokers recognised as retried duplicates of batches already
    /// written (same producer, epoch and sequence) and answered with the original offset, as
    /// Kafka does, instead of DUPLICATE_SEQUENCE_NUMBER. Zero means no Produce was resent
    /// after it had been applied.
    pub fn duplicate_batches(&self) -> u64 {
        self.inner.observations().duplicate_batches()
    }

    /// Responses a quota throttled, by broker node id (brokers that throttled nothing are
    /// absent). Counted even when the throttle log ([`throttles`](Self::throttles)) is full.
    pub fn quota_throttle_counts(&self) -> BTreeMap<i32, u64> {
        self.inner.observations().quota_throttles().clone()
    }

    /// Every request's arrival, in order.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.inner.observations().arrivals().to_vec()
    }

    /// Arrivals not logged because the log was full ([`crate::MAX_ARRIVALS`]).
    pub fn arrivals_dropped(&self) -> u64 {
        self.inner.observations().arrivals_dropped
    }

    /// Every throttled response.
    pub fn throttles(&self) -> Vec<ThrottleEvent> {
        self.inner.observations().throttles().to_vec()
    }

    /// Requests that arrived on a connection before its throttle deadline had passed.
    pub fn early_requests(&self) -> u64 {
        self.inner.observations().early_requests
    }

    /// Requests refused as malformed (bad frame, header, version or body).
    pub fn malformed_requests(&self) -> u64 {
        self.inner.observations().malformed_requests
    }

    /// Transactions the coordinator aborted because they timed out.
    pub fn timed_out_transactions(&self) -> u64 {
        self.inner.state().txns.timed_out
    }

    /// High watermark and last stable offset of a partition.
    pub fn offsets(&self, topic: &str, partition: i32) -> Option<(i64, i64)> {
        let s = self.inner.state();
        let p = s.partition(topic, partition)?;
        Some((p.log.high_watermark(), p.log.last_stable_offset()))
    }

    /// The stored batches of a partition (data and control), as Fetch serves them.
    pub fn batches(&self, topic: &str, partition: i32) -> Vec<Bytes> {
        let s = self.inner.state();
        s.partition(topic, partition)
            .map(|p| p.log.batches().iter().map(|b| b.bytes.clone()).collect())
            .unwrap_or_default()
    }

    /// The committed offset of a group's partition.
    pub fn committed_offset(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        self.inner
            .state()
            .groups
            .get(group, topic, partition)
            .map(|o| o.offset)
    }

    /// Runs `f` on the cluster state, for assertions the methods above do not cover. The
    /// brokers wait while `f` runs: keep it short.
    pub fn with_state<R>(&self, f: impl FnOnce(&ClusterState) -> R) -> R {
        f(&self.inner.state())
    }

    /// The PEM of the self-signed certificate the brokers serve, when TLS is on.
    pub fn ca_certificate_pem(&self) -> Option<String> {
        self.inner.tls.as_ref().map(|t| t.cert_pem.clone())
    }

    /// The same certificate in DER, for rustls clients.
    pub fn ca_certificate_der(&self) -> Option<Vec<u8>> {
        self.inner.tls.as_ref().map(|t| t.cert_der.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handle_can_be_shared_between_tasks() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<Cluster>();
        shareable::<ClusterBuilder>();
    }

    #[tokio::test]
    async fn bad_configurations_are_refused() {
        assert!(matches!(
            Cluster::builder().brokers(0).start().await,
            Err(TestkitError::Config(_))
        ));
        assert!(matches!(
            Cluster::builder().topic("bad name", 1).start().await,
            Err(TestkitError::CreateTopic { code: 17, .. })
        ));
        let c = Cluster::builder().brokers(2).start().await.unwrap();
        assert!(matches!(
            c.stop_broker(5),
            Err(TestkitError::UnknownBroker(5))
        ));
        assert!(matches!(
            c.move_coordinator(CoordinatorKind::Group, "g", 9),
            Err(TestkitError::UnknownBroker(9))
        ));
        assert!(matches!(
            c.move_leader("nope", 0, 1),
            Err(TestkitError::UnknownPartition { .. })
        ));
    }
}
