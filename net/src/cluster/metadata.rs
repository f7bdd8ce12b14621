//! The cluster metadata cache: brokers, topics, partitions, leaders and leader epochs.

use std::collections::HashMap;
use std::sync::Arc;

use klamm_protocol::Uuid;
use klamm_protocol::error_code::ErrorCode;
use klamm_protocol::messages::MetadataResponse;
use tokio::time::Instant;

/// One broker as metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// The broker id.
    pub node_id: i32,
    /// Host name.
    pub host: String,
    /// Port.
    pub port: i32,
    /// Rack, if configured.
    pub rack: Option<String>,
}

impl BrokerInfo {
    /// `host:port`.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// The partition index.
    pub partition: i32,
    /// The leader's broker id, `-1` when there is none.
    pub leader: i32,
    /// The leader epoch, `-1` if the broker did not send one.
    pub leader_epoch: i32,
    /// Replica broker ids.
    pub replicas: Vec<i32>,
    /// In-sync replica broker ids.
    pub isr: Vec<i32>,
    /// The partition's error (for example LEADER_NOT_AVAILABLE).
    pub error: ErrorCode,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// The topic name.
    pub name: String,
    /// The topic id (zero before Metadata v10).
    pub topic_id: Uuid,
    /// The topic's error (for example UNKNOWN_TOPIC_OR_PARTITION).
    pub error: ErrorCode,
    /// Partitions, sorted by index.
    pub partitions: Vec<PartitionMetadata>,
}

/// A snapshot of what the cluster looked like at the last refresh. Cheap to share.
#[derive(Debug, Clone)]
pub struct Metadata {
    /// The cluster id.
    pub cluster_id: Option<String>,
    /// The controller's broker id.
    pub controller_id: i32,
    /// Brokers by id.
    pub brokers: HashMap<i32, BrokerInfo>,
    /// Topics by name.
    pub topics: HashMap<String, Arc<TopicMetadata>>,
    /// When this snapshot was fetched.
    pub fetched_at: Instant,
}

impl Default for Metadata {
    fn default() -> Self {
        Metadata {
            cluster_id: None,
            controller_id: -1,
            brokers: HashMap::new(),
            topics: HashMap::new(),
            fetched_at: Instant::now(),
        }
    }
}

impl Metadata {
    /// A topic, if metadata knows it (it may carry an error).
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicMetadata>> {
        self.topics.get(name)
    }

    /// A partition of a topic.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionMetadata> {
        let t = self.topics.get(topic)?;
        let i = usize::try_from(partition).ok()?;
        t.partitions
            .get(i)
            .filter(|p| p.partition == partition)
            .or_else(|| t.partitions.iter().find(|p| p.partition == partition))
    }

    /// The leader of a partition, if it has one.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        self.partition(topic, partition)
            .map(|p| p.leader)
            .filter(|&l| l >= 0)
    }

    /// The number of partitions of a topic known without error.
    pub fn partition_count(&self, topic: &str) -> Option<usize> {
        self.topics
            .get(topic)
            .filter(|t| t.error.is_ok())
            .map(|t| t.partitions.len())
    }

    /// Builds the next snapshot from a response, keeping what this one knew about topics the
    /// response does not mention, and never going back to an older leader epoch for a
    /// partition (a response from a broker with stale metadata, KIP-320).
    pub(crate) fn merge(&self, resp: &MetadataResponse) -> Metadata {
        let brokers = resp
            .brokers
            .iter()
            .map(|b| {
                (
                    b.node_id,
                    BrokerInfo {
                        node_id: b.node_id,
                        host: b.host.clone(),
                        port: b.port,
                        rack: b.rack.clone(),
                    },
                )
            })
            .collect();
        let mut topics = self.topics.clone();
        for t in &resp.topics {
            let Some(name) = t.name.clone() else { continue };
            let old = self.topics.get(&name);
            let mut partitions: Vec<PartitionMetadata> = t
                .partitions
                .iter()
                .map(|p| {
                    let new = PartitionMetadata {
                        partition: p.partition_index,
                        leader: p.leader_id,
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes.clone(),
                        isr: p.isr_nodes.clone(),
                        error: ErrorCode::from_i16(p.error_code),
                    };
                    match old.and_then(|o| o.partitions.iter().find(|q| q.partition == new.partition)) {
                        Some(prev) if new.leader_epoch >= 0 && prev.leader_epoch > new.leader_epoch => {
                            tracing::debug!(topic = %name, partition = new.partition, cached = prev.leader_epoch, received = new.leader_epoch, "ignoring stale leader epoch");
                            prev.clone()
                        }
                        _ => new,
                    }
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            topics.insert(
                name.clone(),
                Arc::new(TopicMetadata {
                    name,
                    topic_id: t.topic_id,
                    error: ErrorCode::from_i16(t.error_code),
                    partitions,
                }),
            );
        }
        Metadata {
            cluster_id: resp.cluster_id.clone(),
            controller_id: resp.controller_id,
            brokers,
            topics,
            fetched_at: Instant::now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klamm_protocol::messages::metadata::response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };

    fn resp(leader: i32, epoch: i32) -> MetadataResponse {
        MetadataResponse {
            brokers: vec![MetadataResponseBroker {
                node_id: 1,
                host: "h".into(),
                port: 9,
                ..Default::default()
            }],
            topics: vec![MetadataResponseTopic {
                name: Some("t".into()),
                partitions: vec![
                    MetadataResponsePartition {
                        partition_index: 1,
                        leader_id: 2,
                        leader_epoch: 0,
                        ..Default::default()
                    },
                    MetadataResponsePartition {
                        partition_index: 0,
                        leader_id: leader,
                        leader_epoch: epoch,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn merge_sorts_partitions_and_never_goes_back_an_epoch() {
        let m = Metadata::default().merge(&resp(1, 5));
        assert_eq!(m.leader("t", 0), Some(1));
        assert_eq!(m.leader("t", 1), Some(2));
        assert_eq!(m.partition_count("t"), Some(2));
        assert_eq!(m.brokers[&1].addr(), "h:9");
        // A stale broker says epoch 4 with another leader: ignored.
        let m2 = m.merge(&resp(3, 4));
        assert_eq!(m2.leader("t", 0), Some(1));
        // A newer epoch wins.
        let m3 = m2.merge(&resp(3, 6));
        assert_eq!(m3.leader("t", 0), Some(3));
        assert_eq!(m3.partition("t", 0).map(|p| p.leader_epoch), Some(6));
        assert_eq!(m3.leader("t", 7), None);
        assert_eq!(m3.leader("nope", 0), None);
    }
}
