//! Issue 8's faults during the load, with records: 64 clients through a pool of 8 record
//! producers on one shared cluster (each request an order and an audit record in one
//! transaction, every tenth rejected by its handler after writing), and while they run: a
//! producer fenced by another init of its id, coordinators moved, a broker restarted, a
//! throttle on one broker, a produce quota on one broker. The pool replaces or recovers its producers, the clients finish, and
//! the exactly-once check holds (read back `read_committed`): no duplicate, nothing committed
//! missing, nothing failed visible, an unknown commit all-or-nothing, and (from klamm-testkit's
//! error counters) no Produce answered OUT_OF_ORDER_SEQUENCE_NUMBER or DUPLICATE_SEQUENCE_NUMBER. Each test proves that
//! its fault happened from what klamm-testkit counted or logged.
//!
//! Fewer requests per client than the load test (64 x 150), so each runs in seconds.

mod load;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use klamm_protocol::ApiKey;
use klamm_testkit::{CoordinatorKind, Fault, FaultAction};
use klamm_txn::TransactionalProducer;
use load::{Load, POOL_CLIENT_ID};

fn load(tag: &'static str) -> Load {
    Load {
        tag,
        clients: 64,
        per_client: 150,
        fail_every: 10,
    }
}

/// The exactly-once check, and that the pool served again after the fault (most requests
/// after it committed).
async fn assert_exactly_once(kit: &klamm_testkit::Cluster, load: Load, run: &load::FaultRun) {
    let report = load::check(kit, load, &run.outcomes).await;
    let (sequence, produce_errors) = load::sequence_answers(kit);
    println!(
        "{}: fault at {}..{} of {}: {report:?}; (out of order, duplicate sequence, duplicate \
         batches) {sequence:?}; Produce errors sent {produce_errors:?}",
        load.tag,
        run.done_at_fault,
        run.done_after_fault,
        load.total()
    );
    // From what the brokers sent, not only what the producers report.
    load::assert_no_sequence_errors(kit);
    assert!(report.exactly_once(), "{report:?}");
    assert_eq!(
        report.visible,
        2 * (report.committed + report.unknown_committed),
        "{report:?}"
    );
    // Every client's last requests (well after the fault) commit unless rejected on purpose.
    for c in 0..load.clients {
        for i in load.per_client - 5..load.per_client {
            let want = if i % load.fail_every == load.fail_every - 1 {
                load::Outcome::Failed
            } else {
                load::Outcome::Committed
            };
            assert_eq!(
                run.outcomes[c * load.per_client + i],
                want,
                "client {c} request {i}"
            );
        }
    }
}

/// Another client initialises `fenced-3` mid-load: the pool's producer with that id is fenced
/// (its next produce or commit fails fatally), closed, and replaced under the same id with a
/// newer epoch, which in turn fences the intruder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_fenced_under_load() {
    let kit = load::testkit().await;
    let pool = load::record_pool(&kit, "fenced", 8).await;
    let load = load("f");
    let bootstrap = kit.bootstrap();
    let intruder = std::sync::Mutex::new(None);
    let run = load::run_with_fault(&pool, load, async {
        let p = TransactionalProducer::builder()
            .bootstrap(&bootstrap)
            .transactional_id("fenced-3")
            .build()
            .await
            .unwrap();
        p.init_transactions().await.unwrap();
        *intruder.lock().unwrap() = p.status().producer;
        p.close(Duration::from_secs(1)).await.unwrap();
    })
    .await;
    let intruder = intruder
        .into_inner()
        .unwrap()
        .expect("the intruder initialised");

    let m = pool.metrics();
    assert!(m.replacements >= 1, "fenced-3 was replaced: {m:?}");
    // The replacement has the same producer id and a newer epoch than the intruder's.
    let guards = load::borrow_all(&pool).await;
    let slot3 = guards.iter().find(|g| g.slot() == 3).unwrap();
    let now = slot3.status().producer.expect("initialised");
    assert_eq!(now.id, intruder.id);
    assert!(
        now.epoch > intruder.epoch,
        "{now:?} after the intruder's {intruder:?}"
    );
    drop(guards);
    assert_eq!(pool.close(Duration::from_secs(10)).await, 0);
    assert_exactly_once(&kit, load, &run).await;
}

