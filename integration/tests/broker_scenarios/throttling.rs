//! KIP-219 throttling as a third-party client sees it: the broker answers Produce with a
//! `throttle_time_ms`. The testkit injects the throttles and counts them (so the fault
//! really happened); the idempotent librdkafka producer must still deliver every record
//! exactly once and in order. How many requests librdkafka sent on a throttled connection
//! before the deadline is printed: librdkafka does not hold them (observed with the
//! bundled librdkafka 2.12: the next Produce arrives ~15 ms after a 200 ms throttle), which
//! is exactly what Klamm's throttle layer must not do.

use std::time::Duration;

use klamm_integration::kafka;
use klamm_integration::{BrokerUnderTest, Needs, ScenarioResult, scenario};
use klamm_protocol::ApiKey;
use klamm_testkit::{Fault, FaultAction};

const PARTITIONS: i32 = 3;
const RECORDS: usize = 3_000;
const THROTTLE_MS: i32 = 200;

async fn throttled_produce(broker: BrokerUnderTest) -> ScenarioResult {
    let Some(cluster) = broker.testkit() else {
        return Err(format!("no throttle control for {}", broker.kind()).into());
    };
    let topic = scenario::unique_topic("throttling");
    kafka::create_topic(&broker, &topic, PARTITIONS).await?;
    let fault =
        cluster.inject(Fault::new(ApiKey::Produce, FaultAction::Throttle(THROTTLE_MS)).every(5));
    let records = kafka::make_records(RECORDS, PARTITIONS, 100);
    let mut config = kafka::base_config(&broker);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "1")
        .set("batch.num.messages", "100")
        .set("max.in.flight.requests.per.connection", "1");
    kafka::produce(&config, &topic, &records).await?;
    cluster.remove_fault(fault);
    let injected = cluster.injected(ApiKey::Produce).throttles;
    if injected == 0 {
        return Err("no throttle was injected: the scenario proved nothing".into());
    }
    // An observation, not an assertion: librdkafka 2.x does not hold requests until the
    // deadline (it only reports throttles), so requests on a throttled connection before
    // the deadline are expected from it. Klamm's ThrottleLayer is tested for zero.
    let early = cluster.early_requests();
    println!(
        "throttling: {injected} throttles of {THROTTLE_MS} ms injected; librdkafka sent {early} \
         request(s) before a deadline"
    );
    let read = kafka::read_back(&broker, &topic, PARTITIONS, RECORDS, "read_uncommitted").await?;
    kafka::same_per_partition(&records, &read, PARTITIONS)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling() {
    scenario::run(
        "throttling",
        Needs {
            throttling: true,
            controllable: true,
            ..Needs::NOTHING
        },
        Duration::from_secs(180),
        throttled_produce,
    )
    .await;
}
