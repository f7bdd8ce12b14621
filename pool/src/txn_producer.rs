//! The pool over klamm-txn's [`TransactionalProducer`]: [`TxnProducerFactory`], which builds
//! every pooled record producer on one shared klamm-net [`Cluster`] (each on its own
//! connections), and [`FnFactory`], a factory made of a closure (build the producer for an id
//! and initialise it).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use klamm_net::Cluster;
use klamm_producer::Producer;
use klamm_txn::producer::{ProducerBackend, TransactionalProducerBuilder};
use klamm_txn::{ClusterTransport, CoordinatorTransport, TransactionalProducer, TxnError};
use tracing::warn;

use crate::driver::health_of;
use crate::lanes::LaneAssigner;
use crate::producer::{Health, PoolProducer, ProducerFactory};

impl<B: ProducerBackend, T: CoordinatorTransport + 'static> PoolProducer
    for TransactionalProducer<B, T>
{
    type Error = TxnError;

    async fn begin(&self) -> Result<(), TxnError> {
        self.begin_transaction()
    }

    async fn commit(&self) -> Result<(), TxnError> {
        self.commit_transaction().await
    }

    async fn abort(&self) -> Result<(), TxnError> {
        self.abort_transaction().await
    }

    fn health(&self) -> Health {
        health_of(self.state())
    }

    async fn close(&self, timeout: Duration) {
        if let Err(e) = TransactionalProducer::close(self, timeout).await {
            warn!(error = %e, "closing a pooled transactional producer failed");
        }
    }
}

/// A [`ProducerFactory`] made of a closure that builds and initialises the producer for a
/// transactional id: `FnFactory(|id: String| async move { ...; p.init_transactions().await?; Ok(p) })`.
#[derive(Debug, Clone)]
pub struct FnFactory<F>(pub F);

impl<F, Fut, P> ProducerFactory for FnFactory<F>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<P, P::Error>> + Send,
    P: PoolProducer,
{
    type Producer = P;

    fn create(&self, transactional_id: &str) -> impl Future<Output = Result<P, P::Error>> + Send {
        (self.0)(transactional_id.to_owned())
    }
}

/// klamm-txn's transactional record producer on klamm-producer, as [`TxnProducerFactory`]
/// makes it.
pub type KafkaTxnProducer = TransactionalProducer<Producer, ClusterTransport>;

/// The settings every producer of a [`TxnProducerFactory`] is built with.
type Settings =
    dyn Fn(TransactionalProducerBuilder) -> TransactionalProducerBuilder + Send + Sync + 'static;

/// Creates klamm-txn record producers ([`KafkaTxnProducer`]) that all run on **one** shared
/// klamm-net [`Cluster`]: one metadata cache and one coordinator cache for the whole pool,
/// however many producers it holds. Each producer has its own connection to each broker (a
/// connection lane, [`Cluster::lane`]: Kafka handles one request per connection at a time, so
/// producers sharing a connection would wait for each other's `acks=all` writes), its own
/// transaction manager (producer id, epoch, state), accumulator, sequence numbers and sender
/// task (see the crate's design note).
///
/// [`share_connections(true)`](Self::share_connections) puts every producer on one
/// connection per broker instead; give those connections room then: klamm-net's
/// `max_in_flight` (default 5) is a limit per connection, while each producer's sender keeps
/// its own limit (klamm-producer's `max_in_flight`, 5 by default) per broker, so set the
/// connection's to the pool size times that.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use klamm_pool::{TransactionalPool, TxnProducerFactory};
///
/// let factory = TxnProducerFactory::connect(|b| {
///     b.bootstrap("localhost:9092")
///         .producer(|p| p.linger(Duration::from_millis(1)))
/// })
/// .await?;
/// let cluster = factory.cluster().clone();
/// let pool = TransactionalPool::builder()
///     .factory(factory)
///     .id_prefix("orders")
///     .size(8)
///     .build()
///     .await?;
/// // ... pool.transaction(...) ...
/// pool.close(Duration::from_secs(5)).await;
/// cluster.close();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TxnProducerFactory {
    cluster: Cluster,
    settings: Arc<Settings>,
    lanes: LaneAssigner,
}

impl std::fmt::Debug for TxnProducerFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxnProducerFactory")
            .field("cluster", &self.cluster)
            .field("shared_connections", &self.lanes.is_shared())
            .finish_non_exhaustive()
    }
}

impl TxnProducerFactory {
    /// Connects the shared cluster with the bootstrap servers and connection settings that
    /// `settings` puts on a [`TransactionalProducer::builder`]; every producer is later built
    /// from `settings(TransactionalProducer::builder())` with its own transactional id.
    pub async fn connect(
        settings: impl Fn(TransactionalProducerBuilder) -> TransactionalProducerBuilder
        + Send
        + Sync
        + 'static,
    ) -> Result<Self, TxnError> {
        let cluster = settings(TransactionalProducer::builder())
            .connect_cluster()
            .await?;
        Ok(TxnProducerFactory {
            cluster,
            settings: Arc::new(settings),
            lanes: LaneAssigner::default(),
        })
    }

    /// A factory over a cluster that is already connected (`settings` must still name the
    /// bootstrap servers: they are part of each producer's validated settings).
    pub fn on_cluster(
        cluster: Cluster,
        settings: impl Fn(TransactionalProducerBuilder) -> TransactionalProducerBuilder
        + Send
        + Sync
        + 'static,
    ) -> Self {
        TxnProducerFactory {
            cluster,
            settings: Arc::new(settings),
            lanes: LaneAssigner::default(),
        }
    }

    /// Whether every producer shares one connection per broker (`true`: the fewest
    /// connections, and each producer's requests wait behind the others' on the broker) or
    /// each has its own (`false`, the default: at most `size x brokers` connections).
    pub fn share_connections(mut self, shared: bool) -> Self {
        self.lanes.share(shared);
        self
    }

    /// The shared cluster (lane 0; the producers' lanes are views of it). Closing a pooled
    /// producer leaves it open; close it after the pool.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }
}

impl ProducerFactory for TxnProducerFactory {
    type Producer = KafkaTxnProducer;

    async fn create(&self, transactional_id: &str) -> Result<KafkaTxnProducer, TxnError> {
        let producer = (self.settings)(TransactionalProducer::builder())
            .transactional_id(transactional_id)
            .build_on(self.lanes.cluster_for(&self.cluster, transactional_id))?;
        if let Err(e) = producer.init_transactions().await {
            // Stop its sender task; the shared cluster stays open.
            let _ = producer.close(Duration::ZERO).await;
            return Err(e);
        }
        Ok(producer)
    }
}
