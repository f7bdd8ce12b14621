//! KIP-890 part 2 over TCP: the finalized `transaction.version` in ApiVersions, transactional
//! Produce v12 with implicit partition adds, and EndTxn v5 bumping the epoch, read back with
//! read_committed fetches.

mod common;

use common::{Client, batch, broker_addr, client_for, end, fetch_req, init, produce_code, values};
use klamm_protocol::ApiKey;
use klamm_protocol::messages::*;
use klamm_testkit::requests;
use klamm_testkit::{Cluster, CoordinatorKind, codes};

async fn coordinator(cluster: &Cluster, txn: &str) -> Client {
    let node = cluster.coordinator(CoordinatorKind::Transaction, txn);
    Client::connect(broker_addr(cluster, node)).await
}

fn txn_produce(txn: &str, records: bytes::Bytes) -> ProduceRequest {
    requests::txn_produce(txn, "t", 0, -1, records)
}

#[tokio::test]
async fn api_versions_carries_the_finalized_transaction_version() {
    let cluster = Cluster::builder().start().await.unwrap();
    assert_eq!(cluster.transaction_version(), (2, 1));
    let mut c = Client::connect(cluster.brokers()[0].1).await;
    let r = c.call(&ApiVersionsRequest::default(), 3).await;
    assert_eq!(r.finalized_features_epoch, 1);
    assert_eq!(r.finalized_features.len(), 1);
    assert_eq!(r.finalized_features[0].name, "transaction.version");
    assert_eq!(r.finalized_features[0].max_version_level, 2);
    assert!(r.supported_features.is_empty(), "min 0 is omitted below v4");
    let produce = r.api_keys.iter().find(|k| k.api_key == 0).unwrap();
    let end_txn = r.api_keys.iter().find(|k| k.api_key == 26).unwrap();
    assert_eq!((produce.max_version, end_txn.max_version), (12, 5));
    let r = c.call(&ApiVersionsRequest::default(), 4).await;
    assert_eq!(r.supported_features[0].max_version, 2);
    // a change bumps the epoch; a later ApiVersions sees it
    cluster.set_transaction_version(1);
    let r = c.call(&ApiVersionsRequest::default(), 3).await;
    assert_eq!(r.finalized_features_epoch, 2);
    assert_eq!(r.finalized_features[0].max_version_level, 1);
    cluster.set_transaction_version(0);
    let r = c.call(&ApiVersionsRequest::default(), 3).await;
    assert!(r.finalized_features.is_empty(), "level 0 is not listed");
    // v0-v2 carry no features
    assert!(
        c.try_call(&ApiVersionsRequest::default(), 2)
            .await
            .is_some()
    );
}

#[tokio::test]
async fn produce_v12_adds_implicitly_and_end_txn_v5_bumps_the_epoch() {
    let cluster = Cluster::builder()
        .brokers(3)
        .topic("t", 1)
        .start()
        .await
        .unwrap();
    let mut coord = coordinator(&cluster, "v2").await;
    let i = coord.call(&init("v2"), 4).await;
    let (pid, e0) = (i.producer_id, i.producer_epoch);
    let mut leader = client_for(&cluster, "t", 0).await;
    // v11 still needs AddPartitionsToTxn
    let b = batch(&["a"], Some((pid, e0, 0)), true);
    let r = leader.call(&txn_produce("v2", b.clone()), 11).await;
    assert_eq!(produce_code(&r), codes::INVALID_TXN_STATE);
    // v12 adds the partition
    let r = leader.call(&txn_produce("v2", b), 12).await;
    assert_eq!(produce_code(&r), 0);
    let e = coord.call(&end("v2", pid, e0, true), 5).await;
    assert_eq!(
        (e.error_code, e.producer_id, e.producer_epoch),
        (0, pid, e0 + 1)
    );
    // a retried EndTxn answers the same epoch
    let e = coord.call(&end("v2", pid, e0, true), 5).await;
    assert_eq!((e.error_code, e.producer_epoch), (0, e0 + 1));
    // the next transaction, aborted, with the new epoch from sequence 0
    let b = batch(&["b"], Some((pid, e0 + 1, 0)), true);
    assert_eq!(
        produce_code(&leader.call(&txn_produce("v2", b), 12).await),
        0
    );
    let e = coord.call(&end("v2", pid, e0 + 1, false), 5).await;
    assert_eq!((e.error_code, e.producer_epoch), (0, e0 + 2));
    // the old epoch is fenced
    let z = batch(&["z"], Some((pid, e0, 1)), true);
    let r = leader.call(&txn_produce("v2", z), 12).await;
    assert_ne!(produce_code(&r), 0);
    let f = leader.call(&fetch_req("t", 0, 0, 1), 12).await;
    let p = &f.responses[0].partitions[0];
    assert_eq!(p.last_stable_offset, p.high_watermark);
    let recs = values(p.records.as_ref().unwrap());
    let names: Vec<&str> = recs.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(names, ["a", "COMMIT", "b", "ABORT"]);
    assert_eq!(p.aborted_transactions.as_ref().unwrap().len(), 1);
    assert_eq!(cluster.arrivals_of(ApiKey::AddPartitionsToTxn), 0);
    assert_eq!(cluster.arrivals_of(ApiKey::EndTxn), 3);
}

#[tokio::test]
async fn produce_v12_is_unsupported_on_a_transaction_version_1_cluster() {
    let cluster = Cluster::builder()
        .topic("t", 1)
        .transaction_version(1)
        .start()
        .await
        .unwrap();
    let mut coord = coordinator(&cluster, "v1").await;
    let i = coord.call(&init("v1"), 4).await;
    let mut leader = client_for(&cluster, "t", 0).await;
    let b = batch(&["a"], Some((i.producer_id, i.producer_epoch, 0)), true);
    let r = leader.call(&txn_produce("v1", b), 12).await;
    assert_eq!(produce_code(&r), codes::UNSUPPORTED_VERSION);
}
