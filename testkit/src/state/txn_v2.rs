//! KIP-890 part 2 (transaction version 2) on the coordinator: a transactional Produce v12
//! adds its partition to the transaction itself, and EndTxn v5 bumps the epoch at every
//! transaction end (the markers carry the new epoch, the answer hands it to the producer).

use std::time::Instant;

use super::ClusterState;
use super::batch::BatchHeader;
use super::txn::{TxnStatus, check_producer};
use crate::codes;

/// The transaction a transactional Produce v12 adds its partition to.
#[derive(Debug, Clone, Copy)]
pub struct ImplicitAdd<'a> {
    /// The request's transactional id.
    pub transactional_id: &'a str,
    /// Now, on the cluster's clock.
    pub now: Instant,
    /// Wall-clock milliseconds (marker timestamps).
    pub now_ms: i64,
}

impl ClusterState {
    /// Adds a partition to the transaction of a transactional Produce v12 batch, as Kafka's
    /// partition leader does through the coordinator. UNSUPPORTED_VERSION while the finalized
    /// `transaction.version` is below 2; CONCURRENT_TRANSACTIONS while the previous
    /// transaction's markers are being written (the producer retries); fencing as for
    /// AddPartitionsToTxn.
    pub(super) fn add_partition_implicitly(
        &mut self,
        add: &ImplicitAdd<'_>,
        h: &BatchHeader,
        topic: &str,
        partition: i32,
    ) -> Result<(), i16> {
        if self.config.transaction_version < 2 {
            return Err(codes::UNSUPPORTED_VERSION);
        }
        let meta = self.txn_for_add(
            add.transactional_id,
            h.producer_id,
            h.producer_epoch,
            add.now,
            add.now_ms,
        )?;
        meta.partitions.insert((topic.to_string(), partition));
        Ok(())
    }

    /// EndTxn v5 (KIP-890 part 2): ends the transaction with a new epoch (a new producer id
    /// when the epoch runs out), writes the markers with it and returns it. A retry of the
    /// same EndTxn (the producer id and epoch it was sent with, the same outcome) answers the
    /// epoch it already handed out. Aborting when no transaction is open is allowed and
    /// bumps the epoch too; committing then is INVALID_TXN_STATE.
    pub fn end_txn_v2(
        &mut self,
        txn_id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        now: Instant,
        now_ms: i64,
    ) -> Result<(i64, i16), i16> {
        self.complete_due(now, now_ms);
        let meta = self
            .txns
            .metas
            .get(txn_id)
            .ok_or(codes::INVALID_PRODUCER_ID_MAPPING)?;
        if meta.last_end == Some((producer_id, epoch, commit)) {
            match (meta.status, commit) {
                (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) => {
                    return Ok((meta.producer_id, meta.epoch));
                }
                (TxnStatus::PrepareCommit, true) | (TxnStatus::PrepareAbort, false) => {
                    return Err(codes::CONCURRENT_TRANSACTIONS);
                }
                _ => {}
            }
        }
        check_producer(meta, producer_id, epoch)?;
        match (meta.status, commit) {
            (TxnStatus::Ongoing, _) => {}
            (TxnStatus::PrepareCommit | TxnStatus::PrepareAbort, _) => {
                return Err(codes::CONCURRENT_TRANSACTIONS);
            }
            (TxnStatus::Empty | TxnStatus::CompleteCommit | TxnStatus::CompleteAbort, false) => {}
            _ => return Err(codes::INVALID_TXN_STATE),
        }
        let new = self.bump_epoch(txn_id);
        if let Some(m) = self.txns.metas.get_mut(txn_id) {
            m.last_end = Some((producer_id, epoch, commit));
        }
        self.begin_end(txn_id, commit, now, now_ms);
        Ok(new)
    }
}

#[cfg(test)]
#[path = "txn_v2_tests.rs"]
mod tests;
