//! Issue 8's benchmark: the pool of 8 vs the anti-pattern, a new transactional producer with a
//! random transactional id per request (build, init, begin, send, commit, close), 64
//! concurrent clients, one record per transaction, against klamm-testkit (3 brokers, in this
//! process) in the same run.
//!
//! Both sides are klamm-txn's record-producing `TransactionalProducer` on klamm-producer. The
//! pool's producers share one klamm-net cluster (`TxnProducerFactory`), each on its own
//! connections (the default); each per-request producer connects its own. Two more rows show
//! the pool with its producers sharing one connection per broker, and with a cluster per
//! producer. Each side runs on its own fresh testkit cluster. Prints transactions/s, CPU per
//! transaction, the ratio, and the connections each side opened (total, and the most open at
//! once, from the testkit's arrival log).
//!
//! A second, shorter table runs the pool (both ways) and the anti-pattern against a testkit
//! that holds every write that Kafka makes wait on replication or the transaction log
//! (Produce, EndTxn, InitProducerId, AddPartitionsToTxn) for about a millisecond, with the
//! connection muted as Kafka mutes it: what changes when the broker is not instant.
//!
//! In that table a last row runs the pool of 8 with group commit (`transaction_grouped`, up to
//! 64 requests per Kafka transaction, no added delay), with more requests per client than the
//! other rows so that its run lasts long enough to measure; every row there also shows the
//! p50 / p99 latency of a request (a whole transaction, checkout included) and the ratios of
//! group commit to the fixed pool.
//!
//! `cargo bench -p klamm-pool` (`-- --quick` for a short run); `cargo xtask bench pool`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use klamm_pool::{
    FnFactory, KafkaTxnProducer, ProducerFactory, TransactionalPool, TxnProducerFactory,
};
use klamm_producer::ProducerRecord;
use klamm_protocol::ApiKey;
use klamm_testkit::{Cluster, Fault, FaultAction, usage};
use klamm_txn::{TransactionalProducer, TxnError};

const CLIENTS: usize = 64;
const POOL_SIZE: usize = 8;
const TOPIC: &str = "bench";
const POOL_CLIENT: &str = "bench-pool";
const ANTI_CLIENT: &str = "bench-per-request";
const UNSHARED_CLIENT: &str = "bench-pool-unshared";
const SHARED_CLIENT: &str = "bench-pool-shared";
const GROUPED_CLIENT: &str = "bench-pool-grouped";
/// Group commit's `max_group` in the benchmark: every client could share one transaction.
const MAX_GROUP: usize = CLIENTS;
/// How long the broker holds a write in the second table (tokio's timer rounds it up to its
/// next millisecond tick).
const BROKER_LATENCY: Duration = Duration::from_millis(1);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Run {
    transactions: u64,
    elapsed: Duration,
    /// Process CPU time (client and in-process testkit together) over the run, if known.
    cpu: Option<Duration>,
    /// Connections that carried a request.
    connections: usize,
    /// Most connections in use at once (each from its first to its last request).
    peak_open: usize,
    /// Every request's latency, sorted.
    latencies: Vec<Duration>,
    /// Group commit: the mean number of requests per Kafka transaction (1 without it).
    group_size: f64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.transactions as f64 / self.elapsed.as_secs_f64()
    }

    /// CPU microseconds per transaction, broker included.
    fn cpu_per_txn(&self) -> Option<f64> {
        self.cpu
            .map(|c| c.as_secs_f64() * 1e6 / self.transactions as f64)
    }

    /// The `q` quantile (0..=1) of the request latencies.
    fn latency(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let last = self.latencies.len() - 1;
        self.latencies[((last as f64) * q).round() as usize]
    }
}

/// Collects the latencies the client tasks return, sorted.
fn sorted(mut latencies: Vec<Duration>) -> Vec<Duration> {
    latencies.sort_unstable();
    latencies
}

/// CPU time used since `since` (from [`usage::cpu_time`]).
fn cpu_since(since: Option<Duration>) -> Option<Duration> {
    usage::cpu_time()
        .zip(since)
        .map(|(now, then)| now.saturating_sub(then))
}

