//! ApiVersions, Metadata, CreateTopics, Produce, Fetch and ListOffsets over TCP.

mod common;

use common::{
    Client, another_broker, batch, client_for, fetch_req, two_brokers_one_partition, values,
};
use klamm_protocol::messages::create_topics::request::CreatableTopic;
use klamm_protocol::messages::list_offsets::request::{ListOffsetsPartition, ListOffsetsTopic};
use klamm_protocol::messages::metadata::request::MetadataRequestTopic;
use klamm_protocol::messages::*;
use klamm_protocol::{ApiKey, Message};
use klamm_testkit::requests::produce as produce_req;
use klamm_testkit::{Cluster, codes};

#[tokio::test]
async fn api_versions_lists_served_apis_and_answers_unknown_versions_in_v0() {
    let cluster = Cluster::builder().start().await.unwrap();
    let mut c = Client::connect(cluster.brokers()[0].1).await;
    let r = c.call(&ApiVersionsRequest::default(), 3).await;
    assert_eq!(r.error_code, 0);
    let fetch = r
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::Fetch.as_i16())
        .unwrap();
    assert_eq!((fetch.min_version, fetch.max_version), (4, 16));
    // KIP-511: a version from the future gets UNSUPPORTED_VERSION in the v0 layout
    let mut raw = Client::connect(cluster.brokers()[0].1).await;
    // ApiVersions v9: header v2 (key, version, correlation, client id, tags), empty body
    raw.write_raw(&[0, 0, 0, 12, 0, 18, 0, 9, 0, 0, 0, 7, 0xff, 0xff, 0, 0])
        .await;
    let frame = raw.read_frame().await.unwrap();
    assert_eq!(&frame[..4], &7i32.to_be_bytes());
    let v0 = ApiVersionsResponse::decode(&frame.slice(4..), 0).unwrap();
    assert_eq!(v0.error_code, codes::UNSUPPORTED_VERSION);
    assert!(!v0.api_keys.is_empty());
}

#[tokio::test]
async fn metadata_spreads_leaders_and_auto_creates_unless_disabled() {
    let cluster = Cluster::builder()
        .brokers(3)
        .topic("t", 6)
        .default_partitions(2)
        .start()
        .await
        .unwrap();
    let mut c = Client::connect(cluster.brokers()[1].1).await;
    let all = c.metadata().await;
    assert_eq!(all.brokers.len(), 3);
    let t = &all.topics[0];
    assert_eq!(t.name.as_deref(), Some("t"));
    let leaders: std::collections::BTreeSet<i32> =
        t.partitions.iter().map(|p| p.leader_id).collect();
    assert_eq!(leaders.len(), 3, "leaders spread over every broker");
    assert!(!t.topic_id.is_zero());
    let ask = |name: &str, allow| MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            name: Some(name.into()),
            ..Default::default()
        }]),
        allow_auto_topic_creation: allow,
        ..Default::default()
    };
    let r = c.call(&ask("fresh", true), 12).await;
    assert_eq!(
        (r.topics[0].error_code, r.topics[0].partitions.len()),
        (0, 2)
    );
    let r = c.call(&ask("nope", false), 12).await;
    assert_eq!(r.topics[0].error_code, codes::UNKNOWN_TOPIC_OR_PARTITION);

    let off = Cluster::builder()
        .auto_create_topics(false)
        .start()
        .await
        .unwrap();
    let mut c = Client::connect(off.brokers()[0].1).await;
    let r = c.call(&ask("fresh", true), 9).await;
    assert_eq!(r.topics[0].error_code, codes::UNKNOWN_TOPIC_OR_PARTITION);
}

#[tokio::test]
async fn create_topics() {
    let cluster = Cluster::builder().brokers(2).start().await.unwrap();
    let mut c = Client::connect(cluster.brokers()[0].1).await;
    let req = |name: &str, n, rf| CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.into(),
            num_partitions: n,
            replication_factor: rf,
            ..Default::default()
        }],
        timeout_ms: 1000,
        ..Default::default()
    };
    let r = c.call(&req("a", 4, 2), 7).await;
    assert_eq!(r.topics[0].error_code, 0);
    assert_eq!(cluster.with_state(|s| s.topics["a"].partitions.len()), 4);
    assert_eq!(
        c.call(&req("a", 4, 2), 7).await.topics[0].error_code,
        codes::TOPIC_ALREADY_EXISTS
    );
    assert_eq!(
        c.call(&req("b", 1, 3), 7).await.topics[0].error_code,
        codes::INVALID_REPLICATION_FACTOR
    );
    assert_eq!(
        c.call(&req("c", 0, 1), 2).await.topics[0].error_code,
        codes::INVALID_PARTITIONS
    );
}

