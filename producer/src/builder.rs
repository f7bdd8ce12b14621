//! [`ProducerBuilder`]: settings plus connecting to the cluster.

use std::sync::Arc;
use std::time::Duration;

use klamm_net::{Cluster, ConnectionConfig};

use crate::Producer;
use crate::config::{Acks, Compression, PartitionerChoice, ProducerConfig, ProducerConfigBuilder};
use crate::error::ProducerError;
use crate::partitioner::PartitionerContext;
use crate::sender::{ClusterTransport, TransactionHook};

/// Builds a [`Producer`]: every setting of [`ProducerConfigBuilder`] (Java's names and
/// defaults), then [`build`](Self::build) connects to the cluster.
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until build() is awaited"]
pub struct ProducerBuilder {
    config: ProducerConfigBuilder,
    connection: Option<ConnectionConfig>,
    auto_create_topics: Option<bool>,
    hook: HookSlot,
}

/// The optional transaction hook (a trait object, so Debug by hand).
#[derive(Clone, Default)]
struct HookSlot(Option<Arc<dyn TransactionHook>>);

impl std::fmt::Debug for HookSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Some(TransactionHook)"
        } else {
            "None"
        })
    }
}

macro_rules! forward {
    ($($(#[$doc:meta])* $name:ident($ty:ty);)*) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                self.config = self.config.$name(value);
                self
            }
        )*
    };
}

impl ProducerBuilder {
    /// `bootstrap.servers`: `host:port` of one or more brokers.
    pub fn bootstrap<I, S>(mut self, servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config = self.config.bootstrap(servers);
        self
    }

