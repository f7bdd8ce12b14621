//! `klamm_net::read` against klamm-testkit: a committed, an aborted and a still-open
//! transaction next to a plain record, each written with raw requests, then read back with both
//! isolation levels.

use bytes::Bytes;
use klamm_net::read::{Isolation, read_partition, read_topic};
use klamm_net::{Cluster, CoordinatorType};
use klamm_protocol::messages::add_partitions_to_txn::request::AddPartitionsToTxnTopic;
use klamm_protocol::messages::{
    AddPartitionsToTxnRequest, EndTxnRequest, InitProducerIdRequest, ProduceRequest,
};
use klamm_testkit::requests;

mod on_testkit;

const TOPIC: &str = "t";

/// A transactional producer driven by hand: its id, epoch and next sequence.
struct Txn {
    id: String,
    pid: i64,
    epoch: i16,
    sequence: i32,
}

impl Txn {
    async fn init(cluster: &Cluster, id: &str) -> Txn {
        let coord = cluster
            .coordinator(CoordinatorType::Transaction, id)
            .await
            .expect("coordinator");
        let r = coord
            .connection()
            .send_at(
                InitProducerIdRequest {
                    transactional_id: Some(id.into()),
                    transaction_timeout_ms: 60_000,
                    ..Default::default()
                },
                4,
            )
            .await
            .expect("InitProducerId");
        assert_eq!(r.error_code, 0, "InitProducerId");
        Txn {
            id: id.into(),
            pid: r.producer_id,
            epoch: r.producer_epoch,
            sequence: 0,
        }
    }

    /// Adds the partition and writes `values` in one batch.
    async fn write(&mut self, cluster: &Cluster, values: &[&str]) {
        let coord = cluster
            .coordinator(CoordinatorType::Transaction, &self.id)
            .await
            .expect("coordinator");
        let add = AddPartitionsToTxnRequest {
            v3_and_below_transactional_id: self.id.clone(),
            v3_and_below_producer_id: self.pid,
            v3_and_below_producer_epoch: self.epoch,
            v3_and_below_topics: vec![AddPartitionsToTxnTopic {
                name: TOPIC.into(),
                partitions: vec![0],
                ..Default::default()
            }],
            ..Default::default()
        };
        let r = coord.connection().send_at(add, 3).await.expect("add");
        assert_eq!(
            r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
            0
        );
        let batch = requests::batch(values, Some((self.pid, self.epoch, self.sequence)), true)
            .expect("batch");
        self.sequence += values.len() as i32;
        let produce = ProduceRequest {
            transactional_id: Some(self.id.clone()),
            ..requests::produce(TOPIC, 0, -1, batch)
        };
        produce_ok(cluster, produce).await;
    }

    async fn end(&self, cluster: &Cluster, committed: bool) {
        let coord = cluster
            .coordinator(CoordinatorType::Transaction, &self.id)
            .await
            .expect("coordinator");
        let r = coord
            .connection()
            .send_at(
                EndTxnRequest {
                    transactional_id: self.id.clone(),
                    producer_id: self.pid,
                    producer_epoch: self.epoch,
                    committed,
                    ..Default::default()
                },
                3,
            )
            .await
            .expect("EndTxn");
        assert_eq!(r.error_code, 0, "EndTxn");
    }
}

async fn produce_ok(cluster: &Cluster, produce: ProduceRequest) {
    let leader = cluster.leader(TOPIC, 0).await.expect("leader");
    let r = leader
        .connection()
        .send_at(produce, 9)
        .await
        .expect("produce");
    assert_eq!(
        r.responses[0].partition_responses[0].error_code, 0,
        "produce"
    );
}

fn values(records: &[klamm_protocol::record::Record]) -> Vec<Bytes> {
    records
        .iter()
        .map(|r| r.value.clone().unwrap_or_default())
        .collect()
}

fn bytes(vs: &[&str]) -> Vec<Bytes> {
    vs.iter()
        .map(|v| Bytes::copy_from_slice(v.as_bytes()))
        .collect()
}

