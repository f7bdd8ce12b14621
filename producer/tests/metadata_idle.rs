//! `metadata_max_idle` (`metadata.max.idle.ms`) end to end against klamm-testkit: the producer
//! reports the topics it sends to, so a topic still in use keeps its metadata while one left
//! idle is forgotten, and the next record to a forgotten topic fetches its metadata again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use klamm_producer::{Producer, ProducerRecord};
use klamm_testkit::Cluster;

async fn deliver(p: &Producer, topic: &str) {
    let delivery = p
        .send(ProducerRecord::new(topic).value("v"))
        .await
        .expect("accepted");
    tokio::time::timeout(Duration::from_secs(10), delivery)
        .await
        .expect("delivered in time")
        .expect("delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_left_idle_is_forgotten_and_fetched_again() {
    let kit = Cluster::builder()
        .brokers(2)
        .topic("idle", 2)
        .topic("busy", 2)
        .start()
        .await
        .expect("testkit starts");
    let builder = Producer::builder()
        .bootstrap(kit.bootstrap().split(','))
        .linger(Duration::from_millis(1))
        .metadata_max_age(Duration::from_millis(100))
        .metadata_max_idle(Duration::from_millis(400));
    let cluster = builder.connect_cluster().await.expect("cluster");
    let producer = builder.build_on(cluster.clone()).expect("producer");
    deliver(&producer, "idle").await;
    deliver(&producer, "busy").await;
    assert!(cluster.metadata().topic("idle").is_some());

    // Only "busy" gets records for a second, through several periodic refreshes; a watcher
    // checks every few milliseconds that its metadata never goes missing (were it forgotten,
    // the next record would fetch it again, so only a watcher sees the gap).
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = tokio::spawn({
        let (cluster, watching) = (cluster.clone(), Arc::clone(&watching));
        async move {
            let mut gaps = 0;
            while watching.load(Ordering::Relaxed) {
                if cluster.metadata().topic("busy").is_none() {
                    gaps += 1;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            gaps
        }
    });
    for _ in 0..20 {
        deliver(&producer, "busy").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watching.store(false, Ordering::Relaxed);
    assert_eq!(
        watcher.await.expect("watcher"),
        0,
        "busy's metadata was never forgotten"
    );
    let meta = cluster.metadata();
    assert!(meta.topic("idle").is_none(), "idle for a second: forgotten");
    assert!(meta.topic("busy").is_some(), "produced to all along: kept");

    let refreshes = cluster.metadata_refreshes();
    deliver(&producer, "idle").await;
    assert!(cluster.metadata().topic("idle").is_some(), "fetched again");
    assert!(cluster.metadata_refreshes() > refreshes);
    producer.close(Duration::from_secs(5)).await.expect("close");
    cluster.close();
}
