//! Klamm's records read by librdkafka: RecordBatches built by `klamm-protocol` (every
//! codec), sent as Produce requests through `klamm-net`, then read back by librdkafka's
//! consumer with identical keys, values, headers and partitions. Runs on every broker, so
//! a batch a real broker (tansu, Kafka) or librdkafka would reject shows up here.

use std::time::Duration;

use klamm_integration::kafka::{self, TestRecord};
use klamm_integration::{BrokerUnderTest, Needs, ScenarioResult, scenario};
use klamm_net::Cluster;
use klamm_protocol::messages::ProduceRequest;
use klamm_protocol::messages::produce::request::{PartitionProduceData, TopicProduceData};
use klamm_protocol::record::{BatchBuilder, Compression, Header};

const PARTITIONS: i32 = 3;
const RECORDS: usize = 1_500;

async fn produce_with_klamm(
    broker: BrokerUnderTest,
    compression: Compression,
    codec: &str,
) -> ScenarioResult {
    let topic = scenario::unique_topic(&format!("klamm-batches-{codec}"));
    kafka::create_topic(&broker, &topic, PARTITIONS).await?;
    let records: Vec<TestRecord> = kafka::make_records(RECORDS, PARTITIONS, 200);
    let cluster = Cluster::builder()
        .bootstrap(broker.bootstrap())
        .connect()
        .await?;
    let meta = cluster.topic(&topic).await?;
    // Now: Kafka deletes records older than `retention.ms` (7 days) at its next retention
    // check, so fixed old timestamps made partitions vanish during a run.
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    for p in 0..PARTITIONS {
        let mut batch = BatchBuilder::new(compression);
        for r in records.iter().filter(|r| r.partition == p) {
            let headers: Vec<Header<'_>> = r
                .headers
                .iter()
                .map(|(k, v)| Header {
                    key: k,
                    value: Some(v),
                })
                .collect();
            batch.append(timestamp, r.key.as_deref(), r.value.as_deref(), &headers)?;
        }
        let partition = PartitionProduceData {
            index: p,
            records: Some(batch.seal()?.to_bytes()),
            ..Default::default()
        };
        let topic_data = vec![TopicProduceData {
            name: meta.name.clone(),
            partition_data: vec![partition],
            ..Default::default()
        }];
        let leader = cluster.leader(&topic, p).await?;
        let response = leader
            .send(ProduceRequest {
                acks: -1,
                timeout_ms: 10_000,
                topic_data,
                ..Default::default()
            })
            .await?;
        let code = response.responses[0].partition_responses[0].error_code;
        if code != 0 {
            return Err(
                format!("Produce of a {codec} batch to partition {p}: error code {code}").into(),
            );
        }
    }
    cluster.close();
    let read = kafka::read_back(&broker, &topic, PARTITIONS, RECORDS, "read_uncommitted").await?;
    kafka::same_per_partition(&records, &read, PARTITIONS)
}

async fn codec(name: &'static str, compression: Compression) {
    scenario::run(
        &format!("klamm_batches_{name}"),
        Needs::NOTHING,
        Duration::from_secs(180),
        move |b| produce_with_klamm(b, compression, name),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klamm_batches_none() {
    codec("none", Compression::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klamm_batches_gzip() {
    codec("gzip", Compression::Gzip).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klamm_batches_snappy() {
    codec("snappy", Compression::Snappy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klamm_batches_lz4() {
    codec("lz4", Compression::Lz4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klamm_batches_zstd() {
    codec("zstd", Compression::Zstd).await;
}
