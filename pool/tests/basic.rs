//! Checkout, transactions, guards, panics and cancellation, against the fake producer.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{FakeCluster, FakeError, FakeFactory};
use klamm_pool::{Health, PoolError, TransactionError, TransactionalPool};

async fn pool(cluster: &Arc<FakeCluster>, size: usize) -> TransactionalPool<FakeFactory> {
    TransactionalPool::builder()
        .factory(cluster.factory())
        .id_prefix("orders")
        .size(size)
        .checkout_timeout(Duration::from_millis(200))
        .build()
        .await
        .expect("pool builds")
}

#[tokio::test]
async fn build_creates_size_producers_with_stable_ids() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, 8).await;
    let ids: Vec<_> = pool.transactional_ids().collect();
    assert_eq!(
        ids,
        (0..8).map(|i| format!("orders-{i}")).collect::<Vec<_>>()
    );
    for id in &ids {
        assert_eq!(cluster.creates(id), 1, "{id} created once");
    }
    let m = pool.metrics();
    assert_eq!((m.size, m.idle, m.in_use, m.creates), (8, 8, 0, 8));
    // The first borrow gets slot 0.
    let g = pool.get().await.unwrap();
    assert_eq!(g.transactional_id(), "orders-0");
    assert_eq!(pool.metrics().in_use, 1);
    drop(g);
    assert_eq!(pool.metrics().in_use, 0);
}

#[tokio::test]
async fn lazy_pool_creates_on_demand_up_to_size() {
    let cluster = FakeCluster::new();
    let pool = TransactionalPool::builder()
        .factory(cluster.factory())
        .id_prefix("lazy")
        .size(4)
        .lazy(true)
        .build()
        .await
        .unwrap();
    assert_eq!(cluster.total_creates(), 0);
    // Sequential use keeps reusing one producer.
    for _ in 0..5 {
        pool.transaction(|txn| async move { txn.send("x").await })
            .await
            .unwrap();
    }
    assert_eq!(cluster.total_creates(), 1);
    // Three at once need three producers.
    let (a, b, c) = (pool.get().await, pool.get().await, pool.get().await);
    assert_eq!(cluster.total_creates(), 3);
    drop((a, b, c));
    assert_eq!(pool.metrics().idle, 3);
}

#[tokio::test]
async fn lazy_creation_failure_gives_the_slot_back() {
    let cluster = FakeCluster::new();
    let pool = TransactionalPool::builder()
        .factory(cluster.factory())
        .id_prefix("lazy")
        .size(1)
        .lazy(true)
        .checkout_timeout(Duration::from_millis(50))
        .build()
        .await
        .unwrap();
    cluster.fail_next_creates(1);
    let e = pool.get().await.unwrap_err();
    assert!(
        matches!(e, PoolError::Create { ref id, .. } if id == "lazy-0"),
        "{e}"
    );
    // The slot is available again and the next borrower creates it.
    let g = pool.get().await.expect("slot was given back");
    assert_eq!(g.health(), Health::Ready);
    assert_eq!(pool.metrics().create_failures, 1);
}

#[tokio::test]
async fn eager_build_failure_closes_what_was_created() {
    let cluster = FakeCluster::new();
    cluster.fail_next_creates(1);
    let e = TransactionalPool::builder()
        .factory(cluster.factory())
        .id_prefix("b")
        .size(3)
        .build()
        .await
        .unwrap_err();
    assert!(matches!(e, PoolError::Create { .. }), "{e}");
    let closed: u32 = (0..3).map(|i| cluster.closes(&format!("b-{i}"))).sum();
    assert_eq!(closed, 2, "the two producers that were created are closed");
}

#[tokio::test]
async fn ok_commits_err_aborts() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, 2).await;
    let v = pool
        .transaction(|txn| async move {
            txn.send("order-1").await?;
            txn.send("audit-1").await?;
            Ok::<_, FakeError>(42)
        })
        .await
        .unwrap();
    assert_eq!(v, 42);
    let e = pool
        .transaction(|txn| async move {
            txn.send("order-2").await?;
            Err::<(), _>(FakeError::Injected("validation failed"))
        })
        .await
        .unwrap_err();
    assert!(
        matches!(e, TransactionError::Aborted(FakeError::Injected(_))),
        "{e}"
    );
    assert_eq!(cluster.committed(), vec!["order-1", "audit-1"]);
    let m = pool.metrics();
    assert_eq!((m.commits, m.aborts, m.replacements), (1, 1, 0));
    assert_eq!(m.idle, 2, "both producers are back");
}

