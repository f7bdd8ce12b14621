//! klamm-producer's [`Producer`] as the backend of a [`TransactionalProducer`], and the
//! builder that wires both to one klamm-net cluster.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use klamm_net::{Cluster, ConnectionConfig};
use klamm_producer::sender::ClusterTransport as ProducerTransport;
use klamm_producer::{
    DeliveryFuture, Producer, ProducerConfigBuilder, ProducerError, ProducerRecord,
};

use super::{ProducerBackend, TransactionalProducer};
use crate::cluster::ClusterTransport;
use crate::error::TxnError;
use crate::manager::{TransactionManager, TxnConfig};

impl ProducerBackend for Producer {
    fn send(
        &self,
        record: ProducerRecord,
    ) -> impl Future<Output = Result<DeliveryFuture, ProducerError>> + Send {
        Producer::send(self, record)
    }

    fn flush(&self) -> impl Future<Output = ()> + Send {
        Producer::flush(self)
    }

    fn abort_unsent(&self, error: ProducerError) -> impl Future<Output = ()> + Send {
        Producer::abort_unsent(self, error)
    }

    fn close(&self, timeout: Duration) -> impl Future<Output = Result<(), ProducerError>> + Send {
        Producer::close(self, timeout)
    }
}

/// Builds a [`TransactionalProducer`] on klamm-producer: the transactional id, the
/// transaction settings and every producer setting (Java's names), then
/// [`build`](Self::build) connects.
#[derive(Debug)]
pub struct TransactionalProducerBuilder {
    bootstrap: Vec<String>,
    producer: ProducerConfigBuilder,
    connection: Option<ConnectionConfig>,
    txn: TxnConfig,
}

impl TransactionalProducer<Producer, ClusterTransport> {
    /// A builder for a transactional producer on klamm-producer.
    pub fn builder() -> TransactionalProducerBuilder {
        TransactionalProducerBuilder {
            bootstrap: Vec::new(),
            producer: klamm_producer::ProducerConfig::builder(),
            connection: None,
            txn: TxnConfig::new(""),
        }
    }
}

impl TransactionalProducerBuilder {
    /// `bootstrap.servers`: `host:port`, several separated by commas.
    pub fn bootstrap(mut self, servers: impl AsRef<str>) -> Self {
        self.bootstrap
            .extend(klamm_net::bootstrap_servers(servers.as_ref()));
        self
    }

    /// `transactional.id`: stable across restarts, so that a restarted instance fences
    /// its predecessor.
    pub fn transactional_id(mut self, id: impl Into<Arc<str>>) -> Self {
        self.txn.transactional_id = id.into();
        self
    }

    /// `transaction.timeout.ms`: how long the coordinator lets a transaction stay open.
    pub fn transaction_timeout(mut self, timeout: Duration) -> Self {
        self.txn.transaction_timeout = timeout;
        self
    }

