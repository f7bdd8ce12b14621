//! Bad input never panics: random bytes, truncations and bit flips of real frames give a
//! typed `DecodeError` (or, by chance, a valid message), and absurd counts fail at once.

use bytes::{BufMut, Bytes, BytesMut};
use klamm_protocol::frame::FrameDecoder;
use klamm_protocol::header::{RequestHeader, ResponseHeader};
use klamm_protocol::messages::{ProduceRequest, RequestBody, ResponseBody};
use klamm_protocol::{DecodeError, Message, SUPPORTED_APIS};
use proptest::prelude::*;

const CAPTURES: &[&str] = &[
    include_str!("data/captures/tansu_librdkafka216_basic.jsonl"),
    include_str!("data/captures/tansu_librdkafka216_idempotent.jsonl"),
    include_str!("data/captures/tansu_librdkafka216_txn.jsonl"),
    include_str!("data/captures/mock_librdkafka216_txn.jsonl"),
    include_str!("data/captures/tansu_kafkapython_basic.jsonl"),
];

/// (is request, api key, version, frame) for every captured frame.
fn frames() -> &'static [(bool, i16, i16, Bytes)] {
    static FRAMES: std::sync::OnceLock<Vec<(bool, i16, i16, Bytes)>> = std::sync::OnceLock::new();
    FRAMES.get_or_init(parse_frames)
}

fn parse_frames() -> Vec<(bool, i16, i16, Bytes)> {
    CAPTURES
        .iter()
        .flat_map(|t| t.lines())
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["dir"] == "request",
                v["api_key"].as_i64().unwrap() as i16,
                v["api_version"].as_i64().unwrap() as i16,
                Bytes::from(hex::decode(v["frame_hex"].as_str().unwrap()).unwrap()),
            )
        })
        .collect()
}

/// Decodes a whole frame as a peer would; returns whether it was accepted.
fn decode_frame(request: bool, key: i16, version: i16, frame: &Bytes) -> bool {
    let Some(api) = klamm_protocol::ApiKey::from_i16(key) else {
        return false;
    };
    if request {
        match RequestHeader::split_frame(frame) {
            Ok((_, body)) => RequestBody::decode(api, version, &body).is_ok(),
            Err(_) => false,
        }
    } else {
        match ResponseHeader::split_frame(frame, api.response_header_version(version)) {
            Ok((_, body)) => ResponseBody::decode(api, version, &body).is_ok(),
            Err(_) => false,
        }
    }
}

#[test]
fn every_truncation_of_every_captured_frame_is_a_typed_error() {
    let mut rejected = 0usize;
    for (request, key, version, frame) in frames() {
        if klamm_protocol::ApiKey::from_i16(*key).is_none() {
            continue;
        }
        // Every cut of small frames; for the few large Fetch/Produce frames, every cut near
        // both ends and a stride in between (decoding is linear, so all cuts is quadratic).
        let n = frame.len();
        let cuts = (0..n).filter(|c| n <= 2048 || *c < 256 || *c + 256 > n || c % 61 == 0);
        for cut in cuts {
            let short = frame.slice(..cut);
            if !decode_frame(*request, *key, *version, &short) {
                rejected += 1;
            }
        }
    }
    // Nearly every truncation must be rejected (a few cut exactly at an optional tail).
    assert!(rejected > 40_000, "{rejected}");
}

#[test]
fn a_count_of_two_billion_fails_at_once() {
    // Produce v3: transactional id (null), acks, timeout, then a topic count of i32::MAX.
    let mut b = BytesMut::new();
    b.put_i16(-1);
    b.put_i16(-1);
    b.put_i32(30_000);
    b.put_i32(i32::MAX);
    b.put_slice(&[0; 16]);
    let err = ProduceRequest::decode(&b.freeze(), 3).unwrap_err();
    assert!(
        matches!(err, DecodeError::InvalidLength { len, .. } if len == i32::MAX as i64),
        "{err:?}"
    );
}

#[test]
fn oversized_frame_prefix_is_refused() {
    let mut b = BytesMut::from(&[0x40, 0, 0, 0, 1, 2, 3][..]);
    assert!(matches!(
        FrameDecoder::new(1 << 20).decode(&mut b),
        Err(DecodeError::FrameTooLarge { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bodies_never_panic(api in 0..SUPPORTED_APIS.len(), v in 0i16..20, body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let info = SUPPORTED_APIS[api];
        let body = Bytes::from(body);
        let _ = RequestBody::decode(info.key, v, &body);
        let _ = ResponseBody::decode(info.key, v, &body);
    }

    #[test]
    fn bit_flips_in_real_frames_never_panic(idx in any::<prop::sample::Index>(), flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4)) {
        let all = frames();
        let (request, key, version, frame) = &all[idx.index(all.len())];
        let mut bytes = frame.to_vec();
        for (pos, bit) in flips {
            let i = pos.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        let _ = decode_frame(*request, *key, *version, &Bytes::from(bytes));
    }
}