#[tokio::test(start_paused = true)]
async fn checkout_times_out_with_a_clear_error() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, 1).await;
    let held = pool.get().await.unwrap();
    let start = tokio::time::Instant::now();
    let e = pool.get().await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    match &e {
        PoolError::CheckoutTimeout { waited, size } => {
            assert_eq!((*waited, *size), (Duration::from_millis(200), 1));
        }
        other => panic!("expected a checkout timeout, got {other}"),
    }
    assert!(e.to_string().contains("checkout_timeout"), "{e}");
    let e = pool
        .transaction(|txn| async move { txn.send("never").await })
        .await
        .unwrap_err();
    assert!(matches!(
        e.pool_error(),
        Some(PoolError::CheckoutTimeout { .. })
    ));
    assert_eq!(pool.metrics().checkout_timeouts, 2);
    assert_eq!(pool.metrics().waiters, 0);
    drop(held);
    assert!(pool.get().await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_waiter_gets_the_returned_producer() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, 1).await;
    let held = pool.get().await.unwrap();
    let p2 = pool.clone();
    let waiter =
        tokio::spawn(async move { p2.get().await.map(|g| g.transactional_id().to_owned()) });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(pool.metrics().waiters, 1);
    drop(held);
    assert_eq!(waiter.await.unwrap().unwrap(), "orders-0");
    let m = pool.metrics();
    assert_eq!(m.wait_time_max, Duration::from_millis(50));
    assert_eq!(m.waiters, 0);
}

#[tokio::test]
async fn dropping_a_guard_with_an_open_transaction_aborts_before_reuse() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, 1).await;
    let mut g = pool.get().await.unwrap();
    g.begin().await.unwrap();
    g.send("left-open").await.unwrap();
    assert_eq!(g.health(), Health::InTransaction);
    drop(g);
    // The next borrower only gets the producer after the background abort.
    let mut g = pool.get().await.unwrap();
    assert_eq!(g.health(), Health::Ready);
    g.begin().await.unwrap();
    g.send("next").await.unwrap();
    g.commit().await.unwrap();
    drop(g);
    assert_eq!(
        cluster.committed(),
        vec!["next"],
        "the abandoned record never commits"
    );
    assert_eq!(pool.metrics().aborts, 1);
}

#[tokio::test]
async fn release_recovers_inline() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, 1).await;
    let mut g = pool.get().await.unwrap();
    g.begin().await.unwrap();
    g.release().await;
    let m = pool.metrics();
    assert_eq!((m.idle, m.in_use, m.aborts, m.recovering), (1, 0, 1, 0));
}

#[tokio::test]
async fn a_panicking_closure_aborts_and_returns_the_producer() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, 1).await;
    let e = pool
        .transaction(|txn| async move {
            txn.send("doomed").await?;
            if txn.transactional_id().starts_with("orders") {
                panic!("handler bug");
            }
            Ok::<_, FakeError>(())
        })
        .await
        .unwrap_err();
    match e.pool_error() {
        Some(PoolError::Panicked { id, message }) => {
            assert_eq!((id.as_str(), message.as_str()), ("orders-0", "handler bug"));
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
    // A panic before the future exists is caught too.
    let e = pool
        .transaction(|_txn| -> std::future::Ready<Result<(), FakeError>> { panic!("sync bug") })
        .await
        .unwrap_err();
    assert!(
        matches!(e.pool_error(), Some(PoolError::Panicked { .. })),
        "{e}"
    );
    // Same producer, aborted, not replaced, usable.
    pool.transaction(|txn| async move { txn.send("fine").await })
        .await
        .unwrap();
    assert_eq!(cluster.committed(), vec!["fine"]);
    let m = pool.metrics();
    assert_eq!((m.panics, m.aborts, m.replacements), (2, 2, 0));
    assert_eq!(cluster.creates("orders-0"), 1);
}

#[tokio::test]
async fn an_escaped_handle_aborts_and_replaces() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, 1).await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let e = pool
        .transaction(|txn| async move {
            txn.send("a").await?;
            let _ = tx.send(txn.clone());
            Ok::<_, FakeError>(())
        })
        .await
        .unwrap_err();
    assert!(
        matches!(e.pool_error(), Some(PoolError::HandleEscaped { .. })),
        "{e}"
    );
    let escaped = rx.await.unwrap();
    // The replacement (same id, new epoch) fences the escaped handle.
    let g = pool.get().await.unwrap();
    assert_eq!(cluster.creates("orders-0"), 2);
    assert!(matches!(
        escaped.send("late").await,
        Err(FakeError::Fenced(_))
    ));
    drop(g);
    assert!(cluster.committed().is_empty());
    assert_eq!(pool.metrics().replacements, 1);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_transaction_is_aborted_and_returned() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, 1).await;
    let r = tokio::time::timeout(
        Duration::from_millis(10),
        pool.transaction(|txn| async move {
            txn.send("slow").await?;
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, FakeError>(())
        }),
    )
    .await;
    assert!(r.is_err(), "timed out");
    pool.transaction(|txn| async move { txn.send("after").await })
        .await
        .unwrap();
    assert_eq!(cluster.committed(), vec!["after"]);
    assert_eq!(pool.metrics().aborts, 1);
}

