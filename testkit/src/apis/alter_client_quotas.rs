//! AlterClientQuotas (KIP-546): validates and applies quota configurations for user,
//! client-id and ip entities with Kafka's checks and messages (one result per entity);
//! `validate_only` applies nothing. Any broker answers (Kafka's brokers forward to the
//! controller); the change applies on every broker at once. Only the `producer_byte_rate` of
//! client-id entities is enforced (see [`crate::state::quota`]).

use klamm_protocol::messages::alter_client_quotas::response::{EntityData, EntryData};
use klamm_protocol::messages::{AlterClientQuotasRequest, AlterClientQuotasResponse};

use super::{Api, Ctx};
use crate::state::client_quotas::{QuotaEntity, QuotaOp};

pub(crate) struct AlterClientQuotas;

fn entity_data(entity: &QuotaEntity) -> Vec<EntityData> {
    entity
        .parts()
        .map(|(t, n)| EntityData {
            entity_type: t.to_owned(),
            entity_name: n.map(str::to_owned),
            ..EntityData::default()
        })
        .collect()
}

impl Api for AlterClientQuotas {
    type Req = AlterClientQuotasRequest;
    type Resp = AlterClientQuotasResponse;

    async fn handle(ctx: &mut Ctx<'_>, req: Self::Req) -> Option<Self::Resp> {
        let entries = req
            .entries
            .into_iter()
            .map(|e| {
                let entity = QuotaEntity::from_parts(
                    e.entity.into_iter().map(|c| (c.entity_type, c.entity_name)),
                );
                let ops = e
                    .ops
                    .into_iter()
                    .map(|o| QuotaOp {
                        key: o.key,
                        value: (!o.remove).then_some(o.value),
                    })
                    .collect();
                (entity, ops)
            })
            .collect();
        let results = ctx
            .inner
            .state()
            .quotas
            .alter_client_quotas(entries, req.validate_only);
        Some(AlterClientQuotasResponse {
            entries: results
                .iter()
                .map(|(entity, result)| {
                    let (error_code, error_message) = match result {
                        Ok(()) => (0, None),
                        Err(r) => (r.code, Some(r.message.clone())),
                    };
                    EntryData {
                        error_code,
                        error_message,
                        entity: entity_data(entity),
                        ..EntryData::default()
                    }
                })
                .collect(),
            ..AlterClientQuotasResponse::default()
        })
    }

    fn error(_ctx: &Ctx<'_>, req: &Self::Req, code: i16) -> Self::Resp {
        AlterClientQuotasResponse {
            entries: req
                .entries
                .iter()
                .map(|e| EntryData {
                    error_code: code,
                    entity: e
                        .entity
                        .iter()
                        .map(|c| EntityData {
                            entity_type: c.entity_type.clone(),
                            entity_name: c.entity_name.clone(),
                            ..EntityData::default()
                        })
                        .collect(),
                    ..EntryData::default()
                })
                .collect(),
            ..AlterClientQuotasResponse::default()
        }
    }

    fn set_throttle(resp: &mut Self::Resp, ms: i32) {
        resp.throttle_time_ms = ms;
    }
}
