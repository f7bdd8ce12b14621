//! Golden tests: the record batches inside real Produce requests and Fetch responses
//! (librdkafka 2.16 and kafka-python 2.0.2 against tansu and the librdkafka mock), copied from
//! the shared captures into `tests/data/record_frames.tsv`.
//!
//! The frames are parsed just far enough to find each partition's `records` field; the
//! batches must decode with valid CRCs and hold exactly what the capture scripts produced.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use klamm_protocol::DecodeError;
use klamm_protocol::record::{
    BatchBuilder, Compression, ControlRecordType, DecodeOptions, RecordBatch, RecordBatches,
};

struct Frame {
    source: String,
    dir: String,
    api_key: i16,
    api_version: i16,
    bytes: Bytes,
}

fn frames() -> Vec<Frame> {
    include_str!("data/record_frames.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Frame {
                source: f[0].to_owned(),
                dir: f[1].to_owned(),
                api_key: f[2].parse().unwrap(),
                api_version: f[3].parse().unwrap(),
                bytes: Bytes::from(hex::decode(f[4]).unwrap()),
            }
        })
        .collect()
}

/// A minimal reader for the few request/response fields around the records.
struct Cur {
    b: Bytes,
    p: usize,
}

impl Cur {
    fn take(&mut self, n: usize) -> &[u8] {
        let s = &self.b[self.p..self.p + n];
        self.p += n;
        s
    }
    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take(2).try_into().unwrap())
    }
    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    fn skip(&mut self, n: usize) {
        self.p += n;
    }
    fn uvarint(&mut self) -> u64 {
        let mut v = 0u64;
        for i in 0.. {
            let b = self.take(1)[0];
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b < 0x80 {
                break;
            }
        }
        v
    }
    fn string(&mut self) -> String {
        let n = self.i16();
        String::from_utf8(self.take(n.max(0) as usize).to_vec()).unwrap()
    }
    fn compact_string(&mut self) -> String {
        let n = self.uvarint() as usize;
        String::from_utf8(self.take(n.saturating_sub(1)).to_vec()).unwrap()
    }
    fn bytes(&mut self, compact: bool) -> Option<Bytes> {
        let n = if compact {
            self.uvarint() as i64 - 1
        } else {
            self.i32() as i64
        };
        if n < 0 {
            return None;
        }
        let s = self.b.slice(self.p..self.p + n as usize);
        self.p += n as usize;
        Some(s)
    }
    fn array_len(&mut self, compact: bool) -> usize {
        if compact {
            (self.uvarint() as usize).saturating_sub(1)
        } else {
            self.i32().max(0) as usize
        }
    }
    fn tags(&mut self) {
        for _ in 0..self.uvarint() {
            self.uvarint();
            let n = self.uvarint() as usize;
            self.skip(n);
        }
    }
}

/// (client id, partition, records) of every partition of a Produce request (v7 or v10).
fn produce_records(f: &Frame) -> Vec<(String, i32, Bytes)> {
    let mut c = Cur {
        b: f.bytes.clone(),
        p: 0,
    };
    let flexible = f.api_version >= 9;
    assert_eq!(c.i16(), 0);
    assert_eq!(c.i16(), f.api_version);
    c.i32();
    let client = c.string();
    if flexible {
        c.tags();
        c.compact_string();
    } else {
        c.string();
    }
    c.skip(2 + 4); // acks, timeout
    let mut out = Vec::new();
    for _ in 0..c.array_len(flexible) {
        if flexible {
            c.compact_string();
        } else {
            c.string();
        }
        for _ in 0..c.array_len(flexible) {
            let partition = c.i32();
            let records = c.bytes(flexible).expect("produce records are never null");
            out.push((client.clone(), partition, records));
            if flexible {
                c.tags();
            }
        }
        if flexible {
            c.tags();
        }
    }
    out
}

