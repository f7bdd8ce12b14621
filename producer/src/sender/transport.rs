//! What the producer needs from the network: metadata, Produce and InitProducerId.
//!
//! [`Transport`] keeps the sender independent of how brokers are reached, so its logic is
//! tested against in-memory brokers; the klamm-net implementation wraps `klamm_net::Cluster`.

use std::sync::Arc;

use futures::future::BoxFuture;
use klamm_protocol::messages::produce::{ProduceRequest, ProduceResponse};

use crate::error::ProducerError;
use crate::idempotence::{ProducerIdEpoch, TopicPartition};

/// A topic's partitions as the producer sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Number of partitions.
    pub partitions: i32,
    /// Partitions with a known leader, ascending.
    pub available: Arc<[i32]>,
}

/// The producer's view of the cluster. Implementations must be cheap to call on the hot path
/// ([`cached_topic`](Self::cached_topic) and [`leader`](Self::leader) read cached metadata).
pub trait Transport: Send + Sync + 'static {
    /// The topic's partitions from cached metadata, if known.
    fn cached_topic(&self, topic: &str) -> Option<TopicInfo>;

    /// A number that changes whenever the cached metadata may have changed, if the transport
    /// can tell (`None`, the default, means "cannot": then [`cached_topic`](Self::cached_topic)
    /// is asked for every record). With it, the producer keeps each topic's partitions next to
    /// its batch queues and asks `cached_topic` again only after the number moved. It must be
    /// read before the metadata it describes, and move after every change of it.
    fn metadata_version(&self) -> Option<u64> {
        None
    }

    /// Fetch the topic's metadata (an unknown topic, or one whose metadata expired).
    fn fetch_topic(&self, topic: &str) -> BoxFuture<'static, Result<TopicInfo, ProducerError>>;

    /// The leader's node id of a partition, from cached metadata.
    fn leader(&self, tp: &TopicPartition) -> Option<i32>;

    /// Ask for a metadata refresh soon (a leader moved or is unknown). Must not block.
    fn refresh_metadata(&self);

    /// The producer sent records to these topics lately (reported about every
    /// `metadata_max_idle / 4`, at most every second): a transport that forgets idle topics'
    /// metadata (`metadata.max.idle.ms`) keeps these. The default does nothing.
    fn topics_used(&self, topics: &[Arc<str>]) {
        let _ = topics;
    }

    /// Send a Produce request to a node. With `acks = 0` the future resolves with an empty
    /// response once the request is written. Errors mean "no answer": the batches may or may
    /// not have been written.
    ///
    /// Requests to one node must reach it in the order of the calls, whatever order their
    /// futures are polled in: the sender pipelines a partition's batches, and sequence order
    /// (and, without idempotence, record order) depends on it.
    fn produce(
        &self,
        node: i32,
        request: ProduceRequest,
    ) -> BoxFuture<'static, Result<ProduceResponse, ProducerError>>;

    /// Send a transactional Produce request whose partitions the broker adds to the
    /// transaction itself (KIP-890 part 2): it may go at v12, which klamm-net refuses a plain
    /// transactional [`ProduceRequest`]. The default sends it as [`produce`](Self::produce)
    /// does (for transports without version negotiation).
    fn produce_implicit_add(
        &self,
        node: i32,
        request: ProduceRequest,
    ) -> BoxFuture<'static, Result<ProduceResponse, ProducerError>> {
        self.produce(node, request)
    }

    /// InitProducerId for an idempotent producer: a fresh producer id, or with `current` an
    /// epoch bump of it (KIP-360; brokers that cannot bump may hand out a new id instead).
    fn init_producer_id(
        &self,
        current: Option<ProducerIdEpoch>,
    ) -> BoxFuture<'static, Result<ProducerIdEpoch, ProducerError>>;

    /// The sender finished (the producer closed): release what the transport owns. A
    /// transport over connections shared with others must leave them open
    /// ([`ClusterTransport::shared`](super::ClusterTransport::shared)).
    fn close(&self);
}
