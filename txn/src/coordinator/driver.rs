//! [`TxnDriver`]: the user operations (init, begin, offsets, commit, abort) and the sender's
//! AddPartitionsToTxn job, each a conversation with the coordinators under the state machine.

use std::future::Future;
use std::sync::Arc;

use klamm_producer::ProducerError;
use klamm_producer::idempotence::{ProducerIdEpoch, TopicPartition};
use klamm_protocol::error_code::ErrorCode;
use klamm_protocol::messages::{RequestBody, ResponseBody};

use super::requests::{
    self, ConsumerGroupMetadata, KEY_TYPE_GROUP, KEY_TYPE_TRANSACTION, OffsetAndMetadata,
};
use super::{CoordinatorTransport, Target, TransportError};
use crate::classify::{Backoff, Disposition, TxnApi, classify};
use crate::error::TxnError;
use crate::manager::{Knows, TransactionManager};
use crate::state::{Op, TxnState};

/// Highest AddPartitionsToTxn version a client sends (v4+ are for brokers, KIP-890).
const ADD_PARTITIONS_MAX_CLIENT_VERSION: i16 = 3;

/// Which coordinator a request goes to.
#[derive(Debug, Clone, Copy)]
enum Coordinator<'a> {
    Transaction,
    Group(&'a str),
}

/// What a response said.
enum Step<R> {
    Done(R),
    Code(ErrorCode),
}

/// Drives a [`TransactionManager`] over a [`CoordinatorTransport`].
#[derive(Debug)]
pub struct TxnDriver<T> {
    mgr: Arc<TransactionManager>,
    transport: T,
}

impl<T> TxnDriver<T> {
    /// A driver for `mgr` talking through `transport`.
    pub fn new(mgr: Arc<TransactionManager>, transport: T) -> Self {
        TxnDriver { mgr, transport }
    }

    /// The manager.
    pub fn manager(&self) -> &Arc<TransactionManager> {
        &self.mgr
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }
}

impl<T: CoordinatorTransport> TxnDriver<T> {
    /// Runs the state-changing operation `op`: waits for its turn behind other
    /// state-changing calls (queued, first come first served), starts it, runs `body` and
    /// settles the state: `done` on success, the error's state on failure, the interrupted
    /// state on timeout. The operation timeout bounds the whole call, the wait included.
    async fn run_op(
        &self,
        op: Op,
        done: TxnState,
        body: impl Future<Output = Result<(), TxnError>>,
    ) -> Result<(), TxnError> {
        let timeout = self.mgr.config().operation_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let guard = match tokio::time::timeout_at(deadline, self.mgr.start_queued(op)).await {
            Ok(r) => r?,
            Err(_) => {
                let state = self.mgr.state();
                tracing::warn!(%op, %state, ?timeout, "transaction operation timed out waiting for its turn");
                return Err(TxnError::Timeout { op, timeout, state });
            }
        };
        match tokio::time::timeout_at(deadline, body).await {
            Ok(Ok(())) => guard.complete(done),
            Ok(Err(e)) => {
                let e = self.mgr.absorb(e);
                drop(guard);
                Err(e)
            }
            Err(_) => {
                let state = guard.interrupt();
                tracing::warn!(%op, %state, ?timeout, "transaction operation timed out");
                Err(TxnError::Timeout { op, timeout, state })
            }
        }
    }

    /// `init_transactions`: finds the transaction coordinator and gets a producer id and
    /// epoch (fencing every older producer with the same transactional id, and aborting its
    /// open transaction). After a timeout, call it again to resume.
    pub async fn init_transactions(&self) -> Result<(), TxnError> {
        self.mgr
            .set_broker_transaction_version(self.transport.transaction_version());
        self.run_op(Op::InitTransactions, TxnState::Ready, async {
            let p = self.init_producer_id(None).await?;
            self.mgr.set_producer(p);
            Ok(())
        })
        .await
    }

    /// `begin_transaction`: local only; the coordinator learns of the transaction with its
    /// first AddPartitionsToTxn or AddOffsetsToTxn.
    pub fn begin_transaction(&self) -> Result<(), TxnError> {
        self.mgr
            .set_broker_transaction_version(self.transport.transaction_version());
        self.mgr.begin_transaction()
    }

