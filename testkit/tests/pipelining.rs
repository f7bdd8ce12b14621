//! Requests pipelined on one connection are answered in order, several answers to one write
//! when they were already waiting; a request that must wait (a delay fault) does not hold back
//! the answers to the requests before it.

mod common;

use std::time::{Duration, Instant};

use common::{Client, batch, client_for, metadata_all};
use klamm_protocol::ApiKey;
use klamm_protocol::messages::MetadataRequest;
use klamm_protocol::messages::produce::ProduceRequest;
use klamm_testkit::requests::produce as produce_req;
use klamm_testkit::{Cluster, Fault, FaultAction};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    let cluster = Cluster::builder().topic("t", 1).start().await.unwrap();
    let mut c = client_for(&cluster, "t", 0).await;
    let mut sent = Vec::new();
    for i in 0..40 {
        if i % 2 == 0 {
            sent.push((c.send_only(&metadata_all(), 12).await, true));
        } else {
            let produce = produce_req("t", 0, -1, batch(&["x"], None, false));
            sent.push((c.send_only(&produce, 9).await, false));
        }
    }
    for (n, (correlation, metadata)) in sent.into_iter().enumerate() {
        if metadata {
            let r = c
                .recv::<MetadataRequest>(correlation, 12)
                .await
                .expect("answer");
            assert_eq!(r.topics.len(), 1);
        } else {
            let r = c
                .recv::<ProduceRequest>(correlation, 9)
                .await
                .expect("answer");
            let p = &r.responses[0].partition_responses[0];
            assert_eq!((p.error_code, p.base_offset), (0, (n / 2) as i64));
        }
    }
    assert_eq!(cluster.offsets("t", 0), Some((20, 20)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_before_a_delayed_request_are_not_held_back() {
    let cluster = Cluster::builder().topic("t", 1).start().await.unwrap();
    let delay = cluster.inject(
        Fault::new(
            ApiKey::Produce,
            FaultAction::Delay(Duration::from_millis(600)),
        )
        .times(1),
    );
    let mut c: Client = client_for(&cluster, "t", 0).await;
    let start = Instant::now();
    let first = c.send_only(&metadata_all(), 12).await;
    let second = c.send_only(&metadata_all(), 12).await;
    let produce = produce_req("t", 0, -1, batch(&["x"], None, false));
    let third = c.send_only(&produce, 9).await;
    c.recv::<MetadataRequest>(first, 12).await.expect("first");
    c.recv::<MetadataRequest>(second, 12).await.expect("second");
    let early = start.elapsed();
    c.recv::<ProduceRequest>(third, 9).await.expect("third");
    let late = start.elapsed();
    assert_eq!(cluster.fault_fired(delay), 1);
    assert!(
        late >= Duration::from_millis(550),
        "the produce was held: {late:?}"
    );
    assert!(
        early < Duration::from_millis(400),
        "the answers before it came first: {early:?}"
    );
}
