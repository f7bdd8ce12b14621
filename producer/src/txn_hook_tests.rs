//! The sender obeys a [`TransactionHook`]: it drains only added partitions, writes with the
//! hook's producer id and epoch and the transactional flag, fails unsent batches when the
//! transaction failed, and reports batches that failed for good.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::Notify;

use crate::Producer;
use crate::config::ProducerConfig;
use crate::error::ProducerError;
use crate::fake::FakeCluster;
use crate::idempotence::{ProducerIdEpoch, TopicPartition};
use crate::record::ProducerRecord;
use crate::sender::TransactionHook;

#[derive(Default)]
struct TestHook {
    added: Mutex<HashSet<(String, i32)>>,
    pid: Mutex<Option<ProducerIdEpoch>>,
    failed: Mutex<Option<ProducerError>>,
    failures_reported: AtomicUsize,
    changed: Notify,
}

impl TestHook {
    fn add(&self, topic: &str, partition: i32) {
        self.added.lock().unwrap().insert((topic.into(), partition));
        self.changed.notify_waiters();
    }
    fn set_pid(&self, id: i64, epoch: i16) {
        *self.pid.lock().unwrap() = Some(ProducerIdEpoch { id, epoch });
        self.changed.notify_waiters();
    }
    fn fail(&self, e: Option<ProducerError>) {
        *self.failed.lock().unwrap() = e;
        self.changed.notify_waiters();
    }
}

impl TransactionHook for TestHook {
    fn may_drain(&self, tp: &TopicPartition) -> bool {
        self.added
            .lock()
            .unwrap()
            .contains(&(tp.topic.to_string(), tp.partition))
    }
    fn producer_id_epoch(&self) -> Option<ProducerIdEpoch> {
        *self.pid.lock().unwrap()
    }
    fn on_batch_failed(&self, _: &TopicPartition, _: &ProducerError, _: bool) {
        self.failures_reported.fetch_add(1, Ordering::SeqCst);
    }
    fn failed(&self) -> Option<ProducerError> {
        self.failed.lock().unwrap().clone()
    }
    fn changed(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.changed.notified())
    }
}

fn transactional_producer(cluster: &Arc<FakeCluster>, hook: &Arc<TestHook>) -> Producer {
    let config = ProducerConfig::builder()
        .bootstrap(["fake:9092"])
        .transactional_id("orders-0")
        .linger(Duration::from_millis(1))
        .retry_backoff(Duration::from_millis(5))
        .build()
        .unwrap();
    Producer::with_transport_and_hook(config, cluster.clone(), Some(hook.clone()))
}

#[tokio::test]
async fn drains_only_added_partitions_with_the_hooks_producer_id() {
    let cluster = FakeCluster::new(1, &[("t", 2)]);
    let hook = Arc::new(TestHook::default());
    let p = transactional_producer(&cluster, &hook);
    let f = p
        .send(ProducerRecord::new("t").partition(1).value("v"))
        .await
        .unwrap();
    // No producer id and the partition not added: nothing may be written.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(cluster.batch_headers().is_empty());
    hook.set_pid(77, 3);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        cluster.batch_headers().is_empty(),
        "partition not added yet"
    );
    hook.add("t", 1);
    let meta = tokio::time::timeout(Duration::from_secs(5), f)
        .await
        .expect("delivered once added")
        .unwrap();
    assert_eq!((meta.partition, meta.offset), (1, 0));
    assert_eq!(cluster.batch_headers(), vec![(77, 3, true)]);
    assert_eq!(cluster.log("t", 1).len(), 1);
}

#[tokio::test]
async fn a_failed_transaction_fails_what_was_not_sent() {
    let cluster = FakeCluster::new(1, &[("t", 1)]);
    let hook = Arc::new(TestHook::default());
    hook.set_pid(5, 0);
    let p = transactional_producer(&cluster, &hook);
    let f = p
        .send(ProducerRecord::new("t").partition(0).value("v"))
        .await
        .unwrap();
    hook.fail(Some(ProducerError::Fatal("transaction aborted".into())));
    let outcome = tokio::time::timeout(Duration::from_secs(5), f)
        .await
        .expect("resolved");
    assert!(
        matches!(outcome, Err(ProducerError::Fatal(_))),
        "{outcome:?}"
    );
    assert!(cluster.batch_headers().is_empty(), "nothing written");
    // The next transaction proceeds normally.
    hook.fail(None);
    hook.add("t", 0);
    let f = p
        .send(ProducerRecord::new("t").partition(0).value("w"))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), f)
        .await
        .expect("resolved")
        .unwrap();
    assert_eq!(cluster.log("t", 0).len(), 1);
}

#[tokio::test]
async fn abort_unsent_fails_queued_batches_and_waits_for_in_flight_ones() {
    let cluster = FakeCluster::new(1, &[("t", 2)]);
    let hook = Arc::new(TestHook::default());
    hook.set_pid(9, 1);
    hook.add("t", 0);
    let p = transactional_producer(&cluster, &hook);
    // Partition 0's batch goes out but its answer is held back: it is in flight.
    cluster.stall(true);
    let sent = p
        .send(ProducerRecord::new("t").partition(0).value("a"))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while cluster.produce_calls.load(Ordering::Relaxed) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never sent");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Partition 1 was never added: its batch stays queued.
    let held = p
        .send(ProducerRecord::new("t").partition(1).value("b"))
        .await
        .unwrap();
    let aborting = {
        let p = p.clone();
        tokio::spawn(async move { p.abort_unsent(ProducerError::Fatal("abort".into())).await })
    };
    let held = tokio::time::timeout(Duration::from_secs(5), held)
        .await
        .expect("the queued record fails at once");
    assert!(matches!(held, Err(ProducerError::Fatal(_))), "{held:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !aborting.is_finished(),
        "abort_unsent waits for the batch in flight"
    );
    cluster.stall(false);
    tokio::time::timeout(Duration::from_secs(5), aborting)
        .await
        .expect("abort_unsent returns once the in-flight batch has its outcome")
        .unwrap();
    assert!(sent.await.is_ok(), "the in-flight record was written");
    assert_eq!(cluster.log("t", 0).len(), 1);
    assert_eq!(cluster.log("t", 1).len(), 0);
}

/// KIP-890 part 2: the transaction manager hands out a new epoch after every transaction; the
/// sender adopts it once nothing is in flight and restarts the sequences at 0 (the fake
/// broker refuses a new epoch that does not start at 0).
#[tokio::test]
async fn a_new_epoch_from_the_hook_restarts_the_sequences() {
    let cluster = FakeCluster::new(1, &[("t", 1)]);
    let hook = Arc::new(TestHook::default());
    hook.set_pid(77, 3);
    hook.add("t", 0);
    let p = transactional_producer(&cluster, &hook);
    for v in ["a", "b"] {
        let f = p
            .send(ProducerRecord::new("t").partition(0).value(v))
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), f)
            .await
            .expect("delivered")
            .unwrap();
    }
    hook.set_pid(77, 4);
    let f = p
        .send(ProducerRecord::new("t").partition(0).value("c"))
        .await
        .unwrap();
    let meta = tokio::time::timeout(Duration::from_secs(5), f)
        .await
        .expect("delivered")
        .expect("the new epoch starts at sequence 0");
    assert_eq!(meta.offset, 2);
    assert_eq!(
        cluster.batch_headers(),
        vec![(77, 3, true), (77, 3, true), (77, 4, true)]
    );
}
