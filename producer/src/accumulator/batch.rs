//! One partition's batch on its way: open for appends, then sealed, sent, maybe retried, and
//! finally completed (which resolves every record's [`DeliveryFuture`]).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use klamm_protocol::record::{BatchBuilder, Compression, SealedBatch};
use tokio::time::Instant;

use crate::delivery::{BatchCompleter, BatchOutcome, Completion, DeliveryFuture};
use crate::error::ProducerError;
use crate::idempotence::{BatchId, ProducerIdEpoch, TopicPartition};
use crate::memory::Reservation;
use crate::record::Header;

/// Batches whose outcome is not known yet, for `flush` (it waits for those that exist when it
/// starts). Each batch removes itself when it is dropped.
#[derive(Debug, Default)]
pub(crate) struct Incomplete {
    batches: Mutex<std::collections::HashMap<BatchId, Arc<Completion>>>,
}

impl Incomplete {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<BatchId, Arc<Completion>>> {
        self.batches.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Futures that resolve when each batch incomplete right now has its outcome.
    pub(crate) fn snapshot(&self) -> Vec<DeliveryFuture> {
        self.lock().values().map(DeliveryFuture::watch).collect()
    }

    /// How many batches have no outcome yet.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[derive(Debug)]
enum Body {
    Open(BatchBuilder),
    Sealed(SealedBatch),
    /// Only while sealing (the builder is moved out), or after sealing failed.
    Empty,
}

/// A record batch for one partition, with the futures of its records and the buffer memory it
/// holds.
#[derive(Debug)]
pub struct ProducerBatch {
    id: BatchId,
    tp: TopicPartition,
    body: Body,
    records: i32,
    completer: BatchCompleter,
    _reservation: Reservation,
    created: Instant,
    attempts: u32,
    retry_at: Option<Instant>,
    last_error: Option<ProducerError>,
    registry: Arc<Incomplete>,
}

impl ProducerBatch {
    #[allow(clippy::too_many_arguments)] // one call site, in the accumulator
    pub(crate) fn new(
        id: BatchId,
        tp: TopicPartition,
        compression: Compression,
        transactional: bool,
        capacity: usize,
        reservation: Reservation,
        registry: Arc<Incomplete>,
        now: Instant,
    ) -> Self {
        let completer = BatchCompleter::new(Arc::clone(&tp.topic), tp.partition);
        registry.lock().insert(id, completer.completion());
        ProducerBatch {
            id,
            tp,
            body: Body::Open(
                BatchBuilder::with_capacity(compression, capacity).transactional(transactional),
            ),
            records: 0,
            completer,
            _reservation: reservation,
            created: now,
            attempts: 0,
            retry_at: None,
            last_error: None,
            registry,
        }
    }

    /// The batch's lifelong id.
    pub fn id(&self) -> BatchId {
        self.id
    }

    /// Its topic and partition.
    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }

    /// Number of records.
    pub fn record_count(&self) -> i32 {
        self.records
    }

    /// Its size in bytes (uncompressed while open, exact once sealed).
    pub fn size(&self) -> usize {
        match &self.body {
            Body::Open(b) => b.size(),
            Body::Sealed(s) => s.size(),
            Body::Empty => 0,
        }
    }

    /// When its first record was appended.
    pub fn created(&self) -> Instant {
        self.created
    }

    /// How often it was drained for sending.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Not before this instant may it be resent (retry backoff).
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// The error of its last failed attempt.
    pub fn last_error(&self) -> Option<&ProducerError> {
        self.last_error.as_ref()
    }

    /// Whether appends are still possible.
    pub fn is_open(&self) -> bool {
        matches!(self.body, Body::Open(_))
    }

    /// Whether no more records fit: at least `batch_size` bytes, or sealed.
    pub fn is_full(&self, batch_size: usize) -> bool {
        match &self.body {
            Body::Open(b) => b.size() >= batch_size,
            _ => true,
        }
    }

