//! Health on return, replacement under the same id, fencing, and close, against the fake
//! producer.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{CommitFault, FakeCluster, FakeError, FakeFactory};
use klamm_pool::{CommitOutcome, Health, PoolError, TransactionalPool};

async fn pool(
    cluster: &Arc<FakeCluster>,
    prefix: &str,
    size: usize,
) -> TransactionalPool<FakeFactory> {
    TransactionalPool::builder()
        .factory(cluster.factory())
        .id_prefix(prefix)
        .size(size)
        .checkout_timeout(Duration::from_secs(5))
        .replace_backoff(Duration::from_millis(100), Duration::from_millis(400))
        .commit_retries(3, Duration::from_millis(10))
        .build()
        .await
        .expect("pool builds")
}

async fn one(pool: &TransactionalPool<FakeFactory>, rec: &str) -> Result<(), PoolError> {
    let rec = rec.to_owned();
    pool.transaction(|txn| async move { txn.send(rec).await })
        .await
        .map_err(|e| match e {
            klamm_pool::TransactionError::Pool(p) => p,
            other => panic!("unexpected closure error {other}"),
        })
}

#[tokio::test]
async fn abortable_commit_is_aborted_and_the_producer_reused() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, "o", 1).await;
    cluster.fault_next_commit("o-0", CommitFault::Abortable);
    let e = one(&pool, "lost").await.unwrap_err();
    assert!(
        matches!(
            e,
            PoolError::Commit {
                outcome: CommitOutcome::Aborted,
                ..
            }
        ),
        "{e}"
    );
    one(&pool, "kept").await.unwrap();
    assert_eq!(cluster.committed(), vec!["kept"]);
    let m = pool.metrics();
    assert_eq!((m.commit_failures, m.aborts, m.replacements), (1, 1, 0));
    assert_eq!(cluster.creates("o-0"), 1);
}

#[tokio::test]
async fn fatal_commit_replaces_the_producer_under_the_same_id() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, "o", 1).await;
    assert_eq!(cluster.epoch("o-0"), 1);
    cluster.fault_next_commit("o-0", CommitFault::Fatal);
    let e = one(&pool, "lost").await.unwrap_err();
    assert!(
        matches!(
            e,
            PoolError::Commit {
                outcome: CommitOutcome::Unknown,
                ..
            }
        ),
        "{e}"
    );
    one(&pool, "kept").await.unwrap();
    assert_eq!(cluster.committed(), vec!["kept"]);
    assert_eq!(cluster.creates("o-0"), 2, "replaced under the same id");
    assert_eq!(cluster.epoch("o-0"), 2, "with a new epoch");
    assert_eq!(cluster.closes("o-0"), 1, "the broken one was closed");
    assert_eq!(pool.metrics().replacements, 1);
}

#[tokio::test]
async fn unknown_commit_outcome_is_retried() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, "o", 1).await;
    cluster.fault_next_commit("o-0", CommitFault::Unknown(2));
    one(&pool, "a").await.unwrap();
    assert_eq!(cluster.committed(), vec!["a"], "third attempt committed");
    // More unknowns than attempts: the pool gives up, reports Unknown, replaces.
    cluster.fault_next_commit("o-0", CommitFault::Unknown(5));
    let e = one(&pool, "b").await.unwrap_err();
    assert!(
        matches!(
            e,
            PoolError::Commit {
                outcome: CommitOutcome::Unknown,
                ..
            }
        ),
        "{e}"
    );
    one(&pool, "c").await.unwrap();
    assert_eq!(cluster.committed(), vec!["a", "c"]);
    assert_eq!(pool.metrics().replacements, 1);
}

#[tokio::test]
async fn a_fenced_producer_is_replaced_and_the_next_transaction_works() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, "o", 1).await;
    cluster.fence("o-0"); // someone else initialised o-0
    let e = one(&pool, "x").await.unwrap_err();
    assert!(matches!(e, PoolError::Begin { .. }), "{e}");
    one(&pool, "y").await.unwrap();
    assert_eq!(cluster.committed(), vec!["y"]);
    assert_eq!(cluster.epoch("o-0"), 3, "init, fencer, replacement");
}

#[tokio::test]
async fn a_restarted_pool_fences_the_previous_instance() {
    let cluster = FakeCluster::new();
    let old = pool(&cluster, "svc", 2).await;
    let mut zombie = old.get().await.unwrap();
    zombie.begin().await.unwrap();
    zombie.send("zombie").await.unwrap();
    let new = pool(&cluster, "svc", 2).await;
    let e = zombie.commit().await.unwrap_err();
    assert!(
        matches!(e, PoolError::Commit { ref id, .. } if id == "svc-0"),
        "{e}"
    );
    assert_eq!(zombie.health(), Health::FatalError);
    one(&new, "fresh").await.unwrap();
    assert_eq!(
        cluster.committed(),
        vec!["fresh"],
        "the zombie's record never commits"
    );
    drop(zombie);
    new.close(Duration::from_secs(1)).await;
    old.close(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn failed_replacements_retry_with_backoff_without_blocking_others() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, "o", 2).await;
    cluster.fault_next_commit("o-0", CommitFault::Fatal);
    cluster.fail_next_creates(3);
    let start = tokio::time::Instant::now();
    let e = one(&pool, "lost").await.unwrap_err();
    assert!(matches!(e, PoolError::Commit { .. }), "{e}");
    // While o-0 is being replaced (failing), o-1 serves everyone at once.
    for i in 0..5 {
        one(&pool, &format!("r{i}")).await.unwrap();
    }
    assert!(start.elapsed() < Duration::from_millis(50), "not blocked");
    assert_eq!(pool.metrics().recovering, 1);
    // Backoff 100 + 200 + 400 ms, then the fourth attempt works.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let m = pool.metrics();
    assert_eq!((m.recovering, m.idle, m.create_failures), (0, 2, 3));
    assert_eq!(cluster.creates("o-0"), 2);
}

