//! The transaction coordinator (KIP-98): producer ids and epochs per transactional id, the
//! partitions and groups of the ongoing transaction, EndTxn with COMMIT/ABORT markers on every
//! partition, fencing, timeouts and CONCURRENT_TRANSACTIONS while markers are being written.
//!
//! Fencing errors are returned as PRODUCER_FENCED; the API layer maps them to
//! INVALID_PRODUCER_EPOCH for request versions older than KIP-588's, as Kafka does.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::groups::{CommittedOffset, PendingOffset};
use super::{ClusterState, OFFSETS_PARTITIONS, coordinator_partition};
use crate::codes;

/// Where a transactional id's transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnStatus {
    /// No transaction since the last init.
    Empty,
    /// Partitions or offsets were added.
    Ongoing,
    /// EndTxn(commit) accepted; markers not yet written.
    PrepareCommit,
    /// EndTxn(abort), a fence or a timeout; markers not yet written.
    PrepareAbort,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted.
    CompleteAbort,
}

/// The coordinator's record of one transactional id.
#[derive(Debug, Clone)]
pub struct TxnMeta {
    /// Current producer id.
    pub producer_id: i64,
    /// Current epoch.
    pub epoch: i16,
    /// Producer id and epoch before the last bump (to answer a retried init).
    last: Option<(i64, i16)>,
    /// `(producer id, epoch, commit)` of the EndTxn v5 that made the last bump (KIP-890
    /// part 2), to answer its retry; cleared by any other bump.
    pub(super) last_end: Option<(i64, i16, bool)>,
    /// Producer id and epoch the markers of the transaction being ended are written with
    /// when its bump ran out of epochs: the old producer id with epoch `i16::MAX`, as Kafka
    /// does (the client carries on with the new producer id); `None` otherwise.
    marker_producer: Option<(i64, i16)>,
    /// Transaction timeout.
    pub timeout: Duration,
    /// Status.
    pub status: TxnStatus,
    /// Data partitions of the current transaction.
    pub partitions: BTreeSet<(String, i32)>,
    /// Groups added with AddOffsetsToTxn.
    pub groups: BTreeSet<String>,
    /// Offsets committed with TxnOffsetCommit, applied on commit.
    pub pending_offsets: Vec<PendingOffset>,
    started: Option<Instant>,
    completes_at: Option<Instant>,
    /// The entry of this id in [`Transactions::deadlines`], if any.
    deadline: Option<Instant>,
}

/// Every transactional id the coordinators know.
#[derive(Debug, Default)]
pub struct Transactions {
    pub(super) metas: HashMap<String, TxnMeta>,
    by_producer: HashMap<i64, String>,
    /// The next deadline of every transaction that has one (an ongoing transaction's timeout,
    /// a prepared one's marker time), earliest first, so that [`ClusterState::complete_due`]
    /// visits only what is due instead of every transactional id ever seen.
    deadlines: BTreeSet<(Instant, String)>,
    /// How many transactions hold an uncommitted offset for each (group, topic, partition),
    /// so that [`has_pending_offset`](Self::has_pending_offset) need not visit every id.
    pending: HashMap<(String, String, i32), usize>,
    /// Transactions aborted because they timed out.
    pub timed_out: u64,
}

impl Transactions {
    /// The record of a transactional id.
    pub fn get(&self, txn_id: &str) -> Option<&TxnMeta> {
        self.metas.get(txn_id)
    }

