//! The record accumulator: per-partition queues of batches that `send` appends to and the
//! sender drains (Java's `RecordAccumulator`).
//!
//! Hot path (DESIGN.md, concurrency model): `send` looks the topic up under the topic map's
//! read lock (which also yields its partitions, cached per metadata version), asks the
//! partitioner, and appends under the partition's own short lock, straight into the open
//! batch's buffer, without suspending ([`RecordAccumulator::append_now`]). Only when a batch
//! must be opened and memory is short, or the topic's partitions are unknown, does it hand the
//! record back, to wait (up to `max_block`, never holding a lock across the `.await`). Only
//! when a batch is opened or fills up is the sender woken: no channel message per record.
//!
//! The sender [`drain`](RecordAccumulator::drain)s ready batches grouped by leader, requeues
//! failed ones at the head of their partition in order
//! ([`reenqueue`](RecordAccumulator::reenqueue)), and expires those past `delivery_timeout`.

mod availability;
mod batch;
mod drain;
mod split;
mod topics;

pub use batch::ProducerBatch;
pub use drain::{DrainContext, Drained};

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use klamm_protocol::record::RECORD_BATCH_OVERHEAD;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::ProducerConfig;
use crate::delivery::DeliveryFuture;
use crate::error::{CloseReason, ProducerError};
use crate::idempotence::TopicPartition;
use crate::memory::{MemoryPool, Reservation};
use crate::partitioner::PartitionAvailability;
use crate::record::ProducerRecord;
use crate::sender::TopicInfo;

use batch::Incomplete;
use topics::{CachedPartitions, SharedQueue, TopicEntry, TopicMap, TopicName, lock};

/// Batch ids are handed out this far apart: the pieces of a batch split after
/// MESSAGE_TOO_LARGE take ids between it and the next batch, so they sort where it did
/// (enough for 19 rounds of halving).
const BATCH_ID_SPAN: u64 = 1 << 20;

/// Whether `append` may wait for buffer memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocking {
    /// Wait up to `max_block` (`send`).
    Wait,
    /// Fail at once with [`ProducerError::WouldBlock`] (`try_send`).
    NoWait,
}

/// Where [`RecordAccumulator::append_now`] finds the topic's partitions.
#[derive(Debug, Clone, Copy)]
pub enum PartitionSource<'a> {
    /// The partitions cached with the topic, if they were computed at this metadata version
    /// ([`crate::sender::Transport::metadata_version`]); otherwise the record comes back with
    /// [`AppendDeferred::NeedMetadata`].
    Cached(u64),
    /// These partitions, looked up at metadata `version`; cached for later `Cached` calls.
    Fresh {
        /// The metadata version `info` was read at (read before `info`).
        version: u64,
        /// The topic's partitions.
        info: &'a TopicInfo,
    },
    /// These partitions, not cached.
    Given(PartitionAvailability<'a>),
}

/// Why [`RecordAccumulator::append_now`] did not append a record.
#[derive(Debug)]
pub enum AppendDeferred {
    /// The record is refused (too large, closed, no such partition, ...).
    Failed(ProducerError),
    /// The topic's partitions are not cached for that metadata version: look them up and call
    /// again with [`PartitionSource::Fresh`].
    NeedMetadata(Box<ProducerRecord>),
    /// A new batch is needed and buffer memory is short: reserve `bytes`, then call again with
    /// the reservation.
    NeedMemory {
        /// The record, back to the caller.
        record: Box<ProducerRecord>,
        /// What to reserve.
        bytes: usize,
    },
}

/// Per-partition batch queues with buffer memory accounting. Shared by every `send` and the
/// sender task.
#[derive(Debug)]
pub struct RecordAccumulator {
    config: Arc<ProducerConfig>,
    memory: MemoryPool,
    topics: RwLock<TopicMap>,
    incomplete: Arc<Incomplete>,
    flushing: AtomicUsize,
    closed: AtomicBool,
    wakeup: Notify,
    next_id: AtomicU64,
    drain_start: AtomicUsize,
    /// Bumped under the topic map's write lock: tells [`all_queues`](Self::all_queues)'s
    /// snapshot is stale.
    topics_generation: AtomicU64,
    /// Every partition's queue as of a topic map generation: the sender walks it on each
    /// round, so it is rebuilt only when a topic or partition is added.
    queue_list: Mutex<(u64, QueueList)>,
    /// No queued batch can expire before this instant (see [`expire`](Self::expire)); `None`
    /// forces the next scan.
    next_expiry: Mutex<Option<Instant>>,
    /// Leaders' ready and drain times, for `partitioner_availability_timeout`.
    latencies: availability::NodeLatencies,
}

