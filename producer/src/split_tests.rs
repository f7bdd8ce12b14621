//! Batches the broker refuses as too large (MESSAGE_TOO_LARGE) are split and resent: against
//! the in-memory [`FakeCluster`] with a broker-side batch size limit, every record arrives once,
//! in order, and every future reports the offset its record really got.

use std::collections::HashMap;
use std::time::Duration;

use klamm_protocol::error_code::ErrorCode;

use crate::config::{Compression, ProducerConfig, ProducerConfigBuilder};
use crate::error::ProducerError;
use crate::fake::{FakeCluster, Fault};
use crate::record::ProducerRecord;
use crate::{DeliveryFuture, Producer};

const PARTITIONS: i32 = 3;

fn config() -> ProducerConfigBuilder {
    ProducerConfig::builder()
        .bootstrap(["fake:9092"])
        .retry_backoff(Duration::from_millis(5))
        .retry_backoff_max(Duration::from_millis(20))
        .batch_size(16 * 1024)
        .linger(Duration::from_millis(5))
}

/// A value of `len` bytes that starts with "key:seq:" and does not compress much.
fn value(key: usize, seq: usize, len: usize) -> Vec<u8> {
    let mut v = format!("{key}:{seq}:").into_bytes();
    let mut x = (key * 1_000_003 + seq) as u64 | 1;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(b'a' + (x % 26) as u8);
    }
    v
}

/// Sends `per_key` records for each of `keys` keys (interleaved), then checks every future
/// against the log: the offset it reports holds its record. Returns how many were sent.
async fn produce_and_check(p: &Producer, cluster: &FakeCluster, keys: usize, per_key: usize) {
    let mut sent: Vec<(Vec<u8>, DeliveryFuture)> = Vec::new();
    for seq in 0..per_key {
        for key in 0..keys {
            let v = value(key, seq, 100);
            let r = ProducerRecord::new("t")
                .key(format!("k{key}"))
                .value(v.clone());
            sent.push((v, p.send(r).await.expect("accepted")));
        }
    }
    for (v, f) in sent {
        let m = f.await.expect("delivered");
        if m.offset < 0 {
            continue; // a duplicate answer: written before, offset unknown
        }
        let log = cluster.log("t", m.partition);
        let at = log
            .get(m.offset as usize)
            .unwrap_or_else(|| panic!("offset {} beyond the log", m.offset));
        assert_eq!(at.value.as_deref(), Some(&v[..]), "offset {}", m.offset);
    }
}

/// Per partition: every record once, each key's sequence increasing; returns the count.
fn check_logs(cluster: &FakeCluster) -> usize {
    let mut total = 0;
    for p in 0..PARTITIONS {
        let mut last: HashMap<String, i64> = HashMap::new();
        for r in cluster.log("t", p) {
            let v = String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap();
            let mut parts = v.splitn(3, ':');
            let key = parts.next().unwrap().to_owned();
            let seq: i64 = parts.next().unwrap().parse().unwrap();
            let prev = last.insert(key.clone(), seq).unwrap_or(-1);
            assert!(seq > prev, "partition {p}: key {key} went {prev} -> {seq}");
            total += 1;
        }
    }
    total
}

#[tokio::test]
async fn refused_batches_are_split_until_they_fit() {
    let cluster = FakeCluster::new(3, &[("t", PARTITIONS)]);
    // About 12 records of ~110 bytes fit; 16 KiB batches hold ~140.
    cluster.max_batch_bytes(Some(1_400));
    let p = Producer::with_transport(config().build().unwrap(), cluster.clone());
    produce_and_check(&p, &cluster, 6, 200).await;
    assert_eq!(check_logs(&cluster), 1_200, "every record exactly once");
    assert!(
        cluster.injected("MessageTooLarge") > 0,
        "the limit never bit"
    );
    let m = p.metrics();
    assert!(m.batches_split > 0, "{m:?}");
    assert_eq!(m.records_sent, 1_200);
    assert_eq!(m.producer_ids, 1, "no epoch bump was needed");
    p.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn splitting_keeps_order_and_sequences_under_faults() {
    let cluster = FakeCluster::new(3, &[("t", PARTITIONS)]);
    cluster.max_batch_bytes(Some(3_000));
    cluster.random_faults(
        klamm_testkit::seed(),
        vec![
            Fault::DropAfterApply,
            Fault::MoveLeaders,
            Fault::Code(ErrorCode::NotEnoughReplicas),
        ],
        0.15,
    );
    // Whatever the draws, the first requests lose their answers and hit moved leaders.
    cluster.push_fault(Fault::DropAfterApply);
    cluster.push_fault(Fault::MoveLeaders);
    let p = Producer::with_transport(
        config().batch_size(8 * 1024).build().unwrap(),
        cluster.clone(),
    );
    produce_and_check(&p, &cluster, 6, 150).await;
    assert_eq!(check_logs(&cluster), 900, "every record exactly once");
    assert!(cluster.injected("MessageTooLarge") > 0);
    assert!(cluster.injected("DropAfterApply") > 0);
    assert!(p.metrics().batches_split > 0);
    p.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn compressed_batches_split_too_and_without_idempotence() {
    let cluster = FakeCluster::new(1, &[("t", PARTITIONS)]);
    cluster.max_batch_bytes(Some(2_000));
    let p = Producer::with_transport(
        config()
            .compression(Compression::Lz4)
            .enable_idempotence(false)
            .max_in_flight(1)
            .build()
            .unwrap(),
        cluster.clone(),
    );
    produce_and_check(&p, &cluster, 3, 200).await;
    assert_eq!(check_logs(&cluster), 600);
    assert!(p.metrics().batches_split > 0);
    // The producer id stays unset without idempotence.
    assert!(cluster.batch_headers().iter().all(|&(pid, _, _)| pid == -1));
    p.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_single_record_too_large_for_the_broker_fails_alone() {
    let cluster = FakeCluster::new(1, &[("t", 2)]);
    cluster.max_batch_bytes(Some(500));
    let p = Producer::with_transport(config().build().unwrap(), cluster.clone());
    let big = p
        .send(
            ProducerRecord::new("t")
                .partition(0)
                .value(vec![7u8; 1_000]),
        )
        .await
        .unwrap();
    let small = p
        .send(ProducerRecord::new("t").partition(1).value("fits"))
        .await
        .unwrap();
    let err = big.await.unwrap_err();
    assert!(
        matches!(
            err,
            ProducerError::Broker {
                code: ErrorCode::MessageTooLarge,
                partition: 0,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(small.await.unwrap().offset, 0);
    // The partition keeps working after the failure (its sequence was handed out again).
    let next = p
        .send(ProducerRecord::new("t").partition(0).value("small"))
        .await
        .unwrap();
    assert_eq!(next.await.unwrap().offset, 0);
    assert_eq!(p.metrics().batches_split, 0);
    assert_eq!(cluster.log("t", 0).len(), 1);
    p.close(Duration::from_secs(5)).await.unwrap();
}
