//! The sender's side of the accumulator: drain ready batches per leader, requeue failed ones in
//! order, expire old ones.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::{ProducerBatch, RecordAccumulator, lock};
use crate::error::ProducerError;
use crate::idempotence::{Admission, Idempotence, Outcome, TopicPartition};

/// What [`RecordAccumulator::drain`] needs to know from the sender.
pub struct DrainContext<'a> {
    /// The current time.
    pub now: Instant,
    /// The leader's node id of a partition, if metadata knows it.
    pub leader_for: &'a dyn Fn(&TopicPartition) -> Option<i32>,
    /// Whether a node can take another request now (connected, not throttled, below
    /// `max_in_flight`).
    pub node_ready: &'a dyn Fn(i32) -> bool,
    /// The idempotence bookkeeping, for idempotent producers.
    pub idempotence: Option<&'a mut Idempotence>,
}

/// The result of one [`RecordAccumulator::drain`].
#[derive(Debug, Default)]
pub struct Drained {
    /// Sealed batches to send, by leader node; at most one per partition, at most
    /// `max_request_size` bytes per node (or one batch).
    pub batches: HashMap<i32, Vec<ProducerBatch>>,
    /// Batches that could not be encoded; fail them with the error.
    pub failed: Vec<(ProducerBatch, ProducerError)>,
    /// Partitions with ready batches but no known leader: refresh metadata.
    pub unknown_leaders: Vec<TopicPartition>,
    /// When the next not-yet-ready batch becomes ready (linger or retry backoff).
    pub next_ready: Option<Instant>,
    /// Whether batches are still queued after this drain (waiting for linger, a backoff, a
    /// leader, a free node or their turn).
    pub waiting: bool,
}

impl Drained {
    fn wake_at(&mut self, at: Instant) {
        self.next_ready = Some(self.next_ready.map_or(at, |n| n.min(at)));
    }

    /// Whether nothing was drained or failed.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty() && self.failed.is_empty()
    }
}

impl RecordAccumulator {
    /// Take the head batch of every ready partition whose leader can take a request. A batch is
    /// ready when it is full, when a newer batch exists behind it, when `linger` has passed
    /// since its first record, during a flush or after close, and not before its retry backoff
    /// ends. With idempotence, the bookkeeping decides (sequence order, 5-batch window, epoch
    /// bumps) and the batch gets its producer id, epoch and sequence here. Partitions are
    /// visited from a rotating start so none starves.
    pub fn drain(&self, ctx: DrainContext<'_>) -> Drained {
        let DrainContext {
            now,
            leader_for,
            node_ready,
            mut idempotence,
        } = ctx;
        let mut out = Drained::default();
        let queues = self.all_queues();
        if queues.is_empty() {
            return out;
        }
        let batch_size = self.config.batch_size;
        let max_request = self.config.max_request_size;
        let linger = self.linger();
        let urgent = self.flushing.load(Ordering::Acquire) > 0 || self.is_closed();
        let keep_order = idempotence.is_none() && self.config.max_in_flight == 1;
        let start = self.drain_start.fetch_add(1, Ordering::Relaxed) % queues.len();
        let mut sizes: HashMap<i32, usize> = HashMap::new();
        // Partitions that still have queued batches.
        let mut waiting = 0usize;
        // Leaders with a ready batch, and whether they could take it (KIP-794's stall check).
        let mut leaders_seen: HashMap<i32, bool> = HashMap::new();
        let note_leaders = self.latencies.enabled();

        for i in 0..queues.len() {
            let (tp, queue) = &queues[(start + i) % queues.len()];
            let mut q = lock(queue);
            let Some(head) = q.batches.front() else {
                continue;
            };
            // Counted as waiting unless its only batch is taken below.
            waiting += 1;
            if q.muted {
                continue;
            }
            if let Some(at) = head.retry_at()
                && at > now
            {
                out.wake_at(at);
                continue;
            }
            let linger_end = head.created() + linger;
            let ready = urgent
                || q.batches.len() > 1
                || head.is_full(batch_size)
                || !head.is_open()
                || now >= linger_end;
            if !ready {
                out.wake_at(linger_end);
                continue;
            }
            let Some(leader) = leader_for(tp) else {
                out.unknown_leaders.push(tp.clone());
                continue;
            };
            let can_take = node_ready(leader);
            if note_leaders {
                *leaders_seen.entry(leader).or_insert(false) |= can_take;
            }
            if !can_take {
                continue;
            }
            let used = sizes.get(&leader).copied().unwrap_or(0);
            if used > 0 && used + head.size() > max_request {
                continue;
            }
            let admission = match idempotence.as_deref_mut() {
                Some(idem) => idem.admit(tp, head.id(), head.record_count()),
                None => Admission::Wait,
            };
            if idempotence.is_some() && admission == Admission::Wait {
                continue;
            }
            let Some(mut batch) = q.batches.pop_front() else {
                continue;
            };
            if q.batches.is_empty() {
                waiting -= 1;
            }
            if keep_order {
                q.muted = true;
            }
            drop(q);
            let producer = match admission {
                Admission::Send {
                    producer,
                    base_sequence,
                } => Some((producer, base_sequence)),
                _ => None,
            };
            // Sealing compresses: done outside the partition lock.
            if let Err(e) = batch.seal(producer) {
                if let Some(idem) = idempotence.as_deref_mut() {
                    idem.on_outcome(
                        tp,
                        batch.id(),
                        Outcome::Failed {
                            maybe_written: false,
                        },
                    );
                }
                out.failed.push((batch, e));
                continue;
            }
            batch.record_attempt();
            *sizes.entry(leader).or_insert(0) += batch.size();
            out.batches.entry(leader).or_default().push(batch);
        }
        out.waiting = waiting > 0;
        self.latencies.record(now, &leaders_seen);
        out
    }