    /// Checks a transactional produce as Kafka's leader verifies it with the coordinator
    /// (KIP-890 part 1, `handleVerifyPartitionsInTransaction`): the transaction of
    /// `txn_id` must exist (else INVALID_PRODUCER_ID_MAPPING) with this producer id (else
    /// INVALID_PRODUCER_ID_MAPPING) and epoch (else PRODUCER_FENCED), and the partition must
    /// be part of its ongoing transaction (else INVALID_TXN_STATE). Without a transactional
    /// id (state-level tests) the transaction is the producer id's.
    pub fn verify_produce(
        &self,
        txn_id: Option<&str>,
        producer_id: i64,
        epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<(), i16> {
        let meta = match txn_id {
            Some(id) => self.metas.get(id),
            None => self
                .by_producer
                .get(&producer_id)
                .and_then(|id| self.metas.get(id)),
        }
        .ok_or(codes::INVALID_PRODUCER_ID_MAPPING)?;
        check_producer(meta, producer_id, epoch)?;
        if meta.status != TxnStatus::Ongoing
            || !meta.partitions.contains(&(topic.to_string(), partition))
        {
            return Err(codes::INVALID_TXN_STATE);
        }
        Ok(())
    }

    /// How many transactions have a pending deadline (ongoing ones: their timeout; prepared
    /// ones: their markers): the work [`ClusterState::complete_due`] may have, however many
    /// transactional ids the coordinators know.
    pub fn scheduled(&self) -> usize {
        self.deadlines.len()
    }

    /// Replaces the deadline of `txn_id` (`None`: it has none).
    fn reschedule(&mut self, txn_id: &str, at: Option<Instant>) {
        let Some(m) = self.metas.get_mut(txn_id) else {
            return;
        };
        if let Some(old) = m.deadline.take() {
            self.deadlines.remove(&(old, txn_id.to_string()));
        }
        if let Some(at) = at {
            m.deadline = Some(at);
            self.deadlines.insert((at, txn_id.to_string()));
        }
    }

    /// Whether some transaction has uncommitted offsets for this group partition.
    pub fn has_pending_offset(&self, group: &str, topic: &str, partition: i32) -> bool {
        self.pending
            .contains_key(&(group.to_owned(), topic.to_owned(), partition))
    }

    /// Counts a transaction's new uncommitted offset for a group partition.
    fn add_pending(&mut self, key: (String, String, i32)) {
        *self.pending.entry(key).or_insert(0) += 1;
    }

    /// Uncounts the uncommitted offsets a completed transaction held.
    fn remove_pending(&mut self, offsets: &[PendingOffset]) {
        for o in offsets {
            let key = (o.group.clone(), o.topic.clone(), o.partition);
            if let Some(n) = self.pending.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    self.pending.remove(&key);
                }
            }
        }
    }
}

/// Checks the producer id and epoch of a request against the record.
pub(super) fn check_producer(meta: &TxnMeta, producer_id: i64, epoch: i16) -> Result<(), i16> {
    if meta.producer_id != producer_id {
        return Err(codes::INVALID_PRODUCER_ID_MAPPING);
    }
    if epoch != meta.epoch {
        return Err(codes::PRODUCER_FENCED);
    }
    Ok(())
}

