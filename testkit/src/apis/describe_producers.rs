//! DescribeProducers (KIP-664): the idempotent/transactional producers with state on each
//! partition, as the partition leader knows them.

use klamm_protocol::messages::describe_producers::response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use klamm_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse};

use super::{Api, Ctx};
use crate::codes;

pub(crate) struct DescribeProducers;

fn partition_error(index: i32, code: i16) -> PartitionResponse {
    PartitionResponse {
        partition_index: index,
        error_code: code,
        ..PartitionResponse::default()
    }
}

impl Api for DescribeProducers {
    type Req = DescribeProducersRequest;
    type Resp = DescribeProducersResponse;

    async fn handle(ctx: &mut Ctx<'_>, req: Self::Req) -> Option<Self::Resp> {
        let state = ctx.inner.state();
        let topics = req
            .topics
            .iter()
            .map(|t| TopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partition_indexes
                    .iter()
                    .map(|&i| {
                        let Some(p) = state.partition(&t.name, i) else {
                            return partition_error(i, codes::UNKNOWN_TOPIC_OR_PARTITION);
                        };
                        if p.leader != ctx.node {
                            return partition_error(i, codes::NOT_LEADER_OR_FOLLOWER);
                        }
                        PartitionResponse {
                            partition_index: i,
                            error_code: codes::NONE,
                            active_producers: p
                                .log
                                .producers()
                                .into_iter()
                                .map(|s| ProducerState {
                                    producer_id: s.producer_id,
                                    producer_epoch: i32::from(s.epoch),
                                    last_sequence: s.last_sequence,
                                    last_timestamp: s.last_timestamp,
                                    coordinator_epoch: 0,
                                    current_txn_start_offset: s.txn_start_offset,
                                    ..ProducerState::default()
                                })
                                .collect(),
                            ..PartitionResponse::default()
                        }
                    })
                    .collect(),
                ..TopicResponse::default()
            })
            .collect();
        Some(DescribeProducersResponse {
            topics,
            ..DescribeProducersResponse::default()
        })
    }

    fn error(_ctx: &Ctx<'_>, req: &Self::Req, code: i16) -> Self::Resp {
        DescribeProducersResponse {
            topics: req
                .topics
                .iter()
                .map(|t| TopicResponse {
                    name: t.name.clone(),
                    partitions: t
                        .partition_indexes
                        .iter()
                        .map(|&i| partition_error(i, code))
                        .collect(),
                    ..TopicResponse::default()
                })
                .collect(),
            ..DescribeProducersResponse::default()
        }
    }

    fn set_throttle(resp: &mut Self::Resp, ms: i32) {
        resp.throttle_time_ms = ms;
    }
}
