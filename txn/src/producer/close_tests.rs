//! `close` in every state, over the fake backend and the fake coordinator: what it sends to
//! the coordinator (the fake records every ended transaction) and what it returns.

use std::time::Duration;

use klamm_protocol::api::ApiKey;
use klamm_protocol::error_code::ErrorCode;
use tokio::time::Instant;

use super::tests::{producer, record};
use crate::coordinator::fake::Fault;
use crate::error::TxnError;
use crate::state::TxnState;

const CLOSE: Duration = Duration::from_secs(5);

#[tokio::test]
async fn close_in_a_transaction_aborts_it() {
    let (coord, _backend, p) = producer(2);
    p.init_transactions().await.expect("init");
    p.begin_transaction().expect("begin");
    let written = p.send(record("a").partition(0)).await.expect("send");
    written.await.expect("written before the close");
    p.close(CLOSE).await.expect("close");
    assert_eq!(
        coord.m().ended,
        vec![(false, vec![("t".to_owned(), 0)])],
        "one EndTxn(abort) for the open transaction"
    );
    assert_eq!(p.state(), TxnState::FatalError);
    assert!(matches!(
        p.begin_transaction(),
        Err(TxnError::FatalState { ref cause, .. }) if **cause == TxnError::Closed
    ));
}

#[tokio::test]
async fn close_of_an_abortable_transaction_aborts_it() {
    let (coord, backend, p) = producer(2);
    p.init_transactions().await.expect("init");
    p.begin_transaction().expect("begin");
    *backend.0.fail.lock().expect("lock") = Some((1, ErrorCode::MessageTooLarge));
    let _ok = p.send(record("a").partition(0)).await.expect("send");
    let _bad = p.send(record("b").partition(1)).await.expect("send");
    p.commit_transaction().await.expect_err("a record failed");
    assert_eq!(p.state(), TxnState::AbortableError);
    p.close(CLOSE).await.expect("close");
    let m = coord.m();
    assert_eq!(m.ended.len(), 1);
    assert!(!m.ended[0].0, "aborted");
}

#[tokio::test]
async fn close_without_a_transaction_sends_nothing() {
    let (coord, _backend, p) = producer(1);
    p.init_transactions().await.expect("init");
    p.begin_transaction().expect("begin");
    let d = p.send(record("a")).await.expect("send");
    p.commit_transaction().await.expect("commit");
    d.await.expect("delivered");
    let end_txns = coord.count(ApiKey::EndTxn);
    p.close(CLOSE).await.expect("close");
    assert_eq!(coord.count(ApiKey::EndTxn), end_txns);
    assert_eq!(coord.m().ended.len(), 1);
}

#[tokio::test]
async fn close_finishes_a_commit_whose_outcome_is_unknown() {
    let (coord, _backend, p) = producer(1);
    p.init_transactions().await.expect("init");
    p.begin_transaction().expect("begin");
    let d = p.send(record("a")).await.expect("send");
    d.await.expect("written");
    coord.inject(ApiKey::EndTxn, &[Fault::Hang]);
    // the caller gives up on its commit: the outcome is unknown
    tokio::time::timeout(Duration::from_millis(100), p.commit_transaction())
        .await
        .expect_err("EndTxn hangs");
    assert_eq!(p.state(), TxnState::CommitOutcomeUnknown);
    p.close(CLOSE).await.expect("close");
    assert_eq!(
        coord.m().ended,
        vec![(true, vec![("t".to_owned(), 0)])],
        "the commit the caller asked for, never an abort"
    );
}

#[tokio::test]
async fn close_with_a_zero_timeout_leaves_the_transaction_and_says_so() {
    let (coord, _backend, p) = producer(1);
    p.init_transactions().await.expect("init");
    p.begin_transaction().expect("begin");
    p.send(record("a"))
        .await
        .expect("send")
        .await
        .expect("written");
    let e = p.close(Duration::ZERO).await.expect_err("forced close");
    assert!(
        matches!(
            e,
            TxnError::TransactionLeftOpen {
                state: TxnState::InTransaction,
                cause: None
            }
        ),
        "{e}"
    );
    assert_eq!(e.kind(), klamm_producer::ErrorKind::Fatal);
    assert_eq!(
        coord.count(ApiKey::EndTxn),
        0,
        "a forced close sends nothing"
    );
    assert_eq!(p.state(), TxnState::FatalError);
}

#[tokio::test]
async fn close_is_bounded_by_its_timeout_when_the_coordinator_hangs() {
    let (coord, _backend, p) = producer(1);
    p.init_transactions().await.expect("init");
    p.begin_transaction().expect("begin");
    p.send(record("a"))
        .await
        .expect("send")
        .await
        .expect("written");
    coord.inject(ApiKey::EndTxn, &[Fault::Hang]);
    let started = Instant::now();
    let e = p
        .close(Duration::from_millis(200))
        .await
        .expect_err("left open");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            e,
            TxnError::TransactionLeftOpen {
                state: TxnState::AbortOutcomeUnknown,
                cause: None
            }
        ),
        "{e}"
    );
    assert_eq!(p.state(), TxnState::FatalError);
}

#[tokio::test]
async fn close_of_a_fenced_producer_returns_at_once() {
    let (coord, _backend, p) = producer(1);
    p.init_transactions().await.expect("init");
    p.begin_transaction().expect("begin");
    p.send(record("a"))
        .await
        .expect("send")
        .await
        .expect("written");
    // a successor initialises: the coordinator aborts the transaction and bumps the epoch
    coord.fence();
    let started = Instant::now();
    p.close(CLOSE)
        .await
        .expect("nothing left to end: the successor aborted it");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(coord.m().ended.len(), 1, "only the fencing abort");
    // a producer already in FatalError sends nothing at all
    let end_txns = coord.count(ApiKey::EndTxn);
    p.close(CLOSE).await.expect("closing twice");
    assert_eq!(coord.count(ApiKey::EndTxn), end_txns);
}

#[tokio::test]
async fn new_work_is_refused_while_closing() {
    let (coord, _backend, p) = producer(1);
    p.init_transactions().await.expect("init");
    p.begin_transaction().expect("begin");
    p.send(record("a"))
        .await
        .expect("send")
        .await
        .expect("written");
    coord.inject(ApiKey::EndTxn, &[Fault::Hang]);
    let closing = {
        let p = std::sync::Arc::clone(&p);
        tokio::spawn(async move { p.close(Duration::from_millis(300)).await })
    };
    tokio::time::timeout(Duration::from_secs(2), async {
        while p.state() != TxnState::Aborting {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("close starts the abort");
    assert_eq!(p.send(record("b")).await.err(), Some(TxnError::Closed));
    let _ = closing.await.expect("close task");
}
