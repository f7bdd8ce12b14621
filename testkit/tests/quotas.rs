//! Produce quotas per broker, as Kafka enforces them: each broker measures and throttles only
//! the bytes it receives from a client id, and a quota can be set on one broker only.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Client, batch, broker_addr};
use klamm_protocol::messages::ProduceResponse;
use klamm_testkit::requests::produce as produce_req;
use klamm_testkit::{Cluster, TestkitError};

/// A cluster of 2 brokers with topic `t` of 2 partitions, partition `n` led by broker `n`.
async fn two_brokers() -> Cluster {
    let c = Cluster::builder()
        .brokers(2)
        .topic("t", 2)
        .start()
        .await
        .unwrap();
    assert_eq!((c.leader("t", 0), c.leader("t", 1)), (Some(0), Some(1)));
    c
}

/// Produces `n` records of 50,000 bytes to partition `p` (led by broker `p`) through `c`.
async fn produce_big(c: &mut Client, p: i32, n: usize) -> ProduceResponse {
    let big = "x".repeat(50_000);
    let values: Vec<&str> = vec![big.as_str(); n];
    let r = c
        .call(&produce_req("t", p, -1, batch(&values, None, false)), 9)
        .await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    r
}

#[tokio::test]
async fn each_broker_measures_a_clients_rate_on_its_own_traffic() {
    let cluster = two_brokers().await;
    cluster.set_produce_quota(None, Some(10_000.0));
    let mut b0 = Client::connect(broker_addr(&cluster, 0)).await;
    let mut b1 = Client::connect(broker_addr(&cluster, 1)).await;
    // about 60 KB to each broker in the minimum 10 s window: 6 KB/s on each, within the
    // quota, although 12 KB/s in total (a cluster-wide rate would throttle the second).
    assert_eq!(produce_big(&mut b0, 0, 1).await.throttle_time_ms, 0);
    assert_eq!(produce_big(&mut b1, 1, 1).await.throttle_time_ms, 0);
    assert!(cluster.quota_throttle_counts().is_empty());
    // broker 1 alone goes over: about 210 KB / 10 s = 21 KB/s, (21k - 10k) / 10k * 10 s
    let r = produce_big(&mut b1, 1, 3).await;
    assert!(
        (10_000..=12_000).contains(&r.throttle_time_ms),
        "{}",
        r.throttle_time_ms
    );
    assert_eq!(cluster.quota_throttle_counts(), BTreeMap::from([(1, 1)]));
    assert!(cluster.throttles().iter().all(|t| t.broker == 1));
}

#[tokio::test]
async fn a_quota_on_one_broker_throttles_only_that_brokers_traffic() {
    let cluster = two_brokers().await;
    assert!(matches!(
        cluster.set_broker_produce_quota(7, None, Some(1.0)),
        Err(TestkitError::UnknownBroker(7))
    ));
    cluster
        .set_broker_produce_quota(1, Some("testkit-test"), Some(10_000.0))
        .unwrap();
    let mut b0 = Client::connect(broker_addr(&cluster, 0)).await;
    let mut b1 = Client::connect(broker_addr(&cluster, 1)).await;
    // 200 KB to broker 0: no quota there
    assert_eq!(produce_big(&mut b0, 0, 4).await.throttle_time_ms, 0);
    // 200 KB to broker 1: 20 KB/s over 10 s against 10 KB/s, about 10 s of throttle, answered
    // at once (KIP-219: the client waits, the broker mutes the connection after answering)
    let sent = Instant::now();
    let r = produce_big(&mut b1, 1, 4).await;
    assert!(sent.elapsed() < Duration::from_secs(3), "answered first");
    assert!(
        (9_000..=11_000).contains(&r.throttle_time_ms),
        "{}",
        r.throttle_time_ms
    );
    // another client id is not under broker 1's quota
    let mut other = Client::connect(broker_addr(&cluster, 1)).await;
    other.client_id = Some("other".into());
    assert_eq!(produce_big(&mut other, 1, 4).await.throttle_time_ms, 0);
    // broker 0 keeps accepting at any rate
    assert_eq!(produce_big(&mut b0, 0, 4).await.throttle_time_ms, 0);
    assert_eq!(cluster.quota_throttle_counts(), BTreeMap::from([(1, 1)]));
    let events = cluster.throttles();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].from_quota && events[0].broker == 1);
    // lifted: broker 1 falls back to the cluster-wide setting (none)
    cluster
        .set_broker_produce_quota(1, Some("testkit-test"), None)
        .unwrap();
    let mut again = Client::connect(broker_addr(&cluster, 1)).await;
    assert_eq!(produce_big(&mut again, 1, 1).await.throttle_time_ms, 0);
}
