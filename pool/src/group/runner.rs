//! A group's runner: waits for a producer (while members join), closes the group, and runs
//! rounds: begin, let every member run its closure, then commit, or abort and run the members
//! that succeeded again, until a round commits or no member is left.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::debug;

use super::{Cell, Link, Report, ToMember};
use crate::config::GroupCommit;
use crate::error::PoolError;
use crate::guard::{PooledProducer, Txn};
use crate::metrics::Counters;
use crate::pool::TransactionalPool;
use crate::producer::ProducerFactory;

/// How much longer than `transaction_timeout` the runner waits for a member's report. Each
/// member bounds its own closure by `transaction_timeout` and reports at once, so only a
/// member whose task is not being polled (its executor stalled) needs this: it is then treated
/// as timed out.
const REPORT_GRACE: Duration = Duration::from_secs(1);

/// Runs the group that `cell` collects, opened at `opened`.
pub(crate) async fn lead<F: ProducerFactory>(
    pool: TransactionalPool<F>,
    cell: Arc<Cell<F::Producer>>,
    opened: Instant,
    group: GroupCommit,
) {
    // Members keep joining while this waits: that wait is what groups them.
    let got = pool.get().await;
    if got.is_ok() && !group.max_group_delay.is_zero() {
        tokio::select! {
            () = tokio::time::sleep_until(opened + group.max_group_delay) => {}
            () = cell.full.notified() => {}
        }
    }
    let members = pool.shared().groups.seal(&cell);
    match got {
        Ok(guard) => rounds(&pool, guard, members).await,
        Err(e) => fail_all(members, e),
    }
}

/// Tells every member that the group failed with `e`.
fn fail_all<P>(members: Vec<Link<P>>, e: PoolError) {
    let errors = e.fan_out(members.len());
    for (member, e) in members.into_iter().zip(errors) {
        // A member that is gone has nobody left to tell.
        let _ = member.send(ToMember::Failed(e));
    }
}

/// Tells each member `message()`.
fn tell_all<P>(members: Vec<Link<P>>, message: impl Fn() -> ToMember<P>) {
    for member in members {
        let _ = member.send(message());
    }
}

/// What became of the members of one round.
struct Round<P> {
    /// Reported success and kept no handle.
    succeeded: Vec<Link<P>>,
    /// Reported a failure of their own closure.
    failed: Vec<Link<P>>,
    /// Reported success but kept a `Txn` handle.
    escaped: Vec<Link<P>>,
    /// Never reported within the deadline.
    silent: Vec<Link<P>>,
    /// Members whose caller dropped its future mid-closure.
    dropped: usize,
    /// Some handle is still alive: the producer must be replaced to fence it.
    replace: bool,
}

impl<P> Round<P> {
    fn clean(&self) -> bool {
        self.failed.is_empty()
            && self.escaped.is_empty()
            && self.silent.is_empty()
            && self.dropped == 0
            && !self.replace
    }
}

/// Runs rounds on `first` (and on later producers if one has to be replaced) until one
/// commits, fails for the pool's reasons, or has no member left.
async fn rounds<F: ProducerFactory>(
    pool: &TransactionalPool<F>,
    first: PooledProducer<F>,
    mut members: Vec<Link<F::Producer>>,
) {
    let shared = pool.shared();
    let limit = shared.config.transaction_timeout;
    let mut next = Some(first);
    loop {
        let mut guard = match next.take() {
            Some(guard) => guard,
            None => match pool.get().await {
                Ok(guard) => guard,
                Err(e) => return fail_all(members, e),
            },
        };
        if let Err(e) = guard.begin().await {
            return fail_all(members, e);
        }
        let id = Arc::clone(&shared.ids[guard.slot()]);
        let round = run_round(&guard, &id, members, limit).await;
        let Some(round) = round else {
            // Every caller left before its closure started: nothing was written.
            let _ = guard.abort().await;
            return;
        };
        if round.clean() {
            match guard.commit().await {
                Ok(()) => tell_all(round.succeeded, || ToMember::Committed),
                Err(e) => fail_all(round.succeeded, e),
            }
            return;
        }
        // One failure aborts the whole Kafka transaction; nothing of it becomes visible.
        let aborted = guard.abort().await.is_ok();
        Counters::inc(&shared.counters.group_aborts);
        if round.replace {
            // Replacing the producer bumps the id's epoch, which fences a kept handle.
            guard.mark_broken();
        }
        if aborted && !round.replace {
            next = Some(guard);
        } else {
            drop(guard);
        }
        tell_all(round.failed, || ToMember::Aborted);
        tell_all(round.escaped, || {
            ToMember::Failed(PoolError::HandleEscaped { id: id.to_string() })
        });
        tell_all(round.silent, || {
            ToMember::Failed(PoolError::TransactionTimeout {
                id: id.to_string(),
                timeout: limit,
            })
        });
        members = round.succeeded;
        shared
            .counters
            .group_reruns
            .fetch_add(members.len() as u64, Ordering::Relaxed);
        debug!(transactional_id = %id, rerun = members.len(), dropped = round.dropped,
               "group transaction aborted; running the others again");
        if members.is_empty() {
            return;
        }
    }
}

/// Lets every member run its closure in the open transaction of `guard` and collects the
/// reports. `None` when no member was there to run.
async fn run_round<F: ProducerFactory>(
    guard: &PooledProducer<F>,
    id: &Arc<str>,
    members: Vec<Link<F::Producer>>,
    limit: Duration,
) -> Option<Round<F::Producer>> {
    let mut running = Vec::with_capacity(members.len());
    let mut reports = Vec::with_capacity(members.len());
    for member in members {
        // One lease per member, so the one that keeps a handle is known.
        let lease = Arc::new(());
        let (done, report) = oneshot::channel();
        let txn = Txn::new(guard.arc(), Arc::clone(&lease), Arc::clone(id));
        // A member whose caller is gone before its closure started has nothing to undo.
        if member.send(ToMember::Run { txn, done }).is_ok() {
            running.push((member, lease));
            reports.push(report);
        }
    }
    if running.is_empty() {
        return None;
    }
    guard.shared().counters.record_group(running.len());
    let deadline = Instant::now() + limit + REPORT_GRACE;
    let reports = futures::future::join_all(
        reports
            .into_iter()
            .map(|r| tokio::time::timeout_at(deadline, r)),
    )
    .await;
    let mut round = Round {
        succeeded: Vec::new(),
        failed: Vec::new(),
        escaped: Vec::new(),
        silent: Vec::new(),
        dropped: 0,
        replace: false,
    };
    for ((member, lease), report) in running.into_iter().zip(reports) {
        let kept = Arc::strong_count(&lease) > 1;
        round.replace |= kept;
        match report {
            Ok(Ok(Report::Succeeded)) if kept => round.escaped.push(member),
            Ok(Ok(Report::Succeeded)) => round.succeeded.push(member),
            Ok(Ok(Report::Failed)) => round.failed.push(member),
            // Its future was dropped mid-closure: its records go with the aborted round.
            Ok(Err(_dropped)) => round.dropped += 1,
            Err(_elapsed) => round.silent.push(member),
        }
    }
    Some(round)
}
