//! The record accumulator: per-partition queues of batches that `send` appends to and the
//! sender drains (Java's `RecordAccumulator`).
//!
//! Hot path (DESIGN.md, concurrency model): `send` looks the topic up under a read lock, asks
//! the partitioner, and appends under the partition's own short lock, straight into the open
//! batch's buffer. Only when a batch must be opened does it leave the lock to reserve buffer
//! memory (waiting up to `max_block`, never holding a lock across the `.await`), and only then,
//! or when a batch fills up, is the sender woken: no channel message per record.
//!
//! The sender [`drain`](RecordAccumulator::drain)s ready batches grouped by leader, requeues
//! failed ones at the head of their partition in order
//! ([`reenqueue`](RecordAccumulator::reenqueue)), and expires those past `delivery_timeout`.

mod batch;
mod drain;

pub use batch::ProducerBatch;
pub use drain::{DrainContext, Drained};

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use klamm_protocol::record::RECORD_BATCH_OVERHEAD;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::ProducerConfig;
use crate::delivery::DeliveryFuture;
use crate::error::{CloseReason, ProducerError};
use crate::idempotence::TopicPartition;
use crate::memory::{MemoryPool, Reservation};
use crate::partitioner::{PartitionAvailability, TopicPartitioner};
use crate::record::ProducerRecord;

use batch::Incomplete;

/// Whether `append` may wait for buffer memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocking {
    /// Wait up to `max_block` (`send`).
    Wait,
    /// Fail at once with [`ProducerError::WouldBlock`] (`try_send`).
    NoWait,
}

#[derive(Debug, Default)]
pub(crate) struct PartitionQueue {
    batches: VecDeque<ProducerBatch>,
    /// Set while a batch of this partition is in flight and order must be kept without
    /// idempotence (`max_in_flight == 1`, Java's `guaranteeMessageOrder`).
    muted: bool,
}

type SharedQueue = Arc<Mutex<PartitionQueue>>;

fn lock(q: &SharedQueue) -> std::sync::MutexGuard<'_, PartitionQueue> {
    // A panic while holding a partition lock cannot break the queue's invariants worse than
    // losing the append in progress, whose future then resolves with Closed.
    q.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug)]
struct TopicQueues {
    name: Arc<str>,
    partitioner: TopicPartitioner,
    partitions: RwLock<Vec<SharedQueue>>,
}

impl TopicQueues {
    fn queue(&self, partition: i32) -> SharedQueue {
        let idx = partition.max(0) as usize;
        if let Some(q) = self
            .partitions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(idx)
        {
            return Arc::clone(q);
        }
        let mut all = self.partitions.write().unwrap_or_else(|e| e.into_inner());
        while all.len() <= idx {
            all.push(SharedQueue::default());
        }
        Arc::clone(&all[idx])
    }

    fn queues(&self) -> Vec<(i32, SharedQueue)> {
        self.partitions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .enumerate()
            .map(|(i, q)| (i as i32, Arc::clone(q)))
            .collect()
    }
}

/// Per-partition batch queues with buffer memory accounting. Shared by every `send` and the
/// sender task.
#[derive(Debug)]
pub struct RecordAccumulator {
    config: Arc<ProducerConfig>,
    memory: MemoryPool,
    topics: RwLock<HashMap<Arc<str>, Arc<TopicQueues>>>,
    incomplete: Arc<Incomplete>,
    flushing: AtomicUsize,
    closed: AtomicBool,
    wakeup: Notify,
    next_id: AtomicU64,
    drain_start: AtomicUsize,
}

impl RecordAccumulator {
    /// An empty accumulator for `config` (its `buffer_memory`, `batch_size`, `linger`, ...).
    pub fn new(config: Arc<ProducerConfig>) -> Self {
        RecordAccumulator {
            memory: MemoryPool::new(config.buffer_memory),
            config,
            topics: RwLock::new(HashMap::new()),
            incomplete: Arc::new(Incomplete::default()),
            flushing: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            wakeup: Notify::new(),
            next_id: AtomicU64::new(0),
            drain_start: AtomicUsize::new(0),
        }
    }

