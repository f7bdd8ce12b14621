//! What a response tells the throttle layer, and which versions KIP-219 changed.

use klamm_protocol::ApiKey;

/// Implemented by response types that the [`ThrottleLayer`](super::ThrottleLayer) inspects.
///
/// Kafka reports quota violations in `throttle_time_ms`. Since KIP-219 the broker answers
/// first and mutes the connection afterwards, so the *client* must hold back further requests
/// until the throttle has passed. Before KIP-219 the broker delayed the response itself, and a
/// client that waited again would throttle twice.
pub trait ThrottleTime {
    /// The `throttle_time_ms` the broker reported, or `None` if the response has no such field.
    fn throttle_time_ms(&self) -> Option<i32>;

    /// Whether the broker already delayed this response by the throttle time (pre-KIP-219
    /// versions, see [`broker_delays_response`]); the client must then not wait again.
    fn throttled_by_broker(&self) -> bool {
        false
    }
}

/// Whether the broker delays its *response* by the throttle time at `version` of `api` (the
/// behaviour before KIP-219), rather than answering at once and expecting the client to wait.
///
/// The first versions with client-side throttling are those the Kafka schemas mark "on quota
/// violation, brokers send out responses before throttling": Produce 6, Fetch 8,
/// ListOffsets 3, Metadata 6, OffsetFetch 4, FindCoordinator 2, ApiVersions 2, CreateTopics 3,
/// InitProducerId 1, AddPartitionsToTxn 1, AddOffsetsToTxn 1, EndTxn 1, TxnOffsetCommit 1.
/// APIs introduced after KIP-219 (such as DescribeProducers) always use client-side
/// throttling; SaslHandshake and SaslAuthenticate carry no throttle time.
///
/// ```
/// use klamm_net::throttle::broker_delays_response;
/// use klamm_protocol::ApiKey;
/// assert!(broker_delays_response(ApiKey::Produce, 5));
/// assert!(!broker_delays_response(ApiKey::Produce, 6));
/// assert!(broker_delays_response(ApiKey::Fetch, 7));
/// assert!(!broker_delays_response(ApiKey::Fetch, 8));
/// ```
pub fn broker_delays_response(api: ApiKey, version: i16) -> bool {
    version < first_client_throttled_version(api)
}

/// The first version of `api` at which the client enforces the throttle (KIP-219).
pub fn first_client_throttled_version(api: ApiKey) -> i16 {
    match api {
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
        // No throttle field (SASL) or introduced after KIP-219 (DescribeProducers, and any API
        // added later): the client always enforces.
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_schemas() {
        // (api, first version whose schema says "responses before throttling")
        let cases = [
            (ApiKey::Produce, 6),
            (ApiKey::Fetch, 8),
            (ApiKey::ListOffsets, 3),
            (ApiKey::Metadata, 6),
            (ApiKey::OffsetFetch, 4),
            (ApiKey::FindCoordinator, 2),
            (ApiKey::ApiVersions, 2),
            (ApiKey::CreateTopics, 3),
            (ApiKey::InitProducerId, 1),
            (ApiKey::AddPartitionsToTxn, 1),
            (ApiKey::AddOffsetsToTxn, 1),
            (ApiKey::EndTxn, 1),
            (ApiKey::TxnOffsetCommit, 1),
            (ApiKey::DescribeProducers, 0),
        ];
        for (api, first) in cases {
            assert_eq!(first_client_throttled_version(api), first, "{api}");
            if first > 0 {
                assert!(broker_delays_response(api, first - 1), "{api}");
            }
            assert!(!broker_delays_response(api, first), "{api}");
        }
    }
}
