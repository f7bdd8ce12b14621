//! The control API: injected errors, delays, dropped connections, throttling, quotas, the
//! arrival log, broker stop/restart and leader moves, each shown to have really happened.

mod common;

use std::time::{Duration, Instant};

use common::{
    Client, batch, broker_addr, client_for, fetch_req, metadata_all, two_brokers_one_partition,
};
use klamm_protocol::ApiKey;
use klamm_protocol::messages::*;
use klamm_testkit::requests::produce as produce_req;
use klamm_testkit::{Cluster, Fault, FaultAction, codes};

#[tokio::test]
async fn injected_errors_are_answered_and_counted() {
    let cluster = Cluster::builder().topic("t", 1).start().await.unwrap();
    let id = cluster.inject(
        Fault::new(
            ApiKey::Produce,
            FaultAction::Error(codes::NOT_LEADER_OR_FOLLOWER),
        )
        .times(2),
    );
    let mut c = client_for(&cluster, "t", 0).await;
    for _ in 0..2 {
        let r = c
            .call(&produce_req("t", 0, -1, batch(&["x"], None, false)), 9)
            .await;
        assert_eq!(
            r.responses[0].partition_responses[0].error_code,
            codes::NOT_LEADER_OR_FOLLOWER
        );
    }
    let r = c
        .call(&produce_req("t", 0, -1, batch(&["x"], None, false)), 9)
        .await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    assert_eq!(cluster.fault_fired(id), 2);
    assert_eq!(cluster.injected(ApiKey::Produce).errors, 2);
    assert_eq!(
        cluster.offsets("t", 0),
        Some((1, 1)),
        "errored requests were not applied"
    );
}

#[tokio::test]
async fn drop_after_applies_then_closes_and_drop_before_does_not_apply() {
    let cluster = Cluster::builder().topic("t", 1).start().await.unwrap();
    cluster.inject(Fault::new(ApiKey::Produce, FaultAction::DropAfter).every(2));
    let mut c = client_for(&cluster, "t", 0).await;
    assert!(
        c.try_call(&produce_req("t", 0, -1, batch(&["a"], None, false)), 9)
            .await
            .is_some()
    );
    assert!(
        c.try_call(&produce_req("t", 0, -1, batch(&["b"], None, false)), 9)
            .await
            .is_none()
    );
    assert_eq!(
        cluster.offsets("t", 0).unwrap().0,
        2,
        "the dropped request was applied"
    );
    assert_eq!(cluster.injected(ApiKey::Produce).drops_after, 1);
    cluster.clear_faults();
    cluster.inject(Fault::new(ApiKey::Produce, FaultAction::DropBefore).times(1));
    let mut c = client_for(&cluster, "t", 0).await;
    assert!(
        c.try_call(&produce_req("t", 0, -1, batch(&["c"], None, false)), 9)
            .await
            .is_none()
    );
    assert_eq!(cluster.offsets("t", 0).unwrap().0, 2, "not applied");
    assert_eq!(cluster.injected(ApiKey::Produce).drops_before, 1);
}

#[tokio::test]
async fn delays_hold_only_the_matching_broker() {
    let cluster = Cluster::builder().brokers(2).start().await.unwrap();
    cluster.inject(
        Fault::new(
            ApiKey::Metadata,
            FaultAction::Delay(Duration::from_millis(1000)),
        )
        .broker(0),
    );
    let req = metadata_all();
    let mut slow = Client::connect(cluster.brokers()[0].1).await;
    let mut fast = Client::connect(cluster.brokers()[1].1).await;
    let t = Instant::now();
    fast.call(&req, 12).await;
    assert!(t.elapsed() < Duration::from_millis(800));
    let t = Instant::now();
    slow.call(&req, 12).await;
    assert!(t.elapsed() >= Duration::from_millis(1000));
    assert_eq!(cluster.injected(ApiKey::Metadata).delays, 1);
}

#[tokio::test]
async fn injected_throttle_mutes_kip219_connections_and_delays_older_responses() {
    let cluster = Cluster::builder().topic("t", 1).start().await.unwrap();
    cluster.inject(Fault::new(ApiKey::Produce, FaultAction::Throttle(1000)).times(2));
    let mut c = client_for(&cluster, "t", 0).await;
    // v9 (KIP-219): answered at once with throttle_time_ms; the next request waits
    let t = Instant::now();
    let r = c
        .call(&produce_req("t", 0, -1, batch(&["a"], None, false)), 9)
        .await;
    assert_eq!(r.throttle_time_ms, 1000);
    assert!(t.elapsed() < Duration::from_millis(800), "answered first");
    let corr = c.send_only(&metadata_all(), 12).await;
    c.recv::<MetadataRequest>(corr, 12).await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(1000),
        "muted until the deadline"
    );
    assert_eq!(
        cluster.early_requests(),
        1,
        "the client sent before its deadline"
    );
    // v5 (before KIP-219): the broker delays the response itself
    let t = Instant::now();
    let r = c
        .call(&produce_req("t", 0, -1, batch(&["b"], None, false)), 5)
        .await;
    assert_eq!(r.throttle_time_ms, 1000);
    assert!(t.elapsed() >= Duration::from_millis(1000));
    let events = cluster.throttles();
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| !e.from_quota && e.throttle_ms == 1000)
    );
}