/// Connections of `client_id` since `since`: how many, and the most in use at once.
fn connections(kit: &Cluster, client_id: &str, since: Instant) -> (usize, usize) {
    let mut spans: BTreeMap<u64, (Instant, Instant)> = BTreeMap::new();
    for a in kit.arrivals() {
        if a.at < since || a.client_id.as_deref() != Some(client_id) {
            continue;
        }
        let span = spans.entry(a.connection).or_insert((a.at, a.at));
        span.0 = span.0.min(a.at);
        span.1 = span.1.max(a.at);
    }
    let mut events: Vec<(Instant, i32)> = spans
        .values()
        .flat_map(|&(open, last)| [(open, 1), (last, -1)])
        .collect();
    // At equal instants count openings first: a connection is open at its own last request.
    events.sort_by_key(|&(at, delta)| (at, -delta));
    let (mut open, mut peak) = (0i32, 0i32);
    for (_, delta) in events {
        open += delta;
        peak = peak.max(open);
    }
    (spans.len(), usize::try_from(peak).unwrap_or(0))
}

fn connection(client_id: &str) -> Result<klamm_net::ConnectionConfig, BoxError> {
    Ok(klamm_net::ConnectionConfig::builder()
        .client_id(client_id)
        .build()?)
}

fn record(c: usize, i: u64) -> ProducerRecord {
    ProducerRecord::new(TOPIC)
        .key(format!("{c}-{i}"))
        .value("order")
}

/// The pool on one [`TxnProducerFactory`] cluster: each producer on its own connections, or
/// all sharing one per broker (`shared`; their connections then get room for every producer's
/// five requests in flight).
async fn run_pool(kit: &Cluster, per_client: u64, shared: bool) -> Result<Run, BoxError> {
    run_pool_as(kit, per_client, shared, false).await
}

/// The pool of [`run_pool`] (a connection each) with group commit.
async fn run_pool_grouped(kit: &Cluster, per_client: u64) -> Result<Run, BoxError> {
    run_pool_as(kit, per_client, false, true).await
}

async fn run_pool_as(
    kit: &Cluster,
    per_client: u64,
    shared: bool,
    grouped: bool,
) -> Result<Run, BoxError> {
    let bootstrap = kit.bootstrap();
    let client_id = match (shared, grouped) {
        (_, true) => GROUPED_CLIENT,
        (true, false) => SHARED_CLIENT,
        (false, false) => POOL_CLIENT,
    };
    let conn = klamm_net::ConnectionConfig::builder()
        .client_id(client_id)
        .max_in_flight(if shared { POOL_SIZE * 5 } else { 5 })
        .build()?;
    let factory = TxnProducerFactory::connect(move |b| {
        b.bootstrap(&bootstrap)
            .connection(conn.clone())
            .producer(|p| p.client_id(client_id).linger(Duration::ZERO))
    })
    .await?
    .share_connections(shared);
    let cluster = factory.cluster().clone();
    let run = drive_pool(kit, factory, client_id, client_id, per_client, grouped).await;
    cluster.close();
    run
}

/// The pool with a klamm-net cluster per producer (`TransactionalProducer::builder().build()`
/// in an [`FnFactory`]): up to size x brokers connections.
async fn run_pool_unshared(kit: &Cluster, per_client: u64) -> Result<Run, BoxError> {
    let bootstrap: Arc<str> = Arc::from(kit.bootstrap());
    let factory = FnFactory(move |id: String| {
        let bootstrap = Arc::clone(&bootstrap);
        async move {
            let conn = klamm_net::ConnectionConfig::builder()
                .client_id(UNSHARED_CLIENT)
                .build()
                .map_err(|e| {
                    TxnError::Producer(klamm_producer::ProducerError::Fatal(e.to_string().into()))
                })?;
            let p = TransactionalProducer::builder()
                .bootstrap(&*bootstrap)
                .connection(conn)
                .transactional_id(id)
                .producer(|p| p.client_id(UNSHARED_CLIENT).linger(Duration::ZERO))
                .build()
                .await?;
            p.init_transactions().await?;
            Ok::<_, TxnError>(p)
        }
    });
    drive_pool(
        kit,
        factory,
        "bench-unshared",
        UNSHARED_CLIENT,
        per_client,
        false,
    )
    .await
}

