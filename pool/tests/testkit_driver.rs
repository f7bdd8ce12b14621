//! The pool against klamm-testkit (real TCP, a real transaction coordinator), pooling
//! klamm-txn's coordinator-level `TxnDriver`s over one shared klamm-net cluster. Transactions
//! carry consumer offsets (`send_offsets_to_transaction`), whose visibility the testkit
//! reports exactly: committed transactions' offsets appear, aborted ones' never do.
//!
//! Records are not produced here; the record producers' pool is tested in
//! `testkit_shared_cluster.rs`, `testkit_load.rs` and `testkit_load_faults.rs`.

use std::sync::Arc;
use std::time::Duration;

use klamm_pool::{CommitOutcome, DriverFactory, Health, PoolError, TransactionalPool};
use klamm_producer::ErrorKind;
use klamm_producer::idempotence::TopicPartition;
use klamm_protocol::ApiKey;
use klamm_testkit::{Cluster, CoordinatorKind, Fault, FaultAction};
use klamm_txn::{
    ClusterTransport, ConsumerGroupMetadata, OffsetAndMetadata, TransactionManager, TxnConfig,
    TxnDriver, TxnError,
};

const TOPIC: &str = "t";

async fn testkit() -> Arc<Cluster> {
    let kit = Cluster::builder()
        .brokers(3)
        .topic(TOPIC, 6)
        .start()
        .await
        .expect("testkit starts");
    Arc::new(kit)
}

fn template() -> TxnConfig {
    let mut cfg = TxnConfig::new("");
    cfg.operation_timeout = Duration::from_secs(20);
    cfg.retry_backoff = Duration::from_millis(20);
    cfg.short_backoff = Duration::from_millis(5);
    cfg
}

async fn pool(kit: &Cluster, prefix: &str, size: usize) -> TransactionalPool<DriverFactory> {
    let cluster = klamm_net::Cluster::builder()
        .bootstrap(kit.bootstrap())
        .connect()
        .await
        .expect("connect");
    TransactionalPool::builder()
        .factory(DriverFactory::new(cluster, template()))
        .id_prefix(prefix)
        .size(size)
        .checkout_timeout(Duration::from_secs(30))
        .replace_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .build()
        .await
        .expect("pool builds")
}

fn offsets(partition: i32, offset: i64) -> Vec<(TopicPartition, OffsetAndMetadata)> {
    let tp = TopicPartition {
        topic: Arc::from(TOPIC),
        partition,
    };
    vec![(tp, OffsetAndMetadata::new(offset))]
}

/// One transaction committing `offset` for `group`; `fail` makes the closure return an error.
async fn commit_offset(
    pool: &TransactionalPool<DriverFactory>,
    group: &str,
    partition: i32,
    offset: i64,
    fail: bool,
) -> Result<(), klamm_pool::TransactionError<TxnError>> {
    let group = ConsumerGroupMetadata::new(group);
    pool.transaction(|txn| async move {
        txn.send_offsets_to_transaction(&offsets(partition, offset), &group)
            .await?;
        if fail {
            return Err(TxnError::Closed);
        }
        Ok(())
    })
    .await
}

