//! End-to-end: klamm-producer over klamm-net against klamm-testkit (real TCP on 127.0.0.1),
//! with faults injected by the testkit and counted.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use klamm_producer::{Producer, ProducerError, ProducerRecord};
use klamm_protocol::ApiKey;
use klamm_protocol::error_code::ErrorCode;
use klamm_protocol::messages::FetchRequest;
use klamm_protocol::messages::fetch::request::{FetchPartition, FetchTopic};
use klamm_protocol::record::{RecordBatch, RecordBatches};
use klamm_testkit::{Cluster, Fault, FaultAction};

const PARTITIONS: i32 = 6;

async fn cluster() -> Cluster {
    Cluster::builder()
        .brokers(3)
        .topic("t", PARTITIONS)
        .start()
        .await
        .expect("testkit starts")
}

fn builder(c: &Cluster) -> klamm_producer::ProducerBuilder {
    Producer::builder()
        .bootstrap(c.bootstrap().split(','))
        .linger(Duration::from_millis(2))
        .retry_backoff(Duration::from_millis(10))
        .request_timeout(Duration::from_secs(5))
        .delivery_timeout(Duration::from_secs(60))
}

/// `tasks` tasks each send `per_task` records keyed by task, valued "task:seq".
async fn produce(p: &Producer, tasks: usize, per_task: usize) {
    let mut handles = Vec::new();
    for t in 0..tasks {
        let p = p.clone();
        handles.push(tokio::spawn(async move {
            let mut futures = Vec::with_capacity(per_task);
            for i in 0..per_task {
                let r = ProducerRecord::new("t")
                    .key(format!("k{t}"))
                    .value(format!("{t}:{i}"))
                    .header("n", format!("{i}"));
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

/// Reads every partition back with Fetch requests (v12, from offset 0 to the high watermark)
/// through klamm-net.
async fn fetch_all(c: &Cluster) -> Vec<Vec<RecordBatch>> {
    let net = klamm_net::Cluster::builder()
        .bootstrap(c.bootstrap())
        .connect()
        .await
        .expect("connect for fetching");
    let mut all = Vec::new();
    for p in 0..PARTITIONS {
        let mut batches = Vec::new();
        let mut offset = 0;
        loop {
            let leader = net.leader("t", p).await.expect("leader");
            let request = FetchRequest {
                replica_id: -1,
                max_wait_ms: 0,
                min_bytes: 0,
                max_bytes: 64 << 20,
                session_epoch: -1,
                topics: vec![FetchTopic {
                    topic: "t".into(),
                    partitions: vec![FetchPartition {
                        partition: p,
                        fetch_offset: offset,
                        current_leader_epoch: -1,
                        last_fetched_epoch: -1,
                        log_start_offset: -1,
                        partition_max_bytes: 16 << 20,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            };
            let response = leader
                .connection()
                .send_at(request, 12)
                .await
                .expect("fetch answered");
            let data = &response.body.responses[0].partitions[0];
            assert_eq!(data.error_code, 0, "fetch error on partition {p}");
            let before = offset;
            for batch in RecordBatches::new(data.records.clone().unwrap_or_default()) {
                let batch = batch.expect("fetched batch decodes");
                offset = batch.last_offset() + 1;
                batches.push(batch);
            }
            if offset >= data.high_watermark || offset == before {
                break;
            }
        }
        all.push(batches);
    }
    all
}

/// Reads every partition back with Fetch: asserts no duplicate, per-key order kept, keys on
/// murmur2's partition; returns the record count.
async fn read_back(c: &Cluster) -> usize {
    let mut total = 0;
    for (p, batches) in fetch_all(c).await.into_iter().enumerate() {
        let p = p as i32;
        let mut last: HashMap<String, i64> = HashMap::new();
        for batch in batches {
            for r in batch.records().expect("records") {
                let r = r.expect("record");
                let key = r.key.clone().expect("keyed");
                assert_eq!(
                    klamm_producer::partitioner::partition_for_key(&key, PARTITIONS),
                    Some(p)
                );
                let v = String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap();
                let (task, seq) = v.split_once(':').unwrap();
                let seq: i64 = seq.parse().unwrap();
                let prev = last.insert(task.to_owned(), seq).unwrap_or(-1);
                assert_eq!(
                    seq,
                    prev + 1,
                    "partition {p}, task {task}: {prev} then {seq}"
                );
                total += 1;
            }
        }
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_and_read_back() {
    let c = cluster().await;
    let p = builder(&c).build().await.unwrap();
    produce(&p, 4, 50_000).await;
    assert_eq!(read_back(&c).await, 200_000);
    p.close(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_when_connections_drop_after_applying() {
    let c = cluster().await;
    let fault = c.inject(Fault::new(ApiKey::Produce, FaultAction::DropAfter).every(7));
    let p = builder(&c).build().await.unwrap();
    produce(&p, 4, 50_000).await;
    assert!(c.fault_fired(fault) > 0, "the fault really happened");
    assert_eq!(read_back(&c).await, 200_000, "zero lost, zero duplicated");
    p.close(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_through_not_leader_and_leader_moves() {
    let c = cluster().await;
    let fault = c.inject(
        Fault::new(
            ApiKey::Produce,
            FaultAction::Error(ErrorCode::NotLeaderOrFollower.as_i16()),
        )
        .every(5),
    );
    let p = builder(&c).build().await.unwrap();
    let mover = {
        let moves: Vec<(i32, i32)> = (0..PARTITIONS).map(|p| (p, (p + 1) % 3)).collect();
        let c2 = &c;
        async move {
            for (partition, node) in moves {
                tokio::time::sleep(Duration::from_millis(20)).await;
                c2.move_leader("t", partition, node).unwrap();
            }
        }
    };
    tokio::join!(produce(&p, 4, 50_000), mover);
    assert!(c.fault_fired(fault) > 0);
    assert_eq!(read_back(&c).await, 200_000);
    p.close(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_through_sequence_errors() {
    let c = cluster().await;
    let out_of_order = c.inject(
        Fault::new(
            ApiKey::Produce,
            FaultAction::Error(ErrorCode::OutOfOrderSequenceNumber.as_i16()),
        )
        .every(11),
    );
    let unknown = c.inject(
        Fault::new(
            ApiKey::Produce,
            FaultAction::Error(ErrorCode::UnknownProducerId.as_i16()),
        )
        .every(13),
    );
    let p = builder(&c).build().await.unwrap();
    produce(&p, 4, 50_000).await;
    assert!(c.fault_fired(out_of_order) > 0 && c.fault_fired(unknown) > 0);
    assert!(p.metrics().producer_ids > 1, "recovered by epoch bumps");
    assert_eq!(read_back(&c).await, 200_000);
    p.close(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_tasks_into_a_throttled_broker_and_a_prompt_close() {
    let c = cluster().await;
    // 8 KB/s for everyone on each broker (each of the 3 measures only what it receives, as
    // Kafka does), over Kafka's 10+ s window: the first ~80 KB per broker pass, the rest
    // (16 tasks x 200 records of ~100 bytes in all, about a third per broker) is throttled.
    c.set_produce_quota(None, Some(8_000.0));
    let p = builder(&c).build().await.unwrap();
    let done = tokio::time::timeout(Duration::from_secs(60), async {
        let mut handles = Vec::new();
        for t in 0..16 {
            let p = p.clone();
            handles.push(tokio::spawn(async move {
                let mut fs = Vec::new();
                for i in 0..200 {
                    let r = ProducerRecord::new("t")
                        .key(format!("k{t}"))
                        .value(format!("{t}:{i}:{}", "x".repeat(80)));
                    fs.push(p.send(r).await.unwrap());
                }
                for f in fs {
                    f.await.unwrap();
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
    })
    .await;
    assert!(done.is_ok(), "16 tasks into a throttled broker deadlocked");
    assert!(!c.throttles().is_empty(), "the quota really throttled");
    assert!(p.metrics().throttle_time_ms > 0);

    // A long throttle, then close: it must return promptly.
    c.set_produce_quota(None, Some(1_000.0));
    let mut pending = Vec::new();
    for i in 0..200 {
        let r = ProducerRecord::new("t").value(format!("late-{i}:{}", "y".repeat(500)));
        pending.push(p.send(r).await.unwrap());
    }
    let started = Instant::now();
    let closed = p.close(Duration::from_millis(500)).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "close hung behind a throttle"
    );
    if closed.is_err() {
        let failed = futures_count_errors(pending).await;
        assert!(failed > 0);
    }
}

async fn futures_count_errors(fs: Vec<klamm_producer::DeliveryFuture>) -> usize {
    let mut n = 0;
    for f in fs {
        if tokio::time::timeout(Duration::from_secs(5), f)
            .await
            .expect("every future resolves after close")
            .is_err()
        {
            n += 1;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_pressure_with_a_stalled_broker() {
    let c = cluster().await;
    c.inject(Fault::new(
        ApiKey::Produce,
        FaultAction::Delay(Duration::from_secs(30)),
    ));
    let p = builder(&c)
        .buffer_memory(1024 * 1024)
        .max_block(Duration::from_millis(500))
        .build()
        .await
        .unwrap();
    let mut accepted = 0usize;
    let started = Instant::now();
    let err = loop {
        match p
            .send(ProducerRecord::new("t").value(vec![b'v'; 1_000]))
            .await
        {
            Ok(_f) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 100_000, "memory not bounded");
    };
    assert!(
        matches!(err, ProducerError::BufferExhausted { .. }),
        "{err}"
    );
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(accepted <= 1_100, "{accepted} records of 1 KB in 1 MiB");
    assert!(p.metrics().buffer_available_bytes < 20_000);
    let _ = p.close(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_typed_errors() {
    let err = Producer::builder().build().await.unwrap_err();
    assert!(err.to_string().contains("bootstrap"), "{err}");
    let c = Cluster::builder()
        .brokers(1)
        .topic("t", 2)
        .auto_create_topics(false)
        .start()
        .await
        .unwrap();
    let p = builder(&c)
        .max_request_size(10_000)
        .max_block(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let err = p
        .send(ProducerRecord::new("t").value(vec![0u8; 20_000]))
        .await
        .unwrap_err();
    assert!(matches!(err, ProducerError::RecordTooLarge { .. }), "{err}");
    let err = p
        .send(ProducerRecord::new("missing").value("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProducerError::MetadataTimeout { .. }),
        "{err}"
    );
    // Other partitions keep being served.
    let m = p
        .send(ProducerRecord::new("t").value("ok").partition(1))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!((m.partition, m.offset), (1, 0));
    p.close(Duration::from_secs(5)).await.unwrap();
}

/// The testkit refuses record batches over its `max.message.bytes` with MESSAGE_TOO_LARGE:
/// the producer splits its 64 KiB batches until they fit (while connections also drop after
/// applying), and everything reads back once, in order. A single record over the limit fails
/// with the broker's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_refused_as_too_large_are_split_and_read_back() {
    let c = Cluster::builder()
        .brokers(3)
        .topic("t", PARTITIONS)
        .max_message_bytes(8 * 1024)
        .start()
        .await
        .expect("testkit starts");
    let dropped = c.inject(Fault::new(ApiKey::Produce, FaultAction::DropAfter).every(11));
    let p = builder(&c)
        .batch_size(64 * 1024)
        .linger(Duration::from_millis(20))
        .build()
        .await
        .unwrap();
    produce(&p, 4, 20_000).await;
    assert!(c.fault_fired(dropped) > 0, "connections dropped");
    let m = p.metrics();
    assert!(m.batches_split > 0, "the limit never bit: {m:?}");
    assert_eq!(read_back(&c).await, 80_000, "zero lost, zero duplicated");
    for part in 0..PARTITIONS {
        for b in c.batches("t", part) {
            assert!(b.len() <= 8 * 1024, "a {} byte batch got in", b.len());
        }
    }
    let err = p
        .send(ProducerRecord::new("t").key("k0").value(vec![0u8; 10_000]))
        .await
        .unwrap()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ProducerError::Broker {
                code: ErrorCode::MessageTooLarge,
                ..
            }
        ),
        "{err}"
    );
    p.close(Duration::from_secs(10)).await.unwrap();
}

/// `max_block` is one budget (Java's `max.block.ms`): with the buffer full behind a stalled
/// broker, a record for a topic that appears only after 600 ms waits for its metadata and then
/// for memory, and fails when the 1 s budget is spent, not 1 s after the metadata came.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_and_memory_share_one_max_block() {
    let c = Cluster::builder()
        .brokers(2)
        .topic("t", 2)
        .auto_create_topics(false)
        .start()
        .await
        .expect("testkit starts");
    // Broker 1 (leader of t-1) stalls its Produce requests (and whatever follows them on the
    // connection); broker 0 keeps answering, metadata included.
    let stall = c
        .inject(Fault::new(ApiKey::Produce, FaultAction::Delay(Duration::from_secs(30))).broker(1));
    let max_block = Duration::from_secs(1);
    let p = builder(&c)
        .buffer_memory(256 * 1024)
        .batch_size(16 * 1024)
        .max_block(max_block)
        .build()
        .await
        .unwrap();
    // Metadata cached and a connection to broker 0 in use, so that metadata goes there.
    p.send(ProducerRecord::new("t").partition(0).value("x"))
        .await
        .unwrap()
        .await
        .unwrap();
    // Its batch gives its memory back just after its future resolves.
    let wait = Instant::now();
    while p.metrics().buffer_available_bytes < 256 * 1024 {
        assert!(
            wait.elapsed() < Duration::from_secs(5),
            "memory not returned"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut held = Vec::new();
    loop {
        match p.try_send(
            ProducerRecord::new("t")
                .partition(1)
                .value(vec![b'v'; 1_000]),
        ) {
            Ok(f) => held.push(f),
            Err(ProducerError::WouldBlock { .. }) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(held.len() < 10_000, "memory not bounded");
    }
    let started = Instant::now();
    let create = async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        c.create_topic("late", 1).unwrap();
    };
    let (result, ()) = tokio::join!(
        p.send(ProducerRecord::new("late").value(vec![b'w'; 1_000])),
        create
    );
    let took = started.elapsed();
    let Err(err) = result else {
        panic!(
            "accepted after {took:?} with {} records held: {:?}",
            held.len(),
            p.metrics()
        );
    };
    assert!(
        matches!(err, ProducerError::BufferExhausted { .. }),
        "{err}"
    );
    assert!(c.fault_fired(stall) > 0, "the broker really stalled");
    assert!(took >= max_block, "gave up early: {took:?}");
    // Two budgets would take 1.6 s; one takes 1 s (plus scheduling on a busy machine).
    assert!(
        took < Duration::from_millis(1_400),
        "waits added up: {took:?}"
    );
    let _ = p.close(Duration::from_millis(200)).await;
}
