//! The producer's one error type, [`ProducerError`], and the kind users match on.

use std::sync::Arc;
use std::time::Duration;

use klamm_protocol::error_code::ErrorCode;

use crate::config::ConfigError;
use crate::partitioner::PartitionError;

/// What a caller can do about an error (DESIGN.md "Errors").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Transient: sending the record again later may succeed.
    Retriable,
    /// Inside a transaction: the transaction must be aborted, the producer stays usable.
    Abortable,
    /// The producer cannot continue (fenced, unrecoverable sequence state, closed).
    Fatal,
    /// The call or the configuration is wrong; retrying the same call fails the same way.
    Usage,
}

/// Why the producer stopped serving a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// `close(timeout)` ran out of time before the record was sent.
    CloseTimeout,
    /// The producer was dropped (or closed) before the record was sent.
    Dropped,
    /// `send` was called after `close`.
    AlreadyClosed,
}

/// Every error the producer reports: from `send`/`try_send` at once, or through a
/// [`DeliveryFuture`](crate::DeliveryFuture). Cheap to clone: one batch's error is shared by
/// all of its records.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProducerError {
    /// The configuration was refused.
    #[error("invalid producer configuration: {0}")]
    Config(#[from] ConfigError),
    /// No partition could be chosen for the record.
    #[error(transparent)]
    Partition(#[from] PartitionError),
    /// The record alone is larger than `max_request_size`.
    #[error(
        "record of {size} bytes is larger than max_request_size ({max_request_size} bytes): \
         raise max_request_size (and the topic's max.message.bytes) or send a smaller record"
    )]
    RecordTooLarge {
        /// The record's encoded size (upper bound, batch header included).
        size: usize,
        /// The configured `max_request_size`.
        max_request_size: usize,
    },
    /// The record alone is larger than `buffer_memory`, so it could never be buffered.
    #[error(
        "record of {size} bytes is larger than buffer_memory ({buffer_memory} bytes): \
         raise buffer_memory"
    )]
    RecordLargerThanBuffer {
        /// The record's encoded size (upper bound).
        size: usize,
        /// The configured `buffer_memory`.
        buffer_memory: usize,
    },
    /// `send` waited `max_block` for buffer memory and none became free.
    #[error(
        "no buffer memory for {requested} bytes after waiting {waited:?} (max_block): the \
         brokers do not keep up; slow down, raise buffer_memory or max_block"
    )]
    BufferExhausted {
        /// Bytes asked for.
        requested: usize,
        /// How long `send` waited.
        waited: Duration,
    },
    /// `try_send` found too little buffer memory and does not wait.
    #[error(
        "no buffer memory for {requested} bytes right now ({available} free); use send() to wait"
    )]
    WouldBlock {
        /// Bytes asked for.
        requested: usize,
        /// Bytes free at that moment.
        available: usize,
    },
    /// The record was not acknowledged within `delivery_timeout`.
    #[error(
        "record for {topic}-{partition} not acknowledged within delivery_timeout ({timeout:?}) \
         after {attempts} attempt(s){}",
        last_error.as_ref().map(|e| format!("; last error: {e}")).unwrap_or_default()
    )]
    DeliveryTimeout {
        /// The topic.
        topic: Arc<str>,
        /// The partition.
        partition: i32,
        /// The configured delivery timeout.
        timeout: Duration,
        /// How many produce attempts were made.
        attempts: u32,
        /// The last error seen, if any.
        last_error: Option<Arc<ProducerError>>,
    },
    /// The broker refused the batch with a Kafka error code that is not retried.
    #[error("broker refused the batch for {topic}-{partition}: {} (code {}){}",
        code.name(), code.as_i16(), message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Broker {
        /// The topic.
        topic: Arc<str>,
        /// The partition.
        partition: i32,
        /// Kafka's error code.
        code: ErrorCode,
        /// The broker's error message, if it sent one.
        message: Option<Arc<str>>,
    },
    /// The topic's metadata (its partitions) did not arrive within `max_block`: the topic may
    /// not exist (and auto-creation be off) or no broker answers.
    #[error(
        "no metadata for topic {topic:?} after {waited:?} (max_block){}: check the topic name \
         and that it exists",
        last_error.as_ref().map(|e| format!("; last error: {e}")).unwrap_or_default()
    )]
    MetadataTimeout {
        /// The topic.
        topic: Arc<str>,
        /// How long `send` waited.
        waited: Duration,
        /// The last error from the metadata request, if any.
        last_error: Option<Arc<ProducerError>>,
    },
    /// The broker did not answer (connection lost, request timed out, metadata unavailable).
    #[error("no answer from the broker: {0}")]
    NoAnswer(Arc<str>),
    /// The producer closed before the record was sent.
    #[error("producer closed before the record was sent ({reason:?})")]
    Closed {
        /// Why.
        reason: CloseReason,
    },
    /// The producer hit an error it cannot recover from; every later send fails too.
    #[error("producer failed fatally: {0}")]
    Fatal(Arc<str>),
}

impl ProducerError {
    /// What the caller can do about this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ProducerError::Config(_)
            | ProducerError::Partition(_)
            | ProducerError::RecordTooLarge { .. }
            | ProducerError::RecordLargerThanBuffer { .. } => ErrorKind::Usage,
            ProducerError::BufferExhausted { .. }
            | ProducerError::WouldBlock { .. }
            | ProducerError::DeliveryTimeout { .. }
            | ProducerError::NoAnswer(_)
            | ProducerError::MetadataTimeout { .. } => ErrorKind::Retriable,
            ProducerError::Broker { code, .. } => {
                if code.is_retriable() {
                    ErrorKind::Retriable
                } else {
                    ErrorKind::Abortable
                }
            }
            ProducerError::Closed { .. } | ProducerError::Fatal(_) => ErrorKind::Fatal,
        }
    }

    /// Shorthand for `kind() == ErrorKind::Retriable`.
    pub fn is_retriable(&self) -> bool {
        self.kind() == ErrorKind::Retriable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_messages() {
        let e = ProducerError::RecordTooLarge {
            size: 2_000_000,
            max_request_size: 1_048_576,
        };
        assert_eq!(e.kind(), ErrorKind::Usage);
        assert!(e.to_string().contains("raise max_request_size"), "{e}");

        let e = ProducerError::BufferExhausted {
            requested: 100,
            waited: Duration::from_millis(5),
        };
        assert!(e.is_retriable());

        let inner = ProducerError::Broker {
            topic: "t".into(),
            partition: 3,
            code: ErrorCode::NotLeaderOrFollower,
            message: Some("not leader".into()),
        };
        assert_eq!(inner.kind(), ErrorKind::Retriable);
        let e = ProducerError::DeliveryTimeout {
            topic: "t".into(),
            partition: 3,
            timeout: Duration::from_secs(120),
            attempts: 7,
            last_error: Some(Arc::new(inner)),
        };
        let text = e.to_string();
        assert!(text.contains("t-3") && text.contains("7 attempt"), "{text}");
        assert!(
            text.contains("NOT_LEADER_OR_FOLLOWER (code 6): not leader"),
            "{text}"
        );

        let e = ProducerError::Closed {
            reason: CloseReason::CloseTimeout,
        };
        assert_eq!(e.kind(), ErrorKind::Fatal);
        let e: ProducerError = ConfigError::EmptyBootstrap.into();
        assert_eq!(e.kind(), ErrorKind::Usage);
    }
}
