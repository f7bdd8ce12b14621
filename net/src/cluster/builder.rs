//! Building a [`Cluster`]: bootstrap list and cluster-wide settings, validated up front.

use std::time::Duration;

use super::Cluster;
use crate::config::ConnectionConfig;
use crate::error::{ConfigError, Error};

/// Builds a [`Cluster`]. See [`Cluster::builder`].
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    pub(crate) bootstrap: Vec<String>,
    pub(crate) connection: ConnectionConfig,
    pub(crate) metadata_max_age: Duration,
    pub(crate) metadata_max_idle: Duration,
    pub(crate) allow_auto_topic_creation: bool,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        ClusterBuilder {
            bootstrap: Vec::new(),
            connection: ConnectionConfig::default(),
            metadata_max_age: Duration::from_secs(300),
            metadata_max_idle: Duration::from_secs(300),
            allow_auto_topic_creation: true,
        }
    }
}

impl ClusterBuilder {
    /// Adds bootstrap brokers: `host:port`, several separated by commas
    /// (`bootstrap.servers`).
    pub fn bootstrap(mut self, servers: impl AsRef<str>) -> Self {
        self.bootstrap.extend(bootstrap_servers(servers.as_ref()));
        self
    }

    /// Settings of every broker connection (client id, timeouts, in-flight limit, TLS, SASL).
    pub fn connection(mut self, config: ConnectionConfig) -> Self {
        self.connection = config;
        self
    }

    /// `metadata.max.age.ms` (default 5 minutes): metadata older than this is refreshed even
    /// if nothing asked for it.
    pub fn metadata_max_age(mut self, age: Duration) -> Self {
        self.metadata_max_age = age;
        self
    }

    /// `metadata.max.idle.ms` (default 5 minutes, Java's): a topic not used for this long
    /// ([`Cluster::topic`], [`Cluster::touch_topics`]) is dropped from the Metadata requests
    /// and the cached metadata at the next refresh; its next use fetches it again. (Java
    /// refuses less than 5 s; shorter values are accepted here, for tests.)
    pub fn metadata_max_idle(mut self, idle: Duration) -> Self {
        self.metadata_max_idle = idle;
        self
    }

    /// Whether Metadata requests ask the broker to create unknown topics
    /// (`allow.auto.create.topics`, default true as in the Java producer).
    pub fn allow_auto_topic_creation(mut self, allow: bool) -> Self {
        self.allow_auto_topic_creation = allow;
        self
    }

    /// Checks the settings without connecting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.bootstrap.is_empty() {
            return Err(ConfigError::invalid(
                "bootstrap.servers",
                "no broker given; pass at least one host:port",
            ));
        }
        for b in &self.bootstrap {
            let port = b.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>()));
            match port {
                Some((h, Ok(p))) if !h.is_empty() && p > 0 => {}
                _ => {
                    return Err(ConfigError::invalid(
                        "bootstrap.servers",
                        format!("{b:?} is not host:port"),
                    ));
                }
            }
        }
        if self.metadata_max_age.is_zero() {
            return Err(ConfigError::invalid(
                "metadata.max.age.ms",
                "must be positive",
            ));
        }
        if self.metadata_max_idle.is_zero() {
            return Err(ConfigError::invalid(
                "metadata.max.idle.ms",
                "must be positive",
            ));
        }
        Ok(())
    }

    /// Validates the settings, fetches the first metadata from a bootstrap broker and returns
    /// the cluster handle.
    pub async fn connect(self) -> Result<Cluster, Error> {
        self.validate()?;
        Cluster::start(self).await
    }
}

/// The `host:port` entries of a `bootstrap.servers` list: separated by commas, each trimmed,
/// empty entries skipped (as the Java client reads the setting).
///
/// ```
/// assert_eq!(
///     klamm_net::bootstrap_servers(" a:9092,, b:9093 "),
///     ["a:9092", "b:9093"]
/// );
/// ```
pub fn bootstrap_servers(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_is_validated() {
        let bad = [
            "",
            "nohost",
            "host:",
            ":9092",
            "host:99999",
            "host:0",
            "host:x",
        ];
        for b in bad {
            let err = ClusterBuilder::default()
                .bootstrap(b)
                .validate()
                .expect_err(b);
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        setting: "bootstrap.servers",
                        ..
                    }
                ),
                "{b}"
            );
        }
        let ok = ClusterBuilder::default().bootstrap("a:1, b:2,[::1]:9092");
        assert_eq!(ok.bootstrap, vec!["a:1", "b:2", "[::1]:9092"]);
        assert!(ok.validate().is_ok());
        assert!(
            ClusterBuilder::default()
                .bootstrap("a:1")
                .metadata_max_age(Duration::ZERO)
                .validate()
                .is_err()
        );
    }
}
