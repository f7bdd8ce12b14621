//! The pool of 8 vs the anti-pattern (a new transactional client with a random transactional
//! id per request: connect, init, begin, write, commit, close), 64 concurrent clients, one
//! small write per transaction, against klamm-testkit in the same run.
//!
//! The transactional client is klamm-txn's coordinator-level `TxnDriver` and each transaction
//! writes one consumer offset (AddOffsetsToTxn + TxnOffsetCommit + EndTxn): klamm-txn's
//! record-producing `TransactionalProducer` does not exist yet. Both sides pay exactly the same
//! per-transaction work; the anti-pattern adds what a per-request producer costs (connections,
//! metadata, FindCoordinator, InitProducerId).
//!
//! `cargo bench -p klamm-pool` (add `-- --quick` for a short run).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use klamm_pool::{DriverFactory, TransactionalPool};
use klamm_producer::idempotence::TopicPartition;
use klamm_testkit::Cluster;
use klamm_txn::{
    ClusterTransport, ConsumerGroupMetadata, OffsetAndMetadata, TransactionManager, TxnConfig,
    TxnDriver, TxnError,
};

const CLIENTS: usize = 64;
const TOPIC: &str = "bench";

fn offsets(partition: i32, offset: i64) -> Vec<(TopicPartition, OffsetAndMetadata)> {
    let tp = TopicPartition {
        topic: Arc::from(TOPIC),
        partition,
    };
    vec![(tp, OffsetAndMetadata::new(offset))]
}

fn template() -> TxnConfig {
    let mut cfg = TxnConfig::new("");
    cfg.retry_backoff = Duration::from_millis(10);
    cfg.short_backoff = Duration::from_millis(2);
    cfg
}

struct Run {
    transactions: u64,
    elapsed: Duration,
    connections: usize,
}

impl Run {
    fn rate(&self) -> f64 {
        self.transactions as f64 / self.elapsed.as_secs_f64()
    }
}

/// Distinct connections that sent anything since `since`.
fn connections_since(kit: &Cluster, since: Instant) -> usize {
    kit.arrivals()
        .iter()
        .filter(|a| a.at >= since)
        .map(|a| a.connection)
        .collect::<BTreeSet<_>>()
        .len()
}

async fn run_pool(kit: &Cluster, per_client: u64) -> Result<Run, Box<dyn std::error::Error>> {
    let cluster = klamm_net::Cluster::builder()
        .bootstrap(kit.bootstrap())
        .connect()
        .await?;
    let pool = TransactionalPool::builder()
        .factory(DriverFactory::new(cluster.clone(), template()))
        .id_prefix("bench-pool")
        .size(8)
        .checkout_timeout(Duration::from_secs(60))
        .build()
        .await?;
    let since = Instant::now();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let group = ConsumerGroupMetadata::new(format!("pool-{c}"));
            for i in 0..per_client {
                let (group, offs) = (&group, offsets(c as i32 % 6, i as i64));
                pool.transaction(|txn| async move {
                    txn.send_offsets_to_transaction(&offs, group).await
                })
                .await?;
            }
            Ok::<_, klamm_pool::TransactionError<TxnError>>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = start.elapsed();
    let connections = connections_since(kit, since);
    pool.close(Duration::from_secs(5)).await;
    cluster.close();
    Ok(Run {
        transactions: CLIENTS as u64 * per_client,
        elapsed,
        connections,
    })
}

async fn per_request(
    kit: &Cluster,
    id: String,
    c: usize,
    i: u64,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let cluster = klamm_net::Cluster::builder()
        .bootstrap(kit.bootstrap())
        .connect()
        .await?;
    let mut cfg = template();
    cfg.transactional_id = Arc::from(id);
    let driver = TxnDriver::new(
        Arc::new(TransactionManager::new(cfg)),
        ClusterTransport::new(cluster.clone()),
    );
    let result = async {
        driver.init_transactions().await?;
        driver.begin_transaction()?;
        let group = ConsumerGroupMetadata::new(format!("anti-{c}"));
        driver
            .send_offsets_to_transaction(&offsets(c as i32 % 6, i as i64), &group)
            .await?;
        driver.commit_transaction(async { Ok(()) }).await
    }
    .await;
    cluster.close();
    Ok(result?)
}

async fn run_anti_pattern(
    kit: &Arc<Cluster>,
    per_client: u64,
) -> Result<Run, Box<dyn std::error::Error>> {
    let since = Instant::now();
    let start = Instant::now();
    let seq = Arc::new(AtomicU64::new(0));
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (kit, seq) = (Arc::clone(kit), Arc::clone(&seq));
        tasks.push(tokio::spawn(async move {
            for i in 0..per_client {
                // A "random" id per request, as the sarama service did with UUIDs.
                let id = format!("req-{nonce:x}-{}", seq.fetch_add(1, Ordering::Relaxed));
                per_request(&kit, id, c, i).await?;
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        }));
    }
    for t in tasks {
        t.await?.map_err(|e| e.to_string())?;
    }
    Ok(Run {
        transactions: CLIENTS as u64 * per_client,
        elapsed: start.elapsed(),
        connections: connections_since(kit, since),
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    // `cargo test --benches` runs bench targets with `--test`/no `--bench`: keep that short.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let (pool_n, anti_n) = match (smoke, quick) {
        (true, _) => (2, 1),
        (false, true) => (50, 3),
        (false, false) => (300, 15),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let kit = Arc::new(
            Cluster::builder()
                .brokers(3)
                .topic(TOPIC, 6)
                .start()
                .await?,
        );
        let anti = run_anti_pattern(&kit, anti_n).await?;
        let pool = run_pool(&kit, pool_n).await?;
        println!(
            "pool vs transactional client per request: {CLIENTS} clients, 1 offset per transaction, \
             klamm-testkit with 3 brokers"
        );
        println!("{:<28} {:>12} {:>12} {:>12}", "", "transactions", "txn/s", "connections");
        for (name, r) in [("pool of 8 (shared cluster)", &pool), ("client per request", &anti)] {
            println!(
                "{name:<28} {:>12} {:>12.0} {:>12}",
                r.transactions,
                r.rate(),
                r.connections
            );
        }
        println!("ratio pool / per-request: {:.1}x", pool.rate() / anti.rate());
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
