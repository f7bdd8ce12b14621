//! The brokers a scenario can run against, what each can do, and how to reach it.

use std::fmt;

use klamm_testkit::Cluster;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use crate::error::HarnessError;

/// Client quotas are measured over this many windows of [`QUOTA_WINDOW`]: the xtask's
/// Apache Kafka cluster is configured so (`quota.window.num`, `quota.window.size.seconds`),
/// and so is the in-process testkit, so that quota throttles are short (about a second, not
/// Kafka's default of up to 11 s) and alike on both.
pub const QUOTA_WINDOW_SAMPLES: usize = 2;
/// See [`QUOTA_WINDOW_SAMPLES`].
pub const QUOTA_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

/// Which broker implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BrokerKind {
    /// librdkafka's mock cluster, started in-process per scenario.
    Mock,
    /// klamm-testkit, started in-process per scenario (3 brokers).
    Testkit,
    /// tansu, started by `cargo xtask integration` (`KLAMM_TANSU_BOOTSTRAP`).
    Tansu,
    /// Apache Kafka in Docker, started by the xtask (`KLAMM_DOCKER_BOOTSTRAP`).
    Docker,
    /// Apache Kafka from Maven Central, a 3-node KRaft cluster on loopback started by
    /// `cargo xtask integration --broker kafka` (`KLAMM_KAFKA_BOOTSTRAP`, and
    /// `KLAMM_KAFKA_CLUSTER` naming its `cluster.json` for fault scenarios).
    Kafka,
    /// Any running Kafka cluster (`KLAMM_EXTERNAL_BOOTSTRAP`).
    External,
}

impl BrokerKind {
    /// Every kind, in report order.
    pub const ALL: [BrokerKind; 6] = [
        BrokerKind::Mock,
        BrokerKind::Testkit,
        BrokerKind::Tansu,
        BrokerKind::Kafka,
        BrokerKind::Docker,
        BrokerKind::External,
    ];

    /// Name used in `KLAMM_BROKERS` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            BrokerKind::Mock => "mock",
            BrokerKind::Testkit => "testkit",
            BrokerKind::Tansu => "tansu",
            BrokerKind::Docker => "docker",
            BrokerKind::Kafka => "kafka",
            BrokerKind::External => "external",
        }
    }

    /// Parses a `KLAMM_BROKERS` entry.
    pub fn parse(s: &str) -> Result<Self, HarnessError> {
        BrokerKind::ALL
            .into_iter()
            .find(|k| k.name() == s.trim())
            .ok_or_else(|| HarnessError::UnknownBroker(s.trim().to_string()))
    }

    /// The environment variable holding the bootstrap address of an out-of-process broker.
    pub fn bootstrap_env(self) -> Option<&'static str> {
        match self {
            BrokerKind::Tansu => Some("KLAMM_TANSU_BOOTSTRAP"),
            BrokerKind::Docker => Some("KLAMM_DOCKER_BOOTSTRAP"),
            BrokerKind::Kafka => Some("KLAMM_KAFKA_BOOTSTRAP"),
            BrokerKind::External => Some("KLAMM_EXTERNAL_BOOTSTRAP"),
            BrokerKind::Mock | BrokerKind::Testkit => None,
        }
    }

    /// What this kind of broker can do (facts about each implementation).
    pub fn capabilities(self) -> Capabilities {
        match self {
            BrokerKind::Mock => Capabilities {
                idempotence: true,
                transaction_markers: false,
                throttling: false,
                controllable: true,
                create_topics_api: false,
                process_control: false,
                apache_kafka: false,
            },
            BrokerKind::Testkit => Capabilities {
                idempotence: true,
                transaction_markers: true,
                throttling: true,
                controllable: true,
                create_topics_api: true,
                process_control: false,
                apache_kafka: false,
            },
            BrokerKind::Tansu => Capabilities {
                idempotence: true,
                transaction_markers: false,
                throttling: false,
                controllable: false,
                create_topics_api: true,
                process_control: false,
                apache_kafka: false,
            },
            // Real quotas: the scenario sets one with AlterClientQuotas.
            BrokerKind::Kafka => Capabilities {
                idempotence: true,
                transaction_markers: true,
                throttling: true,
                controllable: false,
                create_topics_api: true,
                process_control: true,
                apache_kafka: true,
            },
            BrokerKind::Docker | BrokerKind::External => Capabilities {
                idempotence: true,
                transaction_markers: true,
                throttling: false,
                controllable: false,
                create_topics_api: true,
                process_control: false,
                // The apache/kafka image is the reference too; a cluster of yours may be
                // another Kafka-compatible broker.
                apache_kafka: self == BrokerKind::Docker,
            },
        }
    }
}

impl fmt::Display for BrokerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a broker supports; a scenario declares what it [`Needs`](crate::Needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Idempotent produce with sequence checks.
    pub idempotence: bool,
    /// Transactions with COMMIT/ABORT markers, so `read_committed` readers skip aborted data.
    pub transaction_markers: bool,
    /// Produce quotas answered with `throttle_time_ms`.
    pub throttling: bool,
    /// The test controls the broker in-process (move leaders, inject errors).
    pub controllable: bool,
    /// The CreateTopics API (otherwise topics are created through the control handle).
    pub create_topics_api: bool,
    /// The broker processes can be killed, restarted and paused by the test
    /// ([`KafkaNodes`](crate::nodes::KafkaNodes)).
    pub process_control: bool,
    /// This is Apache Kafka itself: the reference the differential suite compares the
    /// testkit with.
    pub apache_kafka: bool,
}

