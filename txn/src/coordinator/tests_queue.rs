//! State-changing calls queue behind each other (first come, first served) and each is
//! judged against the state the previous one left.

use std::sync::Arc;
use std::time::Duration;

use klamm_protocol::api::ApiKey;
use klamm_protocol::error_code::ErrorCode;

use super::fake::Fault;
use super::requests::tp;
use super::tests::{in_transaction, send_to, setup, setup_with};
use crate::error::TxnError;
use crate::state::{Op, TxnState};

#[tokio::test(start_paused = true)]
async fn an_abort_during_a_commit_waits_for_it_then_finds_no_transaction() {
    let (fake, d) = in_transaction("t", &[0]).await;
    fake.inject(
        ApiKey::EndTxn,
        &[Fault::Code(ErrorCode::ConcurrentTransactions)],
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let commit = d.commit_transaction(async move {
        rx.await.ok();
        Ok(())
    });
    let other = async {
        tokio::task::yield_now().await;
        assert_eq!(d.manager().status().running, Some(Op::Commit));
        // sends and begin never wait: the state refuses them with a typed error
        assert!(matches!(
            d.manager().begin_send(&tp("t", 1)),
            Err(TxnError::TransactionEnding {
                op: Op::Send,
                state: TxnState::Committing
            })
        ));
        assert!(matches!(
            d.begin_transaction(),
            Err(TxnError::TransactionEnding {
                op: Op::BeginTransaction,
                state: TxnState::Committing
            })
        ));
        let abort = d.abort_transaction(async {});
        let release = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            // the abort is queued, not refused, and has changed nothing
            assert_eq!(d.manager().state(), TxnState::Committing);
            assert_eq!(d.manager().status().running, Some(Op::Commit));
            tx.send(()).expect("commit waits");
        };
        let (r, ()) = tokio::join!(abort, release);
        r
    };
    let (c, a) = tokio::join!(commit, other);
    c.expect("commit");
    assert_eq!(a, Err(TxnError::NoTransaction { op: Op::Abort }));
    assert_eq!(fake.m().ended.len(), 1);
    assert_eq!(d.manager().state(), TxnState::Ready);
}

#[tokio::test(start_paused = true)]
async fn a_commit_queued_behind_a_timed_out_commit_resumes_it() {
    let (fake, d) = setup_with(|c| c.operation_timeout = Duration::from_secs(1));
    d.init_transactions().await.expect("init");
    d.begin_transaction().expect("begin");
    send_to(&d, "t", &[0]);
    fake.inject(ApiKey::EndTxn, &[Fault::Hang]);
    let (first, second) = tokio::join!(
        d.commit_transaction(async { Ok(()) }),
        d.commit_transaction(async { Ok(()) })
    );
    assert!(
        matches!(
            first,
            Err(TxnError::Timeout {
                op: Op::Commit,
                state: TxnState::CommitOutcomeUnknown,
                ..
            })
        ),
        "{first:?}"
    );
    // the second call waited its turn (its own timeout includes the wait, so it may also time
    // out); a third call after both settles the outcome
    let settled = match second {
        Ok(()) => true,
        Err(TxnError::Timeout { .. }) => {
            d.commit_transaction(async { Ok(()) }).await.expect("retry");
            true
        }
        Err(e) => panic!("unexpected: {e}"),
    };
    assert!(settled);
    assert_eq!(d.manager().state(), TxnState::Ready);
    assert_eq!(fake.m().ended.len(), 1, "committed exactly once");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_queued_call_changes_nothing() {
    let (fake, d) = in_transaction("t", &[0]).await;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let commit = d.commit_transaction(async move {
        rx.await.ok();
        Ok(())
    });
    let other = async {
        tokio::task::yield_now().await;
        let queued =
            tokio::time::timeout(Duration::from_millis(5), d.abort_transaction(async {})).await;
        assert!(queued.is_err(), "the abort was still waiting for its turn");
        assert_eq!(d.manager().state(), TxnState::Committing);
        tx.send(()).expect("commit waits");
    };
    let (c, ()) = tokio::join!(commit, other);
    c.expect("commit");
    assert_eq!(fake.m().ended, vec![(true, vec![("t".to_owned(), 0)])]);
    // the queue is free again
    d.begin_transaction().expect("begin");
    d.abort_transaction(async {}).await.expect("abort");
}

/// Many tasks hammer one producer with begin, sends, commits and aborts: every call either
/// succeeds or gets a typed misuse error, the coordinator sees one EndTxn per successful
/// commit or abort of a transaction with partitions, and the state machine ends consistent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_get_serialised_outcomes() {
    let (fake, d) = setup();
    let d = Arc::new(d);
    d.init_transactions().await.expect("init");
    let mut tasks = Vec::new();
    for task in 0..16u32 {
        let d = Arc::clone(&d);
        tasks.push(tokio::spawn(async move {
            let mut ok = [0u32; 3];
            for round in 0..40u32 {
                let r = match (task + round) % 4 {
                    0 | 1 => d.begin_transaction().map(|()| 0),
                    2 => {
                        if let Ok(p) = d.manager().begin_send(&tp("t", (task % 3) as i32)) {
                            drop(p);
                        }
                        d.commit_transaction(async { Ok(()) }).await.map(|()| 1)
                    }
                    _ => d.abort_transaction(async {}).await.map(|()| 2),
                };
                match r {
                    Ok(i) => ok[i] += 1,
                    Err(e) => assert!(
                        matches!(
                            e,
                            TxnError::NoTransaction { .. }
                                | TxnError::AlreadyInTransaction
                                | TxnError::TransactionEnding { .. }
                        ),
                        "unexpected error: {e}"
                    ),
                }
                tokio::task::yield_now().await;
            }
            ok
        }));
    }
    let mut totals = [0u32; 3];
    for t in tasks {
        let ok = t.await.expect("task");
        for i in 0..3 {
            totals[i] += ok[i];
        }
    }
    let [begins, commits, aborts] = totals;
    assert!(begins > 0 && commits + aborts > 0, "{totals:?}");
    // every successful begin was ended by exactly one successful commit or abort, except
    // possibly the last one still open
    let open = u32::from(d.manager().state() == TxnState::InTransaction);
    assert_eq!(begins, commits + aborts + open, "{totals:?}");
    assert!(matches!(
        d.manager().state(),
        TxnState::Ready | TxnState::InTransaction
    ));
    assert_eq!(d.manager().status().running, None);
    let ended = fake.m().ended.len();
    assert!(
        ended as u32 <= commits + aborts,
        "{ended} EndTxn for {totals:?}"
    );
    assert_eq!(fake.count(ApiKey::EndTxn), ended, "no EndTxn was refused");
}
