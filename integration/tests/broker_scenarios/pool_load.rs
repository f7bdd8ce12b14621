//! The orders workload through klamm-pool, shared by the pool scenario and the fault
//! scenarios: concurrent clients, each request one transaction writing an order and an
//! audit record; every `FAIL_EVERY`th request is rejected by its handler *after* both records
//! were acknowledged, so its transaction is aborted with data in the log. Then the check from
//! outside: under `read_committed` (librdkafka's consumer and klamm-net's reader) every
//! committed request appears exactly once in both topics, no failed request at all, an
//! unknown-outcome request fully or not at all; under `read_uncommitted` the rejected
//! requests' records are there (the abort really hid written data).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use klamm_integration::kafka::{self, ReadRecord};
use klamm_integration::klamm::read_with_klamm;
use klamm_integration::{BrokerUnderTest, ScenarioError};
use klamm_pool::{
    CommitOutcome, PoolError, TransactionError, TransactionalPool, TxnProducerFactory,
};
use klamm_producer::ProducerRecord;
use klamm_txn::TxnError;

/// Every `FAIL_EVERY`th request of a client is rejected after writing.
pub const FAIL_EVERY: usize = 10;
/// Partitions of both topics.
pub const PARTITIONS: i32 = 3;

#[derive(Debug, thiserror::Error)]
enum HandlerError {
    #[error(transparent)]
    Txn(#[from] TxnError),
    #[error("the handler rejected the request after writing")]
    Rejected,
}

/// What a client saw of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Committed.
    Committed,
    /// Rejected by its handler after both records were acknowledged (aborted).
    Rejected,
    /// Failed for another reason (aborted, or never begun).
    Failed,
    /// The commit's outcome is unknown: both records visible once, or neither.
    Unknown,
}

/// The shape of a run of [`run_clients`].
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Concurrent clients.
    pub clients: usize,
    /// Requests per client at most, one after the other.
    pub per_client: usize,
    /// Bytes of each order record's value (the audit record stays small).
    pub order_size: usize,
}

/// The two topics of one run.
#[derive(Debug, Clone)]
pub struct Topics {
    /// The orders topic.
    pub orders: String,
    /// The audit topic.
    pub audit: String,
}

impl Topics {
    /// Two fresh topics (3 partitions each) named after `tag`.
    pub async fn create(broker: &BrokerUnderTest, tag: &str) -> Result<Topics, ScenarioError> {
        let orders = klamm_integration::scenario::unique_topic(&format!("{tag}-orders"));
        let audit = klamm_integration::scenario::unique_topic(&format!("{tag}-audit"));
        kafka::create_topic(broker, &orders, PARTITIONS).await?;
        kafka::create_topic(broker, &audit, PARTITIONS).await?;
        Ok(Topics { orders, audit })
    }
}

/// A pool of `size` klamm-txn producers (ids `{prefix}-0..`) on one shared cluster at
/// `bootstrap`, with group commit of up to `group` requests per Kafka transaction when
/// `Some`; `settings` adjusts every producer's builder beyond the defaults here.
pub async fn pool(
    bootstrap: &str,
    prefix: &str,
    size: usize,
    group: Option<usize>,
    settings: impl Fn(
        klamm_txn::TransactionalProducerBuilder,
    ) -> klamm_txn::TransactionalProducerBuilder
    + Send
    + Sync
    + 'static,
) -> Result<TransactionalPool<TxnProducerFactory>, ScenarioError> {
    let bootstrap = bootstrap.to_owned();
    let factory = TxnProducerFactory::connect(move |b| {
        settings(
            b.bootstrap(&bootstrap)
                .operation_timeout(Duration::from_secs(30))
                .producer(|p| p.linger(Duration::ZERO)),
        )
    })
    .await?;
    let mut builder = TransactionalPool::builder()
        .factory(factory)
        .id_prefix(prefix)
        .size(size)
        .checkout_timeout(Duration::from_secs(60));
    if let Some(max_group) = group {
        builder = builder.group_commit(max_group, Duration::ZERO);
    }
    Ok(builder.build().await?)
}

async fn one_request(
    pool: &TransactionalPool<TxnProducerFactory>,
    topics: &Topics,
    key: String,
    order: bytes::Bytes,
    reject: bool,
) -> Outcome {
    // `transaction_grouped` is `transaction` on a pool without group commit; with it, this
    // closure may run more than once (its group was aborted by another member), so it
    // clones what it sends.
    let result = pool
        .transaction_grouped(|txn| {
            let (orders, audit) = (topics.orders.clone(), topics.audit.clone());
            let (key, order) = (key.clone(), order.clone());
            async move {
                let order = txn
                    .send(ProducerRecord::new(orders).key(key.clone()).value(order))
                    .await?;
                let audit = txn
                    .send(ProducerRecord::new(audit).key(key).value("created"))
                    .await?;
                if reject {
                    // Both records acknowledged by the partition leaders: the abort must hide
                    // data that is really in the log.
                    order.await.map_err(TxnError::from)?;
                    audit.await.map_err(TxnError::from)?;
                    return Err(HandlerError::Rejected);
                }
                Ok(())
            }
        })
        .await;
    match result {
        Ok(()) => Outcome::Committed,
        Err(TransactionError::Pool(PoolError::Commit {
            outcome: CommitOutcome::Unknown,
            ..
        })) => Outcome::Unknown,
        Err(TransactionError::Aborted(HandlerError::Rejected)) => Outcome::Rejected,
        Err(e) => {
            eprintln!("pool request failed: {e}");
            Outcome::Failed
        }
    }
}

