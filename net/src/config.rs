//! Connection settings, validated when built.

use std::sync::Arc;
use std::time::Duration;

use crate::error::ConfigError;
use crate::sasl::SaslConfig;

/// TLS settings: a rustls client configuration (roots, client certificates) and an optional
/// server name to verify instead of the broker's host name.
#[derive(Clone)]
pub struct TlsConfig {
    /// The rustls client configuration.
    pub client_config: Arc<rustls::ClientConfig>,
    /// The name to verify the broker's certificate against; the broker's host when `None`.
    pub server_name: Option<String>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// Settings of every broker connection. Build with [`ConnectionConfig::builder`].
///
/// ```
/// use std::time::Duration;
/// use klamm_net::ConnectionConfig;
///
/// let cfg = ConnectionConfig::builder()
///     .client_id("orders")
///     .request_timeout(Duration::from_secs(10))
///     .max_in_flight(5)
///     .build()?;
/// assert_eq!(cfg.max_in_flight(), 5);
/// assert!(ConnectionConfig::builder().max_in_flight(0).build().is_err());
/// # Ok::<(), klamm_net::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    pub(crate) client_id: Option<String>,
    pub(crate) request_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_in_flight: usize,
    pub(crate) max_response_size: usize,
    pub(crate) reconnect_backoff: Duration,
    pub(crate) reconnect_backoff_max: Duration,
    pub(crate) connections_max_idle: Duration,
    pub(crate) sasl: Option<SaslConfig>,
    pub(crate) tls: Option<TlsConfig>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            client_id: Some("klamm".to_owned()),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_in_flight: 5,
            max_response_size: klamm_protocol::frame::DEFAULT_MAX_FRAME_SIZE,
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(1),
            connections_max_idle: Duration::from_secs(540),
            sasl: None,
            tls: None,
        }
    }
}

impl ConnectionConfig {
    /// A builder starting from the defaults (Java's where one exists).
    pub fn builder() -> ConnectionConfigBuilder {
        ConnectionConfigBuilder {
            config: ConnectionConfig::default(),
        }
    }

    /// `client.id` sent in every request header.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }
    /// `request.timeout.ms`.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }
    /// `socket.connection.setup.timeout.ms`.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }
    /// Requests in flight on one connection (`max.in.flight.requests.per.connection`).
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }
    /// Largest response frame accepted; a larger one closes the connection unread.
    pub fn max_response_size(&self) -> usize {
        self.max_response_size
    }
    /// `reconnect.backoff.ms`.
    pub fn reconnect_backoff(&self) -> Duration {
        self.reconnect_backoff
    }
    /// `reconnect.backoff.max.ms`.
    pub fn reconnect_backoff_max(&self) -> Duration {
        self.reconnect_backoff_max
    }
    /// `connections.max.idle.ms`: a pooled connection with nothing in flight for this long
    /// is closed (and opened again on the next request).
    pub fn connections_max_idle(&self) -> Duration {
        self.connections_max_idle
    }
    /// SASL settings, if any.
    pub fn sasl(&self) -> Option<&SaslConfig> {
        self.sasl.as_ref()
    }
    /// TLS settings, if any.
    pub fn tls(&self) -> Option<&TlsConfig> {
        self.tls.as_ref()
    }
}

/// Builds a validated [`ConnectionConfig`].
#[derive(Debug, Clone)]
pub struct ConnectionConfigBuilder {
    config: ConnectionConfig,
}

