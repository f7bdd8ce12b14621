//! RecordBatch v2 encode and decode, klamm-protocol side by side with the `kafka-protocol`
//! crate: 10,000 records with 100-byte values and no key, uncompressed and zstd.
//!
//! Throughput is the uncompressed batch size in bytes for every case, so the numbers of both
//! libraries and of both codecs compare directly. Decoding walks every record and touches its
//! value; both libraries decode the same bytes (the batch klamm encoded) and verify the CRC.
//!
//! `cargo bench -p klamm-protocol --bench record_batch`
//!
//! With `KLAMM_BENCH_CLOCK=cpu` the times are the benchmark thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`) instead of wall time: on a shared, loaded machine that leaves
//! out the time the thread waited for a core, which otherwise dominates the noise.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput};
use klamm_protocol::record::{BatchBuilder, Compression, RecordBatch};

const RECORDS: usize = 10_000;
const VALUE_SIZE: usize = 100;
const BASE_TS: i64 = 1_700_000_000_000;
const NO_HEADERS: &[(&str, Option<&[u8]>)] = &[];

fn values() -> Vec<Bytes> {
    (0..RECORDS)
        .map(|i| {
            let v: Vec<u8> = (0..VALUE_SIZE)
                .map(|j| b'a' + ((i + j) % 26) as u8)
                .collect();
            Bytes::from(v)
        })
        .collect()
}

fn klamm_encode(values: &[Bytes], compression: Compression, capacity: usize) -> Bytes {
    let mut b = BatchBuilder::with_capacity(compression, capacity);
    for (i, v) in values.iter().enumerate() {
        b.append(BASE_TS + i as i64, None, Some(v), NO_HEADERS)
            .expect("append");
    }
    b.seal().expect("seal").into_bytes()
}

fn klamm_decode(batch: &Bytes) -> usize {
    let batch = RecordBatch::decode(batch.clone()).expect("decode");
    let mut n = 0;
    for r in batch.records().expect("records") {
        let r = r.expect("record");
        n += r.value.map_or(0, |v| v.len()) + r.offset as usize;
    }
    n
}

/// The same walk through borrowed records (`Records::next_ref`): no reference counting.
fn klamm_decode_borrowed(batch: &Bytes) -> usize {
    let batch = RecordBatch::decode(batch.clone()).expect("decode");
    let mut records = batch.records().expect("records");
    let mut n = 0;
    while let Some(r) = records.next_ref() {
        let r = r.expect("record");
        n += r.value().map_or(0, <[u8]>::len) + r.offset as usize;
    }
    n
}

mod peer {
    use super::*;
    use kafka_protocol::indexmap::IndexMap;
    use kafka_protocol::records::{
        Compression as KpCompression, Record, RecordBatchDecoder, RecordBatchEncoder,
        RecordEncodeOptions, TimestampType,
    };

    pub fn records(values: &[Bytes]) -> Vec<Record> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // kafka-protocol starts a new batch whenever offset - sequence changes.
                sequence: i as i32,
                timestamp: BASE_TS + i as i64,
                key: None,
                value: Some(v.clone()),
                headers: IndexMap::new(),
            })
            .collect()
    }

    pub fn encode(records: &[Record], zstd: bool, capacity: usize) -> Bytes {
        let mut buf = BytesMut::with_capacity(capacity);
        let options = RecordEncodeOptions {
            version: 2,
            compression: if zstd {
                KpCompression::Zstd
            } else {
                KpCompression::None
            },
        };
        RecordBatchEncoder::encode(&mut buf, records, &options).expect("encode");
        buf.freeze()
    }

    pub fn decode(batch: &Bytes) -> usize {
        let mut buf = batch.clone();
        let set = RecordBatchDecoder::decode(&mut buf).expect("decode");
        let mut n = 0;
        for r in &set.records {
            n += r.value.as_ref().map_or(0, |v| v.len()) + r.offset as usize;
        }
        n
    }
}

/// The calling thread's CPU time.
struct ThreadCpuTime;

fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Nanoseconds, formatted like wall time.
        static WALL: WallTime = WallTime;
        WALL.formatter()
    }
}

fn bench<M: Measurement>(c: &mut Criterion<M>, group_name: &str) {
    let values = values();
    let peer_records = peer::records(&values);
    let plain = klamm_encode(&values, Compression::None, 0);
    let size = plain.len();
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Bytes(size as u64));

    for (name, codec) in [("none", Compression::None), ("zstd", Compression::Zstd)] {
        let zstd = codec == Compression::Zstd;
        let encoded = klamm_encode(&values, codec, size);
        // Both sides must agree on the data before they are timed.
        assert_eq!(klamm_decode(&encoded), peer::decode(&encoded));
        assert_eq!(klamm_decode(&encoded), klamm_decode_borrowed(&encoded));
        let peer_encoded = peer::encode(&peer_records, zstd, size);
        assert_eq!(klamm_decode(&peer_encoded), klamm_decode(&encoded));

        group.bench_function(format!("encode/{name}/klamm"), |b| {
            b.iter(|| klamm_encode(black_box(&values), codec, size))
        });
        group.bench_function(format!("encode/{name}/kafka-protocol"), |b| {
            b.iter(|| peer::encode(black_box(&peer_records), zstd, size))
        });
        group.bench_function(format!("decode/{name}/klamm"), |b| {
            b.iter(|| klamm_decode(black_box(&encoded)))
        });
        group.bench_function(format!("decode/{name}/klamm-borrowed"), |b| {
            b.iter(|| klamm_decode_borrowed(black_box(&encoded)))
        });
        group.bench_function(format!("decode/{name}/kafka-protocol"), |b| {
            b.iter(|| peer::decode(black_box(&encoded)))
        });
    }
    group.finish();
}

fn main() {
    let cpu = std::env::var("KLAMM_BENCH_CLOCK").is_ok_and(|v| v == "cpu");
    if cpu {
        let mut c = Criterion::default()
            .with_measurement(ThreadCpuTime)
            .configure_from_args();
        bench(&mut c, "record_batch_cpu");
        c.final_summary();
    } else {
        let mut c = Criterion::default().configure_from_args();
        bench(&mut c, "record_batch");
        c.final_summary();
    }
}
