//! Fetch: reads batches of one log segment up to the high watermark (`read_uncommitted`) or
//! the last stable offset (`read_committed`, with the aborted transactions in range, bounded
//! as Kafka bounds them), waits up to
//! `max_wait_ms` for `min_bytes`, and checks leadership and leader epochs. Fetch sessions
//! (KIP-227) are not kept: every response has session id 0, so clients send full fetches.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use klamm_protocol::messages::fetch::response::{
    AbortedTransaction, FetchableTopicResponse, LeaderIdAndEpoch, PartitionData,
};
use klamm_protocol::messages::{FetchRequest, FetchResponse};

use super::{Api, Ctx, ms};
use crate::codes;
use crate::state::ClusterState;

pub(crate) struct Fetch;

/// Longest a fetch waits, whatever the client asks.
const MAX_WAIT_CAP: Duration = Duration::from_secs(30);

fn partition_error(index: i32, code: i16) -> PartitionData {
    PartitionData {
        partition_index: index,
        error_code: code,
        high_watermark: -1,
        last_stable_offset: -1,
        log_start_offset: -1,
        aborted_transactions: None,
        preferred_read_replica: -1,
        records: None,
        ..PartitionData::default()
    }
}

/// Builds the response from the current state; returns it with its record bytes.
fn read(
    state: &ClusterState,
    node: i32,
    version: i16,
    req: &FetchRequest,
) -> (FetchResponse, usize) {
    let committed = req.isolation_level == 1;
    let mut total = 0usize;
    let max_total = usize::try_from(req.max_bytes).unwrap_or(0).max(1);
    let mut responses = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let name = if version >= 13 {
            state.topic_name(&t.topic_id.0).map(str::to_string)
        } else {
            Some(t.topic.clone())
        };
        let partitions = t
            .partitions
            .iter()
            .map(|fp| {
                let Some(name) = &name else {
                    return partition_error(fp.partition, codes::UNKNOWN_TOPIC_ID);
                };
                let Some(p) = state.partition(name, fp.partition) else {
                    return partition_error(fp.partition, codes::UNKNOWN_TOPIC_OR_PARTITION);
                };
                if p.leader != node {
                    let mut e = partition_error(fp.partition, codes::NOT_LEADER_OR_FOLLOWER);
                    if version < 12 {
                        return e;
                    }
                    e.current_leader = LeaderIdAndEpoch {
                        leader_id: p.leader,
                        leader_epoch: p.leader_epoch,
                        ..LeaderIdAndEpoch::default()
                    };
                    return e;
                }
                if fp.current_leader_epoch >= 0 && fp.current_leader_epoch != p.leader_epoch {
                    let code = if fp.current_leader_epoch < p.leader_epoch {
                        codes::FENCED_LEADER_EPOCH
                    } else {
                        codes::UNKNOWN_LEADER_EPOCH
                    };
                    return partition_error(fp.partition, code);
                }
                let log = &p.log;
                let upper = if committed {
                    log.last_stable_offset()
                } else {
                    log.high_watermark()
                };
                let budget = usize::try_from(fp.partition_max_bytes)
                    .unwrap_or(0)
                    .min(max_total.saturating_sub(total));
                let mut batches = match log.read(fp.fetch_offset, budget.max(1), upper) {
                    Ok(b) => b,
                    Err(code) => return partition_error(fp.partition, code),
                };
                if total > 0 && budget == 0 {
                    // The response is full: only the first data may exceed max_bytes (KIP-74).
                    batches.clear();
                }
                let size: usize = batches.iter().map(Bytes::len).sum();
                total += size;
                let records = match batches.len() {
                    0 => Bytes::new(),
                    1 => batches[0].clone(),
                    _ => {
                        let mut buf = BytesMut::with_capacity(size);
                        for b in &batches {
                            buf.extend_from_slice(b);
                        }
                        buf.freeze()
                    }
                };
                let aborted_transactions = committed.then(|| {
                    log.aborted_for_fetch(fp.fetch_offset, upper, size)
                        .into_iter()
                        .map(|a| AbortedTransaction {
                            producer_id: a.producer_id,
                            first_offset: a.first_offset,
                            ..AbortedTransaction::default()
                        })
                        .collect()
                });
                PartitionData {
                    partition_index: fp.partition,
                    error_code: codes::NONE,
                    high_watermark: log.high_watermark(),
                    last_stable_offset: log.last_stable_offset(),
                    log_start_offset: log.log_start_offset(),
                    aborted_transactions,
                    preferred_read_replica: -1,
                    records: Some(records),
                    ..PartitionData::default()
                }
            })
            .collect();
        responses.push(FetchableTopicResponse {
            topic: t.topic.clone(),
            topic_id: t.topic_id,
            partitions,
            ..FetchableTopicResponse::default()
        });
    }
    let resp = FetchResponse {
        error_code: codes::NONE,
        session_id: 0,
        responses,
        ..FetchResponse::default()
    };
    (resp, total)
}

impl Api for Fetch {
    type Req = FetchRequest;
    type Resp = FetchResponse;

    async fn handle(ctx: &mut Ctx<'_>, req: Self::Req) -> Option<Self::Resp> {
        if req.session_epoch > 0 {
            // An incremental fetch of a session this broker never created.
            return Some(FetchResponse {
                error_code: codes::FETCH_SESSION_ID_NOT_FOUND,
                ..FetchResponse::default()
            });
        }
        let deadline = tokio::time::Instant::now() + ms(req.max_wait_ms).min(MAX_WAIT_CAP);
        let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
        loop {
            let notified = ctx.inner.appended.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (resp, bytes) = read(&ctx.inner.state(), ctx.node, ctx.version, &req);
            let has_error = resp
                .responses
                .iter()
                .flat_map(|t| &t.partitions)
                .any(|p| p.error_code != codes::NONE);
            if bytes >= min_bytes || has_error || tokio::time::Instant::now() >= deadline {
                return Some(resp);
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    fn error(_ctx: &Ctx<'_>, req: &Self::Req, code: i16) -> Self::Resp {
        FetchResponse {
            error_code: code,
            responses: req
                .topics
                .iter()
                .map(|t| FetchableTopicResponse {
                    topic: t.topic.clone(),
                    topic_id: t.topic_id,
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| partition_error(p.partition, code))
                        .collect(),
                    ..FetchableTopicResponse::default()
                })
                .collect(),
            ..FetchResponse::default()
        }
    }

    fn set_throttle(resp: &mut Self::Resp, ms: i32) {
        resp.throttle_time_ms = ms;
    }
}
