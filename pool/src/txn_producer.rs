//! The pool over klamm-txn's [`TransactionalProducer`], and [`FnFactory`], a factory made of a
//! closure (build the producer for an id and initialise it).

use std::future::Future;
use std::time::Duration;

use klamm_txn::producer::ProducerBackend;
use klamm_txn::{CoordinatorTransport, TransactionalProducer, TxnError};
use tracing::warn;

use crate::driver::health_of;
use crate::producer::{Health, PoolProducer, ProducerFactory};

impl<B: ProducerBackend, T: CoordinatorTransport + 'static> PoolProducer
    for TransactionalProducer<B, T>
{
    type Error = TxnError;

    async fn begin(&self) -> Result<(), TxnError> {
        self.begin_transaction()
    }

    async fn commit(&self) -> Result<(), TxnError> {
        self.commit_transaction().await
    }

    async fn abort(&self) -> Result<(), TxnError> {
        self.abort_transaction().await
    }

    fn health(&self) -> Health {
        health_of(self.state())
    }

    async fn close(&self, timeout: Duration) {
        if let Err(e) = TransactionalProducer::close(self, timeout).await {
            warn!(error = %e, "closing a pooled transactional producer failed");
        }
    }
}

/// A [`ProducerFactory`] made of a closure that builds and initialises the producer for a
/// transactional id: `FnFactory(|id: String| async move { ...; p.init_transactions().await?; Ok(p) })`.
#[derive(Debug, Clone)]
pub struct FnFactory<F>(pub F);

impl<F, Fut, P> ProducerFactory for FnFactory<F>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<P, P::Error>> + Send,
    P: PoolProducer,
{
    type Producer = P;

    fn create(&self, transactional_id: &str) -> impl Future<Output = Result<P, P::Error>> + Send {
        (self.0)(transactional_id.to_owned())
    }
}
