//! The API versions a broker offers, and the choice of version per request.

use std::collections::HashMap;
use std::sync::Arc;

use klamm_protocol::ApiKey;
use klamm_protocol::messages::ApiVersionsResponse;

use crate::error::Error;

/// The version ranges a broker advertised in ApiVersions, by API key, and its finalized
/// features (ApiVersions v3+, KIP-584), such as `transaction.version` (KIP-890).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersions {
    ranges: HashMap<i16, (i16, i16)>,
    /// Finalized feature levels by name (`max_version_level`).
    finalized: HashMap<String, i16>,
    /// The epoch of the finalized features, -1 when the broker sent none.
    finalized_epoch: i64,
}

impl Default for ApiVersions {
    fn default() -> Self {
        Self::from_ranges([])
    }
}

impl ApiVersions {
    /// The table of a decoded ApiVersions response.
    pub fn from_response(resp: &ApiVersionsResponse) -> Self {
        ApiVersions {
            ranges: resp
                .api_keys
                .iter()
                .map(|k| (k.api_key, (k.min_version, k.max_version)))
                .collect(),
            finalized: resp
                .finalized_features
                .iter()
                .map(|f| (f.name.clone(), f.max_version_level))
                .collect(),
            finalized_epoch: resp.finalized_features_epoch,
        }
    }

    /// A table from explicit `(api key, min, max)` rows.
    pub fn from_ranges(rows: impl IntoIterator<Item = (i16, i16, i16)>) -> Self {
        ApiVersions {
            ranges: rows
                .into_iter()
                .map(|(k, min, max)| (k, (min, max)))
                .collect(),
            finalized: HashMap::new(),
            finalized_epoch: -1,
        }
    }

    /// The finalized level of a cluster feature (e.g. `"transaction.version"`), if the
    /// broker reported it (ApiVersions v3+).
    pub fn finalized_feature(&self, name: &str) -> Option<i16> {
        self.finalized.get(name).copied()
    }

    /// The epoch of the finalized features this broker reported (it grows with every change;
    /// of two answers, the one with the higher epoch is newer), or -1 when it sent none.
    pub fn finalized_features_epoch(&self) -> i64 {
        self.finalized_epoch
    }

    /// The broker's range for `api`, if it offers the API.
    pub fn broker_range(&self, api: ApiKey) -> Option<(i16, i16)> {
        self.ranges.get(&api.as_i16()).copied()
    }

    /// The highest version both the broker and `ours` (Klamm's range for the message type)
    /// support.
    ///
    /// ```
    /// use klamm_net::ApiVersions;
    /// use klamm_protocol::ApiKey;
    /// let v = ApiVersions::from_ranges([(0, 3, 9)]);
    /// assert_eq!(v.negotiate(ApiKey::Produce, (0, 11), &"b".into()).unwrap(), 9);
    /// assert!(v.negotiate(ApiKey::Produce, (10, 11), &"b".into()).is_err());
    /// assert!(v.negotiate(ApiKey::Fetch, (4, 16), &"b".into()).is_err());
    /// ```
    pub fn negotiate(
        &self,
        api: ApiKey,
        ours: (i16, i16),
        broker: &Arc<str>,
    ) -> Result<i16, Error> {
        let (bmin, bmax) = self
            .broker_range(api)
            .ok_or_else(|| Error::UnsupportedApi {
                broker: broker.clone(),
                api,
            })?;
        let (omin, omax) = ours;
        let v = bmax.min(omax);
        if v < bmin.max(omin) {
            return Err(Error::NoCommonVersion {
                broker: broker.clone(),
                api,
                broker_min: bmin,
                broker_max: bmax,
                ours_min: omin,
                ours_max: omax,
            });
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klamm_protocol::messages::api_versions::response::FinalizedFeatureKey;

    #[test]
    fn finalized_features_are_kept_with_their_epoch() {
        let resp = ApiVersionsResponse {
            finalized_features_epoch: 7,
            finalized_features: vec![FinalizedFeatureKey {
                name: "transaction.version".into(),
                max_version_level: 2,
                min_version_level: 2,
                ..Default::default()
            }],
            ..Default::default()
        };
        let v = ApiVersions::from_response(&resp);
        assert_eq!(v.finalized_feature("transaction.version"), Some(2));
        assert_eq!(v.finalized_feature("metadata.version"), None);
        assert_eq!(v.finalized_features_epoch(), 7);
        let none = ApiVersions::default();
        assert_eq!(none.finalized_feature("transaction.version"), None);
        assert_eq!(none.finalized_features_epoch(), -1);
    }
}
