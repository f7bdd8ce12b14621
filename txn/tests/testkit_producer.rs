//! The transactional producer on klamm-producer's real sender (steered through the
//! `TransactionHook`) against klamm-testkit, read back with a `read_committed` Fetch.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use klamm_producer::{ErrorKind, Producer, ProducerRecord};
use klamm_protocol::ApiKey;
use klamm_testkit::{Cluster, CoordinatorKind, Fault, FaultAction};
use klamm_txn::{ClusterTransport, TransactionalProducer, TxnError, TxnState};
use support::read_committed;

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 6;

type Txp = TransactionalProducer<Producer, ClusterTransport>;

async fn testkit() -> Cluster {
    testkit_version(2).await
}

/// A cluster that finalizes `transaction.version` (1: KIP-98's AddPartitionsToTxn path).
async fn testkit_version(transaction_version: i16) -> Cluster {
    Cluster::builder()
        .brokers(3)
        .transaction_version(transaction_version)
        .topic(TOPIC, PARTITIONS)
        .start()
        .await
        .expect("testkit starts")
}

async fn build(kit: &Cluster, id: &str) -> Arc<Txp> {
    let p = TransactionalProducer::builder()
        .bootstrap(kit.bootstrap())
        .transactional_id(id)
        .operation_timeout(Duration::from_secs(30))
        .producer(|b| b.linger(Duration::from_millis(2)))
        .build()
        .await
        .expect("build");
    Arc::new(p)
}

async fn reader(kit: &Cluster) -> klamm_net::Cluster {
    klamm_net::Cluster::builder()
        .bootstrap(kit.bootstrap())
        .connect()
        .await
        .expect("connect")
}

fn record(partition: i32, value: &str) -> ProducerRecord {
    ProducerRecord::new(TOPIC)
        .partition(partition)
        .value(value.to_owned())
}

#[tokio::test]
async fn builder_needs_a_transactional_id() {
    let kit = testkit().await;
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
    let kit = testkit().await;
    let p = build(&kit, "real-0").await;
    p.init_transactions().await.expect("init");
    let mut expected: Vec<Vec<Bytes>> = vec![Vec::new(); PARTITIONS as usize];
    let mut seed: u64 = 0x0123_4567_89AB_CDEF;
    for txn in 0..1_000u32 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let n = 1 + (seed % 50) as u32;
        let commit = txn % 4 != 3;
        p.begin_transaction().expect("begin");
        let mut futures = Vec::new();
        for i in 0..n {
            let part = (((seed >> 8) + u64::from(i)) % PARTITIONS as u64) as i32;
            let v = format!("{txn}-{i}");
            futures.push(p.send(record(part, &v)).await.expect("send"));
            if commit {
                expected[part as usize].push(Bytes::from(v));
            }
        }
        if commit {
            p.commit_transaction().await.expect("commit");
            for f in futures {
                f.await.expect("committed record delivered");
            }
        } else {
            p.abort_transaction().await.expect("abort");
        }
    }
    let got = read_committed(&reader(&kit).await, TOPIC, PARTITIONS).await;
    for part in 0..PARTITIONS as usize {
        assert_eq!(got[part], expected[part], "partition {part}");
    }
}

#[tokio::test]
async fn faults_coordinator_moved_end_txn_dropped_concurrent_transactions() {
    // version 1: CONCURRENT_TRANSACTIONS is injected into AddPartitionsToTxn (the version-2
    // variant is in testkit_kip890.rs)
    let kit = testkit_version(1).await;
    let id = "real-1";
    let p = build(&kit, id).await;
    p.init_transactions().await.expect("init");

    p.begin_transaction().expect("begin");
    let first = p.send(record(0, "a")).await.expect("send");
    first.await.expect("written");
    let old = kit.coordinator(CoordinatorKind::Transaction, id);
    kit.move_coordinator(CoordinatorKind::Transaction, id, (old + 1) % 3)
        .expect("move");
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

    let got = read_committed(&reader(&kit).await, TOPIC, PARTITIONS).await;
    assert_eq!(got[0], vec![Bytes::from("a")]);
    assert_eq!(got[1], vec![Bytes::from("b")]);
    assert_eq!(got[2], vec![Bytes::from("c")]);
}

#[tokio::test]
async fn zombie_is_fenced() {
    let kit = testkit().await;
    let zombie = build(&kit, "real-2").await;
    zombie.init_transactions().await.expect("init");
    zombie.begin_transaction().expect("begin");
    zombie
        .send(record(3, "zombie"))
        .await
        .expect("send")
        .await
        .expect("written");
    let fresh = build(&kit, "real-2").await;
    fresh
        .init_transactions()
        .await
        .expect("init fences the zombie");
    let late = zombie.send(record(3, "zombie-2")).await.expect("buffered");
    assert!(late.await.is_err(), "refused by the leader");
    let e = zombie.commit_transaction().await.expect_err("fenced");
    assert_eq!(e.kind(), ErrorKind::Fatal, "{e}");
    assert_eq!(zombie.state(), TxnState::FatalError);

    fresh.begin_transaction().expect("begin");
    let f = fresh.send(record(3, "fresh")).await.expect("send");
    fresh.commit_transaction().await.expect("commit");
    f.await.expect("delivered");
    let got = read_committed(&reader(&kit).await, TOPIC, PARTITIONS).await;
    assert_eq!(got[3], vec![Bytes::from("fresh")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_tasks_in_one_transaction() {
    let kit = testkit().await;
    let p = build(&kit, "real-3").await;
    p.init_transactions().await.expect("init");
    p.begin_transaction().expect("begin");
    let mut tasks = Vec::new();
    for t in 0..32 {
        let p = Arc::clone(&p);
        tasks.push(tokio::spawn(async move {
            let mut fs = Vec::new();
            for i in 0..50 {
                let rec = record((t + i) % PARTITIONS, &format!("{t}-{i}"));
                fs.push(p.send(rec).await.expect("send"));
            }
            fs
        }));
    }
    let mut futures = Vec::new();
    for t in tasks {
        futures.extend(t.await.expect("task"));
    }
    p.commit_transaction().await.expect("commit");
    for f in futures {
        f.await.expect("delivered");
    }
    let got = read_committed(&reader(&kit).await, TOPIC, PARTITIONS).await;
    let mut all: Vec<Bytes> = got.into_iter().flatten().collect();
    assert_eq!(all.len(), 32 * 50);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 32 * 50, "every record exactly once");
}
