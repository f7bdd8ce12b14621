//! EndTxn: commits or aborts the transaction, writing COMMIT/ABORT markers on every partition
//! in it (after the configured marker delay, during which requests get
//! CONCURRENT_TRANSACTIONS). EndTxn v5 (KIP-890 part 2) also bumps the epoch, writes the
//! markers with the new one and returns it.

use klamm_protocol::messages::{EndTxnRequest, EndTxnResponse};

use super::{Api, Ctx, fenced_for_version, now_ms};
use crate::codes;

pub(crate) struct EndTxn;

impl Api for EndTxn {
    type Req = EndTxnRequest;
    type Resp = EndTxnResponse;

    async fn handle(ctx: &mut Ctx<'_>, req: Self::Req) -> Option<Self::Resp> {
        let mut state = ctx.inner.state();
        let code = if state.coordinator(1, &req.transactional_id) != ctx.node {
            codes::NOT_COORDINATOR
        } else if ctx.version >= 5 {
            // KIP-890 part 2: the version decides, as in Kafka (`isTransactionV2Enabled`)
            let r = state.end_txn_v2(
                &req.transactional_id,
                req.producer_id,
                req.producer_epoch,
                req.committed,
                crate::apis::now(),
                now_ms(),
            );
            drop(state);
            ctx.inner.appended.notify_waiters();
            return Some(match r {
                Ok((producer_id, producer_epoch)) => EndTxnResponse {
                    error_code: codes::NONE,
                    producer_id,
                    producer_epoch,
                    ..EndTxnResponse::default()
                },
                Err(code) => Self::error(ctx, &req, code),
            });
        } else {
            state.end_txn(
                &req.transactional_id,
                req.producer_id,
                req.producer_epoch,
                req.committed,
                crate::apis::now(),
                now_ms(),
            )
        };
        drop(state);
        ctx.inner.appended.notify_waiters();
        Some(Self::error(
            ctx,
            &req,
            fenced_for_version(code, ctx.version, 2),
        ))
    }

    fn error(_ctx: &Ctx<'_>, _req: &Self::Req, code: i16) -> Self::Resp {
        EndTxnResponse {
            error_code: code,
            producer_id: -1,
            producer_epoch: -1,
            ..EndTxnResponse::default()
        }
    }

    fn set_throttle(resp: &mut Self::Resp, ms: i32) {
        resp.throttle_time_ms = ms;
    }
}
