//! Klamm's transactional producer (klamm-txn) on every broker that writes transaction
//! markers: transactions committed and aborted with consumer offsets sent to each, under
//! transaction version 2 (KIP-890: the epoch moves with every EndTxn) and version 1
//! (the KIP-98 protocol: one epoch for the producer's life), and a zombie fenced by a
//! second instance with the same `transactional.id`. Read back by librdkafka (both
//! isolation levels) and by klamm-net's reader; offsets read back by librdkafka.

use std::sync::Arc;
use std::time::Duration;

use klamm_integration::kafka::{self, TestRecord};
use klamm_integration::klamm::{producer_record, read_with_klamm};
use klamm_integration::{BrokerUnderTest, Needs, ScenarioError, ScenarioResult, scenario};
use klamm_producer::idempotence::TopicPartition;
use klamm_txn::{ConsumerGroupMetadata, OffsetAndMetadata, TransactionalProducer};

const PARTITIONS: i32 = 2;
const TRANSACTIONS: usize = 12;
const PER_TXN: usize = 40;

type Klamm = TransactionalProducer<klamm_producer::Producer, klamm_txn::ClusterTransport>;

async fn producer(
    broker: &BrokerUnderTest,
    id: &str,
    version_2: bool,
) -> Result<Klamm, ScenarioError> {
    let p = TransactionalProducer::builder()
        .bootstrap(broker.bootstrap())
        .transactional_id(id)
        .transaction_version_2(version_2)
        .operation_timeout(Duration::from_secs(30))
        .producer(|p| p.linger(Duration::from_millis(5)))
        .build()
        .await?;
    p.init_transactions().await?;
    Ok(p)
}

fn epoch(p: &Klamm) -> Result<i16, ScenarioError> {
    Ok(p.status()
        .producer
        .ok_or("no producer id after init_transactions")?
        .epoch)
}

/// Sends `chunk` in one open transaction and waits until every record is acknowledged
/// (so that an abort afterwards hides records that really are in the log).
async fn send_all(p: &Klamm, topic: &str, chunk: &[TestRecord]) -> ScenarioResult {
    let mut deliveries = Vec::with_capacity(chunk.len());
    for r in chunk {
        deliveries.push(p.send(producer_record(topic, r)).await?);
    }
    for d in deliveries {
        d.await?;
    }
    Ok(())
}

async fn commit_and_abort(broker: BrokerUnderTest, version_2: bool) -> ScenarioResult {
    let topic = scenario::unique_topic(&format!("klamm-txn-v{}", if version_2 { 2 } else { 1 }));
    let input = format!("{topic}-input");
    kafka::create_topic(&broker, &topic, PARTITIONS).await?;
    kafka::create_topic(&broker, &input, 1).await?;
    let group = ConsumerGroupMetadata::new(format!("{topic}-group"));
    let consumed = TopicPartition {
        topic: Arc::from(input.as_str()),
        partition: 0,
    };
    let all = kafka::make_records(TRANSACTIONS * PER_TXN, PARTITIONS, 64);
    let p = producer(&broker, &topic, version_2).await?;
    let first_epoch = epoch(&p)?;
    let mut committed = Vec::new();
    let mut last_committed_offset = None;
    for (t, chunk) in all.chunks(PER_TXN).enumerate() {
        p.begin_transaction()?;
        send_all(&p, &topic, chunk).await?;
        let offset = (t as i64 + 1) * 100;
        p.send_offsets_to_transaction(
            &[(consumed.clone(), OffsetAndMetadata::new(offset))],
            &group,
        )
        .await?;
        if t % 3 == 2 {
            p.abort_transaction().await?;
        } else {
            p.commit_transaction().await?;
            committed.extend(chunk.iter().cloned());
            last_committed_offset = Some(offset);
        }
    }
    let last_epoch = epoch(&p)?;
    p.close(Duration::from_secs(10)).await?;
    // KIP-890 part 2 bumps the epoch with every EndTxn; the KIP-98 protocol never does. This
    // shows which protocol the broker really ran, not just which one we asked for.
    let ended = TRANSACTIONS as i16;
    match (version_2, last_epoch - first_epoch) {
        (true, bumps) if bumps == ended => {}
        (false, 0) => {}
        (v2, bumps) => {
            return Err(format!(
                "epoch moved {bumps} times over {ended} transactions (transaction version 2 \
                 requested: {v2})"
            )
            .into());
        }
    }
    let read = kafka::read_back(
        &broker,
        &topic,
        PARTITIONS,
        committed.len(),
        "read_committed",
    )
    .await?;
    kafka::same_per_partition(&committed, &read, PARTITIONS)
        .map_err(|e| format!("librdkafka read_committed: {e}"))?;
    let read = read_with_klamm(&broker, &topic, true).await?;
    kafka::same_per_partition(&committed, &read, PARTITIONS)
        .map_err(|e| format!("klamm read_committed: {e}"))?;
    let read = kafka::read_back(&broker, &topic, PARTITIONS, all.len(), "read_uncommitted").await?;
    kafka::same_per_partition(&all, &read, PARTITIONS)
        .map_err(|e| format!("librdkafka read_uncommitted: {e}"))?;
    let read = read_with_klamm(&broker, &topic, false).await?;
    kafka::same_per_partition(&all, &read, PARTITIONS)
        .map_err(|e| format!("klamm read_uncommitted: {e}"))?;
    // The last transaction was aborted with offset 1200: the group keeps the last committed.
    let offset = kafka::committed_offset(&broker, &group.group_id, &input, 0).await?;
    if offset != last_committed_offset {
        return Err(format!(
            "group offset {offset:?}, expected {last_committed_offset:?} (the last committed \
             transaction's; aborted transactions' offsets must not count)"
        )
        .into());
    }
    Ok(())
}

