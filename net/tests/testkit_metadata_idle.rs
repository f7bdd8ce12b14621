//! `metadata.max.idle.ms` against klamm-testkit: a topic nobody used for that long leaves the
//! Metadata requests and the cached metadata at the next refresh, a topic in use stays, and a
//! forgotten topic asked for again is fetched again.

use std::time::Duration;

use klamm_net::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_topic_is_forgotten_and_fetched_again_when_used() {
    let kit = klamm_testkit::Cluster::builder()
        .brokers(1)
        .topic("idle", 2)
        .topic("busy", 3)
        .start()
        .await
        .expect("testkit");
    let cluster = Cluster::builder()
        .bootstrap(kit.bootstrap())
        .metadata_max_idle(Duration::from_millis(300))
        .connect()
        .await
        .expect("connects");
    assert_eq!(
        cluster.topic("idle").await.expect("idle").partitions.len(),
        2
    );
    assert_eq!(
        cluster.topic("busy").await.expect("busy").partitions.len(),
        3
    );

    // "busy" is used every 50 ms for 600 ms; "idle" is not.
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        cluster.touch_topics(["busy"]);
        // Refreshes in between keep what is used.
        cluster.refresh_metadata().await.expect("refresh");
    }
    let meta = cluster.metadata();
    assert!(meta.topic("idle").is_none(), "idle for 600 ms: forgotten");
    assert!(meta.topic("busy").is_some(), "in use: kept");

    // Asked for again: fetched again, and kept by the next refresh.
    assert_eq!(
        cluster
            .topic("idle")
            .await
            .expect("idle again")
            .partitions
            .len(),
        2
    );
    let meta = cluster.refresh_metadata().await.expect("refresh");
    assert!(meta.topic("idle").is_some());
    cluster.close();
}

#[test]
fn a_zero_idle_time_is_refused() {
    let err = Cluster::builder()
        .bootstrap("127.0.0.1:9092")
        .metadata_max_idle(Duration::ZERO)
        .validate()
        .unwrap_err();
    assert!(err.to_string().contains("metadata.max.idle.ms"), "{err}");
}
