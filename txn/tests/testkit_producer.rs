//! The transactional producer on klamm-producer's real sender (steered through the
//! `TransactionHook`) against klamm-testkit, read back with a `read_committed` Fetch.

mod support;

use bytes::Bytes;
use klamm_producer::ErrorKind;
use klamm_protocol::ApiKey;
use klamm_testkit::{Fault, FaultAction};
use klamm_txn::{TransactionalProducer, TxnError, TxnState};
use support::{
    assert_each_once, assert_read_committed, build, every_fourth_aborted, move_txn_coordinator,
    read_topic, record, send_from_tasks, testkit, zombie_and_successor,
};

#[tokio::test]
async fn builder_needs_a_transactional_id() {
    let kit = testkit(2).await;
    let e = TransactionalProducer::builder()
        .bootstrap(kit.bootstrap())
        .build()
        .await
        .expect_err("no id");
    assert_eq!(e, TxnError::MissingTransactionalId);
    assert_eq!(e.kind(), ErrorKind::Usage);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_every_fourth_aborted_read_committed() {
    let kit = testkit(2).await;
    let p = build(&kit, "real-0").await;
    p.init_transactions().await.expect("init");
    let expected = every_fourth_aborted(&p, 0x0123_4567_89AB_CDEF, 1_000).await;
    assert_read_committed(&kit, &expected).await;
}

#[tokio::test]
async fn faults_coordinator_moved_end_txn_dropped_concurrent_transactions() {
    // version 1: CONCURRENT_TRANSACTIONS is injected into AddPartitionsToTxn (the version-2
    // variant is in testkit_kip890.rs)
    let kit = testkit(1).await;
    let id = "real-1";
    let p = build(&kit, id).await;
    p.init_transactions().await.expect("init");

    p.begin_transaction().expect("begin");
    let first = p.send(record(0, "a")).await.expect("send");
    first.await.expect("written");
    move_txn_coordinator(&kit, id);
    let _b = p.send(record(1, "b")).await.expect("send");
    p.commit_transaction().await.expect("commit after the move");

    let drop_after = kit.inject(Fault::new(ApiKey::EndTxn, FaultAction::DropAfter).times(1));
    let cc = kit.inject(Fault::new(ApiKey::AddPartitionsToTxn, FaultAction::Error(51)).times(2));
    p.begin_transaction().expect("begin");
    let _c = p.send(record(2, "c")).await.expect("send");
    p.commit_transaction()
        .await
        .expect("commit through the faults");
    assert_eq!(kit.fault_fired(drop_after), 1);
    assert_eq!(kit.fault_fired(cc), 2);

    p.begin_transaction().expect("begin");
    let _x = p.send(record(0, "aborted")).await.expect("send");
    p.abort_transaction().await.expect("abort");

    let got = read_topic(&kit).await;
    assert_eq!(got[0], vec![Bytes::from("a")]);
    assert_eq!(got[1], vec![Bytes::from("b")]);
    assert_eq!(got[2], vec![Bytes::from("c")]);
}

#[tokio::test]
async fn zombie_is_fenced() {
    let kit = testkit(2).await;
    let (zombie, fresh) = zombie_and_successor(&kit, "real-2").await;
    let late = zombie.send(record(3, "zombie-2")).await.expect("buffered");
    assert!(late.await.is_err(), "refused by the leader");
    let e = zombie.commit_transaction().await.expect_err("fenced");
    assert_eq!(e.kind(), ErrorKind::Fatal, "{e}");
    assert_eq!(zombie.state(), TxnState::FatalError);

    fresh.begin_transaction().expect("begin");
    let f = fresh.send(record(3, "fresh")).await.expect("send");
    fresh.commit_transaction().await.expect("commit");
    f.await.expect("delivered");
    let got = read_topic(&kit).await;
    assert_eq!(got[3], vec![Bytes::from("fresh")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_tasks_in_one_transaction() {
    let kit = testkit(2).await;
    let p = build(&kit, "real-3").await;
    p.init_transactions().await.expect("init");
    p.begin_transaction().expect("begin");
    let futures = send_from_tasks(&p, 32, 50).await;
    p.commit_transaction().await.expect("commit");
    for f in futures {
        f.await.expect("delivered");
    }
    let got = read_topic(&kit).await;
    assert_each_once(got, 32 * 50);
}
