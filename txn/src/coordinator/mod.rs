//! The coordinator conversation: FindCoordinator, InitProducerId, AddPartitionsToTxn,
//! AddOffsetsToTxn + TxnOffsetCommit and EndTxn, with rediscovery and retries, over a small
//! transport trait ([`CoordinatorTransport`]) so that it runs against fakes in tests and
//! against klamm-net's cluster in the producer.

mod driver;
mod requests;

pub use driver::TxnDriver;
#[cfg(test)]
pub(crate) use requests::find_coordinator as find_coordinator_request;
pub use requests::{ConsumerGroupMetadata, OffsetAndMetadata};

use std::future::Future;

use klamm_protocol::messages::{RequestBody, ResponseBody};

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// Any live broker (FindCoordinator).
    AnyBroker,
    /// The broker with this node id (a coordinator found by FindCoordinator).
    Node(i32),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::AnyBroker => f.write_str("any broker"),
            Target::Node(n) => write!(f, "broker {n}"),
        }
    }
}

/// A request could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The connection closed before the answer arrived: the broker may have applied the
    /// request. Retried (coordinator requests are safe to repeat).
    #[error(
        "connection to {target} lost before the answer arrived (the request may have been applied)"
    )]
    Disconnected {
        /// Where the request went.
        target: Target,
    },
    /// No answer within the request timeout. Retried.
    #[error("no answer from {target} within the request timeout")]
    Timeout {
        /// Where the request went.
        target: Target,
    },
    /// No broker with that id is known or reachable now. Retried after rediscovery.
    #[error("{target} is unknown or unreachable: {detail}")]
    Unreachable {
        /// Where the request should have gone.
        target: Target,
        /// Why.
        detail: String,
    },
    /// The broker supports no version of the API that this client can send.
    #[error("{target} supports no usable version of {api}")]
    Unsupported {
        /// Where the request went.
        target: Target,
        /// The API's name.
        api: &'static str,
    },
    /// The client closed its connections (the producer is closing).
    #[error("the client's connections are closed")]
    Closed,
    /// The answer could not be decoded or was not the expected message.
    #[error("bad answer from {target}: {detail}")]
    Protocol {
        /// Where the request went.
        target: Target,
        /// What was wrong.
        detail: String,
    },
}

impl TransportError {
    /// Whether sending again (after finding the coordinator again) may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            TransportError::Disconnected { .. }
                | TransportError::Timeout { .. }
                | TransportError::Unreachable { .. }
        )
    }
}

/// Sends one coordinator request and returns its response with the version used.
///
/// The implementation picks the highest version both it and the broker support, but never
/// above `max_version` (the conversation caps AddPartitionsToTxn at 3, the last client
/// version, and EndTxn at 4 unless KIP-890 part 2 is in use). It must be cancellation-safe:
/// dropping the future must not desynchronise the connection.
pub trait CoordinatorTransport: Send + Sync {
    /// Sends `request` to `target`.
    fn send(
        &self,
        target: Target,
        request: RequestBody,
        max_version: i16,
    ) -> impl Future<Output = Result<(ResponseBody, i16), TransportError>> + Send;

    /// The broker's finalized `transaction.version` feature (KIP-890 part 2 needs >= 2);
    /// 0 when unknown.
    fn transaction_version(&self) -> i16 {
        0
    }
}

impl<T: CoordinatorTransport> CoordinatorTransport for std::sync::Arc<T> {
    fn send(
        &self,
        target: Target,
        request: RequestBody,
        max_version: i16,
    ) -> impl Future<Output = Result<(ResponseBody, i16), TransportError>> + Send {
        (**self).send(target, request, max_version)
    }

    fn transaction_version(&self) -> i16 {
        (**self).transaction_version()
    }
}

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_backoff;
#[cfg(test)]
mod tests_end;
#[cfg(test)]
mod tests_queue;
