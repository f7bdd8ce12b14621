//! What the pool needs from a transactional producer: [`PoolProducer`] (one producer's
//! transaction calls and its health) and [`ProducerFactory`] (create and initialise a producer
//! for a transactional id).
//!
//! The pool never reaches inside a producer (DESIGN.md): it only begins, commits and aborts
//! whole transactions, reads [`Health`] and closes. Anything else (sending records, sending
//! offsets) is the borrower's business through the producer's own API.

use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

/// A producer's condition as the pool sees it when lending it out or taking it back.
///
/// Mapped from the transaction manager's state (Java's `TransactionManager` states):
/// `Ready` -> [`Health::Ready`]; `InTransaction` -> [`Health::InTransaction`]; `Committing` /
/// `Aborting` (an outcome not yet known) -> [`Health::Completing`]; `AbortableError` ->
/// [`Health::AbortableError`]; `FatalError`, `Uninitialized` and a closed producer ->
/// [`Health::FatalError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Health {
    /// Initialised, no transaction open: can be lent out as it is.
    Ready,
    /// A transaction is open (begun, not yet committed or aborted).
    InTransaction,
    /// A commit or an abort was started and its outcome is not known yet (e.g. a timeout);
    /// calling the same method again completes it with the same result.
    Completing,
    /// The open transaction failed; only an abort is allowed, after which the producer is
    /// usable again.
    AbortableError,
    /// The producer cannot continue (fenced by a newer epoch, unrecoverable, closed). The pool
    /// closes it and creates a new producer under the same transactional id (a new epoch).
    FatalError,
}

/// One transactional producer as the pool drives it.
///
/// Implementations must be safe to share (`Send + Sync`): the pool keeps an `Arc` of every
/// producer so that `close` can reach borrowed ones, and the borrower may send from many tasks
/// inside one transaction.
pub trait PoolProducer: Send + Sync + 'static {
    /// The producer's error type.
    type Error: StdError + Send + Sync + 'static;

    /// Starts a transaction (`begin_transaction`).
    fn begin(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Commits the open transaction (`commit_transaction`: flush, then EndTxn(commit)).
    fn commit(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Aborts the open transaction (`abort_transaction`).
    fn abort(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The producer's current condition; must be cheap (read from memory, no I/O).
    fn health(&self) -> Health;

    /// Closes the producer, giving in-flight work up to `timeout`. Never fails: what cannot be
    /// finished in time is given up (and the broker aborts a transaction left open when the
    /// next producer with the same id initialises, or when the transaction times out).
    fn close(&self, timeout: Duration) -> impl Future<Output = ()> + Send;
}

/// Creates producers for the pool.
pub trait ProducerFactory: Send + Sync + 'static {
    /// The producers this factory makes.
    type Producer: PoolProducer;

    /// Creates a producer with `transactional_id` and initialises it (`init_transactions`: this
    /// bumps the id's epoch, fences any older producer with the same id and aborts a transaction
    /// it left open). The returned producer must report [`Health::Ready`].
    fn create(
        &self,
        transactional_id: &str,
    ) -> impl Future<Output = Result<Self::Producer, <Self::Producer as PoolProducer>::Error>> + Send;
}

/// The transactional id of slot `slot` in a pool with id prefix `prefix`: `"{prefix}-{slot}"`.
///
/// Stable across restarts on purpose: a restarted service with the same prefix and size
/// initialises the same ids, which fences the previous instance's producers (its zombies).
pub fn transactional_id(prefix: &str, slot: usize) -> String {
    format!("{prefix}-{slot}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefix_dash_slot() {
        assert_eq!(transactional_id("orders", 0), "orders-0");
        assert_eq!(transactional_id("orders", 7), "orders-7");
        assert_eq!(transactional_id("a-b", 12), "a-b-12");
    }
}
