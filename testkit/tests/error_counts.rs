//! The error-code counters: every error code the brokers send is counted per API and per
//! broker, provoked here by real protocol violations (an out-of-order sequence, a produce to a
//! broker that is not the leader) and by an injected error.

mod common;

use std::collections::BTreeMap;

use common::{Client, another_broker, batch, broker_addr, init_idempotent, produce_code};
use klamm_protocol::ApiKey;
use klamm_testkit::requests::produce as produce_req;
use klamm_testkit::{Cluster, Fault, FaultAction, codes};

#[tokio::test]
async fn sequence_and_leadership_errors_are_counted_per_api_and_broker() {
    let cluster = Cluster::builder()
        .brokers(2)
        .topic("t", 1)
        .start()
        .await
        .unwrap();
    let leader = cluster.leader("t", 0).unwrap();
    let (other, other_addr) = another_broker(&cluster, leader);
    let mut c = Client::connect(broker_addr(&cluster, leader)).await;
    let init = c.call(&init_idempotent(), 4).await;
    assert_eq!(init.error_code, codes::NONE);
    let (pid, epoch) = (init.producer_id, init.producer_epoch);
    assert!(
        cluster.error_counts(ApiKey::Produce).is_empty(),
        "nothing counted before any error"
    );
    assert_eq!(cluster.duplicate_batches(), 0);

    let first = produce_req("t", 0, -1, batch(&["a", "b"], Some((pid, epoch, 0)), false));
    assert_eq!(produce_code(&c.call(&first, 9).await), codes::NONE);
    // a retried duplicate is answered with its offset, not an error
    assert_eq!(produce_code(&c.call(&first, 9).await), codes::NONE);
    assert_eq!(
        cluster.error_count(ApiKey::Produce, codes::DUPLICATE_SEQUENCE_NUMBER),
        0
    );
    assert_eq!(cluster.duplicate_batches(), 1, "the retry was recognised");
    // a gap in the sequence: OUT_OF_ORDER_SEQUENCE_NUMBER, twice
    let gap = produce_req("t", 0, -1, batch(&["z"], Some((pid, epoch, 7)), false));
    for _ in 0..2 {
        assert_eq!(
            produce_code(&c.call(&gap, 9).await),
            codes::OUT_OF_ORDER_SEQUENCE_NUMBER
        );
    }
    assert_eq!(
        cluster.error_count(ApiKey::Produce, codes::OUT_OF_ORDER_SEQUENCE_NUMBER),
        2
    );

    // the other broker is not the leader
    let mut o = Client::connect(other_addr).await;
    let plain = produce_req("t", 0, -1, batch(&["x"], None, false));
    assert_eq!(
        produce_code(&o.call(&plain, 9).await),
        codes::NOT_LEADER_OR_FOLLOWER
    );
    assert_eq!(
        cluster.error_counts(ApiKey::Produce),
        BTreeMap::from([
            (codes::NOT_LEADER_OR_FOLLOWER, 1),
            (codes::OUT_OF_ORDER_SEQUENCE_NUMBER, 2)
        ])
    );
    assert_eq!(
        cluster.error_counts_on(ApiKey::Produce, leader),
        BTreeMap::from([(codes::OUT_OF_ORDER_SEQUENCE_NUMBER, 2)])
    );
    assert_eq!(
        cluster.error_counts_on(ApiKey::Produce, other),
        BTreeMap::from([(codes::NOT_LEADER_OR_FOLLOWER, 1)])
    );
    assert!(
        cluster.error_counts(ApiKey::InitProducerId).is_empty(),
        "counted per API"
    );

    // injected errors are sent, so counted
    cluster.inject(
        Fault::new(
            ApiKey::InitProducerId,
            FaultAction::Error(codes::COORDINATOR_NOT_AVAILABLE),
        )
        .times(1),
    );
    let r = c.call(&init_idempotent(), 4).await;
    assert_eq!(r.error_code, codes::COORDINATOR_NOT_AVAILABLE);
    assert_eq!(
        cluster.error_count(ApiKey::InitProducerId, codes::COORDINATOR_NOT_AVAILABLE),
        1
    );
}

#[tokio::test]
async fn every_refused_partition_of_one_produce_is_counted() {
    let cluster = Cluster::builder().topic("t", 1).start().await.unwrap();
    let mut c = Client::connect(broker_addr(&cluster, 0)).await;
    let mut req = produce_req("t", 0, -1, batch(&["x"], None, false));
    // two unknown partitions and one good one in one request
    for p in [5, 6] {
        let mut extra = req.topic_data[0].partition_data[0].clone();
        extra.index = p;
        req.topic_data[0].partition_data.push(extra);
    }
    let r = c.call(&req, 9).await;
    let got: Vec<i16> = r.responses[0]
        .partition_responses
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(
        got,
        vec![
            codes::NONE,
            codes::UNKNOWN_TOPIC_OR_PARTITION,
            codes::UNKNOWN_TOPIC_OR_PARTITION
        ]
    );
    assert_eq!(
        cluster.error_counts(ApiKey::Produce),
        BTreeMap::from([(codes::UNKNOWN_TOPIC_OR_PARTITION, 2)])
    );
}

#[tokio::test]
async fn an_unsupported_api_versions_answer_is_counted() {
    let cluster = Cluster::builder().start().await.unwrap();
    let mut c = Client::connect(broker_addr(&cluster, 0)).await;
    // ApiVersions v99 (header v2: key 18, version 99, correlation 7, null client id, no
    // tags): KIP-511 answers in v0 with UNSUPPORTED_VERSION
    let header: [u8; 11] = [0, 18, 0, 99, 0, 0, 0, 7, 0xff, 0xff, 0];
    let mut frame = (header.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&header);
    c.write_raw(&frame).await;
    let answer = c.read_frame().await.expect("an answer");
    assert_eq!(&answer[..4], &7i32.to_be_bytes(), "correlation id");
    assert_eq!(
        &answer[4..6],
        &codes::UNSUPPORTED_VERSION.to_be_bytes(),
        "error code"
    );
    assert_eq!(
        cluster.error_counts_on(ApiKey::ApiVersions, 0),
        BTreeMap::from([(codes::UNSUPPORTED_VERSION, 1)])
    );
}
