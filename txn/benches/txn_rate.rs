//! Transactions per second, Klamm vs rust-rdkafka's transactional producer, against the same
//! in-process klamm-testkit cluster in the same run: 1-record and 100-record transactions.
//! Each iteration is one whole transaction (begin, sends, commit).
//!
//! `cargo bench -p klamm-txn --bench txn_rate`

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_main};
use klamm_producer::ProducerRecord;
use klamm_testkit::Cluster;
use klamm_txn::TransactionalProducer;
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer as _, ThreadedProducer};

const TOPIC: &str = "bench";

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let kit = rt.block_on(async {
        Cluster::builder()
            .brokers(3)
            .topic(TOPIC, 6)
            .start()
            .await
            .expect("testkit")
    });
    let klamm = rt.block_on(async {
        let p = TransactionalProducer::builder()
            .bootstrap(kit.bootstrap())
            .transactional_id("bench-klamm")
            // the same linger as the rdkafka producer below (commit flushes at once anyway)
            .producer(|p| p.linger(Duration::from_millis(5)))
            .build()
            .await
            .expect("build");
        p.init_transactions().await.expect("init");
        Arc::new(p)
    });
    let rdk: ThreadedProducer<_> = ClientConfig::new()
        .set("bootstrap.servers", kit.bootstrap())
        .set("transactional.id", "bench-rdkafka")
        .set("linger.ms", "5")
        .create()
        .expect("rdkafka producer");
    rdk.init_transactions(Duration::from_secs(30))
        .expect("rdkafka init");

    let mut group = c.benchmark_group("transactions");
    group.sample_size(10);
    for records in [1usize, 100] {
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("klamm/{records}-record"), |b| {
            b.iter_custom(|iters| {
                let p = Arc::clone(&klamm);
                rt.block_on(async move {
                    let start = Instant::now();
                    for t in 0..iters {
                        p.begin_transaction().expect("begin");
                        for i in 0..records {
                            let rec = ProducerRecord::new(TOPIC).value(format!("{t}-{i}"));
                            let _f = p.send(rec).await.expect("send");
                        }
                        p.commit_transaction().await.expect("commit");
                    }
                    start.elapsed()
                })
            });
        });
        // rust-rdkafka 0.38's commit_transaction first runs its own flush, which polls with
        // `BaseProducer::poll(100 ms)`; that poll runs until its deadline even after the
        // delivery report arrived, so every commit with a record in flight costs >= 100 ms
        // (measured the same against librdkafka's own mock cluster: it is not the broker).
        // "rdkafka-awaited" flushes first in 1 ms steps (so the commit's own flush finds
        // nothing outstanding), as a careful rust-rdkafka user would; the xtask table
        // compares Klamm with it.
        for (name, flush_first) in [("rdkafka-awaited", true), ("rdkafka", false)] {
            group.bench_function(format!("{name}/{records}-record"), |b| {
                b.iter_custom(|iters| rdkafka_transactions(&rdk, iters, records, flush_first));
            });
        }
    }
    group.finish();
}

/// `iters` rdkafka transactions of `records` records each; with `flush_first`, the records are
/// flushed in 1 ms steps before the commit (each rd_kafka_flush also makes lingering batches
/// sendable at once), so the commit's own flush finds nothing outstanding.
fn rdkafka_transactions(
    rdk: &ThreadedProducer<DefaultProducerContext>,
    iters: u64,
    records: usize,
    flush_first: bool,
) -> Duration {
    let start = Instant::now();
    for t in 0..iters {
        rdk.begin_transaction().expect("begin");
        for i in 0..records {
            let v = format!("{t}-{i}");
            rdk.send(BaseRecord::<(), String>::to(TOPIC).payload(&v))
                .map_err(|(e, _)| e)
                .expect("send");
        }
        if flush_first {
            let deadline = Instant::now() + Duration::from_secs(30);
            while rdk.flush(Duration::from_millis(1)).is_err() {
                assert!(Instant::now() < deadline, "rdkafka flush");
            }
        }
        rdk.commit_transaction(Duration::from_secs(30))
            .expect("commit");
    }
    start.elapsed()
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}

criterion_main!(benches);
