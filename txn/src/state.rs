//! The transaction state machine as pure data: the states, the transition table and which
//! user operation each state accepts (DESIGN.md invariant 4).
//!
//! The table follows Java's `TransactionManager.State` with two additions taken from
//! librdkafka's `*_NOT_ACKED` states: [`TxnState::CommitOutcomeUnknown`] and
//! [`TxnState::AbortOutcomeUnknown`]. A commit or abort call that ends without a known outcome
//! (it timed out, or its future was dropped while EndTxn was under way) leaves the producer in
//! one of them; the only way out is to call the same operation again, which resends EndTxn
//! with the same producer id and epoch. The coordinator answers a repeated EndTxn with the
//! outcome it already applied, so the retried call yields the same result.
//!
//! ```text
//! Uninitialized -> Initializing -> Ready -> InTransaction -> Committing -> Ready
//!                                               |     \          |  \-> CommitOutcomeUnknown -> Committing
//!                                               |      \         v
//!                                               |       -> AbortableError -> Aborting -> Ready
//!                                               \-> Aborting -> Ready        \-> AbortOutcomeUnknown -> Aborting
//! any state but FatalError -> FatalError (sticky)
//! ```

use std::fmt;

/// Where a transactional producer stands. Observable for health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    /// Built; `init_transactions` has not run.
    Uninitialized,
    /// InitProducerId is under way (or was interrupted: call `init_transactions` again).
    Initializing,
    /// Has a producer id and epoch; no transaction open.
    Ready,
    /// A transaction is open: records and offsets may be added.
    InTransaction,
    /// `commit_transaction` is flushing and ending the transaction.
    Committing,
    /// A commit ended without a known outcome; only `commit_transaction` may follow.
    CommitOutcomeUnknown,
    /// `abort_transaction` is ending the transaction.
    Aborting,
    /// An abort ended without a known outcome; only `abort_transaction` may follow.
    AbortOutcomeUnknown,
    /// The transaction failed; only `abort_transaction` may follow, then the producer is reusable.
    AbortableError,
    /// The producer cannot continue (fenced, unauthorised, broken); sticky.
    FatalError,
}

impl TxnState {
    /// Every state, for exhaustive tests and tables.
    pub const ALL: [TxnState; 10] = [
        TxnState::Uninitialized,
        TxnState::Initializing,
        TxnState::Ready,
        TxnState::InTransaction,
        TxnState::Committing,
        TxnState::CommitOutcomeUnknown,
        TxnState::Aborting,
        TxnState::AbortOutcomeUnknown,
        TxnState::AbortableError,
        TxnState::FatalError,
    ];

    /// The transition table: whether the manager may move from `self` to `to`.
    ///
    /// FatalError is reachable from every other state and leaves to none.
    pub const fn can_transition_to(self, to: TxnState) -> bool {
        use TxnState::*;
        match (self, to) {
            (FatalError, _) => false,
            (_, FatalError) => true,
            (Uninitialized, Initializing) => true,
            (Initializing, Ready) => true,
            (Ready, InTransaction) => true,
            (InTransaction, Committing | Aborting | AbortableError) => true,
            (Committing, Ready | CommitOutcomeUnknown | AbortableError) => true,
            (CommitOutcomeUnknown, Committing) => true,
            (Aborting, Ready | AbortOutcomeUnknown) => true,
            (AbortOutcomeUnknown, Aborting) => true,
            (AbortableError, AbortableError | Aborting) => true,
            _ => false,
        }
    }

    /// Whether a transaction is open or ending (records may be in it).
    pub const fn has_transaction(self) -> bool {
        matches!(
            self,
            TxnState::InTransaction
                | TxnState::Committing
                | TxnState::CommitOutcomeUnknown
                | TxnState::Aborting
                | TxnState::AbortOutcomeUnknown
                | TxnState::AbortableError
        )
    }

    /// Kafka-style name (`"IN_TRANSACTION"`), for logs and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            TxnState::Uninitialized => "UNINITIALIZED",
            TxnState::Initializing => "INITIALIZING",
            TxnState::Ready => "READY",
            TxnState::InTransaction => "IN_TRANSACTION",
            TxnState::Committing => "COMMITTING_TRANSACTION",
            TxnState::CommitOutcomeUnknown => "COMMIT_OUTCOME_UNKNOWN",
            TxnState::Aborting => "ABORTING_TRANSACTION",
            TxnState::AbortOutcomeUnknown => "ABORT_OUTCOME_UNKNOWN",
            TxnState::AbortableError => "ABORTABLE_ERROR",
            TxnState::FatalError => "FATAL_ERROR",
        }
    }
}

