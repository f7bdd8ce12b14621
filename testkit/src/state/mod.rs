//! The broker state model, free of any networking: brokers, topics and partitions with their
//! logs, coordinators, transactions, committed offsets and quotas.
//!
//! Every method takes the current time explicitly so the model is deterministic under test.
//! The server keeps one [`ClusterState`] behind a mutex and never holds it across an await.

pub mod batch;
pub mod client_quotas;
pub mod groups;
pub mod log;
pub mod producer;
pub mod quota;
pub mod segments;
#[cfg(test)]
mod test_support;
pub mod txn;
pub mod txn_v2;

use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::codes;
use batch::BatchHeader;
use log::PartitionLog;

/// Number of partitions of Kafka's `__transaction_state` topic (its default).
pub const TXN_STATE_PARTITIONS: i32 = 50;
/// Number of partitions of Kafka's `__consumer_offsets` topic (its default).
pub const OFFSETS_PARTITIONS: i32 = 50;

/// Settings of the cluster model.
#[derive(Debug, Clone)]
pub struct StateConfig {
    /// Create unknown topics on Metadata requests that allow it (Kafka's default: true).
    pub auto_create_topics: bool,
    /// Partitions of an auto-created topic (Kafka's `num.partitions`, default 1).
    pub default_partitions: i32,
    /// Largest transaction timeout accepted (Kafka's `transaction.max.timeout.ms`, 15 min).
    pub max_transaction_timeout_ms: i32,
    /// How long an EndTxn stays in PrepareCommit/PrepareAbort before its markers are written;
    /// requests that arrive meanwhile get CONCURRENT_TRANSACTIONS. Zero writes them at once.
    pub marker_delay: Duration,
    /// The finalized `transaction.version` feature advertised in ApiVersions v3+ (KIP-890).
    /// At 2, a transactional Produce v12 adds its partition to the transaction implicitly;
    /// below 2 such a request is refused with UNSUPPORTED_VERSION. Default 2, as a fresh
    /// Kafka 4.x cluster finalizes.
    pub transaction_version: i16,
    /// The epoch of the finalized features (grows with every feature change).
    pub features_epoch: i64,
    /// Largest record batch a Produce may carry (Kafka's `max.message.bytes`, checked after
    /// leadership, before anything else); a larger one is refused with MESSAGE_TOO_LARGE.
    /// `None` (the default) sets no limit.
    pub max_message_bytes: Option<usize>,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            auto_create_topics: true,
            default_partitions: 1,
            max_transaction_timeout_ms: 900_000,
            marker_delay: Duration::ZERO,
            transaction_version: 2,
            features_epoch: 1,
            max_message_bytes: None,
        }
    }
}

/// One partition: its leadership and its log.
#[derive(Debug)]
pub struct Partition {
    /// Node id of the leader.
    pub leader: i32,
    /// Leader epoch, bumped on every leader move.
    pub leader_epoch: i32,
    /// Replica node ids, leader first.
    pub replicas: Vec<i32>,
    /// The log.
    pub log: PartitionLog,
}

/// One topic.
#[derive(Debug)]
pub struct Topic {
    /// Topic id (KIP-516).
    pub id: [u8; 16],
    /// Partitions by index.
    pub partitions: Vec<Partition>,
}

/// What a Produce of one partition returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceResult {
    /// Kafka error code.
    pub error: i16,
    /// Base offset of the batch (-1 on error).
    pub base_offset: i64,
    /// Log start offset of the partition (-1 when unknown).
    pub log_start_offset: i64,
    /// Error message, if any.
    pub message: Option<String>,
    /// Whether the batch was a retried duplicate.
    pub duplicate: bool,
}

impl ProduceResult {
    fn error(error: i16, message: impl Into<String>) -> Self {
        ProduceResult {
            error,
            base_offset: -1,
            log_start_offset: -1,
            message: Some(message.into()),
            duplicate: false,
        }
    }
}

/// The whole cluster's state.
#[derive(Debug)]
pub struct ClusterState {
    /// Settings.
    pub config: StateConfig,
    /// Node ids of the brokers.
    pub node_ids: Vec<i32>,
    /// Topics by name.
    pub topics: BTreeMap<String, Topic>,
    /// Coordinator moves: (key type, key) to node id.
    coordinator_overrides: HashMap<(i8, String), i32>,
    /// Transactions, by transactional id.
    pub txns: txn::Transactions,
    /// Committed consumer group offsets.
    pub groups: groups::GroupOffsets,
    /// Produce byte-rate quotas.
    pub quotas: quota::Quotas,
    next_producer_id: i64,
    topics_created: u64,
}

