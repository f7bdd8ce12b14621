//! The hook through which a transaction manager (klamm-txn) steers the sender.
//!
//! KIP-98: a transactional producer may write to a partition only after the coordinator
//! added it to the transaction (AddPartitionsToTxn), its producer id and epoch come from
//! InitProducerId *with the transactional id* (which fences older instances), and an abort
//! must fail the batches not yet sent. The sender asks the hook before draining each
//! partition, takes the producer id from it instead of asking the broker itself, and reports
//! batches that failed for good so that the transaction can be made abortable.

use futures::future::BoxFuture;

use crate::error::ProducerError;
use crate::idempotence::{ProducerIdEpoch, TopicPartition};

/// What the sender asks of a transaction manager. klamm-txn implements it; a plain
/// idempotent producer has none.
pub trait TransactionHook: Send + Sync + 'static {
    /// Batches of `tp` may be drained only when this is true (the partition was added to the
    /// current transaction).
    fn may_drain(&self, tp: &TopicPartition) -> bool;

    /// The producer id and epoch for transactional batches; `None` before
    /// `init_transactions`. With a hook, the sender never asks the broker for a producer id
    /// itself.
    fn producer_id_epoch(&self) -> Option<ProducerIdEpoch>;

    /// A batch of `tp` failed for good; `needs_epoch_bump` when its sequence range became a
    /// gap (KIP-360: the transaction must abort with an epoch bump).
    fn on_batch_failed(&self, tp: &TopicPartition, error: &ProducerError, needs_epoch_bump: bool);

    /// Whether the transaction failed: the sender then fails every batch not yet drained
    /// with this error (their partitions may never be added).
    fn failed(&self) -> Option<ProducerError>;

    /// KIP-890 part 2 (transaction version 2): the open transaction's partitions are added by
    /// the broker when a transactional Produce arrives at v12, so Produce requests may use
    /// v12 (klamm-net stops a transactional Produce at v11 otherwise). Constant between
    /// transaction boundaries. Default: `false`.
    fn implicit_partition_add(&self) -> bool {
        false
    }

    /// Resolves when [`may_drain`](Self::may_drain), [`producer_id_epoch`](Self::producer_id_epoch)
    /// or [`failed`](Self::failed) may have changed.
    fn changed(&self) -> BoxFuture<'_, ()>;
}