impl fmt::Display for TxnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A user operation on a transactional producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `init_transactions`.
    InitTransactions,
    /// `begin_transaction`.
    BeginTransaction,
    /// `send`.
    Send,
    /// `send_offsets_to_transaction`.
    SendOffsets,
    /// `commit_transaction`.
    Commit,
    /// `abort_transaction`.
    Abort,
}

impl Op {
    /// Every operation, for exhaustive tests.
    pub const ALL: [Op; 6] = [
        Op::InitTransactions,
        Op::BeginTransaction,
        Op::Send,
        Op::SendOffsets,
        Op::Commit,
        Op::Abort,
    ];

    /// The method's name, as users call it.
    pub const fn name(self) -> &'static str {
        match self {
            Op::InitTransactions => "init_transactions",
            Op::BeginTransaction => "begin_transaction",
            Op::Send => "send",
            Op::SendOffsets => "send_offsets_to_transaction",
            Op::Commit => "commit_transaction",
            Op::Abort => "abort_transaction",
        }
    }

    /// Whether the operation changes the transaction's state (and is therefore serialised:
    /// one at a time per producer). `send` and `send_offsets_to_transaction` only add to the
    /// open transaction.
    pub const fn changes_state(self) -> bool {
        !matches!(self, Op::Send)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an operation does when the current state accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Start the operation: move to `to` first (if different from the current state).
    Start {
        /// The state the operation runs in.
        to: TxnState,
    },
    /// Resume an operation that was interrupted (timeout, cancellation): move to `to` and
    /// redo its remaining coordinator requests, which the coordinator treats as retries.
    Resume {
        /// The state the operation runs in.
        to: TxnState,
    },
    /// Nothing to change: the operation works within the current state (`send`,
    /// `send_offsets_to_transaction`).
    Within,
}

/// Why a state refuses an operation (the misuse half of [`crate::TxnError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `init_transactions` has not completed.
    NotInitialized,
    /// `init_transactions` already completed.
    AlreadyInitialized,
    /// No transaction is open.
    NoTransaction,
    /// A transaction is already open.
    AlreadyInTransaction,
    /// The transaction is being committed or aborted.
    TransactionEnding,
    /// A previous commit's outcome is unknown: call `commit_transaction` again.
    CommitOutcomeUnknown,
    /// A previous abort's outcome is unknown: call `abort_transaction` again.
    AbortOutcomeUnknown,
    /// The transaction failed: call `abort_transaction`.
    MustAbort,
    /// The producer is in FatalError.
    Fatal,
}

/// Decides whether `state` accepts `op`, and how.
pub const fn admit(state: TxnState, op: Op) -> Result<Admit, Refusal> {
    use Op::*;
    use TxnState::*;
    match (state, op) {
        (FatalError, _) => Err(Refusal::Fatal),
        // abortable: only abort
        (AbortableError, Abort) => Ok(Admit::Start { to: Aborting }),
        (AbortableError, _) => Err(Refusal::MustAbort),
        // the outcome-unknown states accept only their own retry
        (CommitOutcomeUnknown, Commit) => Ok(Admit::Resume { to: Committing }),
        (CommitOutcomeUnknown, _) => Err(Refusal::CommitOutcomeUnknown),
        (AbortOutcomeUnknown, Abort) => Ok(Admit::Resume { to: Aborting }),
        (AbortOutcomeUnknown, _) => Err(Refusal::AbortOutcomeUnknown),
        // init_transactions
        (Uninitialized, InitTransactions) => Ok(Admit::Start { to: Initializing }),
        (Initializing, InitTransactions) => Ok(Admit::Resume { to: Initializing }),
        (_, InitTransactions) => Err(Refusal::AlreadyInitialized),
        (Uninitialized | Initializing, _) => Err(Refusal::NotInitialized),
        // begin
        (Ready, BeginTransaction) => Ok(Admit::Start { to: InTransaction }),
        (Ready, _) => Err(Refusal::NoTransaction),
        (InTransaction, BeginTransaction) => Err(Refusal::AlreadyInTransaction),
        (InTransaction, Send | SendOffsets) => Ok(Admit::Within),
        (InTransaction, Commit) => Ok(Admit::Start { to: Committing }),
        (InTransaction, Abort) => Ok(Admit::Start { to: Aborting }),
        // an interrupted commit or abort whose guard has not been dropped yet is resumed by
        // the same operation; a concurrent call is refused before this table is consulted
        (Committing, Commit) => Ok(Admit::Resume { to: Committing }),
        (Aborting, Abort) => Ok(Admit::Resume { to: Aborting }),
        (Committing | Aborting, _) => Err(Refusal::TransactionEnding),
    }
}

#[cfg(test)]
mod tests;