impl ClusterState {
    /// A cluster of `brokers` nodes (ids 0..brokers) with no topics.
    pub fn new(brokers: i32, config: StateConfig) -> Self {
        ClusterState {
            config,
            node_ids: (0..brokers.max(1)).collect(),
            topics: BTreeMap::new(),
            coordinator_overrides: HashMap::new(),
            txns: txn::Transactions::default(),
            groups: groups::GroupOffsets::default(),
            quotas: quota::Quotas::default(),
            next_producer_id: 1000,
            topics_created: 0,
        }
    }

    /// Creates a topic with leaders spread round-robin over the brokers and up to three
    /// replicas each. `Err` is TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS or
    /// INVALID_TOPIC_EXCEPTION.
    pub fn create_topic(&mut self, name: &str, partitions: i32) -> Result<(), i16> {
        if self.topics.contains_key(name) {
            return Err(codes::TOPIC_ALREADY_EXISTS);
        }
        if !valid_topic_name(name) {
            return Err(codes::INVALID_TOPIC_EXCEPTION);
        }
        if partitions <= 0 || partitions > 10_000 {
            return Err(codes::INVALID_PARTITIONS);
        }
        let n = self.node_ids.len();
        let offset = self.topics_created as usize;
        self.topics_created += 1;
        let parts = (0..partitions as usize)
            .map(|p| {
                let first = (offset + p) % n;
                let replicas: Vec<i32> = (0..n.min(3))
                    .map(|r| self.node_ids[(first + r) % n])
                    .collect();
                Partition {
                    leader: replicas[0],
                    leader_epoch: 0,
                    replicas,
                    log: PartitionLog::default(),
                }
            })
            .collect();
        let id = topic_id(name, self.topics_created);
        self.topics.insert(
            name.to_string(),
            Topic {
                id,
                partitions: parts,
            },
        );
        Ok(())
    }

