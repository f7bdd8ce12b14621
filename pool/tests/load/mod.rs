//! Issue 8's load with records: concurrent clients, each request one transaction writing an
//! order and an audit record through a pool of klamm-txn record producers that share one
//! klamm-net cluster, against klamm-testkit; then the exactly-once check, read back the way a
//! `read_committed` consumer reads (klamm-net's reader, as the orders service example does).

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use klamm_net::read::{Isolation, read_topic};
use klamm_pool::{
    CommitOutcome, KafkaTxnProducer, PoolError, PooledProducer, ProducerFactory, TransactionError,
    TransactionalPool, TxnProducerFactory,
};
use klamm_producer::ProducerRecord;
use klamm_testkit::Cluster;
use klamm_txn::TxnError;

/// The orders topic.
pub const ORDERS: &str = "orders";
/// The audit topic.
pub const AUDIT: &str = "audit";
/// The client id of the pool's connections.
pub const POOL_CLIENT_ID: &str = "orders-pool";
/// Brokers of the testkit cluster.
pub const BROKERS: i32 = 3;

/// A testkit cluster with 3 brokers and both topics (3 partitions each).
pub async fn testkit() -> Arc<Cluster> {
    Arc::new(
        Cluster::builder()
            .brokers(BROKERS)
            .topic(ORDERS, 3)
            .topic(AUDIT, 3)
            .start()
            .await
            .expect("testkit starts"),
    )
}

/// The record pool under test: `size` producers `{prefix}-0..`, all on one shared cluster,
/// each on its own connections (the factory's default).
pub async fn record_pool(
    kit: &Cluster,
    prefix: &str,
    size: usize,
) -> TransactionalPool<TxnProducerFactory> {
    record_pool_sharing(kit, prefix, size, false).await
}

/// As [`record_pool`], with every producer on one connection per broker if `shared`.
pub async fn record_pool_sharing(
    kit: &Cluster,
    prefix: &str,
    size: usize,
    shared: bool,
) -> TransactionalPool<TxnProducerFactory> {
    record_pool_with(kit, prefix, size, shared, None).await
}

/// As [`record_pool`], with group commit (`max_group`, `max_group_delay`).
pub async fn record_pool_grouped(
    kit: &Cluster,
    prefix: &str,
    size: usize,
    max_group: usize,
    max_group_delay: Duration,
) -> TransactionalPool<TxnProducerFactory> {
    record_pool_with(kit, prefix, size, false, Some((max_group, max_group_delay))).await
}

async fn record_pool_with(
    kit: &Cluster,
    prefix: &str,
    size: usize,
    shared: bool,
    group: Option<(usize, Duration)>,
) -> TransactionalPool<TxnProducerFactory> {
    let bootstrap = kit.bootstrap();
    // Shared connections carry every producer's requests: room for each one's five.
    let connection = klamm_net::ConnectionConfig::builder()
        .client_id(POOL_CLIENT_ID)
        .max_in_flight(if shared { size * 5 } else { 5 })
        .build()
        .expect("connection settings");
    let factory = TxnProducerFactory::connect(move |b| {
        b.bootstrap(&bootstrap)
            .connection(connection.clone())
            .operation_timeout(Duration::from_secs(20))
            .producer(|p| p.client_id(POOL_CLIENT_ID).linger(Duration::ZERO))
    })
    .await
    .expect("the shared cluster connects")
    .share_connections(shared);
    let mut builder = TransactionalPool::builder()
        .factory(factory)
        .id_prefix(prefix)
        .size(size)
        .checkout_timeout(Duration::from_secs(60))
        .replace_backoff(Duration::from_millis(20), Duration::from_millis(500));
    if let Some((max_group, delay)) = group {
        builder = builder.group_commit(max_group, delay);
    }
    builder.build().await.expect("the pool builds")
}

/// The shape of a load run.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Prefix of every key this load writes (tells runs on one cluster apart).
    pub tag: &'static str,
    /// Concurrent clients.
    pub clients: usize,
    /// Requests per client, one after the other.
    pub per_client: usize,
    /// Every `fail_every`th request of a client writes both records, then its handler fails
    /// (the transaction is aborted); 0 for none.
    pub fail_every: usize,
}

impl Load {
    /// Requests in all.
    pub fn total(&self) -> usize {
        self.clients * self.per_client
    }
}

/// What a client saw of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Committed.
    Committed,
    /// Failed, with its transaction aborted (or never begun): its records must stay
    /// invisible.
    Failed,
    /// The commit's outcome is unknown: both records visible once, or neither.
    Unknown,
}

/// The handler's own failure.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The producer refused a record.
    #[error(transparent)]
    Txn(#[from] TxnError),
    /// The request was rejected after writing (the test's every-`fail_every`th request).
    #[error("rejected by the handler")]
    Rejected,
}

