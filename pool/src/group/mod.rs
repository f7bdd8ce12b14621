//! Group commit: grouped `transaction_grouped` calls that arrive while the producers are busy
//! share one Kafka transaction.
//!
//! Each caller (a *member*) runs its own closure in its own task, so closures may borrow
//! from their caller and need only be `Send`. A group's Kafka transaction is driven by a
//! *runner* task the pool spawns for it (`runner.rs`), not by one of the callers, so that no
//! caller dropping its future can leave the others' transaction half done. The runner borrows
//! a producer, begins, hands every member a [`Txn`] and waits for each member's report, then
//! commits, or aborts and sends the members that succeeded round again (`member.rs` is the
//! caller's side).
//!
//! At most one group takes members at a time ([`Forming`]); it stops when it is full or when
//! its runner closes it (a producer is free and `max_group_delay` has passed). Runners queue
//! for producers like any other borrower, so while every producer is busy the open group
//! collects the callers that arrive.

pub(crate) mod member;
mod runner;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, mpsc, oneshot};

use crate::error::PoolError;
use crate::guard::Txn;

/// What a member's closure did in one round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    /// Returned `Ok`; its handles are dropped.
    Succeeded,
    /// Returned `Err`, panicked or ran out of time; the member returns its own error once the
    /// runner says the transaction was aborted.
    Failed,
}

/// What the runner tells a member.
pub(crate) enum ToMember<P> {
    /// Run the closure (again) with this transaction, then report.
    Run {
        txn: Txn<P>,
        done: oneshot::Sender<Report>,
    },
    /// The transaction the member's last run was part of committed.
    Committed,
    /// The member's closure failed and the transaction was aborted: return the closure's error.
    Aborted,
    /// The group failed for a reason of the pool's (checkout, begin, commit, an escaped
    /// handle, a report that never came).
    Failed(PoolError),
}

/// The runner's end of one member. Unbounded because a member gets at most one message per
/// round plus the outcome, and rounds are bounded by the group's size (each one that is not
/// the last drops at least one member).
pub(crate) type Link<P> = mpsc::UnboundedSender<ToMember<P>>;

/// A group while it takes members.
pub(crate) struct Cell<P> {
    state: Mutex<CellState<P>>,
    /// Notified (a stored permit) when the group reached `max_group`.
    full: Notify,
}

struct CellState<P> {
    members: Vec<Link<P>>,
    /// Set by the runner when it takes the members: nobody joins after that.
    sealed: bool,
}

impl<P> Cell<P> {
    fn new(first: Link<P>) -> Self {
        Cell {
            state: Mutex::new(CellState {
                members: vec![first],
                sealed: false,
            }),
            full: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, CellState<P>> {
        // Every update is a push or a take: a panic elsewhere cannot leave it half done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The group that takes new members, if any. Lock order: `open`, then a cell's state; both
/// are held only for a few pointer moves, never across an `.await`.
pub(crate) struct Forming<P> {
    open: Mutex<Option<Arc<Cell<P>>>>,
}

impl<P> Default for Forming<P> {
    fn default() -> Self {
        Forming {
            open: Mutex::new(None),
        }
    }
}

impl<P> Forming<P> {
    fn lock(&self) -> MutexGuard<'_, Option<Arc<Cell<P>>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `member` to the open group, or opens a new group with it. Returns the new group
    /// when one was opened: the caller must start its runner.
    pub(crate) fn join(&self, max_group: usize, member: Link<P>) -> Option<Arc<Cell<P>>> {
        let mut open = self.lock();
        if let Some(cell) = open.clone() {
            let mut state = cell.lock();
            if !state.sealed && state.members.len() < max_group {
                state.members.push(member);
                if state.members.len() >= max_group {
                    drop(state);
                    *open = None;
                    cell.full.notify_one();
                }
                return None;
            }
        }
        let cell = Arc::new(Cell::new(member));
        // A group of one is full at once: nobody else may join it.
        if max_group > 1 {
            *open = Some(Arc::clone(&cell));
        } else {
            cell.full.notify_one();
        }
        Some(cell)
    }

    /// Closes `cell` to new members and takes them.
    pub(crate) fn seal(&self, cell: &Arc<Cell<P>>) -> Vec<Link<P>> {
        let mut open = self.lock();
        if open.as_ref().is_some_and(|c| Arc::ptr_eq(c, cell)) {
            *open = None;
        }
        let mut state = cell.lock();
        state.sealed = true;
        std::mem::take(&mut state.members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> (Link<()>, mpsc::UnboundedReceiver<ToMember<()>>) {
        mpsc::unbounded_channel()
    }

    #[test]
    fn members_join_the_open_group_until_it_is_full_or_sealed() {
        let forming = Forming::<()>::default();
        let (a, _ra) = link();
        let first = forming.join(3, a).expect("the first member opens a group");
        for _ in 0..2 {
            let (m, _r) = link();
            assert!(forming.join(3, m).is_none(), "joins the open group");
        }
        let (d, _rd) = link();
        let second = forming.join(3, d).expect("a full group takes nobody");
        assert!(!Arc::ptr_eq(&first, &second));
        assert_eq!(forming.seal(&first).len(), 3);
        assert_eq!(forming.seal(&second).len(), 1);
        let (e, _re) = link();
        let third = forming.join(3, e).expect("a sealed group takes nobody");
        assert!(!Arc::ptr_eq(&second, &third));
    }

    #[test]
    fn a_max_group_of_one_never_shares() {
        let forming = Forming::<()>::default();
        for _ in 0..3 {
            let (m, _r) = link();
            assert!(forming.join(1, m).is_some());
        }
    }
}