    /// Upper bound of `init_transactions`, `commit_transaction`, `abort_transaction` and
    /// `send_offsets_to_transaction` (Java's `max.block.ms` for those calls).
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.txn.operation_timeout = timeout;
        self
    }

    /// Every other producer setting, on klamm-producer's config builder (`linger`,
    /// `batch_size`, `compression`, ...). The transactional id is set by this builder.
    /// `retry_backoff` / `retry_backoff_max` (`retry.backoff.ms` / `retry.backoff.max.ms`)
    /// govern the coordinator retries too, as in Java.
    pub fn producer(
        mut self,
        settings: impl FnOnce(ProducerConfigBuilder) -> ProducerConfigBuilder,
    ) -> Self {
        self.producer = settings(self.producer);
        self
    }

    /// Whether the producer may use transaction version 2 (KIP-890 part 2: Produce v12 with
    /// implicit partition adds, EndTxn v5 with a new epoch per transaction) when the cluster
    /// finalizes `transaction.version` >= 2. Default `true`; `false` keeps the KIP-98
    /// protocol (AddPartitionsToTxn, EndTxn up to v4) whatever the cluster offers.
    pub fn transaction_version_2(mut self, enabled: bool) -> Self {
        self.txn.kip890_capable = enabled;
        self
    }

    /// Connection settings (TLS, SASL, timeouts).
    pub fn connection(mut self, config: ConnectionConfig) -> Self {
        self.connection = Some(config);
        self
    }

    /// Validates the settings, connects, and starts the producer. Call
    /// [`TransactionalProducer::init_transactions`] next.
    pub async fn build(
        self,
    ) -> Result<TransactionalProducer<Producer, ClusterTransport>, TxnError> {
        self.producer_config()?;
        let cluster = self.connect_cluster().await?;
        self.start(cluster, true)
    }

    /// Connects to the bootstrap brokers with this builder's connection settings, without
    /// starting a producer: a cluster handle to pass to [`build_on`](Self::build_on) of this
    /// and other builders, so that several producers share its metadata and connections.
    pub async fn connect_cluster(&self) -> Result<Cluster, TxnError> {
        let mut cluster = Cluster::builder().bootstrap(self.bootstrap.join(","));
        if let Some(c) = &self.connection {
            cluster = cluster.connection(c.clone());
        }
        cluster.connect().await.map_err(|e| {
            TxnError::Producer(ProducerError::Fatal(
                format!("could not connect to the bootstrap brokers: {e}").into(),
            ))
        })
    }

    /// Validates the settings and starts the producer on a cluster handle that is already
    /// connected (from [`connect_cluster`](Self::connect_cluster) or klamm-net directly),
    /// sharing its metadata and connections with every other holder. The producer keeps its
    /// own transaction manager (producer id, epoch, state), accumulator, sequences and sender.
    /// The bootstrap servers are still required (they are part of the validated settings).
    /// Closing this producer leaves the cluster open for its other holders: close it yourself
    /// after the last one. Call [`TransactionalProducer::init_transactions`] next.
    pub fn build_on(
        self,
        cluster: Cluster,
    ) -> Result<TransactionalProducer<Producer, ClusterTransport>, TxnError> {
        self.start(cluster, false)
    }

    /// Starts the producer on `cluster`; closing the producer closes the cluster only when it
    /// is `owned` (klamm-producer's [`ClusterTransport::owned`](ProducerTransport::owned)),
    /// otherwise it leaves it open ([`ClusterTransport::shared`](ProducerTransport::shared)).
    fn start(
        self,
        cluster: Cluster,
        owned: bool,
    ) -> Result<TransactionalProducer<Producer, ClusterTransport>, TxnError> {
        let config = self.producer_config()?;
        let mut txn = self.txn;
        // one `retry.backoff.ms` / `retry.backoff.max.ms` for batch and coordinator retries,
        // as in Java
        txn.retry_backoff = config.retry_backoff;
        txn.retry_backoff_max = config.retry_backoff_max;
        let manager = Arc::new(TransactionManager::new(txn));
        let hook: Arc<dyn klamm_producer::TransactionHook> = manager.clone();
        let transport = if owned {
            ProducerTransport::owned(cluster.clone())
        } else {
            ProducerTransport::shared(cluster.clone())
        };
        let producer = Producer::with_transport_and_hook(config, Arc::new(transport), Some(hook));
        Ok(TransactionalProducer::new(
            manager,
            producer,
            ClusterTransport::new(cluster),
        ))
    }

    /// The producer settings with the transactional id and idempotence set, validated.
    fn producer_config(&self) -> Result<klamm_producer::ProducerConfig, TxnError> {
        if self.txn.transactional_id.is_empty() {
            return Err(TxnError::MissingTransactionalId);
        }
        Ok(self
            .producer
            .clone()
            .bootstrap(self.bootstrap.iter().cloned())
            .transactional_id(self.txn.transactional_id.to_string())
            .enable_idempotence(true)
            .build()
            .map_err(ProducerError::from)?)
    }
}
