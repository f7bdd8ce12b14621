//! [`ProducerBackend`]: what a [`TransactionalProducer`](super::TransactionalProducer) needs
//! from the producer underneath it.
//!
//! The backend's sender must also consult the [`TransactionManager`](crate::TransactionManager)
//! before draining a partition (the sender hook described in the crate README): drain a
//! partition only when `is_send_to_partition_allowed`, stamp batches with the manager's
//! producer id and epoch and the transactional flag, report a batch that failed for good with
//! `on_batch_error`, and wake on `partitions_changed`.

use std::future::Future;
use std::time::Duration;

use klamm_producer::{DeliveryFuture, ProducerError, ProducerRecord};

/// The producer under a transactional producer.
pub trait ProducerBackend: Send + Sync + 'static {
    /// Appends `record` (waiting for buffer memory up to `max_block`); the future reports
    /// its outcome and [`DeliveryFuture::partition`] where it went.
    fn send(
        &self,
        record: ProducerRecord,
    ) -> impl Future<Output = Result<DeliveryFuture, ProducerError>> + Send;

    /// Sends everything buffered now and waits until every record appended before the call
    /// has its outcome.
    fn flush(&self) -> impl Future<Output = ()> + Send;

    /// Fails every batch not yet sent with `error`, and waits until every batch in flight has
    /// its outcome (the abort's markers must come after them).
    fn abort_unsent(&self, error: ProducerError) -> impl Future<Output = ()> + Send;

    /// Closes the producer, giving in-flight work up to `timeout`.
    fn close(&self, timeout: Duration) -> impl Future<Output = Result<(), ProducerError>> + Send;
}
