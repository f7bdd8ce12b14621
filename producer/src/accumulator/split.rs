//! A batch the broker refused as too large (MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE) is cut
//! in two and the halves take its place at the head of its partition (Java's
//! `RecordAccumulator.splitAndReenqueue`). Halving again on a second refusal converges on any
//! broker limit that a single record fits; a single-record batch fails with the broker's error.

use super::{ProducerBatch, RecordAccumulator, lock};
use crate::error::ProducerError;
use crate::idempotence::Idempotence;

impl RecordAccumulator {
    /// Split `batch` into two halves and queue them where it was (before every later batch of
    /// its partition), to be sent at once, one after the other. With idempotence the halves
    /// take over the batch's sequence range (see [`Idempotence::split`]). Returns the batch with
    /// the error when it cannot be split (one record, nothing left to cut): fail it then.
    pub fn split_and_reenqueue(
        &self,
        batch: ProducerBatch,
        error: ProducerError,
        idempotence: Option<&mut Idempotence>,
    ) -> Result<(), Box<(ProducerBatch, ProducerError)>> {
        let tp = batch.topic_partition().clone();
        let id = batch.id();
        if !batch.can_split() {
            return Err(Box::new((batch, error)));
        }
        let records = batch.record_count();
        let pieces = batch.split(error)?;
        tracing::info!(
            topic = %tp.topic,
            partition = tp.partition,
            records,
            halves = ?pieces.iter().map(ProducerBatch::record_count).collect::<Vec<_>>(),
            "batch refused as too large: split in two and requeued"
        );
        if let Some(idem) = idempotence {
            let ids: Vec<_> = pieces.iter().map(|p| (p.id(), p.record_count())).collect();
            idem.split(&tp, id, &ids);
        }
        let queue = self.queue_of(&tp);
        {
            let mut q = lock(&queue);
            let at = q
                .batches
                .iter()
                .position(|b| b.id() > id)
                .unwrap_or(q.batches.len());
            for (i, piece) in pieces.into_iter().enumerate() {
                q.batches.insert(at + i, piece);
            }
            q.muted = false;
        }
        self.rescan_expiry();
        self.wake_sender();
        Ok(())
    }
}
