//! End-to-end transactions against klamm-testkit: records produced inside transactions
//! (through the test-only [`support::MiniProducer`] until klamm-producer's sender offers the
//! transaction hook), read back with a `read_committed` Fetch.

mod support;

use std::sync::Arc;

use bytes::Bytes;
use klamm_producer::ErrorKind;
use klamm_protocol::ApiKey;
use klamm_testkit::{Cluster, Fault, FaultAction};
use klamm_txn::TxnState;
use support::{
    MiniTxnProducer, PARTITIONS, TOPIC, assert_each_once, connect, every_fourth_aborted,
    mini_producer, move_txn_coordinator, read_committed, record, send_from_tasks, testkit,
};

/// The producer over the [`MiniProducer`] and the klamm-net client it uses.
async fn producer(kit: &Cluster, id: &str) -> (Arc<MiniTxnProducer>, klamm_net::Cluster) {
    let cluster = connect(kit.bootstrap()).await;
    // the KIP-98 conversation (AddPartitionsToTxn); KIP-890 part 2 is in testkit_kip890.rs
    (mini_producer(&cluster, id), cluster)
}

fn b(v: &str) -> Bytes {
    Bytes::from(v.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_transactions_every_fourth_aborted() {
    let kit = testkit(2).await;
    let (p, cluster) = producer(&kit, "orders-0").await;
    p.init_transactions().await.expect("init");
    let expected = every_fourth_aborted(&p, 0x2545_F491_4F6C_DD1D, 1000).await;
    let got = read_committed(&cluster, TOPIC, PARTITIONS).await;
    for part in 0..PARTITIONS as usize {
        assert_eq!(
            got[part].len(),
            expected[part].len(),
            "partition {part}: committed records exactly once, aborted never"
        );
        assert_eq!(got[part], expected[part], "partition {part}: order kept");
    }
}

#[tokio::test]
async fn coordinator_moved_and_end_txn_dropped_and_concurrent_transactions() {
    let kit = testkit(2).await;
    let id = "orders-1";
    let (p, cluster) = producer(&kit, id).await;
    p.init_transactions().await.expect("init");

    // coordinator moved mid-transaction
    p.begin_transaction().expect("begin");
    let f = p.send(record(0, "moved")).await.expect("send");
    f.await.expect("delivered");
    move_txn_coordinator(&kit, id);
    let _moved2 = p.send(record(1, "moved-2")).await.expect("send");
    p.commit_transaction().await.expect("commit after move");

    // connection to the coordinator dropped after EndTxn was applied
    let drop_after = kit.inject(Fault::new(ApiKey::EndTxn, FaultAction::DropAfter).times(1));
    p.begin_transaction().expect("begin");
    let _dropped = p.send(record(0, "dropped")).await.expect("send");
    p.commit_transaction()
        .await
        .expect("commit despite the dropped answer");
    assert_eq!(kit.fault_fired(drop_after), 1);

    // CONCURRENT_TRANSACTIONS injected on both coordinator requests
    let cc1 = kit.inject(Fault::new(ApiKey::EndTxn, FaultAction::Error(51)).times(3));
    let cc2 = kit.inject(Fault::new(ApiKey::AddPartitionsToTxn, FaultAction::Error(51)).times(3));
    p.begin_transaction().expect("begin");
    let _concurrent = p.send(record(2, "concurrent")).await.expect("send");
    p.commit_transaction()
        .await
        .expect("commit despite CONCURRENT_TRANSACTIONS");
    assert_eq!(kit.fault_fired(cc1), 3);
    assert_eq!(kit.fault_fired(cc2), 3);

    // and an aborted one in between everything
    p.begin_transaction().expect("begin");
    let _aborted = p.send(record(0, "aborted")).await.expect("send");
    p.abort_transaction().await.expect("abort");

    let got = read_committed(&cluster, TOPIC, PARTITIONS).await;
    assert_eq!(got[0], vec![b("moved"), b("dropped")]);
    assert_eq!(got[1], vec![b("moved-2")]);
    assert_eq!(got[2], vec![b("concurrent")]);
}

#[tokio::test]
async fn zombie_fencing() {
    let kit = testkit(2).await;
    let (zombie, cluster) = producer(&kit, "orders-2").await;
    zombie.init_transactions().await.expect("init");
    zombie.begin_transaction().expect("begin");
    let f = zombie.send(record(3, "zombie")).await.expect("send");
    f.await.expect("written, not yet committed");

    let (fresh, _) = producer(&kit, "orders-2").await;
    fresh
        .init_transactions()
        .await
        .expect("init fences the zombie");

    // the zombie's next record goes to a partition already in its transaction: the leader
    // refuses the old epoch (INVALID_PRODUCER_EPOCH), which is fatal
    let late = zombie.send(record(3, "zombie-2")).await.expect("buffered");
    assert!(late.await.is_err(), "fenced at the leader");
    assert_eq!(zombie.state(), TxnState::FatalError);
    assert!(zombie.status().last_error.expect("cause").is_fenced());
    // nothing else is accepted
    let e = zombie.commit_transaction().await.expect_err("fatal");
    assert!(e.is_fenced(), "{e}");
    assert_eq!(e.kind(), ErrorKind::Fatal);
    assert!(zombie.send(record(4, "zombie-3")).await.is_err());

    fresh.begin_transaction().expect("begin");
    let f = fresh.send(record(3, "fresh")).await.expect("send");
    fresh.commit_transaction().await.expect("commit");
    f.await.expect("delivered");
    let got = read_committed(&cluster, TOPIC, PARTITIONS).await;
    assert_eq!(
        got[3],
        vec![b("fresh")],
        "the zombie's transaction was aborted"
    );
    assert!(got[4].is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_tasks_in_one_transaction() {
    let kit = testkit(2).await;
    let (p, cluster) = producer(&kit, "orders-3").await;
    p.init_transactions().await.expect("init");
    p.begin_transaction().expect("begin");
    let futures = send_from_tasks(&p, 32, 40).await;
    p.commit_transaction().await.expect("commit");
    for f in futures {
        f.await.expect("delivered");
    }
    let got = read_committed(&cluster, TOPIC, PARTITIONS).await;
    assert_each_once(got, 32 * 40);
}