    /// The buffer memory pool (for metrics: `available()`).
    pub fn memory(&self) -> &MemoryPool {
        &self.memory
    }

    /// Resolves when a batch may have become ready (new or full batch, flush, close, requeue).
    /// The sender waits on this or on its next linger/backoff deadline, whichever comes first.
    pub async fn wait_for_work(&self) {
        self.wakeup.notified().await;
    }

    fn wake_sender(&self) {
        self.wakeup.notify_one();
    }

    fn topic(&self, name: &Arc<str>) -> Arc<TopicQueues> {
        if let Some(t) = self
            .topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Arc::clone(t);
        }
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        Arc::clone(topics.entry(Arc::clone(name)).or_insert_with(|| {
            Arc::new(TopicQueues {
                name: Arc::clone(name),
                partitioner: TopicPartitioner::new(self.config.batch_size),
                partitions: RwLock::new(Vec::new()),
            })
        }))
    }

    /// Append a record to its partition's open batch (opening one if needed). `partitions`
    /// describes the topic per the current metadata. Returns once the record is in the buffer.
    pub async fn append(
        &self,
        record: ProducerRecord,
        partitions: PartitionAvailability<'_>,
        blocking: Blocking,
    ) -> Result<DeliveryFuture, ProducerError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(ProducerError::Closed {
                reason: CloseReason::AlreadyClosed,
            });
        }
        let size = RECORD_BATCH_OVERHEAD + record.encoded_size_upper_bound();
        if size > self.config.max_request_size {
            return Err(ProducerError::RecordTooLarge {
                size,
                max_request_size: self.config.max_request_size,
            });
        }
        if size > self.config.buffer_memory {
            return Err(ProducerError::RecordLargerThanBuffer {
                size,
                buffer_memory: self.config.buffer_memory,
            });
        }
        let topic = self.topic(&record.topic);
        let assignment = topic.partitioner.assign(
            &self.config,
            &record.topic,
            record.partition,
            record.key.as_deref(),
            record.value.as_deref(),
            partitions,
        )?;
        let timestamp = record.timestamp.unwrap_or_else(now_millis);
        let queue = topic.queue(assignment.partition);

        // Fast path: the open batch has room.
        if let Some((future, bytes, full)) = self.try_append(&queue, &record, timestamp, None)? {
            topic
                .partitioner
                .on_append(assignment, bytes, full, partitions);
            if full {
                self.wake_sender();
            }
            return Ok(future);
        }

        // Slow path: reserve memory for a new batch without holding the lock.
        let want = size.max(self.config.batch_size);
        let reservation = match blocking {
            Blocking::Wait => self.memory.reserve(want, self.config.max_block).await?,
            Blocking::NoWait => self.memory.try_reserve(want)?,
        };
        if self.closed.load(Ordering::Acquire) {
            return Err(ProducerError::Closed {
                reason: CloseReason::AlreadyClosed,
            });
        }
        let tp = TopicPartition {
            topic: Arc::clone(&topic.name),
            partition: assignment.partition,
        };
        let opened = (tp, reservation);
        let Some((future, bytes, full)) =
            self.try_append(&queue, &record, timestamp, Some(opened))?
        else {
            // A fresh batch always takes its first record.
            return Err(ProducerError::Fatal(
                "a new batch refused its first record".into(),
            ));
        };
        topic
            .partitioner
            .on_append(assignment, bytes, full, partitions);
        self.wake_sender();
        Ok(future)
    }

    /// Append under the partition lock: to the last open batch, or (with `open`) to a new batch
    /// using that reservation if the last one is full. Returns the future, the bytes appended
    /// and whether the partition's newest batch is now full.
    fn try_append(
        &self,
        queue: &SharedQueue,
        record: &ProducerRecord,
        timestamp: i64,
        open: Option<(TopicPartition, Reservation)>,
    ) -> Result<Option<(DeliveryFuture, usize, bool)>, ProducerError> {
        let batch_size = self.config.batch_size;
        let mut q = lock(queue);
        if let Some(last) = q.batches.back_mut()
            && let Some((future, bytes)) = last.try_append(
                timestamp,
                record.key.as_deref(),
                record.value.as_deref(),
                &record.headers,
                batch_size,
            )?
        {
            // Someone else may have opened a batch while we waited; our reservation (if
            // any) is dropped and returned to the pool.
            let full = last.is_full(batch_size);
            return Ok(Some((future, bytes, full)));
        }
        let Some((tp, reservation)) = open else {
            return Ok(None);
        };
        let capacity = reservation.bytes();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut batch = ProducerBatch::new(
            id,
            tp,
            self.config.compression,
            // KIP-98: batches of a transactional producer carry the transactional flag, so
            // read_committed readers hold them back until the COMMIT/ABORT marker.
            self.config.transactional_id.is_some(),
            capacity,
            reservation,
            Arc::clone(&self.incomplete),
            Instant::now(),
        );
        let appended = batch.try_append(
            timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
            batch_size,
        )?;
        let full = batch.is_full(batch_size);
        q.batches.push_back(batch);
        Ok(appended.map(|(f, b)| (f, b, full)))
    }

    /// Make every batch ready now (`flush`); pair with [`end_flush`](Self::end_flush).
    pub fn begin_flush(&self) {
        self.flushing.fetch_add(1, Ordering::AcqRel);
        self.wake_sender();
    }

    /// The end of a flush started with [`begin_flush`](Self::begin_flush).
    pub fn end_flush(&self) {
        self.flushing.fetch_sub(1, Ordering::AcqRel);
    }

    /// Futures for every batch that has no outcome yet (what `flush` waits for).
    pub fn incomplete(&self) -> Vec<DeliveryFuture> {
        self.incomplete.snapshot()
    }

    /// Number of batches without an outcome (queued or in flight).
    pub fn incomplete_batches(&self) -> usize {
        self.incomplete.len()
    }

    /// Refuse new records, make every batch ready, and fail waiters for buffer memory.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.memory.close();
        self.wake_sender();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Whether any batch is queued (not counting batches in flight).
    pub fn has_queued(&self) -> bool {
        self.all_queues()
            .iter()
            .any(|(_, q)| !lock(q).batches.is_empty())
    }

    /// Take every queued batch out and fail it with `error` (after a close timeout).
    pub fn abort_queued(&self, error: &ProducerError) -> usize {
        let mut n = 0;
        for (_, q) in self.all_queues() {
            let taken: Vec<_> = lock(&q).batches.drain(..).collect();
            n += taken.len();
            for b in taken {
                b.fail(error.clone());
            }
        }
        n
    }

    /// Feed every topic's adaptive sticky partitioner with its partitions' queue lengths
    /// (batches waiting), as Java does on each sender round (KIP-794). No-op when
    /// `partitioner_adaptive` is off.
    pub fn update_partitioner_load(&self) {
        if !self.config.partitioner_adaptive {
            return;
        }
        let topics: Vec<Arc<TopicQueues>> = self
            .topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for t in topics {
            let loads: Vec<(i32, u32)> = t
                .queues()
                .into_iter()
                .map(|(p, q)| (p, lock(&q).batches.len() as u32))
                .collect();
            t.partitioner.sticky().update_load(&loads);
        }
    }

    fn all_queues(&self) -> Vec<(TopicPartition, SharedQueue)> {
        let topics: Vec<Arc<TopicQueues>> = self
            .topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        topics
            .iter()
            .flat_map(|t| {
                t.queues().into_iter().map(|(partition, q)| {
                    (
                        TopicPartition {
                            topic: Arc::clone(&t.name),
                            partition,
                        },
                        q,
                    )
                })
            })
            .collect()
    }

    fn queue_of(&self, tp: &TopicPartition) -> SharedQueue {
        self.topic(&tp.topic).queue(tp.partition)
    }

    fn linger(&self) -> Duration {
        self.config.linger
    }
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
