//! The pool of real record-producing `TransactionalProducer`s (klamm-txn on klamm-producer)
//! against klamm-testkit: every request writes an order and an audit record in one
//! transaction; read back from the stored log with transaction markers applied (what a
//! `read_committed` reader sees), every committed request appears exactly once in both topics,
//! no failed request's record is visible.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use klamm_pool::{FnFactory, TransactionError, TransactionalPool};
use klamm_producer::ProducerRecord;
use klamm_protocol::record::RecordBatch;
use klamm_testkit::Cluster;
use klamm_txn::{TransactionalProducer, TxnError};

/// Keys of the committed records of `topic` (markers applied per producer id and partition).
fn committed_keys(kit: &Cluster, topic: &str, partitions: i32) -> HashMap<String, u32> {
    let mut seen = HashMap::new();
    for p in 0..partitions {
        let mut pending: HashMap<i64, Vec<String>> = HashMap::new();
        for bytes in kit.batches(topic, p) {
            let batch = RecordBatch::decode(bytes).expect("stored batch decodes");
            let pid = batch.producer_id();
            if let Some(marker) = batch.end_txn_marker().expect("marker decodes") {
                let keys = pending.remove(&pid).unwrap_or_default();
                if marker.is_commit() {
                    for k in keys {
                        *seen.entry(k).or_insert(0) += 1;
                    }
                }
                continue;
            }
            for r in batch.records().expect("records") {
                let r = r.expect("record decodes");
                let key = r.key.map(|k| String::from_utf8_lossy(&k).into_owned());
                pending
                    .entry(pid)
                    .or_default()
                    .push(key.unwrap_or_default());
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_write_order_and_audit_exactly_once() {
    let kit = Arc::new(
        Cluster::builder()
            .brokers(3)
            .topic("orders", 3)
            .topic("audit", 3)
            .start()
            .await
            .unwrap(),
    );
    let bootstrap = kit.bootstrap();
    let factory = FnFactory(move |id: String| {
        let bootstrap = bootstrap.clone();
        async move {
            let p = TransactionalProducer::builder()
                .bootstrap(bootstrap)
                .transactional_id(id)
                .producer(|p| p.linger(Duration::from_millis(1)))
                .build()
                .await?;
            p.init_transactions().await?;
            Ok::<_, TxnError>(p)
        }
    });
    let pool = TransactionalPool::builder()
        .factory(factory)
        .id_prefix("orders-svc")
        .size(4)
        .checkout_timeout(Duration::from_secs(30))
        .build()
        .await
        .unwrap();

    let mut tasks = Vec::new();
    for c in 0..16u32 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for i in 0..10u32 {
                let key = format!("req-{c}-{i}");
                let fail = i % 4 == 3;
                let k = key.clone();
                let r = pool
                    .transaction(|txn| async move {
                        let order = txn
                            .send(ProducerRecord::new("orders").key(k.clone()).value("order"))
                            .await?;
                        let audit = txn
                            .send(ProducerRecord::new("audit").key(k).value("created"))
                            .await?;
                        if fail {
                            return Err(TxnError::Closed);
                        }
                        Ok((order, audit))
                    })
                    .await;
                let committed = match r {
                    Ok((order, audit)) => {
                        order.await.expect("order delivered");
                        audit.await.expect("audit delivered");
                        true
                    }
                    Err(TransactionError::Aborted(_)) if fail => false,
                    Err(e) => panic!("{key}: unexpected {e}"),
                };
                outcomes.push((key, committed));
            }
            outcomes
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.extend(t.await.unwrap());
    }
    assert_eq!(pool.close(Duration::from_secs(10)).await, 0);
    let orders = committed_keys(&kit, "orders", 3);
    let audit = committed_keys(&kit, "audit", 3);
    let mut committed = 0;
    for (key, ok) in &outcomes {
        let want = u32::from(*ok);
        committed += want;
        assert_eq!(orders.get(key).copied().unwrap_or(0), want, "orders {key}");
        assert_eq!(audit.get(key).copied().unwrap_or(0), want, "audit {key}");
    }
    assert_eq!(orders.len() as u32, committed, "nothing else is visible");
    assert_eq!(committed, 16 * 10 - 16 * 2);
}
