use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use klamm_protocol::record::{Compression, RecordBatch};
use tokio::time::Instant;

use super::*;
use crate::config::ProducerConfigBuilder;
use crate::idempotence::{Idempotence, Outcome, ProducerIdEpoch};

fn config() -> ProducerConfigBuilder {
    ProducerConfig::builder().bootstrap(["localhost:9092"])
}

fn acc(b: ProducerConfigBuilder) -> RecordAccumulator {
    RecordAccumulator::new(Arc::new(b.build().unwrap()))
}

const FOUR: PartitionAvailability<'static> = PartitionAvailability {
    count: 4,
    available: &[],
};

fn rec(p: i32, value: &str) -> ProducerRecord {
    ProducerRecord::new("t")
        .partition(p)
        .value(Bytes::copy_from_slice(value.as_bytes()))
}

fn leader0(_: &TopicPartition) -> Option<i32> {
    Some(0)
}

fn any_node(_: i32) -> bool {
    true
}

fn drain(a: &RecordAccumulator, now: Instant) -> Drained {
    a.drain(DrainContext {
        now,
        leader_for: &leader0,
        node_ready: &any_node,
        idempotence: None,
    })
}

fn drain_idem(a: &RecordAccumulator, idem: &mut Idempotence) -> Drained {
    a.drain(DrainContext {
        now: Instant::now(),
        leader_for: &leader0,
        node_ready: &any_node,
        idempotence: Some(idem),
    })
}

fn values(batch: &ProducerBatch) -> Vec<String> {
    let decoded = RecordBatch::decode(batch.wire_bytes().unwrap()).unwrap();
    decoded
        .records()
        .unwrap()
        .map(|r| String::from_utf8(r.unwrap().value.unwrap().to_vec()).unwrap())
        .collect()
}

#[tokio::test]
async fn records_are_appended_in_place_and_resolve_with_offsets() {
    let a = acc(config());
    let record = ProducerRecord::new("t")
        .partition(2)
        .key("k")
        .value("v0")
        .header("h", "x")
        .timestamp(1_000);
    let f0 = a.append(record, FOUR, Blocking::Wait).await.unwrap();
    let f1 = a.append(rec(2, "v1"), FOUR, Blocking::Wait).await.unwrap();
    assert_eq!(f0.partition(), 2);
    let mut d = drain(&a, Instant::now());
    let batch = d.batches.get_mut(&0).unwrap().pop().unwrap();
    assert_eq!(batch.record_count(), 2);
    let decoded = RecordBatch::decode(batch.wire_bytes().unwrap()).unwrap();
    let records: Vec<_> = decoded.records().unwrap().map(Result::unwrap).collect();
    assert_eq!(records[0].key.as_deref(), Some(&b"k"[..]));
    assert_eq!(records[0].timestamp, 1_000);
    assert_eq!(records[0].headers.len(), 1);
    assert_eq!(records[1].value.as_deref(), Some(&b"v1"[..]));
    assert_eq!(a.incomplete_batches(), 1);
    batch.complete(100, None);
    let m0 = f0.await.unwrap();
    let m1 = f1.await.unwrap();
    assert_eq!((m0.offset, m1.offset), (100, 101));
    assert_eq!((m0.partition, m0.timestamp), (2, 1_000));
    assert_eq!(a.incomplete_batches(), 0);
}

#[tokio::test(start_paused = true)]
async fn linger_holds_a_batch_until_it_passes() {
    let a = acc(config().linger(Duration::from_millis(100)));
    let start = Instant::now();
    let _f = a.append(rec(0, "x"), FOUR, Blocking::Wait).await.unwrap();
    let d = drain(&a, Instant::now());
    assert!(d.is_empty());
    let next = d.next_ready.unwrap();
    assert!(next >= start + Duration::from_millis(100));
    assert!(next <= Instant::now() + Duration::from_millis(100));
    tokio::time::advance(Duration::from_millis(100)).await;
    assert_eq!(drain(&a, Instant::now()).batches[&0].len(), 1);
}

