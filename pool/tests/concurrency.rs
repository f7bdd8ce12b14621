//! Many tasks through a small pool with random faults: every producer is lent to one borrower
//! at a time, and every request's records are committed exactly once or not at all.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{CommitFault, FakeCluster, FakeError};
use klamm_pool::{CommitOutcome, PoolError, TransactionError, TransactionalPool};

const TASKS: u64 = 64;
const PER_TASK: u64 = 100;

/// A small seeded generator (splitmix64), so a failure replays with the printed seed.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Committed,
    Invisible,
    Unknown,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_exactly_once_with_faults() {
    let seed = klamm_testkit::seed_or(0x5EED);
    let cluster = FakeCluster::new();
    let pool = TransactionalPool::builder()
        .factory(cluster.factory())
        .id_prefix("orders")
        .size(8)
        .checkout_timeout(Duration::from_secs(30))
        .commit_retries(3, Duration::from_millis(1))
        .replace_backoff(Duration::from_millis(1), Duration::from_millis(10))
        .build()
        .await
        .unwrap();

    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let pool = pool.clone();
        let cluster = Arc::clone(&cluster);
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for i in 0..PER_TASK {
                let n = t * PER_TASK + i;
                let r = mix(seed ^ n);
                match r % 50 {
                    0 => cluster.fault_next_commit_any(CommitFault::Abortable),
                    1 => cluster.fault_next_commit_any(CommitFault::Fatal),
                    2 => {
                        cluster.fault_next_commit_any(CommitFault::Unknown(1 + (r >> 8) as u32 % 4))
                    }
                    3 => cluster.fence(&format!("orders-{}", (r >> 16) % 8)),
                    _ => {}
                }
                let fail = r.is_multiple_of(7);
                let res = pool
                    .transaction(|txn| async move {
                        let was = txn.active.fetch_add(1, Ordering::SeqCst);
                        assert_eq!(was, 0, "{} lent to two borrowers", txn.transactional_id());
                        let sent = async {
                            txn.send(format!("{n}-order")).await?;
                            tokio::task::yield_now().await;
                            txn.send(format!("{n}-audit")).await
                        }
                        .await;
                        txn.active.fetch_sub(1, Ordering::SeqCst);
                        sent?;
                        if fail {
                            return Err(FakeError::Injected("handler failed"));
                        }
                        Ok(n)
                    })
                    .await;
                let outcome = match res {
                    Ok(v) => {
                        assert_eq!(v, n);
                        Outcome::Committed
                    }
                    Err(TransactionError::Aborted(_)) => Outcome::Invisible,
                    Err(TransactionError::Pool(PoolError::Begin { .. })) => Outcome::Invisible,
                    Err(TransactionError::Pool(PoolError::Commit { outcome, .. })) => match outcome
                    {
                        CommitOutcome::Aborted => Outcome::Invisible,
                        _ => Outcome::Unknown,
                    },
                    Err(e) => panic!("request {n}: unexpected error {e} (seed {seed})"),
                };
                outcomes.push((n, outcome));
            }
            outcomes
        }));
    }
    let mut outcomes = HashMap::new();
    for t in tasks {
        outcomes.extend(t.await.expect("no task panicked"));
    }

    let mut seen: HashMap<String, u32> = HashMap::new();
    for rec in cluster.committed() {
        *seen.entry(rec).or_default() += 1;
    }
    let (mut committed, mut invisible, mut unknown) = (0, 0, 0);
    for (n, outcome) in &outcomes {
        let (o, a) = (
            seen.get(&format!("{n}-order")).copied().unwrap_or(0),
            seen.get(&format!("{n}-audit")).copied().unwrap_or(0),
        );
        assert_eq!(
            o, a,
            "request {n}: order and audit in one transaction (seed {seed})"
        );
        match outcome {
            Outcome::Committed => {
                committed += 1;
                assert_eq!(o, 1, "request {n} committed exactly once (seed {seed})");
            }
            Outcome::Invisible => {
                invisible += 1;
                assert_eq!(
                    o, 0,
                    "request {n} failed and must be invisible (seed {seed})"
                );
            }
            Outcome::Unknown => {
                unknown += 1;
                assert!(o <= 1, "request {n} at most once (seed {seed})");
            }
        }
    }
    assert_eq!(outcomes.len() as u64, TASKS * PER_TASK);
    println!("committed {committed}, invisible {invisible}, unknown {unknown}");
    assert!(
        committed > 0 && invisible > 0,
        "the mix exercised both paths"
    );

    // Everything returns to the pool: recovery tasks finish, nothing leaks.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while pool.metrics().idle < 8 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let m = pool.metrics();
    println!("{m:?}");
    assert_eq!((m.idle, m.in_use, m.waiters, m.recovering), (8, 0, 0, 0));
    assert_eq!(m.commits, committed);
    assert!(m.replacements > 0, "fatal faults caused replacements");
    assert_eq!(pool.close(Duration::from_secs(1)).await, 0);
}
