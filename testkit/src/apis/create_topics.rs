//! CreateTopics: creates topics with leaders spread over the brokers.

use klamm_protocol::Uuid;
use klamm_protocol::messages::create_topics::response::CreatableTopicResult;
use klamm_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::{Api, Ctx};
use crate::codes;

pub(crate) struct CreateTopics;

impl Api for CreateTopics {
    type Req = CreateTopicsRequest;
    type Resp = CreateTopicsResponse;

    async fn handle(ctx: &mut Ctx<'_>, req: Self::Req) -> Option<Self::Resp> {
        let mut state = ctx.inner.state();
        let brokers = state.node_ids.len() as i16;
        let topics = req
            .topics
            .iter()
            .map(|t| {
                // -1 means the broker default (Kafka: num.partitions, default.replication.factor).
                let partitions = if t.num_partitions == -1 {
                    state.config.default_partitions
                } else if t.assignments.is_empty() {
                    t.num_partitions
                } else {
                    t.assignments.len() as i32
                };
                let rf = if t.replication_factor == -1 {
                    brokers.min(3)
                } else {
                    t.replication_factor
                };
                let error = if rf < 1 || rf > brokers {
                    Err((
                        codes::INVALID_REPLICATION_FACTOR,
                        format!("replication factor {rf} with {brokers} brokers"),
                    ))
                } else if state.topics.contains_key(&t.name) {
                    Err((
                        codes::TOPIC_ALREADY_EXISTS,
                        format!("topic '{}' already exists", t.name),
                    ))
                } else if req.validate_only {
                    Ok(())
                } else {
                    state
                        .create_topic(&t.name, partitions)
                        .map_err(|c| (c, format!("cannot create '{}'", t.name)))
                };
                let (error_code, error_message) = match error {
                    Ok(()) => (codes::NONE, None),
                    Err((c, m)) => (c, Some(m)),
                };
                let topic_id = state.topics.get(&t.name).map_or(Uuid::ZERO, |t| Uuid(t.id));
                CreatableTopicResult {
                    name: t.name.clone(),
                    topic_id,
                    error_code,
                    error_message,
                    num_partitions: if error_code == codes::NONE {
                        partitions
                    } else {
                        -1
                    },
                    replication_factor: if error_code == codes::NONE { rf } else { -1 },
                    configs: None,
                    ..CreatableTopicResult::default()
                }
            })
            .collect();
        Some(CreateTopicsResponse {
            topics,
            ..CreateTopicsResponse::default()
        })
    }

    fn error(_ctx: &Ctx<'_>, req: &Self::Req, code: i16) -> Self::Resp {
        CreateTopicsResponse {
            topics: req
                .topics
                .iter()
                .map(|t| CreatableTopicResult {
                    name: t.name.clone(),
                    error_code: code,
                    num_partitions: -1,
                    replication_factor: -1,
                    configs: None,
                    ..CreatableTopicResult::default()
                })
                .collect(),
            ..CreateTopicsResponse::default()
        }
    }

    fn set_throttle(resp: &mut Self::Resp, ms: i32) {
        resp.throttle_time_ms = ms;
    }
}
