//! Group commit's logic against the fake producer: who shares a transaction, what a failing,
//! panicking, dropped or handle-keeping member does to its group, and what a failed commit
//! does to every member. (`testkit_group_commit.rs` checks the same against Kafka's
//! semantics, read back `read_committed`.)

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{CommitFault, FakeCluster, FakeError, FakeFactory, FakeProducer};
use klamm_pool::{CommitOutcome, PoolError, TransactionError, TransactionalPool, Txn};

/// A pool of `size` fake producers with group commit (`max_group`, `delay`), or without.
async fn pool(
    cluster: &Arc<FakeCluster>,
    size: usize,
    group: Option<(usize, Duration)>,
) -> TransactionalPool<FakeFactory> {
    let mut b = TransactionalPool::builder()
        .factory(cluster.factory())
        .id_prefix("grouped")
        .size(size)
        .checkout_timeout(Duration::from_secs(5))
        .transaction_timeout(Duration::from_secs(5));
    if let Some((max_group, delay)) = group {
        b = b.group_commit(max_group, delay);
    }
    b.build().await.expect("pool builds")
}

/// How a test request's closure behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Commit,
    Fail,
    Panic,
    /// Never finishes (its caller gives up).
    Hang,
    /// Stashes a clone of its Txn.
    Keep,
}

type Kept = Arc<Mutex<Vec<Txn<FakeProducer>>>>;

/// Runs request `key` through `transaction_grouped`, counting its closure's runs in `runs`.
async fn request(
    pool: &TransactionalPool<FakeFactory>,
    key: String,
    act: Act,
    runs: Arc<Mutex<HashMap<String, usize>>>,
    kept: Kept,
) -> Result<String, TransactionError<FakeError>> {
    pool.transaction_grouped(|txn| {
        let (key, runs, kept) = (key.clone(), Arc::clone(&runs), Arc::clone(&kept));
        async move {
            *runs.lock().unwrap().entry(key.clone()).or_default() += 1;
            txn.send(key.clone()).await?;
            match act {
                Act::Commit => {}
                Act::Fail => return Err(FakeError::Injected("rejected")),
                Act::Panic => panic!("handler bug in {key}"),
                Act::Hang => std::future::pending::<()>().await,
                Act::Keep => kept.lock().unwrap().push(txn.clone()),
            }
            Ok(key)
        }
    })
    .await
}

/// `n` requests `r0..` at once, `acts[i]` for request `i` (Commit beyond); the caller of a
/// hanging one gives up after 200 ms, the others wait up to 10 s. Returns each result
/// (`None`: given up) and the closure runs per key.
async fn burst(
    pool: &TransactionalPool<FakeFactory>,
    n: usize,
    acts: &[(usize, Act)],
) -> (
    Vec<Option<Result<String, TransactionError<FakeError>>>>,
    HashMap<String, usize>,
) {
    let runs = Arc::new(Mutex::new(HashMap::new()));
    let kept: Kept = Arc::default();
    let mut tasks = Vec::new();
    for i in 0..n {
        let act = acts
            .iter()
            .find(|(j, _)| *j == i)
            .map_or(Act::Commit, |(_, a)| *a);
        let (pool, runs, kept) = (pool.clone(), Arc::clone(&runs), Arc::clone(&kept));
        let give_up = Duration::from_millis(if act == Act::Hang { 200 } else { 10_000 });
        tasks.push(tokio::spawn(async move {
            let r = request(&pool, format!("r{i}"), act, runs, kept);
            tokio::time::timeout(give_up, r).await.ok()
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("request task"));
    }
    drop(kept);
    let runs = runs.lock().unwrap().clone();
    (results, runs)
}

fn committed_counts(cluster: &FakeCluster) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for k in cluster.committed() {
        *counts.entry(k).or_default() += 1;
    }
    counts
}

/// The other nine of a group of ten commit exactly once (after one re-run each); `failing`'s
/// record is never committed; the failing caller gets `check`'s error.
async fn one_of_ten_fails(act: Act, check: impl Fn(&TransactionError<FakeError>) -> bool) {
    let cluster = FakeCluster::new();
    // One producer and a group that waits until it holds all ten: one deterministic group.
    let pool = pool(&cluster, 1, Some((10, Duration::from_secs(3)))).await;
    let (results, runs) = burst(&pool, 10, &[(4, act)]).await;
    let committed = committed_counts(&cluster);
    for (i, r) in results.iter().enumerate() {
        let key = format!("r{i}");
        let r = r.as_ref().expect("no request was given up");
        if i == 4 {
            assert!(r.as_ref().is_err_and(&check), "{key}: {r:?}");
            assert_eq!(committed.get(&key), None, "{key} never committed");
            assert_eq!(runs[&key], 1, "the failing closure ran once");
        } else {
            assert_eq!(r.as_ref().ok(), Some(&key), "{key}");
            assert_eq!(committed.get(&key), Some(&1), "{key} committed once");
            assert_eq!(runs[&key], 2, "{key} ran in the aborted group and again");
        }
    }
    let m = pool.metrics();
    assert_eq!((m.groups, m.group_members, m.group_size_max), (2, 19, 10));
    assert_eq!(m.group_sizes, [0, 0, 0, 0, 2, 0, 0, 0], "10 and 9: {m:?}");
    assert_eq!((m.group_reruns, m.group_aborts), (9, 1));
    assert_eq!(
        (m.commits, m.aborts),
        (1, 1),
        "one Kafka transaction each way"
    );
    assert_eq!(pool.close(Duration::from_secs(1)).await, 0);
}

#[tokio::test]
async fn a_failing_member_aborts_its_group_and_the_other_nine_commit_once() {
    one_of_ten_fails(Act::Fail, |e| {
        matches!(
            e,
            TransactionError::Aborted(FakeError::Injected("rejected"))
        )
    })
    .await;
}

#[tokio::test]
async fn a_panicking_member_aborts_its_group_and_the_other_nine_commit_once() {
    one_of_ten_fails(Act::Panic, |e| {
        matches!(e, TransactionError::Pool(PoolError::Panicked { message, .. }) if message == "handler bug in r4")
    })
    .await;
    // (the pool's panic counter is checked in the testkit test)
}

#[tokio::test]
async fn a_caller_dropped_mid_closure_aborts_its_group_and_the_others_run_again() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, 1, Some((5, Duration::from_secs(3)))).await;
    let (results, runs) = burst(&pool, 5, &[(2, Act::Hang)]).await;
    assert!(results[2].is_none(), "r2's caller gave up");
    let committed = committed_counts(&cluster);
    for i in [0, 1, 3, 4] {
        let key = format!("r{i}");
        assert!(results[i].as_ref().is_some_and(Result::is_ok), "{key}");
        assert_eq!(committed.get(&key), Some(&1), "{key}");
        assert_eq!(runs[&key], 2, "{key}");
    }
    assert_eq!(committed.get("r2"), None);
    let m = pool.metrics();
    assert_eq!((m.groups, m.group_reruns, m.group_aborts), (2, 4, 1));
}

