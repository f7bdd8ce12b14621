//! Connection lanes (`Cluster::lane`) against klamm-testkit, which like Kafka handles one
//! request per connection at a time: a request the broker holds back holds back everything
//! behind it on its connection, and nothing on another lane's; lanes share metadata and
//! `close`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use klamm_net::Cluster;
use klamm_protocol::ApiKey;
use klamm_protocol::messages::ApiVersionsRequest;
use klamm_testkit::{Fault, FaultAction};

mod on_testkit;

const HOLD: Duration = Duration::from_millis(400);

async fn cluster_of_one() -> (klamm_testkit::Cluster, Cluster, i32) {
    let (kit, cluster) = on_testkit::start(klamm_testkit::Cluster::builder().brokers(1)).await;
    let node = kit.brokers()[0].0;
    (kit, cluster, node)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_held_by_the_broker_holds_back_its_own_lane_only() {
    let (kit, cluster, node) = cluster_of_one().await;
    let lane0 = cluster.broker(node).await.expect("lane 0");
    let lane0_again = cluster.clone().broker(node).await.expect("lane 0 again");
    let lane1 = cluster.lane(1).broker(node).await.expect("lane 1");

    // Connected (handshakes done) before the fault, so it catches the first request below.
    let hold = kit.inject(Fault::new(ApiKey::ApiVersions, FaultAction::Delay(HOLD)).times(1));
    let send = |svc: klamm_net::BrokerService| {
        tokio::spawn(async move {
            svc.send(ApiVersionsRequest::default())
                .await
                .expect("answered");
            Instant::now()
        })
    };
    let held = send(lane0);
    while kit.fault_fired(hold) == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // The broker now holds lane 0's connection (since just before `t0`): a request behind it
    // on the same connection waits for it, one on lane 1 does not.
    let t0 = Instant::now();
    let behind = send(lane0_again);
    let beside = send(lane1);
    let beside_done = beside.await.unwrap();
    assert!(
        !held.is_finished(),
        "lane 1 was answered while lane 0's request was still held ({:?} after the hold began)",
        beside_done - t0
    );
    let held_done = held.await.unwrap();
    let behind_done = behind.await.unwrap();
    assert!(
        behind_done >= held_done - Duration::from_millis(50) && behind_done - t0 >= HOLD / 2,
        "the request behind the held one on lane 0 waited for it: answered {:?} after the hold \
         began, the held one {:?}",
        behind_done - t0,
        held_done - t0
    );
    assert_eq!(kit.fault_fired(hold), 1, "one request was held");

    // Two connections carried them: one per lane.
    let conns: std::collections::BTreeSet<u64> = kit
        .arrivals()
        .iter()
        .filter(|a| a.api_key == ApiKey::ApiVersions.as_i16())
        .map(|a| a.connection)
        .collect();
    // (the bootstrap connection's handshake is the third)
    assert_eq!(conns.len(), 3, "{conns:?}");
    cluster.close();
}

#[tokio::test]
async fn lanes_share_metadata_and_close() {
    let (_kit, cluster, node) = cluster_of_one().await;
    let lane2 = cluster.lane(2);
    assert_eq!((cluster.lane_index(), lane2.lane_index()), (0, 2));
    let before = cluster.metadata_refreshes();
    lane2.refresh_metadata().await.expect("refresh on lane 2");
    assert_eq!(cluster.metadata_refreshes(), before + 1, "one shared cache");
    assert!(Arc::ptr_eq(&cluster.metadata(), &lane2.metadata()));

    let a = cluster.broker(node).await.expect("lane 0");
    let b = lane2.broker(node).await.expect("lane 2");
    assert!(!a.connection().is_closed() && !b.connection().is_closed());
    // Closing any handle closes the cluster: every lane's connections.
    lane2.close();
    assert!(cluster.is_closed());
    assert!(a.connection().is_closed() && b.connection().is_closed());
    assert!(
        cluster.lane(5).broker(node).await.is_err(),
        "nothing opens after close"
    );
}