/// Runs `load`'s clients, each making its requests one after the other; a client stops
/// early once `stop` is set. `done` counts finished requests.
pub async fn run_clients(
    pool: &TransactionalPool<TxnProducerFactory>,
    topics: &Topics,
    load: Load,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
) -> Result<Vec<(String, Outcome)>, ScenarioError> {
    let Load {
        clients,
        per_client,
        order_size,
    } = load;
    let order = bytes::Bytes::from(vec![b'o'; order_size]);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let order = order.clone();
        let (pool, topics) = (pool.clone(), topics.clone());
        let (stop, done) = (Arc::clone(&stop), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(per_client);
            for i in 0..per_client {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let key = format!("c{c}-{i}");
                let reject = i % FAIL_EVERY == FAIL_EVERY - 1;
                let outcome = one_request(&pool, &topics, key.clone(), order.clone(), reject).await;
                out.push((key, outcome));
                done.fetch_add(1, Ordering::Relaxed);
            }
            out
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.extend(t.await?);
    }
    Ok(outcomes)
}

/// How many requests ended with `outcome`.
pub fn count(outcomes: &[(String, Outcome)], outcome: Outcome) -> usize {
    outcomes.iter().filter(|(_, o)| *o == outcome).count()
}

/// How often each request key appears in `records`; a record without a key is an error.
fn count_keys(records: &[ReadRecord], what: &str) -> Result<HashMap<String, usize>, ScenarioError> {
    let mut counts = HashMap::new();
    for r in records {
        let key = r
            .record
            .key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
            .ok_or_else(|| {
                format!(
                    "{what}: a record without a UTF-8 key at offset {}",
                    r.offset
                )
            })?;
        *counts.entry(key.to_owned()).or_insert(0) += 1;
    }
    Ok(counts)
}

/// Checks one `read_committed` read-back of one topic against the outcomes.
fn exactly_once(
    outcomes: &[(String, Outcome)],
    counts: &HashMap<String, usize>,
    what: &str,
) -> Result<(), ScenarioError> {
    let (mut duplicates, mut missing, mut failed_visible) = (0, 0, 0);
    for (key, outcome) in outcomes {
        let n = counts.get(key).copied().unwrap_or(0);
        duplicates += n.saturating_sub(1);
        match outcome {
            Outcome::Committed => missing += usize::from(n == 0),
            Outcome::Rejected | Outcome::Failed => failed_visible += usize::from(n > 0),
            Outcome::Unknown => {}
        }
    }
    let written: std::collections::HashSet<&str> =
        outcomes.iter().map(|(k, _)| k.as_str()).collect();
    let strangers = counts
        .keys()
        .filter(|k| !written.contains(k.as_str()))
        .count();
    if duplicates + missing + failed_visible + strangers > 0 {
        return Err(format!(
            "{what}: {duplicates} duplicates, {missing} committed requests missing, \
             {failed_visible} failed requests visible, {strangers} records nobody wrote"
        )
        .into());
    }
    Ok(())
}

/// The exactly-once check over both topics, with both readers; also that every rejected
/// request's records reached the log (so the aborts hid real data), and that every
/// unknown-outcome request is in both topics or in neither. Returns how many unknown
/// requests turned out committed.
pub async fn check(
    broker: &BrokerUnderTest,
    topics: &Topics,
    outcomes: &[(String, Outcome)],
) -> Result<usize, ScenarioError> {
    let committed = count(outcomes, Outcome::Committed);
    let rejected = count(outcomes, Outcome::Rejected);
    let mut visible = Vec::new();
    for topic in [&topics.orders, &topics.audit] {
        let read = kafka::read_back(broker, topic, PARTITIONS, committed, "read_committed").await?;
        let seen = count_keys(&read, "librdkafka")?;
        exactly_once(outcomes, &seen, "librdkafka read_committed")?;
        let read = read_with_klamm(broker, topic, true).await?;
        let klamm_seen = count_keys(&read, "klamm")?;
        exactly_once(outcomes, &klamm_seen, "klamm read_committed")?;
        if seen != klamm_seen {
            return Err(format!("{topic}: librdkafka and klamm-net read different records").into());
        }
        let all = read_with_klamm(broker, topic, false).await?;
        let all = count_keys(&all, "klamm read_uncommitted")?;
        let in_log = outcomes
            .iter()
            .filter(|(k, o)| *o == Outcome::Rejected && all.contains_key(k))
            .count();
        if in_log < rejected {
            return Err(format!(
                "{topic}: only {in_log} of {rejected} rejected requests reached the log, so \
                 the abort hid less than it was meant to be tested on"
            )
            .into());
        }
        visible.push(seen);
    }
    let mut unknown_committed = 0;
    for (key, outcome) in outcomes {
        if *outcome != Outcome::Unknown {
            continue;
        }
        match (visible[0].contains_key(key), visible[1].contains_key(key)) {
            (true, true) => unknown_committed += 1,
            (false, false) => {}
            _ => {
                return Err(
                    format!("request {key}: only one of its two records is visible").into(),
                );
            }
        }
    }
    Ok(unknown_committed)
}