async fn drive_pool<F: ProducerFactory<Producer = KafkaTxnProducer>>(
    kit: &Cluster,
    factory: F,
    prefix: &str,
    client_id: &str,
    per_client: u64,
    grouped: bool,
) -> Result<Run, BoxError> {
    let mut builder = TransactionalPool::builder()
        .factory(factory)
        .id_prefix(prefix)
        .size(POOL_SIZE)
        .checkout_timeout(Duration::from_secs(60));
    if grouped {
        builder = builder.group_commit(MAX_GROUP, Duration::ZERO);
    }
    let pool = builder.build().await?;
    let since = Instant::now();
    let start = Instant::now();
    let cpu0 = usage::cpu_time();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_client as usize);
            for i in 0..per_client {
                let t0 = Instant::now();
                let send = |txn: klamm_pool::Txn<KafkaTxnProducer>| async move {
                    txn.send(record(c, i)).await
                };
                let delivery = if grouped {
                    pool.transaction_grouped(send).await?
                } else {
                    pool.transaction(send).await?
                };
                delivery.await?;
                latencies.push(t0.elapsed());
            }
            Ok::<_, BoxError>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = start.elapsed();
    let cpu = cpu_since(cpu0);
    let (connections, peak_open) = connections(kit, client_id, since);
    let metrics = pool.metrics();
    pool.close(Duration::from_secs(5)).await;
    Ok(Run {
        transactions: CLIENTS as u64 * per_client,
        elapsed,
        cpu,
        connections,
        peak_open,
        latencies: sorted(latencies),
        group_size: if grouped {
            metrics.group_size_avg()
        } else {
            1.0
        },
    })
}

/// One request the anti-pattern's way: a new producer with a fresh transactional id.
async fn per_request(bootstrap: &str, id: String, c: usize, i: u64) -> Result<(), BoxError> {
    let p = TransactionalProducer::builder()
        .bootstrap(bootstrap)
        .connection(connection(ANTI_CLIENT)?)
        .transactional_id(id)
        .producer(|p| p.client_id(ANTI_CLIENT).linger(Duration::ZERO))
        .build()
        .await?;
    let result = async {
        p.init_transactions().await?;
        p.begin_transaction()?;
        let delivery = p.send(record(c, i)).await?;
        p.commit_transaction().await?;
        delivery.await?;
        Ok::<_, BoxError>(())
    }
    .await;
    p.close(Duration::from_secs(5)).await?;
    result
}

async fn run_anti_pattern(kit: &Cluster, per_client: u64) -> Result<Run, BoxError> {
    let since = Instant::now();
    let start = Instant::now();
    let cpu0 = usage::cpu_time();
    let seq = Arc::new(AtomicU64::new(0));
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let bootstrap: Arc<str> = Arc::from(kit.bootstrap());
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (seq, bootstrap) = (Arc::clone(&seq), Arc::clone(&bootstrap));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_client as usize);
            for i in 0..per_client {
                let t0 = Instant::now();
                // A "random" id per request, as the sarama service did with UUIDs.
                let id = format!("req-{nonce:x}-{}", seq.fetch_add(1, Ordering::Relaxed));
                per_request(&bootstrap, id, c, i).await?;
                latencies.push(t0.elapsed());
            }
            Ok::<_, BoxError>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = start.elapsed();
    let cpu = cpu_since(cpu0);
    let (connections, peak_open) = connections(kit, ANTI_CLIENT, since);
    Ok(Run {
        transactions: CLIENTS as u64 * per_client,
        elapsed,
        cpu,
        connections,
        peak_open,
        latencies: sorted(latencies),
        group_size: 1.0,
    })
}

async fn testkit() -> Result<Cluster, BoxError> {
    Ok(Cluster::builder()
        .brokers(3)
        .topic(TOPIC, 6)
        .start()
        .await?)
}

/// A testkit that holds every replicated or transaction-log write for [`BROKER_LATENCY`].
async fn slow_testkit() -> Result<Cluster, BoxError> {
    let kit = testkit().await?;
    for api in [
        ApiKey::Produce,
        ApiKey::EndTxn,
        ApiKey::InitProducerId,
        ApiKey::AddPartitionsToTxn,
    ] {
        kit.inject(Fault::new(api, FaultAction::Delay(BROKER_LATENCY)));
    }
    Ok(kit)
}

/// Rows of "transactions" are requests (each one transaction, except with group commit,
/// where a Kafka transaction carries `group` requests on average).
fn print_table(rows: &[(&str, &Run)]) {
    println!(
        "{:<38} {:>9} {:>10} {:>10} {:>10} {:>10} {:>6} {:>12} {:>12}",
        "", "requests", "req/s", "CPU/req", "p50", "p99", "group", "connections", "open at once"
    );
    for (name, r) in rows {
        let cpu = r
            .cpu_per_txn()
            .map_or_else(|| "n/a".to_owned(), |us| format!("{us:.0} us"));
        println!(
            "{name:<38} {:>9} {:>10.0} {cpu:>10} {:>10} {:>10} {:>6.1} {:>12} {:>12}",
            r.transactions,
            r.rate(),
            format!("{:.2} ms", r.latency(0.5).as_secs_f64() * 1e3),
            format!("{:.2} ms", r.latency(0.99).as_secs_f64() * 1e3),
            r.group_size,
            r.connections,
            r.peak_open
        );
    }
}

