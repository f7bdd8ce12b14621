//! AddPartitionsToTxn: adds partitions to the ongoing transaction (v0-3, from clients), or
//! adds/verifies them for many transactions at once (v4+, KIP-890's broker form).

use klamm_protocol::answers::add_partitions_results;
use klamm_protocol::messages::add_partitions_to_txn::request::AddPartitionsToTxnTopic;
use klamm_protocol::messages::add_partitions_to_txn::response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use klamm_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

use super::{Api, Ctx, fenced_for_version, now_ms};
use crate::codes;

pub(crate) struct AddPartitionsToTxn;

fn flatten(topics: &[AddPartitionsToTxnTopic]) -> Vec<(String, i32)> {
    topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), *p)))
        .collect()
}

/// Groups per-partition codes back into topics, in request order.
fn results(codes: Vec<((String, i32), i16)>) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut out: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for ((topic, partition), code) in codes {
        let r = AddPartitionsToTxnPartitionResult {
            partition_index: partition,
            partition_error_code: code,
            ..AddPartitionsToTxnPartitionResult::default()
        };
        match out.iter_mut().find(|t| t.name == topic) {
            Some(t) => t.results_by_partition.push(r),
            None => out.push(AddPartitionsToTxnTopicResult {
                name: topic,
                results_by_partition: vec![r],
                ..AddPartitionsToTxnTopicResult::default()
            }),
        }
    }
    out
}

/// Adds (or with `verify_only` checks) one transaction's partitions.
fn one(
    ctx: &Ctx<'_>,
    txn_id: &str,
    producer_id: i64,
    epoch: i16,
    verify_only: bool,
    topics: &[AddPartitionsToTxnTopic],
) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut state = ctx.inner.state();
    if state.coordinator(1, txn_id) != ctx.node {
        return add_partitions_results(topics, codes::NOT_COORDINATOR);
    }
    let parts = flatten(topics);
    let codes = if verify_only {
        parts
            .into_iter()
            .map(|(t, p)| {
                let code = state
                    .txns
                    .verify_produce(Some(txn_id), producer_id, epoch, &t, p)
                    .err()
                    .unwrap_or(codes::NONE);
                ((t, p), code)
            })
            .collect()
    } else {
        state.add_partitions_to_txn(
            txn_id,
            producer_id,
            epoch,
            &parts,
            crate::apis::now(),
            now_ms(),
        )
    };
    drop(state);
    // A transaction completed on the way may have written markers.
    ctx.inner.appended.notify_waiters();
    let version = ctx.version;
    results(
        codes
            .into_iter()
            .map(|(tp, c)| (tp, fenced_for_version(c, version, 2)))
            .collect(),
    )
}

impl Api for AddPartitionsToTxn {
    type Req = AddPartitionsToTxnRequest;
    type Resp = AddPartitionsToTxnResponse;

    async fn handle(ctx: &mut Ctx<'_>, req: Self::Req) -> Option<Self::Resp> {
        if ctx.version <= 3 {
            let r = one(
                ctx,
                &req.v3_and_below_transactional_id,
                req.v3_and_below_producer_id,
                req.v3_and_below_producer_epoch,
                false,
                &req.v3_and_below_topics,
            );
            return Some(AddPartitionsToTxnResponse {
                results_by_topic_v3_and_below: r,
                ..AddPartitionsToTxnResponse::default()
            });
        }
        let results_by_transaction = req
            .transactions
            .iter()
            .map(|t| AddPartitionsToTxnResult {
                transactional_id: t.transactional_id.clone(),
                topic_results: one(
                    ctx,
                    &t.transactional_id,
                    t.producer_id,
                    t.producer_epoch,
                    t.verify_only,
                    &t.topics,
                ),
                ..AddPartitionsToTxnResult::default()
            })
            .collect();
        Some(AddPartitionsToTxnResponse {
            results_by_transaction,
            ..AddPartitionsToTxnResponse::default()
        })
    }

    fn error(ctx: &Ctx<'_>, req: &Self::Req, code: i16) -> Self::Resp {
        if ctx.version <= 3 {
            return AddPartitionsToTxnResponse {
                results_by_topic_v3_and_below: add_partitions_results(
                    &req.v3_and_below_topics,
                    code,
                ),
                ..AddPartitionsToTxnResponse::default()
            };
        }
        AddPartitionsToTxnResponse {
            error_code: code,
            results_by_transaction: req
                .transactions
                .iter()
                .map(|t| AddPartitionsToTxnResult {
                    transactional_id: t.transactional_id.clone(),
                    topic_results: add_partitions_results(&t.topics, code),
                    ..AddPartitionsToTxnResult::default()
                })
                .collect(),
            ..AddPartitionsToTxnResponse::default()
        }
    }

    fn set_throttle(resp: &mut Self::Resp, ms: i32) {
        resp.throttle_time_ms = ms;
    }
}
