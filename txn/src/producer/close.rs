//! [`TransactionalProducer::close`]: ending the open transaction before the producer stops.
//!
//! Java's `KafkaProducer.close(Duration)` aborts a transaction that is still open when it
//! closes gracefully (its sender calls `beginAbort` on shutdown unless a commit or abort is
//! already completing, and lets that one finish), and skips it on a forced close
//! (`close(Duration.ZERO)`). Leaving the transaction to the coordinator instead holds the
//! last stable offset of every partition it wrote (KIP-98): `read_committed` consumers stall
//! until `transaction.timeout.ms` passes or the next producer with the same transactional id
//! initialises. Klamm does what Java does, state by state (see [`TransactionalProducer::close`]).

use std::sync::Arc;
use std::time::Duration;

use klamm_producer::ErrorKind;
use tokio::time::Instant;

use super::{ProducerBackend, TransactionalProducer};
use crate::coordinator::CoordinatorTransport;
use crate::error::TxnError;
use crate::state::TxnState;

/// Rounds of "look at the state, end the transaction": each round either ends it or follows a
/// state change made by a call queued before ours (a commit that finished, failed or timed
/// out), so a handful suffice; the bound only guards against a bug turning into a busy loop.
const MAX_ROUNDS: usize = 8;

impl<B: ProducerBackend, T: CoordinatorTransport + 'static> TransactionalProducer<B, T> {
    /// Closes the producer, ending an open transaction first, all within `timeout`.
    ///
    /// From the moment it is called, `begin_transaction`, `send`,
    /// `send_offsets_to_transaction` and `init_transactions` fail with [`TxnError::Closed`]
    /// (so no task opens a new transaction behind its back); afterwards the state is
    /// FatalError with [`TxnError::Closed`] as the cause. What happens to the transaction
    /// depends on the state:
    ///
    /// | state | what `close` does |
    /// |---|---|
    /// | Uninitialized, Initializing, Ready | nothing to end |
    /// | InTransaction, AbortableError | aborts it (unsent records fail; sent ones stay invisible to `read_committed` readers), as Java's graceful close does |
    /// | Aborting, AbortOutcomeUnknown | finishes the abort (waits for a running one, resends EndTxn for an interrupted one) |
    /// | Committing, CommitOutcomeUnknown | finishes the commit the caller asked for (waits for a running one, resends EndTxn for one whose outcome is unknown; the coordinator answers with the outcome it applied). Never turns a commit into an abort; if the commit fails as abortable, the transaction is aborted instead |
    /// | FatalError (fenced, unauthorised, closed) | nothing: a fenced producer's transaction was already aborted by its successor's `init_transactions`, and a producer that failed fatally cannot talk to the coordinator any more. Returns without waiting for the coordinator |
    ///
    /// Calls queued before `close` (a commit another task started) keep their turn. Once the
    /// transaction is ended, the producer underneath is closed with what is left of `timeout`.
    ///
    /// A zero `timeout` is a forced close, as in Java: nothing is sent to the coordinator. If
    /// a transaction was open (or the timeout runs out, or the abort fails), the producer is
    /// closed anyway and the result is [`TxnError::TransactionLeftOpen`]: the coordinator
    /// aborts that transaction after `transaction.timeout.ms` or when the next producer with
    /// this transactional id initialises. A failure of the producer underneath is returned as
    /// [`TxnError::Producer`]. Dropping the returned future part-way leaves the producer
    /// refusing new work; call `close` again to finish.
    pub async fn close(&self, timeout: Duration) -> Result<(), TxnError> {
        let deadline = Instant::now() + timeout;
        let mgr = self.manager();
        mgr.begin_close();
        let ended = if timeout.is_zero() {
            left_open_if_any(mgr.state(), None)
        } else {
            match tokio::time::timeout_at(deadline, self.end_for_close()).await {
                Ok(r) => r,
                Err(_) => left_open_if_any(mgr.state(), None),
            }
        };
        mgr.close();
        if let Some(h) = self.adder.lock().unwrap_or_else(|p| p.into_inner()).take() {
            h.abort();
        }
        let rest = deadline.saturating_duration_since(Instant::now());
        let closed = self.shared.backend.close(rest).await;
        match (ended, closed) {
            (Err(e), closed) => {
                if let Err(p) = closed {
                    tracing::warn!(error = %p, "closing the producer underneath failed too");
                }
                tracing::warn!(error = %e, "transactional producer closed with its transaction open");
                Err(e)
            }
            (Ok(()), closed) => Ok(closed?),
        }
    }

    /// Ends the open transaction the way its state asks for (see [`Self::close`]).
    async fn end_for_close(&self) -> Result<(), TxnError> {
        let mut last = None;
        for _ in 0..MAX_ROUNDS {
            let state = self.state();
            let r = match state {
                TxnState::Committing | TxnState::CommitOutcomeUnknown => {
                    self.commit_transaction().await
                }
                s if s.has_transaction() => {
                    tracing::info!(%state, "aborting the open transaction on close");
                    self.abort_transaction().await
                }
                _ => return Ok(()),
            };
            match r {
                Ok(()) => return Ok(()),
                // refused because a call queued before ours changed the state (a commit that
                // finished or failed), or our commit failed as abortable, or an operation
                // timeout left an outcome unknown: look at the state again and go on until
                // the close deadline
                Err(e) if matches!(e.kind(), ErrorKind::Usage | ErrorKind::Abortable) => {
                    last = Some(e)
                }
                Err(e) if e.kind() == ErrorKind::Retriable => last = Some(e),
                // fenced: the successor's init_transactions aborted the transaction already
                Err(e) if e.is_fenced() => return Ok(()),
                // fatal: the state no longer says whether a transaction is open; the one
                // this round tried to end is
                Err(e) => return left_open_if_any(state, Some(e)),
            }
        }
        left_open_if_any(self.state(), last)
    }
}

/// Ok when `state` holds no transaction, otherwise [`TxnError::TransactionLeftOpen`].
fn left_open_if_any(state: TxnState, cause: Option<TxnError>) -> Result<(), TxnError> {
    if state.has_transaction() {
        Err(TxnError::TransactionLeftOpen {
            state,
            cause: cause.map(Arc::new),
        })
    } else {
        Ok(())
    }
}
