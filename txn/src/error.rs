//! The crate's one error type, [`TxnError`], with the kind users match on.

use std::sync::Arc;
use std::time::Duration;

use klamm_producer::{ErrorKind, ProducerError};
use klamm_protocol::error_code::ErrorCode;

use crate::classify::{Disposition, ErrorCategory, TxnApi, category, classify, is_fencing};
use crate::coordinator::TransportError;
use crate::state::{Op, Refusal, TxnState};

/// Every error of a transactional producer.
///
/// Match on [`TxnError::kind`]: `Usage` (the call is wrong in this state; nothing changed),
/// `Retriable` (call the same operation again), `Abortable` (call `abort_transaction`, then
/// continue), `Fatal` (close the producer; build a new one with the same transactional id).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TxnError {
    /// The operation needs `init_transactions` to have completed.
    #[error("{op} before init_transactions completed: call init_transactions first")]
    NotInitialized {
        /// The refused operation.
        op: Op,
    },
    /// `init_transactions` was called again after it completed.
    #[error("init_transactions already completed (state {state})")]
    AlreadyInitialized {
        /// The state at the time.
        state: TxnState,
    },
    /// The operation needs an open transaction.
    #[error("{op} with no open transaction: call begin_transaction first")]
    NoTransaction {
        /// The refused operation.
        op: Op,
    },
    /// `begin_transaction` while a transaction is open.
    #[error("begin_transaction while a transaction is open: commit or abort it first")]
    AlreadyInTransaction,
    /// The transaction is being committed or aborted by another call.
    #[error("{op} while the transaction is ending (state {state})")]
    TransactionEnding {
        /// The refused operation.
        op: Op,
        /// The state at the time.
        state: TxnState,
    },
    /// A previous `commit_transaction` ended without a known outcome.
    #[error(
        "{op} refused: the previous commit_transaction ended without a known outcome; \
         call commit_transaction again to learn it"
    )]
    CommitOutcomeUnknown {
        /// The refused operation.
        op: Op,
    },
    /// A previous `abort_transaction` ended without a known outcome.
    #[error(
        "{op} refused: the previous abort_transaction ended without a known outcome; \
         call abort_transaction again"
    )]
    AbortOutcomeUnknown {
        /// The refused operation.
        op: Op,
    },
    /// The transaction failed earlier; only `abort_transaction` is accepted.
    #[error("{op} refused: the transaction failed ({cause}); call abort_transaction")]
    MustAbort {
        /// The refused operation.
        op: Op,
        /// What made the transaction fail.
        cause: Arc<TxnError>,
    },
    /// The producer failed fatally earlier; nothing is accepted any more.
    #[error("{op} refused: the producer failed fatally ({cause}); close it and build a new one")]
    FatalState {
        /// The refused operation.
        op: Op,
        /// What made the producer fail.
        cause: Arc<TxnError>,
    },
    /// Another state-changing call is running on this producer. Only the low-level
    /// [`TransactionManager::start`](crate::TransactionManager::start) returns it: the
    /// producer's calls wait for their turn instead.
    #[error("{op} refused: {running} is running on this producer; state changes are serialised")]
    ConcurrentOperation {
        /// The refused operation.
        op: Op,
        /// The operation that is running.
        running: Op,
    },
    /// The coordinator answered with an error code that is not retried.
    #[error("{api} failed: {} (code {}){}", code.name(), code.as_i16(),
        if is_fencing(*code) { ": another producer with this transactional id fenced this one" } else { "" })]
    Broker {
        /// The API that failed.
        api: TxnApi,
        /// Kafka's error code.
        code: ErrorCode,
    },
    /// A record of the transaction could not be delivered.
    #[error("a record of the transaction failed: {0}")]
    Producer(#[from] ProducerError),
    /// The coordinator could not be reached or answered something unusable.
    #[error("talking to the coordinator failed: {0}")]
    Transport(#[from] TransportError),
    /// The operation did not finish in time; calling it again resumes it.
    #[error("{op} did not finish within {timeout:?} (state {state}); call {op} again to resume it")]
    Timeout {
        /// The operation.
        op: Op,
        /// The time it had.
        timeout: Duration,
        /// The state it left behind.
        state: TxnState,
    },
    /// The producer was closed (or is closing).
    #[error("the transactional producer is closed")]
    Closed,
    /// `close` could not end the open transaction: its timeout ran out first, or the abort
    /// (or the resumed commit) failed. The producer is closed anyway; the coordinator aborts
    /// the transaction when it times out (`transaction.timeout.ms`) or when the next producer
    /// with this transactional id initialises, and until then `read_committed` readers of its
    /// partitions wait at its first offset.
    #[error(
        "closed, but the open transaction (state {state}) was not ended: {}; the coordinator \
         aborts it after transaction.timeout.ms or when the next producer with this \
         transactional id initialises",
        left_open_reason(cause.as_deref())
    )]
    TransactionLeftOpen {
        /// The state the transaction was left in.
        state: TxnState,
        /// The error that stopped the abort (or the resumed commit); `None` when the close
        /// timeout ran out first.
        cause: Option<Arc<TxnError>>,
    },
    /// The builder was given no transactional id.
    #[error("a transactional producer needs a transactional id: call transactional_id(..)")]
    MissingTransactionalId,
    /// The state machine was asked for a transition its table forbids: a bug in Klamm.
    #[error("internal error: transaction state transition {from} -> {to} is not allowed")]
    InvalidTransition {
        /// Current state.
        from: TxnState,
        /// Refused target.
        to: TxnState,
    },
}

