//! Issue 8's load test with records: 64 concurrent clients x 10,000 requests, each request one
//! transaction writing an order and an audit record, through a pool of 8 klamm-txn record
//! producers on one shared cluster (each on its own connections), against klamm-testkit (3
//! brokers). Every tenth request's handler fails after writing both records (its transaction
//! is aborted). Read back `read_committed`: zero duplicates, zero missing, every failed
//! request's records invisible, and no OUT_OF_ORDER_SEQUENCE_NUMBER (no Produce was retried
//! or failed at all, and the testkit's error counters show the brokers sent no Produce error
//! at all), and no transaction left open (every partition's last stable offset reached its
//! high watermark).
//!
//! Unoptimised it takes about 5 minutes (2,000 transactions/s), so it is ignored in debug
//! builds and runs with `cargo test --release -p klamm-pool --test testkit_load`.

mod load;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use load::{BROKERS, Load, POOL_CLIENT_ID};

/// The issue's numbers.
const LOAD: Load = Load {
    tag: "r",
    clients: 64,
    per_client: 10_000,
    fail_every: 10,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    debug_assertions,
    ignore = "640,000 transactions take about 5 minutes unoptimised: \
              `cargo test --release -p klamm-pool --test testkit_load` (about 40 s)"
)]
async fn sixty_four_clients_ten_thousand_requests_exactly_once() {
    let kit = load::testkit().await;
    let pool = load::record_pool(&kit, "orders", 8).await;
    let before = load::producer_ids(&pool).await;
    let start = Instant::now();
    let outcomes = load::run(&pool, LOAD, Arc::new(AtomicU64::new(0))).await;
    let elapsed = start.elapsed();

    let (requests, retries, failed_batches) = load::producer_counters(&pool).await;
    let after = load::producer_ids(&pool).await;
    let m = pool.metrics();
    let pool_connections = load::connections(&kit, Some(POOL_CLIENT_ID));
    assert_eq!(pool.close(std::time::Duration::from_secs(10)).await, 0);
    let report = load::check(&kit, LOAD, &outcomes).await;
    println!(
        "{} requests in {elapsed:.1?} ({:.0} txn/s); {report:?}; produce requests {requests}; \
         pool {m:?}; connections {}",
        LOAD.total(),
        LOAD.total() as f64 / elapsed.as_secs_f64(),
        pool_connections.len()
    );

    let failed = LOAD.total() / LOAD.fail_every;
    assert_eq!(report.committed, LOAD.total() - failed, "{report:?}");
    assert_eq!(report.failed, failed, "{report:?}");
    assert_eq!(report.unknown, 0, "{report:?}");
    assert!(report.exactly_once(), "{report:?}");
    assert_eq!(report.visible, 2 * report.committed, "{report:?}");
    assert_eq!(
        (retries, failed_batches),
        (0, 0),
        "no Produce was answered OUT_OF_ORDER_SEQUENCE_NUMBER (nor anything else to retry)"
    );
    assert!(requests > 0);
    // The same, from what the brokers sent (klamm-testkit's counters): not one Produce error
    // of any kind, so no OUT_OF_ORDER_SEQUENCE_NUMBER, and no retried batch recognised as a
    // duplicate.
    load::assert_no_sequence_errors(&kit);
    let (_, produce_errors) = load::sequence_answers(&kit);
    assert!(
        produce_errors.is_empty(),
        "no Produce error sent: {produce_errors:?}"
    );
    assert_eq!(kit.duplicate_batches(), 0, "no batch was sent twice");
    assert_eq!(
        (m.commits, m.aborts),
        (report.committed as u64, failed as u64)
    );
    assert_eq!((m.replacements, m.creates), (0, 8));
    // 80,000 transactions per producer: with KIP-890 part 2 every EndTxn bumps the epoch, so
    // each producer ran out of epochs (32,767) and went on under a new producer id, twice.
    for ((slot, pid0, _), (_, pid1, epoch1)) in before.iter().zip(&after) {
        assert_ne!(
            pid0, pid1,
            "slot {slot}: a new producer id after the epochs ran out"
        );
        println!("slot {slot}: producer id {pid0} -> {pid1} (epoch {epoch1})");
    }
    assert!(
        !pool_connections.is_empty() && pool_connections.len() <= 8 * BROKERS as usize + 1,
        "the pool's 8 producers used at most one connection each per broker (plus the bootstrap \
         connection klamm-net closes after the first metadata): {pool_connections:?}"
    );
}