/// 32 concurrent clients through a pool of 8 sharing one cluster, each driver on its own
/// connections: every committed transaction's offset is visible right after its commit, no
/// aborted one ever is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_exactly_once_offsets() {
    let kit = testkit().await;
    let pool = pool(&kit, "orders", 8).await;
    let ids: Vec<_> = pool.transactional_ids().map(str::to_owned).collect();
    assert_eq!(ids[7], "orders-7");
    let mut tasks = Vec::new();
    for t in 0..32i32 {
        let pool = pool.clone();
        let kit = Arc::clone(&kit);
        tasks.push(tokio::spawn(async move {
            let group = format!("g{t}");
            let partition = t % 6;
            let mut last = None;
            let mut commits = 0u64;
            for i in 0..25i64 {
                let fail = i % 4 == 3;
                let r = commit_offset(&pool, &group, partition, i, fail).await;
                match (fail, r) {
                    (false, Ok(())) => {
                        last = Some(i);
                        commits += 1;
                    }
                    (true, Err(klamm_pool::TransactionError::Aborted(_))) => {}
                    (_, r) => panic!("client {t} transaction {i}: unexpected {r:?}"),
                }
                assert_eq!(kit.committed_offset(&group, TOPIC, partition), last);
            }
            commits
        }));
    }
    let mut commits = 0;
    for t in tasks {
        commits += t.await.expect("client task");
    }
    let m = pool.metrics();
    assert_eq!(m.commits, commits);
    assert_eq!(m.aborts, 32 * 25 - commits);
    assert_eq!((m.in_use, m.replacements, m.creates), (0, 0, 8));
    // Each driver talked to its coordinators over its own lane: at least one connection per
    // driver, at most one per driver and broker (and the bootstrap connection).
    let connections: std::collections::BTreeSet<u64> =
        kit.arrivals().iter().map(|a| a.connection).collect();
    assert!(
        connections.len() >= 8 && connections.len() <= 8 * 3 + 1,
        "{connections:?}"
    );
    assert_eq!(pool.close(Duration::from_secs(5)).await, 0);
}

/// Issue 8: a restarted pool with the same prefix fences the previous instance's producers.
#[tokio::test]
async fn a_restarted_pool_fences_its_predecessor() {
    let kit = testkit().await;
    let old = pool(&kit, "svc", 2).await;
    let mut zombie = old.get().await.unwrap();
    zombie.begin().await.unwrap();
    zombie
        .send_offsets_to_transaction(&offsets(0, 99), &ConsumerGroupMetadata::new("z"))
        .await
        .unwrap();

    // The restarted instance initialises svc-0 and svc-1 again: new epochs.
    let new = pool(&kit, "svc", 2).await;
    let e = zombie.commit().await.unwrap_err();
    assert!(
        matches!(e, PoolError::Commit { ref id, outcome: CommitOutcome::Unknown, .. } if id == "svc-0"),
        "{e}"
    );
    assert_eq!(zombie.health(), Health::FatalError);
    assert_eq!(
        kit.committed_offset("z", TOPIC, 0),
        None,
        "the zombie's transaction was aborted"
    );

    // Shut the old instance down before its guard returns, so it does not steal svc-0 back.
    let old2 = old.clone();
    let (taken, ()) = tokio::join!(old2.close(Duration::from_secs(5)), async { drop(zombie) });
    assert_eq!(taken, 0);

    commit_offset(&new, "z", 0, 7, false).await.unwrap();
    assert_eq!(kit.committed_offset("z", TOPIC, 0), Some(7));
    assert_eq!(new.metrics().replacements, 0);
}

