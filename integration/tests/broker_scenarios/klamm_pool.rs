//! The pool's promise on every broker that writes transaction markers: 64 concurrent
//! clients through a pool of 8 long-lived transactional producers (klamm-pool on klamm-txn),
//! the orders workload of [`pool_load`](crate::pool_load) with every tenth request rejected
//! after its records were acknowledged, checked exactly-once from outside by librdkafka and
//! klamm-net's reader.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use klamm_integration::{BrokerUnderTest, Needs, ScenarioResult, scenario};

use crate::pool_load::{self, FAIL_EVERY, Load, Outcome, Topics};

const CLIENTS: usize = 64;
const PER_CLIENT: usize = 20;
const POOL_SIZE: usize = 8;

async fn pool_exactly_once(broker: BrokerUnderTest) -> ScenarioResult {
    let topics = Topics::create(&broker, "pool").await?;
    let pool = pool_load::pool(broker.bootstrap(), &topics.orders, POOL_SIZE, |b| b).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let load = Load {
        clients: CLIENTS,
        per_client: PER_CLIENT,
        order_size: 16,
    };
    let outcomes =
        pool_load::run_clients(&pool, &topics, load, stop, Arc::new(AtomicU64::new(0))).await?;
    let metrics = pool.metrics();
    pool.close(Duration::from_secs(10)).await;
    let committed = pool_load::count(&outcomes, Outcome::Committed);
    let rejected = pool_load::count(&outcomes, Outcome::Rejected);
    println!(
        "pool on {}: {committed} committed, {rejected} rejected by the handler, {} failed, {} \
         unknown; pool metrics: {metrics:?}",
        broker.kind(),
        pool_load::count(&outcomes, Outcome::Failed),
        pool_load::count(&outcomes, Outcome::Unknown),
    );
    let expected_rejected = CLIENTS * (PER_CLIENT / FAIL_EVERY);
    if committed + rejected != outcomes.len() || rejected != expected_rejected {
        return Err(format!(
            "{committed} committed and {rejected} rejected of {} requests (expected {} and \
             {expected_rejected}): without faults nothing else may fail",
            outcomes.len(),
            outcomes.len() - expected_rejected
        )
        .into());
    }
    pool_load::check(&broker, &topics, &outcomes).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klamm_pool_exactly_once() {
    scenario::run(
        "klamm_pool_exactly_once",
        Needs {
            transaction_markers: true,
            ..Needs::NOTHING
        },
        Duration::from_secs(300),
        pool_exactly_once,
    )
    .await;
}
