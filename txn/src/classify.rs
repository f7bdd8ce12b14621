//! What a Kafka error code means for a transaction, per API (after Java's
//! `TransactionManager` handlers and librdkafka's `rdkafka_txnmgr.c`).
//!
//! * Fencing (PRODUCER_FENCED, INVALID_PRODUCER_EPOCH, TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
//!   and the coordinator's INVALID_TXN_STATE) is fatal: another producer owns the id now, or
//!   this one may not use it.
//! * NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE: find the coordinator again, then retry.
//! * CONCURRENT_TRANSACTIONS: the coordinator is still completing the previous transaction;
//!   retry after a short backoff. COORDINATOR_LOAD_IN_PROGRESS and other retriable codes:
//!   retry after the normal backoff.
//! * Authorisation failures on topics or groups, consumer-group errors on TxnOffsetCommit and
//!   TRANSACTION_ABORTABLE abort the transaction; UNKNOWN_PRODUCER_ID and
//!   INVALID_PRODUCER_ID_MAPPING do too, and ask for an epoch bump when the transaction is
//!   aborted (KIP-360).

use klamm_protocol::error_code::ErrorCode;

/// The coordinator APIs a transactional producer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnApi {
    /// FindCoordinator (key type 1 for the transaction, 0 for a consumer group).
    FindCoordinator,
    /// InitProducerId.
    InitProducerId,
    /// AddPartitionsToTxn.
    AddPartitionsToTxn,
    /// AddOffsetsToTxn.
    AddOffsetsToTxn,
    /// TxnOffsetCommit (to the group coordinator).
    TxnOffsetCommit,
    /// EndTxn.
    EndTxn,
}

impl TxnApi {
    /// Kafka's name of the API.
    pub const fn name(self) -> &'static str {
        match self {
            TxnApi::FindCoordinator => "FindCoordinator",
            TxnApi::InitProducerId => "InitProducerId",
            TxnApi::AddPartitionsToTxn => "AddPartitionsToTxn",
            TxnApi::AddOffsetsToTxn => "AddOffsetsToTxn",
            TxnApi::TxnOffsetCommit => "TxnOffsetCommit",
            TxnApi::EndTxn => "EndTxn",
        }
    }

    /// Every API, for exhaustive tests.
    pub const ALL: [TxnApi; 6] = [
        TxnApi::FindCoordinator,
        TxnApi::InitProducerId,
        TxnApi::AddPartitionsToTxn,
        TxnApi::AddOffsetsToTxn,
        TxnApi::TxnOffsetCommit,
        TxnApi::EndTxn,
    ];
}

impl std::fmt::Display for TxnApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How long to wait before a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// The short backoff (CONCURRENT_TRANSACTIONS: the previous transaction is completing).
    Short,
    /// The producer's `retry_backoff`.
    Normal,
}

/// What to do with a response's error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Success.
    Ok,
    /// Send the same request again after the backoff.
    Retry(Backoff),
    /// Forget the coordinator, look it up again, then retry.
    Rediscover,
    /// The transaction must be aborted; the producer stays usable.
    Abortable {
        /// Whether the abort must bump the producer epoch (KIP-360).
        bump_epoch: bool,
    },
    /// The producer cannot continue.
    Fatal,
}

