//! InitProducerId: a producer id for idempotent producers; for transactional ones, the
//! coordinator's id and a bumped epoch (fencing older instances, aborting their open
//! transaction).

use klamm_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};

use super::{Api, Ctx, fenced_for_version, now_ms};
use crate::codes;

pub(crate) struct InitProducerId;

impl Api for InitProducerId {
    type Req = InitProducerIdRequest;
    type Resp = InitProducerIdResponse;

    async fn handle(ctx: &mut Ctx<'_>, req: Self::Req) -> Option<Self::Resp> {
        let mut state = ctx.inner.state();
        if let Some(id) = &req.transactional_id
            && state.coordinator(1, id) != ctx.node
        {
            drop(state);
            return Some(Self::error(ctx, &req, codes::NOT_COORDINATOR));
        }
        let expected = (ctx.version >= 3 && req.producer_id >= 0)
            .then_some((req.producer_id, req.producer_epoch));
        let result = state.init_producer_id(
            req.transactional_id.as_deref(),
            req.transaction_timeout_ms,
            expected,
            crate::apis::now(),
            now_ms(),
        );
        drop(state);
        ctx.inner.appended.notify_waiters();
        Some(match result {
            Ok((producer_id, producer_epoch)) => InitProducerIdResponse {
                error_code: codes::NONE,
                producer_id,
                producer_epoch,
                ..InitProducerIdResponse::default()
            },
            Err(code) => Self::error(ctx, &req, fenced_for_version(code, ctx.version, 4)),
        })
    }

    fn error(_ctx: &Ctx<'_>, _req: &Self::Req, code: i16) -> Self::Resp {
        InitProducerIdResponse {
            error_code: code,
            producer_id: -1,
            producer_epoch: -1,
            ..InitProducerIdResponse::default()
        }
    }

    fn set_throttle(resp: &mut Self::Resp, ms: i32) {
        resp.throttle_time_ms = ms;
    }
}
