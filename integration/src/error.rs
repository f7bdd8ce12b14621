//! The harness's error type.

use crate::broker::BrokerKind;

/// What can go wrong in the harness itself (scenario failures are reported separately).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// `KLAMM_BROKERS` names a broker the harness does not know.
    #[error(
        "unknown broker `{0}` in KLAMM_BROKERS (known: mock, testkit, tansu, kafka, docker, external)"
    )]
    UnknownBroker(String),
    /// An out-of-process broker was selected but its address is missing.
    #[error(
        "broker `{kind}` selected but {var} is not set: run `cargo xtask integration --broker {kind}`, \
         which starts the broker and sets it"
    )]
    NoBootstrap {
        /// The broker kind.
        kind: BrokerKind,
        /// The variable that should hold its address.
        var: &'static str,
    },
    /// librdkafka reported an error.
    #[error("librdkafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The in-process klamm-testkit cluster did not start.
    #[error("klamm-testkit cluster: {0}")]
    Testkit(String),
    /// Writing the scenario report failed.
    #[error("writing the scenario report {path}: {source}")]
    Report {
        /// The report file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}