#[tokio::test]
async fn a_member_keeping_its_handle_fails_and_the_producer_is_replaced() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, 1, Some((4, Duration::from_secs(3)))).await;
    let (results, _runs) = burst(&pool, 4, &[(1, Act::Keep)]).await;
    let r1 = results[1].as_ref().expect("answered");
    assert!(
        matches!(
            r1,
            Err(TransactionError::Pool(PoolError::HandleEscaped { .. }))
        ),
        "{r1:?}"
    );
    let committed = committed_counts(&cluster);
    for i in [0, 2, 3] {
        let key = format!("r{i}");
        assert!(results[i].as_ref().is_some_and(Result::is_ok), "{key}");
        assert_eq!(committed.get(&key), Some(&1), "{key}");
    }
    assert_eq!(committed.get("r1"), None);
    let m = pool.metrics();
    assert!(m.replacements >= 1, "the kept handle was fenced: {m:?}");
    assert_eq!(
        cluster.creates("grouped-0"),
        2,
        "replaced under the same id"
    );
}

#[tokio::test]
async fn a_failed_commit_is_every_members_error() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, 1, Some((6, Duration::from_secs(3)))).await;
    cluster.fault_next_commit_any(CommitFault::Abortable);
    let (results, runs) = burst(&pool, 6, &[]).await;
    for (i, r) in results.iter().enumerate() {
        let r = r.as_ref().expect("answered");
        assert!(
            matches!(
                r,
                Err(TransactionError::Pool(PoolError::Commit {
                    outcome: CommitOutcome::Aborted,
                    ..
                }))
            ),
            "r{i}: {r:?}"
        );
    }
    assert!(cluster.committed().is_empty());
    assert!(
        runs.values().all(|&n| n == 1),
        "a failed commit re-runs nobody"
    );
}

#[tokio::test]
async fn calls_arriving_while_the_producers_are_busy_share_a_transaction() {
    let cluster = FakeCluster::new();
    // Zero delay: a group takes exactly who arrived while it waited for a producer.
    let pool = pool(&cluster, 1, Some((64, Duration::ZERO))).await;
    let busy = pool.get().await.expect("the only producer");
    let runs = Arc::new(Mutex::new(HashMap::new()));
    let mut tasks = Vec::new();
    for i in 0..5 {
        let (pool, runs) = (pool.clone(), Arc::clone(&runs));
        tasks.push(tokio::spawn(async move {
            request(&pool, format!("q{i}"), Act::Commit, runs, Kept::default()).await
        }));
    }
    // Let all five join while the producer is lent out, then free it.
    while pool.metrics().waiters < 1 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(busy);
    for t in tasks {
        t.await.unwrap().expect("committed");
    }
    let m = pool.metrics();
    assert_eq!((m.groups, m.group_size_max, m.commits), (1, 5, 1), "{m:?}");
    // An idle pool does not wait for company.
    let runs = Arc::new(Mutex::new(HashMap::new()));
    request(&pool, "alone".into(), Act::Commit, runs, Kept::default())
        .await
        .expect("committed");
    let m = pool.metrics();
    assert_eq!((m.groups, m.group_sizes[0]), (2, 1), "{m:?}");
    assert_eq!(cluster.committed().len(), 6);
}

#[tokio::test]
async fn without_group_commit_every_grouped_call_is_a_transaction_of_its_own() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, 2, None).await;
    let (results, _runs) = burst(&pool, 20, &[(3, Act::Fail)]).await;
    assert_eq!(results.iter().flatten().filter(|r| r.is_ok()).count(), 19);
    let m = pool.metrics();
    assert_eq!((m.commits, m.aborts, m.groups), (19, 1, 0), "{m:?}");
    assert_eq!(cluster.committed().len(), 19);
}
