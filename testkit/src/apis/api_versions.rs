//! ApiVersions: the APIs and version ranges the brokers serve, and (v3+) the supported and
//! finalized `transaction.version` feature with its epoch (KIP-584, KIP-890).

use bytes::{Bytes, BytesMut};
use klamm_protocol::SUPPORTED_APIS;
use klamm_protocol::frame::encode_response_frame;
use klamm_protocol::messages::api_versions::response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use klamm_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use super::{Api, Ctx, served};
use crate::codes;

pub(crate) struct ApiVersions;

/// The feature of KIP-890 part 2.
pub(crate) const TRANSACTION_VERSION: &str = "transaction.version";
/// The highest `transaction.version` these brokers implement.
pub(crate) const MAX_TRANSACTION_VERSION: i16 = 2;

fn api_keys() -> Vec<ApiVersion> {
    SUPPORTED_APIS
        .iter()
        .filter_map(|info| {
            let (min, max) = served(info.key)?;
            Some(ApiVersion {
                api_key: info.key.as_i16(),
                min_version: min,
                max_version: max,
                ..ApiVersion::default()
            })
        })
        .collect()
}

/// The v0 answer to an ApiVersions request of a version this broker does not know (KIP-511).
pub(crate) fn unsupported_version_frame(correlation_id: i32) -> Bytes {
    let resp = ApiVersionsResponse {
        error_code: codes::UNSUPPORTED_VERSION,
        api_keys: api_keys(),
        ..ApiVersionsResponse::default()
    };
    let mut buf = BytesMut::new();
    // Encoding a response of our own making at v0 cannot fail; an empty frame closes the
    // connection if it ever did.
    let _ = encode_response_frame(&mut buf, correlation_id, &resp, 0);
    buf.freeze()
}

impl Api for ApiVersions {
    type Req = ApiVersionsRequest;
    type Resp = ApiVersionsResponse;

    async fn handle(ctx: &mut Ctx<'_>, _req: Self::Req) -> Option<Self::Resp> {
        let (level, epoch) = {
            let state = ctx.inner.state();
            (
                state.config.transaction_version,
                state.config.features_epoch,
            )
        };
        if ctx.version < 3 {
            // features are tagged fields of v3+
            return Some(ApiVersionsResponse {
                error_code: codes::NONE,
                api_keys: api_keys(),
                ..ApiVersionsResponse::default()
            });
        }
        Some(ApiVersionsResponse {
            error_code: codes::NONE,
            api_keys: api_keys(),
            // "in v0-v3, features with MinSupportedVersion = 0 are omitted" (the schema)
            supported_features: (ctx.version >= 4)
                .then(|| SupportedFeatureKey {
                    name: TRANSACTION_VERSION.to_owned(),
                    min_version: 0,
                    max_version: MAX_TRANSACTION_VERSION,
                    ..SupportedFeatureKey::default()
                })
                .into_iter()
                .collect(),
            finalized_features_epoch: epoch,
            // Kafka lists a feature only at a level above 0
            finalized_features: (level > 0)
                .then(|| FinalizedFeatureKey {
                    name: TRANSACTION_VERSION.to_owned(),
                    max_version_level: level,
                    min_version_level: level,
                    ..FinalizedFeatureKey::default()
                })
                .into_iter()
                .collect(),
            ..ApiVersionsResponse::default()
        })
    }

    fn error(_ctx: &Ctx<'_>, _req: &Self::Req, code: i16) -> Self::Resp {
        ApiVersionsResponse {
            error_code: code,
            api_keys: api_keys(),
            ..ApiVersionsResponse::default()
        }
    }

    fn set_throttle(resp: &mut Self::Resp, ms: i32) {
        resp.throttle_time_ms = ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klamm_protocol::ApiKey;

    #[test]
    fn advertises_served_ranges_only() {
        let keys = api_keys();
        let produce = keys
            .iter()
            .find(|k| k.api_key == ApiKey::Produce.as_i16())
            .unwrap();
        assert_eq!((produce.min_version, produce.max_version), (3, 12));
        // Fetch is clipped to the versions served, not the codec's whole range.
        let fetch = keys
            .iter()
            .find(|k| k.api_key == ApiKey::Fetch.as_i16())
            .unwrap();
        assert_eq!((fetch.min_version, fetch.max_version), (4, 16));
        assert_eq!(keys.len(), 18);
        assert!(keys.iter().all(|k| k.min_version <= k.max_version));
    }
}