impl TxnError {
    /// The error for `op` refused in `state` (with the error behind an abortable or fatal
    /// state as the cause).
    pub(crate) fn refused(
        op: Op,
        state: TxnState,
        refusal: Refusal,
        last_error: Option<&Arc<TxnError>>,
    ) -> TxnError {
        let cause = || {
            last_error
                .cloned()
                .unwrap_or_else(|| Arc::new(TxnError::Closed))
        };
        match refusal {
            Refusal::NotInitialized => TxnError::NotInitialized { op },
            Refusal::AlreadyInitialized => TxnError::AlreadyInitialized { state },
            Refusal::NoTransaction => TxnError::NoTransaction { op },
            Refusal::AlreadyInTransaction => TxnError::AlreadyInTransaction,
            Refusal::TransactionEnding => TxnError::TransactionEnding { op, state },
            Refusal::CommitOutcomeUnknown => TxnError::CommitOutcomeUnknown { op },
            Refusal::AbortOutcomeUnknown => TxnError::AbortOutcomeUnknown { op },
            Refusal::MustAbort => TxnError::MustAbort { op, cause: cause() },
            Refusal::Fatal => TxnError::FatalState { op, cause: cause() },
        }
    }

    /// What the caller can do about this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TxnError::NotInitialized { .. }
            | TxnError::AlreadyInitialized { .. }
            | TxnError::NoTransaction { .. }
            | TxnError::AlreadyInTransaction
            | TxnError::TransactionEnding { .. }
            | TxnError::CommitOutcomeUnknown { .. }
            | TxnError::AbortOutcomeUnknown { .. }
            | TxnError::ConcurrentOperation { .. }
            | TxnError::MissingTransactionalId => ErrorKind::Usage,
            TxnError::MustAbort { .. } => ErrorKind::Abortable,
            TxnError::FatalState { .. }
            | TxnError::Closed
            | TxnError::TransactionLeftOpen { .. }
            | TxnError::InvalidTransition { .. } => ErrorKind::Fatal,
            TxnError::Broker { api, code } => match classify(*api, *code) {
                Disposition::Ok | Disposition::Retry(_) | Disposition::Rediscover => {
                    ErrorKind::Retriable
                }
                Disposition::Abortable { .. } => ErrorKind::Abortable,
                Disposition::Fatal => ErrorKind::Fatal,
            },
            // a record refused by `send` was never accepted: the transaction is intact and the
            // producer's own kind applies (a record that failed after it was accepted makes
            // the transaction abortable through the state machine, see `MustAbort`)
            TxnError::Producer(e) => e.kind(),
            TxnError::Transport(e) => {
                if e.is_retriable() {
                    ErrorKind::Retriable
                } else {
                    ErrorKind::Fatal
                }
            }
            TxnError::Timeout { .. } => ErrorKind::Retriable,
        }
    }

    /// What the caller should do next, in KIP-1050's categories: retry the call, abort the
    /// transaction, replace the producer, stop, or fix the calling code. See
    /// [`ErrorCategory`] for each; [`kind`](Self::kind) is the coarser view shared with
    /// klamm-producer, which does not tell a producer that a new instance can replace
    /// (fenced) from one that no new instance can (unauthorised).
    ///
    /// ```
    /// use klamm_protocol::error_code::ErrorCode;
    /// use klamm_txn::{ErrorCategory, TxnApi, TxnError};
    /// let e = TxnError::Broker { api: TxnApi::EndTxn, code: ErrorCode::ProducerFenced };
    /// assert_eq!(e.category(), ErrorCategory::ApplicationRecoverable);
    /// ```
    pub fn category(&self) -> ErrorCategory {
        match self {
            TxnError::NotInitialized { .. }
            | TxnError::AlreadyInitialized { .. }
            | TxnError::NoTransaction { .. }
            | TxnError::AlreadyInTransaction
            | TxnError::TransactionEnding { .. }
            | TxnError::CommitOutcomeUnknown { .. }
            | TxnError::AbortOutcomeUnknown { .. }
            | TxnError::ConcurrentOperation { .. } => ErrorCategory::Usage,
            // no producer was built: the configuration must change
            TxnError::MissingTransactionalId => ErrorCategory::Fatal,
            TxnError::MustAbort { .. } => ErrorCategory::Abortable,
            TxnError::Broker { api, code } => category(*api, *code),
            TxnError::Timeout { .. } => ErrorCategory::Retriable,
            // closed by the application or its pool: a new producer works
            TxnError::Closed | TxnError::TransactionLeftOpen { .. } => {
                ErrorCategory::ApplicationRecoverable
            }
            // the producer is gone; whether a new one helps depends on what broke it
            TxnError::FatalState { cause, .. } => match cause.category() {
                ErrorCategory::ApplicationRecoverable => ErrorCategory::ApplicationRecoverable,
                _ => ErrorCategory::Fatal,
            },
            TxnError::InvalidTransition { .. } => ErrorCategory::Fatal,
            TxnError::Producer(e) => match e {
                ProducerError::Broker { code, .. } if is_fencing(*code) => {
                    ErrorCategory::ApplicationRecoverable
                }
                ProducerError::Closed { .. } => ErrorCategory::ApplicationRecoverable,
                // KIP-1050's "invalid configuration"
                ProducerError::Config(_) => ErrorCategory::Fatal,
                e => match e.kind() {
                    ErrorKind::Usage => ErrorCategory::Usage,
                    ErrorKind::Retriable => ErrorCategory::Retriable,
                    ErrorKind::Abortable => ErrorCategory::Abortable,
                    // Fatal, and any kind a later klamm-producer adds (non-exhaustive): the
                    // safe reading is "stop"
                    _ => ErrorCategory::Fatal,
                },
            },
            TxnError::Transport(e) => {
                if e.is_retriable() {
                    ErrorCategory::Retriable
                } else if matches!(e, TransportError::Closed) {
                    ErrorCategory::ApplicationRecoverable
                } else {
                    ErrorCategory::Fatal
                }
            }
        }
    }

    /// Whether another producer with the same transactional id fenced this one (directly or
    /// as the cause of a refusal).
    pub fn is_fenced(&self) -> bool {
        match self {
            TxnError::Broker { code, .. } => is_fencing(*code),
            TxnError::FatalState { cause, .. } | TxnError::MustAbort { cause, .. } => {
                cause.is_fenced()
            }
            TxnError::TransactionLeftOpen { cause, .. } => {
                cause.as_ref().is_some_and(|c| c.is_fenced())
            }
            TxnError::Producer(ProducerError::Broker { code, .. }) => is_fencing(*code),
            _ => false,
        }
    }
}

/// Why `close` left a transaction open, for [`TxnError::TransactionLeftOpen`]'s message.
fn left_open_reason(cause: Option<&TxnError>) -> String {
    match cause {
        Some(e) => format!("ending it failed ({e})"),
        None => "the close timeout ran out first".to_owned(),
    }
}

#[cfg(test)]
mod tests;