#[tokio::test(start_paused = true)]
async fn full_batches_and_flush_do_not_wait_for_linger() {
    let a = acc(config().linger(Duration::from_secs(10)).batch_size(200));
    let mut futures = Vec::new();
    for i in 0..20 {
        futures.push(
            a.append(
                rec(0, &format!("value-{i:03}-padding-padding")),
                FOUR,
                Blocking::Wait,
            )
            .await
            .unwrap(),
        );
    }
    // Several batches exist; all but the newest are full, so ready despite the linger.
    let d = drain(&a, Instant::now());
    let first = &d.batches[&0][0];
    assert!(
        first.size() <= 200,
        "batch_size respected: {}",
        first.size()
    );
    assert_eq!(values(first)[0], "value-000-padding-padding");
    // The newest is not full: it waits, until flush.
    let mut drained = 1;
    loop {
        let d = drain(&a, Instant::now());
        if d.is_empty() {
            break;
        }
        drained += 1;
    }
    assert!(a.has_queued());
    a.begin_flush();
    assert_eq!(drain(&a, Instant::now()).batches[&0].len(), 1);
    a.end_flush();
    assert!(!a.has_queued());
    assert!(drained >= 2);
}

#[tokio::test]
async fn one_batch_per_partition_and_request_size_per_node() {
    let a = acc(config().batch_size(100).max_request_size(1000));
    for p in 0..4 {
        for _ in 0..3 {
            drop(
                a.append(rec(p, &"x".repeat(400)), FOUR, Blocking::Wait)
                    .await
                    .unwrap(),
            );
        }
    }
    // Each record fills a batch (first record always fits); one node, 1000 bytes per request:
    // two batches of ~470 bytes fit, from two different partitions.
    let d = drain(&a, Instant::now());
    let batches = &d.batches[&0];
    assert_eq!(
        batches.len(),
        2,
        "{:?}",
        batches.iter().map(|b| b.size()).collect::<Vec<_>>()
    );
    assert_ne!(
        batches[0].topic_partition().partition,
        batches[1].topic_partition().partition
    );
}

#[tokio::test]
async fn unknown_leaders_and_busy_nodes_are_skipped() {
    let a = acc(config());
    let _f = a.append(rec(1, "x"), FOUR, Blocking::Wait).await.unwrap();
    let none = |_: &TopicPartition| None;
    let d = a.drain(DrainContext {
        now: Instant::now(),
        leader_for: &none,
        node_ready: &any_node,
        idempotence: None,
    });
    assert!(d.is_empty());
    assert_eq!(d.unknown_leaders[0].partition, 1);
    let busy = |_: i32| false;
    let d = a.drain(DrainContext {
        now: Instant::now(),
        leader_for: &leader0,
        node_ready: &busy,
        idempotence: None,
    });
    assert!(d.is_empty() && d.unknown_leaders.is_empty());
    assert!(a.has_queued());
}

#[tokio::test(start_paused = true)]
async fn requeued_batches_go_first_in_order_after_backoff() {
    let a = acc(config()
        .batch_size(0)
        .retry_backoff(Duration::from_millis(50)));
    for v in ["a", "b", "c"] {
        drop(a.append(rec(0, v), FOUR, Blocking::Wait).await.unwrap());
    }
    let b1 = drain(&a, Instant::now())
        .batches
        .remove(&0)
        .unwrap()
        .remove(0);
    let b2 = drain(&a, Instant::now())
        .batches
        .remove(&0)
        .unwrap()
        .remove(0);
    assert_eq!(
        (values(&b1), values(&b2)),
        (vec!["a".into()], vec!["b".into()])
    );
    // Requeued in the "wrong" order: they still go back as a, b, before c.
    let err = ProducerError::Fatal("retriable for the test".into());
    a.reenqueue(b2, err.clone(), Instant::now());
    a.reenqueue(b1, err, Instant::now());
    assert!(drain(&a, Instant::now()).is_empty(), "backoff");
    // the first retry waits 50 ms spread over KIP-580's [0.8, 1.2] band: not before 40 ms,
    // surely by 60 ms
    tokio::time::advance(Duration::from_millis(39)).await;
    assert!(
        drain(&a, Instant::now()).is_empty(),
        "within the jitter band's floor"
    );
    tokio::time::advance(Duration::from_millis(21)).await;
    let order: Vec<String> = (0..3)
        .map(|_| {
            let b = drain(&a, Instant::now())
                .batches
                .remove(&0)
                .unwrap()
                .remove(0);
            values(&b).remove(0)
        })
        .collect();
    assert_eq!(order, ["a", "b", "c"]);
}