/// Every pool id whose transaction coordinator is not on broker `to` is moved there mid-load:
/// the old coordinators answer NOT_COORDINATOR, the producers look the coordinator up again
/// (FindCoordinator after the move) and end their transactions on `to`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinators_moved_under_load() {
    let kit = load::testkit().await;
    let pool = load::record_pool(&kit, "moved", 8).await;
    let load = load("m");
    let ids: Vec<String> = pool.transactional_ids().map(str::to_owned).collect();
    let to = kit.coordinator(CoordinatorKind::Transaction, &ids[0]);
    let moved_at = std::sync::Mutex::new(None);
    let run = load::run_with_fault(&pool, load, async {
        let mut moved = 0;
        for id in &ids {
            if kit.coordinator(CoordinatorKind::Transaction, id) != to {
                kit.move_coordinator(CoordinatorKind::Transaction, id, to)
                    .unwrap();
                moved += 1;
            }
        }
        *moved_at.lock().unwrap() = Some((Instant::now(), moved));
    })
    .await;
    let (moved_at, moved) = moved_at.into_inner().unwrap().expect("moved");
    assert!(moved >= 1, "at least one coordinator moved");
    for id in &ids {
        assert_eq!(kit.coordinator(CoordinatorKind::Transaction, id), to);
    }
    let after: Vec<_> = kit
        .arrivals()
        .into_iter()
        .filter(|a| a.at > moved_at && a.client_id.as_deref() == Some(POOL_CLIENT_ID))
        .collect();
    let lookups = after
        .iter()
        .filter(|a| a.api_key == ApiKey::FindCoordinator as i16)
        .count();
    assert!(
        lookups >= 1,
        "the producers looked their coordinators up again"
    );
    let end_txn_brokers: BTreeSet<i32> = after
        .iter()
        .rev()
        .filter(|a| a.api_key == ApiKey::EndTxn as i16)
        .take(500)
        .map(|a| a.broker)
        .collect();
    assert_eq!(
        end_txn_brokers,
        BTreeSet::from([to]),
        "the last transactions ended on the new coordinator"
    );
    assert_eq!(pool.close(Duration::from_secs(10)).await, 0);
    assert_exactly_once(&kit, load, &run).await;
}

/// The broker leading `orders` partition 0 is stopped for 300 ms mid-load and restarted:
/// every connection to it is cut (the producers reconnect), requests in flight fail or end
/// with an unknown outcome, and none is duplicated or lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restarted_under_load() {
    let kit = load::testkit().await;
    let pool = load::record_pool(&kit, "restart", 8).await;
    let load = load("b");
    let victim = kit.leader(load::ORDERS, 0).expect("a leader");
    let window = std::sync::Mutex::new(None);
    let run = load::run_with_fault(&pool, load, async {
        let stopped = Instant::now();
        kit.stop_broker(victim).unwrap();
        assert!(!kit.broker_running(victim));
        tokio::time::sleep(Duration::from_millis(300)).await;
        kit.restart_broker(victim).await.unwrap();
        *window.lock().unwrap() = Some((stopped, Instant::now()));
    })
    .await;
    let (stopped, restarted) = window.into_inner().unwrap().expect("restarted");
    assert!(kit.broker_running(victim));
    let arrivals: Vec<_> = kit
        .arrivals()
        .into_iter()
        .filter(|a| a.broker == victim && a.client_id.as_deref() == Some(POOL_CLIENT_ID))
        .collect();
    let before: BTreeSet<u64> = arrivals
        .iter()
        .filter(|a| a.at < stopped)
        .map(|a| a.connection)
        .collect();
    let after: BTreeSet<u64> = arrivals
        .iter()
        .filter(|a| a.at > restarted)
        .map(|a| a.connection)
        .collect();
    assert!(
        !before.is_empty() && !after.is_empty(),
        "served before and after"
    );
    assert!(
        before.is_disjoint(&after),
        "the stop cut every connection: {before:?} then {after:?}"
    );
    assert!(
        after.len() <= 8,
        "at most one new connection per producer (each has its own lane): {after:?}"
    );
    assert_eq!(pool.close(Duration::from_secs(10)).await, 0);
    assert_exactly_once(&kit, load, &run).await;
}

