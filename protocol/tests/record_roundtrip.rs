//! Property tests for RecordBatch v2: round trips with random records, headers and
//! compression; CRC tamper detection; cheap header rewrites; bad input never panics.

use bytes::{Bytes, BytesMut};
use klamm_protocol::DecodeError;
use klamm_protocol::record::{
    BatchBuilder, Compression, DecodeOptions, RecordBatch, RecordBatches, SealedBatch,
    legacy::MessageSet,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Rec {
    ts: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fn bytes_opt(max: usize) -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..max))
}

fn rec() -> impl Strategy<Value = Rec> {
    (
        prop_oneof![
            1_600_000_000_000i64..1_800_000_000_000,
            any::<i64>(),
            Just(-1i64)
        ],
        bytes_opt(40),
        prop_oneof![bytes_opt(300), bytes_opt(3000)],
        proptest::collection::vec(("[a-z\u{e9}]{0,8}", bytes_opt(20)), 0..4),
    )
        .prop_map(|(ts, key, value, headers)| Rec {
            ts,
            key,
            value,
            headers,
        })
}

fn compression() -> impl Strategy<Value = Compression> {
    proptest::sample::select(
        Compression::ALL
            .into_iter()
            .filter(|c| c.is_enabled())
            .collect::<Vec<_>>(),
    )
}

#[derive(Debug, Clone)]
struct Params {
    compression: Compression,
    base_offset: i64,
    producer: (i64, i16, i32),
    transactional: bool,
    leader_epoch: i32,
}

fn params() -> impl Strategy<Value = Params> {
    (
        compression(),
        0i64..1 << 40,
        (-1i64..1 << 40, -1i16..100, -1i32..i32::MAX),
        any::<bool>(),
        -1i32..1000,
    )
        .prop_map(
            |(compression, base_offset, producer, transactional, leader_epoch)| Params {
                compression,
                base_offset,
                producer,
                transactional,
                leader_epoch,
            },
        )
}

fn build(p: &Params, recs: &[Rec]) -> SealedBatch {
    let mut b = BatchBuilder::with_capacity(p.compression, 256)
        .base_offset(p.base_offset)
        .producer(p.producer.0, p.producer.1, p.producer.2)
        .transactional(p.transactional)
        .partition_leader_epoch(p.leader_epoch);
    for (i, r) in recs.iter().enumerate() {
        let expected_size = b.size_with(r.ts, r.key.as_deref(), r.value.as_deref(), &r.headers);
        let delta = b
            .append(r.ts, r.key.as_deref(), r.value.as_deref(), &r.headers)
            .unwrap();
        assert_eq!(delta, i as i32);
        assert_eq!(b.size(), expected_size);
    }
    let uncompressed = b.size();
    let sealed = b.seal().unwrap();
    if p.compression == Compression::None {
        assert_eq!(sealed.size(), uncompressed);
    }
    sealed
}