/// Every partition's queue, as [`RecordAccumulator::all_queues`] lists them.
type QueueList = Arc<[(TopicPartition, SharedQueue)]>;

impl RecordAccumulator {
    /// An empty accumulator for `config` (its `buffer_memory`, `batch_size`, `linger`, ...).
    pub fn new(config: Arc<ProducerConfig>) -> Self {
        RecordAccumulator {
            memory: MemoryPool::new(config.buffer_memory),
            latencies: availability::NodeLatencies::new(config.partitioner_availability_timeout),
            config,
            topics: RwLock::new(TopicMap::default()),
            incomplete: Arc::new(Incomplete::default()),
            flushing: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            wakeup: Notify::new(),
            next_id: AtomicU64::new(0),
            drain_start: AtomicUsize::new(0),
            topics_generation: AtomicU64::new(1),
            queue_list: Mutex::new((0, Arc::from(Vec::new()))),
            next_expiry: Mutex::new(None),
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

    fn read_topics(&self) -> std::sync::RwLockReadGuard<'_, TopicMap> {
        self.topics.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_topics(&self) -> std::sync::RwLockWriteGuard<'_, TopicMap> {
        let guard = self.topics.write().unwrap_or_else(|e| e.into_inner());
        // Under the write lock: a reader holding the read lock sees a generation that matches
        // the map it reads.
        self.topics_generation.fetch_add(1, Ordering::AcqRel);
        guard
    }

    /// The topic's entry in the write-locked map, created if needed.
    fn entry<'a>(&self, topics: &'a mut TopicMap, name: &Arc<str>) -> &'a mut TopicEntry {
        topics
            .entry(TopicName(Arc::clone(name)))
            .or_insert_with(|| TopicEntry::new(Arc::clone(name), self.config.batch_size))
    }

    /// Append a record to its partition's open batch (opening one if needed). `partitions`
    /// describes the topic per the current metadata. Returns once the record is in the buffer:
    /// with [`Blocking::Wait`] after waiting up to `max_block` for buffer memory.
    pub async fn append(
        &self,
        record: ProducerRecord,
        partitions: PartitionAvailability<'_>,
        blocking: Blocking,
    ) -> Result<DeliveryFuture, ProducerError> {
        let mut record = record;
        let mut reservation = None;
        loop {
            match self.append_now(
                record,
                PartitionSource::Given(partitions),
                reservation.take(),
            ) {
                Ok(future) => return Ok(future),
                Err(AppendDeferred::Failed(e)) => return Err(e),
                Err(AppendDeferred::NeedMetadata(_)) => {
                    // `Given` partitions never need metadata.
                    return Err(ProducerError::Fatal(
                        "the accumulator asked for metadata it was given".into(),
                    ));
                }
                Err(AppendDeferred::NeedMemory { record: r, bytes }) => {
                    reservation = Some(match blocking {
                        Blocking::Wait => self.memory.reserve(bytes, self.config.max_block).await?,
                        Blocking::NoWait => self.memory.try_reserve(bytes)?,
                    });
                    record = *r;
                }
            }
        }
    }

    /// Append a record without waiting: the producer's hot path. Appends to the partition's
    /// open batch, or opens a batch with `reservation` or with memory free right now.
    /// Otherwise hands the record back, saying what is missing: the topic's partitions (with
    /// [`PartitionSource::Cached`] when none are cached for that metadata version) or buffer
    /// memory (reserve it, then call again with the reservation).
    ///
    /// One map lookup, the topic's read lock, the partition's lock; no allocation unless a
    /// batch is opened. Lock order: the topic map (read), then the partition queue.
    pub fn append_now(
        &self,
        record: ProducerRecord,
        source: PartitionSource<'_>,
        reservation: Option<Reservation>,
    ) -> Result<DeliveryFuture, AppendDeferred> {
        if self.closed.load(Ordering::Acquire) {
            return Err(AppendDeferred::Failed(ProducerError::Closed {
                reason: CloseReason::AlreadyClosed,
            }));
        }
        let size = RECORD_BATCH_OVERHEAD + record.encoded_size_upper_bound();
        if size > self.config.max_request_size {
            return Err(AppendDeferred::Failed(ProducerError::RecordTooLarge {
                size,
                max_request_size: self.config.max_request_size,
            }));
        }
        if size > self.config.buffer_memory {
            return Err(AppendDeferred::Failed(
                ProducerError::RecordLargerThanBuffer {
                    size,
                    buffer_memory: self.config.buffer_memory,
                },
            ));
        }
        let mut record = record;
        let topics = match source {
            PartitionSource::Cached(_) => self.read_topics(),
            _ => self.prepare_topic(&record.topic, source),
        };
        // Look up with the record's own `Arc` (moved in and back: no reference count traffic).
        let key = TopicName(record.topic);
        let found = topics.get(&key);
        record.topic = key.0;
        let Some(topic) = found else {
            return Err(AppendDeferred::NeedMetadata(Box::new(record)));
        };
        let table = &topic.table;
        let partitions = match source {
            PartitionSource::Cached(version) => match table.cached_at(version) {
                Some(p) => p,
                None => return Err(AppendDeferred::NeedMetadata(Box::new(record))),
            },
            PartitionSource::Fresh { info, .. } => PartitionAvailability {
                count: info.partitions,
                available: &info.available,
            },
            PartitionSource::Given(p) => p,
        };
        let assignment = match topic.partitioner.assign(
            &self.config,
            &record.topic,
            record.partition,
            record.key.as_deref(),
            record.value.as_deref(),
            partitions,
        ) {
            Ok(a) => a,
            Err(e) => return Err(AppendDeferred::Failed(e.into())),
        };
        let Some(queue) = usize::try_from(assignment.partition)
            .ok()
            .and_then(|i| table.queues.get(i))
        else {
            // `assign` checked the partition against the count the queues were grown to.
            return Err(AppendDeferred::Failed(ProducerError::Fatal(
                "no queue for an assigned partition".into(),
            )));
        };
        let timestamp = record.timestamp.unwrap_or_else(now_millis);
        let batch_size = self.config.batch_size;
        let mut q = lock(queue);
        let appended = match q.batches.back_mut() {
            Some(last) => last.try_append(
                timestamp,
                record.key.as_deref(),
                record.value.as_deref(),
                &record.headers,
                batch_size,
            ),
            None => Ok(None),
        };
        let (future, bytes, full, opened) = match appended {
            Err(e) => return Err(AppendDeferred::Failed(e)),
            Ok(Some((future, bytes))) => {
                // A reservation we brought is not needed: dropped, it returns to the pool.
                let full = q.batches.back().is_some_and(|b| b.is_full(batch_size));
                (future, bytes, full, false)
            }
            Ok(None) => {
                let want = size.max(batch_size);
                let reservation = match reservation {
                    Some(r) => r,
                    None => match self.memory.try_reserve(want) {
                        Ok(r) => r,
                        Err(ProducerError::WouldBlock { .. }) => {
                            drop(q);
                            return Err(AppendDeferred::NeedMemory {
                                record: Box::new(record),
                                bytes: want,
                            });
                        }
                        Err(e) => return Err(AppendDeferred::Failed(e)),
                    },
                };
                let mut batch = self.open_batch(&topic.name, assignment.partition, reservation);
                let appended = batch.try_append(
                    timestamp,
                    record.key.as_deref(),
                    record.value.as_deref(),
                    &record.headers,
                    batch_size,
                );
                let (future, bytes) = match appended {
                    Ok(Some(a)) => a,
                    Ok(None) => {
                        return Err(AppendDeferred::Failed(ProducerError::Fatal(
                            "a new batch refused its first record".into(),
                        )));
                    }
                    Err(e) => return Err(AppendDeferred::Failed(e)),
                };
                let full = batch.is_full(batch_size);
                q.batches.push_back(batch);
                (future, bytes, full, true)
            }
        };
        drop(q);
        topic
            .partitioner
            .on_append(assignment, bytes, full, partitions);
        drop(topics);
        if opened || full {
            self.wake_sender();
        }
        Ok(future)
    }

    /// For partitions given (not cached): create the topic's entry, grow its queues or refresh
    /// its cache under the write lock if needed, then read-lock the map for the append.
    fn prepare_topic(
        &self,
        name: &Arc<str>,
        source: PartitionSource<'_>,
    ) -> std::sync::RwLockReadGuard<'_, TopicMap> {
        if let PartitionSource::Given(p) = source {
            let n = usize::try_from(p.count).unwrap_or(0);
            let topics = self.read_topics();
            let ready = topics
                .get(&TopicName(Arc::clone(name)))
                .is_some_and(|e| e.table.queues.len() >= n);
            if ready {
                return topics;
            }
        }
        {
            let mut topics = self.write_topics();
            let entry = self.entry(&mut topics, name);
            match source {
                PartitionSource::Fresh { version, info } => {
                    entry
                        .table
                        .grow(usize::try_from(info.partitions).unwrap_or(0));
                    entry.table.cached = Some(CachedPartitions {
                        version,
                        info: info.clone(),
                    });
                }
                PartitionSource::Given(p) => {
                    entry.table.grow(usize::try_from(p.count).unwrap_or(0));
                }
                PartitionSource::Cached(_) => {}
            }
        }
        self.read_topics()
    }

    fn open_batch(
        &self,
        topic: &Arc<str>,
        partition: i32,
        reservation: Reservation,
    ) -> ProducerBatch {
        let capacity = reservation.bytes();
        let id = self.next_id.fetch_add(BATCH_ID_SPAN, Ordering::Relaxed);
        ProducerBatch::new(
            id,
            BATCH_ID_SPAN,
            TopicPartition {
                topic: Arc::clone(topic),
                partition,
            },
            self.config.compression,
            self.config.compression_level(),
            // KIP-98: batches of a transactional producer carry the transactional flag, so
            // read_committed readers hold them back until the COMMIT/ABORT marker.
            self.config.transactional_id.is_some(),
            capacity,
            reservation,
            Arc::clone(&self.incomplete),
            Instant::now(),
        )
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
        for (_, q) in self.all_queues().iter() {
            let taken: Vec<_> = lock(q).batches.drain(..).collect();
            n += taken.len();
            for b in taken {
                b.fail(error.clone());
            }
        }
        n
    }

    /// Feed every topic's adaptive sticky partitioner with its partitions' queue lengths
    /// (batches waiting), as Java does on each sender round (KIP-794), leaving out partitions
    /// whose leader (`leader_for`) has stalled past `partitioner_availability_timeout`. No-op
    /// when `partitioner_adaptive` is off (Java ignores the timeout then too).
    pub fn update_partitioner_load(&self, leader_for: &dyn Fn(&TopicPartition) -> Option<i32>) {
        if !self.config.partitioner_adaptive {
            return;
        }
        let stalled = self.latencies.stalled();
        let topics = self.read_topics();
        for t in topics.values() {
            let loads: Vec<(i32, u32)> = t
                .table
                .queues
                .iter()
                .enumerate()
                .map(|(p, q)| (p as i32, q))
                .filter(|&(partition, _)| {
                    stalled.is_empty()
                        || leader_for(&TopicPartition {
                            topic: Arc::clone(&t.name),
                            partition,
                        })
                        .is_none_or(|leader| !stalled.contains(&leader))
                })
                .map(|(p, q)| (p, lock(q).batches.len() as u32))
                .collect();
            t.partitioner.sticky().update_load(&loads);
        }
    }

    /// Every partition's queue; a shared snapshot, rebuilt after the topic map changed.
    fn all_queues(&self) -> QueueList {
        let topics = self.read_topics();
        let generation = self.topics_generation.load(Ordering::Acquire);
        let mut cached = lock_plain(&self.queue_list);
        if cached.0 != generation {
            let list: Vec<_> = topics
                .values()
                .flat_map(|t| {
                    t.table.queues.iter().enumerate().map(|(partition, q)| {
                        (
                            TopicPartition {
                                topic: Arc::clone(&t.name),
                                partition: partition as i32,
                            },
                            Arc::clone(q),
                        )
                    })
                })
                .collect();
            *cached = (generation, Arc::from(list));
        }
        Arc::clone(&cached.1)
    }

    fn queue_of(&self, tp: &TopicPartition) -> SharedQueue {
        let idx = tp.partition.max(0) as usize;
        if let Some(q) = self
            .read_topics()
            .get(&TopicName(Arc::clone(&tp.topic)))
            .and_then(|t| t.table.queues.get(idx))
        {
            return Arc::clone(q);
        }
        let mut topics = self.write_topics();
        let entry = self.entry(&mut topics, &tp.topic);
        entry.table.grow(idx + 1);
        Arc::clone(&entry.table.queues[idx])
    }

    fn linger(&self) -> Duration {
        self.config.linger
    }
}

/// Locks one of the accumulator's own small mutexes; a panic under them leaves nothing
/// half-done worth refusing.
fn lock_plain<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