    /// `client.id`.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.config = self.config.client_id(id);
        self
    }

    /// A custom partitioner function (see [`PartitionerContext`]).
    pub fn partitioner_fn<F>(mut self, f: F) -> Self
    where
        F: Fn(&PartitionerContext<'_>) -> i32 + Send + Sync + 'static,
    {
        self.config = self.config.partitioner_fn(f);
        self
    }

    forward! {
        /// `acks`.
        acks(Acks);
        /// `linger.ms`.
        linger(Duration);
        /// `batch.size` in bytes.
        batch_size(usize);
        /// `buffer.memory` in bytes.
        buffer_memory(usize);
        /// `max.block.ms`.
        max_block(Duration);
        /// `max.request.size` in bytes.
        max_request_size(usize);
        /// `compression.type`.
        compression(Compression);
        /// `compression.gzip.level` (KIP-390): 1 to 9.
        compression_gzip_level(i32);
        /// `compression.zstd.level` (KIP-390): -131072 to 22.
        compression_zstd_level(i32);
        /// `delivery.timeout.ms`.
        delivery_timeout(Duration);
        /// `request.timeout.ms`.
        request_timeout(Duration);
        /// `retry.backoff.ms`.
        retry_backoff(Duration);
        /// `retry.backoff.max.ms`.
        retry_backoff_max(Duration);
        /// `retries`.
        retries(u32);
        /// `max.in.flight.requests.per.connection`.
        max_in_flight(usize);
        /// `enable.idempotence`.
        enable_idempotence(bool);
        /// `partitioner.class`.
        partitioner(PartitionerChoice);
        /// `partitioner.ignore.keys`.
        partitioner_ignore_keys(bool);
        /// `partitioner.adaptive.partitioning.enable`.
        partitioner_adaptive(bool);
        /// `partitioner.availability.timeout.ms` (KIP-794; zero: off).
        partitioner_availability_timeout(Duration);
        /// `metadata.max.age.ms`.
        metadata_max_age(Duration);
        /// `metadata.max.idle.ms`.
        metadata_max_idle(Duration);
    }

    /// Connection settings beyond the producer's own (TLS, SASL, connect timeout); its client
    /// id, request timeout and in-flight limit are replaced by the producer's settings.
    pub fn connection(mut self, config: ConnectionConfig) -> Self {
        self.connection = Some(config);
        self
    }

    /// `allow.auto.create.topics` (default true, as the Java producer).
    pub fn allow_auto_topic_creation(mut self, allow: bool) -> Self {
        self.auto_create_topics = Some(allow);
        self
    }

    /// Validate the settings (typed [`ConfigError`](crate::ConfigError) on a bad combination)
    /// without connecting.
    pub fn config(&self) -> Result<ProducerConfig, ProducerError> {
        Ok(self.config.clone().build()?)
    }

    /// A transaction manager that steers the sender (klamm-txn sets this; see
    /// [`TransactionHook`]).
    pub fn transaction_hook(mut self, hook: Arc<dyn TransactionHook>) -> Self {
        self.hook = HookSlot(Some(hook));
        self
    }

    /// Validate the settings, connect to the bootstrap brokers, fetch metadata and start the
    /// sender task. The producer owns the cluster it connected: [`Producer::close`] closes it.
    pub async fn build(self) -> Result<Producer, ProducerError> {
        let cluster = self.connect_cluster().await?;
        self.start(ClusterTransport::owned(cluster))
    }

    /// Start the producer on a cluster handle that is already connected, sharing its metadata
    /// and connections with whoever else holds it (other producers, klamm-txn's coordinator
    /// conversation, klamm-pool). The producer borrows the cluster: [`Producer::close`] leaves
    /// it open for its other holders, so close it yourself after the last one.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), klamm_producer::ProducerError> {
    /// use std::time::Duration;
    /// use klamm_producer::Producer;
    ///
    /// let builder = Producer::builder().bootstrap(["localhost:9092"]);
    /// let cluster = builder.connect_cluster().await?;
    /// let first = builder.clone().client_id("first").build_on(cluster.clone())?;
    /// let second = builder.client_id("second").build_on(cluster.clone())?;
    /// first.close(Duration::from_secs(5)).await?;
    /// // `second` still produces over the same connections.
    /// second.close(Duration::from_secs(5)).await?;
    /// cluster.close();
    /// # Ok(())
    /// # }
    /// ```
    pub fn build_on(self, cluster: Cluster) -> Result<Producer, ProducerError> {
        self.start(ClusterTransport::shared(cluster))
    }

    fn start(self, transport: ClusterTransport) -> Result<Producer, ProducerError> {
        let config = self.config.build()?;
        Ok(Producer::with_transport_and_hook(
            config,
            Arc::new(transport),
            self.hook.0,
        ))
    }

    /// Validate the settings and connect to the bootstrap brokers with the producer's
    /// connection settings (client id, request timeout, in-flight limit, TLS, SASL).
    pub async fn connect_cluster(&self) -> Result<Cluster, ProducerError> {
        let config = self.config.clone().build()?;
        let mut connection = ConnectionConfig::builder()
            .client_id(config.client_id.clone())
            .request_timeout(config.request_timeout)
            .max_in_flight(config.max_in_flight);
        if let Some(c) = &self.connection {
            connection = connection.connect_timeout(c.connect_timeout());
            if let Some(tls) = c.tls() {
                connection = connection.tls(tls.clone());
            }
            if let Some(sasl) = c.sasl() {
                connection = connection.sasl(sasl.clone());
            }
        }
        let connection = connection
            .build()
            .map_err(|e| ProducerError::Fatal(format!("connection settings: {e}").into()))?;
        let cluster = Cluster::builder()
            .bootstrap(config.bootstrap.join(","))
            .connection(connection)
            .metadata_max_age(config.metadata_max_age)
            .metadata_max_idle(config.metadata_max_idle)
            .allow_auto_topic_creation(self.auto_create_topics.unwrap_or(true))
            .connect()
            .await
            .map_err(|e| {
                ProducerError::NoAnswer(
                    format!(
                        "could not fetch metadata from {}: {e}",
                        config.bootstrap.join(",")
                    )
                    .into(),
                )
            })?;
        Ok(cluster)
    }
}
