//! Group commit against klamm-testkit, read back the way a `read_committed` consumer reads
//! (klamm-net's reader): a closure failing or panicking in a group of ten leaves the other nine
//! requests committed exactly once and its own records invisible, although they reached the
//! broker (read back `read_uncommitted` too); 64 clients with group commit, some handlers
//! rejecting and some panicking, pass the load tests' exactly-once check, and really shared
//! transactions (the test fails with grouping off).

mod load;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use klamm_net::read::{Isolation, read_topic};
use klamm_pool::{PoolError, TransactionError};
use klamm_producer::ProducerRecord;
use load::{AUDIT, AppError, Handler, Load, ORDERS};

/// How many times each key is in `topic`, read back with `isolation`.
async fn key_counts(
    kit: &klamm_testkit::Cluster,
    topic: &str,
    isolation: Isolation,
) -> HashMap<String, usize> {
    let reader = klamm_net::Cluster::builder()
        .bootstrap(kit.bootstrap())
        .connect()
        .await
        .expect("reader connects");
    let mut counts = HashMap::new();
    let partitions = read_topic(&reader, topic, isolation)
        .await
        .unwrap_or_else(|e| panic!("read {topic}: {e}"));
    for r in partitions.into_iter().flatten() {
        let key = String::from_utf8_lossy(&r.key.unwrap_or_default()).into_owned();
        *counts.entry(key).or_default() += 1;
    }
    reader.close();
    counts
}

/// Ten requests in one group on a pool of one producer; request 4's handler fails as
/// `failing` says *after* both its records were acknowledged by the broker (so the abort,
/// not the client, is what hides them). Every closure waits for its own deliveries too, so
/// the aborted attempt of the other nine is on the broker as well.
async fn one_of_ten_fails(failing: Handler) {
    let kit = load::testkit().await;
    let pool = load::record_pool_grouped(&kit, "ten", 1, 10, Duration::from_secs(5)).await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let pool = pool.clone();
        let handler = if i == 4 { failing } else { Handler::Accept };
        tasks.push(tokio::spawn(async move {
            let key = format!("g{i}");
            pool.transaction_grouped(|txn| {
                let key = key.clone();
                async move {
                    let order = txn
                        .send(ProducerRecord::new(ORDERS).key(key.clone()).value("order"))
                        .await?;
                    let audit = txn
                        .send(ProducerRecord::new(AUDIT).key(key.clone()).value("created"))
                        .await?;
                    order.await.map_err(klamm_txn::TxnError::Producer)?;
                    audit.await.map_err(klamm_txn::TxnError::Producer)?;
                    match handler {
                        Handler::Accept => Ok(key),
                        Handler::Reject => Err(AppError::Rejected),
                        Handler::Panic => panic!("the handler of {key} panicked"),
                    }
                }
            })
            .await
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("request task"));
    }
    for (i, r) in results.iter().enumerate() {
        match (i, failing, r) {
            (4, Handler::Reject, Err(TransactionError::Aborted(AppError::Rejected))) => {}
            (4, Handler::Panic, Err(TransactionError::Pool(PoolError::Panicked { .. }))) => {}
            (4, _, r) => panic!("g4 failed on purpose, got {r:?}"),
            (i, _, Ok(key)) => assert_eq!(key, &format!("g{i}")),
            (i, _, Err(e)) => panic!("g{i}: {e}"),
        }
    }
    let m = pool.metrics();
    println!("{failing:?}: {m:?}");
    assert_eq!(
        (m.groups, m.group_size_max),
        (2, 10),
        "one group of 10, then 9"
    );
    assert_eq!((m.group_reruns, m.group_aborts), (9, 1));
    assert_eq!((m.commits, m.aborts), (1, 1));
    assert_eq!(m.panics, u64::from(failing == Handler::Panic));
    assert_eq!(pool.close(Duration::from_secs(10)).await, 0);

    for topic in [ORDERS, AUDIT] {
        let committed = key_counts(&kit, topic, Isolation::ReadCommitted).await;
        let written = key_counts(&kit, topic, Isolation::ReadUncommitted).await;
        for i in 0..10 {
            let key = format!("g{i}");
            let (c, w) = (committed.get(&key), written.get(&key));
            if i == 4 {
                assert_eq!(c, None, "{topic} {key}: invisible to read_committed");
                assert_eq!(w, Some(&1), "{topic} {key}: it did reach the broker");
            } else {
                assert_eq!(c, Some(&1), "{topic} {key}: committed exactly once");
                assert_eq!(
                    w,
                    Some(&2),
                    "{topic} {key}: aborted attempt + committed re-run"
                );
            }
        }
        assert_eq!(committed.len(), 9, "{topic}: nothing else visible");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejecting_handler_in_a_group_of_ten() {
    one_of_ten_fails(Handler::Reject).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_in_a_group_of_ten() {
    one_of_ten_fails(Handler::Panic).await;
}

/// 64 clients x 40 requests through a pool of 8 with group commit (up to 16 per group, no
/// added delay), every tenth request rejected and every 25th panicking after writing both
/// records: the exactly-once check holds, and requests really shared transactions (fewer
/// Kafka commits than committed requests; with grouping off, every group is one request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_clients_with_group_commit_exactly_once() {
    let kit = load::testkit().await;
    let pool = load::record_pool_grouped(&kit, "grouped", 8, 16, Duration::ZERO).await;
    let load = Load {
        tag: "gc",
        clients: 64,
        per_client: 40,
        fail_every: 10,
    };
    let outcomes = load::run_grouped(&pool, load, Arc::new(AtomicU64::new(0)), 25).await;
    let m = pool.metrics();
    assert_eq!(pool.close(Duration::from_secs(10)).await, 0);
    let report = load::check(&kit, load, &outcomes).await;
    println!(
        "{report:?}; groups {} (average size {:.1}, max {}, by size {:?}), re-runs {}, \
         aborted groups {}, Kafka commits {}, panics {}",
        m.groups,
        m.group_size_avg(),
        m.group_size_max,
        m.group_sizes,
        m.group_reruns,
        m.group_aborts,
        m.commits,
        m.panics
    );
    load::assert_no_sequence_errors(&kit);
    assert!(report.exactly_once(), "{report:?}");
    // Every handler that neither rejects nor panics commits: 4 rejected and 2 panicking
    // (i % 25 == 12) of each client's 40.
    assert_eq!(
        (report.committed, report.failed, report.unknown),
        (64 * 34, 64 * 6, 0),
        "{report:?}"
    );
    assert_eq!(report.visible, 2 * report.committed, "{report:?}");
    assert_eq!(m.panics, 64 * 2, "every panicking handler ran once: {m:?}");
    // Grouping happened: with 64 clients on 8 producers, most calls find them busy.
    assert!(m.group_size_max > 1, "{m:?}");
    assert!(
        m.commits < report.committed as u64 / 2,
        "{} Kafka commits for {} committed requests: {m:?}",
        m.commits,
        report.committed
    );
    assert!(m.group_reruns > 0 && m.group_aborts > 0, "{m:?}");
}