    /// The sender's job: adds every pending partition to the transaction, batched into one
    /// AddPartitionsToTxn per round, until none is pending or in flight. Errors move the
    /// manager to AbortableError or FatalError and are returned.
    pub async fn add_pending_partitions(&self) -> Result<(), TxnError> {
        self.add_partitions_loop()
            .await
            .map_err(|e| self.mgr.absorb(e))
    }

    async fn add_partitions_loop(&self) -> Result<(), TxnError> {
        // consecutive failed rounds, for the exponential backoff
        let mut retries = 0;
        loop {
            if !matches!(
                self.mgr.state(),
                TxnState::InTransaction | TxnState::Committing
            ) {
                return Ok(());
            }
            let changed = self.mgr.partitions_changed();
            let (pending, in_flight) = self.mgr.unadded();
            if !pending {
                if !in_flight {
                    return Ok(());
                }
                // another task's request is under way: wait for its answer
                changed.await;
                continue;
            }
            // from here on the coordinator may know of the transaction
            self.mgr.coordinator_knows_txn(Knows::Maybe);
            let (generation, partitions) = self.mgr.take_pending_partitions();
            let batch = InFlightAdd {
                mgr: &self.mgr,
                generation,
                partitions,
                answered: false,
            };
            if batch.partitions.is_empty() {
                continue;
            }
            let codes = self.add_partitions_once(&batch.partitions).await?;
            let mut worst: Option<(Disposition, ErrorCode)> = None;
            let mut added = Vec::new();
            let mut retry = Vec::new();
            for (tp, code) in codes {
                let d = classify(TxnApi::AddPartitionsToTxn, code);
                if d == Disposition::Ok {
                    added.push(tp);
                } else {
                    retry.push(tp);
                    if worst.is_none_or(|(w, _)| severity(d) > severity(w)) {
                        worst = Some((d, code));
                    }
                }
            }
            batch.answer(&added, &retry);
            tracing::debug!(
                added = added.len(),
                retry = retry.len(),
                "AddPartitionsToTxn answered"
            );
            match worst {
                None => retries = 0,
                Some((Disposition::Retry(b), _)) => self.backoff(b, &mut retries).await,
                Some((Disposition::Rediscover, _)) => {
                    self.mgr.set_txn_coordinator(None);
                    self.backoff(Backoff::Normal, &mut retries).await;
                }
                Some((_, code)) => {
                    return Err(TxnError::Broker {
                        api: TxnApi::AddPartitionsToTxn,
                        code,
                    });
                }
            }
        }
    }

    async fn add_partitions_once(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<Vec<(TopicPartition, ErrorCode)>, TxnError> {
        let id = self.mgr.config().transactional_id.clone();
        let producer = self.producer()?;
        self.converse(
            TxnApi::AddPartitionsToTxn,
            Coordinator::Transaction,
            ADD_PARTITIONS_MAX_CLIENT_VERSION,
            || requests::add_partitions(&id, producer, partitions).into(),
            |resp, _| match resp {
                ResponseBody::AddPartitionsToTxn(r) => Ok(Step::Done(
                    requests::parse_add_partitions(&r, &id, partitions),
                )),
                other => Err(other),
            },
        )
        .await
    }

    /// `send_offsets_to_transaction`: AddOffsetsToTxn to the transaction coordinator, then
    /// TxnOffsetCommit to the group's coordinator. The offsets become visible with the
    /// commit.
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
        group: &ConsumerGroupMetadata,
    ) -> Result<(), TxnError> {
        self.run_op(Op::SendOffsets, TxnState::InTransaction, async {
            let id = self.mgr.config().transactional_id.clone();
            let producer = self.producer()?;
            self.mgr.coordinator_knows_txn(Knows::Maybe);
            self.converse(
                TxnApi::AddOffsetsToTxn,
                Coordinator::Transaction,
                i16::MAX,
                || requests::add_offsets(&id, producer, &group.group_id).into(),
                |resp, _| match resp {
                    ResponseBody::AddOffsetsToTxn(r) => Ok(code_step(r.error_code, ())),
                    other => Err(other),
                },
            )
            .await?;
            self.mgr.coordinator_knows_txn(Knows::Yes);
            self.converse(
                TxnApi::TxnOffsetCommit,
                Coordinator::Group(&group.group_id),
                i16::MAX,
                || requests::txn_offset_commit(&id, producer, group, offsets).into(),
                |resp, _| match resp {
                    ResponseBody::TxnOffsetCommit(r) => {
                        let codes = requests::parse_txn_offset_commit(&r, offsets);
                        Ok(worst_code(TxnApi::TxnOffsetCommit, &codes)
                            .map_or(Step::Done(()), Step::Code))
                    }
                    other => Err(other),
                },
            )
            .await
        })
        .await
    }

