//! OffsetFetch: committed offsets of one group (v1-7) or many (v8+); with `require_stable`
//! (v7+) a partition with transactional offsets still pending answers UNSTABLE_OFFSET_COMMIT.

use klamm_protocol::messages::offset_fetch::response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use klamm_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};

use super::{Api, Ctx};
use crate::codes;
use crate::state::ClusterState;

pub(crate) struct OffsetFetch;

/// One partition's answer: (partition, offset, leader epoch, metadata, error).
type Row = (i32, i64, i32, Option<String>, i16);

/// The offsets of a group: every committed one when `topics` is null, else those asked for.
fn group_offsets(
    state: &ClusterState,
    group: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Vec<(String, Vec<Row>)> {
    let wanted = topics.unwrap_or_else(|| {
        let mut by_topic: Vec<(String, Vec<i32>)> = Vec::new();
        for (t, p, _) in state.groups.all(group) {
            match by_topic.iter_mut().find(|(n, _)| *n == t) {
                Some((_, ps)) => ps.push(p),
                None => by_topic.push((t, vec![p])),
            }
        }
        by_topic
    });
    wanted
        .into_iter()
        .map(|(topic, partitions)| {
            let rows = partitions
                .into_iter()
                .map(|p| {
                    if require_stable && state.txns.has_pending_offset(group, &topic, p) {
                        return (
                            p,
                            -1,
                            -1,
                            Some(String::new()),
                            codes::UNSTABLE_OFFSET_COMMIT,
                        );
                    }
                    match state.groups.get(group, &topic, p) {
                        Some(o) => (p, o.offset, o.leader_epoch, o.metadata.clone(), codes::NONE),
                        None => (p, -1, -1, Some(String::new()), codes::NONE),
                    }
                })
                .collect();
            (topic, rows)
        })
        .collect()
}

impl Api for OffsetFetch {
    type Req = OffsetFetchRequest;
    type Resp = OffsetFetchResponse;

    async fn handle(ctx: &mut Ctx<'_>, req: Self::Req) -> Option<Self::Resp> {
        let state = ctx.inner.state();
        if ctx.version >= 8 {
            let groups = req
                .groups
                .iter()
                .map(|g| {
                    if state.coordinator(0, &g.group_id) != ctx.node {
                        return OffsetFetchResponseGroup {
                            group_id: g.group_id.clone(),
                            error_code: codes::NOT_COORDINATOR,
                            ..OffsetFetchResponseGroup::default()
                        };
                    }
                    let topics = g.topics.as_ref().map(|ts| {
                        ts.iter()
                            .map(|t| (t.name.clone(), t.partition_indexes.clone()))
                            .collect()
                    });
                    let rows = group_offsets(&state, &g.group_id, topics, req.require_stable);
                    OffsetFetchResponseGroup {
                        group_id: g.group_id.clone(),
                        error_code: codes::NONE,
                        topics: rows
                            .into_iter()
                            .map(|(name, rows)| OffsetFetchResponseTopics {
                                name,
                                partitions: rows
                                    .into_iter()
                                    .map(|(p, o, e, m, c)| OffsetFetchResponsePartitions {
                                        partition_index: p,
                                        committed_offset: o,
                                        committed_leader_epoch: e,
                                        metadata: m,
                                        error_code: c,
                                        ..OffsetFetchResponsePartitions::default()
                                    })
                                    .collect(),
                                ..OffsetFetchResponseTopics::default()
                            })
                            .collect(),
                        ..OffsetFetchResponseGroup::default()
                    }
                })
                .collect();
            return Some(OffsetFetchResponse {
                groups,
                ..OffsetFetchResponse::default()
            });
        }
        if state.coordinator(0, &req.group_id) != ctx.node {
            drop(state);
            return Some(Self::error(ctx, &req, codes::NOT_COORDINATOR));
        }
        let topics = req.topics.as_ref().map(|ts| {
            ts.iter()
                .map(|t| (t.name.clone(), t.partition_indexes.clone()))
                .collect()
        });
        let rows = group_offsets(&state, &req.group_id, topics, req.require_stable);
        Some(OffsetFetchResponse {
            error_code: codes::NONE,
            topics: rows
                .into_iter()
                .map(|(name, rows)| OffsetFetchResponseTopic {
                    name,
                    partitions: rows
                        .into_iter()
                        .map(|(p, o, e, m, c)| OffsetFetchResponsePartition {
                            partition_index: p,
                            committed_offset: o,
                            committed_leader_epoch: e,
                            metadata: m,
                            error_code: c,
                            ..OffsetFetchResponsePartition::default()
                        })
                        .collect(),
                    ..OffsetFetchResponseTopic::default()
                })
                .collect(),
            ..OffsetFetchResponse::default()
        })
    }

    fn error(ctx: &Ctx<'_>, req: &Self::Req, code: i16) -> Self::Resp {
        if ctx.version >= 8 {
            return OffsetFetchResponse {
                groups: req
                    .groups
                    .iter()
                    .map(|g| OffsetFetchResponseGroup {
                        group_id: g.group_id.clone(),
                        error_code: code,
                        ..OffsetFetchResponseGroup::default()
                    })
                    .collect(),
                ..OffsetFetchResponse::default()
            };
        }
        // v1 has no top-level error code: report it on every partition as Kafka does.
        OffsetFetchResponse {
            error_code: code,
            topics: req
                .topics
                .iter()
                .flatten()
                .map(|t| OffsetFetchResponseTopic {
                    name: t.name.clone(),
                    partitions: t
                        .partition_indexes
                        .iter()
                        .map(|p| OffsetFetchResponsePartition {
                            partition_index: *p,
                            committed_offset: -1,
                            committed_leader_epoch: -1,
                            metadata: Some(String::new()),
                            error_code: code,
                            ..OffsetFetchResponsePartition::default()
                        })
                        .collect(),
                    ..OffsetFetchResponseTopic::default()
                })
                .collect(),
            ..OffsetFetchResponse::default()
        }
    }

    fn set_throttle(resp: &mut Self::Resp, ms: i32) {
        resp.throttle_time_ms = ms;
    }
}
