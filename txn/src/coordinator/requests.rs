//! Building the coordinator requests and reading their answers (pure functions).

use std::collections::BTreeMap;

use klamm_producer::idempotence::{ProducerIdEpoch, TopicPartition};
use klamm_protocol::error_code::ErrorCode;
use klamm_protocol::messages::add_partitions_to_txn::request::AddPartitionsToTxnTopic;
use klamm_protocol::messages::txn_offset_commit::request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use klamm_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, EndTxnRequest,
    FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest, TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
};

/// FindCoordinator key type of a consumer group.
pub(crate) const KEY_TYPE_GROUP: i8 = 0;
/// FindCoordinator key type of a transactional id.
pub(crate) const KEY_TYPE_TRANSACTION: i8 = 1;

/// The consumer group a transaction commits offsets for (Java's `ConsumerGroupMetadata`).
/// With a generation and member id (KIP-447, TxnOffsetCommit v3+) the group coordinator
/// refuses offsets from a consumer that lost its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    /// The group id.
    pub group_id: String,
    /// The consumer's generation, or -1 when unknown.
    pub generation_id: i32,
    /// The consumer's member id, or empty when unknown.
    pub member_id: String,
    /// The static member id (`group.instance.id`), if any.
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// Metadata naming only the group (no generation check).
    pub fn new(group_id: impl Into<String>) -> Self {
        ConsumerGroupMetadata {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// An offset to commit with the transaction: the next offset the consumer will read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    /// The offset.
    pub offset: i64,
    /// The leader epoch of the last consumed record, if known.
    pub leader_epoch: Option<i32>,
    /// Free-form metadata stored with the offset.
    pub metadata: Option<String>,
}

impl OffsetAndMetadata {
    /// An offset without leader epoch or metadata.
    pub fn new(offset: i64) -> Self {
        OffsetAndMetadata {
            offset,
            leader_epoch: None,
            metadata: None,
        }
    }
}

pub(crate) fn find_coordinator(key: &str, key_type: i8) -> FindCoordinatorRequest {
    // versions 0-3 carry `key`, 4+ `coordinator_keys`: fill both, the encoder writes one
    FindCoordinatorRequest {
        key: key.to_owned(),
        key_type,
        coordinator_keys: vec![key.to_owned()],
        ..Default::default()
    }
}

/// The node id (or the error code) for `key`.
pub(crate) fn parse_find_coordinator(
    resp: &FindCoordinatorResponse,
    key: &str,
) -> Result<i32, ErrorCode> {
    let (code, node) = match resp.coordinators.iter().find(|c| c.key == key) {
        Some(c) => (c.error_code, c.node_id),
        None if !resp.coordinators.is_empty() => {
            // a batched answer without our key: treat as "not available", ask again
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        None => (resp.error_code, resp.node_id),
    };
    ErrorCode::from_i16(code).into_result()?;
    if node < 0 {
        return Err(ErrorCode::CoordinatorNotAvailable);
    }
    Ok(node)
}

pub(crate) fn init_producer_id(
    transactional_id: &str,
    transaction_timeout_ms: i32,
    current: Option<ProducerIdEpoch>,
) -> InitProducerIdRequest {
    let (producer_id, producer_epoch) = current.map_or((-1, -1), |p| (p.id, p.epoch));
    InitProducerIdRequest {
        transactional_id: Some(transactional_id.to_owned()),
        transaction_timeout_ms,
        producer_id,
        producer_epoch,
        ..Default::default()
    }
}

pub(crate) fn add_partitions(
    transactional_id: &str,
    producer: ProducerIdEpoch,
    partitions: &[TopicPartition],
) -> AddPartitionsToTxnRequest {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        topics.entry(&tp.topic).or_default().push(tp.partition);
    }
    AddPartitionsToTxnRequest {
        v3_and_below_transactional_id: transactional_id.to_owned(),
        v3_and_below_producer_id: producer.id,
        v3_and_below_producer_epoch: producer.epoch,
        v3_and_below_topics: topics
            .into_iter()
            .map(|(name, partitions)| AddPartitionsToTxnTopic {
                name: name.to_owned(),
                partitions,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Per partition error codes of an AddPartitionsToTxn answer. A partition of the request
/// missing from the answer gets UNKNOWN_SERVER_ERROR (the broker broke the protocol).
pub(crate) fn parse_add_partitions(
    resp: &AddPartitionsToTxnResponse,
    transactional_id: &str,
    asked: &[TopicPartition],
) -> Vec<(TopicPartition, ErrorCode)> {
    let top = ErrorCode::from_i16(resp.error_code);
    let topic_results = if resp.results_by_transaction.is_empty() {
        &resp.results_by_topic_v3_and_below
    } else {
        match resp
            .results_by_transaction
            .iter()
            .find(|r| r.transactional_id == transactional_id)
        {
            Some(r) => &r.topic_results,
            None => &resp.results_by_topic_v3_and_below,
        }
    };
    let mut codes: BTreeMap<(&str, i32), ErrorCode> = BTreeMap::new();
    for t in topic_results {
        for p in &t.results_by_partition {
            codes.insert(
                (&t.name, p.partition_index),
                ErrorCode::from_i16(p.partition_error_code),
            );
        }
    }
    asked
        .iter()
        .map(|tp| {
            let code = if top.is_err() {
                top
            } else {
                codes
                    .get(&(&*tp.topic, tp.partition))
                    .copied()
                    .unwrap_or(ErrorCode::UnknownServerError)
            };
            (tp.clone(), code)
        })
        .collect()
}

pub(crate) fn add_offsets(
    transactional_id: &str,
    producer: ProducerIdEpoch,
    group_id: &str,
) -> AddOffsetsToTxnRequest {
    AddOffsetsToTxnRequest {
        transactional_id: transactional_id.to_owned(),
        producer_id: producer.id,
        producer_epoch: producer.epoch,
        group_id: group_id.to_owned(),
        ..Default::default()
    }
}

pub(crate) fn txn_offset_commit(
    transactional_id: &str,
    producer: ProducerIdEpoch,
    group: &ConsumerGroupMetadata,
    offsets: &[(TopicPartition, OffsetAndMetadata)],
) -> TxnOffsetCommitRequest {
    let mut topics: BTreeMap<&str, Vec<TxnOffsetCommitRequestPartition>> = BTreeMap::new();
    for (tp, om) in offsets {
        topics
            .entry(&tp.topic)
            .or_default()
            .push(TxnOffsetCommitRequestPartition {
                partition_index: tp.partition,
                committed_offset: om.offset,
                committed_leader_epoch: om.leader_epoch.unwrap_or(-1),
                committed_metadata: om.metadata.clone(),
                ..Default::default()
            });
    }
    TxnOffsetCommitRequest {
        transactional_id: transactional_id.to_owned(),
        group_id: group.group_id.clone(),
        producer_id: producer.id,
        producer_epoch: producer.epoch,
        generation_id: group.generation_id,
        member_id: group.member_id.clone(),
        group_instance_id: group.group_instance_id.clone(),
        topics: topics
            .into_iter()
            .map(|(name, partitions)| TxnOffsetCommitRequestTopic {
                name: name.to_owned(),
                partitions,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Per partition error codes of a TxnOffsetCommit answer (missing ones: UNKNOWN_SERVER_ERROR).
pub(crate) fn parse_txn_offset_commit(
    resp: &TxnOffsetCommitResponse,
    asked: &[(TopicPartition, OffsetAndMetadata)],
) -> Vec<(TopicPartition, ErrorCode)> {
    let mut codes: BTreeMap<(&str, i32), ErrorCode> = BTreeMap::new();
    for t in &resp.topics {
        for p in &t.partitions {
            codes.insert(
                (&t.name, p.partition_index),
                ErrorCode::from_i16(p.error_code),
            );
        }
    }
    asked
        .iter()
        .map(|(tp, _)| {
            let code = codes
                .get(&(&*tp.topic, tp.partition))
                .copied()
                .unwrap_or(ErrorCode::UnknownServerError);
            (tp.clone(), code)
        })
        .collect()
}

pub(crate) fn end_txn(
    transactional_id: &str,
    producer: ProducerIdEpoch,
    committed: bool,
) -> EndTxnRequest {
    EndTxnRequest {
        transactional_id: transactional_id.to_owned(),
        producer_id: producer.id,
        producer_epoch: producer.epoch,
        committed,
        ..Default::default()
    }
}

/// A topic-partition from a topic name and partition index.
#[cfg(test)]
pub(crate) fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition {
        topic: std::sync::Arc::from(topic),
        partition,
    }
}
