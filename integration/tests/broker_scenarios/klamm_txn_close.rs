//! Klamm's `TransactionalProducer::close` on every broker that writes transaction markers:
//! closing with a transaction open aborts it, so a `read_committed` reader sees the records
//! written after it at once, instead of waiting at the open transaction's first offset until
//! the coordinator's `transaction.timeout.ms` (60 s here) runs out.

use std::time::{Duration, Instant};

use klamm_integration::kafka;
use klamm_integration::klamm::{producer_record, read_with_klamm};
use klamm_integration::{BrokerUnderTest, Needs, ScenarioResult, scenario};
use klamm_producer::Producer;
use klamm_txn::TransactionalProducer;

/// Far below the transaction timeout, above what a read_committed read takes on any broker.
const PROMPT: Duration = Duration::from_secs(20);
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);

async fn close_aborts(broker: BrokerUnderTest) -> ScenarioResult {
    let topic = scenario::unique_topic("klamm-txn-close");
    kafka::create_topic(&broker, &topic, 1).await?;
    let records = kafka::make_records(2, 1, 32);
    let (open, after) = (&records[0], &records[1]);

    let p = TransactionalProducer::builder()
        .bootstrap(broker.bootstrap())
        .transactional_id(topic.as_str())
        .transaction_timeout(TRANSACTION_TIMEOUT)
        .operation_timeout(Duration::from_secs(30))
        .build()
        .await?;
    p.init_transactions().await?;
    p.begin_transaction()?;
    p.send(producer_record(&topic, open)).await?.await?;
    let started = Instant::now();
    p.close(Duration::from_secs(15)).await?;

    // a plain idempotent record after the closed transaction: visible to read_committed only
    // once the last stable offset has moved past that transaction
    let plain = Producer::builder()
        .bootstrap(broker.bootstrap().split(','))
        .build()
        .await?;
    plain.send(producer_record(&topic, after)).await?.await?;
    plain.close(Duration::from_secs(10)).await?;

    let read = kafka::read_back(&broker, &topic, 1, 1, "read_committed").await?;
    kafka::same_per_partition(std::slice::from_ref(after), &read, 1)
        .map_err(|e| format!("librdkafka read_committed after close: {e}"))?;
    let read = read_with_klamm(&broker, &topic, true).await?;
    kafka::same_per_partition(std::slice::from_ref(after), &read, 1)
        .map_err(|e| format!("klamm read_committed after close: {e}"))?;
    let took = started.elapsed();
    if took > PROMPT {
        return Err(format!(
            "close and the read_committed reads took {took:?}: the LSO waited for the \
             coordinator's transaction timeout ({TRANSACTION_TIMEOUT:?}) instead of the abort"
        )
        .into());
    }
    // the aborted record is in the log (so it really was hidden, not lost)
    let read = kafka::read_back(&broker, &topic, 1, 2, "read_uncommitted").await?;
    kafka::same_per_partition(&records, &read, 1)
        .map_err(|e| format!("librdkafka read_uncommitted after close: {e}").into())
}

const TXN: Needs = Needs {
    transaction_markers: true,
    ..Needs::NOTHING
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klamm_txn_close() {
    scenario::run(
        "klamm_txn_close",
        TXN,
        Duration::from_secs(180),
        close_aborts,
    )
    .await;
}
