//! The table of every API this codec covers, for version negotiation.
//!
//! ```
//! use klamm_protocol::{ApiKey, SUPPORTED_APIS};
//! // Negotiation: the highest version both this codec and the broker (from its ApiVersions
//! // answer, here a made-up range) support.
//! let broker = (ApiKey::Produce, 3, 11);
//! let ours = ApiKey::Produce.info();
//! let version = ours.max_version.min(broker.2);
//! assert!(version >= ours.min_version.max(broker.1));
//! assert_eq!(version, 11);
//! assert_eq!(SUPPORTED_APIS.len(), 18);
//! ```

/// The Kafka APIs Klamm's codec covers.
///
/// ```
/// use klamm_protocol::ApiKey;
/// assert_eq!(ApiKey::from_i16(26), Some(ApiKey::EndTxn));
/// assert_eq!(ApiKey::EndTxn.to_string(), "EndTxn");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i16)]
#[non_exhaustive]
pub enum ApiKey {
    /// Produce (0).
    Produce = 0,
    /// Fetch (1).
    Fetch = 1,
    /// ListOffsets (2).
    ListOffsets = 2,
    /// Metadata (3).
    Metadata = 3,
    /// OffsetFetch (9).
    OffsetFetch = 9,
    /// FindCoordinator (10).
    FindCoordinator = 10,
    /// SaslHandshake (17).
    SaslHandshake = 17,
    /// ApiVersions (18).
    ApiVersions = 18,
    /// CreateTopics (19).
    CreateTopics = 19,
    /// InitProducerId (22).
    InitProducerId = 22,
    /// AddPartitionsToTxn (24).
    AddPartitionsToTxn = 24,
    /// AddOffsetsToTxn (25).
    AddOffsetsToTxn = 25,
    /// EndTxn (26).
    EndTxn = 26,
    /// TxnOffsetCommit (28).
    TxnOffsetCommit = 28,
    /// SaslAuthenticate (36).
    SaslAuthenticate = 36,
    /// DescribeClientQuotas (48).
    DescribeClientQuotas = 48,
    /// AlterClientQuotas (49).
    AlterClientQuotas = 49,
    /// DescribeProducers (61).
    DescribeProducers = 61,
}

/// What this codec supports of one API.
///
/// ```
/// use klamm_protocol::{ApiKey, SUPPORTED_APIS};
/// let produce = SUPPORTED_APIS.iter().find(|a| a.key == ApiKey::Produce).unwrap();
/// assert_eq!((produce.min_version, produce.max_version), (0, 12));
/// assert_eq!(produce.first_flexible, 9);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiInfo {
    /// The API.
    pub key: ApiKey,
    /// Lowest version this codec reads and writes.
    pub min_version: i16,
    /// Highest version this codec reads and writes.
    pub max_version: i16,
    /// First flexible version (KIP-482); `i16::MAX` if none.
    pub first_flexible: i16,
}

/// Every API this codec covers, with its version range and first flexible version.
///
/// ```
/// use klamm_protocol::{ApiKey, SUPPORTED_APIS};
/// // A client intersects these ranges with the broker's ApiVersions answer.
/// assert!(SUPPORTED_APIS.iter().any(|a| a.key == ApiKey::ApiVersions && a.max_version >= 3));
/// assert!(SUPPORTED_APIS.iter().all(|a| a.min_version <= a.max_version));
/// ```
pub const SUPPORTED_APIS: &[ApiInfo] = &[
    api(ApiKey::Produce, 0, 12, 9),
    api(ApiKey::Fetch, 0, 17, 12),
    api(ApiKey::ListOffsets, 0, 10, 6),
    api(ApiKey::Metadata, 0, 13, 9),
    api(ApiKey::OffsetFetch, 0, 9, 6),
    api(ApiKey::FindCoordinator, 0, 6, 3),
    api(ApiKey::SaslHandshake, 0, 1, i16::MAX),
    api(ApiKey::ApiVersions, 0, 4, 3),
    api(ApiKey::CreateTopics, 0, 7, 5),
    api(ApiKey::InitProducerId, 0, 5, 2),
    api(ApiKey::AddPartitionsToTxn, 0, 5, 3),
    api(ApiKey::AddOffsetsToTxn, 0, 4, 3),
    api(ApiKey::EndTxn, 0, 5, 3),
    api(ApiKey::TxnOffsetCommit, 0, 4, 3),
    api(ApiKey::SaslAuthenticate, 0, 2, 2),
    api(ApiKey::DescribeClientQuotas, 0, 1, 1),
    api(ApiKey::AlterClientQuotas, 0, 1, 1),
    api(ApiKey::DescribeProducers, 0, 0, 0),
];