    /// `commit_transaction`: waits for admitted sends to append, adds pending partitions,
    /// runs `flush` (the producer delivering every record of the transaction), then EndTxn
    /// (commit). If it ends without an outcome (timeout, cancellation), the state is
    /// CommitOutcomeUnknown and calling it again resends EndTxn, which the coordinator
    /// answers with the outcome it already applied.
    pub async fn commit_transaction(
        &self,
        flush: impl Future<Output = Result<(), ProducerError>>,
    ) -> Result<(), TxnError> {
        self.run_op(Op::Commit, TxnState::Ready, async {
            self.mgr.wait_sends_idle().await;
            self.add_partitions_loop().await?;
            flush.await?;
            let status = self.mgr.status();
            if status.state == TxnState::AbortableError {
                // a batch failed while flushing
                return Err(TxnError::MustAbort {
                    op: Op::Commit,
                    cause: status
                        .last_error
                        .unwrap_or_else(|| Arc::new(TxnError::Closed)),
                });
            }
            if self.mgr.end_plan(true).end_txn {
                self.end_txn(true).await?;
            }
            Ok(())
        })
        .await
    }

    /// `abort_transaction`: forgets partitions not yet added, runs `abort_batches` (the
    /// producer failing unsent batches of the transaction and waiting for those in flight),
    /// then EndTxn (abort) and, after a sequence error, an epoch bump through InitProducerId
    /// (KIP-360). Resumable like a commit.
    pub async fn abort_transaction(
        &self,
        abort_batches: impl Future<Output = ()>,
    ) -> Result<(), TxnError> {
        self.run_op(Op::Abort, TxnState::Ready, async {
            // a record admitted before the abort must not be appended after the batches
            // are aborted (it would wait for the next transaction)
            self.mgr.wait_sends_idle().await;
            self.mgr.drop_pending_partitions();
            abort_batches.await;
            // an AddPartitionsToTxn still under way is not waited for: the coordinator has
            // it before this EndTxn (one connection, in order) or never, and its answer is
            // ignored once this transaction has ended
            let plan = self.mgr.end_plan(false);
            let mut bump = plan.bump;
            if plan.end_txn {
                match self.end_txn(false).await {
                    // KIP-890 part 2: EndTxn v5 already bumped the epoch
                    Ok(true) => bump = false,
                    Ok(false) => {}
                    // the add that may have opened the transaction was not applied
                    Err(TxnError::Broker {
                        code: ErrorCode::InvalidTxnState,
                        ..
                    }) if plan.unsure => {}
                    Err(TxnError::Broker { api, code })
                        if classify(api, code) == (Disposition::Abortable { bump_epoch: true }) =>
                    {
                        bump = true;
                    }
                    Err(e) => return Err(e),
                }
            }
            if bump {
                let current = self.producer()?;
                let p = self.init_producer_id(Some(current)).await?;
                tracing::info!(
                    old_epoch = current.epoch,
                    new_epoch = p.epoch,
                    "epoch bumped after abort (KIP-360)"
                );
                self.mgr.set_producer(p);
            }
            Ok(())
        })
        .await
    }

    /// EndTxn; `true` when the coordinator handed out a new epoch (KIP-890 part 2, EndTxn
    /// v5), which is adopted at once.
    async fn end_txn(&self, commit: bool) -> Result<bool, TxnError> {
        let id = self.mgr.config().transactional_id.clone();
        let producer = self.producer()?;
        let kip890 = self.mgr.kip890();
        let max_version = if kip890 { 5 } else { 4 };
        let (new, version) = self
            .converse(
                TxnApi::EndTxn,
                Coordinator::Transaction,
                max_version,
                || requests::end_txn(&id, producer, commit).into(),
                |resp, v| match resp {
                    ResponseBody::EndTxn(r) => Ok(code_step(
                        r.error_code,
                        (
                            ProducerIdEpoch {
                                id: r.producer_id,
                                epoch: r.producer_epoch,
                            },
                            v,
                        ),
                    )),
                    other => Err(other),
                },
            )
            .await?;
        // KIP-890 part 2: the coordinator bumps the epoch at every transaction end
        if kip890 && version >= 5 && new.id >= 0 && new.epoch >= 0 {
            if Some(new) != self.mgr.producer_id_epoch() {
                tracing::debug!(
                    producer_id = new.id,
                    epoch = new.epoch,
                    "epoch after EndTxn v5 (KIP-890 part 2)"
                );
            }
            self.mgr.set_producer(new);
            return Ok(true);
        }
        Ok(false)
    }

