//! klamm-producer's [`TransactionHook`] implemented by the [`TransactionManager`]: how the
//! producer's sender is steered by the transaction (drain only added partitions, write with
//! the manager's producer id and epoch, fail unsent batches once the transaction failed,
//! report batches that failed for good).

use futures_lite_box::BoxFuture;
use klamm_producer::idempotence::{ProducerIdEpoch, TopicPartition};
use klamm_producer::{ProducerError, TransactionHook};

use crate::manager::TransactionManager;

/// `futures::future::BoxFuture` without the dependency.
mod futures_lite_box {
    /// A boxed, sendable future.
    pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
}

impl TransactionHook for TransactionManager {
    fn may_drain(&self, tp: &TopicPartition) -> bool {
        self.is_send_to_partition_allowed(tp)
    }

    fn producer_id_epoch(&self) -> Option<ProducerIdEpoch> {
        TransactionManager::producer_id_epoch(self)
    }

    fn on_batch_failed(&self, tp: &TopicPartition, error: &ProducerError, needs_epoch_bump: bool) {
        TransactionManager::on_batch_failed(self, tp, error, needs_epoch_bump);
    }

    fn failed(&self) -> Option<ProducerError> {
        self.failure().map(|cause| {
            ProducerError::Fatal(
                format!("the transaction failed, so this record was not sent: {cause}").into(),
            )
        })
    }

    fn implicit_partition_add(&self) -> bool {
        self.kip890()
    }

    fn changed(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.sender_wake())
    }
}
