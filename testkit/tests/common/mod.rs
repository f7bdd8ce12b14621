//! A minimal raw Kafka client for the testkit's own tests: frames and messages from
//! klamm-protocol over a plain TCP stream.
#![allow(dead_code)]

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use klamm_protocol::frame::{FrameDecoder, encode_request_frame};
use klamm_protocol::header::{RequestHeader, ResponseHeader};
use klamm_protocol::messages::fetch::request::{FetchPartition, FetchTopic};
use klamm_protocol::messages::{
    EndTxnRequest, FetchRequest, InitProducerIdRequest, MetadataRequest, MetadataResponse,
    ProduceResponse,
};
use klamm_protocol::record::{RecordBatch, RecordBatches};
use klamm_protocol::{Message, Request};
use klamm_testkit::Cluster;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A raw connection.
pub struct Client {
    stream: TcpStream,
    correlation: i32,
    buf: BytesMut,
    pub client_id: Option<String>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        Client {
            stream: TcpStream::connect(addr).await.expect("connect"),
            correlation: 0,
            buf: BytesMut::new(),
            client_id: Some("testkit-test".into()),
        }
    }

    /// Sends a request without waiting for its response; returns the correlation id.
    pub async fn send_only<R: Request>(&mut self, req: &R, version: i16) -> i32 {
        self.correlation += 1;
        let header = RequestHeader::new(
            R::API_KEY,
            version,
            self.correlation,
            self.client_id.clone(),
        );
        let mut buf = BytesMut::new();
        encode_request_frame(&mut buf, &header, req, version).expect("encode");
        self.stream.write_all(&buf).await.expect("write");
        self.correlation
    }

    /// Reads one response frame, `None` when the broker closed the connection.
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let dec = FrameDecoder::new(1 << 30);
        loop {
            if let Some(f) = dec.decode(&mut self.buf).expect("frame") {
                return Some(f);
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Reads a response of `R` at `version`, checking the correlation id.
    pub async fn recv<R: Request>(
        &mut self,
        correlation: i32,
        version: i16,
    ) -> Option<R::Response> {
        let frame = self.read_frame().await?;
        let hv = R::API_KEY.response_header_version(version);
        let (h, body) = ResponseHeader::split_frame(&frame, hv).expect("response header");
        assert_eq!(h.correlation_id, correlation, "responses come in order");
        Some(R::Response::decode(&body, version).expect("response body"))
    }

    /// Sends a request and waits for its response; `None` if the connection closed.
    pub async fn try_call<R: Request>(&mut self, req: &R, version: i16) -> Option<R::Response> {
        let c = self.send_only(req, version).await;
        self.recv::<R>(c, version).await
    }

    /// Sends a request and waits for its response.
    pub async fn call<R: Request>(&mut self, req: &R, version: i16) -> R::Response {
        self.try_call(req, version)
            .await
            .expect("connection closed")
    }

    /// Metadata v12 of every topic.
    pub async fn metadata(&mut self) -> MetadataResponse {
        self.call(&metadata_all(), 12).await
    }

    /// Writes raw bytes.
    pub async fn write_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// Whether the broker closed the connection (reads until EOF or a frame).
    pub async fn is_closed(&mut self) -> bool {
        tokio::time::timeout(std::time::Duration::from_secs(5), self.read_frame())
            .await
            .expect("broker neither answered nor closed")
            .is_none()
    }
}

/// A Metadata request for every topic.
pub fn metadata_all() -> MetadataRequest {
    MetadataRequest {
        topics: None,
        ..Default::default()
    }
}

/// A batch of `values` (keys "k<i>"), optionally idempotent / transactional.
pub fn batch(values: &[&str], producer: Option<(i64, i16, i32)>, transactional: bool) -> Bytes {
    klamm_testkit::requests::batch(values, producer, transactional).expect("batch")
}

/// The values of every data record in a records field, with their offsets; control batches
/// are returned as ("COMMIT" | "ABORT", offset).
pub fn values(records: &Bytes) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for b in RecordBatches::new(records.clone()) {
        let b: RecordBatch = b.expect("batch");
        if b.is_control() {
            let m = b.end_txn_marker().expect("marker").expect("one marker");
            let name = if m.is_commit() { "COMMIT" } else { "ABORT" };
            out.push((b.base_offset(), name.to_string()));
            continue;
        }
        for r in b.records().expect("records") {
            let r = r.expect("record");
            let v = String::from_utf8(r.value.as_deref().unwrap_or_default().to_vec()).unwrap();
            out.push((r.offset, v));
        }
    }
    out
}

/// A full Fetch of one partition from `offset`, not waiting.
pub fn fetch_req(topic: &str, partition: i32, offset: i64, isolation: i8) -> FetchRequest {
    FetchRequest {
        replica_id: -1,
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        isolation_level: isolation,
        session_id: 0,
        session_epoch: -1,
        topics: vec![FetchTopic {
            topic: topic.into(),
            partitions: vec![FetchPartition {
                partition,
                current_leader_epoch: -1,
                fetch_offset: offset,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The address of broker `node`.
pub fn broker_addr(cluster: &Cluster, node: i32) -> SocketAddr {
    cluster
        .brokers()
        .into_iter()
        .find(|(n, _)| *n == node)
        .expect("broker")
        .1
}

/// The first broker that is not `node`: its id and address.
pub fn another_broker(cluster: &Cluster, node: i32) -> (i32, SocketAddr) {
    cluster
        .brokers()
        .into_iter()
        .find(|(n, _)| *n != node)
        .expect("another broker")
}

/// A connection to the leader of a partition.
pub async fn client_for(cluster: &Cluster, topic: &str, partition: i32) -> Client {
    let leader = cluster.leader(topic, partition).unwrap();
    Client::connect(broker_addr(cluster, leader)).await
}

/// A cluster of 2 brokers with topic `t` of 1 partition.
pub async fn two_brokers_one_partition() -> Cluster {
    Cluster::builder()
        .brokers(2)
        .topic("t", 1)
        .start()
        .await
        .unwrap()
}

/// InitProducerId for transactional id `txn` (60 s timeout), a new producer.
pub fn init(txn: &str) -> InitProducerIdRequest {
    InitProducerIdRequest {
        transactional_id: Some(txn.into()),
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    }
}

/// InitProducerId of an idempotent (non-transactional) producer, a new one.
pub fn init_idempotent() -> InitProducerIdRequest {
    InitProducerIdRequest {
        transactional_id: None,
        ..init("")
    }
}

/// EndTxn of `txn`'s transaction: commit or abort.
pub fn end(txn: &str, pid: i64, epoch: i16, commit: bool) -> EndTxnRequest {
    EndTxnRequest {
        transactional_id: txn.into(),
        producer_id: pid,
        producer_epoch: epoch,
        committed: commit,
        ..Default::default()
    }
}

/// The error code of a one-partition Produce answer.
pub fn produce_code(r: &ProduceResponse) -> i16 {
    r.responses[0].partition_responses[0].error_code
}