#[tokio::test]
async fn idempotent_drain_assigns_sequences_once() {
    let a = acc(config().batch_size(0));
    let mut idem = Idempotence::new();
    drop(a.append(rec(0, "a"), FOUR, Blocking::Wait).await.unwrap());
    assert!(drain_idem(&a, &mut idem).is_empty(), "no producer id yet");
    let pid = ProducerIdEpoch { id: 9, epoch: 2 };
    idem.set_producer(pid);
    for v in ["b", "c", "d", "e", "f", "g"] {
        drop(a.append(rec(0, v), FOUR, Blocking::Wait).await.unwrap());
    }
    // The broker holds no state for a new producer id: its first batch goes alone.
    let a0 = drain_idem(&a, &mut idem)
        .batches
        .remove(&0)
        .unwrap()
        .remove(0);
    assert_eq!(a0.producer_state().unwrap(), (pid, 0));
    assert!(drain_idem(&a, &mut idem).is_empty(), "alone until written");
    let tp = a0.topic_partition().clone();
    idem.on_outcome(&tp, a0.id(), Outcome::Written);
    let mut sent = Vec::new();
    for _ in 0..6 {
        if let Some(mut bs) = drain_idem(&a, &mut idem).batches.remove(&0) {
            sent.push(bs.remove(0));
        }
    }
    assert_eq!(
        sent.len(),
        5,
        "at most 5 batches of a partition without outcome"
    );
    let seqs: Vec<i32> = sent.iter().map(|b| b.producer_state().unwrap().1).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert_eq!(sent[0].producer_state().unwrap().0, pid);
    // The first fails retriably: it is resent with sequence 1, before "g".
    let first = sent.remove(0);
    idem.on_outcome(&tp, first.id(), Outcome::RetriableRejected);
    a.reenqueue(first, ProducerError::Fatal("x".into()), Instant::now());
    tokio::time::sleep(Duration::from_millis(150)).await;
    let again = drain_idem(&a, &mut idem)
        .batches
        .remove(&0)
        .unwrap()
        .remove(0);
    assert_eq!(values(&again), ["b"]);
    assert_eq!(again.producer_state().unwrap().1, 1);
    assert_eq!(again.attempts(), 2);
}

#[tokio::test]
async fn memory_is_bounded_and_try_send_fails_at_once() {
    let a = acc(config()
        .batch_size(1000)
        .buffer_memory(2000)
        .max_block(Duration::from_millis(200)));
    let _f0 = a.append(rec(0, "x"), FOUR, Blocking::Wait).await.unwrap();
    let _f1 = a.append(rec(1, "x"), FOUR, Blocking::Wait).await.unwrap();
    assert_eq!(a.memory().available(), 0);
    let err = a
        .append(rec(2, "x"), FOUR, Blocking::NoWait)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ProducerError::WouldBlock {
                requested: 1000,
                ..
            }
        ),
        "{err}"
    );
    // Appends to existing open batches need no new memory.
    let _f2 = a.append(rec(0, "y"), FOUR, Blocking::NoWait).await.unwrap();
    let started = std::time::Instant::now();
    let err = a
        .append(rec(2, "x"), FOUR, Blocking::Wait)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProducerError::BufferExhausted { .. }),
        "{err}"
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
    // Completing a batch frees its memory (the other one still holds its share).
    let mut both = drain(&a, Instant::now()).batches.remove(&0).unwrap();
    assert_eq!(both.len(), 2);
    both.pop().unwrap().complete(0, None);
    assert_eq!(a.memory().available(), 1000);
    let _f3 = a.append(rec(2, "x"), FOUR, Blocking::NoWait).await.unwrap();
}