#[tokio::test]
async fn produce_then_fetch_returns_the_same_batches_with_offsets() {
    let cluster = Cluster::builder()
        .brokers(3)
        .topic("t", 3)
        .start()
        .await
        .unwrap();
    let mut c = client_for(&cluster, "t", 1).await;
    let r = c
        .call(&produce_req("t", 1, -1, batch(&["a", "b"], None, false)), 9)
        .await;
    let p = &r.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    let sent = batch(&["c"], None, false);
    let r = c.call(&produce_req("t", 1, 1, sent.clone()), 7).await;
    assert_eq!(r.responses[0].partition_responses[0].base_offset, 2);
    // acks=0: no response, but the records are there
    c.send_only(&produce_req("t", 1, 0, batch(&["d"], None, false)), 9)
        .await;
    let f = c.call(&fetch_req("t", 1, 0, 0), 12).await;
    let p = &f.responses[0].partitions[0];
    assert_eq!(p.high_watermark, 4);
    let got: Vec<String> = values(p.records.as_ref().unwrap())
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(got, ["a", "b", "c", "d"]);
    // the stored batch is the produced one with only the base offset changed
    let stored = &cluster.batches("t", 1)[1];
    assert_eq!(&stored[16..], &sent[16..]);
    // a fetch from the middle starts at the batch holding the offset
    let f = c.call(&fetch_req("t", 1, 1, 0), 12).await;
    assert_eq!(
        values(f.responses[0].partitions[0].records.as_ref().unwrap())[0],
        (0, "a".into())
    );
    let f = c.call(&fetch_req("t", 1, 9, 0), 12).await;
    assert_eq!(
        f.responses[0].partitions[0].error_code,
        codes::OFFSET_OUT_OF_RANGE
    );
}

#[tokio::test]
async fn non_leaders_refuse_produce_and_fetch() {
    let cluster = two_brokers_one_partition().await;
    let leader = cluster.leader("t", 0).unwrap();
    let other = another_broker(&cluster, leader);
    let mut c = Client::connect(other.1).await;
    let r = c
        .call(&produce_req("t", 0, -1, batch(&["x"], None, false)), 10)
        .await;
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(p.error_code, codes::NOT_LEADER_OR_FOLLOWER);
    assert_eq!(p.current_leader.leader_id, leader);
    assert_eq!(r.node_endpoints[0].node_id, leader);
    let f = c.call(&fetch_req("t", 0, 0, 0), 12).await;
    assert_eq!(
        f.responses[0].partitions[0].error_code,
        codes::NOT_LEADER_OR_FOLLOWER
    );
    let r = c
        .call(&produce_req("t", 7, -1, batch(&["x"], None, false)), 10)
        .await;
    assert_eq!(
        r.responses[0].partition_responses[0].error_code,
        codes::UNKNOWN_TOPIC_OR_PARTITION
    );
    let r = c
        .call(&produce_req("t", 0, 2, batch(&["x"], None, false)), 10)
        .await;
    assert_eq!(
        r.responses[0].partition_responses[0].error_code,
        codes::INVALID_REQUIRED_ACKS
    );
}

