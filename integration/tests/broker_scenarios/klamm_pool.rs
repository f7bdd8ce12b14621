//! The pool's promise on every broker that writes transaction markers: 64 concurrent
//! clients through a pool of 8 long-lived transactional producers (klamm-pool on klamm-txn),
//! the orders workload of [`pool_load`](crate::pool_load) with every tenth request rejected
//! after its records were acknowledged, checked exactly-once from outside by librdkafka and
//! klamm-net's reader; once with a Kafka transaction per request, once with group commit
//! (requests that arrive while the producers are busy share a transaction; a rejected member
//! aborts its group and the others run again).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use klamm_integration::{BrokerUnderTest, Needs, ScenarioResult, scenario};

use crate::pool_load::{self, FAIL_EVERY, Load, Outcome, Topics};

const CLIENTS: usize = 64;
const PER_CLIENT: usize = 20;
const POOL_SIZE: usize = 8;

async fn pool_exactly_once(broker: BrokerUnderTest, group: Option<usize>) -> ScenarioResult {
    let topics = Topics::create(&broker, if group.is_some() { "group" } else { "pool" }).await?;
    let pool = pool_load::pool(broker.bootstrap(), &topics.orders, POOL_SIZE, group, |b| b).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let load = Load {
        clients: CLIENTS,
        per_client: PER_CLIENT,
        order_size: 16,
    };
    let start = Instant::now();
    let outcomes =
        pool_load::run_clients(&pool, &topics, load, stop, Arc::new(AtomicU64::new(0))).await?;
    let took = start.elapsed();
    let metrics = pool.metrics();
    pool.close(Duration::from_secs(10)).await;
    let committed = pool_load::count(&outcomes, Outcome::Committed);
    let rejected = pool_load::count(&outcomes, Outcome::Rejected);
    println!(
        "pool{} on {}: {} requests in {took:.1?} ({:.0}/s): {committed} committed, {rejected} \
         rejected by the handler, {} failed, {} unknown; pool metrics: {metrics:?}",
        if group.is_some() {
            " with group commit"
        } else {
            ""
        },
        broker.kind(),
        outcomes.len(),
        outcomes.len() as f64 / took.as_secs_f64(),
        pool_load::count(&outcomes, Outcome::Failed),
        pool_load::count(&outcomes, Outcome::Unknown),
    );
    // Without faults no request may fail. A commit whose outcome is unknown (it outlived the
    // operation timeout on a loaded machine: seen once on Apache Kafka with the machine's
    // two cores shared by other builds) is allowed; the check below shows it committed
    // entirely or not at all.
    let expected_rejected = CLIENTS * (PER_CLIENT / FAIL_EVERY);
    let failed = pool_load::count(&outcomes, Outcome::Failed);
    if failed > 0 || rejected != expected_rejected {
        return Err(format!(
            "{committed} committed, {rejected} rejected (expected {expected_rejected}) and \
             {failed} failed of {} requests: without faults nothing may fail",
            outcomes.len(),
        )
        .into());
    }
    if group.is_some() && metrics.group_size_max < 2 {
        return Err("group commit on, but no Kafka transaction carried two requests".into());
    }
    pool_load::check(&broker, &topics, &outcomes).await?;
    Ok(())
}

const MARKERS: Needs = Needs {
    transaction_markers: true,
    ..Needs::NOTHING
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klamm_pool_exactly_once() {
    scenario::run(
        "klamm_pool_exactly_once",
        MARKERS,
        Duration::from_secs(300),
        |b| pool_exactly_once(b, None),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klamm_pool_group_commit() {
    scenario::run(
        "klamm_pool_group_commit",
        MARKERS,
        Duration::from_secs(300),
        |b| pool_exactly_once(b, Some(64)),
    )
    .await;
}