impl ClusterState {
    /// InitProducerId. Without a transactional id: a fresh producer id with epoch 0. With one:
    /// a new id gets epoch 0; a known one gets its epoch bumped, and an ongoing transaction of
    /// the previous epoch is aborted with markers first (answering CONCURRENT_TRANSACTIONS,
    /// so the client retries, as Kafka does). `expected` is the KIP-360 (producer id, epoch).
    pub fn init_producer_id(
        &mut self,
        txn_id: Option<&str>,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        now: Instant,
        now_ms: i64,
    ) -> Result<(i64, i16), i16> {
        let Some(txn_id) = txn_id else {
            return Ok((self.allocate_producer_id(), 0));
        };
        if timeout_ms <= 0 || timeout_ms > self.config.max_transaction_timeout_ms {
            return Err(codes::INVALID_TRANSACTION_TIMEOUT);
        }
        self.complete_due(now, now_ms);
        let timeout = Duration::from_millis(timeout_ms as u64);
        let Some(meta) = self.txns.metas.get(txn_id).cloned() else {
            let pid = self.allocate_producer_id();
            self.txns.by_producer.insert(pid, txn_id.to_string());
            self.txns.metas.insert(
                txn_id.to_string(),
                TxnMeta {
                    producer_id: pid,
                    epoch: 0,
                    last: None,
                    last_end: None,
                    marker_producer: None,
                    timeout,
                    status: TxnStatus::Empty,
                    partitions: BTreeSet::new(),
                    groups: BTreeSet::new(),
                    pending_offsets: Vec::new(),
                    started: None,
                    completes_at: None,
                    deadline: None,
                },
            );
            return Ok((pid, 0));
        };
        if let Some((pid, epoch)) = expected
            && pid >= 0
        {
            let current = (meta.producer_id, meta.epoch) == (pid, epoch);
            let retried = meta.last == Some((pid, epoch));
            if retried
                && matches!(
                    meta.status,
                    TxnStatus::Empty | TxnStatus::CompleteAbort | TxnStatus::CompleteCommit
                )
            {
                return Ok((meta.producer_id, meta.epoch));
            }
            if !current {
                return Err(codes::PRODUCER_FENCED);
            }
        }
        match meta.status {
            TxnStatus::PrepareAbort | TxnStatus::PrepareCommit => {
                Err(codes::CONCURRENT_TRANSACTIONS)
            }
            TxnStatus::Ongoing => {
                // Fence the old epoch and abort its transaction; the client retries.
                self.bump_epoch(txn_id);
                self.begin_end(txn_id, false, now, now_ms);
                Err(codes::CONCURRENT_TRANSACTIONS)
            }
            TxnStatus::Empty | TxnStatus::CompleteAbort | TxnStatus::CompleteCommit => {
                let (pid, epoch) = self.bump_epoch(txn_id);
                if let Some(m) = self.txns.metas.get_mut(txn_id) {
                    m.timeout = timeout;
                    m.status = TxnStatus::Empty;
                }
                Ok((pid, epoch))
            }
        }
    }

    /// Bumps the epoch of a transactional id (a new producer id when the epoch would run out).
    pub(super) fn bump_epoch(&mut self, txn_id: &str) -> (i64, i16) {
        let fresh = self.next_producer_id;
        let Some(m) = self.txns.metas.get_mut(txn_id) else {
            return (-1, -1);
        };
        m.last = Some((m.producer_id, m.epoch));
        m.last_end = None;
        if m.epoch >= i16::MAX - 1 {
            m.marker_producer = Some((m.producer_id, i16::MAX));
            self.next_producer_id += 1;
            m.producer_id = fresh;
            m.epoch = 0;
            self.txns.by_producer.insert(fresh, txn_id.to_string());
        } else {
            m.marker_producer = None;
            m.epoch += 1;
        }
        (m.producer_id, m.epoch)
    }

    /// Looks up a transaction for a client request, checking producer id, epoch and that no
    /// EndTxn is still completing.
    pub(super) fn txn_for_add(
        &mut self,
        txn_id: &str,
        producer_id: i64,
        epoch: i16,
        now: Instant,
        now_ms: i64,
    ) -> Result<&mut TxnMeta, i16> {
        self.complete_due(now, now_ms);
        let meta = self
            .txns
            .metas
            .get_mut(txn_id)
            .ok_or(codes::INVALID_PRODUCER_ID_MAPPING)?;
        check_producer(meta, producer_id, epoch)?;
        if matches!(
            meta.status,
            TxnStatus::PrepareAbort | TxnStatus::PrepareCommit
        ) {
            return Err(codes::CONCURRENT_TRANSACTIONS);
        }
        if meta.status != TxnStatus::Ongoing {
            meta.status = TxnStatus::Ongoing;
            meta.started = Some(now);
            meta.marker_producer = None;
            let timeout_at = now + meta.timeout;
            self.txns.reschedule(txn_id, Some(timeout_at));
        }
        self.txns
            .metas
            .get_mut(txn_id)
            .ok_or(codes::INVALID_PRODUCER_ID_MAPPING)
    }