/// One broker throttles the pool's Produce requests mid-load (`throttle_time_ms` = 200 on ten
/// of them, as a produce quota violation is answered, KIP-219): each producer whose connection
/// was throttled waits it out, the other brokers are unaffected, and exactly-once holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_broker_under_load() {
    let kit = load::testkit().await;
    let pool = load::record_pool(&kit, "throttle", 8).await;
    let load = load("t");
    let broker = kit.leader(load::AUDIT, 0).expect("a leader");
    let fault = std::sync::Mutex::new(None);
    let run = load::run_with_fault(&pool, load, async {
        let id = kit.inject(
            Fault::new(ApiKey::Produce, FaultAction::Throttle(200))
                .broker(broker)
                .every(10)
                .times(10),
        );
        *fault.lock().unwrap() = Some(id);
        // Keep the fault window open while the clients run into it.
        while kit.fault_fired(id) < 10 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let id = fault.into_inner().unwrap().expect("injected");
    assert_eq!(kit.fault_fired(id), 10, "ten throttled Produce answers");
    let throttles = kit.throttles();
    assert!(throttles.len() >= 10, "{throttles:?}");
    assert!(
        throttles.iter().all(|t| t.broker == broker),
        "only broker {broker} throttled"
    );
    let (requests, _, _) = load::producer_counters(&pool).await;
    assert!(requests > 0);
    let throttled_ms = load::throttle_time_ms(&pool).await;
    assert!(
        throttled_ms >= 10 * 200,
        "the producers saw the throttle times: {throttled_ms} ms"
    );
    assert_eq!(pool.close(Duration::from_secs(10)).await, 0);
    assert_exactly_once(&kit, load, &run).await;
}

/// A real produce quota on one broker (the testkit's Kafka-style byte-rate quota on the pool's
/// client id, set on broker `b` only; like Kafka, each broker measures a client's rate on its
/// own traffic) is set mid-load and lifted once it has throttled: broker `b` answers with
/// `throttle_time_ms` computed from the rate it observed, the producers hold their requests on
/// that connection until the deadline, the other brokers throttle nothing and keep taking
/// Produce requests meanwhile, and exactly-once holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_produce_quota_on_one_broker_under_load() {
    let kit = load::testkit().await;
    let pool = load::record_pool(&kit, "quota", 8).await;
    let load = load("q");
    let b = kit.leader(load::AUDIT, 0).expect("a leader");
    let window = std::sync::Mutex::new(None);
    let run = load::run_with_fault(&pool, load, async {
        let set = Instant::now();
        kit.set_broker_produce_quota(b, Some(POOL_CLIENT_ID), Some(20_000.0))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while kit.quota_throttle_counts().get(&b).copied().unwrap_or(0) < 5
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        kit.set_broker_produce_quota(b, Some(POOL_CLIENT_ID), None)
            .unwrap();
        *window.lock().unwrap() = Some((set, Instant::now()));
    })
    .await;
    let (set, lifted) = window.into_inner().unwrap().expect("quota set and lifted");
    let counts = kit.quota_throttle_counts();
    assert!(
        counts.get(&b).copied().unwrap_or(0) >= 5,
        "the quota throttled broker {b}'s traffic: {counts:?}"
    );
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        vec![b],
        "only broker {b} throttled: {counts:?}"
    );
    let quota_throttles: Vec<_> = kit
        .throttles()
        .into_iter()
        .filter(|t| t.from_quota)
        .collect();
    assert!(
        quota_throttles
            .iter()
            .all(|t| t.broker == b && t.throttle_ms > 0)
    );
    // The other brokers kept taking the pool's Produce requests while b throttled.
    let others: BTreeSet<i32> = kit
        .arrivals()
        .into_iter()
        .filter(|a| {
            a.at > set
                && a.at < lifted
                && a.broker != b
                && a.api_key == ApiKey::Produce as i16
                && a.client_id.as_deref() == Some(POOL_CLIENT_ID)
        })
        .map(|a| a.broker)
        .collect();
    assert!(
        !others.is_empty(),
        "the other brokers served Produce meanwhile"
    );
    let throttled_ms = load::throttle_time_ms(&pool).await;
    assert!(throttled_ms > 0, "the producers saw the throttle times");
    println!(
        "quota on broker {b}: {} throttled responses, {throttled_ms} ms reported to the \
         producers; brokers {others:?} served Produce meanwhile",
        quota_throttles.len()
    );
    assert_eq!(pool.close(Duration::from_secs(10)).await, 0);
    assert_exactly_once(&kit, load, &run).await;
}