    async fn init_producer_id(
        &self,
        current: Option<ProducerIdEpoch>,
    ) -> Result<ProducerIdEpoch, TxnError> {
        let cfg = self.mgr.config();
        let timeout_ms = i32::try_from(cfg.transaction_timeout.as_millis()).unwrap_or(i32::MAX);
        let id = cfg.transactional_id.clone();
        self.converse(
            TxnApi::InitProducerId,
            Coordinator::Transaction,
            i16::MAX,
            || requests::init_producer_id(&id, timeout_ms, current).into(),
            |resp, _| match resp {
                ResponseBody::InitProducerId(r) => Ok(code_step(
                    r.error_code,
                    ProducerIdEpoch {
                        id: r.producer_id,
                        epoch: r.producer_epoch,
                    },
                )),
                other => Err(other),
            },
        )
        .await
    }

    fn producer(&self) -> Result<ProducerIdEpoch, TxnError> {
        self.mgr
            .producer_id_epoch()
            .ok_or(TxnError::NotInitialized { op: Op::Send })
    }

    /// Waits before retry number `retries + 1` of one request (KIP-580): the short backoff
    /// for CONCURRENT_TRANSACTIONS stays constant (the coordinator finishes the previous
    /// transaction within milliseconds), the normal one grows exponentially up to
    /// `retry_backoff_max`; both are jittered by ±20 % (klamm-net's implementation).
    async fn backoff(&self, b: Backoff, retries: &mut u32) {
        let cfg = self.mgr.config();
        let wait = match b {
            Backoff::Short => klamm_net::backoff::jittered(cfg.short_backoff),
            Backoff::Normal => klamm_net::backoff::backoff(
                cfg.retry_backoff,
                cfg.retry_backoff_max.max(cfg.retry_backoff),
                *retries,
            ),
        };
        *retries = retries.saturating_add(1);
        tokio::time::sleep(wait).await;
    }

    /// One request to a coordinator, repeated until it succeeds or fails for good:
    /// transport failures and NOT_COORDINATOR-like codes rediscover the coordinator,
    /// retriable codes back off. `read` returns the unexpected body as `Err`.
    async fn converse<R>(
        &self,
        api: TxnApi,
        coordinator: Coordinator<'_>,
        max_version: i16,
        make: impl Fn() -> RequestBody,
        read: impl Fn(ResponseBody, i16) -> Result<Step<R>, ResponseBody>,
    ) -> Result<R, TxnError> {
        let mut retries = 0;
        loop {
            let node = self.coordinator(coordinator).await?;
            let target = Target::Node(node);
            match self.transport.send(target, make(), max_version).await {
                Err(e) if e.is_retriable() => {
                    tracing::debug!(%api, %target, error = %e, "coordinator request failed; rediscovering");
                    self.forget(coordinator);
                    self.backoff(Backoff::Normal, &mut retries).await;
                }
                Err(e) => return Err(e.into()),
                Ok((resp, v)) => match read(resp, v) {
                    Ok(Step::Done(r)) => return Ok(r),
                    Ok(Step::Code(code)) => match classify(api, code) {
                        Disposition::Ok => {
                            return Err(TransportError::Protocol {
                                target,
                                detail: format!("{api} reported success without a result"),
                            }
                            .into());
                        }
                        Disposition::Retry(b) => {
                            tracing::debug!(%api, code = code.name(), "retrying");
                            self.backoff(b, &mut retries).await;
                        }
                        Disposition::Rediscover => {
                            tracing::debug!(%api, code = code.name(), "coordinator moved");
                            self.forget(coordinator);
                            self.backoff(Backoff::Normal, &mut retries).await;
                        }
                        Disposition::Abortable { .. } | Disposition::Fatal => {
                            return Err(TxnError::Broker { api, code });
                        }
                    },
                    Err(other) => {
                        return Err(TransportError::Protocol {
                            target,
                            detail: format!("{api} answered with a {:?} body", other.api_key()),
                        }
                        .into());
                    }
                },
            }
        }
    }