fn check(p: &Params, recs: &[Rec], batch: &RecordBatch) {
    assert_eq!(batch.base_offset(), p.base_offset);
    assert_eq!(batch.compression(), p.compression);
    assert_eq!(
        (
            batch.producer_id(),
            batch.producer_epoch(),
            batch.base_sequence()
        ),
        p.producer
    );
    assert_eq!(batch.is_transactional(), p.transactional);
    assert!(!batch.is_control());
    assert_eq!(batch.partition_leader_epoch(), p.leader_epoch);
    assert_eq!(batch.record_count() as usize, recs.len());
    assert_eq!(batch.last_offset_delta() as usize, recs.len() - 1);
    assert_eq!(batch.base_timestamp(), recs[0].ts);
    assert_eq!(
        batch.max_timestamp(),
        recs.iter().map(|r| r.ts).max().unwrap()
    );
    let decoded: Vec<_> = batch.records().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(decoded.len(), recs.len());
    for (i, (d, r)) in decoded.iter().zip(recs).enumerate() {
        assert_eq!(d.offset, p.base_offset + i as i64);
        assert_eq!(d.timestamp, r.ts);
        assert_eq!(d.key.as_deref(), r.key.as_deref());
        assert_eq!(d.value.as_deref(), r.value.as_deref());
        let headers: Vec<(String, Option<Vec<u8>>)> = d
            .headers
            .iter()
            .map(|h| (h.key_str().unwrap().to_owned(), h.value.map(|v| v.to_vec())))
            .collect();
        assert_eq!(headers, r.headers);
    }
    // The borrowed walk sees the same records.
    let mut records = batch.records().unwrap();
    let mut i = 0;
    while let Some(r) = records.next_ref() {
        let r = r.unwrap();
        assert_eq!(r.to_record(), decoded[i]);
        assert_eq!(r.value(), recs[i].value.as_deref());
        let hs: Vec<(Vec<u8>, Option<Vec<u8>>)> = r
            .header_refs()
            .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
            .collect();
        let expected: Vec<(Vec<u8>, Option<Vec<u8>>)> = recs[i]
            .headers
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.clone()))
            .collect();
        assert_eq!(hs, expected);
        i += 1;
    }
    assert_eq!(i, recs.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn batches_round_trip(p in params(), recs in proptest::collection::vec(rec(), 1..40)) {
        let sealed = build(&p, &recs);
        let batch = RecordBatch::decode(sealed.to_bytes()).unwrap();
        check(&p, &recs, &batch);
        prop_assert_eq!(sealed.record_count(), batch.record_count());
        prop_assert_eq!(sealed.last_sequence(), batch.last_sequence());
    }

    #[test]
    fn try_append_fills_a_batch_up_to_its_size(
        p in params(),
        recs in proptest::collection::vec(rec(), 1..40),
        limit in 61usize..20_000,
    ) {
        let mut b = BatchBuilder::new(p.compression)
            .base_offset(p.base_offset)
            .producer(p.producer.0, p.producer.1, p.producer.2)
            .transactional(p.transactional)
            .partition_leader_epoch(p.leader_epoch);
        let mut taken = 0;
        for r in &recs {
            let before = b.size();
            match b.try_append(limit, r.ts, r.key.as_deref(), r.value.as_deref(), &r.headers).unwrap() {
                Some(delta) => {
                    prop_assert_eq!(delta as usize, taken);
                    taken += 1;
                }
                None => {
                    prop_assert_eq!(b.size(), before);
                    prop_assert!(before + b.record_size(r.ts, r.key.as_deref(), r.value.as_deref(), &r.headers) > limit);
                    break;
                }
            }
        }
        prop_assert!(taken >= 1);
        prop_assert!(taken == 1 || b.size() <= limit);
        let batch = RecordBatch::decode(b.seal().unwrap().into_bytes()).unwrap();
        check(&p, &recs[..taken], &batch);
    }

    #[test]
    fn many_batches_in_one_field(
        p in params(),
        groups in proptest::collection::vec(proptest::collection::vec(rec(), 1..5), 1..5),
        cut in 1usize..60,
    ) {
        let mut field = BytesMut::new();
        for g in &groups {
            field.extend_from_slice(build(&p, g).as_bytes());
        }
        let full = field.len();
        let mut it = RecordBatches::new(field.clone().freeze());
        for (g, b) in groups.iter().zip(it.by_ref()) {
            check(&p, g, &b.unwrap());
        }
        prop_assert_eq!(it.next().map(|r| r.is_ok()), None);
        prop_assert_eq!(it.truncated_tail(), None);
        // Cut the last batch short: the walk ends cleanly one batch early.
        let cut = cut.min(full - 1);
        let mut it = RecordBatches::new(field.freeze().slice(..full - cut));
        prop_assert_eq!(it.by_ref().filter(|b| b.is_ok()).count(), groups.len() - 1);
        prop_assert!(it.truncated_tail().unwrap() > 0);
    }

    #[test]
    fn producer_fields_set_after_sealing_keep_the_crc_valid(
        p in params(),
        recs in proptest::collection::vec(rec(), 1..10),
        later in (0i64..1 << 40, 0i16..100, 0i32..i32::MAX, any::<bool>(), 0i64..1 << 50, 0i32..99),
    ) {
        let mut sealed = build(&p, &recs);
        let in_flight = sealed.clone();
        sealed.set_producer(later.0, later.1, later.2);
        sealed.set_transactional(later.3);
        sealed.set_base_offset(later.4);
        sealed.set_partition_leader_epoch(later.5);
        // A clone taken before is unchanged (copy on write).
        prop_assert_eq!(&in_flight, &build(&p, &recs));
        let batch = RecordBatch::decode(sealed.to_bytes()).unwrap();
        prop_assert_eq!(batch.crc(), crc32c::crc32c(&sealed.as_bytes()[21..]));
        let p2 = Params {
            producer: (later.0, later.1, later.2),
            transactional: later.3,
            base_offset: later.4,
            leader_epoch: later.5,
            ..p
        };
        check(&p2, &recs, &batch);
        // And a received batch can be taken back in.
        let again = SealedBatch::from_bytes(sealed.to_bytes(), true).unwrap();
        prop_assert_eq!(again, sealed);
    }

    #[test]
    fn any_flipped_byte_under_the_crc_is_detected(
        p in params(),
        recs in proptest::collection::vec(rec(), 1..10),
        at in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let sealed = build(&p, &recs);
        let mut bytes = sealed.as_bytes().to_vec();
        let at = 17 + at.index(bytes.len() - 17); // the CRC field and everything it covers
        bytes[at] ^= xor;
        match RecordBatch::decode(Bytes::from(bytes.clone())) {
            Err(DecodeError::CrcMismatch { .. }) => {}
            // A flipped attribute byte may make the codec id invalid, caught first.
            Err(DecodeError::UnsupportedCompression(_)) if at == 22 => {}
            Err(DecodeError::InvalidLength { what: "record count", .. }) if (57..61).contains(&at) => {}
            other => prop_assert!(false, "flip at {} gave {:?}", at, other),
        }
        prop_assert!(SealedBatch::from_bytes(Bytes::from(bytes), true).is_err());
    }

    #[test]
    fn damaged_batches_never_panic(
        p in params(),
        recs in proptest::collection::vec(rec(), 1..10),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = build(&p, &recs).as_bytes().to_vec();
        for (at, v) in edits {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        let lenient = DecodeOptions { verify_crc: false, max_decompressed_size: 1 << 20 };
        let full = Bytes::from(bytes);
        for input in [full.clone(), full.slice(..cut.index(full.len()))] {
            walk(input.clone(), lenient);
        }
    }

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let lenient = DecodeOptions { verify_crc: false, max_decompressed_size: 1 << 20 };
        walk(Bytes::from(data.clone()), lenient);
        // No limit at all must not overflow anything either.
        walk(Bytes::from(data.clone()), DecodeOptions { verify_crc: false, max_decompressed_size: usize::MAX });
        // With a plausible header in front, so the record walk is reached.
        let mut framed = BatchBuilder::new(Compression::None);
        framed.append(0, None, Some(&data), &[] as &[(String, Option<Vec<u8>>)]).unwrap();
        let mut bytes = framed.seal().unwrap().as_bytes().to_vec();
        bytes.truncate(61);
        bytes.extend_from_slice(&data);
        let len = (bytes.len() - 12) as i32;
        bytes[8..12].copy_from_slice(&len.to_be_bytes());
        for codec in 0..5u8 {
            bytes[22] = codec;
            for count in [0i32, 1, 3, 1000, i32::MAX] {
                bytes[57..61].copy_from_slice(&count.to_be_bytes());
                walk(Bytes::from(bytes.clone()), lenient);
            }
        }
    }
}

