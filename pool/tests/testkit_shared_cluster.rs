//! Record producers share one klamm-net cluster: a pool of 8 klamm-txn record producers made by
//! `TxnProducerFactory` opens one connection per broker (plus the bootstrap connection, which
//! klamm-net closes after the first metadata answer), counted on klamm-testkit's arrival log,
//! while each producer keeps its own producer id; a pool whose producers each connect their own
//! cluster opens up to size x brokers. Replacing a fenced producer leaves the shared cluster
//! to the others.

mod load;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use klamm_pool::{FnFactory, TransactionalPool};
use klamm_testkit::Cluster;
use klamm_txn::{TransactionalProducer, TxnError};
use load::{BROKERS, Load, POOL_CLIENT_ID};

const LOAD: Load = Load {
    tag: "s",
    clients: 32,
    per_client: 40,
    fail_every: 5,
};

/// Connections of `client_id` that sent a request at or after `since`.
fn connections_since(kit: &Cluster, client_id: &str, since: Instant) -> BTreeSet<u64> {
    kit.arrivals()
        .iter()
        .filter(|a| a.at >= since && a.client_id.as_deref() == Some(client_id))
        .map(|a| a.connection)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_eight_uses_one_connection_per_broker() {
    let kit = load::testkit().await;
    let pool = load::record_pool(&kit, "shared", 8).await;
    let since = Instant::now();
    let outcomes = load::run(&pool, LOAD, Arc::new(AtomicU64::new(0))).await;

    // Each producer has its own producer id (and so its own sequences).
    let mut guards = Vec::new();
    for _ in 0..8 {
        guards.push(pool.get().await.unwrap());
    }
    let pids: BTreeSet<i64> = guards
        .iter()
        .map(|g| g.status().producer.expect("initialised").id)
        .collect();
    assert_eq!(pids.len(), 8, "eight producers, eight producer ids");
    drop(guards);

    let during = connections_since(&kit, POOL_CLIENT_ID, since);
    let ever = load::connections(&kit, Some(POOL_CLIENT_ID));
    println!(
        "shared: {} connections during the load, {} ever",
        during.len(),
        ever.len()
    );
    assert!(
        !during.is_empty() && during.len() <= BROKERS as usize,
        "one connection per broker at most while 8 producers run: {during:?}"
    );
    assert!(
        ever.len() <= BROKERS as usize + 1,
        "plus the bootstrap connection: {ever:?}"
    );
    assert_eq!(pool.close(Duration::from_secs(10)).await, 0);
    let report = load::check(&kit, LOAD, &outcomes).await;
    assert!(report.exactly_once(), "{report:?}");
    assert_eq!(
        report.committed,
        LOAD.total() - LOAD.total() / LOAD.fail_every
    );
}

/// The contrast: every producer connects its own cluster (`TransactionalProducer::builder()
/// .build()`), so the pool opens up to size x brokers connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_separately_connected_producers_opens_size_times_brokers() {
    let kit = load::testkit().await;
    let bootstrap = kit.bootstrap();
    const CLIENT: &str = "separate";
    let factory = FnFactory(move |id: String| {
        let bootstrap = bootstrap.clone();
        async move {
            let p = TransactionalProducer::builder()
                .bootstrap(bootstrap)
                .connection(
                    klamm_net::ConnectionConfig::builder()
                        .client_id(CLIENT)
                        .build()
                        .expect("settings"),
                )
                .transactional_id(id)
                .producer(|p| p.client_id(CLIENT).linger(Duration::ZERO))
                .build()
                .await?;
            p.init_transactions().await?;
            Ok::<_, TxnError>(p)
        }
    });
    let pool = TransactionalPool::builder()
        .factory(factory)
        .id_prefix("separate")
        .size(8)
        .checkout_timeout(Duration::from_secs(60))
        .build()
        .await
        .unwrap();
    let since = Instant::now();
    let outcomes = load::run(&pool, LOAD, Arc::default()).await;
    assert!(outcomes.iter().all(|o| *o != load::Outcome::Unknown));
    let during = connections_since(&kit, CLIENT, since);
    println!(
        "separate clusters: {} connections during the load",
        during.len()
    );
    assert!(
        during.len() > BROKERS as usize && during.len() <= 8 * BROKERS as usize,
        "{during:?}"
    );
    assert_eq!(pool.close(Duration::from_secs(10)).await, 0);
}

/// A pooled producer fenced from outside is closed and replaced; closing it must not close the
/// cluster the other seven share, and the replacement joins the same connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_a_producer_keeps_the_shared_cluster() {
    let kit = load::testkit().await;
    let pool = load::record_pool(&kit, "keep", 4).await;
    let warm = Load {
        tag: "warm",
        clients: 8,
        per_client: 10,
        fail_every: 0,
    };
    let first = load::run(&pool, warm, Arc::default()).await;
    assert!(first.iter().all(|o| *o == load::Outcome::Committed));

    // Someone else initialises keep-0 and keep-1: the pool's producers with those ids are
    // fenced; the pool finds out at checkout or commit and replaces them.
    for id in ["keep-0", "keep-1"] {
        let fencer = TransactionalProducer::builder()
            .bootstrap(kit.bootstrap())
            .transactional_id(id)
            .build()
            .await
            .unwrap();
        fencer.init_transactions().await.unwrap();
        fencer.close(Duration::from_secs(1)).await.unwrap();
    }
    let since = Instant::now();
    let load = Load {
        tag: "fenced",
        clients: 8,
        per_client: 25,
        fail_every: 0,
    };
    // Closing a replaced producer must not close the shared cluster (it did once: the other
    // producers then hung), so bound the run.
    let outcomes = tokio::time::timeout(
        Duration::from_secs(60),
        load::run(&pool, load, Arc::default()),
    )
    .await
    .expect("the load finishes after the replacements");
    let m = pool.metrics();
    assert!(
        m.replacements >= 2,
        "both fenced producers were replaced: {m:?}"
    );
    // After the replacements, the last requests of every client commit.
    for c in 0..load.clients {
        let last = &outcomes[c * load.per_client + load.per_client - 5..][..5];
        assert!(
            last.iter().all(|o| *o == load::Outcome::Committed),
            "client {c}: {last:?}"
        );
    }
    let during = connections_since(&kit, POOL_CLIENT_ID, since);
    assert!(
        !during.is_empty() && during.len() <= BROKERS as usize,
        "the replacements use the same connections: {during:?}"
    );
    assert_eq!(pool.close(Duration::from_secs(10)).await, 0);
    let report = load::check(&kit, load, &outcomes).await;
    assert_eq!(
        report.strangers,
        2 * warm.total(),
        "the warm-up's records: {report:?}"
    );
    assert_eq!(
        (
            report.duplicates,
            report.missing,
            report.failed_visible,
            report.torn
        ),
        (0, 0, 0, 0),
        "{report:?}"
    );
}
