//! KIP-1050 categories of every error kind, as a table: one row per error, with the category
//! a caller must see and why.

use std::sync::Arc;
use std::time::Duration;

use klamm_producer::{CloseReason, ConfigError, ProducerError};
use klamm_protocol::error_code::{ALL, ErrorCode};

use super::TxnError;
use crate::classify::{Disposition, ErrorCategory, TxnApi, category, classify};
use crate::coordinator::{Target, TransportError};
use crate::state::{Op, TxnState};

fn broker(api: TxnApi, code: ErrorCode) -> TxnError {
    TxnError::Broker { api, code }
}

fn record_error(code: ErrorCode) -> TxnError {
    TxnError::Producer(ProducerError::Broker {
        topic: Arc::from("t"),
        partition: 0,
        code,
        message: None,
    })
}

fn fatal_state(cause: TxnError) -> TxnError {
    TxnError::FatalState {
        op: Op::Commit,
        cause: Arc::new(cause),
    }
}

#[test]
fn every_error_kind_has_its_kip_1050_category() {
    use ErrorCategory::*;
    let fenced = broker(TxnApi::EndTxn, ErrorCode::ProducerFenced);
    let unauthorised = broker(
        TxnApi::InitProducerId,
        ErrorCode::TransactionalIdAuthorizationFailed,
    );
    let table: Vec<(TxnError, ErrorCategory)> = vec![
        // misuse: the producer is unharmed
        (TxnError::NotInitialized { op: Op::Send }, Usage),
        (
            TxnError::AlreadyInitialized {
                state: TxnState::Ready,
            },
            Usage,
        ),
        (TxnError::NoTransaction { op: Op::Commit }, Usage),
        (TxnError::AlreadyInTransaction, Usage),
        (
            TxnError::TransactionEnding {
                op: Op::Send,
                state: TxnState::Committing,
            },
            Usage,
        ),
        (TxnError::CommitOutcomeUnknown { op: Op::Send }, Usage),
        (TxnError::AbortOutcomeUnknown { op: Op::Send }, Usage),
        (
            TxnError::ConcurrentOperation {
                op: Op::Commit,
                running: Op::Abort,
            },
            Usage,
        ),
        (
            TxnError::Producer(ProducerError::RecordTooLarge {
                size: 10,
                max_request_size: 1,
            }),
            Usage,
        ),
        // transient: call again
        (
            TxnError::Timeout {
                op: Op::Commit,
                timeout: Duration::from_secs(1),
                state: TxnState::CommitOutcomeUnknown,
            },
            Retriable,
        ),
        (
            broker(TxnApi::EndTxn, ErrorCode::ConcurrentTransactions),
            Retriable,
        ),
        (broker(TxnApi::EndTxn, ErrorCode::NotCoordinator), Retriable),
        (
            broker(TxnApi::InitProducerId, ErrorCode::CoordinatorLoadInProgress),
            Retriable,
        ),
        (
            TxnError::Transport(TransportError::Timeout {
                target: Target::Node(1),
            }),
            Retriable,
        ),
        (
            TxnError::Transport(TransportError::Disconnected {
                target: Target::AnyBroker,
            }),
            Retriable,
        ),
        (
            TxnError::Producer(ProducerError::BufferExhausted {
                requested: 10,
                waited: Duration::from_millis(5),
            }),
            Retriable,
        ),
        // the transaction must be aborted; the producer goes on
        (
            TxnError::MustAbort {
                op: Op::Commit,
                cause: Arc::new(record_error(ErrorCode::MessageTooLarge)),
            },
            Abortable,
        ),
        (
            broker(TxnApi::EndTxn, ErrorCode::TransactionAbortable),
            Abortable,
        ),
        (
            broker(TxnApi::AddPartitionsToTxn, ErrorCode::UnknownProducerId),
            Abortable,
        ),
        (
            broker(
                TxnApi::AddPartitionsToTxn,
                ErrorCode::TopicAuthorizationFailed,
            ),
            Abortable,
        ),
        (
            broker(TxnApi::TxnOffsetCommit, ErrorCode::IllegalGeneration),
            Abortable,
        ),
        (record_error(ErrorCode::MessageTooLarge), Abortable),
        // this producer is done, a new one with the same id works
        (fenced.clone(), ApplicationRecoverable),
        (
            broker(TxnApi::AddOffsetsToTxn, ErrorCode::InvalidProducerEpoch),
            ApplicationRecoverable,
        ),
        (
            broker(TxnApi::EndTxn, ErrorCode::InvalidTxnState),
            ApplicationRecoverable,
        ),
        (
            broker(TxnApi::InitProducerId, ErrorCode::InvalidProducerIdMapping),
            ApplicationRecoverable,
        ),
        (
            broker(TxnApi::EndTxn, ErrorCode::TransactionCoordinatorFenced),
            ApplicationRecoverable,
        ),
        (
            record_error(ErrorCode::ProducerFenced),
            ApplicationRecoverable,
        ),
        (fatal_state(fenced.clone()), ApplicationRecoverable),
        (TxnError::Closed, ApplicationRecoverable),
        (fatal_state(TxnError::Closed), ApplicationRecoverable),
        (
            TxnError::TransactionLeftOpen {
                state: TxnState::InTransaction,
                cause: None,
            },
            ApplicationRecoverable,
        ),
        (
            TxnError::Producer(ProducerError::Closed {
                reason: CloseReason::AlreadyClosed,
            }),
            ApplicationRecoverable,
        ),
        (
            TxnError::Transport(TransportError::Closed),
            ApplicationRecoverable,
        ),
        // a new producer fails the same way: stop and fix
        (unauthorised.clone(), Fatal),
        (fatal_state(unauthorised), Fatal),
        (
            broker(TxnApi::InitProducerId, ErrorCode::InvalidTransactionTimeout),
            Fatal,
        ),
        (
            broker(TxnApi::EndTxn, ErrorCode::ClusterAuthorizationFailed),
            Fatal,
        ),
        (broker(TxnApi::EndTxn, ErrorCode::Unknown(-200)), Fatal),
        (TxnError::MissingTransactionalId, Fatal),
        (
            TxnError::Producer(ProducerError::Config(ConfigError::EmptyBootstrap)),
            Fatal,
        ),
        (
            TxnError::Producer(ProducerError::Fatal(Arc::from("sender died"))),
            Fatal,
        ),
        (
            TxnError::Transport(TransportError::Unsupported {
                target: Target::Node(1),
                api: "EndTxn",
            }),
            Fatal,
        ),
        (
            TxnError::InvalidTransition {
                from: TxnState::Ready,
                to: TxnState::Committing,
            },
            Fatal,
        ),
    ];
    for (error, want) in &table {
        assert_eq!(error.category(), *want, "{error:?}");
    }
    // every category is reached
    for c in [Usage, Retriable, Abortable, ApplicationRecoverable, Fatal] {
        assert!(table.iter().any(|(_, w)| *w == c), "{c:?} untested");
    }
}

#[test]
fn broker_categories_agree_with_the_retry_classification() {
    // what the coordinator conversation does with a code and what the caller is told must
    // never disagree: retried codes are Retriable, abortable ones Abortable, and a code the
    // conversation gives up on is never called Retriable or Abortable
    for api in TxnApi::ALL {
        for &code in ALL {
            let c = category(api, code);
            match classify(api, code) {
                Disposition::Ok | Disposition::Retry(_) | Disposition::Rediscover => {
                    assert_eq!(c, ErrorCategory::Retriable, "{api} {code:?}")
                }
                Disposition::Abortable { .. } => {
                    assert_eq!(c, ErrorCategory::Abortable, "{api} {code:?}")
                }
                Disposition::Fatal => assert!(
                    matches!(
                        c,
                        ErrorCategory::ApplicationRecoverable | ErrorCategory::Fatal
                    ),
                    "{api} {code:?} -> {c:?}"
                ),
            }
            // fencing always means "replace the producer"
            if crate::classify::is_fencing(code) {
                assert_eq!(c, ErrorCategory::ApplicationRecoverable, "{api} {code:?}");
            }
        }
    }
}
