//! `connections.max.idle.ms` against klamm-testkit: a pooled connection with nothing in flight
//! for that long is closed and the next request opens a new one (a new connection in the
//! testkit's arrival log), without a metadata refresh; a connection in use stays open.

use std::time::Duration;

use klamm_net::{Cluster, ConnectionConfig};
use klamm_protocol::ApiKey;
use klamm_protocol::error_code::ErrorCode;
use klamm_testkit::requests;

/// The testkit connections that carried Produce requests, in arrival order.
fn produce_connections(kit: &klamm_testkit::Cluster) -> Vec<u64> {
    let mut seen: Vec<u64> = Vec::new();
    for a in kit.arrivals() {
        if a.api_key == ApiKey::Produce.as_i16() && !seen.contains(&a.connection) {
            seen.push(a.connection);
        }
    }
    seen
}

async fn produce_one(cluster: &Cluster) {
    let records = requests::batch(&["v"], None, false).expect("batch");
    let resp = cluster
        .leader("t", 0)
        .await
        .expect("leader")
        .send(requests::produce("t", 0, -1, records))
        .await
        .expect("produce");
    assert_eq!(
        ErrorCode::from_i16(resp.responses[0].partition_responses[0].error_code),
        ErrorCode::None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_and_a_busy_one_kept() {
    let kit = klamm_testkit::Cluster::builder()
        .brokers(1)
        .topic("t", 1)
        .start()
        .await
        .expect("testkit");
    let connection = ConnectionConfig::builder()
        .connections_max_idle(Duration::from_millis(300))
        .build()
        .expect("config");
    let cluster = Cluster::builder()
        .bootstrap(kit.bootstrap())
        .connection(connection)
        .connect()
        .await
        .expect("connects");

    // Busy: a request every 100 ms for a second keeps one connection.
    for _ in 0..10 {
        produce_one(&cluster).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(produce_connections(&kit).len(), 1, "kept while in use");

    // Idle for 700 ms: closed; the next request opens another.
    let refreshes = cluster.metadata_refreshes();
    tokio::time::sleep(Duration::from_millis(700)).await;
    produce_one(&cluster).await;
    assert_eq!(
        produce_connections(&kit).len(),
        2,
        "reopened after the idle close"
    );
    assert_eq!(
        cluster.metadata_refreshes(),
        refreshes,
        "an idle close is not a broken connection: no metadata refresh"
    );
    cluster.close();
}

#[test]
fn a_zero_idle_time_is_refused() {
    let err = ConnectionConfig::builder()
        .connections_max_idle(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("connections.max.idle.ms"), "{err}");
}
