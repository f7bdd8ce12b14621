//! What the testkit scenarios of several test files share: the cluster, a klamm-net client,
//! records, the real transactional producer, and the workloads run against it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use klamm_producer::{DeliveryFuture, Producer, ProducerRecord};
use klamm_testkit::{Cluster, ClusterBuilder, CoordinatorKind};
use klamm_txn::{ClusterTransport, ProducerBackend, TransactionalProducer, TxnConfig};

/// The topic the scenarios write to.
pub const TOPIC: &str = "orders";
/// Its partitions.
pub const PARTITIONS: i32 = 6;

/// The transactional producer on klamm-producer's real sender.
pub type RealProducer = TransactionalProducer<Producer, ClusterTransport>;

/// A 3-broker testkit with [`TOPIC`] that finalizes `transaction.version` (1: KIP-98's
/// AddPartitionsToTxn path; 2: KIP-890 part 2).
pub async fn testkit(transaction_version: i16) -> Cluster {
    testkit_with(|b| b.transaction_version(transaction_version)).await
}

/// A 3-broker testkit with [`TOPIC`], configured further by `configure`.
pub async fn testkit_with(configure: impl FnOnce(ClusterBuilder) -> ClusterBuilder) -> Cluster {
    configure(Cluster::builder().brokers(3).topic(TOPIC, PARTITIONS))
        .start()
        .await
        .expect("testkit starts")
}

/// Moves transactional id `id`'s coordinator to the next of the 3 brokers; returns the old
/// and the new coordinator's node id.
pub fn move_txn_coordinator(kit: &Cluster, id: &str) -> (i32, i32) {
    let old = kit.coordinator(CoordinatorKind::Transaction, id);
    let new = (old + 1) % 3;
    kit.move_coordinator(CoordinatorKind::Transaction, id, new)
        .expect("move");
    (old, new)
}

/// A klamm-net cluster client of the brokers at `bootstrap`.
pub async fn connect(bootstrap: impl AsRef<str>) -> klamm_net::Cluster {
    klamm_net::Cluster::builder()
        .bootstrap(bootstrap)
        .connect()
        .await
        .expect("connect")
}

/// The configuration of transactional id `id` for KIP-98's conversation (AddPartitionsToTxn;
/// `kip890_capable` off): a 30 s operation timeout and short backoffs.
pub fn kip98_config(id: &str) -> TxnConfig {
    let mut cfg = TxnConfig::new(id);
    cfg.kip890_capable = false;
    cfg.operation_timeout = Duration::from_secs(30);
    cfg.retry_backoff = Duration::from_millis(20);
    cfg.short_backoff = Duration::from_millis(5);
    cfg
}

/// A record of `value` for [`TOPIC`]'s `partition`.
pub fn record(partition: i32, value: &str) -> ProducerRecord {
    ProducerRecord::new(TOPIC)
        .partition(partition)
        .value(value.to_owned())
}

/// The real transactional producer `id` on `kit` (2 ms linger, 30 s operation timeout).
pub async fn build(kit: &Cluster, id: &str) -> Arc<RealProducer> {
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

/// Transactional id `id`'s first producer (the zombie-to-be), initialised with one record
/// written in an open transaction, and its successor, whose `init_transactions` fences it.
pub async fn zombie_and_successor(
    kit: &Cluster,
    id: &str,
) -> (Arc<RealProducer>, Arc<RealProducer>) {
    let zombie = build(kit, id).await;
    zombie.init_transactions().await.expect("init");
    zombie.begin_transaction().expect("begin");
    zombie
        .send(record(3, "zombie"))
        .await
        .expect("send")
        .await
        .expect("written");
    let fresh = build(kit, id).await;
    fresh
        .init_transactions()
        .await
        .expect("init fences the zombie");
    (zombie, fresh)
}

/// `transactions` transactions of 1 to 50 records (sizes and partitions from a xorshift
/// sequence starting at `seed`) over [`PARTITIONS`] partitions, every fourth aborted; the
/// records of a committed transaction must all be delivered. Returns what a read_committed
/// reader must see per partition.
pub async fn every_fourth_aborted<B: ProducerBackend>(
    p: &TransactionalProducer<B, ClusterTransport>,
    mut seed: u64,
    transactions: u32,
) -> Vec<Vec<Bytes>> {
    let mut expected: Vec<Vec<Bytes>> = vec![Vec::new(); PARTITIONS as usize];
    for txn in 0..transactions {
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
    expected
}

/// `tasks` tasks send `per_task` records each into `p`'s open transaction (task `t`'s
/// record `i` is `"{t}-{i}"` on partition `(t + i) % PARTITIONS`); returns their futures.
pub async fn send_from_tasks<B: ProducerBackend>(
    p: &Arc<TransactionalProducer<B, ClusterTransport>>,
    tasks: i32,
    per_task: i32,
) -> Vec<DeliveryFuture> {
    let mut handles = Vec::new();
    for t in 0..tasks {
        let p = Arc::clone(p);
        handles.push(tokio::spawn(async move {
            let mut fs = Vec::new();
            for i in 0..per_task {
                let rec = record((t + i) % PARTITIONS, &format!("{t}-{i}"));
                fs.push(p.send(rec).await.expect("send"));
            }
            fs
        }));
    }
    let mut futures = Vec::new();
    for h in handles {
        futures.extend(h.await.expect("task"));
    }
    futures
}

/// Asserts that `got` (per partition) holds `n` records, each exactly once.
pub fn assert_each_once(got: Vec<Vec<Bytes>>, n: usize) {
    let mut all: Vec<Bytes> = got.into_iter().flatten().collect();
    assert_eq!(all.len(), n);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "every record exactly once");
}

/// [`TOPIC`]'s partitions as a `read_committed` consumer of `kit` sees them.
pub async fn read_topic(kit: &Cluster) -> Vec<Vec<Bytes>> {
    super::read_committed(&connect(kit.bootstrap()).await, TOPIC, PARTITIONS).await
}

/// Asserts that a `read_committed` consumer of `kit` sees `expected` in [`TOPIC`]'s
/// partitions, partition by partition.
pub async fn assert_read_committed(kit: &Cluster, expected: &[Vec<Bytes>]) {
    let got = read_topic(kit).await;
    for part in 0..PARTITIONS as usize {
        assert_eq!(got[part], expected[part], "partition {part}");
    }
}
