//! The [`TransactionManager`]: the one place where a transactional producer's state changes
//! (DESIGN.md invariant 4). Every change goes through [`TransactionManager`]'s private
//! `transition`, which checks the table in [`crate::state`]. State-changing calls are
//! serialised: [`TransactionManager::start_queued`] waits its turn in a fair (FIFO) Tokio
//! mutex held for the whole operation (by its [`OpGuard`]), so concurrent commits, aborts,
//! offset sends and inits run one after the other, each judged against the state the
//! previous one left. `begin_transaction` is synchronous (as in Java) and never waits: it is
//! one short critical section. The state itself lives under a `std::sync::Mutex` taken only
//! for short, synchronous sections, never across an `.await`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use klamm_producer::ProducerError;
use klamm_producer::idempotence::{ProducerIdEpoch, TopicPartition};
use klamm_protocol::error_code::ErrorCode;
use tokio::sync::Notify;

use crate::classify::{Disposition, classify};
use crate::error::TxnError;
use crate::partitions::TxnPartitions;
use crate::state::{Admit, Op, TxnState, admit};

/// Settings of a transaction manager.
#[derive(Debug, Clone)]
pub struct TxnConfig {
    /// The stable transactional id (`transactional.id`).
    pub transactional_id: Arc<str>,
    /// How long the coordinator lets a transaction stay open before aborting it
    /// (`transaction.timeout.ms`, sent in InitProducerId). Default 60 s.
    pub transaction_timeout: Duration,
    /// Upper bound of one `init_transactions` / `commit_transaction` /
    /// `abort_transaction` / `send_offsets_to_transaction` call (Java's `max.block.ms`).
    /// Default 60 s.
    pub operation_timeout: Duration,
    /// `retry.backoff.ms`: the first wait before retrying a retriable coordinator error; it
    /// doubles with each retry of the same request up to `retry_backoff_max`, with KIP-580's
    /// ±20 % jitter. Default 100 ms.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`: the ceiling of that exponential backoff (KIP-580). Default 1 s.
    pub retry_backoff_max: Duration,
    /// Backoff before retrying CONCURRENT_TRANSACTIONS (the coordinator is still writing the
    /// previous transaction's markers, which takes milliseconds: Java also retries it after
    /// 20 ms instead of `retry.backoff.ms`). Constant, with KIP-580's ±20 % jitter. Default
    /// 20 ms.
    pub short_backoff: Duration,
    /// Whether the producer may use KIP-890 part 2 (transaction version 2: Produce v12 with
    /// implicit partition adds, EndTxn v5 with a new epoch after every transaction) when the
    /// broker finalized `transaction.version` >= 2. Default `true`; the switch happens only at
    /// `begin_transaction`.
    pub kip890_capable: bool,
}

impl TxnConfig {
    /// Defaults for `transactional_id`.
    pub fn new(transactional_id: impl Into<Arc<str>>) -> Self {
        TxnConfig {
            transactional_id: transactional_id.into(),
            transaction_timeout: Duration::from_secs(60),
            operation_timeout: Duration::from_secs(60),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            short_backoff: Duration::from_millis(20),
            kip890_capable: true,
        }
    }
}

/// A snapshot of the manager, for health checks and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct TxnStatus {
    /// The current state.
    pub state: TxnState,
    /// The producer id and epoch, once initialised.
    pub producer: Option<ProducerIdEpoch>,
    /// The error behind AbortableError or FatalError.
    pub last_error: Option<Arc<TxnError>>,
    /// The state-changing operation running now, if any.
    pub running: Option<Op>,
    /// Partitions the coordinator has added to the open transaction.
    pub partitions_in_transaction: usize,
    /// Whether the open transaction uses KIP-890 part 2.
    pub kip890: bool,
}

#[derive(Debug)]
struct Inner {
    state: TxnState,
    last_error: Option<Arc<TxnError>>,
    producer: Option<ProducerIdEpoch>,
    txn_coordinator: Option<i32>,
    group_coordinators: HashMap<String, i32>,
    partitions: TxnPartitions,
    /// Whether the coordinator knows of the open transaction; if not, ending it needs no
    /// EndTxn.
    coordinator_knows_txn: Knows,
    epoch_bump_required: bool,
    /// The error that asked for the bump was INVALID_PRODUCER_ID_MAPPING: skip EndTxn.
    skip_end_txn: bool,
    running: Option<Op>,
    /// Counts transactions begun; answers for an older one are ignored.
    generation: u64,
    sends_in_progress: usize,
    broker_transaction_version: i16,
    kip890: bool,
    /// `close` is under way: only calls that end the open transaction are accepted.
    closing: bool,
}

