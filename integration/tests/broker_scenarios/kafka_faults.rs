//! Real faults on Apache Kafka during the pool's load (64 clients, a pool of 8, the orders
//! workload of [`pool_load`](crate::pool_load)): in turn, `kill -9` of the node leading an
//! orders partition, `kill -9` of the transaction coordinator of one pooled id (each node
//! restarted afterwards), and a node frozen with SIGSTOP for longer than the clients'
//! `request.timeout.ms` (and than Kafka's `broker.session.timeout.ms`, so the controller
//! fences it). Exactly-once must hold; what happened is printed (leader changes, coordinator
//! moves, producers replaced) and each fault is checked to have really happened.
//!
//! Needs broker processes the test may kill, so it runs on the cluster `cargo xtask
//! integration --broker kafka` starts (never on a cluster you passed with `--bootstrap`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use klamm_integration::nodes::{KafkaNode, KafkaNodes};
use klamm_integration::{BrokerUnderTest, Needs, ScenarioError, ScenarioResult, scenario};
use klamm_net::{Cluster, CoordinatorType};

use crate::pool_load::{self, Load, Outcome, Topics};

const CLIENTS: usize = 64;
/// An upper bound only: the clients stop when the faults are over.
const MAX_PER_CLIENT: usize = 2_000;
const POOL_SIZE: usize = 8;
/// The clients' `request.timeout.ms`; the pause below is longer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Longer than REQUEST_TIMEOUT and than Kafka's `broker.session.timeout.ms` (9 s).
const PAUSE: Duration = Duration::from_secs(12);
/// How long a leader or coordinator may take to move off a dead node.
const MOVE_TIMEOUT: Duration = Duration::from_secs(45);

