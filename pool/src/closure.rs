//! Running one transaction closure the way both `transaction` and `transaction_grouped` do:
//! a panic (in the call or in its future) is caught, and the closure gets at most
//! `transaction_timeout`.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use tracing::{Instrument, Span};

use crate::error::panic_message;
use crate::guard::Txn;

/// How a closure ended.
pub(crate) enum Ran<T, E> {
    /// It returned `Ok`.
    Value(T),
    /// It returned `Err`.
    Failed(E),
    /// It panicked, with this message.
    Panicked(String),
    /// It ran longer than the limit; its future (and the `Txn` handles in it) was dropped.
    TimedOut,
}

/// Calls `f` with `txn` and runs the future it returns for at most `limit`.
///
/// `f` is called synchronously before the first `.await`, so that a caller passing `&Func`
/// holds no borrow of its closure across an await (a grouped caller's future then needs only
/// `Func: Send`, not `Sync`).
pub(crate) fn run<P, T, E, Fut>(
    f: impl FnOnce(Txn<P>) -> Fut,
    txn: Txn<P>,
    limit: Duration,
    span: Span,
) -> impl Future<Output = Ran<T, E>>
where
    Fut: Future<Output = Result<T, E>>,
{
    let call = std::panic::catch_unwind(AssertUnwindSafe(move || f(txn)));
    async move {
        let fut = match call {
            Ok(fut) => fut,
            Err(payload) => return Ran::Panicked(panic_message(payload.as_ref())),
        };
        let run = AssertUnwindSafe(fut).catch_unwind().instrument(span);
        match tokio::time::timeout(limit, run).await {
            Err(_elapsed) => Ran::TimedOut,
            Ok(Err(payload)) => Ran::Panicked(panic_message(payload.as_ref())),
            Ok(Ok(Ok(value))) => Ran::Value(value),
            Ok(Ok(Err(e))) => Ran::Failed(e),
        }
    }
}
