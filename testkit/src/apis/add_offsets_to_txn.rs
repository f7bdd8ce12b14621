//! AddOffsetsToTxn: adds a group's offsets partition to the transaction, so that
//! TxnOffsetCommit may follow.

use klamm_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::{Api, Ctx, fenced_for_version, now_ms};
use crate::codes;

pub(crate) struct AddOffsetsToTxn;

impl Api for AddOffsetsToTxn {
    type Req = AddOffsetsToTxnRequest;
    type Resp = AddOffsetsToTxnResponse;

    async fn handle(ctx: &mut Ctx<'_>, req: Self::Req) -> Option<Self::Resp> {
        let mut state = ctx.inner.state();
        let code = if state.coordinator(1, &req.transactional_id) != ctx.node {
            codes::NOT_COORDINATOR
        } else {
            state.add_offsets_to_txn(
                &req.transactional_id,
                req.producer_id,
                req.producer_epoch,
                &req.group_id,
                crate::apis::now(),
                now_ms(),
            )
        };
        Some(Self::error(
            ctx,
            &req,
            fenced_for_version(code, ctx.version, 2),
        ))
    }

    fn error(_ctx: &Ctx<'_>, _req: &Self::Req, code: i16) -> Self::Resp {
        AddOffsetsToTxnResponse {
            error_code: code,
            ..AddOffsetsToTxnResponse::default()
        }
    }

    fn set_throttle(resp: &mut Self::Resp, ms: i32) {
        resp.throttle_time_ms = ms;
    }
}