#[tokio::test]
async fn produce_quota_throttles_like_kafka() {
    let cluster = Cluster::builder()
        .topic("t", 1)
        .produce_quota(10_000.0)
        .start()
        .await
        .unwrap();
    let mut c = client_for(&cluster, "t", 0).await;
    let big = "x".repeat(50_000);
    let r = c
        .call(&produce_req("t", 0, -1, batch(&[&big], None, false)), 9)
        .await;
    // about 50 KB in the minimum 10 s window: 5 KB/s, within quota
    assert_eq!(r.throttle_time_ms, 0);
    let r = c
        .call(
            &produce_req("t", 0, -1, batch(&[&big, &big, &big], None, false)),
            9,
        )
        .await;
    // about 200 KB / 10 s = 20 KB/s: (20k - 10k) / 10k * 10 s = about 10 s
    assert!(
        (9_000..=11_000).contains(&r.throttle_time_ms),
        "{}",
        r.throttle_time_ms
    );
    assert!(cluster.throttles().iter().any(|e| e.from_quota));
    // other clients are not affected by this client's usage? They share the default
    // quota but have their own rate.
    let mut other = client_for(&cluster, "t", 0).await;
    other.client_id = Some("other".into());
    let r = other
        .call(&produce_req("t", 0, -1, batch(&["y"], None, false)), 9)
        .await;
    assert_eq!(r.throttle_time_ms, 0);
    cluster.set_produce_quota(None, None);
}

#[tokio::test]
async fn the_arrival_log_records_every_request() {
    let cluster = Cluster::builder().topic("t", 1).start().await.unwrap();
    let mut c = client_for(&cluster, "t", 0).await;
    c.call(&ApiVersionsRequest::default(), 3).await;
    c.call(&produce_req("t", 0, -1, batch(&["a"], None, false)), 9)
        .await;
    let log = cluster.arrivals();
    assert_eq!(log.len(), 2);
    assert_eq!(
        (log[0].api_key, log[0].api_version, log[0].correlation_id),
        (18, 3, 1)
    );
    assert_eq!(
        (log[1].api_key, log[1].api_version, log[1].correlation_id),
        (0, 9, 2)
    );
    assert_eq!(log[0].connection, log[1].connection);
    assert_eq!(log[1].client_id.as_deref(), Some("testkit-test"));
    assert!(log[0].at <= log[1].at);
}

#[tokio::test]
async fn brokers_stop_and_restart_on_the_same_port_keeping_their_data() {
    let cluster = two_brokers_one_partition().await;
    let leader = cluster.leader("t", 0).unwrap();
    let addr = broker_addr(&cluster, leader);
    let mut c = Client::connect(addr).await;
    c.call(&produce_req("t", 0, -1, batch(&["a"], None, false)), 9)
        .await;
    cluster.stop_broker(leader).unwrap();
    assert!(!cluster.broker_running(leader));
    assert!(c.is_closed().await, "open connections are dropped");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "nothing listens"
    );
    cluster.restart_broker(leader).await.unwrap();
    let mut c = Client::connect(addr).await;
    let f = c.call(&fetch_req("t", 0, 0, 0), 12).await;
    assert_eq!(f.responses[0].partitions[0].high_watermark, 1);
}

#[tokio::test]
async fn moved_leaders_bump_epochs_and_fence_old_epochs() {
    let cluster = two_brokers_one_partition().await;
    let old = cluster.leader("t", 0).unwrap();
    let new = 1 - old;
    cluster.move_leader("t", 0, new).unwrap();
    let mut c = client_for(&cluster, "t", 0).await;
    let mut req = fetch_req("t", 0, 0, 0);
    req.topics[0].partitions[0].current_leader_epoch = 0;
    let f = c.call(&req, 12).await;
    assert_eq!(
        f.responses[0].partitions[0].error_code,
        codes::FENCED_LEADER_EPOCH
    );
    req.topics[0].partitions[0].current_leader_epoch = 1;
    assert_eq!(
        c.call(&req, 12).await.responses[0].partitions[0].error_code,
        0
    );
    assert!(cluster.move_leader("t", 0, 9).is_err());
}
