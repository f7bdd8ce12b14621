//! [`Transport`] over klamm-net's [`Cluster`]: cached metadata, one pooled connection per
//! broker behind its ThrottleLayer (a throttled broker's requests wait, others flow).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use futures::FutureExt;
use futures::future::BoxFuture;
use klamm_net::Cluster;
use klamm_net::cluster::TopicMetadata;
use klamm_protocol::error_code::ErrorCode;
use klamm_protocol::messages::InitProducerIdRequest;
use klamm_protocol::messages::produce::{ProduceRequest, ProduceResponse};

use super::produce_queue::{ProduceQueues, QueuedProduce};
use super::{TopicInfo, Transport};
use crate::error::ProducerError;
use crate::idempotence::{ProducerIdEpoch, TopicPartition};

/// The producer's [`Transport`] over a klamm-net [`Cluster`].
///
/// It either owns the cluster ([`owned`](Self::owned)): closing the producer closes the
/// cluster, its connections and its metadata refresh; or shares it with other holders
/// ([`shared`](Self::shared)): closing the producer leaves the cluster open, and whoever
/// connected it closes it after its last user. [`ProducerBuilder::build`] owns the cluster it
/// connects, [`ProducerBuilder::build_on`] shares the one it is given.
///
/// [`ProducerBuilder::build`]: crate::ProducerBuilder::build
/// [`ProducerBuilder::build_on`]: crate::ProducerBuilder::build_on
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// use klamm_producer::sender::ClusterTransport;
/// use klamm_producer::{Producer, ProducerConfig};
///
/// let cluster = klamm_net::Cluster::builder().bootstrap("localhost:9092").connect().await?;
/// let config = ProducerConfig::builder().bootstrap(["localhost:9092"]).build()?;
/// let transport = ClusterTransport::shared(cluster.clone());
/// let producer = Producer::with_transport(config, Arc::new(transport));
/// producer.close(Duration::from_secs(5)).await?;
/// assert!(!cluster.is_closed()); // shared: still ours to use, and to close
/// cluster.close();
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ClusterTransport {
    cluster: Cluster,
    /// Whether [`Transport::close`] closes the cluster.
    owned: bool,
    /// Topic info derived from the metadata snapshot it was computed from.
    topics: RwLock<HashMap<String, (Arc<TopicMetadata>, TopicInfo)>>,
    /// Produce requests to each broker, written in the order they were sent.
    queues: ProduceQueues,
}

impl ClusterTransport {
    /// A transport that owns `cluster`: closing the producer closes the cluster (every
    /// connection, for every holder of a clone of the handle).
    pub fn owned(cluster: Cluster) -> Self {
        Self::with_ownership(cluster, true)
    }

    /// A transport over a cluster shared with other holders (other producers, a transaction
    /// coordinator conversation): closing the producer leaves the cluster open. Close the
    /// cluster yourself after its last user.
    pub fn shared(cluster: Cluster) -> Self {
        Self::with_ownership(cluster, false)
    }

    fn with_ownership(cluster: Cluster, owned: bool) -> Self {
        ClusterTransport {
            queues: ProduceQueues::new(cluster.clone()),
            cluster,
            owned,
            topics: RwLock::new(HashMap::new()),
        }
    }

    /// The cluster handle.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Whether closing the producer closes the cluster ([`owned`](Self::owned)).
    pub fn owns_cluster(&self) -> bool {
        self.owned
    }
}

fn info(topic: &TopicMetadata) -> TopicInfo {
    TopicInfo {
        partitions: i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX),
        available: topic
            .partitions
            .iter()
            .filter(|p| p.leader >= 0)
            .map(|p| p.partition)
            .collect(),
    }
}

pub(super) fn net_error(topic: Option<&str>, e: klamm_net::Error) -> ProducerError {
    match e {
        klamm_net::Error::Kafka { code, message, .. } => ProducerError::Broker {
            topic: topic.unwrap_or("").into(),
            partition: -1,
            code,
            message: message.map(Into::into),
        },
        klamm_net::Error::Closed => ProducerError::Closed {
            reason: crate::error::CloseReason::AlreadyClosed,
        },
        other => ProducerError::NoAnswer(other.to_string().into()),
    }
}

