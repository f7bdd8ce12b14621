//! Klamm's producer against every broker, read back by librdkafka: records sent with
//! `klamm-producer` (idempotent, explicit partitions, keys, headers, null keys and values)
//! come back from librdkafka's consumer identical, in order, once each (issue 6: tansu and
//! the librdkafka mock as well as the testkit).

use std::time::Duration;

use klamm_integration::kafka::{self, TestRecord};
use klamm_integration::klamm::producer_record;
use klamm_integration::{BrokerUnderTest, Needs, ScenarioResult, scenario};
use klamm_producer::{Compression, Producer};

const PARTITIONS: i32 = 3;
const RECORDS: usize = 3_000;

async fn produce_with_klamm_producer(
    broker: BrokerUnderTest,
    compression: Compression,
    codec: &str,
) -> ScenarioResult {
    let topic = scenario::unique_topic(&format!("klamm-producer-{codec}"));
    kafka::create_topic(&broker, &topic, PARTITIONS).await?;
    let records: Vec<TestRecord> = kafka::make_records(RECORDS, PARTITIONS, 120);
    let producer = Producer::builder()
        .bootstrap(broker.bootstrap().split(','))
        .compression(compression)
        .linger(Duration::from_millis(5))
        .enable_idempotence(true)
        .build()
        .await?;
    let mut deliveries = Vec::with_capacity(records.len());
    for r in &records {
        deliveries.push(producer.send(producer_record(&topic, r)).await?);
    }
    let mut last = vec![-1i64; PARTITIONS as usize];
    for (r, d) in records.iter().zip(deliveries) {
        let meta = d.await?;
        if meta.partition != r.partition {
            return Err(format!("record for {} landed in {}", r.partition, meta.partition).into());
        }
        // -1: written, offset unknown (a DUPLICATE_SEQUENCE_NUMBER answer to a retry); the
        // read-back below still checks that it is there exactly once.
        if meta.offset < 0 {
            continue;
        }
        let slot = &mut last[r.partition as usize];
        if meta.offset <= *slot {
            return Err(format!(
                "partition {}: offset {} after {} (reordered or duplicated)",
                r.partition, meta.offset, slot
            )
            .into());
        }
        *slot = meta.offset;
    }
    producer.close(Duration::from_secs(10)).await?;
    let read = kafka::read_back(&broker, &topic, PARTITIONS, RECORDS, "read_uncommitted").await?;
    kafka::same_per_partition(&records, &read, PARTITIONS)
}

async fn codec(name: &'static str, compression: Compression) {
    scenario::run(
        &format!("klamm_producer_{name}"),
        Needs::NOTHING,
        Duration::from_secs(180),
        move |b| produce_with_klamm_producer(b, compression, name),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klamm_producer_none() {
    codec("none", Compression::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klamm_producer_zstd() {
    codec("zstd", Compression::Zstd).await;
}
