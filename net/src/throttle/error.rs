//! Errors of the throttle layer.

/// Why a [`ThrottleService`](super::ThrottleService) refused a request.
///
/// The service's error type must implement `From<ThrottleError>`, so a stack of layers can keep
/// one typed error (or a [`tower::BoxError`], which every `std::error::Error` converts into).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ThrottleError {
    /// The connection's throttle handle was closed, either while the caller waited for a broker
    /// throttle deadline or before it asked. Retrying on the same connection cannot succeed;
    /// open a new one.
    #[error("the connection was closed (while waiting for a broker throttle or before sending)")]
    Closed,
}