/// A producer whose id a second instance initialises is fenced: its open transaction is
/// aborted by the coordinator, its commit fails as fatal, and only the successor's records
/// are visible to `read_committed`.
async fn zombie_fenced(broker: BrokerUnderTest) -> ScenarioResult {
    let topic = scenario::unique_topic("klamm-txn-fencing");
    kafka::create_topic(&broker, &topic, 1).await?;
    let records = kafka::make_records(2, 1, 32);
    let zombie = producer(&broker, &topic, true).await?;
    zombie.begin_transaction()?;
    send_all(&zombie, &topic, &records[..1]).await?;
    let successor = producer(&broker, &topic, true).await?;
    let err = match zombie.commit_transaction().await {
        Ok(()) => return Err("the zombie's commit succeeded after a successor initialised".into()),
        Err(e) => e,
    };
    if err.kind() != klamm_producer::ErrorKind::Fatal {
        return Err(format!("the zombie's commit failed, but not fatally: {err}").into());
    }
    successor.begin_transaction()?;
    send_all(&successor, &topic, &records[1..]).await?;
    successor.commit_transaction().await?;
    successor.close(Duration::from_secs(10)).await?;
    let _ = zombie.close(Duration::from_secs(1)).await;
    let read = kafka::read_back(&broker, &topic, 1, 1, "read_committed").await?;
    kafka::same_per_partition(&records[1..], &read, 1)
        .map_err(|e| format!("librdkafka read_committed after fencing: {e}"))?;
    let read = read_with_klamm(&broker, &topic, true).await?;
    kafka::same_per_partition(&records[1..], &read, 1)
        .map_err(|e| format!("klamm read_committed after fencing: {e}"))?;
    let read = kafka::read_back(&broker, &topic, 1, 2, "read_uncommitted").await?;
    kafka::same_per_partition(&records, &read, 1)
        .map_err(|e| format!("librdkafka read_uncommitted after fencing: {e}").into())
}

const TXN: Needs = Needs {
    transaction_markers: true,
    ..Needs::NOTHING
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klamm_txn_version_2() {
    scenario::run("klamm_txn_version_2", TXN, Duration::from_secs(180), |b| {
        commit_and_abort(b, true)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klamm_txn_version_1() {
    scenario::run("klamm_txn_version_1", TXN, Duration::from_secs(180), |b| {
        commit_and_abort(b, false)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klamm_txn_fencing() {
    scenario::run(
        "klamm_txn_fencing",
        TXN,
        Duration::from_secs(180),
        zombie_fenced,
    )
    .await;
}
