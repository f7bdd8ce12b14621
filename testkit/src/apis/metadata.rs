//! Metadata: brokers, topics, partition leaders and epochs; creates unknown topics when the
//! request allows it and the cluster has auto-creation on (Kafka's default).

use klamm_protocol::Uuid;
use klamm_protocol::messages::metadata::response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use klamm_protocol::messages::{MetadataRequest, MetadataResponse};

use super::{Api, Ctx};
use crate::codes;
use crate::state::{ClusterState, valid_topic_name};

pub(crate) struct Metadata;

/// The id every response reports for the cluster.
pub(crate) const CLUSTER_ID: &str = "klamm-testkit";

fn topic_entry(state: &ClusterState, name: &str) -> MetadataResponseTopic {
    let Some(t) = state.topics.get(name) else {
        return MetadataResponseTopic {
            error_code: codes::UNKNOWN_TOPIC_OR_PARTITION,
            name: Some(name.to_string()),
            ..MetadataResponseTopic::default()
        };
    };
    let partitions = t
        .partitions
        .iter()
        .enumerate()
        .map(|(i, p)| MetadataResponsePartition {
            error_code: codes::NONE,
            partition_index: i as i32,
            leader_id: p.leader,
            leader_epoch: p.leader_epoch,
            replica_nodes: p.replicas.clone(),
            isr_nodes: p.replicas.clone(),
            offline_replicas: Vec::new(),
            ..MetadataResponsePartition::default()
        })
        .collect();
    MetadataResponseTopic {
        error_code: codes::NONE,
        name: Some(name.to_string()),
        topic_id: Uuid(t.id),
        is_internal: false,
        partitions,
        ..MetadataResponseTopic::default()
    }
}

fn brokers(ctx: &Ctx<'_>) -> Vec<MetadataResponseBroker> {
    ctx.inner
        .broker_addrs()
        .into_iter()
        .map(|(node, addr)| MetadataResponseBroker {
            node_id: node,
            host: addr.ip().to_string(),
            port: i32::from(addr.port()),
            rack: None,
            ..MetadataResponseBroker::default()
        })
        .collect()
}

impl Api for Metadata {
    type Req = MetadataRequest;
    type Resp = MetadataResponse;

    async fn handle(ctx: &mut Ctx<'_>, req: Self::Req) -> Option<Self::Resp> {
        let brokers = brokers(ctx);
        let mut state = ctx.inner.state();
        // v0: an empty list means every topic; v1+: null means every topic.
        let all = match &req.topics {
            None => true,
            Some(t) => t.is_empty() && ctx.version == 0,
        };
        let allow_create =
            (ctx.version < 4 || req.allow_auto_topic_creation) && state.config.auto_create_topics;
        let topics = if all {
            let names: Vec<String> = state.topics.keys().cloned().collect();
            names.iter().map(|n| topic_entry(&state, n)).collect()
        } else {
            let mut out = Vec::new();
            for t in req.topics.iter().flatten() {
                let name = match &t.name {
                    Some(n) => n.clone(),
                    None => match state.topic_name(&t.topic_id.0) {
                        Some(n) => n.to_string(),
                        None => {
                            out.push(MetadataResponseTopic {
                                error_code: codes::UNKNOWN_TOPIC_ID,
                                topic_id: t.topic_id,
                                ..MetadataResponseTopic::default()
                            });
                            continue;
                        }
                    },
                };
                if !state.topics.contains_key(&name) {
                    if !valid_topic_name(&name) {
                        out.push(MetadataResponseTopic {
                            error_code: codes::INVALID_TOPIC_EXCEPTION,
                            name: Some(name),
                            ..MetadataResponseTopic::default()
                        });
                        continue;
                    }
                    if allow_create {
                        let partitions = state.config.default_partitions;
                        if let Err(code) = state.create_topic(&name, partitions) {
                            tracing::debug!(%name, code, "auto-create failed");
                        } else {
                            tracing::info!(%name, partitions, "topic auto-created");
                        }
                    }
                }
                out.push(topic_entry(&state, &name));
            }
            out
        };
        Some(MetadataResponse {
            brokers,
            cluster_id: Some(CLUSTER_ID.to_string()),
            controller_id: state.node_ids.first().copied().unwrap_or(0),
            topics,
            ..MetadataResponse::default()
        })
    }

    fn error(ctx: &Ctx<'_>, req: &Self::Req, code: i16) -> Self::Resp {
        let topics = req
            .topics
            .iter()
            .flatten()
            .map(|t| MetadataResponseTopic {
                error_code: code,
                name: t.name.clone(),
                topic_id: t.topic_id,
                ..MetadataResponseTopic::default()
            })
            .collect();
        MetadataResponse {
            brokers: brokers(ctx),
            cluster_id: Some(CLUSTER_ID.to_string()),
            controller_id: 0,
            topics,
            error_code: code,
            ..MetadataResponse::default()
        }
    }

    fn set_throttle(resp: &mut Self::Resp, ms: i32) {
        resp.throttle_time_ms = ms;
    }
}
