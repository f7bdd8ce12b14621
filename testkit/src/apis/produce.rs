//! Produce: appends each partition's batch through the idempotence and transaction checks,
//! answers acks 0/1/all (every replica is in memory, so 1 and all are the same), and applies
//! the client's produce byte-rate quota as measured by the receiving broker. A transactional Produce v12 adds its partitions to
//! the transaction first (KIP-890 part 2; refused with UNSUPPORTED_VERSION while the finalized
//! `transaction.version` is below 2).

use klamm_protocol::messages::produce::response::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use klamm_protocol::messages::{ProduceRequest, ProduceResponse};

use super::{Api, Ctx, mono_ms};
use crate::codes;
use crate::state::batch::first_batch_is_transactional;
use crate::state::txn_v2::ImplicitAdd;

pub(crate) struct Produce;

fn partition_error(index: i32, code: i16, message: Option<String>) -> PartitionProduceResponse {
    PartitionProduceResponse {
        index,
        error_code: code,
        base_offset: -1,
        log_append_time_ms: -1,
        log_start_offset: -1,
        error_message: message,
        ..PartitionProduceResponse::default()
    }
}

impl Api for Produce {
    type Req = ProduceRequest;
    type Resp = ProduceResponse;

    async fn handle(ctx: &mut Ctx<'_>, req: Self::Req) -> Option<Self::Resp> {
        // Transactional records without a transactional id fail the write authorization of
        // the (absent) transactional id before anything else, as in Kafka's KafkaApis.
        let transactional_records =
            req.topic_data
                .iter()
                .flat_map(|t| &t.partition_data)
                .any(|p| {
                    p.records
                        .as_deref()
                        .is_some_and(first_batch_is_transactional)
                });
        if transactional_records && req.transactional_id.is_none() {
            return Some(Self::error(
                ctx,
                &req,
                codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            ));
        }
        if !matches!(req.acks, -1..=1) {
            return Some(Self::error(ctx, &req, codes::INVALID_REQUIRED_ACKS));
        }
        let mut leaders_moved = Vec::new();
        let mut responses = Vec::with_capacity(req.topic_data.len());
        let throttle;
        let mut duplicates = 0u64;
        // KIP-890 part 2: a transactional Produce v12 adds its partitions to the transaction
        let (now, now_ms) = (crate::apis::now(), super::now_ms());
        let implicit_add = req
            .transactional_id
            .as_deref()
            .filter(|_| ctx.version >= 12)
            .map(|transactional_id| ImplicitAdd {
                transactional_id,
                now,
                now_ms,
            });
        {
            let mut state = ctx.inner.state();
            for t in &req.topic_data {
                let mut partition_responses = Vec::with_capacity(t.partition_data.len());
                for p in &t.partition_data {
                    let records = p.records.clone().unwrap_or_default();
                    let r = state.produce_in(
                        ctx.node,
                        &t.name,
                        p.index,
                        &records,
                        req.transactional_id.as_deref(),
                        implicit_add,
                    );
                    duplicates += u64::from(r.duplicate);
                    let mut resp = if r.error == codes::NONE {
                        PartitionProduceResponse {
                            index: p.index,
                            error_code: codes::NONE,
                            base_offset: r.base_offset,
                            log_append_time_ms: -1,
                            log_start_offset: r.log_start_offset,
                            ..PartitionProduceResponse::default()
                        }
                    } else {
                        tracing::debug!(topic = %t.name, partition = p.index, code = r.error, msg = ?r.message, "produce refused");
                        PartitionProduceResponse {
                            // Kafka reports the log start with errors found while appending.
                            log_start_offset: r.log_start_offset,
                            ..partition_error(p.index, r.error, r.message)
                        }
                    };
                    if r.error == codes::NOT_LEADER_OR_FOLLOWER
                        && ctx.version >= 10
                        && let Some(part) = state.partition(&t.name, p.index)
                    {
                        // KIP-951: tell the client where the leader went.
                        resp.current_leader = LeaderIdAndEpoch {
                            leader_id: part.leader,
                            leader_epoch: part.leader_epoch,
                            ..LeaderIdAndEpoch::default()
                        };
                        leaders_moved.push(part.leader);
                    }
                    partition_responses.push(resp);
                }
                responses.push(TopicProduceResponse {
                    name: t.name.clone(),
                    partition_responses,
                    ..TopicProduceResponse::default()
                });
            }
            throttle =
                state
                    .quotas
                    .record_produce(ctx.node, ctx.client_id, ctx.request_size, mono_ms());
        }
        ctx.inner.appended.notify_waiters();
        if duplicates > 0 {
            ctx.inner
                .observations()
                .count_duplicate_batches(ctx.node, duplicates);
        }
        ctx.quota_throttle_ms = throttle;
        if req.acks == 0 {
            // Kafka closes the connection when an acks=0 produce fails: the only signal the
            // client gets.
            ctx.close_after = responses
                .iter()
                .flat_map(|t| &t.partition_responses)
                .any(|p| p.error_code != codes::NONE);
            return None;
        }
        leaders_moved.sort_unstable();
        leaders_moved.dedup();
        let node_endpoints = if ctx.version >= 10 {
            leaders_moved
                .into_iter()
                .filter_map(|n| {
                    let addr = ctx.inner.broker_addr(n)?;
                    Some(NodeEndpoint {
                        node_id: n,
                        host: addr.ip().to_string(),
                        port: i32::from(addr.port()),
                        rack: None,
                        ..NodeEndpoint::default()
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        Some(ProduceResponse {
            responses,
            node_endpoints,
            ..ProduceResponse::default()
        })
    }

    fn error(_ctx: &Ctx<'_>, req: &Self::Req, code: i16) -> Self::Resp {
        ProduceResponse {
            responses: req
                .topic_data
                .iter()
                .map(|t| TopicProduceResponse {
                    name: t.name.clone(),
                    partition_responses: t
                        .partition_data
                        .iter()
                        .map(|p| partition_error(p.index, code, None))
                        .collect(),
                    ..TopicProduceResponse::default()
                })
                .collect(),
            ..ProduceResponse::default()
        }
    }

    fn set_throttle(resp: &mut Self::Resp, ms: i32) {
        resp.throttle_time_ms = ms;
    }

    fn expects_response(req: &Self::Req) -> bool {
        req.acks != 0
    }
}
