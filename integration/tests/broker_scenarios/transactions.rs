//! librdkafka's transactional producer: some transactions committed, some aborted; a
//! `read_committed` reader sees exactly the committed records, a `read_uncommitted` reader
//! sees all of them. Needs a broker that writes transaction markers (not tansu, which has
//! no EndTxn; not the librdkafka mock, which writes no markers).

use std::time::Duration;

use klamm_integration::kafka::{self, TestRecord};
use klamm_integration::{BrokerUnderTest, Needs, ScenarioError, ScenarioResult, scenario};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

const PARTITIONS: i32 = 2;
const TRANSACTIONS: usize = 12;
const PER_TXN: usize = 50;

/// Writes `all` in transactions of `PER_TXN`, aborting every third; returns what was committed.
fn transact(
    config: &ClientConfig,
    topic: &str,
    all: &[TestRecord],
) -> Result<Vec<TestRecord>, ScenarioError> {
    let producer: ThreadedProducer<DefaultProducerContext> = config.create()?;
    let timeout = Duration::from_secs(30);
    producer.init_transactions(timeout)?;
    let mut committed: Vec<TestRecord> = Vec::new();
    for (t, chunk) in all.chunks(PER_TXN).enumerate() {
        producer.begin_transaction()?;
        for r in chunk {
            let mut rec: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).partition(r.partition);
            if let Some(k) = &r.key {
                rec = rec.key(k.as_slice());
            }
            if let Some(v) = &r.value {
                rec = rec.payload(v.as_slice());
            }
            producer
                .send(rec)
                .map_err(|(e, _)| format!("enqueue in transaction {t}: {e}"))?;
        }
        if t % 3 == 2 {
            // Flush first: abort_transaction purges what is still queued, and the point is
            // that aborted records reach the log and are then hidden by the markers.
            producer.flush(timeout)?;
            producer.abort_transaction(timeout)?;
        } else {
            producer.commit_transaction(timeout)?;
            committed.extend(chunk.iter().cloned());
        }
    }
    Ok(committed)
}

async fn commit_and_abort(broker: BrokerUnderTest) -> ScenarioResult {
    let topic = scenario::unique_topic("transactions");
    kafka::create_topic(&broker, &topic, PARTITIONS).await?;
    let all = kafka::make_records(TRANSACTIONS * PER_TXN, PARTITIONS, 64);
    let mut config = kafka::base_config(&broker);
    config.set("transactional.id", &topic);
    let records = all.clone();
    let txn_topic = topic.clone();
    // librdkafka's transactional calls block: run them off the runtime.
    let committed = kafka::blocking(move || transact(&config, &txn_topic, &records)).await?;
    // Headers were not sent in this scenario.
    let strip = |rs: &[TestRecord]| -> Vec<TestRecord> {
        rs.iter()
            .map(|r| TestRecord {
                headers: Vec::new(),
                ..r.clone()
            })
            .collect()
    };
    let committed = strip(&committed);
    let read = kafka::read_back(
        &broker,
        &topic,
        PARTITIONS,
        committed.len(),
        "read_committed",
    )
    .await?;
    kafka::same_per_partition(&committed, &read, PARTITIONS)?;
    let everything = strip(&all);
    let read = kafka::read_back(
        &broker,
        &topic,
        PARTITIONS,
        everything.len(),
        "read_uncommitted",
    )
    .await?;
    kafka::same_per_partition(&everything, &read, PARTITIONS)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_commit_and_abort() {
    scenario::run(
        "transactions_commit_and_abort",
        Needs {
            transaction_markers: true,
            ..Needs::NOTHING
        },
        Duration::from_secs(240),
        commit_and_abort,
    )
    .await;
}