/// Waits until `n` more requests finished (the load is really running around each fault).
async fn progress(done: &AtomicU64, n: u64) -> Result<(), ScenarioError> {
    let target = done.load(Ordering::Relaxed) + n;
    let deadline = Instant::now() + Duration::from_secs(120);
    while done.load(Ordering::Relaxed) < target {
        if Instant::now() > deadline {
            return Err(format!(
                "the load stalled: {} requests done, waited for {target}",
                done.load(Ordering::Relaxed)
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Fresh metadata for the run's topics and the transaction log.
async fn metadata(
    observer: &Cluster,
    topics: &Topics,
) -> Result<Arc<klamm_net::Metadata>, ScenarioError> {
    for t in [&topics.orders, &topics.audit, "__transaction_state"] {
        observer.topic(t).await?;
    }
    Ok(observer.refresh_metadata().await?)
}

/// Waits until every node is back in the cluster and every partition of the run's topics and
/// of the transaction log has all three replicas in sync, so that the next fault starts from
/// a whole cluster (with `min.insync.replicas=2`, two nodes out at once would stop writes).
async fn whole_again(observer: &Cluster, topics: &Topics) -> Result<Duration, ScenarioError> {
    let start = Instant::now();
    loop {
        let md = metadata(observer, topics).await;
        if let Ok(md) = md {
            let whole = md.brokers.len() == 3
                && [&topics.orders, &topics.audit, "__transaction_state"]
                    .iter()
                    .all(|t| {
                        md.topic(t).is_some_and(|t| {
                            !t.partitions.is_empty()
                                && t.partitions
                                    .iter()
                                    .all(|p| p.isr.len() == 3 && p.leader >= 0)
                        })
                    });
            if whole {
                return Ok(start.elapsed());
            }
        }
        if start.elapsed() > Duration::from_secs(120) {
            return Err("the cluster did not get all replicas back in sync within 120 s".into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn coordinator_of(observer: &Cluster, id: &str) -> Result<i32, ScenarioError> {
    observer.invalidate_coordinator(CoordinatorType::Transaction, id);
    let found = observer
        .find_coordinators(CoordinatorType::Transaction, &[id.to_owned()])
        .await?;
    let (_, node) = found
        .into_iter()
        .next()
        .ok_or("empty FindCoordinator answer")?;
    Ok(node?)
}

/// Runs a blocking node operation off the runtime.
async fn on_node(
    node: &KafkaNode,
    op: fn(&KafkaNode) -> Result<(), ScenarioError>,
) -> Result<(), ScenarioError> {
    let node = node.clone();
    tokio::task::spawn_blocking(move || op(&node))
        .await
        .map_err(|e| format!("node operation panicked: {e}"))?
}

/// Polls until `moved` says the role left node `from` (or [`MOVE_TIMEOUT`] passes); returns
/// the new node and how long it took.
async fn wait_for_move<F, Fut>(
    from: i32,
    what: &str,
    mut find: F,
) -> Result<(i32, Duration), ScenarioError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = i32>,
{
    let start = Instant::now();
    // Kafka's controller fences a silent broker after `broker.session.timeout.ms` (9 s).
    while start.elapsed() < MOVE_TIMEOUT {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = find().await;
        if now >= 0 && now != from {
            return Ok((now, start.elapsed()));
        }
    }
    Err(format!("{what} still on node {from} {MOVE_TIMEOUT:?} after it died").into())
}

/// The three faults, one after the other, with the load running; returns what happened.
async fn inject(
    nodes: &KafkaNodes,
    observer: &Cluster,
    topics: &Topics,
    pooled_id: &str,
    done: &AtomicU64,
) -> Result<Vec<String>, ScenarioError> {
    let mut log = Vec::new();
    progress(done, 200).await?;

    // 1. kill -9 the leader of orders/0.
    let md = metadata(observer, topics).await?;
    let leader = md
        .leader(&topics.orders, 0)
        .ok_or("orders/0 has no leader")?;
    on_node(nodes.node(leader)?, KafkaNode::kill9).await?;
    let at = done.load(Ordering::Relaxed);
    let (new_leader, after) = wait_for_move(leader, "the leader of orders/0", || async {
        metadata(observer, topics)
            .await
            .ok()
            .and_then(|md| md.leader(&topics.orders, 0))
            .unwrap_or(-1)
    })
    .await?;
    let during = done.load(Ordering::Relaxed) - at;
    on_node(nodes.node(leader)?, KafkaNode::restart).await?;
    let back = whole_again(observer, topics).await?;
    log.push(format!(
        "kill -9 node {leader} (leader of orders/0): leader moved to node {new_leader} after \
         {after:.1?}; {during} requests finished meanwhile; restarted, all replicas in sync \
         {back:.1?} later"
    ));
    progress(done, 200).await?;

    // 2. kill -9 the transaction coordinator of one pooled id.
    let coordinator = coordinator_of(observer, pooled_id).await?;
    on_node(nodes.node(coordinator)?, KafkaNode::kill9).await?;
    let at = done.load(Ordering::Relaxed);
    let what = format!("the transaction coordinator of {pooled_id}");
    let (moved_to, after) = wait_for_move(coordinator, &what, || async {
        coordinator_of(observer, pooled_id).await.unwrap_or(-1)
    })
    .await?;
    let during = done.load(Ordering::Relaxed) - at;
    on_node(nodes.node(coordinator)?, KafkaNode::restart).await?;
    let back = whole_again(observer, topics).await?;
    log.push(format!(
        "kill -9 node {coordinator} ({what}): coordinator moved to node {moved_to} after \
         {after:.1?}; {during} requests finished meanwhile; restarted, all replicas in sync \
         {back:.1?} later"
    ));
    progress(done, 200).await?;

    // 3. SIGSTOP a node longer than the request timeout and the broker session timeout.
    let md = metadata(observer, topics).await?;
    let frozen = md.leader(&topics.audit, 1).ok_or("audit/1 has no leader")?;
    on_node(nodes.node(frozen)?, KafkaNode::pause).await?;
    let at = done.load(Ordering::Relaxed);
    tokio::time::sleep(PAUSE).await;
    let audit_leader = metadata(observer, topics)
        .await
        .ok()
        .and_then(|md| md.leader(&topics.audit, 1))
        .unwrap_or(-1);
    let during = done.load(Ordering::Relaxed) - at;
    on_node(nodes.node(frozen)?, KafkaNode::resume).await?;
    let back = whole_again(observer, topics).await?;
    log.push(format!(
        "SIGSTOP node {frozen} (leader of audit/1) for {PAUSE:?}: audit/1 led by node \
         {audit_leader} at the end of the pause; {during} requests finished during the pause; \
         SIGCONT, all replicas in sync {back:.1?} later"
    ));
    progress(done, 200).await?;
    Ok(log)
}

async fn faults_under_load(broker: BrokerUnderTest) -> ScenarioResult {
    let Some(nodes) = KafkaNodes::from_env()? else {
        return Err(format!(
            "{} is not set: this scenario kills broker processes, so it runs only on the \
             cluster `cargo xtask integration --broker kafka` starts",
            klamm_integration::nodes::CLUSTER_ENV
        )
        .into());
    };
    let topics = Topics::create(&broker, "faults").await?;
    let pool = pool_load::pool(broker.bootstrap(), &topics.orders, POOL_SIZE, None, |b| {
        b.operation_timeout(Duration::from_secs(20))
            .producer(|p| p.linger(Duration::ZERO).request_timeout(REQUEST_TIMEOUT))
    })
    .await?;
    let pooled_id = pool
        .transactional_ids()
        .next()
        .ok_or("an empty pool")?
        .to_owned();
    let observer = Cluster::builder()
        .bootstrap(broker.bootstrap())
        .connect()
        .await?;
    whole_again(&observer, &topics).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let load = {
        let (pool, topics) = (pool.clone(), topics.clone());
        let (stop, done) = (Arc::clone(&stop), Arc::clone(&done));
        tokio::spawn(async move {
            let load = Load {
                clients: CLIENTS,
                per_client: MAX_PER_CLIENT,
                order_size: 16,
            };
            pool_load::run_clients(&pool, &topics, load, stop, done).await
        })
    };
    let injected = inject(&nodes, &observer, &topics, &pooled_id, &done).await;
    stop.store(true, Ordering::Relaxed);
    let outcomes = load.await??;
    observer.close();
    let metrics = pool.metrics();
    pool.close(Duration::from_secs(10)).await;
    let log = injected?;
    let unknown_committed = pool_load::check(&broker, &topics, &outcomes).await?;
    println!("faults on {}:", broker.kind());
    for line in &log {
        println!("  {line}");
    }
    println!(
        "  {} requests: {} committed, {} rejected by the handler, {} failed, {} unknown ({} of \
         them committed); producers replaced: {}, created: {}, commit failures: {}, abort \
         failures: {}; exactly-once held (librdkafka and klamm-net read_committed)",
        outcomes.len(),
        pool_load::count(&outcomes, Outcome::Committed),
        pool_load::count(&outcomes, Outcome::Rejected),
        pool_load::count(&outcomes, Outcome::Failed),
        pool_load::count(&outcomes, Outcome::Unknown),
        unknown_committed,
        metrics.replacements,
        metrics.creates,
        metrics.commit_failures,
        metrics.abort_failures,
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_faults_under_pool_load() {
    scenario::run(
        "kafka_faults_under_pool_load",
        Needs {
            transaction_markers: true,
            process_control: true,
            ..Needs::NOTHING
        },
        Duration::from_secs(600),
        faults_under_load,
    )
    .await;
}
