//! Golden tests from real traffic: every frame that librdkafka 2.16 and kafka-python exchanged
//! with tansu and the librdkafka mock (see `tests/data/captures/README.md`) decodes, and
//! re-encodes to the same bytes.

use bytes::{Bytes, BytesMut};
use klamm_protocol::header::{RequestHeader, ResponseHeader};
use klamm_protocol::messages::{RequestBody, ResponseBody};
use klamm_protocol::{ApiKey, DecodeError, Message};

struct Frame {
    file: &'static str,
    conn: u64,
    request: bool,
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    bytes: Bytes,
}

const FILES: &[(&str, &str)] = &[
    (
        "tansu_librdkafka216_basic",
        include_str!("data/captures/tansu_librdkafka216_basic.jsonl"),
    ),
    (
        "tansu_librdkafka216_idempotent",
        include_str!("data/captures/tansu_librdkafka216_idempotent.jsonl"),
    ),
    (
        "tansu_librdkafka216_txn",
        include_str!("data/captures/tansu_librdkafka216_txn.jsonl"),
    ),
    (
        "mock_librdkafka216_txn",
        include_str!("data/captures/mock_librdkafka216_txn.jsonl"),
    ),
    (
        "tansu_kafkapython_basic",
        include_str!("data/captures/tansu_kafkapython_basic.jsonl"),
    ),
];

fn frames() -> Vec<Frame> {
    let mut out = Vec::new();
    for (file, text) in FILES {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON line");
            out.push(Frame {
                file,
                conn: v["conn"].as_u64().unwrap(),
                request: v["dir"] == "request",
                api_key: v["api_key"].as_i64().unwrap() as i16,
                api_version: v["api_version"].as_i64().unwrap() as i16,
                correlation_id: v["correlation_id"].as_i64().unwrap() as i32,
                bytes: Bytes::from(hex::decode(v["frame_hex"].as_str().unwrap()).unwrap()),
            });
        }
    }
    out
}

fn lenient_request(api: ApiKey, version: i16, body: &Bytes) -> (RequestBody, Bytes) {
    assert_eq!(api, ApiKey::Metadata, "only Metadata frames are padded");
    let (m, rest) =
        klamm_protocol::messages::MetadataRequest::decode_lenient(body, version).unwrap();
    (m.into(), rest)
}

fn lenient_response(api: ApiKey, version: i16, body: &Bytes) -> (ResponseBody, Bytes) {
    assert_eq!(api, ApiKey::Metadata, "only Metadata frames are padded");
    let (m, rest) =
        klamm_protocol::messages::MetadataResponse::decode_lenient(body, version).unwrap();
    (m.into(), rest)
}

/// The librdkafka mock answers ApiVersions v3 with a body that is not valid v3 (captures
/// README, anomaly 3): a client reads only the error code.
fn is_mock_apiversions_v3_error(f: &Frame) -> bool {
    f.file.starts_with("mock_") && !f.request && f.api_key == 18 && f.api_version == 3
}