/// The transaction state machine and its bookkeeping, shared by the user-facing calls, the
/// coordinator conversation and (through the producer's hook) the sender.
#[derive(Debug)]
pub struct TransactionManager {
    config: TxnConfig,
    inner: Mutex<Inner>,
    /// The turn of state-changing operations: held (asynchronously, FIFO) for the whole
    /// operation by [`OpGuard`].
    queue: tokio::sync::Mutex<()>,
    /// Signalled when the last in-progress `send` finished appending.
    sends_idle: Notify,
    /// Signalled when partitions were registered or added.
    partitions_changed: Notify,
    /// Wakes the producer's sender (one waiter; `notify_one` keeps a permit, so a change
    /// between the sender's check and its wait is not lost).
    sender_wake: Notify,
}

impl TransactionManager {
    /// A manager in [`TxnState::Uninitialized`].
    pub fn new(config: TxnConfig) -> Self {
        TransactionManager {
            config,
            inner: Mutex::new(Inner {
                state: TxnState::Uninitialized,
                last_error: None,
                producer: None,
                txn_coordinator: None,
                group_coordinators: HashMap::new(),
                partitions: TxnPartitions::new(),
                coordinator_knows_txn: Knows::No,
                epoch_bump_required: false,
                skip_end_txn: false,
                running: None,
                generation: 0,
                sends_in_progress: 0,
                broker_transaction_version: 0,
                kip890: false,
                closing: false,
            }),
            queue: tokio::sync::Mutex::new(()),
            sends_idle: Notify::new(),
            partitions_changed: Notify::new(),
            sender_wake: Notify::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &TxnConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // a panic while holding this lock cannot leave a half-made change: every section is a
        // few assignments, so the data is consistent even if poisoned
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current state.
    pub fn state(&self) -> TxnState {
        self.lock().state
    }

    /// A snapshot for health checks.
    pub fn status(&self) -> TxnStatus {
        let g = self.lock();
        TxnStatus {
            state: g.state,
            producer: g.producer,
            last_error: g.last_error.clone(),
            running: g.running,
            partitions_in_transaction: g.partitions.added().count(),
            kip890: g.kip890,
        }
    }

    /// The producer id and epoch to write into transactional batches.
    pub fn producer_id_epoch(&self) -> Option<ProducerIdEpoch> {
        self.lock().producer
    }

    /// The one place where the state changes: checks the table, logs, records.
    fn transition(g: &mut Inner, to: TxnState) -> Result<(), TxnError> {
        let from = g.state;
        if !from.can_transition_to(to) {
            tracing::error!(%from, %to, "refused transaction state transition");
            return Err(TxnError::InvalidTransition { from, to });
        }
        g.state = to;
        if matches!(to, TxnState::FatalError | TxnState::AbortableError) {
            tracing::warn!(%from, %to, error = ?g.last_error, "transaction state");
        } else {
            tracing::info!(%from, %to, "transaction state");
        }
        Ok(())
    }

    /// Starts a state-changing operation at once: refuses it if another is running
    /// ([`TxnError::ConcurrentOperation`]) or the state does not accept it, otherwise applies
    /// its first transition and returns the guard that ends it. It does not take a turn in
    /// the queue; [`start_queued`](Self::start_queued) does, and is what the producer uses.
    pub fn start(&self, op: Op) -> Result<OpGuard<'_>, TxnError> {
        self.start_with(op, None)
    }

    /// Waits for this operation's turn (first come, first served, behind every
    /// state-changing operation already running or waiting), then starts it as
    /// [`start`](Self::start) does. The turn is held until the returned guard is dropped, so
    /// the operation sees the state the previous one left: a second `commit_transaction`
    /// queued behind a successful one gets [`TxnError::NoTransaction`], one queued behind a
    /// commit that timed out resumes it. Dropping the future while it waits changes nothing.
    pub async fn start_queued(&self, op: Op) -> Result<OpGuard<'_>, TxnError> {
        let turn = self.queue.lock().await;
        self.start_with(op, Some(turn))
    }