    /// Append a record if the batch is open and it fits within `batch_size` (the first record
    /// always fits). Returns its future and the bytes it took.
    pub(crate) fn try_append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        batch_size: usize,
    ) -> Result<Option<(DeliveryFuture, usize)>, ProducerError> {
        let Body::Open(builder) = &mut self.body else {
            return Ok(None);
        };
        let before = builder.size();
        let appended = builder
            .try_append(batch_size, timestamp, key, value, headers)
            .map_err(|e| {
                ProducerError::Fatal(format!("record could not be encoded: {e}").into())
            })?;
        let Some(delta) = appended else {
            return Ok(None);
        };
        self.records += 1;
        // `try_append` returns the record's offset delta, never negative.
        let future = self.completer.future(delta.max(0) as u32, timestamp);
        Ok(Some((future, builder.size() - before)))
    }

    /// Close the batch for appends and encode it (compressing the records), with the producer
    /// id, epoch and base sequence if given (written before the CRC is computed, so the CRC is
    /// computed once).
    pub(crate) fn seal(
        &mut self,
        producer: Option<(ProducerIdEpoch, i32)>,
    ) -> Result<(), ProducerError> {
        if let Body::Open(_) = self.body {
            let Body::Open(mut builder) = std::mem::replace(&mut self.body, Body::Empty) else {
                return Ok(());
            };
            if let Some((p, base_sequence)) = producer {
                builder.set_producer(p.id, p.epoch, base_sequence);
            }
            let sealed = builder.seal().map_err(|e| {
                ProducerError::Fatal(format!("batch could not be encoded: {e}").into())
            })?;
            self.body = Body::Sealed(sealed);
        } else if let Some((p, base_sequence)) = producer {
            self.set_producer(p, base_sequence);
        }
        Ok(())
    }

    /// The producer id, epoch and base sequence the sealed batch carries, if any.
    pub fn producer_state(&self) -> Option<(ProducerIdEpoch, i32)> {
        match &self.body {
            Body::Sealed(s) if s.producer_id() >= 0 => Some((
                ProducerIdEpoch {
                    id: s.producer_id(),
                    epoch: s.producer_epoch(),
                },
                s.base_sequence(),
            )),
            _ => None,
        }
    }

    /// Write producer id, epoch and base sequence into the sealed batch (no-op if unchanged
    /// or not sealed).
    pub(crate) fn set_producer(&mut self, producer: ProducerIdEpoch, base_sequence: i32) {
        if self.producer_state() == Some((producer, base_sequence)) {
            return;
        }
        if let Body::Sealed(s) = &mut self.body {
            s.set_producer(producer.id, producer.epoch, base_sequence);
        }
    }

    /// The bytes to put in a Produce request (sealed batches only).
    pub fn wire_bytes(&self) -> Option<Bytes> {
        match &self.body {
            Body::Sealed(s) => Some(s.to_bytes()),
            _ => None,
        }
    }

    pub(crate) fn record_attempt(&mut self) {
        self.attempts = self.attempts.saturating_add(1);
    }

    pub(crate) fn set_retry(&mut self, at: Instant, error: ProducerError) {
        self.retry_at = Some(at);
        self.last_error = Some(error);
    }

    /// Resolve every record's future with the broker's answer (consumes the batch and frees
    /// its buffer memory).
    pub fn complete(self, base_offset: i64, log_append_time: Option<i64>) {
        self.completer.complete(Ok(BatchOutcome {
            base_offset,
            log_append_time,
        }));
    }

    /// Resolve every record's future with `error`.
    pub fn fail(self, error: ProducerError) {
        tracing::debug!(topic = %self.tp.topic, partition = self.tp.partition,
            records = self.records, %error, "batch failed");
        self.completer.complete(Err(error));
    }
}

impl Drop for ProducerBatch {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
        // The completer's own Drop resolves the futures with Closed if nothing else did.
    }
}