/// Classifies `code` as returned by `api`.
pub fn classify(api: TxnApi, code: ErrorCode) -> Disposition {
    use Disposition::*;
    use ErrorCode as E;
    if code.is_ok() {
        return Ok;
    }
    match code {
        E::ProducerFenced
        | E::InvalidProducerEpoch
        | E::TransactionalIdAuthorizationFailed
        | E::InvalidTxnState
        | E::InvalidTransactionTimeout
        | E::TransactionCoordinatorFenced => Fatal,
        E::NotCoordinator | E::CoordinatorNotAvailable => match api {
            // the lookup itself: ask again (maybe another broker knows)
            TxnApi::FindCoordinator => Retry(Backoff::Normal),
            _ => Rediscover,
        },
        E::ConcurrentTransactions => Retry(Backoff::Short),
        E::CoordinatorLoadInProgress => Retry(Backoff::Normal),
        E::UnknownProducerId | E::InvalidProducerIdMapping => match api {
            // InitProducerId with an id the coordinator forgot: nothing to abort, start over
            TxnApi::InitProducerId | TxnApi::FindCoordinator => Fatal,
            _ => Abortable { bump_epoch: true },
        },
        E::TransactionAbortable => Abortable { bump_epoch: false },
        E::TopicAuthorizationFailed | E::GroupAuthorizationFailed => match api {
            TxnApi::FindCoordinator
            | TxnApi::AddPartitionsToTxn
            | TxnApi::AddOffsetsToTxn
            | TxnApi::TxnOffsetCommit => Abortable { bump_epoch: false },
            _ => Fatal,
        },
        E::UnknownMemberId
        | E::IllegalGeneration
        | E::FencedInstanceId
        | E::RebalanceInProgress
            if api == TxnApi::TxnOffsetCommit =>
        {
            // the consumer lost its group membership: these offsets must not be committed
            Abortable { bump_epoch: false }
        }
        // a partition of a batched AddPartitionsToTxn not tried because another failed
        E::OperationNotAttempted if api == TxnApi::AddPartitionsToTxn => Retry(Backoff::Normal),
        other if other.is_retriable() => Retry(Backoff::Normal),
        _ => Fatal,
    }
}

/// What a caller should do about a transaction error, in KIP-1050's categories ("Consistent
/// error handling for Transactions"), from [`TxnError::category`](crate::TxnError::category).
///
/// KIP-1050 sorts every transactional error into one of these so that an application needs
/// one `match`, not a list of exceptions. Two departures, both for a reason: KIP-1050's
/// separate "invalid configuration" group (authorisation, bad settings) is folded into
/// [`Fatal`](Self::Fatal), since the caller does the same (stop and fix it); and a call made
/// in the wrong state (Java throws `IllegalStateException` for it, outside KIP-1050's
/// categories) is [`Usage`](Self::Usage), because the producer and its transaction are
/// unharmed and closing them would be wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCategory {
    /// Transient (a timeout, a coordinator moving or loading, a full buffer): nothing was
    /// lost. Call the same operation again; a commit or abort that timed out resumes where
    /// it stopped and yields the coordinator's outcome.
    Retriable,
    /// The open transaction cannot commit (a record failed, TRANSACTION_ABORTABLE, a lost
    /// group membership, an unauthorised topic): call `abort_transaction`, then begin a new
    /// transaction on the same producer and redo the work (consumers rewind to the last
    /// committed offsets).
    Abortable,
    /// This producer cannot go on, but a new one can (it was fenced by another instance with
    /// the same transactional id, its producer id or epoch is no longer valid, or it was
    /// closed): close it, build a new producer with the same transactional id, call
    /// `init_transactions` (which aborts whatever this one left open) and restart from the
    /// last committed offsets. If the fencing instance is a live twin, stop instead.
    ApplicationRecoverable,
    /// A new producer would fail the same way (no authorisation for the transactional id,
    /// an invalid setting, a broker without the needed API versions, an internal error):
    /// close the producer and stop; fix the configuration or the cluster.
    Fatal,
    /// The call does not fit the producer's state (commit without begin, init twice, begin
    /// during a commit, a record the producer refused as invalid): nothing changed; fix the
    /// calling code. The error's message says which call the state expects.
    Usage,
}

/// The category of `code` returned by `api` (see [`ErrorCategory`]).
pub fn category(api: TxnApi, code: ErrorCode) -> ErrorCategory {
    use ErrorCode as E;
    match classify(api, code) {
        Disposition::Ok | Disposition::Retry(_) | Disposition::Rediscover => {
            ErrorCategory::Retriable
        }
        Disposition::Abortable { .. } => ErrorCategory::Abortable,
        Disposition::Fatal => match code {
            // another instance owns the id now, or this instance's producer id or epoch is
            // gone: a new producer's InitProducerId gets a valid one
            E::ProducerFenced
            | E::InvalidProducerEpoch
            | E::TransactionCoordinatorFenced
            | E::InvalidTxnState
            | E::UnknownProducerId
            | E::InvalidProducerIdMapping => ErrorCategory::ApplicationRecoverable,
            // authorisation, settings, versions, unknown codes: a new producer fails alike
            _ => ErrorCategory::Fatal,
        },
    }
}