    fn start_with<'a>(
        &'a self,
        op: Op,
        turn: Option<tokio::sync::MutexGuard<'a, ()>>,
    ) -> Result<OpGuard<'a>, TxnError> {
        let mut g = self.lock();
        Self::refuse_while_closing(&g, op)?;
        if let Some(running) = g.running {
            return Err(TxnError::ConcurrentOperation { op, running });
        }
        let how = admit(g.state, op)
            .map_err(|r| TxnError::refused(op, g.state, r, g.last_error.as_ref()))?;
        if let Admit::Start { to } | Admit::Resume { to } = how
            && to != g.state
        {
            Self::transition(&mut g, to)?;
        }
        if op == Op::BeginTransaction {
            self.begun(&mut g);
        }
        g.running = Some(op);
        Ok(OpGuard {
            mgr: self,
            op,
            admit: how,
            _turn: turn,
        })
    }

    /// While `close` ends the open transaction, only the calls that end it are accepted
    /// (once closed, the FatalError state refuses everything with its cause).
    fn refuse_while_closing(g: &Inner, op: Op) -> Result<(), TxnError> {
        if g.closing && g.state != TxnState::FatalError && !matches!(op, Op::Commit | Op::Abort) {
            return Err(TxnError::Closed);
        }
        Ok(())
    }

    /// The bookkeeping of a new transaction (under the lock).
    fn begun(&self, g: &mut Inner) {
        g.generation += 1;
        g.partitions.clear();
        g.coordinator_knows_txn = Knows::No;
        // KIP-890 part 2 switches only here, at a transaction boundary
        g.kip890 = self.config.kip890_capable && g.broker_transaction_version >= 2;
    }

    /// `begin_transaction`: Ready -> InTransaction in one critical section. Synchronous and
    /// never waiting (as Java's `beginTransaction`): while another state-changing operation
    /// runs, the state it holds refuses the call with a typed error
    /// ([`TxnError::TransactionEnding`] during a commit or abort,
    /// [`TxnError::AlreadyInTransaction`] while offsets are sent, [`TxnError::NotInitialized`]
    /// during `init_transactions`).
    pub fn begin_transaction(&self) -> Result<(), TxnError> {
        let op = Op::BeginTransaction;
        let mut g = self.lock();
        Self::refuse_while_closing(&g, op)?;
        let how = admit(g.state, op)
            .map_err(|r| TxnError::refused(op, g.state, r, g.last_error.as_ref()))?;
        if let Some(running) = g.running {
            return Err(TxnError::ConcurrentOperation { op, running });
        }
        let Admit::Start { to } = how else {
            return Err(TxnError::InvalidTransition {
                from: g.state,
                to: TxnState::InTransaction,
            });
        };
        Self::transition(&mut g, to)?;
        self.begun(&mut g);
        Ok(())
    }

    /// Admits one `send`: refused unless a transaction is open. The permit must live until
    /// the record is appended (and its partition registered with [`SendPermit::register`]),
    /// so that `commit_transaction` and `abort_transaction` wait for it.
    pub fn admit_send(&self) -> Result<SendPermit<'_>, TxnError> {
        let mut g = self.lock();
        Self::refuse_while_closing(&g, Op::Send)?;
        admit(g.state, Op::Send)
            .map_err(|r| TxnError::refused(Op::Send, g.state, r, g.last_error.as_ref()))?;
        g.sends_in_progress += 1;
        Ok(SendPermit { mgr: self })
    }

    /// [`admit_send`](Self::admit_send) for a record whose partition is known, registered at
    /// once.
    pub fn begin_send(&self, tp: &TopicPartition) -> Result<SendPermit<'_>, TxnError> {
        let permit = self.admit_send()?;
        permit.register(tp);
        Ok(permit)
    }

    /// Notes that the open transaction writes to `tp` (AddPartitionsToTxn before its first
    /// batch, or an implicit add under KIP-890 part 2).
    fn register(&self, tp: &TopicPartition) {
        let mut g = self.lock();
        let new = if g.kip890 {
            // Produce v12 adds the partition on the broker (KIP-890 part 2); until a Produce
            // arrived, the coordinator may not know the transaction
            g.partitions.register_implicit(tp);
            g.coordinator_knows_txn = g.coordinator_knows_txn.max(Knows::Maybe);
            false
        } else {
            g.partitions.register(tp)
        };
        drop(g);
        if new {
            self.partitions_changed.notify_waiters();
        }
    }

    /// Waits until no `send` is between its admission and its append.
    pub async fn wait_sends_idle(&self) {
        loop {
            let notified = self.sends_idle.notified();
            if self.lock().sends_in_progress == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Sender hook: whether batches of `tp` may be drained (the coordinator added it).
    pub fn is_send_to_partition_allowed(&self, tp: &TopicPartition) -> bool {
        let g = self.lock();
        g.state != TxnState::FatalError && g.partitions.is_added(tp)
    }

    /// Sender hook: a transactional batch for `tp` failed with `code`. Fencing makes the
    /// producer fatal; anything else makes the transaction abortable (sequence errors also
    /// ask for an epoch bump at abort, KIP-360).
    pub fn on_batch_error(&self, tp: &TopicPartition, code: ErrorCode) {
        let err = TxnError::Producer(klamm_producer::ProducerError::Broker {
            topic: tp.topic.clone(),
            partition: tp.partition,
            code,
            message: None,
        });
        match code {
            ErrorCode::ProducerFenced
            | ErrorCode::InvalidProducerEpoch
            | ErrorCode::TransactionalIdAuthorizationFailed => self.enter_fatal(err),
            ErrorCode::OutOfOrderSequenceNumber | ErrorCode::UnknownProducerId => {
                self.enter_abortable(err, true)
            }
            _ => self.enter_abortable(err, false),
        }
    }

    /// Sender hook: a transactional batch failed for good with `error`; `needs_epoch_bump`
    /// when its sequence range became a gap (the abort must then bump the epoch, KIP-360).
    pub fn on_batch_failed(
        &self,
        tp: &TopicPartition,
        error: &ProducerError,
        needs_epoch_bump: bool,
    ) {
        match error {
            ProducerError::Broker { code, .. } => {
                self.on_batch_error(tp, *code);
                if needs_epoch_bump {
                    self.lock().epoch_bump_required = true;
                }
            }
            e if e.kind() == klamm_producer::ErrorKind::Fatal => {
                self.enter_fatal(TxnError::Producer(e.clone()));
            }
            e => self.enter_abortable(TxnError::Producer(e.clone()), needs_epoch_bump),
        }
    }

    /// Sender hook: the error that failed the transaction (AbortableError or FatalError), so
    /// that batches not yet drained fail with it instead of waiting for partitions that will
    /// never be added.
    pub fn failure(&self) -> Option<Arc<TxnError>> {
        let g = self.lock();
        match g.state {
            TxnState::AbortableError | TxnState::FatalError => g.last_error.clone(),
            _ => None,
        }
    }

    /// Records an error that dooms the open transaction. Ignored outside a transaction (an
    /// abort already under way will end it anyway).
    pub fn enter_abortable(&self, err: TxnError, bump_epoch: bool) {
        let mut g = self.lock();
        if !matches!(
            g.state,
            TxnState::InTransaction | TxnState::Committing | TxnState::AbortableError
        ) {
            tracing::debug!(state = %g.state, error = %err, "abortable error outside a transaction ignored");
            return;
        }
        g.epoch_bump_required |= bump_epoch;
        if matches!(
            err,
            TxnError::Broker {
                code: ErrorCode::InvalidProducerIdMapping,
                ..
            }
        ) {
            g.skip_end_txn = true;
        }
        if g.state != TxnState::AbortableError || g.last_error.is_none() {
            g.last_error = Some(Arc::new(err));
        }
        let _ = Self::transition(&mut g, TxnState::AbortableError);
        drop(g);
        self.sender_wake.notify_one();
    }

    /// Starts closing: from now on only `commit_transaction` and `abort_transaction` (the
    /// calls that end the open transaction) are accepted; `begin_transaction`, `send`,
    /// `send_offsets_to_transaction` and `init_transactions` get [`TxnError::Closed`]. So no
    /// task can open a new transaction while `close` ends the current one.
    pub fn begin_close(&self) {
        self.lock().closing = true;
    }

    /// Marks the producer closed: FatalError with [`TxnError::Closed`] as the cause.
    pub fn close(&self) {
        self.enter_fatal(TxnError::Closed);
    }

    /// Records an error the producer cannot recover from (sticky).
    pub fn enter_fatal(&self, err: TxnError) {
        let mut g = self.lock();
        if g.state == TxnState::FatalError {
            return;
        }
        g.last_error = Some(Arc::new(err));
        let _ = Self::transition(&mut g, TxnState::FatalError);
        drop(g);
        self.sender_wake.notify_one();
    }

    /// Resolves at the next change the producer's sender must react to (a partition added,
    /// a new producer id or epoch, the transaction failed), or at once if one happened since
    /// the last wait. Meant for one waiter: the producer's sender.
    pub async fn sender_wake(&self) {
        self.sender_wake.notified().await;
    }

    /// Routes an operation's error to the state it implies (by its kind and the API's
    /// classification) and returns it.
    pub(crate) fn absorb(&self, err: TxnError) -> TxnError {
        use klamm_producer::ErrorKind;
        match err.kind() {
            ErrorKind::Fatal => self.enter_fatal(err.clone()),
            ErrorKind::Abortable => {
                let bump = matches!(
                    &err,
                    TxnError::Broker { api, code }
                        if classify(*api, *code) == Disposition::Abortable { bump_epoch: true }
                );
                if self.state() == TxnState::Aborting {
                    // an abort cannot become abortable: the producer is stuck
                    self.enter_fatal(err.clone());
                } else {
                    self.enter_abortable(err.clone(), bump);
                }
            }
            _ => {}
        }
        err
    }

    // ---- coordinator bookkeeping (used by the conversation) ----

    pub(crate) fn txn_coordinator(&self) -> Option<i32> {
        self.lock().txn_coordinator
    }

    pub(crate) fn set_txn_coordinator(&self, node: Option<i32>) {
        self.lock().txn_coordinator = node;
    }

    pub(crate) fn group_coordinator(&self, group: &str) -> Option<i32> {
        self.lock().group_coordinators.get(group).copied()
    }

    pub(crate) fn set_group_coordinator(&self, group: &str, node: Option<i32>) {
        let mut g = self.lock();
        match node {
            Some(n) => g.group_coordinators.insert(group.to_owned(), n),
            None => g.group_coordinators.remove(group),
        };
    }

    /// Records the broker's finalized `transaction.version` feature (from ApiVersions). It
    /// takes effect at the next `begin_transaction`.
    pub fn set_broker_transaction_version(&self, version: i16) {
        self.lock().broker_transaction_version = version;
    }

    /// Whether the open (or last) transaction uses KIP-890 part 2: its partitions are added
    /// by the broker when Produce v12 arrives, and EndTxn v5 returns the next epoch.
    pub fn kip890(&self) -> bool {
        self.lock().kip890
    }

    pub(crate) fn set_producer(&self, p: ProducerIdEpoch) {
        let mut g = self.lock();
        if g.producer != Some(p) {
            tracing::info!(producer_id = p.id, epoch = p.epoch, "producer id and epoch");
        }
        g.producer = Some(p);
        g.epoch_bump_required = false;
        g.skip_end_txn = false;
        drop(g);
        self.sender_wake.notify_one();
    }

    /// Records what the coordinator knows of the open transaction (never downgrades).
    pub(crate) fn coordinator_knows_txn(&self, knows: Knows) {
        let mut g = self.lock();
        g.coordinator_knows_txn = g.coordinator_knows_txn.max(knows);
    }

    /// What ending the transaction needs.
    pub(crate) fn end_plan(&self, commit: bool) -> EndPlan {
        let g = self.lock();
        let knows = g.coordinator_knows_txn;
        EndPlan {
            end_txn: knows != Knows::No && (commit || !g.skip_end_txn),
            unsure: knows == Knows::Maybe,
            bump: !commit && g.epoch_bump_required,
        }
    }

    /// Takes the pending partitions for one request, with the transaction they belong to.
    pub(crate) fn take_pending_partitions(&self) -> (u64, Vec<TopicPartition>) {
        let mut g = self.lock();
        (g.generation, g.partitions.take_pending())
    }

    /// Records an AddPartitionsToTxn answer for transaction `generation` (ignored when that
    /// transaction has ended meanwhile).
    pub(crate) fn partitions_answered(
        &self,
        generation: u64,
        added: &[TopicPartition],
        retry: &[TopicPartition],
    ) {
        let mut g = self.lock();
        if g.generation != generation {
            tracing::debug!("AddPartitionsToTxn answer for an ended transaction ignored");
            return;
        }
        g.partitions.complete(added, retry);
        if !added.is_empty() {
            g.coordinator_knows_txn = Knows::Yes;
        }
        drop(g);
        self.sender_wake.notify_one();
        self.partitions_changed.notify_waiters();
    }

    pub(crate) fn drop_pending_partitions(&self) {
        self.lock().partitions.drop_pending();
    }

    /// `(pending, in flight)`: whether partitions wait for a request, or are in one.
    pub(crate) fn unadded(&self) -> (bool, bool) {
        let g = self.lock();
        (g.partitions.pending_len() > 0, g.partitions.has_in_flight())
    }

    /// Waits for a change in partition bookkeeping: a partition registered, or an
    /// AddPartitionsToTxn answered (the sender hook wakes on it to drain newly added
    /// partitions). Create the future before checking the condition it waits for.
    pub fn partitions_changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.partitions_changed.notified()
    }

    /// Whether partitions wait for AddPartitionsToTxn.
    pub fn has_pending_partitions(&self) -> bool {
        self.lock().partitions.pending_len() > 0
    }
}

