//! The API versions a broker offers, and the choice of version per request.

use std::collections::HashMap;
use std::sync::Arc;

use klamm_protocol::ApiKey;
use klamm_protocol::messages::ApiVersionsResponse;

use crate::error::Error;

/// The version ranges a broker advertised in ApiVersions, by API key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiVersions {
    ranges: HashMap<i16, (i16, i16)>,
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
        }
    }

    /// A table from explicit `(api key, min, max)` rows.
    pub fn from_ranges(rows: impl IntoIterator<Item = (i16, i16, i16)>) -> Self {
        ApiVersions {
            ranges: rows
                .into_iter()
                .map(|(k, min, max)| (k, (min, max)))
                .collect(),
        }
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