impl Load {
    /// A request's key: the load's tag, client and request number.
    pub fn key(&self, client: usize, i: usize) -> String {
        format!("{}{client}-{i}", self.tag)
    }
}

/// Runs `load` through `pool`; `done` counts finished requests (a fault injector watches it).
/// Returns every request's outcome, indexed `client * per_client + i`.
pub async fn run<F: ProducerFactory<Producer = KafkaTxnProducer>>(
    pool: &TransactionalPool<F>,
    load: Load,
    done: Arc<AtomicU64>,
) -> Vec<Outcome> {
    run_as(pool, load, done, None).await
}

/// As [`run`], every request through `transaction_grouped` (group commit if the pool has
/// it), and every `panic_every`th request of a client (0: none) panicking in its handler
/// after writing both records.
pub async fn run_grouped<F: ProducerFactory<Producer = KafkaTxnProducer>>(
    pool: &TransactionalPool<F>,
    load: Load,
    done: Arc<AtomicU64>,
    panic_every: usize,
) -> Vec<Outcome> {
    run_as(pool, load, done, Some(panic_every)).await
}

/// `grouped`: `None` for `transaction`, `Some(panic_every)` for `transaction_grouped`.
async fn run_as<F: ProducerFactory<Producer = KafkaTxnProducer>>(
    pool: &TransactionalPool<F>,
    load: Load,
    done: Arc<AtomicU64>,
    grouped: Option<usize>,
) -> Vec<Outcome> {
    let mut tasks = Vec::new();
    for c in 0..load.clients {
        let (pool, done) = (pool.clone(), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(load.per_client);
            for i in 0..load.per_client {
                let fail = load.fail_every > 0 && i % load.fail_every == load.fail_every - 1;
                let key = load.key(c, i);
                out.push(match grouped {
                    None => request(&pool, key, fail).await,
                    Some(panic_every) => {
                        let handler = if fail {
                            Handler::Reject
                        } else if panic_every > 0 && i % panic_every == panic_every / 2 {
                            Handler::Panic
                        } else {
                            Handler::Accept
                        };
                        request_grouped(&pool, key, handler).await
                    }
                });
                done.fetch_add(1, Ordering::Relaxed);
            }
            out
        }));
    }
    let mut outcomes = Vec::with_capacity(load.total());
    for t in tasks {
        outcomes.extend(t.await.expect("client task"));
    }
    outcomes
}

async fn request<F: ProducerFactory<Producer = KafkaTxnProducer>>(
    pool: &TransactionalPool<F>,
    key: String,
    fail: bool,
) -> Outcome {
    let r = pool
        .transaction(|txn| async move {
            let order = txn
                .send(ProducerRecord::new(ORDERS).key(key.clone()).value("order"))
                .await?;
            let audit = txn
                .send(ProducerRecord::new(AUDIT).key(key).value("created"))
                .await?;
            if fail {
                return Err(AppError::Rejected);
            }
            Ok((order, audit))
        })
        .await;
    outcome(r).await
}

/// What a grouped request's handler does after writing both records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// Returns `Ok`.
    Accept,
    /// Returns `Err`.
    Reject,
    /// Panics.
    Panic,
}

/// One request through `transaction_grouped`: the closure may run more than once (when
/// another request of its group fails), writing its records anew each time.
pub async fn request_grouped<F: ProducerFactory<Producer = KafkaTxnProducer>>(
    pool: &TransactionalPool<F>,
    key: String,
    handler: Handler,
) -> Outcome {
    let r = pool
        .transaction_grouped(|txn| {
            let key = key.clone();
            async move {
                let order = txn
                    .send(ProducerRecord::new(ORDERS).key(key.clone()).value("order"))
                    .await?;
                let audit = txn
                    .send(ProducerRecord::new(AUDIT).key(key.clone()).value("created"))
                    .await?;
                match handler {
                    Handler::Accept => Ok((order, audit)),
                    Handler::Reject => Err(AppError::Rejected),
                    Handler::Panic => panic!("the handler of {key} panicked"),
                }
            }
        })
        .await;
    outcome(r).await
}

/// What a client saw, from a transaction's result (grouped or not).
async fn outcome(
    r: Result<
        (
            klamm_producer::DeliveryFuture,
            klamm_producer::DeliveryFuture,
        ),
        TransactionError<AppError>,
    >,
) -> Outcome {
    match r {
        Ok((order, audit)) => {
            // Committed: the commit flushed both, so both deliveries are complete.
            order.await.expect("a committed order was delivered");
            audit.await.expect("a committed audit record was delivered");
            Outcome::Committed
        }
        Err(TransactionError::Pool(PoolError::Commit {
            outcome: CommitOutcome::Unknown,
            ..
        })) => Outcome::Unknown,
        Err(e) => {
            // LOAD_DEBUG=1 shows why requests failed (beyond the handler's own rejections).
            if std::env::var_os("LOAD_DEBUG").is_some()
                && !matches!(e, TransactionError::Aborted(AppError::Rejected))
            {
                eprintln!("request failed: {e}");
            }
            Outcome::Failed
        }
    }
}