/// What the coordinator knows of the open transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Knows {
    /// Nothing was sent for it.
    No,
    /// A request was sent whose outcome is unknown (it may have been applied).
    Maybe,
    /// A partition or the offsets were added.
    Yes,
}

/// How to end the open transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EndPlan {
    /// Whether EndTxn must be sent.
    pub end_txn: bool,
    /// The coordinator may not know the transaction: INVALID_TXN_STATE to an abort means
    /// there was nothing to abort.
    pub unsure: bool,
    /// Whether the epoch must be bumped after the abort (KIP-360).
    pub bump: bool,
}

/// A running state-changing operation. Dropping it without [`OpGuard::complete`] (a
/// timeout, a cancelled future, an error) ends the operation: an interrupted commit or
/// abort moves to its outcome-unknown state, from which only the same call resumes.
#[derive(Debug)]
pub struct OpGuard<'a> {
    mgr: &'a TransactionManager,
    op: Op,
    admit: Admit,
    /// The operation's turn in the queue, released after [`Drop`] settled the state.
    _turn: Option<tokio::sync::MutexGuard<'a, ()>>,
}

impl OpGuard<'_> {
    /// How the operation was admitted.
    pub fn admit(&self) -> Admit {
        self.admit
    }

    /// The operation.
    pub fn op(&self) -> Op {
        self.op
    }

    /// Ends the operation successfully, moving to `to` (checked against the table).
    pub fn complete(self, to: TxnState) -> Result<(), TxnError> {
        let mut g = self.mgr.lock();
        let r = if g.state == to {
            Ok(())
        } else {
            TransactionManager::transition(&mut g, to)
        };
        if r.is_ok() && to == TxnState::Ready {
            g.partitions.clear();
            g.coordinator_knows_txn = Knows::No;
            g.last_error = None;
        }
        // the new state and the end of the operation are seen together
        g.running = None;
        r
    }

    /// Ends the operation without an outcome and returns the state it leaves.
    pub fn interrupt(self) -> TxnState {
        let mgr = self.mgr;
        drop(self);
        mgr.state()
    }
}

impl Drop for OpGuard<'_> {
    fn drop(&mut self) {
        let mut g = self.mgr.lock();
        g.running = None;
        let to = match g.state {
            TxnState::Committing => TxnState::CommitOutcomeUnknown,
            TxnState::Aborting => TxnState::AbortOutcomeUnknown,
            _ => return,
        };
        let _ = TransactionManager::transition(&mut g, to);
    }
}

/// One admitted `send`, until its record is appended.
#[derive(Debug)]
pub struct SendPermit<'a> {
    mgr: &'a TransactionManager,
}

impl SendPermit<'_> {
    /// Registers the partition the record was appended to.
    pub fn register(&self, tp: &TopicPartition) {
        self.mgr.register(tp);
    }
}

impl Drop for SendPermit<'_> {
    fn drop(&mut self) {
        let mut g = self.mgr.lock();
        g.sends_in_progress = g.sends_in_progress.saturating_sub(1);
        let idle = g.sends_in_progress == 0;
        drop(g);
        if idle {
            self.mgr.sends_idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests;
