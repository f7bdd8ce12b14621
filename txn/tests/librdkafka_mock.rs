//! Against librdkafka's mock cluster (a third-party broker implementation that checks
//! transactional state and idempotent sequences): init, begin, send, send_offsets, commit and
//! abort succeed. The mock writes no transaction markers, so nothing is read back here (the
//! testkit tests do that).

mod support;

use std::sync::Arc;
use std::time::Duration;

use klamm_producer::ProducerRecord;
use klamm_producer::idempotence::TopicPartition;
use klamm_txn::{
    ClusterTransport, ConsumerGroupMetadata, OffsetAndMetadata, TransactionalProducer, TxnConfig,
    TxnState,
};
use rdkafka::mocking::MockCluster;
use support::MiniProducer;

type Producer = TransactionalProducer<MiniProducer, ClusterTransport>;

#[tokio::test]
async fn full_transaction_api_against_the_librdkafka_mock() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let mock = MockCluster::new(3).expect("mock cluster");
    mock.create_topic("t", 3, 1).expect("topic");
    mock.create_topic("in", 1, 1).expect("input topic");
    let cluster = klamm_net::Cluster::builder()
        .bootstrap(mock.bootstrap_servers())
        .connect()
        .await
        .expect("connect");
    let mut cfg = TxnConfig::new("mock-0");
    cfg.operation_timeout = Duration::from_secs(30);
    cfg.retry_backoff = Duration::from_millis(20);
    let mgr = Producer::manager_for(cfg);
    let backend = MiniProducer::start(Arc::clone(&mgr), cluster.clone());
    let p = Producer::new(mgr, backend, ClusterTransport::new(cluster));

    p.init_transactions().await.expect("init");
    for round in 0..6 {
        p.begin_transaction().expect("begin");
        let mut futures = Vec::new();
        for i in 0..5 {
            let rec = ProducerRecord::new("t")
                .partition((round + i) % 3)
                .value(format!("{round}-{i}"));
            futures.push(p.send(rec).await.expect("send"));
        }
        if round % 2 == 0 {
            let offsets = [(
                TopicPartition {
                    topic: Arc::from("in"),
                    partition: 0,
                },
                OffsetAndMetadata::new(i64::from(round) * 10),
            )];
            p.send_offsets_to_transaction(&offsets, &ConsumerGroupMetadata::new("g"))
                .await
                .expect("send_offsets");
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
    let mock = MockCluster::new(3).expect("mock cluster");
    mock.create_topic("t", 3, 1).expect("topic");
    mock.create_topic("in", 1, 1).expect("input topic");
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
        let mut futures = Vec::new();
        for i in 0..5 {
            let rec = ProducerRecord::new("t")
                .partition((round + i) % 3)
                .value(format!("{round}-{i}"));
            futures.push(p.send(rec).await.expect("send"));
        }
        let offsets = [(
            TopicPartition {
                topic: Arc::from("in"),
                partition: 0,
            },
            OffsetAndMetadata::new(i64::from(round)),
        )];
        p.send_offsets_to_transaction(&offsets, &ConsumerGroupMetadata::new("g"))
            .await
            .expect("send_offsets");
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