    /// AddPartitionsToTxn: one result per partition. An unknown partition fails with
    /// UNKNOWN_TOPIC_OR_PARTITION and the others with OPERATION_NOT_ATTEMPTED, as Kafka does.
    pub fn add_partitions_to_txn(
        &mut self,
        txn_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        now: Instant,
        now_ms: i64,
    ) -> Vec<((String, i32), i16)> {
        let unknown: Vec<bool> = partitions
            .iter()
            .map(|(t, p)| self.partition(t, *p).is_none())
            .collect();
        let all = |code| partitions.iter().map(|tp| (tp.clone(), code)).collect();
        if unknown.iter().any(|u| *u) {
            return partitions
                .iter()
                .zip(unknown)
                .map(|(tp, u)| {
                    let code = if u {
                        codes::UNKNOWN_TOPIC_OR_PARTITION
                    } else {
                        codes::OPERATION_NOT_ATTEMPTED
                    };
                    (tp.clone(), code)
                })
                .collect();
        }
        match self.txn_for_add(txn_id, producer_id, epoch, now, now_ms) {
            Ok(meta) => {
                meta.partitions.extend(partitions.iter().cloned());
                all(codes::NONE)
            }
            Err(code) => all(code),
        }
    }

    /// AddOffsetsToTxn: adds the group's `__consumer_offsets` partition to the transaction.
    pub fn add_offsets_to_txn(
        &mut self,
        txn_id: &str,
        producer_id: i64,
        epoch: i16,
        group: &str,
        now: Instant,
        now_ms: i64,
    ) -> i16 {
        match self.txn_for_add(txn_id, producer_id, epoch, now, now_ms) {
            Ok(meta) => {
                meta.groups.insert(group.to_string());
                codes::NONE
            }
            Err(code) => code,
        }
    }

    /// TxnOffsetCommit: stores offsets that become visible when the transaction commits.
    /// The group must have been added with AddOffsetsToTxn.
    pub fn txn_offset_commit(
        &mut self,
        txn_id: &str,
        producer_id: i64,
        epoch: i16,
        group: &str,
        offsets: Vec<(String, i32, CommittedOffset)>,
    ) -> i16 {
        let Some(meta) = self.txns.metas.get_mut(txn_id) else {
            return codes::INVALID_PRODUCER_ID_MAPPING;
        };
        if let Err(code) = check_producer(meta, producer_id, epoch) {
            return code;
        }
        if meta.status != TxnStatus::Ongoing || !meta.groups.contains(group) {
            return codes::INVALID_TXN_STATE;
        }
        let mut added = Vec::new();
        for (topic, partition, offset) in offsets {
            let before = meta.pending_offsets.len();
            meta.pending_offsets
                .retain(|o| !(o.group == group && o.topic == topic && o.partition == partition));
            if meta.pending_offsets.len() == before {
                added.push((group.to_string(), topic.clone(), partition));
            }
            meta.pending_offsets.push(PendingOffset {
                group: group.to_string(),
                topic,
                partition,
                offset,
            });
        }
        for key in added {
            self.txns.add_pending(key);
        }
        codes::NONE
    }

    /// EndTxn. Retrying a completed EndTxn with the same outcome succeeds; the opposite
    /// outcome, or ending a transaction that never started, is INVALID_TXN_STATE; while
    /// markers are being written it is CONCURRENT_TRANSACTIONS.
    pub fn end_txn(
        &mut self,
        txn_id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        now: Instant,
        now_ms: i64,
    ) -> i16 {
        self.complete_due(now, now_ms);
        let Some(meta) = self.txns.metas.get(txn_id) else {
            return codes::INVALID_PRODUCER_ID_MAPPING;
        };
        if let Err(code) = check_producer(meta, producer_id, epoch) {
            return code;
        }
        match (meta.status, commit) {
            (TxnStatus::Ongoing, _) => {
                self.begin_end(txn_id, commit, now, now_ms);
                codes::NONE
            }
            (TxnStatus::PrepareCommit, true) | (TxnStatus::PrepareAbort, false) => {
                codes::CONCURRENT_TRANSACTIONS
            }
            (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) => codes::NONE,
            _ => codes::INVALID_TXN_STATE,
        }
    }