const fn api(key: ApiKey, min_version: i16, max_version: i16, first_flexible: i16) -> ApiInfo {
    ApiInfo {
        key,
        min_version,
        max_version,
        first_flexible,
    }
}

impl ApiKey {
    /// The API for a wire key, if this codec covers it.
    ///
    /// ```
    /// use klamm_protocol::ApiKey;
    /// assert_eq!(ApiKey::from_i16(0), Some(ApiKey::Produce));
    /// assert_eq!(ApiKey::from_i16(12), None);
    /// ```
    pub fn from_i16(key: i16) -> Option<ApiKey> {
        SUPPORTED_APIS
            .iter()
            .find(|a| a.key as i16 == key)
            .map(|a| a.key)
    }

    /// The wire key.
    ///
    /// ```
    /// use klamm_protocol::ApiKey;
    /// assert_eq!(ApiKey::Metadata.as_i16(), 3);
    /// ```
    pub fn as_i16(self) -> i16 {
        self as i16
    }

    /// The API's name as Kafka spells it.
    ///
    /// ```
    /// use klamm_protocol::ApiKey;
    /// assert_eq!(ApiKey::InitProducerId.name(), "InitProducerId");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            ApiKey::Produce => "Produce",
            ApiKey::Fetch => "Fetch",
            ApiKey::ListOffsets => "ListOffsets",
            ApiKey::Metadata => "Metadata",
            ApiKey::OffsetFetch => "OffsetFetch",
            ApiKey::FindCoordinator => "FindCoordinator",
            ApiKey::SaslHandshake => "SaslHandshake",
            ApiKey::ApiVersions => "ApiVersions",
            ApiKey::CreateTopics => "CreateTopics",
            ApiKey::InitProducerId => "InitProducerId",
            ApiKey::AddPartitionsToTxn => "AddPartitionsToTxn",
            ApiKey::AddOffsetsToTxn => "AddOffsetsToTxn",
            ApiKey::EndTxn => "EndTxn",
            ApiKey::TxnOffsetCommit => "TxnOffsetCommit",
            ApiKey::SaslAuthenticate => "SaslAuthenticate",
            ApiKey::DescribeClientQuotas => "DescribeClientQuotas",
            ApiKey::AlterClientQuotas => "AlterClientQuotas",
            ApiKey::DescribeProducers => "DescribeProducers",
        }
    }

    /// This codec's support for the API.
    ///
    /// ```
    /// use klamm_protocol::ApiKey;
    /// let info = ApiKey::Fetch.info();
    /// assert_eq!(info.key, ApiKey::Fetch);
    /// assert_eq!(info.max_version, 17);
    /// ```
    pub fn info(self) -> ApiInfo {
        *SUPPORTED_APIS
            .iter()
            .find(|a| a.key == self)
            .expect("every ApiKey has a row in SUPPORTED_APIS")
    }

    /// Whether `version` of this API uses the flexible encoding.
    ///
    /// ```
    /// use klamm_protocol::ApiKey;
    /// assert!(!ApiKey::Produce.is_flexible(8));
    /// assert!(ApiKey::Produce.is_flexible(9));
    /// ```
    pub fn is_flexible(self, version: i16) -> bool {
        version >= self.info().first_flexible
    }

    /// The request header version for `version`: 2 for flexible versions, 1 otherwise.
    ///
    /// ```
    /// use klamm_protocol::ApiKey;
    /// assert_eq!(ApiKey::Metadata.request_header_version(8), 1);
    /// assert_eq!(ApiKey::Metadata.request_header_version(9), 2);
    /// ```
    pub fn request_header_version(self, version: i16) -> i16 {
        if self.is_flexible(version) { 2 } else { 1 }
    }

    /// The response header version for `version`: 1 for flexible versions, 0 otherwise.
    /// ApiVersions responses always use header v0, so that a client can read the error code
    /// of a broker that does not know the requested version (KIP-511).
    ///
    /// ```
    /// use klamm_protocol::ApiKey;
    /// assert_eq!(ApiKey::Metadata.response_header_version(9), 1);
    /// // ApiVersions answers with header v0 even at flexible versions.
    /// assert_eq!(ApiKey::ApiVersions.response_header_version(3), 0);
    /// ```
    pub fn response_header_version(self, version: i16) -> i16 {
        if self != ApiKey::ApiVersions && self.is_flexible(version) {
            1
        } else {
            0
        }
    }
}