/// (partition, records) of every partition of a Fetch response (v4 or v16).
fn fetch_records(f: &Frame) -> Vec<(i32, Bytes)> {
    let mut c = Cur {
        b: f.bytes.clone(),
        p: 0,
    };
    let flexible = f.api_version >= 12;
    c.i32(); // correlation id
    if flexible {
        c.tags();
    }
    c.i32(); // throttle
    if f.api_version >= 7 {
        c.skip(2 + 4); // error code, session id
    }
    let mut out = Vec::new();
    for _ in 0..c.array_len(flexible) {
        if f.api_version >= 13 {
            c.skip(16);
        } else if flexible {
            c.compact_string();
        } else {
            c.string();
        }
        for _ in 0..c.array_len(flexible) {
            let partition = c.i32();
            c.skip(2 + 8 + 8 + if f.api_version >= 5 { 8 } else { 0 });
            let aborted = if flexible {
                (c.uvarint() as usize).saturating_sub(1)
            } else {
                c.i32().max(0) as usize
            };
            for _ in 0..aborted {
                c.skip(16);
                if flexible {
                    c.tags();
                }
            }
            if f.api_version >= 11 {
                c.skip(4);
            }
            if let Some(records) = c.bytes(flexible) {
                out.push((partition, records));
            }
            if flexible {
                c.tags();
            }
        }
        if flexible {
            c.tags();
        }
    }
    out
}

fn header(r: &klamm_protocol::record::Record, key: &str) -> String {
    let h = r.headers.get(key).unwrap_or_else(|| panic!("header {key}"));
    String::from_utf8(h.value.unwrap().to_vec()).unwrap()
}

/// Checks one librdkafka / kafka-python data record and returns its `seq` header.
fn check_basic_record(r: &klamm_protocol::record::Record, codec: &str, python: bool) -> u32 {
    assert_eq!(header(r, "codec"), codec);
    let seq: u32 = header(r, "seq").parse().unwrap();
    assert_eq!(
        r.key.as_deref(),
        Some(format!("key-{}", seq % 10).as_bytes())
    );
    let value = if python {
        format!("kafka-python {codec} message {seq:03}")
    } else {
        format!("{codec} message {seq:03} hello golden vectors")
    };
    assert_eq!(r.value.as_deref(), Some(value.as_bytes()));
    assert_eq!(r.headers.len(), 2);
    seq
}

/// Rebuilds a batch with [`BatchBuilder`] from its decoded contents. Uncompressed batches must
/// come out byte for byte identical; compressed ones must hold identical records sections.
fn check_reencode(batch: &RecordBatch) {
    let mut b = BatchBuilder::new(batch.compression())
        .base_offset(batch.base_offset())
        .partition_leader_epoch(batch.partition_leader_epoch())
        .producer(
            batch.producer_id(),
            batch.producer_epoch(),
            batch.base_sequence(),
        )
        .transactional(batch.is_transactional())
        .control(batch.is_control());
    for r in batch.records().unwrap() {
        let r = r.unwrap();
        let headers: Vec<_> = r.headers.iter().collect();
        let delta = b
            .append(r.timestamp, r.key.as_deref(), r.value.as_deref(), &headers)
            .unwrap();
        assert_eq!(delta, r.offset_delta);
    }
    let rebuilt = b.seal().unwrap();
    if batch.compression() == Compression::None {
        assert_eq!(
            rebuilt.as_bytes(),
            &batch.as_bytes()[..],
            "byte-identical batch"
        );
    } else {
        let ours = rebuilt.decode().unwrap();
        assert_eq!(ours.max_timestamp(), batch.max_timestamp());
        assert_eq!(ours.crc(), ours.computed_crc());
        let a: Vec<_> = ours.records().unwrap().map(Result::unwrap).collect();
        let b: Vec<_> = batch.records().unwrap().map(Result::unwrap).collect();
        assert_eq!(a, b);
    }
}