impl Transport for ClusterTransport {
    fn cached_topic(&self, topic: &str) -> Option<TopicInfo> {
        let meta = self.cluster.metadata();
        let current = meta.topic(topic)?;
        if !current.error.is_ok() || current.partitions.is_empty() {
            return None;
        }
        if let Some((seen, info)) = self
            .topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic)
            && Arc::ptr_eq(seen, current)
        {
            return Some(info.clone());
        }
        let fresh = info(current);
        self.topics
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(topic.to_owned(), (Arc::clone(current), fresh.clone()));
        Some(fresh)
    }

    fn metadata_version(&self) -> Option<u64> {
        // klamm-net counts installed metadata snapshots after installing each one.
        let version = self.cluster.metadata_refreshes();
        // The metadata read after this must not be read before the count.
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        Some(version)
    }

    fn fetch_topic(&self, topic: &str) -> BoxFuture<'static, Result<TopicInfo, ProducerError>> {
        let cluster = self.cluster.clone();
        let topic = topic.to_owned();
        async move {
            cluster
                .topic(&topic)
                .await
                .map(|t| info(&t))
                .map_err(|e| net_error(Some(&topic), e))
        }
        .boxed()
    }

    fn leader(&self, tp: &TopicPartition) -> Option<i32> {
        self.cluster.metadata().leader(&tp.topic, tp.partition)
    }

    fn refresh_metadata(&self) {
        self.cluster.request_refresh();
    }

    fn topics_used(&self, topics: &[Arc<str>]) {
        self.cluster.touch_topics(topics.iter().map(|t| &**t));
    }

    fn produce(
        &self,
        node: i32,
        request: ProduceRequest,
    ) -> BoxFuture<'static, Result<ProduceResponse, ProducerError>> {
        self.queues.send(node, QueuedProduce::Plain(request))
    }

    fn produce_implicit_add(
        &self,
        node: i32,
        request: ProduceRequest,
    ) -> BoxFuture<'static, Result<ProduceResponse, ProducerError>> {
        self.queues.send(
            node,
            QueuedProduce::ImplicitAdd(super::produce_v12::ImplicitAddProduce(request)),
        )
    }

    fn init_producer_id(
        &self,
        current: Option<ProducerIdEpoch>,
    ) -> BoxFuture<'static, Result<ProducerIdEpoch, ProducerError>> {
        let cluster = self.cluster.clone();
        async move {
            let broker = cluster.any_broker().await.map_err(|e| net_error(None, e))?;
            let version = broker
                .version_for::<InitProducerIdRequest>()
                .map_err(|e| net_error(None, e))?;
            // KIP-360: v3+ bumps the epoch of the current id; older brokers hand out a new id.
            let (producer_id, producer_epoch) = match current {
                Some(c) if version >= 3 => (c.id, c.epoch),
                _ => (-1, -1),
            };
            let request = InitProducerIdRequest {
                transactional_id: None,
                // What the Java client sends for an idempotent (non-transactional) producer.
                transaction_timeout_ms: i32::MAX,
                producer_id,
                producer_epoch,
                ..Default::default()
            };
            let response = broker
                .send(request)
                .await
                .map_err(|e| ProducerError::NoAnswer(format!("InitProducerId: {e}").into()))?;
            let code = ErrorCode::from_i16(response.error_code);
            if !code.is_ok() {
                return Err(ProducerError::Broker {
                    topic: "".into(),
                    partition: -1,
                    code,
                    message: Some("InitProducerId".into()),
                });
            }
            Ok(ProducerIdEpoch {
                id: response.producer_id,
                epoch: response.producer_epoch,
            })
        }
        .boxed()
    }

    fn close(&self) {
        self.queues.close();
        if self.owned {
            tracing::debug!("closing the producer's own cluster");
            self.cluster.close();
        } else {
            tracing::debug!("producer closed; the shared cluster stays open");
        }
    }
}