/// A producer fenced from outside mid-load is replaced under the same id and the pool goes on;
/// a coordinator moved and CONCURRENT_TRANSACTIONS injected change no outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_during_load_keep_exactly_once() {
    let kit = testkit().await;
    let pool = pool(&kit, "faulty", 4).await;
    let concurrent = kit.inject(
        Fault::new(ApiKey::EndTxn, FaultAction::Error(51))
            .every(7)
            .times(5),
    );
    let mut tasks = Vec::new();
    for t in 0..8i32 {
        let pool = pool.clone();
        let kit = Arc::clone(&kit);
        tasks.push(tokio::spawn(async move {
            let group = format!("f{t}");
            let mut last = None;
            for i in 0..30i64 {
                if t == 0 && i == 10 {
                    // Someone else initialises faulty-2: the pool's faulty-2 is fenced.
                    let cluster = klamm_net::Cluster::builder()
                        .bootstrap(kit.bootstrap())
                        .connect()
                        .await
                        .unwrap();
                    let mut cfg = template();
                    cfg.transactional_id = Arc::from("faulty-2");
                    let fencer = TxnDriver::new(
                        Arc::new(TransactionManager::new(cfg)),
                        ClusterTransport::new(cluster),
                    );
                    fencer.init_transactions().await.unwrap();
                }
                if t == 1 && i == 15 {
                    let id = "faulty-1";
                    let from = kit.coordinator(CoordinatorKind::Transaction, id);
                    kit.move_coordinator(CoordinatorKind::Transaction, id, (from + 1) % 3)
                        .unwrap();
                }
                match commit_offset(&pool, &group, t % 6, i, false).await {
                    Ok(()) => last = Some(i),
                    Err(klamm_pool::TransactionError::Pool(PoolError::Commit {
                        outcome: CommitOutcome::Aborted,
                        ..
                    })) => {}
                    Err(klamm_pool::TransactionError::Pool(PoolError::Commit {
                        outcome: CommitOutcome::Unknown,
                        ..
                    })) => {
                        // Either outcome is allowed; read which one happened.
                        let seen = kit.committed_offset(&group, TOPIC, t % 6);
                        assert!(
                            seen == last || seen == Some(i),
                            "client {t} txn {i}: {seen:?}"
                        );
                        last = seen;
                    }
                    // A fenced producer fails the offsets call itself (transaction aborted).
                    Err(klamm_pool::TransactionError::Aborted(e))
                        if e.kind() == ErrorKind::Fatal => {}
                    Err(e) => panic!("client {t} txn {i}: unexpected {e}"),
                }
                assert_eq!(
                    kit.committed_offset(&group, TOPIC, t % 6),
                    last,
                    "client {t} txn {i}"
                );
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    assert!(
        kit.fault_fired(concurrent) > 0,
        "CONCURRENT_TRANSACTIONS was injected"
    );
    let m = pool.metrics();
    assert!(
        m.replacements >= 1,
        "the fenced producer was replaced: {m:?}"
    );
    assert_eq!(m.in_use, 0);
    assert_eq!(pool.close(Duration::from_secs(5)).await, 0);
}

/// A broker restarted under load (the coordinator of some pool ids among its roles): clients
/// see failed or unknown commits while it is down, never a duplicate or a lost commit, and the
/// pool serves again once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_under_load_keeps_exactly_once() {
    let kit = testkit().await;
    let pool = pool(&kit, "restart", 4).await;
    let victim = kit.coordinator(CoordinatorKind::Transaction, "restart-0");
    let stopped_at = Arc::new(std::sync::Mutex::new(None));
    let restarted_at = Arc::new(std::sync::Mutex::new(None));
    let mut tasks = Vec::new();
    for t in 0..8i32 {
        let (pool, kit) = (pool.clone(), Arc::clone(&kit));
        let stopped_at = Arc::clone(&stopped_at);
        let restarted_at = Arc::clone(&restarted_at);
        tasks.push(tokio::spawn(async move {
            let group = format!("r{t}");
            let (mut last, mut failed) = (None, 0u32);
            for i in 0..30i64 {
                match commit_offset(&pool, &group, t % 6, i, false).await {
                    Ok(()) => last = Some(i),
                    Err(klamm_pool::TransactionError::Pool(PoolError::Commit {
                        outcome: CommitOutcome::Unknown,
                        ..
                    })) => {
                        failed += 1;
                        let seen = kit.committed_offset(&group, TOPIC, t % 6);
                        assert!(
                            seen == last || seen == Some(i),
                            "client {t} txn {i}: {seen:?}"
                        );
                        last = seen;
                    }
                    Err(_) => failed += 1,
                }
                assert_eq!(
                    kit.committed_offset(&group, TOPIC, t % 6),
                    last,
                    "client {t} txn {i}"
                );
                if t == 0 && i == 5 {
                    *stopped_at.lock().unwrap() = Some(std::time::Instant::now());
                    kit.stop_broker(victim).unwrap();
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    kit.restart_broker(victim).await.unwrap();
                    *restarted_at.lock().unwrap() = Some(std::time::Instant::now());
                }
            }
            (last, failed)
        }));
    }
    let mut failed = 0;
    for t in tasks {
        let (last, f) = t.await.expect("client task");
        failed += f;
        assert_eq!(
            last,
            Some(29),
            "the last transaction of every client committed"
        );
    }
    assert!(kit.broker_running(victim));
    // The outage was real: after the restart, the victim only heard from new connections.
    let stopped_at = stopped_at.lock().unwrap().expect("the broker was stopped");
    let restarted_at = restarted_at
        .lock()
        .unwrap()
        .expect("the broker was restarted");
    let arrivals: Vec<_> = kit
        .arrivals()
        .into_iter()
        .filter(|a| a.broker == victim)
        .collect();
    let before: Vec<_> = arrivals.iter().filter(|a| a.at < stopped_at).collect();
    let after: Vec<_> = arrivals.iter().filter(|a| a.at > restarted_at).collect();
    let old: std::collections::BTreeSet<_> = before.iter().map(|a| a.connection).collect();
    assert!(
        !old.is_empty() && !after.is_empty(),
        "broker {victim} served before and after"
    );
    assert!(
        after.iter().all(|a| !old.contains(&a.connection)),
        "every connection to broker {victim} was cut by the stop"
    );
    println!("transactions failed during the outage: {failed}");
    assert_eq!(pool.metrics().in_use, 0);
    assert_eq!(pool.close(Duration::from_secs(5)).await, 0);
}

/// Throttling on one broker (KIP-219 `throttle_time_ms` on EndTxn): every throttled connection
/// waits it out (nothing is sent on it after the throttled answer until the deadline), and
/// exactly-once holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_broker_is_respected_by_every_pool_member() {
    let kit = testkit().await;
    let pool = pool(&kit, "throttled", 4).await;
    let broker = kit.coordinator(CoordinatorKind::Transaction, "throttled-0");
    let throttle = kit.inject(
        Fault::new(ApiKey::EndTxn, FaultAction::Throttle(100))
            .broker(broker)
            .every(5)
            .times(6),
    );
    let mut tasks = Vec::new();
    for t in 0..8i32 {
        let (pool, kit) = (pool.clone(), Arc::clone(&kit));
        tasks.push(tokio::spawn(async move {
            let group = format!("th{t}");
            for i in 0..20i64 {
                commit_offset(&pool, &group, t % 6, i, false)
                    .await
                    .unwrap_or_else(|e| panic!("client {t} txn {i}: {e}"));
                assert_eq!(kit.committed_offset(&group, TOPIC, t % 6), Some(i));
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    assert_eq!(kit.fault_fired(throttle), 6, "the throttles were applied");
    // Requests already written when the throttled response was sent reach the broker "early"
    // (pipelining on the connection); what must never happen is a request sent after
    // the client learned of the throttle. So every early arrival must follow its connection's
    // latest throttled response by less than a loopback round trip plus scheduling slack.
    let throttles = kit.throttles();
    let mut in_flight = 0;
    for a in kit
        .arrivals()
        .iter()
        .filter(|a| a.throttled_until.is_some())
    {
        let since = throttles
            .iter()
            .filter(|e| e.connection == a.connection && e.at <= a.at)
            .map(|e| a.at - e.at)
            .min()
            .expect("an early arrival follows a throttled response");
        assert!(
            since < Duration::from_millis(20),
            "request (api {}, correlation {}) sent {since:?} after a throttled response, \
             before the deadline",
            a.api_key,
            a.correlation_id
        );
        in_flight += 1;
    }
    println!("requests in flight when a throttle was set: {in_flight}");
    assert_eq!(pool.metrics().commits, 8 * 20);
    assert_eq!(pool.close(Duration::from_secs(5)).await, 0);
}
