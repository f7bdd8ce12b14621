//! A grouped caller's side: join a group, run the closure whenever the runner says so (again
//! after an abort caused by another member), report, and return the group's outcome.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{debug_span, warn};

use super::{Report, ToMember, runner};
use crate::closure::{self, Ran};
use crate::config::GroupCommit;
use crate::error::{PoolError, TransactionError};
use crate::guard::Txn;
use crate::metrics::Counters;
use crate::pool::TransactionalPool;
use crate::producer::ProducerFactory;

/// Runs `f` as a member of a group transaction (see
/// [`TransactionalPool::transaction_grouped`]).
pub(crate) async fn run<F, T, E, Fut, Func>(
    pool: &TransactionalPool<F>,
    group: GroupCommit,
    f: Func,
) -> Result<T, TransactionError<E>>
where
    F: ProducerFactory,
    Func: Fn(Txn<F::Producer>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let shared = pool.shared();
    let (link, mut inbox) = mpsc::unbounded_channel();
    if let Some(cell) = shared.groups.join(group.max_group, link) {
        let opened = tokio::time::Instant::now();
        drop(
            shared
                .runtime
                .spawn(runner::lead(pool.clone(), cell, opened, group)),
        );
    }
    let limit = shared.config.transaction_timeout;
    // The last run's result: its value, or its error once the runner confirms the abort.
    let mut last: Option<Result<T, TransactionError<E>>> = None;
    while let Some(message) = inbox.recv().await {
        match message {
            ToMember::Run { txn, done } => {
                let id = txn.transactional_id().to_owned();
                let span = debug_span!("pool.transaction_grouped", transactional_id = %id);
                // The closure's future and every Txn it held are dropped when `run` returns,
                // before the report: the runner checks that no handle is left.
                let ran = closure::run(&f, txn, limit, span).await;
                let (report, result) = settle(ran, id, limit, &shared.counters);
                last = Some(result);
                // The runner may be gone (the runtime is shutting down): the loop ends below.
                let _ = done.send(report);
            }
            ToMember::Committed => {
                return match last {
                    Some(Ok(value)) => Ok(value),
                    // A runner only commits after every member reported success.
                    _ => Err(PoolError::GroupLost.into()),
                };
            }
            ToMember::Aborted => {
                return match last {
                    Some(Err(e)) => Err(e),
                    _ => Err(PoolError::GroupLost.into()),
                };
            }
            ToMember::Failed(e) => {
                // A closure that failed on its own is told `Aborted`, so `e` is the group's.
                return Err(e.into());
            }
        }
    }
    Err(PoolError::GroupLost.into())
}

/// The report for the runner and the member's own result of one run.
fn settle<T, E>(
    ran: Ran<T, E>,
    id: String,
    limit: Duration,
    counters: &Counters,
) -> (Report, Result<T, TransactionError<E>>) {
    match ran {
        Ran::Value(value) => (Report::Succeeded, Ok(value)),
        Ran::Failed(e) => (Report::Failed, Err(TransactionError::Aborted(e))),
        Ran::Panicked(message) => {
            Counters::inc(&counters.panics);
            warn!(transactional_id = %id, %message, "grouped transaction closure panicked; aborting its group");
            (
                Report::Failed,
                Err(PoolError::Panicked { id, message }.into()),
            )
        }
        Ran::TimedOut => {
            warn!(transactional_id = %id, ?limit, "grouped transaction closure ran out of time; aborting its group");
            (
                Report::Failed,
                Err(PoolError::TransactionTimeout { id, timeout: limit }.into()),
            )
        }
    }
}
