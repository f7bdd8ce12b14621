//! Produce requests handed to the cluster transport for one broker reach it in the order they
//! were handed over, even when they must wait first (the broker's connection is still being
//! opened; the broker throttles). Without that, two batches of one partition can overtake
//! each other, and an idempotent producer's later sequence arrives first. The futures are
//! polled in reverse order on purpose: the order of writes must not depend on it.
//! Against klamm-testkit over TCP, with the testkit's own sequence checks.

use std::time::{Duration, Instant};

use futures::future::join_all;
use klamm_producer::ProducerError;
use klamm_producer::idempotence::ProducerIdEpoch;
use klamm_producer::sender::{ClusterTransport, Transport};
use klamm_protocol::ApiKey;
use klamm_protocol::error_code::ErrorCode;
use klamm_protocol::messages::produce::ProduceResponse;
use klamm_testkit::requests::{batch, produce};
use klamm_testkit::{Cluster, Fault, FaultAction};

const REQUESTS: i32 = 5;
const RECORDS: i32 = 10;
const WAIT: Duration = Duration::from_secs(10);

/// A testkit cluster whose partition "t"-0 is led by a broker that is not the bootstrap one,
/// a transport connected through the bootstrap broker only (so the leader's connection is
/// opened by the first Produce), the leader's id and an idempotent producer id.
async fn setup() -> (Cluster, ClusterTransport, i32, ProducerIdEpoch) {
    let kit = Cluster::builder()
        .brokers(3)
        .topic("t", 1)
        .start()
        .await
        .expect("testkit starts");
    let leader = kit.leader("t", 0).expect("t-0 has a leader");
    let (_, other) = kit
        .brokers()
        .into_iter()
        .find(|(node, _)| *node != leader)
        .expect("another broker");
    let cluster = klamm_net::Cluster::builder()
        .bootstrap(other.to_string())
        .connect()
        .await
        .expect("connects");
    let transport = ClusterTransport::owned(cluster);
    let producer = tokio::time::timeout(WAIT, transport.init_producer_id(None))
        .await
        .expect("InitProducerId in time")
        .expect("a producer id");
    (kit, transport, leader, producer)
}

/// Hands `REQUESTS` idempotent batches of `RECORDS` records (sequences 0, 10, 20, ...) to the
/// transport for `leader`, in order (blocking the thread for `pause` after the first), then
/// waits for their answers polled last-first.
async fn produce_in_order(
    transport: &ClusterTransport,
    leader: i32,
    producer: ProducerIdEpoch,
    pause: Duration,
) -> Vec<Result<ProduceResponse, ProducerError>> {
    let mut answers = Vec::new();
    for r in 0..REQUESTS {
        let values: Vec<String> = (0..RECORDS)
            .map(|i| format!("v{}", r * RECORDS + i))
            .collect();
        let records = batch(
            &values,
            Some((producer.id, producer.epoch, r * RECORDS)),
            false,
        )
        .expect("a batch");
        answers.push(transport.produce(leader, produce("t", 0, -1, records)));
        if r == 0 {
            std::thread::sleep(pause);
        }
    }
    answers.reverse();
    let mut results = tokio::time::timeout(WAIT, join_all(answers))
        .await
        .expect("answers in time");
    results.reverse();
    results
}

/// Has `leader` answer one Produce with `throttle_ms`: every request after it waits for the
/// broker's deadline (KIP-219) before it is written.
async fn throttle_once(kit: &Cluster, transport: &ClusterTransport, leader: i32, throttle_ms: i32) {
    let fault = kit.inject(
        Fault::new(ApiKey::Produce, FaultAction::Throttle(throttle_ms))
            .broker(leader)
            .times(1),
    );
    let one = batch(&["first"], None, false).expect("a batch");
    let answer = tokio::time::timeout(WAIT, transport.produce(leader, produce("t", 0, -1, one)))
        .await
        .expect("answer in time")
        .expect("an answer");
    assert_eq!(answer.throttle_time_ms, throttle_ms);
    assert_eq!(kit.fault_fired(fault), 1, "the leader throttled once");
}

/// Every answer is a success, and the base offsets follow the order of the calls.
fn assert_written_in_order(results: &[Result<ProduceResponse, ProducerError>], first: i64) {
    for (r, result) in results.iter().enumerate() {
        let response = result.as_ref().expect("an answer");
        let partition = &response.responses[0].partition_responses[0];
        assert_eq!(
            ErrorCode::from_i16(partition.error_code),
            ErrorCode::None,
            "request {r} (sequence {}) was refused",
            r as i32 * RECORDS
        );
        assert_eq!(
            partition.base_offset,
            first + i64::from(r as i32 * RECORDS),
            "request {r} was written out of order"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_waiting_for_the_connection_are_written_in_order() {
    let (kit, transport, leader, producer) = setup().await;
    let results = produce_in_order(&transport, leader, producer, Duration::ZERO).await;
    assert_written_in_order(&results, 0);
    let end = i64::from(REQUESTS * RECORDS);
    assert_eq!(
        kit.offsets("t", 0),
        Some((end, end)),
        "high watermark, stable offset"
    );
    transport.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_waiting_out_a_throttle_are_written_in_order() {
    let (kit, transport, leader, producer) = setup().await;
    throttle_once(&kit, &transport, leader, 300).await;
    let start = Instant::now();
    let results = produce_in_order(&transport, leader, producer, Duration::ZERO).await;
    assert!(
        start.elapsed() >= Duration::from_millis(200),
        "the requests waited for the deadline ({:?})",
        start.elapsed()
    );
    assert_written_in_order(&results, 1);
    assert_eq!(
        kit.early_requests(),
        0,
        "nothing was written before the deadline"
    );
    transport.close();
}

/// The first request waits out a throttle in the broker's queue; the deadline passes before
/// the queue gets to run again (this test's only thread is blocked), so when the second
/// request is handed over the broker could take it at once: it must still go after the first.
#[tokio::test(flavor = "current_thread")]
async fn a_request_never_overtakes_one_still_queued() {
    let (kit, transport, leader, producer) = setup().await;
    throttle_once(&kit, &transport, leader, 50).await;
    let results = produce_in_order(&transport, leader, producer, Duration::from_millis(150)).await;
    assert_written_in_order(&results, 1);
    transport.close();
}
