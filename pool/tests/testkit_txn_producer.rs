//! The pool over klamm-txn's `TransactionalProducer` against klamm-testkit, built with
//! `FnFactory`. The producer backend here writes no records (klamm-producer's `Producer` does
//! not implement klamm-txn's `ProducerBackend` yet), so transactions carry consumer offsets;
//! what is exercised is the producer's own begin / commit (flush, then EndTxn) / abort
//! (fail unsent, then EndTxn) / close and its state, as the pool drives them.

use std::sync::Arc;
use std::time::Duration;

use klamm_pool::{FnFactory, Health, TransactionError, TransactionalPool};
use klamm_producer::idempotence::TopicPartition;
use klamm_producer::{DeliveryFuture, ProducerError, ProducerRecord};
use klamm_testkit::Cluster;
use klamm_txn::{
    ClusterTransport, ConsumerGroupMetadata, OffsetAndMetadata, ProducerBackend,
    TransactionalProducer, TxnConfig, TxnError,
};

const TOPIC: &str = "t";

/// A backend that refuses records: only offsets go into these transactions. With `fatal`, it
/// refuses them as a broken producer would (the transactional producer becomes fatal).
struct OffsetsOnly {
    fatal: bool,
}

impl ProducerBackend for OffsetsOnly {
    async fn send(&self, _record: ProducerRecord) -> Result<DeliveryFuture, ProducerError> {
        if self.fatal {
            return Err(ProducerError::Fatal(Arc::from("broken backend")));
        }
        // A usage error (the state stays InTransaction): the transaction can still be aborted.
        Err(ProducerError::RecordTooLarge {
            size: usize::MAX,
            max_request_size: 0,
        })
    }
    async fn flush(&self) {}
    async fn abort_unsent(&self, _error: ProducerError) {}
    async fn close(&self, _timeout: Duration) -> Result<(), ProducerError> {
        Ok(())
    }
}

type Producer = TransactionalProducer<OffsetsOnly, ClusterTransport>;

fn offsets(partition: i32, offset: i64) -> Vec<(TopicPartition, OffsetAndMetadata)> {
    let tp = TopicPartition {
        topic: Arc::from(TOPIC),
        partition,
    };
    vec![(tp, OffsetAndMetadata::new(offset))]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_transactional_producers_commit_and_abort_exactly_once() {
    let kit = Arc::new(
        Cluster::builder()
            .brokers(3)
            .topic(TOPIC, 6)
            .start()
            .await
            .unwrap(),
    );
    let cluster = klamm_net::Cluster::builder()
        .bootstrap(kit.bootstrap())
        .connect()
        .await
        .unwrap();
    let factory = FnFactory(move |id: String| {
        let cluster = cluster.clone();
        async move {
            let mut cfg = TxnConfig::new(id);
            cfg.retry_backoff = Duration::from_millis(20);
            let p: Producer = TransactionalProducer::new(
                TransactionalProducer::<OffsetsOnly, ClusterTransport>::manager_for(cfg),
                OffsetsOnly { fatal: false },
                ClusterTransport::new(cluster),
            );
            p.init_transactions().await?;
            Ok::<_, TxnError>(p)
        }
    });
    let pool = TransactionalPool::builder()
        .factory(factory)
        .id_prefix("tp")
        .size(4)
        .build()
        .await
        .unwrap();

    let mut tasks = Vec::new();
    for t in 0..16i32 {
        let (pool, kit) = (pool.clone(), Arc::clone(&kit));
        tasks.push(tokio::spawn(async move {
            let group = ConsumerGroupMetadata::new(format!("tp{t}"));
            let mut last = None;
            for i in 0..20i64 {
                let (group, offs) = (&group, offsets(t % 6, i));
                let with_record = i % 5 == 4;
                let r = pool
                    .transaction(|txn| async move {
                        txn.send_offsets_to_transaction(&offs, group).await?;
                        if with_record {
                            // refused by the backend: the closure fails, the pool aborts
                            let _delivery = txn.send(ProducerRecord::new(TOPIC).value("x")).await?;
                        }
                        Ok::<_, TxnError>(())
                    })
                    .await;
                match (with_record, r) {
                    (false, Ok(())) => last = Some(i),
                    (true, Err(TransactionError::Aborted(_))) => {}
                    (_, r) => panic!("client {t} txn {i}: unexpected {r:?}"),
                }
                assert_eq!(kit.committed_offset(&format!("tp{t}"), TOPIC, t % 6), last);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let m = pool.metrics();
    assert_eq!((m.commits, m.aborts, m.replacements), (16 * 16, 16 * 4, 0));

    let g = pool.get().await.unwrap();
    assert_eq!(g.health(), Health::Ready);
    let pool2 = pool.clone();
    let (taken, ()) = tokio::join!(pool2.close(Duration::from_secs(5)), async { drop(g) });
    assert_eq!(taken, 0);
    assert!(pool.is_closed());
}

/// A producer whose backend breaks is closed and replaced under the same id; the next
/// transaction runs on the new one.
#[tokio::test]
async fn a_broken_transactional_producer_is_replaced() {
    let kit = Cluster::builder()
        .brokers(3)
        .topic(TOPIC, 6)
        .start()
        .await
        .unwrap();
    let cluster = klamm_net::Cluster::builder()
        .bootstrap(kit.bootstrap())
        .connect()
        .await
        .unwrap();
    let created = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let factory = FnFactory(move |id: String| {
        let (cluster, created) = (cluster.clone(), Arc::clone(&created));
        async move {
            // only the first producer is broken
            let fatal = created.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
            let p: Producer = TransactionalProducer::new(
                TransactionalProducer::<OffsetsOnly, ClusterTransport>::manager_for(
                    TxnConfig::new(id),
                ),
                OffsetsOnly { fatal },
                ClusterTransport::new(cluster),
            );
            p.init_transactions().await?;
            Ok::<_, TxnError>(p)
        }
    });
    let pool = TransactionalPool::builder()
        .factory(factory)
        .id_prefix("broken")
        .size(1)
        .build()
        .await
        .unwrap();
    let group = ConsumerGroupMetadata::new("b");
    let e = pool
        .transaction(|txn| async move {
            let _delivery = txn.send(ProducerRecord::new(TOPIC).value("x")).await?;
            Ok::<_, TxnError>(())
        })
        .await
        .unwrap_err();
    assert!(matches!(e, TransactionError::Aborted(_)), "{e}");
    let g = &group;
    pool.transaction(|txn| async move {
        assert_eq!(txn.transactional_id(), "broken-0");
        txn.send_offsets_to_transaction(&offsets(0, 5), g).await
    })
    .await
    .unwrap();
    assert_eq!(kit.committed_offset("b", TOPIC, 0), Some(5));
    let m = pool.metrics();
    assert_eq!((m.replacements, m.creates), (1, 2));
}
