//! The crate's error type.

use std::sync::Arc;

use klamm_protocol::error_code::ErrorCode;
use klamm_protocol::{ApiKey, DecodeError, EncodeError};

use crate::sasl::SaslError;
use crate::throttle::ThrottleError;

/// Everything that can go wrong talking to a broker.
///
/// Match on the variant, or ask [`Error::is_retriable`]: a retriable error means the request may
/// succeed if sent again (on a new connection, or after a metadata refresh); klamm-net itself
/// never re-sends a request, because only the caller knows whether that is safe (produce
/// sequence numbers).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Connecting, reading or writing failed.
    #[error("I/O error talking to {broker}: {source}")]
    Io {
        /// The broker address.
        broker: Arc<str>,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The connection closed (or broke) before the response arrived. Whether the broker
    /// applied the request is unknown.
    #[error("connection to {broker} lost before the response arrived: {reason}")]
    Disconnected {
        /// The broker address.
        broker: Arc<str>,
        /// Why the connection ended.
        reason: Arc<str>,
    },
    /// The connection was closed by this client ([`BrokerConnection::close`] or a cluster
    /// shutdown).
    ///
    /// [`BrokerConnection::close`]: crate::BrokerConnection::close
    #[error("the connection was closed by the client")]
    Closed,
    /// Connecting took longer than the connect timeout.
    #[error("connecting to {broker} timed out")]
    ConnectTimeout {
        /// The broker address.
        broker: Arc<str>,
    },
    /// The request was not answered within the request timeout.
    #[error("request timed out")]
    Timeout,
    /// The broker sent bytes that are not a valid response. The connection was closed.
    #[error("invalid response from {broker}: {source}")]
    Decode {
        /// The broker address.
        broker: Arc<str>,
        /// What was wrong.
        #[source]
        source: DecodeError,
    },
    /// A response's correlation id did not match the oldest request in flight (Kafka answers
    /// in order). The connection was closed.
    #[error("protocol error from {broker}: expected correlation id {expected:?}, got {got}")]
    CorrelationMismatch {
        /// The broker address.
        broker: Arc<str>,
        /// The id of the oldest request in flight, if any.
        expected: Option<i32>,
        /// The id in the response.
        got: i32,
    },
    /// The request could not be encoded (a field too long for its wire type, for example).
    #[error("could not encode the request: {0}")]
    Encode(#[from] EncodeError),
    /// The broker does not offer this API at all.
    #[error("broker {broker} does not support the {api} API")]
    UnsupportedApi {
        /// The broker address.
        broker: Arc<str>,
        /// The API.
        api: ApiKey,
    },
    /// The broker offers the API, but no version Klamm can speak.
    #[error(
        "no common version of {api} with broker {broker}: broker {broker_min}-{broker_max}, Klamm {ours_min}-{ours_max}"
    )]
    NoCommonVersion {
        /// The broker address.
        broker: Arc<str>,
        /// The API.
        api: ApiKey,
        /// The broker's lowest version.
        broker_min: i16,
        /// The broker's highest version.
        broker_max: i16,
        /// Klamm's lowest version.
        ours_min: i16,
        /// Klamm's highest version.
        ours_max: i16,
    },
    /// The broker answered with a Kafka error code where the whole request failed
    /// (ApiVersions, SASL, FindCoordinator, ...).
    #[error("{context}: {code}")]
    Kafka {
        /// What was being done.
        context: &'static str,
        /// The error code.
        code: ErrorCode,
        /// The broker's error message, if it sent one.
        message: Option<String>,
    },
    /// SASL authentication failed on the client side (bad server message, server not
    /// genuine, mechanism not enabled on the broker).
    #[error("SASL authentication with {broker} failed: {source}")]
    Sasl {
        /// The broker address.
        broker: Arc<str>,
        /// What went wrong.
        #[source]
        source: SaslError,
    },
    /// The broker does not enable the configured SASL mechanism.
    #[error("broker {broker} does not enable SASL mechanism {wanted}; it offers {offered:?}")]
    SaslMechanism {
        /// The broker address.
        broker: Arc<str>,
        /// The configured mechanism.
        wanted: &'static str,
        /// The broker's mechanisms.
        offered: Vec<String>,
    },
    /// TLS setup failed (invalid server name, handshake failure).
    #[error("TLS with {broker} failed: {reason}")]
    Tls {
        /// The broker address.
        broker: Arc<str>,
        /// What went wrong.
        reason: String,
    },
    /// Waiting for a throttled broker ended because the connection was closed.
    #[error(transparent)]
    Throttle(#[from] ThrottleError),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No broker could be reached, or metadata names no broker for the request.
    #[error("no broker available: {0}")]
    NoBroker(String),
    /// The service was called without a successful `poll_ready` first (a tower contract
    /// violation by the caller).
    #[error("service called before poll_ready returned Ready")]
    NotReady,
}

impl Error {
    /// Whether sending the request again (after reconnecting or refreshing metadata) may
    /// succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Io { .. }
            | Error::Disconnected { .. }
            | Error::ConnectTimeout { .. }
            | Error::Timeout
            | Error::Decode { .. }
            | Error::CorrelationMismatch { .. }
            | Error::NoBroker(_) => true,
            Error::Kafka { code, .. } => code.is_retriable(),
            _ => false,
        }
    }

    /// Converts a boxed error from a tower stack (timeouts, throttle, this crate) back into an
    /// [`Error`].
    pub fn from_boxed(e: tower::BoxError) -> Error {
        if e.is::<tower::timeout::error::Elapsed>() {
            return Error::Timeout;
        }
        let e = match e.downcast::<Error>() {
            Ok(e) => return *e,
            Err(e) => e,
        };
        match e.downcast::<ThrottleError>() {
            Ok(t) => Error::Throttle(*t),
            Err(other) => Error::Disconnected {
                broker: Arc::from("?"),
                reason: Arc::from(other.to_string()),
            },
        }
    }

    pub(crate) fn io(broker: &Arc<str>, e: std::io::Error) -> Error {
        Error::Io {
            broker: broker.clone(),
            source: Arc::new(e),
        }
    }
}

/// An invalid setting, found when the configuration is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting has a value outside its valid range.
    #[error("invalid {setting}: {reason}")]
    Invalid {
        /// The setting, named as in the Java client where one exists.
        setting: &'static str,
        /// Why the value is invalid, and what is valid.
        reason: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(setting: &'static str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            setting,
            reason: reason.into(),
        }
    }
}
