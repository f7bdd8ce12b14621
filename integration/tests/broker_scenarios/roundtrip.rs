//! Produce and read back with every compression codec, and with the idempotent producer.
//! Today the client on both ends is librdkafka; Klamm's producer joins as it lands.

use std::time::Duration;

use klamm_integration::kafka::{self, TestRecord};
use klamm_integration::{BrokerUnderTest, Needs, ScenarioResult, scenario};

const PARTITIONS: i32 = 3;
const RECORDS: usize = 3_000;

async fn roundtrip(broker: BrokerUnderTest, codec: &str, idempotent: bool) -> ScenarioResult {
    let topic = scenario::unique_topic(&format!("roundtrip-{codec}"));
    kafka::create_topic(&broker, &topic, PARTITIONS).await?;
    let records: Vec<TestRecord> = kafka::make_records(RECORDS, PARTITIONS, 200);
    let mut config = kafka::base_config(&broker);
    config
        .set("compression.type", codec)
        .set("linger.ms", "5")
        .set(
            "enable.idempotence",
            if idempotent { "true" } else { "false" },
        )
        .set("acks", "all");
    let offsets = kafka::produce(&config, &topic, &records).await?;
    if offsets.len() != records.len() {
        return Err(format!("{} deliveries for {} records", offsets.len(), records.len()).into());
    }
    let read = kafka::read_back(&broker, &topic, PARTITIONS, RECORDS, "read_uncommitted").await?;
    kafka::same_per_partition(&records, &read, PARTITIONS)?;
    // The delivery reports and the read-back agree on where each record landed.
    for (i, (r, off)) in records.iter().zip(&offsets).enumerate() {
        let found = read
            .iter()
            .any(|x| x.partition == r.partition && x.offset == *off && x.record == *r);
        if !found {
            return Err(format!("record {i}: reported at offset {off}, not read there").into());
        }
    }
    Ok(())
}

async fn codec(name: &'static str) {
    scenario::run(
        &format!("roundtrip_{name}"),
        Needs::NOTHING,
        Duration::from_secs(180),
        |b| roundtrip(b, name, false),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roundtrip_none() {
    codec("none").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roundtrip_gzip() {
    codec("gzip").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roundtrip_snappy() {
    codec("snappy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roundtrip_lz4() {
    codec("lz4").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roundtrip_zstd() {
    codec("zstd").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_produce() {
    scenario::run(
        "idempotent_produce",
        Needs {
            idempotence: true,
            ..Needs::NOTHING
        },
        Duration::from_secs(180),
        |b| roundtrip(b, "lz4", true),
    )
    .await;
}