/// The exactly-once check's numbers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Requests committed, failed, unknown.
    pub committed: usize,
    /// Requests that failed.
    pub failed: usize,
    /// Requests whose outcome was unknown.
    pub unknown: usize,
    /// Unknown-outcome requests that turned out committed.
    pub unknown_committed: usize,
    /// Records visible (orders + audit).
    pub visible: usize,
    /// Records visible more than once (counting each extra copy).
    pub duplicates: usize,
    /// Committed requests' records not visible.
    pub missing: usize,
    /// Failed requests' records visible.
    pub failed_visible: usize,
    /// Unknown requests with only one of their two records visible.
    pub torn: usize,
    /// Visible records that no request of this load wrote.
    pub strangers: usize,
    /// Partitions whose last stable offset is behind the high watermark once every request
    /// finished: a transaction left open (a `read_committed` reader would stall there).
    pub hanging: usize,
    /// Time the read-back took.
    pub read_back: Duration,
}

impl Report {
    /// True when the run was exactly-once.
    pub fn exactly_once(&self) -> bool {
        self.duplicates == 0
            && self.missing == 0
            && self.failed_visible == 0
            && self.torn == 0
            && self.strangers == 0
            && self.hanging == 0
    }
}

/// Reads both topics back `read_committed` and checks every request's records.
pub async fn check(kit: &Cluster, load: Load, outcomes: &[Outcome]) -> Report {
    let start = Instant::now();
    let reader = klamm_net::Cluster::builder()
        .bootstrap(kit.bootstrap())
        .connect()
        .await
        .expect("reader connects");
    let mut counts = [vec![0u32; load.total()], vec![0u32; load.total()]];
    let mut report = Report::default();
    for topic in [ORDERS, AUDIT] {
        for p in 0.. {
            let Some((hw, lso)) = kit.offsets(topic, p) else {
                break;
            };
            report.hanging += usize::from(lso != hw);
        }
    }
    for (t, topic) in [ORDERS, AUDIT].into_iter().enumerate() {
        let partitions = read_topic(&reader, topic, Isolation::ReadCommitted)
            .await
            .unwrap_or_else(|e| panic!("read_committed {topic}: {e}"));
        for r in partitions.into_iter().flatten() {
            report.visible += 1;
            match parse_key(&r.key.unwrap_or_default(), load) {
                Some(idx) => counts[t][idx] += 1,
                None => report.strangers += 1,
            }
        }
    }
    reader.close();
    for (idx, outcome) in outcomes.iter().enumerate() {
        let (o, a) = (counts[0][idx], counts[1][idx]);
        report.duplicates += (o.saturating_sub(1) + a.saturating_sub(1)) as usize;
        match outcome {
            Outcome::Committed => {
                report.committed += 1;
                report.missing += usize::from(o == 0) + usize::from(a == 0);
            }
            Outcome::Failed => {
                report.failed += 1;
                report.failed_visible += usize::from(o > 0) + usize::from(a > 0);
            }
            Outcome::Unknown => {
                report.unknown += 1;
                if (o > 0) != (a > 0) {
                    report.torn += 1;
                } else if o > 0 {
                    report.unknown_committed += 1;
                }
            }
        }
    }
    report.read_back = start.elapsed();
    report
}

fn parse_key(k: &[u8], load: Load) -> Option<usize> {
    let s = std::str::from_utf8(k).ok()?.strip_prefix(load.tag)?;
    let (c, i) = s.split_once('-')?;
    let (c, i): (usize, usize) = (c.parse().ok()?, i.parse().ok()?);
    (c < load.clients && i < load.per_client).then_some(c * load.per_client + i)
}

/// Distinct connections that sent a request to the testkit (from its arrival log) whose
/// client id is `client_id`, or any client when `None`.
pub fn connections(kit: &Cluster, client_id: Option<&str>) -> BTreeSet<u64> {
    kit.arrivals()
        .iter()
        .filter(|a| client_id.is_none_or(|c| a.client_id.as_deref() == Some(c)))
        .map(|a| a.connection)
        .collect()
}