    /// Moves a transaction to Prepare*, completing it at once when there is no marker delay.
    pub(super) fn begin_end(&mut self, txn_id: &str, commit: bool, now: Instant, now_ms: i64) {
        let delay = self.config.marker_delay;
        if let Some(m) = self.txns.metas.get_mut(txn_id) {
            m.status = if commit {
                TxnStatus::PrepareCommit
            } else {
                TxnStatus::PrepareAbort
            };
            m.completes_at = Some(now + delay);
            self.txns.reschedule(txn_id, Some(now + delay));
        }
        if delay.is_zero() {
            self.complete(txn_id, now_ms);
        }
    }

    /// Writes the markers of a prepared transaction and applies or drops its offsets.
    fn complete(&mut self, txn_id: &str, now_ms: i64) {
        let Some(m) = self.txns.metas.get_mut(txn_id) else {
            return;
        };
        let commit = match m.status {
            TxnStatus::PrepareCommit => true,
            TxnStatus::PrepareAbort => false,
            _ => return,
        };
        m.status = if commit {
            TxnStatus::CompleteCommit
        } else {
            TxnStatus::CompleteAbort
        };
        m.completes_at = None;
        m.started = None;
        m.groups.clear();
        let partitions = std::mem::take(&mut m.partitions);
        let offsets = std::mem::take(&mut m.pending_offsets);
        let (pid, epoch) = m.marker_producer.take().unwrap_or((m.producer_id, m.epoch));
        self.txns.remove_pending(&offsets);
        self.txns.reschedule(txn_id, None);
        for (topic, partition) in partitions {
            if let Some(p) = self.partition_mut(&topic, partition) {
                let leader_epoch = p.leader_epoch;
                if let Err(code) = p.log.write_marker(pid, epoch, commit, leader_epoch, now_ms) {
                    tracing::warn!(%topic, partition, code, "transaction marker refused");
                }
            }
        }
        if commit {
            for o in offsets {
                self.groups
                    .commit(&o.group, &o.topic, o.partition, o.offset);
            }
        }
        tracing::debug!(txn_id, commit, "transaction completed");
    }

    /// Completes transactions whose markers are due and aborts (with an epoch bump, fencing
    /// the producer) ongoing transactions older than their timeout. Called on every
    /// transactional request and by the cluster's ticker. Returns whether anything changed.
    ///
    /// Visits only the deadlines that have passed (kept in time order), so its cost is the
    /// due work, not the number of transactional ids the coordinators have seen.
    pub fn complete_due(&mut self, now: Instant, now_ms: i64) -> bool {
        let due: Vec<String> = self
            .txns
            .deadlines
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, id)| id.clone())
            .collect();
        let mut changed = false;
        for id in due {
            let Some(m) = self.txns.metas.get(&id) else {
                continue;
            };
            if m.completes_at.is_some_and(|t| t <= now) {
                self.complete(&id, now_ms);
                changed = true;
            } else if m.status == TxnStatus::Ongoing
                && m.started.is_some_and(|s| now.duration_since(s) > m.timeout)
            {
                tracing::info!(txn_id = %id, "transaction timed out; aborting");
                self.txns.timed_out += 1;
                self.bump_epoch(&id);
                self.begin_end(&id, false, now, now_ms);
                changed = true;
            }
            // Otherwise due exactly now (a timeout fires once it is exceeded): kept.
        }
        changed
    }

    /// The `__consumer_offsets` partition of a group (what AddOffsetsToTxn adds).
    pub fn offsets_partition(group: &str) -> i32 {
        coordinator_partition(group, OFFSETS_PARTITIONS)
    }
}

#[cfg(test)]
#[path = "txn_tests.rs"]
mod tests;
