//! A fake producer backend whose "sender" follows the hook contract: it drains a partition
//! only when the manager allows it, and checks against the fake coordinator that the
//! partition really is in the open transaction when a record is "written" (as a broker with
//! KIP-890 part 1 verification does). Violations are recorded, not hidden.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use klamm_producer::delivery::{BatchCompleter, BatchOutcome};
use klamm_producer::idempotence::TopicPartition;
use klamm_producer::{DeliveryFuture, ProducerError, ProducerRecord};
use klamm_protocol::error_code::ErrorCode;
use tokio::sync::Notify;

use super::ProducerBackend;
use crate::coordinator::fake::{FakeCoordinator, TxnPhase};
use crate::manager::TransactionManager;

struct Queued {
    tp: TopicPartition,
    value: Option<Bytes>,
    completer: BatchCompleter,
}

#[derive(Default)]
pub(super) struct Log {
    queue: Vec<Queued>,
    /// (partition, value, transaction index at the coordinator) of every written record.
    pub written: Vec<(i32, Option<Bytes>, usize)>,
    pub violations: Vec<String>,
    next_partition: i32,
    closed: bool,
}

pub(super) struct Inner {
    mgr: Arc<TransactionManager>,
    coord: Arc<FakeCoordinator>,
    pub log: Mutex<Log>,
    wake: Notify,
    idle: Notify,
    partitions: i32,
    /// Records to this partition fail with this code (once each).
    pub fail: Mutex<Option<(i32, ErrorCode)>>,
}

#[derive(Clone)]
pub(super) struct FakeBackend(pub Arc<Inner>);

impl FakeBackend {
    pub(super) fn start(
        mgr: Arc<TransactionManager>,
        coord: Arc<FakeCoordinator>,
        partitions: i32,
    ) -> Self {
        let inner = Arc::new(Inner {
            mgr,
            coord,
            log: Mutex::new(Log::default()),
            wake: Notify::new(),
            idle: Notify::new(),
            partitions,
            fail: Mutex::new(None),
        });
        tokio::spawn(sender(Arc::clone(&inner)));
        FakeBackend(inner)
    }

    pub(super) fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.0.log.lock().expect("log lock")
    }
}

async fn sender(inner: Arc<Inner>) {
    loop {
        let changed = inner.mgr.partitions_changed();
        let woke = inner.wake.notified();
        drain(&inner);
        tokio::select! {
            () = changed => {}
            () = woke => {}
        }
    }
}

fn drain(inner: &Inner) {
    let mut log = inner.log.lock().expect("log lock");
    let queue = std::mem::take(&mut log.queue);
    for q in queue {
        if !inner.mgr.is_send_to_partition_allowed(&q.tp) {
            log.queue.push(q);
            continue;
        }
        let fail = {
            let mut f = inner.fail.lock().expect("fail lock");
            match *f {
                Some((p, code)) if p == q.tp.partition => {
                    *f = None;
                    Some(code)
                }
                _ => None,
            }
        };
        if let Some(code) = fail {
            inner.mgr.on_batch_error(&q.tp, code);
            q.completer.complete(Err(ProducerError::Broker {
                topic: q.tp.topic.clone(),
                partition: q.tp.partition,
                code,
                message: None,
            }));
            continue;
        }
        let m = inner.coord.m();
        let in_txn = m.phase == TxnPhase::Ongoing
            && m.partitions
                .contains(&(q.tp.topic.to_string(), q.tp.partition));
        if !in_txn {
            log.violations.push(format!(
                "record for {}-{} written outside its transaction",
                q.tp.topic, q.tp.partition
            ));
        }
        let txn_index = m.ended.len();
        drop(m);
        let offset = log.written.len() as i64;
        log.written.push((q.tp.partition, q.value, txn_index));
        q.completer.complete(Ok(BatchOutcome {
            base_offset: offset,
            log_append_time: None,
        }));
    }
    if log.queue.is_empty() {
        inner.idle.notify_waiters();
    }
}

impl ProducerBackend for FakeBackend {
    async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, ProducerError> {
        // yield once, as a real append may wait for memory
        tokio::task::yield_now().await;
        let mut log = self.log();
        if log.closed {
            return Err(ProducerError::Closed {
                reason: klamm_producer::CloseReason::AlreadyClosed,
            });
        }
        let partition = record.partition.unwrap_or_else(|| {
            log.next_partition = (log.next_partition + 1) % self.0.partitions;
            log.next_partition
        });
        let completer = BatchCompleter::new(Arc::clone(&record.topic), partition);
        let future = completer.future(0, -1);
        log.queue.push(Queued {
            tp: TopicPartition {
                topic: record.topic,
                partition,
            },
            value: record.value,
            completer,
        });
        drop(log);
        self.0.wake.notify_one();
        Ok(future)
    }

    async fn flush(&self) {
        loop {
            let idle = self.0.idle.notified();
            if self.log().queue.is_empty() {
                return;
            }
            self.0.wake.notify_one();
            idle.await;
        }
    }

    async fn abort_unsent(&self, error: ProducerError) {
        let queue = std::mem::take(&mut self.log().queue);
        for q in queue {
            q.completer.complete(Err(error.clone()));
        }
    }

    async fn close(&self, _timeout: Duration) -> Result<(), ProducerError> {
        self.log().closed = true;
        Ok(())
    }
}
