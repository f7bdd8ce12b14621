//! FindCoordinator: the group or transaction coordinator of a key, chosen by hash as Kafka
//! does (see [`crate::state::ClusterState::coordinator`]).

use klamm_protocol::messages::find_coordinator::response::Coordinator;
use klamm_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse};

use super::{Api, Ctx};
use crate::codes;

pub(crate) struct FindCoordinator;

/// (error, node, host, port) for one key.
fn lookup(ctx: &Ctx<'_>, key_type: i8, key: &str) -> (i16, i32, String, i32) {
    if key_type != 0 && key_type != 1 {
        return (codes::INVALID_REQUEST, -1, String::new(), -1);
    }
    let node = ctx.inner.state().coordinator(key_type, key);
    match ctx.inner.broker_addr(node) {
        Some(addr) if ctx.inner.broker_up(node) => (
            codes::NONE,
            node,
            addr.ip().to_string(),
            i32::from(addr.port()),
        ),
        _ => (codes::COORDINATOR_NOT_AVAILABLE, -1, String::new(), -1),
    }
}

impl Api for FindCoordinator {
    type Req = FindCoordinatorRequest;
    type Resp = FindCoordinatorResponse;

    async fn handle(ctx: &mut Ctx<'_>, req: Self::Req) -> Option<Self::Resp> {
        if ctx.version >= 4 {
            let coordinators = req
                .coordinator_keys
                .iter()
                .map(|k| {
                    let (error_code, node_id, host, port) = lookup(ctx, req.key_type, k);
                    Coordinator {
                        key: k.clone(),
                        node_id,
                        host,
                        port,
                        error_code,
                        ..Coordinator::default()
                    }
                })
                .collect();
            return Some(FindCoordinatorResponse {
                coordinators,
                ..FindCoordinatorResponse::default()
            });
        }
        let (error_code, node_id, host, port) = lookup(ctx, req.key_type, &req.key);
        Some(FindCoordinatorResponse {
            error_code,
            node_id,
            host,
            port,
            ..FindCoordinatorResponse::default()
        })
    }

    fn error(ctx: &Ctx<'_>, req: &Self::Req, code: i16) -> Self::Resp {
        if ctx.version < 4 {
            return FindCoordinatorResponse {
                error_code: code,
                node_id: -1,
                port: -1,
                ..FindCoordinatorResponse::default()
            };
        }
        FindCoordinatorResponse {
            coordinators: req
                .coordinator_keys
                .iter()
                .map(|k| Coordinator {
                    key: k.clone(),
                    node_id: -1,
                    port: -1,
                    error_code: code,
                    ..Coordinator::default()
                })
                .collect(),
            ..FindCoordinatorResponse::default()
        }
    }

    fn set_throttle(resp: &mut Self::Resp, ms: i32) {
        resp.throttle_time_ms = ms;
    }
}
