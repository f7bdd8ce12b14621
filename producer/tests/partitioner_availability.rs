//! `partitioner.availability.timeout.ms` (KIP-794) against klamm-testkit over TCP: a broker
//! whose Produce requests hang stops receiving keyless records once it has been stalled for
//! longer than the timeout, while its records already sent still arrive.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use klamm_producer::{Producer, ProducerRecord};
use klamm_protocol::ApiKey;
use klamm_testkit::{Cluster, Fault, FaultAction};

const PARTITIONS: i32 = 6;

/// Sends keyless 100-byte records for `run`, one every millisecond, to a cluster whose broker
/// `slow` holds every Produce for 1 s; returns how many records sent during the last 300 ms of
/// the run went to partitions `slow` leads, and how many went elsewhere.
async fn keyless_records_on_a_hanging_broker(availability_timeout: Duration) -> (usize, usize) {
    let kit = Cluster::builder()
        .brokers(3)
        .topic("t", PARTITIONS)
        .start()
        .await
        .expect("testkit starts");
    let leaders: HashMap<i32, i32> = (0..PARTITIONS)
        .map(|p| (p, kit.leader("t", p).expect("a leader")))
        .collect();
    let slow = leaders[&0];
    let producer = Producer::builder()
        .bootstrap(kit.bootstrap().split(','))
        .linger(Duration::from_millis(1))
        .batch_size(1_000)
        .max_in_flight(1)
        .partitioner_availability_timeout(availability_timeout)
        .request_timeout(Duration::from_secs(10))
        .build()
        .await
        .expect("producer");
    // Metadata first, so that the hang is the only thing that holds records back.
    producer
        .send(ProducerRecord::new("t").partition(1).value("warm-up"))
        .await
        .expect("accepted")
        .await
        .expect("delivered");
    let hang = kit.inject(
        Fault::new(ApiKey::Produce, FaultAction::Delay(Duration::from_secs(1))).broker(slow),
    );

    let run = Duration::from_millis(800);
    let start = Instant::now();
    let mut late = (0, 0);
    let mut deliveries = Vec::new();
    while start.elapsed() < run {
        let f = producer
            .send(ProducerRecord::new("t").value(vec![b'x'; 100]))
            .await
            .expect("accepted");
        if start.elapsed() >= run - Duration::from_millis(300) {
            if leaders[&f.partition()] == slow {
                late.0 += 1;
            } else {
                late.1 += 1;
            }
        }
        deliveries.push(f);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for f in deliveries {
        tokio::time::timeout(Duration::from_secs(20), f)
            .await
            .expect("delivered in time")
            .expect("delivered, the hanging broker's records too");
    }
    assert!(
        kit.fault_fired(hang) > 0,
        "the slow broker held Produce requests"
    );
    producer.close(Duration::from_secs(5)).await.expect("close");
    late
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_leader_gets_no_new_keyless_records() {
    let (to_slow, elsewhere) = keyless_records_on_a_hanging_broker(Duration::from_millis(50)).await;
    assert!(elsewhere > 20, "records kept flowing: {elsewhere}");
    assert_eq!(
        to_slow, 0,
        "{to_slow} records went to the stalled broker, {elsewhere} elsewhere"
    );
}