/// A broker a scenario runs against.
pub struct BrokerUnderTest {
    kind: BrokerKind,
    bootstrap: String,
    mock: Option<MockCluster<'static, DefaultProducerContext>>,
    testkit: Option<Cluster>,
}

impl fmt::Debug for BrokerUnderTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerUnderTest")
            .field("kind", &self.kind)
            .field("bootstrap", &self.bootstrap)
            .finish()
    }
}

/// Why a broker cannot be had for a scenario (reported as a skip, with this reason).
#[derive(Debug)]
pub struct Unavailable(pub String);

impl BrokerUnderTest {
    /// Brings up (in-process kinds) or locates (out-of-process kinds) a broker of `kind`.
    ///
    /// `Ok(Err(Unavailable))` means the broker cannot exist here (reported as a skip);
    /// `Err` means it should exist and could not be had (a real failure).
    pub async fn connect(kind: BrokerKind) -> Result<Result<Self, Unavailable>, HarnessError> {
        match kind {
            BrokerKind::Mock => {
                let mock = MockCluster::new(3).map_err(HarnessError::Kafka)?;
                Ok(Ok(BrokerUnderTest {
                    kind,
                    bootstrap: mock.bootstrap_servers(),
                    mock: Some(mock),
                    testkit: None,
                }))
            }
            BrokerKind::Testkit => {
                let cluster = Cluster::builder()
                    .brokers(3)
                    .start()
                    .await
                    .map_err(|e| HarnessError::Testkit(e.to_string()))?;
                cluster.set_quota_window(QUOTA_WINDOW_SAMPLES, QUOTA_WINDOW);
                Ok(Ok(BrokerUnderTest {
                    kind,
                    bootstrap: cluster.bootstrap(),
                    mock: None,
                    testkit: Some(cluster),
                }))
            }
            BrokerKind::Tansu | BrokerKind::Kafka | BrokerKind::Docker | BrokerKind::External => {
                let var = kind.bootstrap_env().unwrap_or_default();
                match std::env::var(var) {
                    Ok(addr) if !addr.trim().is_empty() => Ok(Ok(BrokerUnderTest {
                        kind,
                        bootstrap: addr.trim().to_string(),
                        mock: None,
                        testkit: None,
                    })),
                    _ => Err(HarnessError::NoBootstrap { kind, var }),
                }
            }
        }
    }

    /// Which broker this is.
    pub fn kind(&self) -> BrokerKind {
        self.kind
    }

    /// `bootstrap.servers` for a client.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// What this broker can do.
    pub fn capabilities(&self) -> Capabilities {
        self.kind.capabilities()
    }

    /// The replication factor a scenario's topic gets: 3 on the brokers that run three
    /// replicating nodes with `min.insync.replicas=2` (Apache Kafka from the xtask, where
    /// a topic with one replica could not take an `acks=all` write), 1 elsewhere.
    pub fn replication_factor(&self) -> i32 {
        match self.kind {
            BrokerKind::Kafka => 3,
            _ => 1,
        }
    }

    /// The in-process mock cluster's control handle, when this is the mock.
    pub fn mock(&self) -> Option<&MockCluster<'static, DefaultProducerContext>> {
        self.mock.as_ref()
    }

    /// The in-process klamm-testkit cluster (control API), when this is the testkit.
    pub fn testkit(&self) -> Option<&Cluster> {
        self.testkit.as_ref()
    }

    /// Creates a topic through the in-process control handle, when there is one.
    /// Returns `Ok(false)` for out-of-process brokers (use the CreateTopics API).
    pub fn create_topic_in_process(&self, topic: &str, partitions: i32) -> Result<bool, String> {
        if let Some(mock) = &self.mock {
            mock.create_topic(topic, partitions, 1)
                .map_err(|e| format!("mock create_topic {topic}: {e}"))?;
            return Ok(true);
        }
        if let Some(cluster) = &self.testkit {
            cluster
                .create_topic(topic, partitions)
                .map_err(|e| format!("testkit create_topic {topic}: {e}"))?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Moves the leader of `topic`/`partition` to broker `index` (0-based among this
    /// cluster's brokers), through the in-process control handle.
    pub fn move_leader(&self, topic: &str, partition: i32, index: i32) -> Result<(), String> {
        if let Some(mock) = &self.mock {
            // librdkafka mock broker ids are 1-based.
            return mock
                .partition_leader(topic, partition, Some(index + 1))
                .map_err(|e| format!("mock partition_leader: {e}"));
        }
        if let Some(cluster) = &self.testkit {
            let nodes = cluster.brokers();
            let Some((node, _)) = nodes.get(index as usize) else {
                return Err(format!("testkit has no broker #{index}"));
            };
            return cluster
                .move_leader(topic, partition, *node)
                .map_err(|e| format!("testkit move_leader: {e}"));
        }
        Err(format!("no in-process control for {}", self.kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in BrokerKind::ALL {
            assert_eq!(BrokerKind::parse(k.name()).unwrap(), k);
        }
        assert!(BrokerKind::parse("kafka").is_ok());
        assert!(BrokerKind::parse("redpanda").is_err());
    }

    #[test]
    fn capabilities_match_the_brokers_documentation() {
        // tansu: no EndTxn, no throttling, no auto-create (DEVELOPERS.md).
        let t = BrokerKind::Tansu.capabilities();
        assert!(!t.transaction_markers && !t.throttling && t.idempotence);
        // The librdkafka mock writes no transaction markers and never throttles.
        let m = BrokerKind::Mock.capabilities();
        assert!(!m.transaction_markers && !m.throttling && m.controllable);
    }
}
