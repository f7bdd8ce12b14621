//! The coordinator conversation over klamm-net against klamm-testkit (real TCP, real
//! coordinator state, transaction markers written into the partitions). Each test reads the
//! markers back from the testkit's logs to check the outcome, and counts injected faults.
//!
//! Records themselves are not produced here: that needs the producer's sender hook (see the
//! crate README); these tests cover everything the coordinator sees.

mod support;

use std::sync::Arc;
use std::time::Duration;

use klamm_producer::ErrorKind;
use klamm_producer::idempotence::TopicPartition;
use klamm_protocol::ApiKey;
use klamm_protocol::record::RecordBatch;
use klamm_testkit::{Cluster, Fault, FaultAction};
use klamm_txn::{
    ClusterTransport, ConsumerGroupMetadata, OffsetAndMetadata, TransactionManager, TxnDriver,
    TxnError, TxnState,
};
use support::{TOPIC, connect, kip98_config, move_txn_coordinator, testkit_with};

async fn testkit(marker_delay: Duration) -> Cluster {
    testkit_with(|b| b.marker_delay(marker_delay)).await
}

async fn driver(kit: &Cluster, id: &str) -> TxnDriver<ClusterTransport> {
    let cluster = connect(kit.bootstrap()).await;
    // the KIP-98 conversation (AddPartitionsToTxn); KIP-890 part 2 is in testkit_kip890.rs
    let mut cfg = kip98_config(id);
    cfg.operation_timeout = Duration::from_secs(20);
    TxnDriver::new(
        Arc::new(TransactionManager::new(cfg)),
        ClusterTransport::new(cluster),
    )
}

fn tp(p: i32) -> TopicPartition {
    TopicPartition {
        topic: Arc::from(TOPIC),
        partition: p,
    }
}

/// Registers `partitions` as `send` would and adds them to the transaction.
async fn add(d: &TxnDriver<ClusterTransport>, partitions: &[i32]) {
    for &p in partitions {
        drop(d.manager().begin_send(&tp(p)).expect("send admitted"));
    }
    d.add_pending_partitions().await.expect("partitions added");
    for &p in partitions {
        assert!(d.manager().is_send_to_partition_allowed(&tp(p)));
    }
}

/// The transaction markers of a partition, in log order: `true` for commit.
fn markers(kit: &Cluster, partition: i32) -> Vec<bool> {
    kit.batches(TOPIC, partition)
        .into_iter()
        .filter_map(|b| {
            RecordBatch::decode(b)
                .expect("stored batch decodes")
                .end_txn_marker()
                .expect("marker decodes")
        })
        .map(|m| m.is_commit())
        .collect()
}

#[tokio::test]
async fn transactions_commit_and_abort_with_markers_on_every_partition() {
    let kit = testkit(Duration::ZERO).await;
    let d = driver(&kit, "orders-0").await;
    d.init_transactions().await.expect("init");
    let mut expected: Vec<Vec<bool>> = vec![Vec::new(); 6];
    for i in 0..40i32 {
        d.begin_transaction().expect("begin");
        let parts: Vec<i32> = (0..6).filter(|p| (p + i) % 3 != 0).collect();
        add(&d, &parts).await;
        let commit = i % 4 != 3;
        if commit {
            d.commit_transaction(async { Ok(()) })
                .await
                .expect("commit");
        } else {
            d.abort_transaction(async {}).await.expect("abort");
        }
        for &p in &parts {
            expected[p as usize].push(commit);
        }
        assert_eq!(d.manager().state(), TxnState::Ready);
    }
    for p in 0..6 {
        assert_eq!(markers(&kit, p), expected[p as usize], "partition {p}");
    }
}

#[tokio::test]
async fn coordinator_moved_mid_transaction() {
    let kit = testkit(Duration::ZERO).await;
    let id = "orders-1";
    let d = driver(&kit, id).await;
    d.init_transactions().await.expect("init");
    d.begin_transaction().expect("begin");
    add(&d, &[0, 1]).await;
    let (old, new) = move_txn_coordinator(&kit, id);
    add(&d, &[2]).await;
    d.commit_transaction(async { Ok(()) })
        .await
        .expect("commit");
    for p in 0..3 {
        assert_eq!(markers(&kit, p), vec![true], "partition {p}");
    }
    let arrivals = kit.arrivals();
    let end_txn_nodes: Vec<i32> = arrivals
        .iter()
        .filter(|a| a.api_key == ApiKey::EndTxn as i16)
        .map(|a| a.broker)
        .collect();
    assert_eq!(
        end_txn_nodes,
        vec![new],
        "EndTxn went to the new coordinator"
    );
    assert!(
        arrivals
            .iter()
            .any(|a| a.api_key == ApiKey::AddPartitionsToTxn as i16 && a.broker == old),
        "the old coordinator was asked first"
    );
}