/// The futures a service awaits in its handlers must be `Send` (axum, `tokio::spawn`).
#[tokio::test]
async fn pool_futures_are_send_and_the_pool_is_shareable() {
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    fn assert_send_sync<T: Send + Sync + Clone + 'static>(_: &T) {}
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, 1).await;
    assert_send_sync(&pool);
    let v = tokio::spawn(assert_send({
        let pool = pool.clone();
        async move {
            let g = pool.get().await.map(|g| g.slot());
            let t = pool
                .transaction(|txn| async move {
                    txn.send("s").await?;
                    Ok::<_, FakeError>(7)
                })
                .await;
            (g.unwrap(), t.unwrap())
        }
    }))
    .await
    .unwrap();
    assert_eq!(v, (0, 7));
}

#[tokio::test]
async fn an_unhealthy_idle_producer_is_skipped_and_replaced() {
    let cluster = FakeCluster::new();
    let pool = pool(&cluster, 2).await;
    cluster.break_producer("orders-0");
    let g = pool.get().await.expect("the healthy one is lent at once");
    assert_eq!(g.transactional_id(), "orders-1");
    drop(g);
    // orders-0 comes back as a new producer (same id, new epoch).
    let (a, b) = (pool.get().await.unwrap(), pool.get().await.unwrap());
    let mut ids = [
        a.transactional_id().to_owned(),
        b.transactional_id().to_owned(),
    ];
    ids.sort();
    assert_eq!(ids, ["orders-0", "orders-1"]);
    assert_eq!(cluster.epoch("orders-0"), 2);
    assert_eq!(pool.metrics().replacements, 1);
}

#[tokio::test]
async fn too_many_waiters_fail_at_once() {
    let cluster = FakeCluster::new();
    let pool = TransactionalPool::builder()
        .factory(cluster.factory())
        .id_prefix("w")
        .size(1)
        .max_waiters(1)
        .checkout_timeout(Duration::from_secs(30))
        .build()
        .await
        .unwrap();
    let held = pool.get().await.unwrap();
    let p2 = pool.clone();
    let waiter = tokio::spawn(async move { p2.get().await.map(|g| g.slot()) });
    while pool.metrics().waiters == 0 {
        tokio::task::yield_now().await;
    }
    let e = pool.get().await.unwrap_err();
    assert!(
        matches!(e, PoolError::TooManyWaiters { max_waiters: 1 }),
        "{e}"
    );
    drop(held);
    assert_eq!(waiter.await.unwrap().unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_closure_running_past_transaction_timeout_is_aborted() {
    let cluster = FakeCluster::new();
    let pool = TransactionalPool::builder()
        .factory(cluster.factory())
        .id_prefix("t")
        .size(1)
        .transaction_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let start = tokio::time::Instant::now();
    let e = pool
        .transaction(|txn| async move {
            txn.send("slow").await?;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, FakeError>(())
        })
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert!(
        matches!(e.pool_error(), Some(PoolError::TransactionTimeout { .. })),
        "{e}"
    );
    pool.transaction(|txn| async move { txn.send("quick").await })
        .await
        .unwrap();
    assert_eq!(cluster.committed(), vec!["quick"]);
    assert_eq!(pool.metrics().aborts, 1);
}