#[tokio::test]
async fn oversized_records_are_refused_before_buffering() {
    let a = acc(config().max_request_size(1000).buffer_memory(100_000));
    let err = a
        .append(rec(0, &"x".repeat(1000)), FOUR, Blocking::Wait)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        ProducerError::RecordTooLarge {
            max_request_size: 1000,
            ..
        }
    ));
    let a = acc(config().max_request_size(10_000).buffer_memory(500));
    let err = a
        .append(rec(0, &"x".repeat(1000)), FOUR, Blocking::Wait)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        ProducerError::RecordLargerThanBuffer {
            buffer_memory: 500,
            ..
        }
    ));
    let err = a
        .append(rec(7, "x"), FOUR, Blocking::Wait)
        .await
        .unwrap_err();
    assert!(matches!(err, ProducerError::Partition(_)), "{err}");
    assert!(!a.has_queued());
}

#[tokio::test(start_paused = true)]
async fn expired_batches_are_taken_out() {
    let a = acc(config()
        .linger(Duration::from_secs(1))
        .request_timeout(Duration::from_secs(1))
        .delivery_timeout(Duration::from_secs(5)));
    let f = a.append(rec(0, "x"), FOUR, Blocking::Wait).await.unwrap();
    tokio::time::advance(Duration::from_secs(4)).await;
    let _g = a.append(rec(1, "y"), FOUR, Blocking::Wait).await.unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;
    let expired = a.expire(Instant::now());
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].topic_partition().partition, 0);
    for b in expired {
        b.fail(ProducerError::Fatal("expired".into()));
    }
    assert!(f.await.is_err());
    assert!(a.has_queued(), "partition 1's batch is younger");
}

#[tokio::test(start_paused = true)]
async fn an_expiry_scan_waits_for_the_oldest_batch_and_a_requeued_batch_forces_one() {
    let a = acc(config()
        .linger(Duration::from_secs(1))
        .request_timeout(Duration::from_secs(1))
        .delivery_timeout(Duration::from_secs(5)));
    let _f = a.append(rec(0, "x"), FOUR, Blocking::Wait).await.unwrap();
    assert!(a.expire(Instant::now()).is_empty());
    tokio::time::advance(Duration::from_secs(3)).await;
    let _g = a.append(rec(1, "y"), FOUR, Blocking::Wait).await.unwrap();
    // Partition 1's batch (3 s younger) is taken for sending.
    let only_1 = |tp: &TopicPartition| (tp.partition == 1).then_some(0);
    let mut drained = a.drain(DrainContext {
        now: Instant::now() + Duration::from_secs(2),
        leader_for: &only_1,
        node_ready: &any_node,
        idempotence: None,
    });
    let batch = drained.batches.remove(&0).unwrap().pop().unwrap();
    assert!(drained.waiting, "partition 0's batch stays queued");
    assert!(a.expire(Instant::now()).is_empty());
    tokio::time::advance(Duration::from_secs(2)).await;
    let expired = a.expire(Instant::now());
    assert_eq!(expired.len(), 1, "partition 0's batch is 5 s old");
    assert_eq!(expired[0].topic_partition().partition, 0);
    drop(expired);
    // That scan saw no other queued batch. Partition 1's batch fails and comes back, older
    // than any batch opened since: it still expires on time, 5 s after it was created.
    tokio::time::advance(Duration::from_secs(1)).await;
    a.reenqueue(batch, ProducerError::Fatal("retry".into()), Instant::now());
    assert!(a.expire(Instant::now()).is_empty());
    tokio::time::advance(Duration::from_secs(2)).await;
    let expired = a.expire(Instant::now());
    assert_eq!(expired.len(), 1, "the requeued batch is 5 s old");
    assert_eq!(expired[0].topic_partition().partition, 1);
}