impl ApiKey {
    /// The first version of this API whose responses a broker sends *before* throttling the
    /// client, leaving the client to hold back its next requests until `throttle_time_ms` has
    /// passed (KIP-219). For older versions the broker delays the response itself, so a client
    /// must not wait again. The numbers are the ones the message schemas state ("Starting in
    /// version N, on quota violation, brokers send out responses before throttling").
    /// APIs without a throttle time before KIP-219 (SASL, DescribeProducers) report 0, and so
    /// do APIs added after KIP-219 (Kafka 2.0): DescribeClientQuotas and AlterClientQuotas
    /// (KIP-546, Kafka 2.6) never had the old behaviour, so their schemas carry no "Starting in
    /// version N" note and every version is answered first and throttled after. (The Java
    /// client's `shouldClientThrottle` is left at its default `false` for these two, so Java's
    /// admin client relies on the broker muting the connection; waiting here as well costs
    /// nothing, since the broker reads nothing more from the connection until the throttle
    /// has passed.)
    ///
    /// ```
    /// use klamm_protocol::ApiKey;
    /// assert_eq!(ApiKey::Produce.first_client_throttled_version(), 6);
    /// assert_eq!(ApiKey::AlterClientQuotas.first_client_throttled_version(), 0);
    /// assert!(!ApiKey::Fetch.client_enforces_throttle(7));
    /// assert!(ApiKey::Fetch.client_enforces_throttle(8));
    /// ```
    pub fn first_client_throttled_version(self) -> i16 {
        match self {
            ApiKey::Produce => 6,
            ApiKey::Fetch => 8,
            ApiKey::ListOffsets => 3,
            ApiKey::Metadata => 6,
            ApiKey::OffsetFetch => 4,
            ApiKey::FindCoordinator => 2,
            ApiKey::ApiVersions => 2,
            ApiKey::CreateTopics => 3,
            ApiKey::InitProducerId
            | ApiKey::AddPartitionsToTxn
            | ApiKey::AddOffsetsToTxn
            | ApiKey::EndTxn
            | ApiKey::TxnOffsetCommit => 1,
            ApiKey::SaslHandshake
            | ApiKey::SaslAuthenticate
            | ApiKey::DescribeProducers
            | ApiKey::DescribeClientQuotas
            | ApiKey::AlterClientQuotas => 0,
        }
    }

    /// Whether, at `version`, the client (not the broker) enforces a throttle (KIP-219).
    ///
    /// ```
    /// use klamm_protocol::ApiKey;
    /// assert!(ApiKey::Produce.client_enforces_throttle(6));
    /// assert!(!ApiKey::Produce.client_enforces_throttle(5));
    /// ```
    pub fn client_enforces_throttle(self, version: i16) -> bool {
        version >= self.first_client_throttled_version()
    }
}

impl std::fmt::Display for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_round_trips() {
        for a in SUPPORTED_APIS {
            assert_eq!(ApiKey::from_i16(a.key.as_i16()), Some(a.key));
            assert_eq!(a.key.info(), *a);
        }
    }

    #[test]
    fn header_versions() {
        assert_eq!(ApiKey::Produce.request_header_version(8), 1);
        assert_eq!(ApiKey::Produce.request_header_version(9), 2);
        assert_eq!(ApiKey::Produce.response_header_version(9), 1);
        assert_eq!(ApiKey::ApiVersions.response_header_version(3), 0);
        assert_eq!(ApiKey::SaslHandshake.request_header_version(1), 1);
    }
}