/// Producer counters summed over the pool's current producers (borrowing every one of them,
/// so call it when the load is over): `(produce requests, batch retries, batches failed)`.
/// A Produce answered OUT_OF_ORDER_SEQUENCE_NUMBER is either retried or failed, so
/// `retries + failed == 0` proves none was.
pub async fn producer_counters(pool: &TransactionalPool<TxnProducerFactory>) -> (u64, u64, u64) {
    borrow_all(pool)
        .await
        .iter()
        .fold((0, 0, 0), |(r, t, f), g| {
            let m = g.backend().metrics();
            (r + m.requests, t + m.retries, f + m.batches_failed)
        })
}

/// Borrows every producer of the pool at once (so call it when no load runs): each guard is
/// one slot's producer, returned when the guards are dropped.
pub async fn borrow_all(
    pool: &TransactionalPool<TxnProducerFactory>,
) -> Vec<PooledProducer<TxnProducerFactory>> {
    let mut guards = Vec::new();
    for _ in 0..pool.config().size {
        guards.push(pool.get().await.expect("an idle producer"));
    }
    guards
}

/// Throttle time (ms) the pool's producers were told to wait, summed over every producer
/// (borrowing each, so call it when no load runs).
pub async fn throttle_time_ms(pool: &TransactionalPool<TxnProducerFactory>) -> u64 {
    borrow_all(pool)
        .await
        .iter()
        .map(|g| g.backend().metrics().throttle_time_ms)
        .sum()
}

/// What the testkit itself counted of sequence trouble in Produce answers:
/// `(OUT_OF_ORDER_SEQUENCE_NUMBER answers, DUPLICATE_SEQUENCE_NUMBER answers, retried batches
/// recognised as duplicates)`, and every Produce error code sent, for the failure message.
pub fn sequence_answers(kit: &Cluster) -> ((u64, u64, u64), std::collections::BTreeMap<i16, u64>) {
    use klamm_protocol::ApiKey;
    use klamm_testkit::codes;
    let errors = kit.error_counts(ApiKey::Produce);
    let count = |c| errors.get(&c).copied().unwrap_or(0);
    (
        (
            count(codes::OUT_OF_ORDER_SEQUENCE_NUMBER),
            count(codes::DUPLICATE_SEQUENCE_NUMBER),
            kit.duplicate_batches(),
        ),
        errors,
    )
}

/// Asserts from the testkit's counters that no broker answered a Produce with
/// OUT_OF_ORDER_SEQUENCE_NUMBER (45) or DUPLICATE_SEQUENCE_NUMBER (46).
pub fn assert_no_sequence_errors(kit: &Cluster) {
    let ((out_of_order, duplicate, _), errors) = sequence_answers(kit);
    assert_eq!(
        (out_of_order, duplicate),
        (0, 0),
        "the brokers answered no Produce with OUT_OF_ORDER_SEQUENCE_NUMBER or \
         DUPLICATE_SEQUENCE_NUMBER; Produce errors sent: {errors:?}"
    );
}

/// What a load run with a fault in the middle saw.
#[derive(Debug)]
pub struct FaultRun {
    /// Every request's outcome.
    pub outcomes: Vec<Outcome>,
    /// Requests finished when the fault started.
    pub done_at_fault: u64,
    /// Requests finished when the fault was over.
    pub done_after_fault: u64,
}

/// Runs `load` through `pool` and, once a third of the requests finished, `fault` (while the
/// clients keep going). Asserts the fault overlapped real load: requests were still running
/// when it was over.
pub async fn run_with_fault<Fut: std::future::Future<Output = ()>>(
    pool: &TransactionalPool<TxnProducerFactory>,
    load: Load,
    fault: Fut,
) -> FaultRun {
    let done = Arc::new(AtomicU64::new(0));
    let clients = tokio::spawn({
        let (pool, done) = (pool.clone(), Arc::clone(&done));
        async move { run(&pool, load, done).await }
    });
    let third = load.total() as u64 / 3;
    while done.load(Ordering::Relaxed) < third {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let done_at_fault = done.load(Ordering::Relaxed);
    fault.await;
    let done_after_fault = done.load(Ordering::Relaxed);
    let outcomes = tokio::time::timeout(Duration::from_secs(240), clients)
        .await
        .expect("the load finishes")
        .expect("the clients ran");
    assert!(
        done_after_fault < load.total() as u64,
        "the fault overlapped the load ({done_at_fault}..{done_after_fault} of {})",
        load.total()
    );
    FaultRun {
        outcomes,
        done_at_fault,
        done_after_fault,
    }
}

/// `(slot, producer id, epoch)` of every producer of the pool (borrowing each, so call it when
/// no load runs).
pub async fn producer_ids(pool: &TransactionalPool<TxnProducerFactory>) -> Vec<(usize, i64, i16)> {
    let mut ids: Vec<_> = borrow_all(pool)
        .await
        .iter()
        .map(|g| {
            let p = g.status().producer.expect("initialised");
            (g.slot(), p.id, p.epoch)
        })
        .collect();
    ids.sort_unstable();
    ids
}