/// Wire size of one batch of the same 300 records compressed with `compression` at `level`.
async fn compressed_size(compression: Compression, level: Option<i32>) -> usize {
    let mut b = config()
        .compression(compression)
        .linger(Duration::from_secs(60))
        .batch_size(1 << 20);
    match (compression, level) {
        (Compression::Gzip, Some(l)) => b = b.compression_gzip_level(l),
        (Compression::Zstd, Some(l)) => b = b.compression_zstd_level(l),
        _ => {}
    }
    let a = acc(b);
    let mut deliveries = Vec::new();
    for i in 0..300 {
        let value = format!(
            "order {i} for customer {} item {} quantity {} note {}",
            i % 37,
            (i * 7) % 101,
            i % 5,
            "lorem ipsum dolor sit amet ".repeat(i % 4)
        );
        deliveries.push(
            a.append(rec(0, &value), FOUR, Blocking::Wait)
                .await
                .unwrap(),
        );
    }
    let mut drained = drain(&a, Instant::now() + Duration::from_secs(61));
    let batch = drained.batches.remove(&0).unwrap().pop().unwrap();
    assert_eq!(values(&batch).len(), 300, "the batch decodes");
    batch.size()
}

#[tokio::test]
async fn batches_compress_at_the_configured_level() {
    let gzip_fast = compressed_size(Compression::Gzip, Some(1)).await;
    let gzip_default = compressed_size(Compression::Gzip, None).await;
    let gzip_best = compressed_size(Compression::Gzip, Some(9)).await;
    assert!(
        gzip_fast > gzip_best,
        "gzip 1: {gzip_fast} bytes, 9: {gzip_best}"
    );
    assert!(gzip_default >= gzip_best && gzip_default <= gzip_fast);
    let zstd_fast = compressed_size(Compression::Zstd, Some(-5)).await;
    let zstd_best = compressed_size(Compression::Zstd, Some(19)).await;
    assert!(
        zstd_fast > zstd_best,
        "zstd -5: {zstd_fast} bytes, 19: {zstd_best}"
    );
}

#[tokio::test(start_paused = true)]
async fn partitions_of_a_stalled_leader_leave_the_adaptive_choice() {
    let a = acc(config()
        .linger(Duration::from_millis(1))
        .partitioner_availability_timeout(Duration::from_millis(100)));
    // Partitions 0 and 1 are led by node 0, 2 and 3 by node 1, which takes no request.
    let leader = |tp: &TopicPartition| Some(tp.partition / 2);
    let node_0_only = |node: i32| node == 0;
    let mut deliveries = Vec::new();
    let weighted = |a: &RecordAccumulator| {
        let topics = a.read_topics();
        let entry = topics.values().next().expect("topic t");
        entry.partitioner.sticky().weighted_partitions()
    };
    for round in 0..3 {
        for p in 0..4 {
            deliveries.push(a.append(rec(p, "x"), FOUR, Blocking::Wait).await.unwrap());
        }
        tokio::time::advance(Duration::from_millis(60)).await;
        let drained = a.drain(DrainContext {
            now: Instant::now(),
            leader_for: &leader,
            node_ready: &node_0_only,
            idempotence: None,
        });
        assert_eq!(drained.batches.len(), 1, "only node 0 took batches");
        a.update_partitioner_load(&leader);
        if round == 0 {
            assert_eq!(weighted(&a), vec![0, 1, 2, 3], "not stalled yet");
        }
    }
    // Node 1 has had ready batches for 120 ms without taking one.
    assert_eq!(weighted(&a), vec![0, 1]);
    // Once it takes requests again, its partitions come back.
    let _ = a.drain(DrainContext {
        now: Instant::now(),
        leader_for: &leader,
        node_ready: &any_node,
        idempotence: None,
    });
    a.update_partitioner_load(&leader);
    assert_eq!(weighted(&a), vec![0, 1, 2, 3]);
}

