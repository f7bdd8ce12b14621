//! Requests a different client wrote: kafka-python 2.0.2's real frames (captured against
//! tansu) replayed against the testkit. Its old versions (ApiVersions v0, Metadata v0/v1,
//! Produce v7, FindCoordinator v0, ListOffsets v1, Fetch v4) must all be answered, and the
//! records it produced must come back from its Fetch byte for byte (base offsets aside).

mod common;

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use klamm_protocol::frame::FrameDecoder;
use klamm_protocol::header::ResponseHeader;
use klamm_protocol::messages::*;
use klamm_protocol::{ApiKey, Message};
use klamm_testkit::Cluster;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Frame {
    conn: u64,
    request: bool,
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    bytes: Vec<u8>,
}

fn frames() -> Vec<Frame> {
    include_str!("data/tansu_kafkapython_basic.jsonl")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Frame {
                conn: v["conn"].as_u64().unwrap(),
                request: v["dir"] == "request",
                api_key: v["api_key"].as_i64().unwrap() as i16,
                api_version: v["api_version"].as_i64().unwrap() as i16,
                correlation_id: v["correlation_id"].as_i64().unwrap() as i32,
                bytes: hex::decode(v["frame_hex"].as_str().unwrap()).unwrap(),
            }
        })
        .collect()
}

async fn read_frame(s: &mut TcpStream, buf: &mut BytesMut) -> Option<Bytes> {
    loop {
        if let Some(f) = FrameDecoder::new(1 << 24).decode(buf).unwrap() {
            return Some(f);
        }
        if s.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
}

#[tokio::test]
async fn kafka_python_requests_are_answered() {
    let cluster = Cluster::builder()
        .topic("golden-kp", 3)
        .start()
        .await
        .unwrap();
    let addr = cluster.brokers()[0].1;
    let mut by_conn: BTreeMap<u64, Vec<Frame>> = BTreeMap::new();
    for f in frames().into_iter().filter(|f| f.request) {
        by_conn.entry(f.conn).or_default().push(f);
    }
    let mut produced = Vec::new();
    let mut fetched = None;
    for (conn, reqs) in by_conn {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut buf = BytesMut::new();
        for r in &reqs {
            let mut out = (r.bytes.len() as i32).to_be_bytes().to_vec();
            out.extend_from_slice(&r.bytes);
            s.write_all(&out).await.unwrap();
        }
        for r in &reqs {
            let api = ApiKey::from_i16(r.api_key);
            if api == Some(ApiKey::Produce) {
                let (_, body) = klamm_protocol::header::RequestHeader::split_frame(&Bytes::from(
                    r.bytes.clone(),
                ))
                .unwrap();
                let req = ProduceRequest::decode(&body, r.api_version).unwrap();
                produced.extend(
                    req.topic_data
                        .into_iter()
                        .flat_map(|t| t.partition_data)
                        .filter_map(|p| p.records.map(|rec| (p.index, rec))),
                );
            }
            let Some(frame) = read_frame(&mut s, &mut buf).await else {
                // JoinGroup (11) is a consumer-group API the testkit does not serve
                assert_eq!(
                    r.api_key, 11,
                    "conn {conn}: api {} v{} got no answer",
                    r.api_key, r.api_version
                );
                break;
            };
            let hv = api.unwrap().response_header_version(r.api_version);
            let (h, body) = ResponseHeader::split_frame(&frame, hv).unwrap();
            assert_eq!(h.correlation_id, r.correlation_id);
            let v = r.api_version;
            match api.unwrap() {
                ApiKey::ApiVersions => {
                    assert_eq!(ApiVersionsResponse::decode(&body, v).unwrap().error_code, 0)
                }
                ApiKey::Metadata => {
                    let m = MetadataResponse::decode(&body, v).unwrap();
                    assert!(m.topics.iter().all(|t| t.error_code == 0), "{m:?}");
                }
                ApiKey::Produce => {
                    let p = ProduceResponse::decode(&body, v).unwrap();
                    assert!(
                        p.responses
                            .iter()
                            .flat_map(|t| &t.partition_responses)
                            .all(|p| p.error_code == 0),
                        "{p:?}"
                    );
                }
                ApiKey::FindCoordinator => assert_eq!(
                    FindCoordinatorResponse::decode(&body, v).unwrap().node_id,
                    0
                ),
                ApiKey::ListOffsets => {
                    let l = ListOffsetsResponse::decode(&body, v).unwrap();
                    assert!(
                        l.topics
                            .iter()
                            .flat_map(|t| &t.partitions)
                            .all(|p| p.error_code == 0),
                        "{l:?}"
                    );
                }
                ApiKey::Fetch => fetched = Some(FetchResponse::decode(&body, v).unwrap()),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(
        produced.len(),
        6,
        "two produce requests of three partitions"
    );
    let fetched = fetched.expect("the consumer fetched");
    let mut got = 0;
    for p in fetched.responses.iter().flat_map(|t| &t.partitions) {
        assert_eq!(p.error_code, 0);
        let records = p.records.clone().unwrap_or_default();
        // every batch kafka-python produced to this partition, in order, after base offsets
        let mut at = 0;
        for (_, sent) in produced.iter().filter(|(i, _)| *i == p.partition_index) {
            if at >= records.len() {
                break;
            }
            let stored = &records[at..at + sent.len()];
            assert_eq!(
                &stored[16..],
                &sent[16..],
                "partition {} batch at {at}",
                p.partition_index
            );
            at += sent.len();
            got += 1;
        }
    }
    assert!(got >= 1, "the fetch returned kafka-python's batches");
}