#[tokio::test]
async fn idempotent_retries_get_their_original_offset_and_gaps_are_refused() {
    let cluster = Cluster::builder().topic("t", 1).start().await.unwrap();
    let mut c = client_for(&cluster, "t", 0).await;
    let init = c
        .call(
            &InitProducerIdRequest {
                transactional_id: None,
                transaction_timeout_ms: -1,
                producer_id: -1,
                producer_epoch: -1,
                ..Default::default()
            },
            4,
        )
        .await;
    let (pid, epoch) = (init.producer_id, init.producer_epoch);
    let first = batch(&["a", "b"], Some((pid, epoch, 0)), false);
    let code = |r: &ProduceResponse| {
        (
            r.responses[0].partition_responses[0].error_code,
            r.responses[0].partition_responses[0].base_offset,
        )
    };
    assert_eq!(
        code(&c.call(&produce_req("t", 0, -1, first.clone()), 9).await),
        (0, 0)
    );
    assert_eq!(
        code(
            &c.call(
                &produce_req("t", 0, -1, batch(&["c"], Some((pid, epoch, 2)), false)),
                9
            )
            .await
        ),
        (0, 2)
    );
    assert_eq!(
        code(&c.call(&produce_req("t", 0, -1, first), 9).await),
        (0, 0),
        "duplicate keeps its offset"
    );
    let gap = c
        .call(
            &produce_req("t", 0, -1, batch(&["e"], Some((pid, epoch, 5)), false)),
            9,
        )
        .await;
    assert_eq!(code(&gap).0, codes::OUT_OF_ORDER_SEQUENCE_NUMBER);
    // refused while appending: the answer carries the log start offset, as Kafka's does
    assert_eq!(gap.responses[0].partition_responses[0].log_start_offset, 0);
    assert_eq!(cluster.offsets("t", 0), Some((3, 3)));
    // A producer the partition has no state for may start at any sequence (Kafka 2.5+);
    // from then on its sequence is checked.
    let stranger = |seq| batch(&["e"], Some((pid + 50, 0, seq)), false);
    assert_eq!(
        code(&c.call(&produce_req("t", 0, -1, stranger(7)), 9).await),
        (0, 3)
    );
    assert_eq!(
        code(&c.call(&produce_req("t", 0, -1, stranger(9)), 9).await).0,
        codes::OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(cluster.offsets("t", 0), Some((4, 4)));
}

#[tokio::test]
async fn list_offsets_earliest_latest_and_by_time() {
    let cluster = Cluster::builder().topic("t", 1).start().await.unwrap();
    let mut c = client_for(&cluster, "t", 0).await;
    let records =
        klamm_testkit::requests::batch_at(&["a", "b", "c"], None, false, 1_700_000_000_000)
            .expect("batch");
    c.call(&produce_req("t", 0, -1, records), 9).await;
    let ask = |ts| ListOffsetsRequest {
        replica_id: -1,
        topics: vec![ListOffsetsTopic {
            name: "t".into(),
            partitions: vec![ListOffsetsPartition {
                partition_index: 0,
                current_leader_epoch: -1,
                timestamp: ts,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let off = |r: ListOffsetsResponse| r.topics[0].partitions[0].offset;
    assert_eq!(off(c.call(&ask(-1), 7).await), 3);
    assert_eq!(off(c.call(&ask(-2), 7).await), 0);
    assert_eq!(
        off(c.call(&ask(1_700_000_000_001), 7).await),
        0,
        "first batch holding the time"
    );
    assert_eq!(off(c.call(&ask(1_800_000_000_000), 7).await), -1);
}

#[tokio::test]
async fn fetch_waits_for_data_up_to_max_wait() {
    let cluster = Cluster::builder().topic("t", 1).start().await.unwrap();
    let mut reader = client_for(&cluster, "t", 0).await;
    let mut writer = client_for(&cluster, "t", 0).await;
    let mut req = fetch_req("t", 0, 0, 0);
    req.max_wait_ms = 5_000;
    req.min_bytes = 1;
    let corr = reader.send_only(&req, 12).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    writer
        .call(&produce_req("t", 0, -1, batch(&["late"], None, false)), 9)
        .await;
    let f = reader.recv::<FetchRequest>(corr, 12).await.unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "woken by the append"
    );
    assert_eq!(
        values(f.responses[0].partitions[0].records.as_ref().unwrap())[0].1,
        "late"
    );
}

#[tokio::test]
async fn a_failed_acks0_produce_closes_the_connection() {
    let cluster = two_brokers_one_partition().await;
    let leader = cluster.leader("t", 0).unwrap();
    let other = another_broker(&cluster, leader);
    let mut c = Client::connect(other.1).await;
    c.send_only(&produce_req("t", 0, 0, batch(&["x"], None, false)), 9)
        .await;
    assert!(
        c.is_closed().await,
        "Kafka closes the connection so the client notices"
    );
    let mut ok = client_for(&cluster, "t", 0).await;
    ok.send_only(&produce_req("t", 0, 0, batch(&["x"], None, false)), 9)
        .await;
    let r = ok.metadata().await;
    assert_eq!(
        r.brokers.len(),
        2,
        "a successful acks=0 produce keeps it open"
    );
    assert_eq!(cluster.offsets("t", 0).unwrap().0, 1);
}
