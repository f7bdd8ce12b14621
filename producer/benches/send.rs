//! The whole producer without a network: `Producer::send` (metadata lookup, partitioner,
//! append), the sender task (drain, seal, Produce request) and the completion of every
//! record's future, over a [`Transport`] that acknowledges each Produce request at once.
//! Per record, this is the CPU a producer costs besides the socket writes.
//!
//! `cargo bench -p klamm-producer --bench send`

use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_main};
use futures::FutureExt;
use futures::future::BoxFuture;
use klamm_producer::idempotence::{ProducerIdEpoch, TopicPartition};
use klamm_producer::sender::{TopicInfo, Transport};
use klamm_producer::{Producer, ProducerConfig, ProducerError, ProducerRecord};
use klamm_protocol::messages::produce::response::{PartitionProduceResponse, TopicProduceResponse};
use klamm_protocol::messages::produce::{ProduceRequest, ProduceResponse};

const RECORDS: usize = 100_000;
const PARTITIONS: i32 = 6;

/// Answers every Produce request at once with consecutive offsets per partition.
struct InstantCluster {
    available: Arc<[i32]>,
    offsets: Mutex<HashMap<(String, i32), i64>>,
    pid: AtomicI64,
}

impl Transport for InstantCluster {
    fn cached_topic(&self, _topic: &str) -> Option<TopicInfo> {
        Some(TopicInfo {
            partitions: PARTITIONS,
            available: Arc::clone(&self.available),
        })
    }

    fn fetch_topic(&self, topic: &str) -> BoxFuture<'static, Result<TopicInfo, ProducerError>> {
        let info = self.cached_topic(topic);
        async move { Ok(info.expect("always known")) }.boxed()
    }

    fn metadata_version(&self) -> Option<u64> {
        Some(1)
    }

    fn leader(&self, tp: &TopicPartition) -> Option<i32> {
        Some(tp.partition % 3)
    }

    fn refresh_metadata(&self) {}

    fn produce(
        &self,
        _node: i32,
        request: ProduceRequest,
    ) -> BoxFuture<'static, Result<ProduceResponse, ProducerError>> {
        let mut offsets = self.offsets.lock().expect("offsets");
        let responses = request
            .topic_data
            .iter()
            .map(|t| TopicProduceResponse {
                name: t.name.clone(),
                partition_responses: t
                    .partition_data
                    .iter()
                    .map(|p| {
                        let records = p.records.as_ref().map_or(0, |b| {
                            // Record count: the last 4 bytes of the 61-byte header.
                            i64::from(i32::from_be_bytes([b[57], b[58], b[59], b[60]]))
                        });
                        let next = offsets.entry((t.name.clone(), p.index)).or_insert(0);
                        let base_offset = *next;
                        *next += records;
                        PartitionProduceResponse {
                            index: p.index,
                            base_offset,
                            log_append_time_ms: -1,
                            ..Default::default()
                        }
                    })
                    .collect(),
                ..Default::default()
            })
            .collect();
        let response = ProduceResponse {
            responses,
            ..Default::default()
        };
        async move { Ok(response) }.boxed()
    }

    fn init_producer_id(
        &self,
        _current: Option<ProducerIdEpoch>,
    ) -> BoxFuture<'static, Result<ProducerIdEpoch, ProducerError>> {
        let id = self.pid.fetch_add(1, Ordering::Relaxed);
        async move { Ok(ProducerIdEpoch { id, epoch: 0 }) }.boxed()
    }

    fn close(&self) {}
}

/// Sends `RECORDS` records, checking every delivery result as a fast application would:
/// completed futures are taken from the front of a queue without waiting, the rest awaited at
/// the end.
async fn run(producer: &Producer, topic: &Arc<str>, value: &Bytes) {
    let mut pending = VecDeque::with_capacity(RECORDS);
    let mut ok = 0usize;
    for _ in 0..RECORDS {
        let record = ProducerRecord::new(Arc::clone(topic)).value(value.clone());
        let fut = producer.send(record).await.expect("accepted");
        pending.push_back(fut);
        while let Some(r) = pending.front().and_then(|f| f.try_result()) {
            r.expect("delivered");
            ok += 1;
            pending.pop_front();
        }
    }
    for f in pending {
        f.await.expect("delivered");
        ok += 1;
    }
    assert_eq!(ok, RECORDS);
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("send");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.sample_size(10);
    for idempotence in [true, false] {
        let producer = rt.block_on(async {
            let config = ProducerConfig::builder()
                .bootstrap(["localhost:9092"])
                .enable_idempotence(idempotence)
                .batch_size(128 * 1024)
                .linger(std::time::Duration::from_millis(5))
                .buffer_memory(256 << 20)
                .build()
                .expect("config");
            let transport = Arc::new(InstantCluster {
                available: (0..PARTITIONS).collect(),
                offsets: Mutex::new(HashMap::new()),
                pid: AtomicI64::new(1),
            });
            Producer::with_transport(config, transport)
        });
        let topic: Arc<str> = Arc::from("bench");
        let value = Bytes::from(vec![b'v'; 100]);
        let name = if idempotence {
            "keyless_100B_idempotent"
        } else {
            "keyless_100B"
        };
        g.bench_function(name, |b| {
            b.iter(|| rt.block_on(run(&producer, &topic, &value)))
        });
        rt.block_on(async {
            producer
                .close(std::time::Duration::from_secs(10))
                .await
                .expect("close")
        });
    }
    g.finish();
}

/// Runs the benchmark group with the command line's criterion options.
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}

criterion_main!(benches);