#[tokio::test(start_paused = true)]
async fn close_waits_for_borrowers_then_aborts_what_is_open() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, "o", 3).await;
    // One borrower finishes in time, one never does.
    let mut quick = pool.get().await.unwrap();
    let mut stuck = pool.get().await.unwrap();
    quick.begin().await.unwrap();
    stuck.begin().await.unwrap();
    stuck.send("never-committed").await.unwrap();
    let p2 = pool.clone();
    let closing = tokio::spawn(async move { p2.close(Duration::from_millis(500)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(pool.is_closed());
    assert!(matches!(pool.get().await, Err(PoolError::Closed)));
    quick.send("committed-during-close").await.unwrap();
    quick.commit().await.unwrap();
    drop(quick);
    let taken = closing.await.unwrap();
    assert_eq!(taken, 1, "only the stuck borrower had to be taken");
    assert_eq!(stuck.health(), Health::FatalError, "closed under its feet");
    assert!(stuck.commit().await.is_err());
    drop(stuck);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(cluster.committed(), vec!["committed-during-close"]);
    for i in 0..3 {
        assert!(cluster.closes(&format!("o-{i}")) >= 1, "o-{i} closed");
    }
    assert_eq!(pool.metrics().idle, 0);
}

#[tokio::test(start_paused = true)]
async fn close_wakes_waiters_and_returns_at_once_when_idle() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, "o", 1).await;
    let held = pool.get().await.unwrap();
    let p2 = pool.clone();
    let waiter = tokio::spawn(async move { p2.get().await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(10)).await;
    drop(held);
    // The waiter got it; now hold nothing and close.
    waiter.await.unwrap().unwrap();
    let start = tokio::time::Instant::now();
    assert_eq!(pool.close(Duration::from_secs(30)).await, 0);
    assert_eq!(start.elapsed(), Duration::ZERO);

    let pool2 = {
        let c = FakeCluster::new();
        TransactionalPool::builder()
            .factory(c.factory())
            .id_prefix("w")
            .size(1)
            .build()
            .await
            .unwrap()
    };
    let held = pool2.get().await.unwrap();
    let p3 = pool2.clone();
    let waiter = tokio::spawn(async move { p3.get().await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let p4 = pool2.clone();
    let closing = tokio::spawn(async move { p4.close(Duration::from_secs(30)).await });
    assert!(matches!(waiter.await.unwrap(), Err(PoolError::Closed)));
    drop(held);
    assert_eq!(closing.await.unwrap(), 0);
}

#[tokio::test]
async fn closure_error_from_a_fenced_producer_replaces_it() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, "o", 1).await;
    let c2 = Arc::clone(&cluster);
    let e = pool
        .transaction(|txn| async move {
            c2.fence(txn.transactional_id());
            txn.send("fenced").await?;
            Ok::<_, FakeError>(())
        })
        .await
        .unwrap_err();
    assert!(matches!(e.user_error(), Some(FakeError::Fenced(_))), "{e}");
    one(&pool, "after").await.unwrap();
    assert_eq!(cluster.committed(), vec!["after"]);
    assert_eq!(pool.metrics().replacements, 1);
}

#[tokio::test(start_paused = true)]
async fn close_stops_a_replacement_that_keeps_failing() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, "o", 2).await;
    cluster.fault_next_commit("o-0", CommitFault::Fatal);
    cluster.fail_next_creates(u32::MAX);
    assert!(one(&pool, "x").await.is_err());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(pool.metrics().recovering, 1);
    let start = tokio::time::Instant::now();
    assert_eq!(pool.close(Duration::from_secs(10)).await, 0);
    assert!(
        start.elapsed() < Duration::from_millis(10),
        "close did not wait for the backoff"
    );
    tokio::task::yield_now().await;
    let m = pool.metrics();
    assert_eq!((m.recovering, m.idle, m.in_use), (0, 0, 0));
    assert_eq!(cluster.creates("o-0"), 1, "no producer created after close");
}

#[test]
fn a_guard_dropped_on_a_foreign_thread_is_recovered_on_the_pool_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cluster = FakeCluster::new();
    let pool = rt.block_on(pool(&cluster, "o", 1));
    let guard = rt.block_on(async {
        let mut g = pool.get().await.unwrap();
        g.begin().await.unwrap();
        g.send("abandoned").await.unwrap();
        g
    });
    // Dropped on a plain thread with no runtime: must not block or panic.
    std::thread::spawn(move || drop(guard)).join().unwrap();
    rt.block_on(async {
        let mut g = pool.get().await.unwrap();
        assert_eq!(g.health(), Health::Ready);
        g.begin().await.unwrap();
        g.send("next").await.unwrap();
        g.commit().await.unwrap();
    });
    assert_eq!(cluster.committed(), vec!["next"]);
    assert_eq!(pool.metrics().aborts, 1);
}

#[tokio::test]
async fn a_panic_inside_the_producer_during_recovery_does_not_lose_the_slot() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, "o", 1).await;
    let mut g = pool.get().await.unwrap();
    g.begin().await.unwrap();
    g.send("abandoned").await.unwrap();
    cluster
        .panic_next_abort
        .store(true, std::sync::atomic::Ordering::SeqCst);
    drop(g); // the background abort panics
    one(&pool, "after")
        .await
        .expect("the slot got a new producer");
    assert_eq!(cluster.creates("o-0"), 2);
    assert_eq!(cluster.committed(), vec!["after"]);
    assert_eq!(pool.metrics().replacements, 1);
}