#[test]
fn librdkafka_produce_batches_decode_for_every_codec() {
    let mut seen: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    let mut batches = 0;
    for f in frames()
        .iter()
        .filter(|f| f.source == "tansu_librdkafka216_basic" && f.api_key == 0)
    {
        for (client, _partition, records) in produce_records(f) {
            let codec = client.strip_prefix("golden-producer-").unwrap().to_owned();
            let mut it = RecordBatches::new(records);
            for batch in it.by_ref() {
                let batch = batch.unwrap();
                batches += 1;
                assert_eq!(batch.compression().name(), codec);
                assert_eq!(batch.crc(), batch.computed_crc());
                assert_eq!(batch.producer_id(), -1);
                for r in batch.records().unwrap() {
                    let seq = check_basic_record(&r.unwrap(), &codec, false);
                    assert!(seen.entry(codec.clone()).or_default().insert(seq));
                }
                check_reencode(&batch);
            }
            assert_eq!(it.truncated_tail(), None);
        }
    }
    assert!(batches >= 15);
    let codecs: Vec<&str> = seen.keys().map(String::as_str).collect();
    assert_eq!(codecs, ["gzip", "lz4", "none", "snappy", "zstd"]);
    for (codec, seqs) in &seen {
        assert_eq!(seqs.len(), 200, "{codec}");
        assert_eq!(seqs.last(), Some(&199));
    }
}

#[test]
fn librdkafka_fetch_returns_all_thousand_records() {
    let mut per_codec: BTreeMap<String, usize> = BTreeMap::new();
    let mut offsets = BTreeSet::new();
    for f in frames()
        .iter()
        .filter(|f| f.source == "tansu_librdkafka216_basic" && f.api_key == 1)
    {
        for (partition, records) in fetch_records(f) {
            for batch in RecordBatches::new(records) {
                let batch = batch.unwrap();
                for r in batch.records().unwrap() {
                    let r = r.unwrap();
                    let codec = header(&r, "codec");
                    assert_eq!(batch.compression().name(), codec);
                    check_basic_record(&r, &codec, false);
                    *per_codec.entry(codec).or_default() += 1;
                    assert!(offsets.insert((partition, r.offset)));
                }
            }
        }
    }
    assert_eq!(per_codec.values().sum::<usize>(), 1000);
    assert!(per_codec.values().all(|&n| n == 200), "{per_codec:?}");
}

#[test]
fn kafka_python_batches_decode() {
    let mut produced: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    let mut fetched = 0;
    for f in frames()
        .iter()
        .filter(|f| f.source == "tansu_kafkapython_basic")
    {
        let parts: Vec<Bytes> = if f.api_key == 0 {
            produce_records(f).into_iter().map(|p| p.2).collect()
        } else {
            fetch_records(f).into_iter().map(|p| p.1).collect()
        };
        for records in parts {
            for batch in RecordBatches::new(records) {
                let batch = batch.unwrap();
                for r in batch.records().unwrap() {
                    let r = r.unwrap();
                    let codec = header(&r, "codec");
                    assert_eq!(batch.compression().name(), codec);
                    let seq = check_basic_record(&r, &codec, true);
                    if f.api_key == 0 {
                        assert!(produced.entry(codec).or_default().insert(seq));
                    } else {
                        fetched += 1;
                    }
                }
                check_reencode(&batch);
            }
        }
    }
    assert_eq!(produced["none"].len(), 100);
    assert_eq!(produced["gzip"].len(), 100);
    assert_eq!(fetched, 200);
}

#[test]
fn idempotent_batches_carry_rising_sequences() {
    let mut next_seq: BTreeMap<i32, i32> = BTreeMap::new();
    let mut total = 0;
    for f in frames()
        .iter()
        .filter(|f| f.source == "tansu_librdkafka216_idempotent" && f.api_key == 0)
    {
        for (_, partition, records) in produce_records(f) {
            for batch in RecordBatches::new(records) {
                let batch = batch.unwrap();
                assert_eq!((batch.producer_id(), batch.producer_epoch()), (1, 0));
                let expected = next_seq.entry(partition).or_insert(0);
                assert_eq!(batch.base_sequence(), *expected);
                *expected = batch.last_sequence() + 1;
                total += batch.records().unwrap().count();
            }
        }
    }
    assert_eq!(total, 500);
}

#[test]
fn transactional_batches_have_the_flag() {
    let mut n = 0;
    for f in frames()
        .iter()
        .filter(|f| f.source == "tansu_librdkafka216_txn" && f.api_key == 0)
    {
        for (_, _, records) in produce_records(f) {
            for batch in RecordBatches::new(records) {
                let batch = batch.unwrap();
                assert!(batch.is_transactional() && !batch.is_control());
                assert!(batch.producer_id() >= 0);
                n += batch.records().unwrap().count();
            }
        }
    }
    assert_eq!(n, 50);
}

