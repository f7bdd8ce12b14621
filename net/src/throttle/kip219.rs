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
/// The table is klamm-protocol's ([`ApiKey::first_client_throttled_version`]), taken from the
/// message schemas: Produce 6, Fetch 8, Metadata 6, InitProducerId 1, ... are the first
/// versions with client-side throttling.
///
/// ```
/// use klamm_net::throttle::broker_delays_response;
/// use klamm_protocol::ApiKey;
/// assert!(broker_delays_response(ApiKey::Produce, 5));
/// assert!(!broker_delays_response(ApiKey::Produce, 6));
/// assert!(broker_delays_response(ApiKey::Fetch, 7));
/// assert!(!broker_delays_response(ApiKey::Fetch, 8));
/// assert!(!broker_delays_response(ApiKey::DescribeProducers, 0));
/// // Added after KIP-219 (Kafka 2.6, KIP-546): the client waits at every version.
/// assert!(!broker_delays_response(ApiKey::AlterClientQuotas, 0));
/// assert!(!broker_delays_response(ApiKey::DescribeClientQuotas, 0));
/// ```
pub fn broker_delays_response(api: ApiKey, version: i16) -> bool {
    !api.client_enforces_throttle(version)
}