    /// The partition, if it exists.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&Partition> {
        self.topics
            .get(topic)?
            .partitions
            .get(usize::try_from(partition).ok()?)
    }

    /// The partition, mutably.
    pub fn partition_mut(&mut self, topic: &str, partition: i32) -> Option<&mut Partition> {
        self.topics
            .get_mut(topic)?
            .partitions
            .get_mut(usize::try_from(partition).ok()?)
    }

    /// The topic name for a topic id.
    pub fn topic_name(&self, id: &[u8; 16]) -> Option<&str> {
        self.topics
            .iter()
            .find(|(_, t)| &t.id == id)
            .map(|(n, _)| n.as_str())
    }

    /// Moves a partition's leadership to `node`, bumping the leader epoch. Returns false if
    /// the partition or node does not exist.
    pub fn move_leader(&mut self, topic: &str, partition: i32, node: i32) -> bool {
        if !self.node_ids.contains(&node) {
            return false;
        }
        let Some(p) = self.partition_mut(topic, partition) else {
            return false;
        };
        p.leader = node;
        p.leader_epoch += 1;
        if !p.replicas.contains(&node) {
            p.replicas.push(node);
        }
        true
    }

    /// The coordinator of a key: key type 0 is a group (`__consumer_offsets`), 1 a
    /// transactional id (`__transaction_state`). As Kafka: the leader of partition
    /// `abs(java_hash(key)) % partitions`, unless moved with [`Self::move_coordinator`].
    pub fn coordinator(&self, key_type: i8, key: &str) -> i32 {
        if let Some(node) = self.coordinator_overrides.get(&(key_type, key.to_string())) {
            return *node;
        }
        let parts = if key_type == 1 {
            TXN_STATE_PARTITIONS
        } else {
            OFFSETS_PARTITIONS
        };
        let p = coordinator_partition(key, parts);
        self.node_ids[p as usize % self.node_ids.len()]
    }

    /// Moves the coordinator of a key to `node`.
    pub fn move_coordinator(&mut self, key_type: i8, key: &str, node: i32) {
        self.coordinator_overrides
            .insert((key_type, key.to_string()), node);
    }

    /// Allocates a fresh producer id.
    pub fn allocate_producer_id(&mut self) -> i64 {
        let id = self.next_producer_id;
        self.next_producer_id += 1;
        id
    }

    /// Produce of one partition's record set, received by `node`, at wall-clock `now_ms`.
    ///
    /// Checks leadership, the single v2 batch, transactional membership (the partition must
    /// have been added to the producer's ongoing transaction) and idempotence.
    pub fn produce(
        &mut self,
        node: i32,
        topic: &str,
        partition: i32,
        records: &Bytes,
    ) -> ProduceResult {
        self.produce_adding(node, topic, partition, records, None)
    }

    /// [`produce`](Self::produce), where a transactional batch first adds its partition to
    /// the transaction of `implicit_add` (a transactional Produce v12, KIP-890 part 2).
    pub fn produce_adding(
        &mut self,
        node: i32,
        topic: &str,
        partition: i32,
        records: &Bytes,
        implicit_add: Option<txn_v2::ImplicitAdd<'_>>,
    ) -> ProduceResult {
        let transactional_id = implicit_add.map(|a| a.transactional_id);
        self.produce_in(
            node,
            topic,
            partition,
            records,
            transactional_id,
            implicit_add,
        )
    }

    /// A Produce of one partition's record set sent with `transactional_id` (a Produce
    /// request's field): a transactional batch is verified with that transactional id's
    /// coordinator state, as Kafka's leader does (KIP-890 part 1), after `implicit_add` (a
    /// transactional Produce v12) added the partition. Without a transactional id (the
    /// state-level [`produce`](Self::produce)) the transaction is found by producer id; the
    /// API layer refuses such requests before they get here, as Kafka does.
    ///
    /// Errors found while appending (sequence, epoch and transaction checks of the log's
    /// producer state) carry the log start offset, as Kafka's do; errors found before
    /// (leadership, size, a malformed batch, the coordinator's verification) carry -1.
    /// The coordinator's PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH, the code
    /// Kafka's leader converts it to for producers of every version.
    pub fn produce_in(
        &mut self,
        node: i32,
        topic: &str,
        partition: i32,
        records: &Bytes,
        transactional_id: Option<&str>,
        implicit_add: Option<txn_v2::ImplicitAdd<'_>>,
    ) -> ProduceResult {
        let Some(p) = self.partition(topic, partition) else {
            return ProduceResult::error(
                codes::UNKNOWN_TOPIC_OR_PARTITION,
                "unknown topic or partition",
            );
        };
        if p.leader != node {
            return ProduceResult::error(
                codes::NOT_LEADER_OR_FOLLOWER,
                format!(
                    "node {node} is not the leader of {topic}-{partition} (node {} is)",
                    p.leader
                ),
            );
        }
        if let Some(limit) = self.config.max_message_bytes
            && records.len() > limit
        {
            return ProduceResult::error(
                codes::MESSAGE_TOO_LARGE,
                format!(
                    "the record batch of {} bytes is larger than max.message.bytes ({limit})",
                    records.len()
                ),
            );
        }
        let (sealed, h): (_, BatchHeader) = match batch::parse_single_batch(records) {
            Ok(x) => x,
            Err(e) => return ProduceResult::error(log::batch_error_code(&e), e.to_string()),
        };
        if h.is_transactional()
            && let Some(add) = implicit_add
            && let Err(code) = self.add_partition_implicitly(&add, &h, topic, partition)
        {
            return ProduceResult::error(
                unfenced(code),
                "the partition could not be added to the transaction (Produce v12)",
            );
        }
        if h.is_transactional()
            && let Err(code) = self.txns.verify_produce(
                transactional_id,
                h.producer_id,
                h.producer_epoch,
                topic,
                partition,
            )
        {
            return ProduceResult::error(
                unfenced(code),
                "partition is not part of an ongoing transaction of this producer",
            );
        }
        let Some(p) = self.partition_mut(topic, partition) else {
            return ProduceResult::error(
                codes::UNKNOWN_TOPIC_OR_PARTITION,
                "unknown topic or partition",
            );
        };
        match p.log.append_parsed(&h, sealed, p.leader_epoch) {
            Ok(a) => ProduceResult {
                error: codes::NONE,
                base_offset: a.base_offset,
                log_start_offset: p.log.log_start_offset(),
                message: None,
                duplicate: a.duplicate,
            },
            Err((code, msg)) => ProduceResult {
                log_start_offset: p.log.log_start_offset(),
                ..ProduceResult::error(code, msg)
            },
        }
    }
}

/// PRODUCER_FENCED as a partition leader answers a Produce: INVALID_PRODUCER_EPOCH (Kafka's
/// `AddPartitionsToTxnManager` converts it so for every Produce version).
fn unfenced(code: i16) -> i16 {
    if code == codes::PRODUCER_FENCED {
        codes::INVALID_PRODUCER_EPOCH
    } else {
        code
    }
}