#[test]
fn mock_control_batches_with_crc_zero_are_rejected_unless_verification_is_off() {
    let fetches: Vec<Frame> = frames()
        .into_iter()
        .filter(|f| f.source == "mock_librdkafka216_txn" && f.api_key == 1 && f.dir == "response")
        .collect();
    let lenient = DecodeOptions {
        verify_crc: false,
        ..DecodeOptions::default()
    };
    let (mut rejected, mut markers, mut data) = (0, Vec::new(), 0);
    for f in &fetches {
        for (partition, records) in fetch_records(f) {
            let strict: Vec<_> = RecordBatches::new(records.clone()).collect();
            let loose: Vec<_> = RecordBatches::with_options(records, lenient).collect();
            assert_eq!(strict.len(), loose.len());
            for (s, l) in strict.into_iter().zip(loose) {
                let l = l.unwrap();
                if l.is_control() {
                    assert_eq!(l.crc(), 0);
                    let expected = match l.end_txn_marker().unwrap().unwrap().kind {
                        ControlRecordType::Commit => {
                            assert_eq!(l.base_offset(), 25);
                            0x49ae_dfeb
                        }
                        ControlRecordType::Abort => {
                            assert_eq!(l.base_offset(), 31);
                            0xbd90_09a3
                        }
                        other => panic!("unexpected control type {other:?}"),
                    };
                    assert_eq!(
                        s.unwrap_err(),
                        DecodeError::CrcMismatch {
                            stored: 0,
                            computed: expected
                        }
                    );
                    assert!(l.is_transactional());
                    markers.push((partition, l.base_offset()));
                    rejected += 1;
                } else {
                    let s = s.unwrap();
                    data += s.records().unwrap().count();
                }
            }
        }
    }
    assert_eq!(rejected, 8);
    markers.sort();
    assert_eq!(
        markers,
        [
            (0, 25),
            (0, 25),
            (0, 31),
            (0, 31),
            (1, 25),
            (1, 25),
            (1, 31),
            (1, 31)
        ]
    );
    assert!(data > 0);
}

#[test]
fn our_control_batches_equal_the_mock_ones_except_for_the_crc() {
    let lenient = DecodeOptions {
        verify_crc: false,
        ..DecodeOptions::default()
    };
    let mut compared = 0;
    for f in frames()
        .iter()
        .filter(|f| f.source == "mock_librdkafka216_txn" && f.api_key == 1)
    {
        for (_, records) in fetch_records(f) {
            for theirs in RecordBatches::with_options(records, lenient) {
                let theirs = theirs.unwrap();
                if !theirs.is_control() {
                    continue;
                }
                let marker = theirs.end_txn_marker().unwrap().unwrap();
                let mut ours = klamm_protocol::record::control::end_txn_batch(
                    marker,
                    theirs.producer_id(),
                    theirs.producer_epoch(),
                    theirs.base_timestamp(),
                )
                .unwrap();
                ours.set_base_offset(theirs.base_offset());
                ours.set_partition_leader_epoch(theirs.partition_leader_epoch());
                // Kafka writes no sequence (-1) in markers, as `end_txn_batch` does; the mock
                // writes 0.
                assert_eq!(ours.base_sequence(), -1);
                assert_eq!(theirs.base_sequence(), 0);
                ours.set_base_sequence(theirs.base_sequence());
                let (a, b) = (ours.as_bytes(), &theirs.as_bytes()[..]);
                assert_eq!(a.len(), b.len());
                assert_eq!(a[..17], b[..17]);
                assert_eq!(a[21..], b[21..]);
                // The CRC the captures README computed for these contents.
                let crc = if marker.is_commit() {
                    0x49ae_dfeb
                } else {
                    0xbd90_09a3
                };
                assert_eq!(ours.crc(), crc);
                RecordBatch::decode(ours.to_bytes()).unwrap();
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 8);
}
