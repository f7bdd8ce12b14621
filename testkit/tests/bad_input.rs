//! Garbage, truncated frames, absurd lengths, unknown APIs and unsupported versions close the
//! offending connection (or get an error response) and never disturb other connections.

mod common;

use std::time::Duration;

use common::Client;
use klamm_testkit::Cluster;

async fn healthy(cluster: &Cluster) {
    let mut ok = Client::connect(cluster.brokers()[0].1).await;
    let r = ok.metadata().await;
    assert_eq!(r.brokers.len(), 1);
}

#[tokio::test]
async fn bad_frames_close_only_their_connection() {
    let cluster = Cluster::builder().max_frame(1 << 20).start().await.unwrap();
    let addr = cluster.brokers()[0].1;
    let cases: Vec<Vec<u8>> = vec![
        // negative length
        vec![0xff, 0xff, 0xff, 0xf0],
        // larger than the maximum frame
        vec![0x7f, 0xff, 0xff, 0xff, 1, 2, 3],
        // a frame too short for a header
        vec![0, 0, 0, 2, 0, 3],
        // unknown API key 999
        vec![0, 0, 0, 10, 0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0xff, 0xff],
        // Produce v1 (not served)
        vec![0, 0, 0, 10, 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff],
        // Metadata v12 with a body of garbage
        vec![
            0, 0, 0, 16, 0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff, 0, 0x7f, 0xff, 0xff, 0xff, 0xff,
        ],
        // a string length claiming far more than the frame holds
        vec![0, 0, 0, 12, 0, 3, 0, 1, 0, 0, 0, 1, 0x7f, 0xff, 0, 0],
    ];
    for (i, bytes) in cases.iter().enumerate() {
        let mut c = Client::connect(addr).await;
        c.write_raw(bytes).await;
        assert!(c.is_closed().await, "case {i} closes the connection");
        healthy(&cluster).await;
    }
    assert!(cluster.malformed_requests() >= cases.len() as u64);
}

#[tokio::test]
async fn a_truncated_frame_waits_and_a_disconnect_mid_frame_is_harmless() {
    let cluster = Cluster::builder().start().await.unwrap();
    let mut c = Client::connect(cluster.brokers()[0].1).await;
    c.write_raw(&[0, 0, 0, 100, 0, 18]).await;
    let waited = tokio::time::timeout(Duration::from_millis(200), c.read_frame()).await;
    assert!(
        waited.is_err(),
        "the broker waits for the rest of the frame"
    );
    drop(c);
    healthy(&cluster).await;
}

#[tokio::test]
async fn random_garbage_never_takes_the_cluster_down() {
    let cluster = Cluster::builder().topic("t", 2).start().await.unwrap();
    let addr = cluster.brokers()[0].1;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..200 {
        let mut bytes = Vec::new();
        // a plausible length prefix and header so decoding gets past the framing
        let len = 8 + (seed % 64) as usize;
        bytes.extend_from_slice(&(len as i32).to_be_bytes());
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes.push(seed as u8);
        }
        // keep the API key within the served ones half of the time
        if seed.is_multiple_of(2) {
            bytes[4] = 0;
            bytes[5] = [0u8, 1, 2, 3, 9, 10, 18, 19, 22, 24, 25, 26, 28][(seed % 13) as usize];
        }
        let mut c = Client::connect(addr).await;
        c.write_raw(&bytes).await;
        let _ = tokio::time::timeout(Duration::from_millis(50), c.read_frame()).await;
    }
    healthy(&cluster).await;
}