#[test]
fn every_covered_frame_decodes_and_reencodes_byte_identically() {
    let mut checked = std::collections::BTreeMap::<(String, i16, i16), usize>::new();
    let mut skipped = 0;
    let mut failures = Vec::new();
    let mut padded = Vec::new();
    for f in frames() {
        let Some(api) = ApiKey::from_i16(f.api_key) else {
            // Consumer-group and telemetry APIs are outside the codec's scope.
            skipped += 1;
            continue;
        };
        if is_mock_apiversions_v3_error(&f) {
            continue;
        }
        let what = format!(
            "{} conn {} {} {} v{} corr {}",
            f.file,
            f.conn,
            if f.request { "request" } else { "response" },
            api,
            f.api_version,
            f.correlation_id
        );
        let mut re = BytesMut::new();
        if f.request {
            let (h, body) = RequestHeader::split_frame(&f.bytes)
                .unwrap_or_else(|e| panic!("{what}: header: {e}"));
            assert_eq!(h.correlation_id, f.correlation_id, "{what}");
            let (msg, trailing) = match RequestBody::decode(api, f.api_version, &body) {
                Ok(m) => (m, Bytes::new()),
                Err(DecodeError::TrailingBytes(n)) => {
                    padded.push((f.file, api, f.request, f.api_version, n));
                    lenient_request(api, f.api_version, &body)
                }
                Err(e) => {
                    failures.push(format!("{what}: {e}"));
                    continue;
                }
            };
            assert_eq!(msg.api_key(), api);
            h.encode(&mut re, api.request_header_version(f.api_version))
                .unwrap();
            msg.encode(&mut re, f.api_version).unwrap();
            re.extend_from_slice(&trailing);
        } else {
            let hv = api.response_header_version(f.api_version);
            let (h, body) = ResponseHeader::split_frame(&f.bytes, hv)
                .unwrap_or_else(|e| panic!("{what}: header: {e}"));
            assert_eq!(h.correlation_id, f.correlation_id, "{what}");
            let (msg, trailing) = match ResponseBody::decode(api, f.api_version, &body) {
                Ok(m) => (m, Bytes::new()),
                Err(DecodeError::TrailingBytes(n)) => {
                    padded.push((f.file, api, f.request, f.api_version, n));
                    lenient_response(api, f.api_version, &body)
                }
                Err(e) => {
                    failures.push(format!("{what}: {e}"));
                    continue;
                }
            };
            h.encode(&mut re, hv).unwrap();
            msg.encode(&mut re, f.api_version).unwrap();
            re.extend_from_slice(&trailing);
        }
        if re[..] != f.bytes[..] {
            failures.push(format!(
                "{what}: re-encoding differs\n  original {}\n  re-encoded {}",
                hex::encode(&f.bytes),
                hex::encode(&re)
            ));
            continue;
        }
        *checked
            .entry((f.file.to_string(), api.as_i16(), f.api_version))
            .or_default() += 1;
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Two peer defects this test found beyond the ones the captures README names: librdkafka
    // 2.16 writes 3 stray bytes after the null topic array of its all-topics Metadata v12
    // request (to tansu), and the librdkafka mock pads every Metadata v13 response with one
    // byte. Kafka's parsers ignore trailing bytes, so `decode_lenient` reads them the same way
    // and hands the extra bytes back; strict `decode` reports them as a typed error.
    let padded_requests: Vec<_> = padded.iter().filter(|p| p.2).collect();
    let padded_responses: Vec<_> = padded.iter().filter(|p| !p.2).collect();
    assert_eq!(padded_requests.len(), 1, "{padded:?}");
    assert!(
        padded_requests
            .iter()
            .all(|p| p.0 == "tansu_librdkafka216_basic"
                && p.1 == ApiKey::Metadata
                && p.3 == 12
                && p.4 == 3)
    );
    assert_eq!(padded_responses.len(), 11, "{padded:?}");
    assert!(
        padded_responses
            .iter()
            .all(|p| p.0 == "mock_librdkafka216_txn"
                && p.1 == ApiKey::Metadata
                && p.3 == 13
                && p.4 == 1)
    );
    let total: usize = checked.values().sum();
    // 416 frames in all; the consumer-group and telemetry frames are skipped.
    assert!(total > 300, "only {total} frames checked");
    assert!(skipped > 0 && skipped < 60, "{skipped} skipped");
    for api in [0, 1, 2, 3, 9, 10, 18, 19, 22, 24, 25, 26, 28] {
        assert!(
            checked.keys().any(|(_, k, _)| *k == api),
            "no frame of API {api} was checked"
        );
    }
}

#[test]
fn mock_apiversions_v3_error_answer_yields_its_error_code_and_a_typed_error() {
    let mut seen = 0;
    for f in frames().iter().filter(|f| is_mock_apiversions_v3_error(f)) {
        let (_, body) = ResponseHeader::split_frame(&f.bytes, 0).unwrap();
        // A client reads only the error code: UNSUPPORTED_VERSION (35).
        assert_eq!(&body[..2], &35i16.to_be_bytes());
        let err = ResponseBody::decode(ApiKey::ApiVersions, 3, &body).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::TrailingBytes(_)
                    | DecodeError::InvalidLength { .. }
                    | DecodeError::Truncated { .. }
            ),
            "{err:?}"
        );
        seen += 1;
    }
    assert_eq!(seen, 14);
}