    /// Put a batch whose attempt failed retriably back at the head of its partition, in
    /// order of creation (so in sequence order), to be resent after the retry backoff.
    pub fn reenqueue(&self, mut batch: ProducerBatch, error: ProducerError, now: Instant) {
        let backoff = self.config.backoff_for(batch.attempts());
        batch.set_retry(now + backoff, error);
        let queue = self.queue_of(batch.topic_partition());
        {
            let mut q = lock(&queue);
            let at = q
                .batches
                .iter()
                .position(|b| b.id() > batch.id())
                .unwrap_or(q.batches.len());
            q.batches.insert(at, batch);
            q.muted = false;
        }
        self.rescan_expiry();
        self.wake_sender();
    }

    /// Let a partition's next batch go (after the in-flight one completed, when order is kept
    /// without idempotence).
    pub fn unmute(&self, tp: &TopicPartition) {
        let queue = self.queue_of(tp);
        let was = std::mem::replace(&mut lock(&queue).muted, false);
        if was {
            self.wake_sender();
        }
    }

    /// Take out every queued batch older than `delivery_timeout`; the caller fails them.
    ///
    /// A scan remembers when its oldest remaining batch will expire; until then there is
    /// nothing to scan for (a batch opened later expires later still), unless a batch from
    /// an earlier time came back to a queue ([`reenqueue`](Self::reenqueue), a split).
    pub fn expire(&self, now: Instant) -> Vec<ProducerBatch> {
        let timeout = self.config.delivery_timeout;
        let mut next_expiry = super::lock_plain(&self.next_expiry);
        if next_expiry.is_some_and(|at| now < at) {
            return Vec::new();
        }
        let mut expired = Vec::new();
        let mut earliest = now + timeout;
        for (_, queue) in self.all_queues().iter() {
            let mut q = lock(queue);
            if q.batches.iter().any(|b| now >= b.created() + timeout) {
                let (old, keep): (Vec<_>, Vec<_>) = q
                    .batches
                    .drain(..)
                    .partition(|b| now >= b.created() + timeout);
                q.batches.extend(keep);
                expired.extend(old);
            }
            if let Some(oldest) = q.batches.iter().map(ProducerBatch::created).min() {
                earliest = earliest.min(oldest + timeout);
            }
        }
        *next_expiry = Some(earliest);
        expired
    }

    /// A batch created earlier than the queued ones came back to a queue: the next
    /// [`expire`](Self::expire) must scan.
    pub(super) fn rescan_expiry(&self) {
        *super::lock_plain(&self.next_expiry) = None;
    }
}