/// Decodes everything there is to decode in `input`, in every way, ignoring errors.
fn walk(input: Bytes, opts: DecodeOptions) {
    for b in RecordBatches::with_options(input.clone(), opts).flatten() {
        let _ = b.end_txn_marker();
        if let Ok(records) = b.records() {
            for r in records.flatten() {
                let _ = r.headers.iter().count();
            }
        }
    }
    if let Ok(records) = RecordBatch::decode_with(input.clone(), &opts).and_then(|b| b.records()) {
        records.for_each(drop);
    }
    let _ = SealedBatch::from_bytes(input.clone(), false);
    MessageSet::new(input, opts).for_each(drop);
}

#[test]
fn a_huge_record_count_fails_at_once() {
    let mut b = BatchBuilder::new(Compression::None);
    b.append(0, None, Some(b"x"), &[] as &[(String, Option<Vec<u8>>)])
        .unwrap();
    let mut bytes = b.seal().unwrap().as_bytes().to_vec();
    for count in [i32::MAX, i32::MIN, -1] {
        bytes[57..61].copy_from_slice(&count.to_be_bytes());
        let lenient = DecodeOptions {
            verify_crc: false,
            ..DecodeOptions::default()
        };
        assert!(matches!(
            RecordBatch::decode_with(Bytes::from(bytes.clone()), &lenient),
            Err(DecodeError::InvalidLength {
                what: "record count",
                ..
            })
        ));
    }
}

