//! FindCoordinator, InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit,
//! EndTxn and OffsetFetch over TCP, with read_committed fetches.

mod common;

use std::time::Duration;

use common::{
    Client, another_broker, batch, client_for, end, fetch_req, init, produce_code, values,
};
use klamm_protocol::messages::add_partitions_to_txn::request::AddPartitionsToTxnTopic;
use klamm_protocol::messages::offset_fetch::request::OffsetFetchRequestTopic;
use klamm_protocol::messages::txn_offset_commit::request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use klamm_protocol::messages::*;
use klamm_testkit::requests::txn_produce;
use klamm_testkit::{Cluster, CoordinatorKind, codes};

/// A connection to the coordinator of a key, found with FindCoordinator.
async fn coordinator(cluster: &Cluster, key_type: i8, key: &str) -> Client {
    let mut any = Client::connect(cluster.brokers()[0].1).await;
    let r = any
        .call(
            &FindCoordinatorRequest {
                key: key.into(),
                key_type,
                ..Default::default()
            },
            3,
        )
        .await;
    assert_eq!(r.error_code, 0);
    let kind = if key_type == 1 {
        CoordinatorKind::Transaction
    } else {
        CoordinatorKind::Group
    };
    assert_eq!(r.node_id, cluster.coordinator(kind, key));
    Client::connect(format!("{}:{}", r.host, r.port).parse().unwrap()).await
}

