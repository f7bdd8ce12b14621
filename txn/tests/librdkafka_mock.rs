//! Against librdkafka's mock cluster (a third-party broker implementation that checks
//! transactional state and idempotent sequences): init, begin, send, send_offsets, commit and
//! abort succeed. The mock writes no transaction markers, so nothing is read back here (the
//! testkit tests do that).

mod support;

use std::sync::Arc;
use std::time::Duration;

use klamm_producer::idempotence::TopicPartition;
use klamm_producer::{DeliveryFuture, ProducerRecord};
use klamm_txn::{
    ClusterTransport, ConsumerGroupMetadata, OffsetAndMetadata, ProducerBackend,
    TransactionalProducer, TxnState,
};
use rdkafka::mocking::MockCluster;
use support::{connect, mini_producer};

/// A mock cluster of 3 brokers with topics `t` (3 partitions) and `in` (1).
fn mock() -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let mock = MockCluster::new(3).expect("mock cluster");
    mock.create_topic("t", 3, 1).expect("topic");
    mock.create_topic("in", 1, 1).expect("input topic");
    mock
}

/// Sends round `round`'s five records to `t` (partitions `round + i` mod 3).
async fn send_round<B: ProducerBackend>(
    p: &TransactionalProducer<B, ClusterTransport>,
    round: i32,
) -> Vec<DeliveryFuture> {
    let mut futures = Vec::new();
    for i in 0..5 {
        let rec = ProducerRecord::new("t")
            .partition((round + i) % 3)
            .value(format!("{round}-{i}"));
        futures.push(p.send(rec).await.expect("send"));
    }
    futures
}

/// Sends `offset` for partition 0 of `in`, group `g`, to the transaction.
async fn send_offset<B: ProducerBackend>(
    p: &TransactionalProducer<B, ClusterTransport>,
    offset: i64,
) {
    let offsets = [(
        TopicPartition {
            topic: Arc::from("in"),
            partition: 0,
        },
        OffsetAndMetadata::new(offset),
    )];
    p.send_offsets_to_transaction(&offsets, &ConsumerGroupMetadata::new("g"))
        .await
        .expect("send_offsets");
}

#[tokio::test]
async fn full_transaction_api_against_the_librdkafka_mock() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let mock = mock();
    let p = mini_producer(&connect(mock.bootstrap_servers()).await, "mock-0");

    p.init_transactions().await.expect("init");
    for round in 0..6 {
        p.begin_transaction().expect("begin");
        let futures = send_round(&p, round).await;
        if round % 2 == 0 {
            send_offset(&p, i64::from(round) * 10).await;
        }
        if round % 3 == 2 {
            for f in futures {
                f.await.expect("written before the abort");
            }
            p.abort_transaction().await.expect("abort");
        } else {
            p.commit_transaction().await.expect("commit");
            for f in futures {
                f.await.expect("delivered");
            }
        }
        assert_eq!(p.state(), TxnState::Ready, "round {round}");
    }
}

#[tokio::test]
async fn real_producer_against_the_librdkafka_mock() {
    let mock = mock();
    let p = TransactionalProducer::builder()
        .bootstrap(mock.bootstrap_servers())
        .transactional_id("mock-real-0")
        .operation_timeout(Duration::from_secs(30))
        .build()
        .await
        .expect("build");
    p.init_transactions().await.expect("init");
    for round in 0..4 {
        p.begin_transaction().expect("begin");
        let futures = send_round(&p, round).await;
        send_offset(&p, i64::from(round)).await;
        if round == 2 {
            p.abort_transaction().await.expect("abort");
            for f in futures {
                // sent before the abort, or failed by it: either way resolved
                let _ = f.await;
            }
        } else {
            p.commit_transaction().await.expect("commit");
            for f in futures {
                f.await.expect("delivered");
            }
        }
        assert_eq!(p.state(), TxnState::Ready, "round {round}");
    }
}
