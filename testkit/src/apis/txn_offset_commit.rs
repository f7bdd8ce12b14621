//! TxnOffsetCommit: offsets committed inside a transaction, visible in OffsetFetch once the
//! transaction commits, dropped if it aborts.

use klamm_protocol::answers::txn_offset_commit_answer;
use klamm_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::{Api, Ctx};
use crate::codes;
use crate::state::groups::CommittedOffset;

pub(crate) struct TxnOffsetCommit;

impl Api for TxnOffsetCommit {
    type Req = TxnOffsetCommitRequest;
    type Resp = TxnOffsetCommitResponse;

    async fn handle(ctx: &mut Ctx<'_>, req: Self::Req) -> Option<Self::Resp> {
        let mut state = ctx.inner.state();
        let code = if state.coordinator(0, &req.group_id) != ctx.node {
            codes::NOT_COORDINATOR
        } else {
            let offsets = req
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions.iter().map(|p| {
                        (
                            t.name.clone(),
                            p.partition_index,
                            CommittedOffset {
                                offset: p.committed_offset,
                                leader_epoch: p.committed_leader_epoch,
                                metadata: p.committed_metadata.clone(),
                            },
                        )
                    })
                })
                .collect();
            let c = state.txn_offset_commit(
                &req.transactional_id,
                req.producer_id,
                req.producer_epoch,
                &req.group_id,
                offsets,
            );
            // The group coordinator appends with the producer's epoch, so a stale one is
            // refused by the log as INVALID_PRODUCER_EPOCH, as in Kafka.
            if c == codes::PRODUCER_FENCED {
                codes::INVALID_PRODUCER_EPOCH
            } else {
                c
            }
        };
        drop(state);
        Some(Self::error(ctx, &req, code))
    }

    fn error(_ctx: &Ctx<'_>, req: &Self::Req, code: i16) -> Self::Resp {
        txn_offset_commit_answer(req, code)
    }

    fn set_throttle(resp: &mut Self::Resp, ms: i32) {
        resp.throttle_time_ms = ms;
    }
}