impl ConnectionConfigBuilder {
    /// `client.id` (default `klamm`).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.config.client_id = Some(id.into());
        self
    }
    /// `request.timeout.ms` (default 30 s).
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.config.request_timeout = d;
        self
    }
    /// `socket.connection.setup.timeout.ms` (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.config.connect_timeout = d;
        self
    }
    /// `max.in.flight.requests.per.connection` (default 5).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.config.max_in_flight = n;
        self
    }
    /// Largest response frame accepted (default 100 MiB).
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.config.max_response_size = bytes;
        self
    }
    /// `reconnect.backoff.ms` and `reconnect.backoff.max.ms` (default 50 ms and 1 s).
    pub fn reconnect_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.config.reconnect_backoff = initial;
        self.config.reconnect_backoff_max = max;
        self
    }
    /// `connections.max.idle.ms` (default 9 minutes, Java's): the cluster's pool closes a
    /// connection with nothing in flight for this long; the next request opens a new one.
    pub fn connections_max_idle(mut self, idle: Duration) -> Self {
        self.config.connections_max_idle = idle;
        self
    }
    /// Authenticate with SASL.
    pub fn sasl(mut self, sasl: SaslConfig) -> Self {
        self.config.sasl = Some(sasl);
        self
    }
    /// Connect over TLS.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.config.tls = Some(tls);
        self
    }

    /// Checks every setting and returns the configuration.
    pub fn build(self) -> Result<ConnectionConfig, ConfigError> {
        let c = self.config;
        if let Some(id) = &c.client_id
            && id.len() > i16::MAX as usize
        {
            return Err(ConfigError::invalid(
                "client.id",
                format!(
                    "{} bytes; at most {} fit in a request header",
                    id.len(),
                    i16::MAX
                ),
            ));
        }
        if c.request_timeout.is_zero() {
            return Err(ConfigError::invalid(
                "request.timeout.ms",
                "must be positive",
            ));
        }
        if c.connect_timeout.is_zero() {
            return Err(ConfigError::invalid(
                "socket.connection.setup.timeout.ms",
                "must be positive",
            ));
        }
        if c.connections_max_idle.is_zero() {
            return Err(ConfigError::invalid(
                "connections.max.idle.ms",
                "must be positive",
            ));
        }
        if c.max_in_flight == 0 || c.max_in_flight > MAX_IN_FLIGHT {
            return Err(ConfigError::invalid(
                "max.in.flight.requests.per.connection",
                format!("{} is outside 1..={MAX_IN_FLIGHT}", c.max_in_flight),
            ));
        }
        if c.max_response_size < MIN_RESPONSE_SIZE || c.max_response_size > i32::MAX as usize {
            return Err(ConfigError::invalid(
                "max.response.size",
                format!(
                    "{} is outside {MIN_RESPONSE_SIZE}..={}",
                    c.max_response_size,
                    i32::MAX
                ),
            ));
        }
        if c.reconnect_backoff.is_zero() || c.reconnect_backoff > c.reconnect_backoff_max {
            return Err(ConfigError::invalid(
                "reconnect.backoff.ms",
                format!(
                    "{:?} must be positive and at most reconnect.backoff.max.ms ({:?})",
                    c.reconnect_backoff, c.reconnect_backoff_max
                ),
            ));
        }
        if let Some(sasl) = &c.sasl
            && sasl.username().is_empty()
        {
            return Err(ConfigError::invalid("sasl.username", "must not be empty"));
        }
        Ok(c)
    }
}

/// Upper bound of `max_in_flight`.
pub const MAX_IN_FLIGHT: usize = 1 << 16;
/// Lower bound of `max_response_size`: ApiVersions and Metadata answers must fit.
pub const MIN_RESPONSE_SIZE: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_settings_are_named() {
        let cases = [
            (
                ConnectionConfig::builder().request_timeout(Duration::ZERO),
                "request.timeout.ms",
            ),
            (
                ConnectionConfig::builder().connect_timeout(Duration::ZERO),
                "socket.connection.setup.timeout.ms",
            ),
            (
                ConnectionConfig::builder().max_in_flight(0),
                "max.in.flight.requests.per.connection",
            ),
            (
                ConnectionConfig::builder().max_in_flight(MAX_IN_FLIGHT + 1),
                "max.in.flight.requests.per.connection",
            ),
            (
                ConnectionConfig::builder().max_response_size(10),
                "max.response.size",
            ),
            (
                ConnectionConfig::builder()
                    .reconnect_backoff(Duration::from_secs(2), Duration::from_secs(1)),
                "reconnect.backoff.ms",
            ),
            (
                ConnectionConfig::builder().client_id("x".repeat(40_000)),
                "client.id",
            ),
            (
                ConnectionConfig::builder().sasl(SaslConfig::Plain {
                    username: String::new(),
                    password: "p".into(),
                }),
                "sasl.username",
            ),
        ];
        for (builder, setting) in cases {
            match builder.build() {
                Err(ConfigError::Invalid { setting: s, reason }) => {
                    assert_eq!(s, setting);
                    assert!(!reason.is_empty());
                }
                other => panic!("{setting}: {other:?}"),
            }
        }
        assert!(ConnectionConfig::builder().build().is_ok());
    }
}
