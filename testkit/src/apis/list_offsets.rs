//! ListOffsets: earliest (-2), latest (-1, the LSO for `read_committed`), max timestamp (-3)
//! or the first offset at a timestamp.

use klamm_protocol::messages::list_offsets::response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use klamm_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::{Api, Ctx};
use crate::codes;

pub(crate) struct ListOffsets;

fn partition_error(index: i32, code: i16) -> ListOffsetsPartitionResponse {
    ListOffsetsPartitionResponse {
        partition_index: index,
        error_code: code,
        timestamp: -1,
        offset: -1,
        leader_epoch: -1,
        ..ListOffsetsPartitionResponse::default()
    }
}

impl Api for ListOffsets {
    type Req = ListOffsetsRequest;
    type Resp = ListOffsetsResponse;

    async fn handle(ctx: &mut Ctx<'_>, req: Self::Req) -> Option<Self::Resp> {
        let state = ctx.inner.state();
        let topics = req
            .topics
            .iter()
            .map(|t| ListOffsetsTopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|lp| {
                        let Some(p) = state.partition(&t.name, lp.partition_index) else {
                            return partition_error(
                                lp.partition_index,
                                codes::UNKNOWN_TOPIC_OR_PARTITION,
                            );
                        };
                        if p.leader != ctx.node {
                            return partition_error(
                                lp.partition_index,
                                codes::NOT_LEADER_OR_FOLLOWER,
                            );
                        }
                        if lp.current_leader_epoch >= 0 && lp.current_leader_epoch != p.leader_epoch
                        {
                            let code = if lp.current_leader_epoch < p.leader_epoch {
                                codes::FENCED_LEADER_EPOCH
                            } else {
                                codes::UNKNOWN_LEADER_EPOCH
                            };
                            return partition_error(lp.partition_index, code);
                        }
                        let latest = if req.isolation_level == 1 {
                            p.log.last_stable_offset()
                        } else {
                            p.log.high_watermark()
                        };
                        let (offset, timestamp) = p.log.offset_for(lp.timestamp, latest);
                        ListOffsetsPartitionResponse {
                            partition_index: lp.partition_index,
                            error_code: codes::NONE,
                            timestamp,
                            offset,
                            // v4+ only (the field is not ignorable).
                            leader_epoch: if ctx.version >= 4 { p.leader_epoch } else { -1 },
                            ..ListOffsetsPartitionResponse::default()
                        }
                    })
                    .collect(),
                ..ListOffsetsTopicResponse::default()
            })
            .collect();
        Some(ListOffsetsResponse {
            topics,
            ..ListOffsetsResponse::default()
        })
    }

    fn error(_ctx: &Ctx<'_>, req: &Self::Req, code: i16) -> Self::Resp {
        ListOffsetsResponse {
            topics: req
                .topics
                .iter()
                .map(|t| ListOffsetsTopicResponse {
                    name: t.name.clone(),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| partition_error(p.partition_index, code))
                        .collect(),
                    ..ListOffsetsTopicResponse::default()
                })
                .collect(),
            ..ListOffsetsResponse::default()
        }
    }

    fn set_throttle(resp: &mut Self::Resp, ms: i32) {
        resp.throttle_time_ms = ms;
    }
}