#[tokio::test]
async fn connection_dropped_after_end_txn_applied() {
    let kit = testkit(Duration::ZERO).await;
    let d = driver(&kit, "orders-2").await;
    d.init_transactions().await.expect("init");
    d.begin_transaction().expect("begin");
    add(&d, &[3, 4]).await;
    let fault = kit.inject(Fault::new(ApiKey::EndTxn, FaultAction::DropAfter).times(1));
    d.commit_transaction(async { Ok(()) })
        .await
        .expect("commit");
    assert_eq!(kit.fault_fired(fault), 1);
    assert_eq!(kit.injected(ApiKey::EndTxn).drops_after, 1);
    assert_eq!(markers(&kit, 3), vec![true]);
    assert_eq!(markers(&kit, 4), vec![true]);
    // the producer goes on
    d.begin_transaction().expect("begin");
    add(&d, &[3]).await;
    d.abort_transaction(async {}).await.expect("abort");
    assert_eq!(markers(&kit, 3), vec![true, false]);
}

#[tokio::test]
async fn concurrent_transactions_injected_and_real() {
    // a marker delay makes the coordinator answer CONCURRENT_TRANSACTIONS for real while the
    // previous transaction completes; injected ones come on top
    let kit = testkit(Duration::from_millis(30)).await;
    let d = driver(&kit, "orders-3").await;
    d.init_transactions().await.expect("init");
    let f1 = kit.inject(Fault::new(ApiKey::EndTxn, FaultAction::Error(51)).times(2));
    let f2 = kit.inject(Fault::new(ApiKey::AddPartitionsToTxn, FaultAction::Error(51)).times(2));
    for i in 0..4 {
        d.begin_transaction().expect("begin");
        add(&d, &[5]).await;
        d.commit_transaction(async { Ok(()) })
            .await
            .expect("commit");
        assert_eq!(d.manager().state(), TxnState::Ready, "round {i}");
    }
    assert_eq!(kit.fault_fired(f1), 2);
    assert_eq!(kit.fault_fired(f2), 2);
    assert_eq!(kit.injected(ApiKey::EndTxn).errors, 2);
    // wait for the last markers
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(markers(&kit, 5), vec![true; 4]);
}

#[tokio::test]
async fn zombie_is_fenced_and_its_transaction_aborted() {
    let kit = testkit(Duration::ZERO).await;
    let zombie = driver(&kit, "orders-4").await;
    zombie.init_transactions().await.expect("init");
    zombie.begin_transaction().expect("begin");
    add(&zombie, &[0]).await;
    // the restarted instance initialises the same transactional id
    let fresh = driver(&kit, "orders-4").await;
    fresh.init_transactions().await.expect("init");
    assert_eq!(
        markers(&kit, 0),
        vec![false],
        "the zombie's transaction was aborted"
    );
    let e = zombie
        .commit_transaction(async { Ok(()) })
        .await
        .expect_err("fenced");
    assert!(e.is_fenced(), "{e}");
    assert_eq!(e.kind(), ErrorKind::Fatal);
    assert_eq!(zombie.manager().state(), TxnState::FatalError);
    assert!(matches!(
        zombie.begin_transaction(),
        Err(TxnError::FatalState { .. })
    ));
    // the new instance works
    fresh.begin_transaction().expect("begin");
    add(&fresh, &[0]).await;
    fresh
        .commit_transaction(async { Ok(()) })
        .await
        .expect("commit");
    assert_eq!(markers(&kit, 0), vec![false, true]);
}

#[tokio::test]
async fn offsets_become_visible_with_the_commit_only() {
    let kit = testkit(Duration::ZERO).await;
    let d = driver(&kit, "orders-5").await;
    d.init_transactions().await.expect("init");
    let group = ConsumerGroupMetadata::new("billing");
    let offsets = |o: i64| vec![(tp(0), OffsetAndMetadata::new(o))];

    d.begin_transaction().expect("begin");
    d.send_offsets_to_transaction(&offsets(10), &group)
        .await
        .expect("offsets");
    assert_eq!(kit.committed_offset("billing", TOPIC, 0), None);
    d.abort_transaction(async {}).await.expect("abort");
    assert_eq!(kit.committed_offset("billing", TOPIC, 0), None);

    d.begin_transaction().expect("begin");
    d.send_offsets_to_transaction(&offsets(42), &group)
        .await
        .expect("offsets");
    d.commit_transaction(async { Ok(()) })
        .await
        .expect("commit");
    assert_eq!(kit.committed_offset("billing", TOPIC, 0), Some(42));
}
