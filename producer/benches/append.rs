//! The producer's hot path: `send`'s append into the accumulator (partitioner, per-partition
//! lock, in-place record encoding, one delivery future per record), measured per record.
//! The drain side seals and drops the batches (the network is not part of this benchmark).
//!
//! `cargo bench -p klamm-producer --bench append`

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_main};
use klamm_producer::ProducerConfig;
use klamm_producer::ProducerRecord;
use klamm_producer::accumulator::{Blocking, DrainContext, RecordAccumulator};
use klamm_producer::partitioner::PartitionAvailability;
use tokio::time::Instant;

const RECORDS: usize = 10_000;
const PARTS: PartitionAvailability<'static> = PartitionAvailability {
    count: 6,
    available: &[],
};

fn run(acc: &RecordAccumulator, topic: &Arc<str>, value: &Bytes, keyed: bool) {
    let mut futures = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let mut r = ProducerRecord::new(Arc::clone(topic)).value(value.clone());
        if keyed {
            r = r.key(Bytes::from(format!("key-{}", i % 64)));
        }
        let f = futures::FutureExt::now_or_never(acc.append(r, PARTS, Blocking::NoWait))
            .expect("never waits")
            .expect("accepted");
        futures.push(f);
    }
    acc.begin_flush();
    // One batch per partition per drain, as in a Produce request: drain until empty.
    while acc.has_queued() {
        let drained = acc.drain(DrainContext {
            now: Instant::now(),
            leader_for: &|_| Some(0),
            node_ready: &|_| true,
            idempotence: None,
        });
        black_box(drained);
    }
    acc.end_flush();
    black_box(futures);
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let config = ProducerConfig::builder()
        .bootstrap(["localhost:9092"])
        .batch_size(64 * 1024)
        .max_request_size(64 << 20)
        .buffer_memory(512 << 20)
        .build()
        .expect("config");
    let acc = RecordAccumulator::new(Arc::new(config));
    let topic: Arc<str> = Arc::from("bench");
    let value = Bytes::from(vec![b'v'; 100]);
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("keyless_100B", |b| {
        b.iter(|| run(&acc, &topic, &value, false))
    });
    g.bench_function("keyed_100B", |b| b.iter(|| run(&acc, &topic, &value, true)));
    g.finish();
}

/// Runs the benchmark group with the command line's criterion options.
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}

criterion_main!(benches);