#[tokio::test]
async fn the_queue_list_follows_new_topics_and_partitions() {
    let a = acc(config().linger(Duration::from_secs(60)));
    let _f = a.append(rec(0, "x"), FOUR, Blocking::Wait).await.unwrap();
    assert_eq!(a.all_queues().len(), 4);
    let six = PartitionAvailability {
        count: 6,
        available: &[],
    };
    let _g = a.append(rec(5, "y"), six, Blocking::Wait).await.unwrap();
    let _h = a
        .append(
            ProducerRecord::new("u").partition(0).value("z"),
            FOUR,
            Blocking::Wait,
        )
        .await
        .unwrap();
    let listed: Vec<(String, i32)> = a
        .all_queues()
        .iter()
        .map(|(tp, _)| (tp.topic.to_string(), tp.partition))
        .collect();
    assert_eq!(listed.len(), 10, "{listed:?}");
    assert!(listed.contains(&("t".to_owned(), 5)));
    assert!(listed.contains(&("u".to_owned(), 0)));
    let drained = drain(&a, Instant::now() + Duration::from_secs(61));
    assert_eq!(
        drained.batches[&0].len(),
        3,
        "every listed queue is drained"
    );
    assert!(!drained.waiting);
}

#[tokio::test]
async fn close_refuses_records_and_abort_resolves_every_future() {
    let a = acc(config().linger(Duration::from_secs(60)));
    let f = a.append(rec(0, "x"), FOUR, Blocking::Wait).await.unwrap();
    a.close();
    let err = a
        .append(rec(0, "y"), FOUR, Blocking::Wait)
        .await
        .unwrap_err();
    assert!(matches!(err, ProducerError::Closed { .. }));
    // Closing makes lingering batches ready.
    assert_eq!(drain(&a, Instant::now()).batches[&0].len(), 1);
    {
        let a2 = acc(config().linger(Duration::from_secs(60)));
        let g = a2.append(rec(0, "z"), FOUR, Blocking::Wait).await.unwrap();
        let err = ProducerError::Closed {
            reason: crate::error::CloseReason::CloseTimeout,
        };
        assert_eq!(a2.abort_queued(&err), 1);
        assert_eq!(g.await.unwrap_err(), err);
    }
    drop(a);
    // The drained batch was dropped with the test's Drained value: its future resolves.
    assert!(f.await.is_err());
}

#[tokio::test]
async fn dropping_the_accumulator_resolves_queued_futures() {
    let a = acc(config().linger(Duration::from_secs(60)));
    let f = a.append(rec(0, "x"), FOUR, Blocking::Wait).await.unwrap();
    drop(a);
    assert!(matches!(f.await, Err(ProducerError::Closed { .. })));
}

#[tokio::test]
async fn order_is_kept_without_idempotence_when_one_in_flight() {
    let a = acc(config()
        .enable_idempotence(false)
        .max_in_flight(1)
        .batch_size(0));
    for v in ["a", "b"] {
        drop(a.append(rec(0, v), FOUR, Blocking::Wait).await.unwrap());
    }
    let b = drain(&a, Instant::now())
        .batches
        .remove(&0)
        .unwrap()
        .remove(0);
    assert!(
        drain(&a, Instant::now()).is_empty(),
        "muted while 'a' is in flight"
    );
    a.unmute(b.topic_partition());
    assert_eq!(values(&drain(&a, Instant::now()).batches[&0][0]), ["b"]);
}

#[tokio::test]
async fn flush_waits_for_incomplete_batches() {
    let a = acc(config());
    let _f = a.append(rec(0, "x"), FOUR, Blocking::Wait).await.unwrap();
    let waits = a.incomplete();
    assert_eq!(waits.len(), 1);
    let b = drain(&a, Instant::now())
        .batches
        .remove(&0)
        .unwrap()
        .remove(0);
    let waiter = tokio::spawn(futures::future::join_all(waits));
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    b.complete(5, None);
    waiter.await.unwrap();
}

#[tokio::test]
async fn keyless_records_stick_to_one_partition_per_batch() {
    let a = acc(config().batch_size(1_000));
    let mut partitions = Vec::new();
    for _ in 0..100 {
        let f = a
            .append(
                ProducerRecord::new("t").value(vec![0u8; 50]),
                FOUR,
                Blocking::Wait,
            )
            .await
            .unwrap();
        partitions.push(f.partition());
    }
    let switches = partitions.windows(2).filter(|w| w[0] != w[1]).count();
    // ~5,000 bytes over batches of 1,000 bytes: a handful of switches, never per record.
    assert!(switches <= 8, "{partitions:?}");
    a.update_partitioner_load(&leader0);
}
