//! A partition leader moves while the idempotent producer is writing: every record still
//! arrives exactly once and in order. Needs a broker the test controls (the librdkafka
//! mock, klamm-testkit).

use std::time::Duration;

use klamm_integration::kafka;
use klamm_integration::{BrokerUnderTest, Needs, ScenarioResult, scenario};

const PARTITIONS: i32 = 3;
const RECORDS: usize = 4_000;

async fn leader_moves(broker: BrokerUnderTest) -> ScenarioResult {
    let topic = scenario::unique_topic("leader-move");
    kafka::create_topic(&broker, &topic, PARTITIONS).await?;
    for p in 0..PARTITIONS {
        broker.move_leader(&topic, p, 0)?;
    }
    let records = kafka::make_records(RECORDS, PARTITIONS, 100);
    let mut config = kafka::base_config(&broker);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2");
    let (first, second) = records.split_at(RECORDS / 2);
    let mut offsets = kafka::produce(&config, &topic, first).await?;
    // Move every leader to another broker, then keep producing (a new producer, so the
    // client must discover the new leaders from metadata).
    for p in 0..PARTITIONS {
        broker.move_leader(&topic, p, 1 + p % 2)?;
    }
    offsets.extend(kafka::produce(&config, &topic, second).await?);
    let read = kafka::read_back(&broker, &topic, PARTITIONS, RECORDS, "read_uncommitted").await?;
    kafka::same_per_partition(&records, &read, PARTITIONS)?;
    if offsets.len() != RECORDS {
        return Err(format!("{} deliveries for {RECORDS} records", offsets.len()).into());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_move() {
    scenario::run(
        "leader_move",
        Needs {
            controllable: true,
            idempotence: true,
            ..Needs::NOTHING
        },
        Duration::from_secs(180),
        leader_moves,
    )
    .await;
}