/// Group commit against the fixed pool: the target is 10x the requests/s with the
/// p99 latency within 3x.
fn print_group_ratios(grouped: &Run, pool: &Run) {
    println!(
        "group commit / pool of {POOL_SIZE}: {:.1}x requests/s (target 10x), p99 {:.2}x \
         (target at most 3x), CPU per request {:.2}x",
        grouped.rate() / pool.rate(),
        grouped.latency(0.99).as_secs_f64() / pool.latency(0.99).as_secs_f64(),
        grouped
            .cpu_per_txn()
            .zip(pool.cpu_per_txn())
            .map_or(f64::NAN, |(g, p)| g / p)
    );
}

fn print_ratios(pool: &Run, anti: &Run, target: &str) {
    println!(
        "ratio pool / per-request: {:.1}x{target}",
        pool.rate() / anti.rate()
    );
    // Both sides are CPU-bound on an instant broker; the ratio of their CPU costs says how far
    // apart they are independently of how many cores each managed to keep busy.
    if let (Some(p), Some(a)) = (pool.cpu_per_txn(), anti.cpu_per_txn()) {
        println!("CPU per transaction, per-request / pool: {:.1}x", a / p);
    }
}

fn main() -> Result<(), BoxError> {
    let quick = std::env::args().any(|a| a == "--quick");
    // `cargo test --benches` runs bench targets without `--bench`: keep that short.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let (pool_n, anti_n, slow_n, grouped_n) = match (smoke, quick) {
        (true, _) => (2, 1, 1, 2),
        (false, true) => (100, 5, 5, 50),
        (false, false) => (1_000, 25, 20, 200),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        // A fresh cluster per side: every random transactional id of the anti-pattern stays
        // on the coordinator (as in Kafka, until transactional.id.expiration.ms); the pool
        // must not pay for the anti-pattern's leftovers, nor the other way round.
        let anti = run_anti_pattern(&testkit().await?, anti_n).await?;
        let pool = run_pool(&testkit().await?, pool_n, false).await?;
        let shared = run_pool(&testkit().await?, pool_n, true).await?;
        let unshared = run_pool_unshared(&testkit().await?, pool_n).await?;
        println!(
            "pool of {POOL_SIZE} vs a transactional producer per request: {CLIENTS} concurrent \
             clients, 1 record per transaction, klamm-testkit with 3 brokers"
        );
        print_table(&[
            ("pool of 8 (a connection each)", &pool),
            ("pool of 8 (shared connections)", &shared),
            ("pool of 8 (a cluster each)", &unshared),
            ("producer per request", &anti),
        ]);
        print_ratios(&pool, &anti, " (target 20x)");

        let slow_anti = run_anti_pattern(&slow_testkit().await?, slow_n).await?;
        let slow_pool = run_pool(&slow_testkit().await?, slow_n, false).await?;
        let slow_shared = run_pool(&slow_testkit().await?, slow_n, true).await?;
        let slow_grouped = run_pool_grouped(&slow_testkit().await?, grouped_n).await?;
        println!();
        println!(
            "the same against a broker that holds each write about {} ms (Produce, EndTxn, \
             InitProducerId, AddPartitionsToTxn), the connection muted meanwhile as Kafka does",
            BROKER_LATENCY.as_millis()
        );
        print_table(&[
            ("pool of 8 (a connection each)", &slow_pool),
            ("pool of 8 (shared connections)", &slow_shared),
            ("producer per request", &slow_anti),
            ("pool of 8, group commit", &slow_grouped),
        ]);
        print_ratios(&slow_pool, &slow_anti, "");
        print_group_ratios(&slow_grouped, &slow_pool);
        println!(
            "(a pool of {POOL_SIZE} has at most {POOL_SIZE} transactions in flight: once the \
             broker's latency, not CPU, bounds a transaction, size the pool for the transactions \
             in flight the rate needs, rate x latency)"
        );
        Ok::<_, BoxError>(())
    })
}
