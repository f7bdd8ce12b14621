//! DescribeClientQuotas (KIP-546): the configured quota entities matching a filter (exact
//! name, default, or any entity of a type; `strict` leaves out entities with other
//! components), with Kafka's refusals of bad filters (UNSUPPORTED_VERSION for an unknown
//! entity type, INVALID_REQUEST otherwise) and its answer shape (an empty, not null, error
//! message on success; no entries on error).

use klamm_protocol::messages::describe_client_quotas::response::{
    EntityData, EntryData, ValueData,
};
use klamm_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};

use super::{Api, Ctx};
use crate::codes;
use crate::state::client_quotas::FilterComponent;

pub(crate) struct DescribeClientQuotas;

impl Api for DescribeClientQuotas {
    type Req = DescribeClientQuotasRequest;
    type Resp = DescribeClientQuotasResponse;

    async fn handle(ctx: &mut Ctx<'_>, req: Self::Req) -> Option<Self::Resp> {
        let filter: Vec<FilterComponent> = req
            .components
            .into_iter()
            .map(|c| FilterComponent {
                entity_type: c.entity_type,
                match_type: c.match_type,
                name: c.r#match,
            })
            .collect();
        let found = ctx
            .inner
            .state()
            .quotas
            .configs()
            .describe(&filter, req.strict);
        Some(match found {
            Ok(found) => DescribeClientQuotasResponse {
                error_code: codes::NONE,
                // Kafka's generated default for a string, sent as is on success
                error_message: Some(String::new()),
                entries: Some(
                    found
                        .into_iter()
                        .map(|(entity, values)| EntryData {
                            entity: entity
                                .parts()
                                .map(|(t, n)| EntityData {
                                    entity_type: t.to_owned(),
                                    entity_name: n.map(str::to_owned),
                                    ..EntityData::default()
                                })
                                .collect(),
                            values: values
                                .into_iter()
                                .map(|(key, value)| ValueData {
                                    key,
                                    value,
                                    ..ValueData::default()
                                })
                                .collect(),
                            ..EntryData::default()
                        })
                        .collect(),
                ),
                ..DescribeClientQuotasResponse::default()
            },
            Err(refusal) => DescribeClientQuotasResponse {
                error_code: refusal.code,
                error_message: Some(refusal.message),
                entries: None,
                ..DescribeClientQuotasResponse::default()
            },
        })
    }

    fn error(_ctx: &Ctx<'_>, _req: &Self::Req, code: i16) -> Self::Resp {
        DescribeClientQuotasResponse {
            error_code: code,
            entries: None,
            ..DescribeClientQuotasResponse::default()
        }
    }

    fn set_throttle(resp: &mut Self::Resp, ms: i32) {
        resp.throttle_time_ms = ms;
    }
}
