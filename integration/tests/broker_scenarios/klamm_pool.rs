//! The pool's promise on every broker that writes transaction markers: 64 concurrent
//! clients through a pool of 8 long-lived transactional producers (klamm-pool on klamm-txn),
//! each request one transaction writing an order and an audit record; every tenth request is
//! rejected by its handler *after* both records were acknowledged, so its transaction is
//! aborted with data in the log. Checked from outside: under `read_committed` (librdkafka's
//! consumer and klamm-net's reader) every committed request appears exactly once in both
//! topics, no failed request appears at all; under `read_uncommitted` the failed requests'
//! records are there (the abort really hid written data).

use std::collections::HashMap;
use std::time::Duration;

use klamm_integration::kafka::{self, ReadRecord};
use klamm_integration::klamm::read_with_klamm;
use klamm_integration::{BrokerUnderTest, Needs, ScenarioError, ScenarioResult, scenario};
use klamm_pool::{
    CommitOutcome, PoolError, TransactionError, TransactionalPool, TxnProducerFactory,
};
use klamm_producer::ProducerRecord;
use klamm_txn::TxnError;

const CLIENTS: usize = 64;
const PER_CLIENT: usize = 20;
const POOL_SIZE: usize = 8;
const FAIL_EVERY: usize = 10;
const PARTITIONS: i32 = 3;

#[derive(Debug, thiserror::Error)]
enum HandlerError {
    #[error(transparent)]
    Txn(#[from] TxnError),
    #[error("the handler rejected the request after writing")]
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Committed,
    Failed,
    Unknown,
}

async fn one_request(
    pool: &TransactionalPool<TxnProducerFactory>,
    orders: &str,
    audit: &str,
    key: String,
    reject: bool,
) -> Outcome {
    let (orders, audit) = (orders.to_owned(), audit.to_owned());
    let result = pool
        .transaction(|txn| async move {
            let order = txn
                .send(ProducerRecord::new(orders).key(key.clone()).value("order"))
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
        })
        .await;
    match result {
        Ok(()) => Outcome::Committed,
        Err(TransactionError::Pool(PoolError::Commit {
            outcome: CommitOutcome::Unknown,
            ..
        })) => Outcome::Unknown,
        Err(TransactionError::Aborted(HandlerError::Rejected)) => Outcome::Failed,
        Err(e) => {
            eprintln!("pool request failed: {e}");
            Outcome::Failed
        }
    }
}

/// How often each request key appears in `records`; a key no request wrote is an error.
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

/// Checks one read-back of one topic against the outcomes.
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
            Outcome::Failed => failed_visible += usize::from(n > 0),
            Outcome::Unknown => {}
        }
    }
    let strangers = counts
        .keys()
        .filter(|k| !outcomes.iter().any(|(key, _)| key == *k))
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

async fn pool_exactly_once(broker: BrokerUnderTest) -> ScenarioResult {
    let orders = scenario::unique_topic("pool-orders");
    let audit = scenario::unique_topic("pool-audit");
    kafka::create_topic(&broker, &orders, PARTITIONS).await?;
    kafka::create_topic(&broker, &audit, PARTITIONS).await?;
    let bootstrap = broker.bootstrap().to_owned();
    let factory = TxnProducerFactory::connect(move |b| {
        b.bootstrap(&bootstrap)
            .operation_timeout(Duration::from_secs(30))
            .producer(|p| p.linger(Duration::ZERO))
    })
    .await?;
    let pool = TransactionalPool::builder()
        .factory(factory)
        .id_prefix(orders.clone())
        .size(POOL_SIZE)
        .checkout_timeout(Duration::from_secs(60))
        .build()
        .await?;
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (pool, orders, audit) = (pool.clone(), orders.clone(), audit.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(PER_CLIENT);
            for i in 0..PER_CLIENT {
                let key = format!("c{c}-{i}");
                let reject = i % FAIL_EVERY == FAIL_EVERY - 1;
                let outcome = one_request(&pool, &orders, &audit, key.clone(), reject).await;
                out.push((key, outcome));
            }
            out
        }));
    }
    let mut outcomes = Vec::with_capacity(CLIENTS * PER_CLIENT);
    for t in tasks {
        outcomes.extend(t.await?);
    }
    let metrics = pool.metrics();
    pool.close(Duration::from_secs(10)).await;
    let committed = outcomes
        .iter()
        .filter(|(_, o)| *o == Outcome::Committed)
        .count();
    let failed = outcomes
        .iter()
        .filter(|(_, o)| *o == Outcome::Failed)
        .count();
    let rejected = CLIENTS * (PER_CLIENT / FAIL_EVERY);
    println!(
        "pool on {}: {committed} committed, {failed} failed ({rejected} rejected by the \
         handler), {} unknown; pool metrics: {metrics:?}",
        broker.kind(),
        outcomes.len() - committed - failed
    );
    if committed + rejected < outcomes.len() {
        return Err(format!(
            "only {committed} of {} requests committed ({failed} failed, {rejected} of them \
             on purpose)",
            outcomes.len()
        )
        .into());
    }
    for topic in [&orders, &audit] {
        let read =
            kafka::read_back(&broker, topic, PARTITIONS, committed, "read_committed").await?;
        exactly_once(
            &outcomes,
            &count_keys(&read, "librdkafka")?,
            "librdkafka read_committed",
        )?;
        let read = read_with_klamm(&broker, topic, true).await?;
        exactly_once(
            &outcomes,
            &count_keys(&read, "klamm")?,
            "klamm read_committed",
        )?;
        // The fault really happened: the rejected requests' records are in the log.
        let all = read_with_klamm(&broker, topic, false).await?;
        let all = count_keys(&all, "klamm read_uncommitted")?;
        let hidden = outcomes
            .iter()
            .filter(|(k, o)| *o == Outcome::Failed && all.contains_key(k))
            .count();
        if hidden < rejected {
            return Err(format!(
                "{topic}: only {hidden} of {rejected} rejected requests reached the log, so \
                 the abort hid less than it should have been tested on"
            )
            .into());
        }
    }
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