/// Whether `code` means another producer with the same transactional id took over.
pub fn is_fencing(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::ProducerFenced | ErrorCode::InvalidProducerEpoch
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use klamm_protocol::error_code::ALL;

    #[test]
    fn fencing_is_fatal_for_every_api() {
        for api in TxnApi::ALL {
            for code in [
                ErrorCode::ProducerFenced,
                ErrorCode::InvalidProducerEpoch,
                ErrorCode::TransactionalIdAuthorizationFailed,
            ] {
                assert_eq!(classify(api, code), Disposition::Fatal, "{api} {code:?}");
            }
        }
        assert!(is_fencing(ErrorCode::ProducerFenced));
        assert!(!is_fencing(ErrorCode::TransactionalIdAuthorizationFailed));
    }

    #[test]
    fn coordinator_errors_rediscover() {
        for api in TxnApi::ALL {
            for code in [
                ErrorCode::NotCoordinator,
                ErrorCode::CoordinatorNotAvailable,
            ] {
                let want = if api == TxnApi::FindCoordinator {
                    Disposition::Retry(Backoff::Normal)
                } else {
                    Disposition::Rediscover
                };
                assert_eq!(classify(api, code), want, "{api} {code:?}");
            }
            assert_eq!(
                classify(api, ErrorCode::ConcurrentTransactions),
                Disposition::Retry(Backoff::Short)
            );
            assert_eq!(
                classify(api, ErrorCode::CoordinatorLoadInProgress),
                Disposition::Retry(Backoff::Normal)
            );
            assert_eq!(classify(api, ErrorCode::None), Disposition::Ok);
        }
    }

    #[test]
    fn abortable_codes() {
        use Disposition::Abortable;
        assert_eq!(
            classify(
                TxnApi::AddPartitionsToTxn,
                ErrorCode::TopicAuthorizationFailed
            ),
            Abortable { bump_epoch: false }
        );
        assert_eq!(
            classify(TxnApi::AddOffsetsToTxn, ErrorCode::GroupAuthorizationFailed),
            Abortable { bump_epoch: false }
        );
        assert_eq!(
            classify(TxnApi::TxnOffsetCommit, ErrorCode::IllegalGeneration),
            Abortable { bump_epoch: false }
        );
        assert_eq!(
            classify(TxnApi::EndTxn, ErrorCode::IllegalGeneration),
            Disposition::Fatal
        );
        for api in [
            TxnApi::AddPartitionsToTxn,
            TxnApi::AddOffsetsToTxn,
            TxnApi::TxnOffsetCommit,
            TxnApi::EndTxn,
        ] {
            assert_eq!(
                classify(api, ErrorCode::UnknownProducerId),
                Abortable { bump_epoch: true }
            );
            assert_eq!(
                classify(api, ErrorCode::TransactionAbortable),
                Abortable { bump_epoch: false }
            );
        }
        assert_eq!(
            classify(TxnApi::InitProducerId, ErrorCode::UnknownProducerId),
            Disposition::Fatal
        );
    }

    #[test]
    fn every_code_has_a_disposition_consistent_with_retriability() {
        for api in TxnApi::ALL {
            for &code in ALL {
                let d = classify(api, code);
                if code.is_ok() {
                    assert_eq!(d, Disposition::Ok);
                } else {
                    assert_ne!(d, Disposition::Ok, "{api} {code:?}");
                }
                // a code Kafka calls non-retriable is never retried blindly, except the
                // partition a batched request did not attempt
                let not_attempted =
                    code == ErrorCode::OperationNotAttempted && api == TxnApi::AddPartitionsToTxn;
                if !code.is_retriable() && !not_attempted {
                    assert!(
                        !matches!(d, Disposition::Retry(_) | Disposition::Rediscover),
                        "{api} {code:?} -> {d:?}"
                    );
                }
            }
        }
        assert_eq!(
            classify(TxnApi::EndTxn, ErrorCode::Unknown(-200)),
            Disposition::Fatal
        );
    }
}