/// A testkit cluster of `brokers` with a one-partition topic, and a klamm-net cluster on it.
async fn setup(brokers: i32) -> (klamm_testkit::Cluster, Cluster) {
    on_testkit::start(
        klamm_testkit::Cluster::builder()
            .brokers(brokers)
            .topic(TOPIC, 1),
    )
    .await
}

#[tokio::test]
async fn read_committed_drops_aborted_and_stops_at_the_open_transaction() {
    let (_kit, cluster) = setup(2).await;

    let mut a = Txn::init(&cluster, "reader-a").await;
    let mut b = Txn::init(&cluster, "reader-b").await;
    // a and b interleave: a's batch, b's batch, a's second batch; then a commits, b aborts.
    a.write(&cluster, &["a1", "a2"]).await;
    b.write(&cluster, &["b1"]).await;
    a.write(&cluster, &["a3"]).await;
    a.end(&cluster, true).await;
    b.end(&cluster, false).await;
    // A plain record, then a transaction left open.
    let plain = requests::batch(&["n1"], None, false).expect("batch");
    produce_ok(&cluster, requests::produce(TOPIC, 0, -1, plain)).await;
    let mut open = Txn::init(&cluster, "reader-open").await;
    open.write(&cluster, &["o1"]).await;
    // After the open transaction, another plain record: beyond the last stable offset.
    let late = requests::batch(&["n2"], None, false).expect("batch");
    produce_ok(&cluster, requests::produce(TOPIC, 0, -1, late)).await;

    let committed = read_partition(&cluster, TOPIC, 0, Isolation::ReadCommitted)
        .await
        .expect("read_committed");
    assert_eq!(values(&committed), bytes(&["a1", "a2", "a3", "n1"]));
    // Offsets are the log's: the markers of a and b sit between a3 and n1.
    let offsets: Vec<i64> = committed.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [0, 1, 3, 6]);

    let everything = read_topic(&cluster, TOPIC, Isolation::ReadUncommitted)
        .await
        .expect("read_uncommitted");
    assert_eq!(everything.len(), 1, "one partition");
    assert_eq!(
        values(&everything[0]),
        bytes(&["a1", "a2", "b1", "a3", "n1", "o1", "n2"])
    );

    // Once the open transaction commits, everything but b's record is committed.
    open.end(&cluster, true).await;
    let committed = read_partition(&cluster, TOPIC, 0, Isolation::ReadCommitted)
        .await
        .expect("read_committed");
    assert_eq!(
        values(&committed),
        bytes(&["a1", "a2", "a3", "n1", "o1", "n2"])
    );
    cluster.close();
}

#[tokio::test]
async fn reading_an_unknown_partition_is_an_error_not_a_panic() {
    let (_kit, cluster) = setup(1).await;
    let err = read_partition(&cluster, TOPIC, 7, Isolation::ReadCommitted)
        .await
        .expect_err("partition 7 does not exist");
    assert!(err.to_string().contains("t-7"), "{err}");
    cluster.close();
}

#[tokio::test]
async fn a_leader_that_moved_is_followed() {
    let (kit, cluster) = setup(2).await;
    let plain = requests::batch(&["x", "y"], None, false).expect("batch");
    produce_ok(&cluster, requests::produce(TOPIC, 0, -1, plain)).await;
    // The cluster handle knows the leader; the testkit moves it.
    let before = kit.leader(TOPIC, 0).expect("leader");
    let after = 1 - before;
    kit.move_leader(TOPIC, 0, after).expect("move");
    let refreshes = cluster.metadata_refreshes();
    let got = read_partition(&cluster, TOPIC, 0, Isolation::ReadCommitted)
        .await
        .expect("read after the move");
    assert_eq!(values(&got), bytes(&["x", "y"]));
    assert!(
        cluster.metadata_refreshes() > refreshes,
        "the NOT_LEADER_OR_FOLLOWER answer was followed by a refresh"
    );
    assert!(
        kit.error_counts_on(klamm_protocol::ApiKey::Fetch, before)
            .contains_key(&klamm_testkit::codes::NOT_LEADER_OR_FOLLOWER),
        "the old leader refused the first Fetch"
    );
    cluster.close();
}