/// Java's `String.hashCode` over UTF-16 code units.
pub fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// Kafka's partition of a coordinator key: `Utils.abs(hash) % partitions`, where
/// `Utils.abs(i32::MIN)` is 0.
pub fn coordinator_partition(key: &str, partitions: i32) -> i32 {
    let h = java_hash(key);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions
}

/// Kafka's legal topic names: 1..=249 chars of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

fn topic_id(name: &str, seq: u64) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&seq.to_be_bytes());
    id[8..12].copy_from_slice(&java_hash(name).to_be_bytes());
    id[12] = 0x4b; // never the all-zero (null) uuid
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::batch::data_batch;

    #[test]
    fn java_hash_matches_java() {
        // Values from Java's "...".hashCode().
        assert_eq!(java_hash(""), 0);
        assert_eq!(java_hash("a"), 97);
        assert_eq!(java_hash("hello"), 99_162_322);
        assert_eq!(java_hash("abc"), 96_354);
        // "polygenelubricants".hashCode() is Integer.MIN_VALUE, whose Utils.abs is 0
        assert_eq!(java_hash("polygenelubricants"), i32::MIN);
        assert_eq!(coordinator_partition("polygenelubricants", 50), 0);
        assert_eq!(coordinator_partition("hello", 50), 99_162_322 % 50);
    }

    #[test]
    fn leaders_are_spread_and_move_with_epoch_bumps() {
        let mut s = ClusterState::new(3, StateConfig::default());
        s.create_topic("t", 6).unwrap();
        let leaders: Vec<i32> = s.topics["t"].partitions.iter().map(|p| p.leader).collect();
        assert_eq!(leaders, vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(s.topics["t"].partitions[1].replicas, vec![1, 2, 0]);
        assert_eq!(s.create_topic("t", 1), Err(codes::TOPIC_ALREADY_EXISTS));
        assert_eq!(
            s.create_topic("bad name", 1),
            Err(codes::INVALID_TOPIC_EXCEPTION)
        );
        assert_eq!(s.create_topic("z", 0), Err(codes::INVALID_PARTITIONS));
        assert!(s.move_leader("t", 0, 2));
        assert_eq!(s.partition("t", 0).unwrap().leader_epoch, 1);
        assert!(!s.move_leader("t", 0, 7));
        assert!(!s.move_leader("t", 9, 1));
        let id = s.topics["t"].id;
        assert_eq!(s.topic_name(&id), Some("t"));
    }

    #[test]
    fn produce_checks_leadership_and_appends() {
        let mut s = ClusterState::new(2, StateConfig::default());
        s.create_topic("t", 2).unwrap();
        let b = data_batch(-1, -1, -1, 4, false);
        let not_leader = s.produce(1, "t", 0, &b);
        assert_eq!(not_leader.error, codes::NOT_LEADER_OR_FOLLOWER);
        assert_eq!(not_leader.log_start_offset, -1, "refused before the log");
        // refused by the log's producer state: the log start comes with it, as in Kafka
        s.produce(1, "t", 1, &data_batch(5, 0, 0, 1, false));
        let gap = s.produce(1, "t", 1, &data_batch(5, 0, 3, 1, false));
        assert_eq!(gap.error, codes::OUT_OF_ORDER_SEQUENCE_NUMBER);
        assert_eq!(gap.log_start_offset, 0);
        assert_eq!(
            s.produce(0, "t", 5, &b).error,
            codes::UNKNOWN_TOPIC_OR_PARTITION
        );
        assert_eq!(s.produce(0, "t", 0, &b).base_offset, 0);
        assert_eq!(s.produce(0, "t", 0, &b).base_offset, 4);
        assert_eq!(
            s.produce(0, "t", 0, &b.slice(..20)).error,
            codes::CORRUPT_MESSAGE
        );
        // max.message.bytes: a larger batch is refused and not written.
        s.config.max_message_bytes = Some(b.len() - 1);
        assert_eq!(s.produce(0, "t", 0, &b).error, codes::MESSAGE_TOO_LARGE);
        s.config.max_message_bytes = Some(b.len());
        assert_eq!(s.produce(0, "t", 0, &b).base_offset, 8);
    }

    #[test]
    fn coordinators_follow_the_hash_and_can_move() {
        let mut s = ClusterState::new(3, StateConfig::default());
        let expected = coordinator_partition("tx", TXN_STATE_PARTITIONS) % 3;
        assert_eq!(s.coordinator(1, "tx"), expected);
        s.move_coordinator(1, "tx", (expected + 1) % 3);
        assert_eq!(s.coordinator(1, "tx"), (expected + 1) % 3);
        assert_eq!(s.allocate_producer_id() + 1, s.allocate_producer_id());
    }
}
