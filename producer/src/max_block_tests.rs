//! `max_block` is one budget (Java's `max.block.ms`): waiting for a topic's metadata and then
//! for buffer memory together never takes longer than `max_block`. Runs on Tokio's paused
//! clock, so the times are exact.

use std::time::Duration;

use tokio::time::Instant;

use crate::Producer;
use crate::config::{ProducerConfig, ProducerConfigBuilder};
use crate::error::ProducerError;
use crate::fake::FakeCluster;
use crate::record::ProducerRecord;

const MAX_BLOCK: Duration = Duration::from_secs(1);

fn config() -> ProducerConfigBuilder {
    ProducerConfig::builder()
        .bootstrap(["fake:9092"])
        .buffer_memory(64 * 1024)
        .batch_size(16 * 1024)
        .max_block(MAX_BLOCK)
}

/// Fills the buffer with records to "t" that the stalled broker never acknowledges.
fn fill_buffer(p: &Producer) -> Vec<crate::DeliveryFuture> {
    let mut accepted = Vec::new();
    loop {
        match p.try_send(ProducerRecord::new("t").value(vec![b'x'; 1_000])) {
            Ok(f) => accepted.push(f),
            Err(ProducerError::WouldBlock { .. }) => return accepted,
            Err(e) => panic!("{e}"),
        }
        assert!(accepted.len() < 1_000, "memory is not bounded");
    }
}

#[tokio::test(start_paused = true)]
async fn metadata_and_memory_waits_share_one_max_block() {
    let cluster = FakeCluster::new(1, &[("t", 4)]);
    cluster.stall(true);
    // The topic's metadata takes 600 ms of the 1 s budget; memory then gets what is left.
    cluster.add_topic_later("late", 2, Duration::from_millis(600));
    let p = Producer::with_transport(config().build().unwrap(), cluster.clone());
    let _held = fill_buffer(&p);
    let start = Instant::now();
    let err = p
        .send(ProducerRecord::new("late").value(vec![b'y'; 1_000]))
        .await
        .unwrap_err();
    let took = start.elapsed();
    let ProducerError::BufferExhausted { waited, .. } = err else {
        panic!("{err}")
    };
    assert!(took >= MAX_BLOCK, "gave up early: {took:?}");
    assert!(
        took < MAX_BLOCK + Duration::from_millis(50),
        "metadata and memory waits added up: {took:?}"
    );
    assert!(
        waited >= MAX_BLOCK,
        "the error reports the whole wait: {waited:?}"
    );
    let _ = p.close(Duration::from_millis(10)).await;
}

#[tokio::test(start_paused = true)]
async fn late_metadata_within_max_block_is_waited_for() {
    let cluster = FakeCluster::new(1, &[("t", 1)]);
    cluster.add_topic_later("late", 2, Duration::from_millis(600));
    let p = Producer::with_transport(config().build().unwrap(), cluster.clone());
    let start = Instant::now();
    let f = p
        .send(ProducerRecord::new("late").value("v"))
        .await
        .unwrap();
    assert!(start.elapsed() >= Duration::from_millis(600));
    f.await.unwrap();
    p.close(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn metadata_later_than_max_block_times_out_at_max_block() {
    let cluster = FakeCluster::new(1, &[("t", 1)]);
    cluster.add_topic_later("late", 2, Duration::from_millis(1_500));
    let p = Producer::with_transport(config().build().unwrap(), cluster.clone());
    let start = Instant::now();
    let err = p
        .send(ProducerRecord::new("late").value("v"))
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(
        matches!(err, ProducerError::MetadataTimeout { .. }),
        "{err}"
    );
    assert!(took <= MAX_BLOCK, "{took:?}");
    assert!(took >= MAX_BLOCK - Duration::from_millis(200), "{took:?}");
    p.close(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_full_buffer_alone_waits_max_block() {
    let cluster = FakeCluster::new(1, &[("t", 4)]);
    cluster.stall(true);
    let p = Producer::with_transport(config().build().unwrap(), cluster.clone());
    let _held = fill_buffer(&p);
    let start = Instant::now();
    let err = p
        .send(ProducerRecord::new("t").value(vec![b'y'; 1_000]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProducerError::BufferExhausted { .. }),
        "{err}"
    );
    let took = start.elapsed();
    assert!(
        took >= MAX_BLOCK && took < MAX_BLOCK + Duration::from_millis(50),
        "{took:?}"
    );
    let _ = p.close(Duration::from_millis(10)).await;
}
