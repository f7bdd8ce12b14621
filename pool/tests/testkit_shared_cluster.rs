//! Record producers share one klamm-net cluster: a pool of 8 klamm-txn record producers made by
//! `TxnProducerFactory` shares one metadata cache, each producer on its own connection to each
//! broker (a klamm-net lane: Kafka handles one request per connection at a time, so producers
//! on one connection would wait for each other), at most size x brokers connections, counted on
//! klamm-testkit's arrival log; with `share_connections(true)` the pool opens one connection
//! per broker (plus the bootstrap connection, which klamm-net closes after the first metadata
//! answer). Each producer keeps its own producer id either way. A pool whose producers each
//! connect their own cluster also opens up to size x brokers, and asks for metadata on each.
//! Replacing a fenced producer leaves the shared cluster to the others.

mod load;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use klamm_pool::{FnFactory, TransactionalPool};
use klamm_testkit::{Arrival, Cluster};
use klamm_txn::{TransactionalProducer, TxnError};
use load::{BROKERS, Load, POOL_CLIENT_ID};

const LOAD: Load = Load {
    tag: "s",
    clients: 32,
    per_client: 40,
    fail_every: 5,
};

/// Requests of `client_id` that arrived at or after `since`.
fn arrivals_since(kit: &Cluster, client_id: &str, since: Instant) -> Vec<Arrival> {
    kit.arrivals()
        .into_iter()
        .filter(|a| a.at >= since && a.client_id.as_deref() == Some(client_id))
        .collect()
}

/// Connections of `client_id` that sent a request at or after `since`.
fn connections_since(kit: &Cluster, client_id: &str, since: Instant) -> BTreeSet<u64> {
    arrivals_since(kit, client_id, since)
        .iter()
        .map(|a| a.connection)
        .collect()
}

/// Runs `LOAD` on a pool of 8 (shared connections or not) and checks exactly-once and the
/// producer ids; returns the pool's connections during the load, ever, and the Metadata
/// requests it sent during the load.
async fn run_pool_of_eight(shared: bool) -> (BTreeSet<u64>, BTreeSet<u64>, usize) {
    let kit = load::testkit().await;
    let pool = load::record_pool_sharing(&kit, "shared", 8, shared).await;
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
    let metadata = metadata_requests_since(&kit, POOL_CLIENT_ID, since);
    println!(
        "shared connections {shared}: {} connections during the load, {} ever, {metadata} \
         Metadata requests during the load",
        during.len(),
        ever.len()
    );
    assert_eq!(pool.close(Duration::from_secs(10)).await, 0);
    let report = load::check(&kit, LOAD, &outcomes).await;
    assert!(report.exactly_once(), "{report:?}");
    assert_eq!(
        report.committed,
        LOAD.total() - LOAD.total() / LOAD.fail_every
    );
    (during, ever, metadata)
}

/// Metadata requests of `client_id` at or after `since`.
fn metadata_requests_since(kit: &Cluster, client_id: &str, since: Instant) -> usize {
    arrivals_since(kit, client_id, since)
        .iter()
        .filter(|a| a.api_key == klamm_protocol::ApiKey::Metadata.as_i16())
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_eight_gives_each_producer_its_own_connections_on_one_cluster() {
    let (during, ever, metadata) = run_pool_of_eight(false).await;
    assert!(
        during.len() > BROKERS as usize && during.len() <= 8 * BROKERS as usize,
        "a connection per producer and broker at most, more than one per broker: {during:?}"
    );
    assert!(
        ever.len() <= 8 * BROKERS as usize + 1,
        "plus the bootstrap connection: {ever:?}"
    );
    // One cache: the topics are looked up as they are first used, not once per producer
    // (a cluster per producer asks two each, 16 in all).
    assert!(metadata < 8, "{metadata} Metadata requests during the load");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_eight_sharing_connections_uses_one_per_broker() {
    let (during, ever, _) = run_pool_of_eight(true).await;
    assert!(
        !during.is_empty() && during.len() <= BROKERS as usize,
        "one connection per broker at most while 8 producers run: {during:?}"
    );
    assert!(
        ever.len() <= BROKERS as usize + 1,
        "plus the bootstrap connection: {ever:?}"
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
        "separate clusters: {} connections during the load, {} Metadata requests",
        during.len(),
        metadata_requests_since(&kit, CLIENT, since)
    );
    assert!(
        during.len() > BROKERS as usize && during.len() <= 8 * BROKERS as usize,
        "{during:?}"
    );
    assert_eq!(pool.close(Duration::from_secs(10)).await, 0);
}

/// A pooled producer fenced from outside is closed and replaced; closing it must not close the
/// cluster the others share, and the replacement takes over its predecessor's connections.
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
        !during.is_empty() && during.len() <= 4 * BROKERS as usize,
        "the replacements use their predecessors' lanes, no new ones: {during:?}"
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

/// How long the broker holds the first Produce in the head-of-line tests.
const HOLD: Duration = Duration::from_secs(1);

/// A pool of 4 on a one-broker testkit whose first Produce the broker holds for [`HOLD`] (as
/// Kafka holds an `acks=all` Produce until its replicas have it, with the connection muted).
/// While it is held, three more transactions run through the other producers; returns whether
/// they all committed before the held one, and how long after the hold began they finished.
async fn three_transactions_beside_a_held_one(shared: bool) -> (bool, Duration) {
    let kit = Cluster::builder()
        .brokers(1)
        .topic(load::ORDERS, 1)
        .start()
        .await
        .expect("testkit");
    let pool = load::record_pool_sharing(&kit, "held", 4, shared).await;
    let hold = kit.inject(
        klamm_testkit::Fault::new(
            klamm_protocol::ApiKey::Produce,
            klamm_testkit::FaultAction::Delay(HOLD),
        )
        .times(1),
    );
    let txn = |pool: TransactionalPool<klamm_pool::TxnProducerFactory>, key: &'static str| {
        tokio::spawn(async move {
            let delivery = pool
                .transaction(|txn| async move {
                    txn.send(klamm_producer::ProducerRecord::new(load::ORDERS).key(key))
                        .await
                })
                .await
                .expect("committed");
            delivery.await.expect("delivered");
        })
    };
    let held = txn(pool.clone(), "held");
    while kit.fault_fired(hold) == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let t0 = Instant::now();
    let others: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|k| txn(pool.clone(), k))
        .collect();
    for t in others {
        t.await.unwrap();
    }
    let after = t0.elapsed();
    let before_the_held_one = !held.is_finished();
    held.await.unwrap();
    assert_eq!(kit.fault_fired(hold), 1);
    assert_eq!(pool.close(Duration::from_secs(5)).await, 0);
    (before_the_held_one, after)
}

/// Each producer on its own connection: a Produce the broker holds delays its own
/// transaction only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_broker_holds_delays_only_its_own_producer() {
    let (before, after) = three_transactions_beside_a_held_one(false).await;
    assert!(
        before,
        "the other producers committed while one's Produce was held (in {after:?})"
    );
}

/// The cost of sharing connections: the broker handles one request per connection at a time,
/// so every producer's transaction waits for the held Produce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_shared_connections_a_held_request_delays_every_producer() {
    let (before, after) = three_transactions_beside_a_held_one(true).await;
    assert!(
        !before && after >= HOLD / 2,
        "the others waited behind the held Produce: done {after:?} after the hold began"
    );
}
