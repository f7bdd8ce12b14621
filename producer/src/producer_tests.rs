//! Producer API tests against the in-memory [`FakeCluster`](crate::fake::FakeCluster).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use klamm_protocol::error_code::ErrorCode;

use crate::Producer;
use crate::config::{Acks, ProducerConfig, ProducerConfigBuilder};
use crate::error::{CloseReason, ErrorKind, ProducerError};
use crate::fake::{FakeCluster, Fault};
use crate::record::ProducerRecord;

fn config() -> ProducerConfigBuilder {
    ProducerConfig::builder()
        .bootstrap(["fake:9092"])
        .retry_backoff(Duration::from_millis(5))
        .retry_backoff_max(Duration::from_millis(20))
}

fn producer(cluster: &Arc<FakeCluster>, b: ProducerConfigBuilder) -> Producer {
    Producer::with_transport(b.build().unwrap(), cluster.clone())
}

/// `tasks` tasks each send `per_task` keyed records "task-seq"; returns once all are acked.
async fn produce_keyed(p: &Producer, tasks: std::ops::Range<usize>, per_task: usize) {
    let mut handles = Vec::new();
    for t in tasks {
        let p = p.clone();
        handles.push(tokio::spawn(async move {
            let mut futures = Vec::with_capacity(per_task);
            for i in 0..per_task {
                let r = ProducerRecord::new("t")
                    .key(format!("key-{t}"))
                    .value(format!("{t}:{i}"));
                futures.push(p.send(r).await.expect("accepted"));
            }
            for f in futures {
                f.await.expect("delivered");
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
}

/// Per partition: every value at most once, and each key's sequence strictly increasing.
/// Returns the number of records found.
fn check_logs(cluster: &FakeCluster, partitions: i32) -> usize {
    let mut total = 0;
    for p in 0..partitions {
        let log = cluster.log("t", p);
        let mut last: HashMap<String, i64> = HashMap::new();
        for r in &log {
            let v = String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap();
            let (task, seq) = v.split_once(':').unwrap();
            let seq: i64 = seq.parse().unwrap();
            let prev = last.insert(task.to_owned(), seq).unwrap_or(-1);
            assert!(
                seq > prev,
                "partition {p}: {task} went from {prev} to {seq} (duplicate or reorder)"
            );
        }
        total += log.len();
    }
    total
}

#[tokio::test]
async fn keyed_records_arrive_once_in_order() {
    let cluster = FakeCluster::new(3, &[("t", 6)]);
    let p = producer(&cluster, config().batch_size(512));
    produce_keyed(&p, 0..4, 500).await;
    assert_eq!(check_logs(&cluster, 6), 2_000);
    // Keys map to partitions by murmur2, as Java.
    let want = crate::partitioner::partition_for_key(b"key-0", 6).unwrap();
    assert!(
        cluster
            .log("t", want)
            .iter()
            .any(|r| r.key.as_deref() == Some(&b"key-0"[..]))
    );
    let m = p.metrics();
    assert_eq!(m.records_sent, 2_000);
    assert_eq!(m.producer_ids, 1);
    assert!(m.batches_sent > 6, "small batches: {m:?}");
    p.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn exactly_once_in_order_under_random_faults() {
    let cluster = FakeCluster::new(3, &[("t", 6)]);
    cluster.random_faults(
        klamm_testkit::seed(),
        vec![
            Fault::DropAfterApply,
            Fault::MoveLeaders,
            Fault::Code(ErrorCode::NotEnoughReplicas),
            Fault::Code(ErrorCode::RequestTimedOut),
        ],
        0.2,
    );
    let p = producer(&cluster, config().batch_size(256));
    produce_keyed(&p, 0..8, 400).await;
    assert_eq!(check_logs(&cluster, 6), 3_200, "nothing lost");
    for f in ["DropAfterApply", "MoveLeaders"] {
        assert!(cluster.injected(f) > 0, "{f} was never injected");
    }
    let m = p.metrics();
    assert!(m.retries > 0);
    assert!(m.producer_ids >= 1);
    p.close(Duration::from_secs(5)).await.unwrap();
}

/// OUT_OF_ORDER_SEQUENCE_NUMBER / UNKNOWN_PRODUCER_ID answers and lost broker state are
/// recovered by epoch bumps (KIP-360) without duplicates. (Losing state while an attempt's
/// outcome is unknown can duplicate in Kafka itself, so this schedule drops no answers.)
#[tokio::test]
async fn exactly_once_in_order_under_sequence_faults() {
    let cluster = FakeCluster::new(3, &[("t", 6)]);
    cluster.random_faults(
        klamm_testkit::seed(),
        vec![
            Fault::LoseProducerState,
            Fault::Code(ErrorCode::OutOfOrderSequenceNumber),
            Fault::Code(ErrorCode::UnknownProducerId),
            Fault::MoveLeaders,
        ],
        0.1,
    );
    let p = producer(&cluster, config().batch_size(256));
    // The random schedule draws per request and the request count depends on timing, so make
    // sure the broker loses the producer's state at least once mid-stream (after 20 requests,
    // far fewer than 2,400 records in 256-byte batches need).
    let forced = {
        let cluster = Arc::clone(&cluster);
        tokio::spawn(async move {
            while cluster
                .produce_calls
                .load(std::sync::atomic::Ordering::Relaxed)
                < 20
            {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            cluster.push_fault(Fault::LoseProducerState);
        })
    };
    produce_keyed(&p, 0..8, 300).await;
    forced.abort();
    assert_eq!(check_logs(&cluster, 6), 2_400, "nothing lost");
    assert!(cluster.injected("LoseProducerState") > 0);
    assert!(p.metrics().producer_ids > 1, "epoch bumped");
    p.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn lost_producer_state_bumps_the_epoch() {
    let cluster = FakeCluster::new(1, &[("t", 1)]);
    let p = producer(&cluster, config());
    produce_keyed(&p, 0..1, 10).await;
    cluster.push_fault(Fault::LoseProducerState);
    produce_keyed(&p, 1..2, 10).await;
    assert_eq!(p.metrics().producer_ids, 2, "epoch bumped once");
    assert_eq!(check_logs(&cluster, 1), 20);
}

#[tokio::test]
async fn send_waits_for_memory_then_fails_after_max_block() {
    let cluster = FakeCluster::new(1, &[("t", 4)]);
    cluster.stall(true);
    let p = producer(
        &cluster,
        config()
            .buffer_memory(64 * 1024)
            .batch_size(16 * 1024)
            .max_block(Duration::from_millis(300)),
    );
    let mut accepted = Vec::new();
    let started = std::time::Instant::now();
    let err = loop {
        let r = ProducerRecord::new("t").value(vec![b'x'; 1000]);
        match p.send(r).await {
            Ok(f) => accepted.push(f),
            Err(e) => break e,
        }
        assert!(accepted.len() < 10_000, "memory is not bounded");
    };
    assert!(
        matches!(err, ProducerError::BufferExhausted { .. }),
        "{err}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(accepted.len() <= 64, "{} records in 64 KiB", accepted.len());
    assert_eq!(p.metrics().buffer_available_bytes, 0);
    // A record no open batch has room for (an open batch may remain: a partition sends
    // one batch at a time until the broker knows the producer id).
    let err = p
        .try_send(
            ProducerRecord::new("t")
                .value(vec![b'y'; 20 * 1024])
                .partition(3),
        )
        .unwrap_err();
    assert!(matches!(err, ProducerError::WouldBlock { .. }), "{err}");
    // The broker recovers: everything accepted is delivered.
    cluster.stall(false);
    for f in accepted {
        f.await.unwrap();
    }
}

#[tokio::test]
async fn close_during_a_stall_returns_promptly_and_fails_the_rest() {
    let cluster = FakeCluster::new(1, &[("t", 1)]);
    cluster.stall(true);
    let p = producer(&cluster, config());
    let f = p.send(ProducerRecord::new("t").value("x")).await.unwrap();
    let started = std::time::Instant::now();
    let err = p.close(Duration::from_millis(100)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        err,
        ProducerError::Closed {
            reason: CloseReason::CloseTimeout
        }
    );
    assert_eq!(
        f.await.unwrap_err(),
        ProducerError::Closed {
            reason: CloseReason::CloseTimeout
        }
    );
    let err = p
        .send(ProducerRecord::new("t").value("y"))
        .await
        .unwrap_err();
    assert!(matches!(err, ProducerError::Closed { .. }));
}

#[tokio::test]
async fn dropping_the_producer_still_delivers_accepted_records() {
    let cluster = FakeCluster::new(1, &[("t", 2)]);
    let p = producer(&cluster, config().linger(Duration::from_millis(50)));
    let mut futures = Vec::new();
    for i in 0..100 {
        futures.push(
            p.send(ProducerRecord::new("t").value(format!("{i}")))
                .await
                .unwrap(),
        );
    }
    drop(p);
    for f in futures {
        f.await.unwrap();
    }
    assert_eq!(cluster.log("t", 0).len() + cluster.log("t", 1).len(), 100);
}

#[tokio::test]
async fn fencing_is_fatal() {
    let cluster = FakeCluster::new(1, &[("t", 1)]);
    let p = producer(&cluster, config());
    cluster.push_fault(Fault::Code(ErrorCode::ProducerFenced));
    let f = p.send(ProducerRecord::new("t").value("x")).await.unwrap();
    let err = f.await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fatal);
    let err = p
        .send(ProducerRecord::new("t").value("y"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fatal);
}

#[tokio::test]
async fn non_retriable_errors_fail_only_that_batch() {
    let cluster = FakeCluster::new(1, &[("t", 2)]);
    let p = producer(&cluster, config().enable_idempotence(false));
    cluster.push_fault(Fault::Code(ErrorCode::MessageTooLarge));
    let bad = p
        .send(ProducerRecord::new("t").value("x").partition(0))
        .await
        .unwrap();
    let err = bad.await.unwrap_err();
    assert!(err.to_string().contains("MESSAGE_TOO_LARGE"), "{err}");
    let good = p
        .send(ProducerRecord::new("t").value("y").partition(1))
        .await
        .unwrap();
    assert_eq!(good.await.unwrap().offset, 0);
}

#[tokio::test]
async fn unknown_topic_times_out_with_a_typed_error() {
    let cluster = FakeCluster::new(1, &[("t", 1)]);
    let p = producer(&cluster, config().max_block(Duration::from_millis(100)));
    let err = p
        .send(ProducerRecord::new("nope").value("x"))
        .await
        .unwrap_err();
    let ProducerError::MetadataTimeout { topic, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(&**topic, "nope");
    assert!(
        err.to_string().contains("UNKNOWN_TOPIC_OR_PARTITION"),
        "{err}"
    );
    // The producer keeps serving other topics.
    let f = p.send(ProducerRecord::new("t").value("x")).await.unwrap();
    f.await.unwrap();
}

#[tokio::test]
async fn oversized_records_are_refused() {
    let cluster = FakeCluster::new(1, &[("t", 1)]);
    let p = producer(&cluster, config().max_request_size(1000));
    let err = p
        .send(ProducerRecord::new("t").value(vec![0u8; 2000]))
        .await
        .unwrap_err();
    assert!(matches!(err, ProducerError::RecordTooLarge { .. }));
}

#[tokio::test]
async fn acks_zero_reports_no_offsets() {
    let cluster = FakeCluster::new(1, &[("t", 1)]);
    let p = producer(&cluster, config().acks(Acks::None));
    assert!(!p.config().enable_idempotence);
    let m = p
        .send(ProducerRecord::new("t").value("x").timestamp(5))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!((m.offset, m.timestamp), (-1, 5));
    assert_eq!(cluster.log("t", 0).len(), 1);
}

#[tokio::test]
async fn flush_sends_lingering_batches() {
    let cluster = FakeCluster::new(1, &[("t", 1)]);
    let p = producer(&cluster, config().linger(Duration::from_secs(3600)));
    let f = p.send(ProducerRecord::new("t").value("x")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(f.try_result().is_none(), "lingering");
    tokio::time::timeout(Duration::from_secs(5), p.flush())
        .await
        .expect("flush returns");
    assert_eq!(f.try_result().unwrap().unwrap().offset, 0);
}

#[tokio::test]
async fn try_send_needs_cached_metadata_and_never_waits() {
    let cluster = FakeCluster::new(1, &[("t", 1)]);
    let p = producer(&cluster, config());
    let f = p.try_send(ProducerRecord::new("t").value("x")).unwrap();
    f.await.unwrap();
    let err = p
        .try_send(ProducerRecord::new("nope").value("x"))
        .unwrap_err();
    assert!(matches!(err, ProducerError::MetadataTimeout { .. }));
}