#[test]
fn decompression_is_bounded() {
    for c in Compression::ALL
        .into_iter()
        .filter(|c| c.is_enabled() && *c != Compression::None)
    {
        let mut b = BatchBuilder::new(c);
        let zeros = vec![0u8; 1 << 20];
        b.append(0, None, Some(&zeros), &[] as &[(String, Option<Vec<u8>>)])
            .unwrap();
        let sealed = b.seal().unwrap();
        assert!(sealed.size() < 64 * 1024, "{c} compresses zeros");
        let tight = DecodeOptions {
            max_decompressed_size: 1 << 19,
            ..DecodeOptions::default()
        };
        let batch = RecordBatch::decode_with(sealed.to_bytes(), &tight).unwrap();
        let err = batch.records().unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Invalid {
                    what: "decompressed record batch",
                    ..
                }
            ),
            "{c}: {err}"
        );
        let roomy = RecordBatch::decode(sealed.to_bytes()).unwrap();
        let r = roomy.records().unwrap().next().unwrap().unwrap();
        assert_eq!(r.value.unwrap().len(), 1 << 20);
    }
}

#[test]
fn an_empty_batch_cannot_be_sealed() {
    assert!(BatchBuilder::new(Compression::None).seal().is_err());
}

#[test]
fn trailing_bytes_after_the_records_are_reported() {
    let mut b = BatchBuilder::new(Compression::None);
    b.append(0, None, Some(b"x"), &[] as &[(String, Option<Vec<u8>>)])
        .unwrap();
    let mut bytes = b.seal().unwrap().as_bytes().to_vec();
    bytes.extend_from_slice(&[0, 0]);
    let len = (bytes.len() - 12) as i32;
    bytes[8..12].copy_from_slice(&len.to_be_bytes());
    let lenient = DecodeOptions {
        verify_crc: false,
        ..DecodeOptions::default()
    };
    let batch = RecordBatch::decode_with(Bytes::from(bytes), &lenient).unwrap();
    let out: Vec<_> = batch.records().unwrap().collect();
    assert!(out[0].is_ok());
    assert_eq!(out[1], Err(DecodeError::TrailingBytes(2)));
    assert_eq!(out.len(), 2);
    // The borrowed walk ends the same way: the error once, then nothing.
    let mut records = batch.records().unwrap();
    assert!(records.next_ref().unwrap().is_ok());
    assert_eq!(
        records.next_ref().unwrap().err(),
        Some(DecodeError::TrailingBytes(2))
    );
    assert!(records.next_ref().is_none());
    assert!(records.next().is_none());
}