fn add_partitions(
    txn: &str,
    pid: i64,
    epoch: i16,
    topic: &str,
    parts: &[i32],
) -> AddPartitionsToTxnRequest {
    AddPartitionsToTxnRequest {
        v3_and_below_transactional_id: txn.into(),
        v3_and_below_producer_id: pid,
        v3_and_below_producer_epoch: epoch,
        v3_and_below_topics: vec![AddPartitionsToTxnTopic {
            name: topic.into(),
            partitions: parts.to_vec(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Begins the transaction of `init_req`'s transactional id on `t-0` and writes `values` in
/// it: the connections to its coordinator and to the leader, the producer id and the epoch.
async fn open_transaction(
    cluster: &Cluster,
    init_req: InitProducerIdRequest,
    values: &[&str],
) -> (Client, Client, i64, i16) {
    let txn = init_req
        .transactional_id
        .clone()
        .expect("a transactional id");
    let mut coord = coordinator(cluster, 1, &txn).await;
    let i = coord.call(&init_req, 4).await;
    let (pid, epoch) = (i.producer_id, i.producer_epoch);
    coord
        .call(&add_partitions(&txn, pid, epoch, "t", &[0]), 3)
        .await;
    let mut leader = client_for(cluster, "t", 0).await;
    if !values.is_empty() {
        leader
            .call(
                &txn_produce(&txn, "t", 0, -1, batch(values, Some((pid, epoch, 0)), true)),
                9,
            )
            .await;
    }
    (coord, leader, pid, epoch)
}

#[tokio::test]
async fn committed_and_aborted_transactions_as_read_committed_and_uncommitted_readers_see_them() {
    let cluster = Cluster::builder()
        .brokers(3)
        .topic("t", 1)
        .start()
        .await
        .unwrap();
    let mut coord = coordinator(&cluster, 1, "tx-1").await;
    let i = coord.call(&init("tx-1"), 4).await;
    assert_eq!(i.error_code, 0);
    let (pid, epoch) = (i.producer_id, i.producer_epoch);
    let mut leader = client_for(&cluster, "t", 0).await;
    // not added yet: refused
    let r = leader
        .call(
            &txn_produce(
                "tx-1",
                "t",
                0,
                -1,
                batch(&["x"], Some((pid, epoch, 0)), true),
            ),
            9,
        )
        .await;
    assert_eq!(produce_code(&r), codes::INVALID_TXN_STATE);
    let mut seq = 0;
    for (round, commit) in [(0, true), (1, false), (2, true)] {
        let a = coord
            .call(&add_partitions("tx-1", pid, epoch, "t", &[0]), 3)
            .await;
        assert_eq!(
            a.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
            0
        );
        let v = format!("r{round}");
        let r = leader
            .call(
                &txn_produce(
                    "tx-1",
                    "t",
                    0,
                    -1,
                    batch(&[&v, &v], Some((pid, epoch, seq)), true),
                ),
                9,
            )
            .await;
        assert_eq!(produce_code(&r), 0);
        seq += 2;
        // open transaction: read_committed sees nothing of it
        let f = leader.call(&fetch_req("t", 0, 0, 1), 12).await;
        let p = &f.responses[0].partitions[0];
        assert!(p.last_stable_offset < p.high_watermark);
        assert_eq!(
            coord
                .call(&end("tx-1", pid, epoch, commit), 3)
                .await
                .error_code,
            0
        );
    }
    let f = leader.call(&fetch_req("t", 0, 0, 1), 12).await;
    let p = &f.responses[0].partitions[0];
    assert_eq!(p.last_stable_offset, p.high_watermark);
    let aborted = p.aborted_transactions.as_ref().unwrap();
    assert_eq!(aborted.len(), 1);
    assert_eq!((aborted[0].producer_id, aborted[0].first_offset), (pid, 3));
    let all = values(p.records.as_ref().unwrap());
    let names: Vec<&str> = all.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(
        names,
        [
            "r0", "r0", "COMMIT", "r1", "r1", "ABORT", "r2", "r2", "COMMIT"
        ]
    );
    // read_uncommitted gets no aborted list
    let f = leader.call(&fetch_req("t", 0, 0, 0), 12).await;
    assert!(f.responses[0].partitions[0].aborted_transactions.is_none());
}

#[tokio::test]
async fn a_second_init_fences_the_first_producer_and_aborts_its_transaction() {
    let cluster = Cluster::builder().topic("t", 1).start().await.unwrap();
    let (mut coord, mut leader, pid, e0) = open_transaction(&cluster, init("zombie"), &["z"]).await;
    // the new instance: CONCURRENT_TRANSACTIONS while the old transaction is aborted, then ok
    assert_eq!(
        coord.call(&init("zombie"), 4).await.error_code,
        codes::CONCURRENT_TRANSACTIONS
    );
    let second = coord.call(&init("zombie"), 4).await;
    assert_eq!(second.error_code, 0);
    assert!(second.producer_epoch > e0);
    // the zombie: PRODUCER_FENCED on new versions, INVALID_PRODUCER_EPOCH before KIP-588
    assert_eq!(
        coord
            .call(&end("zombie", pid, e0, true), 3)
            .await
            .error_code,
        codes::PRODUCER_FENCED
    );
    assert_eq!(
        coord
            .call(&end("zombie", pid, e0, true), 1)
            .await
            .error_code,
        codes::INVALID_PRODUCER_EPOCH
    );
    let r = leader
        .call(
            &txn_produce(
                "zombie",
                "t",
                0,
                -1,
                batch(&["z2"], Some((pid, e0, 1)), true),
            ),
            9,
        )
        .await;
    assert_eq!(produce_code(&r), codes::INVALID_PRODUCER_EPOCH);
    let f = leader.call(&fetch_req("t", 0, 0, 1), 12).await;
    let p = &f.responses[0].partitions[0];
    assert_eq!(p.aborted_transactions.as_ref().unwrap().len(), 1);
    assert_eq!(
        values(p.records.as_ref().unwrap()).last().unwrap().1,
        "ABORT"
    );
}

#[tokio::test]
async fn transactional_offsets_are_visible_after_commit_only() {
    let cluster = Cluster::builder()
        .brokers(3)
        .topic("t", 2)
        .start()
        .await
        .unwrap();
    let mut coord = coordinator(&cluster, 1, "tx-o").await;
    let i = coord.call(&init("tx-o"), 4).await;
    let (pid, epoch) = (i.producer_id, i.producer_epoch);
    let add = AddOffsetsToTxnRequest {
        transactional_id: "tx-o".into(),
        producer_id: pid,
        producer_epoch: epoch,
        group_id: "g".into(),
        ..Default::default()
    };
    assert_eq!(coord.call(&add, 3).await.error_code, 0);
    let mut group = coordinator(&cluster, 0, "g").await;
    let commit = TxnOffsetCommitRequest {
        transactional_id: "tx-o".into(),
        group_id: "g".into(),
        producer_id: pid,
        producer_epoch: epoch,
        generation_id: -1,
        topics: vec![TxnOffsetCommitRequestTopic {
            name: "t".into(),
            partitions: vec![TxnOffsetCommitRequestPartition {
                partition_index: 1,
                committed_offset: 42,
                committed_leader_epoch: -1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(
        group.call(&commit, 3).await.topics[0].partitions[0].error_code,
        0
    );
    let fetch = |stable| OffsetFetchRequest {
        group_id: "g".into(),
        topics: Some(vec![OffsetFetchRequestTopic {
            name: "t".into(),
            partition_indexes: vec![1],
            ..Default::default()
        }]),
        require_stable: stable,
        ..Default::default()
    };
    let r = group.call(&fetch(true), 7).await;
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        codes::UNSTABLE_OFFSET_COMMIT
    );
    let r = group.call(&fetch(false), 7).await;
    assert_eq!(r.topics[0].partitions[0].committed_offset, -1);
    assert_eq!(
        coord
            .call(&end("tx-o", pid, epoch, true), 3)
            .await
            .error_code,
        0
    );
    let r = group.call(&fetch(true), 7).await;
    assert_eq!(r.topics[0].partitions[0].committed_offset, 42);
    assert_eq!(cluster.committed_offset("g", "t", 1), Some(42));
}

#[tokio::test]
async fn non_coordinators_answer_not_coordinator_and_moves_are_followed() {
    let cluster = Cluster::builder().brokers(3).start().await.unwrap();
    let home = cluster.coordinator(CoordinatorKind::Transaction, "tx-m");
    let other = another_broker(&cluster, home);
    let mut c = Client::connect(other.1).await;
    assert_eq!(
        c.call(&init("tx-m"), 4).await.error_code,
        codes::NOT_COORDINATOR
    );
    cluster
        .move_coordinator(CoordinatorKind::Transaction, "tx-m", other.0)
        .unwrap();
    assert_eq!(c.call(&init("tx-m"), 4).await.error_code, 0);
    let r = c
        .call(
            &FindCoordinatorRequest {
                key_type: 1,
                coordinator_keys: vec!["tx-m".into()],
                ..Default::default()
            },
            4,
        )
        .await;
    assert_eq!(r.coordinators[0].node_id, other.0);
}

// On a paused clock, so a slow machine cannot outrun the marker delay.
#[tokio::test(start_paused = true)]
async fn concurrent_transactions_while_markers_are_written() {
    let cluster = Cluster::builder()
        .topic("t", 1)
        .marker_delay(Duration::from_secs(30))
        .start()
        .await
        .unwrap();
    let (mut coord, _leader, pid, epoch) = open_transaction(&cluster, init("tx-c"), &["c"]).await;
    assert_eq!(
        coord
            .call(&end("tx-c", pid, epoch, true), 3)
            .await
            .error_code,
        0
    );
    let r = coord
        .call(&add_partitions("tx-c", pid, epoch, "t", &[0]), 3)
        .await;
    assert_eq!(
        r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
        codes::CONCURRENT_TRANSACTIONS
    );
    assert_eq!(cluster.offsets("t", 0), Some((1, 0)), "no marker yet");
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(
        cluster.offsets("t", 0),
        Some((2, 2)),
        "the ticker wrote the marker"
    );
}

#[tokio::test]
async fn stale_transactions_time_out_and_are_aborted() {
    let cluster = Cluster::builder().topic("t", 1).start().await.unwrap();
    let mut req = init("tx-t");
    req.transaction_timeout_ms = 100;
    let (mut coord, mut leader, pid, epoch) = open_transaction(&cluster, req, &["late"]).await;
    // The 100 ms timeout fires on the cluster's ticker; allow a loaded machine some slack.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cluster.timed_out_transactions() == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(cluster.timed_out_transactions(), 1);
    assert_eq!(
        coord
            .call(&end("tx-t", pid, epoch, true), 3)
            .await
            .error_code,
        codes::PRODUCER_FENCED
    );
    let f = leader.call(&fetch_req("t", 0, 0, 1), 12).await;
    assert_eq!(
        f.responses[0].partitions[0]
            .aborted_transactions
            .as_ref()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn add_partitions_v4_batches_transactions_and_verifies() {
    use klamm_protocol::messages::add_partitions_to_txn::request::AddPartitionsToTxnTransaction;
    let cluster = Cluster::builder().topic("t", 2).start().await.unwrap();
    let mut coord = coordinator(&cluster, 1, "tx-4").await;
    let i = coord.call(&init("tx-4"), 4).await;
    let tx = |verify_only| AddPartitionsToTxnRequest {
        transactions: vec![AddPartitionsToTxnTransaction {
            transactional_id: "tx-4".into(),
            producer_id: i.producer_id,
            producer_epoch: i.producer_epoch,
            verify_only,
            topics: vec![AddPartitionsToTxnTopic {
                name: "t".into(),
                partitions: vec![1],
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let code = |r: AddPartitionsToTxnResponse| {
        r.results_by_transaction[0].topic_results[0].results_by_partition[0].partition_error_code
    };
    assert_eq!(
        code(coord.call(&tx(true), 4).await),
        codes::INVALID_TXN_STATE
    );
    assert_eq!(code(coord.call(&tx(false), 4).await), 0);
    assert_eq!(code(coord.call(&tx(true), 4).await), 0);
}

#[tokio::test]
async fn describe_producers_shows_open_transactions() {
    use klamm_protocol::messages::describe_producers::request::TopicRequest;
    let cluster = Cluster::builder().topic("t", 1).start().await.unwrap();
    let (mut coord, mut leader, pid, epoch) =
        open_transaction(&cluster, init("tx-d"), &["a", "b", "c"]).await;
    let ask = DescribeProducersRequest {
        topics: vec![TopicRequest {
            name: "t".into(),
            partition_indexes: vec![0, 5],
            ..Default::default()
        }],
        ..Default::default()
    };
    let r = leader.call(&ask, 0).await;
    let p = &r.topics[0].partitions;
    assert_eq!(p[1].error_code, codes::UNKNOWN_TOPIC_OR_PARTITION);
    let s = &p[0].active_producers;
    assert_eq!(s.len(), 1);
    assert_eq!(
        (s[0].producer_id, s[0].producer_epoch, s[0].last_sequence),
        (pid, i32::from(epoch), 2)
    );
    assert_eq!(s[0].current_txn_start_offset, 0);
    coord.call(&end("tx-d", pid, epoch, true), 3).await;
    let r = leader.call(&ask, 0).await;
    assert_eq!(
        r.topics[0].partitions[0].active_producers[0].current_txn_start_offset,
        -1
    );
}

#[tokio::test(start_paused = true)]
async fn a_paused_test_clock_drives_transaction_timeouts() {
    let cluster = Cluster::builder().topic("t", 1).start().await.unwrap();
    let _open = open_transaction(&cluster, init("tx-p"), &[]).await;
    let started = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert_eq!(cluster.timed_out_transactions(), 0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        cluster.timed_out_transactions(),
        1,
        "60 s timeout on tokio's clock"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "without waiting a minute"
    );
}
