//! Answers that give every partition of a request the same error code.
//!
//! A broker that refuses a whole request (not the coordinator, a fenced epoch, a concurrent
//! transaction) still answers per partition, naming each partition the request named, in the
//! request's order. Brokers, fakes and tests all need these; they are written once here.

use crate::messages::TxnOffsetCommitRequest;
use crate::messages::TxnOffsetCommitResponse;
use crate::messages::add_partitions_to_txn::request::AddPartitionsToTxnTopic;
use crate::messages::add_partitions_to_txn::response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use crate::messages::txn_offset_commit::response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};

/// AddPartitionsToTxn's per-topic results for `topics` (the v0-3 request's topics, or one
/// transaction's topics in v4+): `error_code` for every partition.
///
/// Each topic and partition appears once, in the order the request first names it: Kafka
/// builds the answer from a map keyed by partition, so a repeated entry is answered once.
///
/// ```
/// use klamm_protocol::answers::add_partitions_results;
/// use klamm_protocol::messages::add_partitions_to_txn::request::AddPartitionsToTxnTopic;
///
/// let topics = vec![AddPartitionsToTxnTopic {
///     name: "orders".into(),
///     partitions: vec![0, 2],
///     ..Default::default()
/// }];
/// let results = add_partitions_results(&topics, 16); // NOT_COORDINATOR
/// assert_eq!(results[0].results_by_partition[1].partition_index, 2);
/// assert_eq!(results[0].results_by_partition[1].partition_error_code, 16);
/// ```
pub fn add_partitions_results(
    topics: &[AddPartitionsToTxnTopic],
    error_code: i16,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut out: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for t in topics {
        let results = &mut entry(
            &mut out,
            |r| r.name == t.name,
            || AddPartitionsToTxnTopicResult {
                name: t.name.clone(),
                ..Default::default()
            },
        )
        .results_by_partition;
        for &partition_index in &t.partitions {
            if !results.iter().any(|r| r.partition_index == partition_index) {
                results.push(AddPartitionsToTxnPartitionResult {
                    partition_index,
                    partition_error_code: error_code,
                    ..Default::default()
                });
            }
        }
    }
    out
}

/// TxnOffsetCommit's answer to `request`: `error_code` for every partition, each topic and
/// partition once, in the order the request first names it (as [`add_partitions_results`]).
///
/// ```
/// use klamm_protocol::answers::txn_offset_commit_answer;
/// use klamm_protocol::messages::TxnOffsetCommitRequest;
/// use klamm_protocol::messages::txn_offset_commit::request::{
///     TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
/// };
///
/// let request = TxnOffsetCommitRequest {
///     topics: vec![TxnOffsetCommitRequestTopic {
///         name: "orders".into(),
///         partitions: vec![TxnOffsetCommitRequestPartition { partition_index: 1, ..Default::default() }],
///         ..Default::default()
///     }],
///     ..Default::default()
/// };
/// let answer = txn_offset_commit_answer(&request, 51); // CONCURRENT_TRANSACTIONS
/// assert_eq!(answer.topics[0].partitions[0].error_code, 51);
/// ```
pub fn txn_offset_commit_answer(
    request: &TxnOffsetCommitRequest,
    error_code: i16,
) -> TxnOffsetCommitResponse {
    let mut topics: Vec<TxnOffsetCommitResponseTopic> = Vec::new();
    for t in &request.topics {
        let partitions = &mut entry(
            &mut topics,
            |r| r.name == t.name,
            || TxnOffsetCommitResponseTopic {
                name: t.name.clone(),
                ..Default::default()
            },
        )
        .partitions;
        for p in &t.partitions {
            if !partitions
                .iter()
                .any(|r| r.partition_index == p.partition_index)
            {
                partitions.push(TxnOffsetCommitResponsePartition {
                    partition_index: p.partition_index,
                    error_code,
                    ..Default::default()
                });
            }
        }
    }
    TxnOffsetCommitResponse {
        topics,
        ..Default::default()
    }
}

/// The first item of `items` that `matches`, appended from `make` when there is none.
fn entry<T>(items: &mut Vec<T>, matches: impl Fn(&T) -> bool, make: impl FnOnce() -> T) -> &mut T {
    let at = match items.iter().position(matches) {
        Some(at) => at,
        None => {
            items.push(make());
            items.len() - 1
        }
    };
    &mut items[at]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::txn_offset_commit::request::{
        TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };

    fn topic(name: &str, partitions: &[i32]) -> AddPartitionsToTxnTopic {
        AddPartitionsToTxnTopic {
            name: name.into(),
            partitions: partitions.to_vec(),
            ..Default::default()
        }
    }

    fn codes(results: &[AddPartitionsToTxnTopicResult]) -> Vec<(String, i32, i16)> {
        results
            .iter()
            .flat_map(|t| {
                t.results_by_partition
                    .iter()
                    .map(|p| (t.name.clone(), p.partition_index, p.partition_error_code))
            })
            .collect()
    }

    #[test]
    fn every_partition_gets_the_code_once_in_request_order() {
        let topics = [topic("b", &[2, 0]), topic("a", &[1]), topic("b", &[0, 3])];
        let got = add_partitions_results(&topics, 16);
        assert_eq!(got.len(), 2, "one result per topic");
        assert_eq!(
            codes(&got),
            [("b", 2), ("b", 0), ("b", 3), ("a", 1)]
                .map(|(t, p)| (t.to_owned(), p, 16))
                .to_vec()
        );
        assert!(add_partitions_results(&[], 16).is_empty());
    }

    #[test]
    fn txn_offset_commit_answer_names_every_requested_partition() {
        let part = |partition_index| TxnOffsetCommitRequestPartition {
            partition_index,
            ..Default::default()
        };
        let request = TxnOffsetCommitRequest {
            topics: vec![
                TxnOffsetCommitRequestTopic {
                    name: "x".into(),
                    partitions: vec![part(4), part(1)],
                    ..Default::default()
                },
                TxnOffsetCommitRequestTopic {
                    name: "x".into(),
                    partitions: vec![part(1), part(7)],
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let got = txn_offset_commit_answer(&request, 51);
        assert_eq!(got.topics.len(), 1);
        let parts: Vec<(i32, i16)> = got.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.error_code))
            .collect();
        assert_eq!(parts, [(4, 51), (1, 51), (7, 51)]);
    }
}