    fn forget(&self, coordinator: Coordinator<'_>) {
        match coordinator {
            Coordinator::Transaction => self.mgr.set_txn_coordinator(None),
            Coordinator::Group(g) => self.mgr.set_group_coordinator(g, None),
        }
    }

    /// The coordinator's node id, looked up with FindCoordinator when not known.
    async fn coordinator(&self, coordinator: Coordinator<'_>) -> Result<i32, TxnError> {
        let cached = match coordinator {
            Coordinator::Transaction => self.mgr.txn_coordinator(),
            Coordinator::Group(g) => self.mgr.group_coordinator(g),
        };
        if let Some(node) = cached {
            return Ok(node);
        }
        let id = self.mgr.config().transactional_id.clone();
        let (key, key_type) = match coordinator {
            Coordinator::Transaction => (&*id, KEY_TYPE_TRANSACTION),
            Coordinator::Group(g) => (g, KEY_TYPE_GROUP),
        };
        let mut retries = 0;
        loop {
            let req = requests::find_coordinator(key, key_type).into();
            let code = match self.transport.send(Target::AnyBroker, req, i16::MAX).await {
                Err(e) if e.is_retriable() => ErrorCode::CoordinatorNotAvailable,
                Err(e) => return Err(e.into()),
                Ok((ResponseBody::FindCoordinator(r), _)) => {
                    match requests::parse_find_coordinator(&r, key) {
                        Ok(node) => {
                            tracing::debug!(key, key_type, node, "coordinator found");
                            match coordinator {
                                Coordinator::Transaction => {
                                    self.mgr.set_txn_coordinator(Some(node))
                                }
                                Coordinator::Group(g) => {
                                    self.mgr.set_group_coordinator(g, Some(node))
                                }
                            }
                            return Ok(node);
                        }
                        Err(code) => code,
                    }
                }
                Ok((other, _)) => {
                    return Err(TransportError::Protocol {
                        target: Target::AnyBroker,
                        detail: format!(
                            "FindCoordinator answered with a {:?} body",
                            other.api_key()
                        ),
                    }
                    .into());
                }
            };
            match classify(TxnApi::FindCoordinator, code) {
                Disposition::Retry(b) => self.backoff(b, &mut retries).await,
                Disposition::Rediscover | Disposition::Ok => {
                    self.backoff(Backoff::Normal, &mut retries).await
                }
                Disposition::Abortable { .. } | Disposition::Fatal => {
                    return Err(TxnError::Broker {
                        api: TxnApi::FindCoordinator,
                        code,
                    });
                }
            }
        }
    }
}

fn code_step<R>(code: i16, done: R) -> Step<R> {
    match ErrorCode::from_i16(code) {
        c if c.is_ok() => Step::Done(done),
        c => Step::Code(c),
    }
}

/// How bad a disposition is, to pick the one that decides a batched answer.
fn severity(d: Disposition) -> u8 {
    match d {
        Disposition::Ok => 0,
        Disposition::Retry(Backoff::Short) => 1,
        Disposition::Retry(Backoff::Normal) => 2,
        Disposition::Rediscover => 3,
        Disposition::Abortable { bump_epoch: false } => 4,
        Disposition::Abortable { bump_epoch: true } => 5,
        Disposition::Fatal => 6,
    }
}

/// The code that decides a per-partition answer, or `None` when every partition succeeded.
fn worst_code(api: TxnApi, codes: &[(TopicPartition, ErrorCode)]) -> Option<ErrorCode> {
    codes
        .iter()
        .map(|&(_, c)| c)
        .filter(|c| c.is_err())
        .max_by_key(|&c| severity(classify(api, c)))
}

/// Partitions in one AddPartitionsToTxn request; if the request is abandoned (the future
/// dropped, an error), they go back to pending so nothing waits for them forever.
struct InFlightAdd<'a> {
    mgr: &'a TransactionManager,
    generation: u64,
    partitions: Vec<TopicPartition>,
    answered: bool,
}

impl InFlightAdd<'_> {
    fn answer(mut self, added: &[TopicPartition], retry: &[TopicPartition]) {
        self.answered = true;
        self.mgr.partitions_answered(self.generation, added, retry);
    }
}

impl Drop for InFlightAdd<'_> {
    fn drop(&mut self) {
        if !self.answered {
            // the request may have been applied; the coordinator accepts the same partitions
            // again, so sending them once more is safe
            self.mgr
                .partitions_answered(self.generation, &[], &self.partitions);
        }
    }
}
