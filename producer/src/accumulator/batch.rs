//! One partition's batch on its way: open for appends, then sealed, sent, maybe retried, and
//! finally completed (which resolves every record's [`DeliveryFuture`]).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use klamm_protocol::record::{BatchBuilder, Compression, RecordBatch, RecordHeader, SealedBatch};
use tokio::time::Instant;

use crate::delivery::{
    BatchCompleter, BatchOutcome, BatchSink, Completion, DeliveryFuture, Resolved, SplitParent,
};
use crate::error::ProducerError;
use crate::idempotence::next_sequence;
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
    /// How many ids from `id` on belong to this batch (its pieces take ids from this range,
    /// so they sort where the batch did).
    id_span: u64,
    /// Where the outcome goes; `None` once reported.
    sink: Option<BatchSink>,
    _reservation: Option<Reservation>,
    created: Instant,
    attempts: u32,
    retry_at: Option<Instant>,
    last_error: Option<ProducerError>,
    registry: Arc<Incomplete>,
    /// The compression level (KIP-390) its records are compressed at, `None` for the codec's
    /// default; the pieces of a split keep it.
    level: Option<i32>,
}

/// A batch builder for `compression` at `level` (the codec's default when `None`).
fn builder(compression: Compression, level: Option<i32>, capacity: usize) -> BatchBuilder {
    let b = BatchBuilder::with_capacity(compression, capacity);
    match level {
        Some(level) => b.compression_level(level),
        None => b,
    }
}

impl ProducerBatch {
    #[allow(clippy::too_many_arguments)] // one call site, in the accumulator
    pub(crate) fn new(
        id: BatchId,
        id_span: u64,
        tp: TopicPartition,
        compression: Compression,
        level: Option<i32>,
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
            body: Body::Open(builder(compression, level, capacity).transactional(transactional)),
            level,
            records: 0,
            id_span,
            sink: Some(BatchSink::Own(completer)),
            _reservation: Some(reservation),
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
        let (Body::Open(builder), Some(BatchSink::Own(completer))) = (&mut self.body, &self.sink)
        else {
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
        let future = completer.future(delta.max(0) as u32, timestamp);
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
    pub fn complete(mut self, base_offset: i64, log_append_time: Option<i64>) {
        self.report(Resolved::Whole(Ok(BatchOutcome {
            base_offset,
            log_append_time,
        })));
    }

    fn report(&mut self, resolved: Resolved) {
        if let Some(sink) = self.sink.take() {
            sink.report(resolved);
        }
    }

    /// Resolve every record's future with `error`.
    pub fn fail(mut self, error: ProducerError) {
        tracing::debug!(topic = %self.tp.topic, partition = self.tp.partition,
            records = self.records, %error, "batch failed");
        self.report(Resolved::Whole(Err(error)));
    }
}

impl ProducerBatch {
    /// Whether this batch can be split in two (after MESSAGE_TOO_LARGE): sealed, more than
    /// one record, its outcome not reported yet, and ids left in its range for the pieces.
    pub fn can_split(&self) -> bool {
        self.records > 1
            && self.id_span >= 3
            && matches!(self.body, Body::Sealed(_))
            && self.sink.is_some()
    }

    /// Cut the batch into two halves by record count (Java's `ProducerBatch.split`, which
    /// `RecordAccumulator.splitAndReenqueue` uses after MESSAGE_TOO_LARGE). The pieces keep
    /// the records' timestamps, keys, values and headers, the compression, the transactional
    /// flag, the producer id and epoch, and between them the batch's sequence range (the
    /// first piece starts at the batch's base sequence, the second right after it); they take
    /// ids from the batch's id range, so they sort where it did, and its creation time, so
    /// `delivery_timeout` still counts from the first append. Each record's future resolves
    /// from the piece its record went to. On failure the batch comes back with the error.
    pub(crate) fn split(
        mut self,
        error: ProducerError,
    ) -> Result<[ProducerBatch; 2], Box<(ProducerBatch, ProducerError)>> {
        let halves = match self.encode_halves() {
            Ok(h) => h,
            Err(e) => return Err(Box::new((self, e))),
        };
        let Some(sink) = self.sink.take() else {
            return Err(Box::new((self, error)));
        };
        let [(first, first_count), (second, second_count)] = halves;
        let mut sinks = SplitParent::split(sink, vec![0, first_count as u32]).into_iter();
        let (Some(first_sink), Some(second_sink)) = (sinks.next(), sinks.next()) else {
            return Err(Box::new((self, error)));
        };
        let span = (self.id_span - 1) / 2;
        let root = first_sink.root();
        let piece = |offset: u64, body, records, sink, reservation| {
            let id = self.id + 1 + offset;
            self.registry.lock().insert(id, Arc::clone(&root));
            ProducerBatch {
                id,
                tp: self.tp.clone(),
                body: Body::Sealed(body),
                records,
                id_span: span,
                sink: Some(BatchSink::Piece(sink)),
                _reservation: reservation,
                created: self.created,
                attempts: 0,
                retry_at: None,
                last_error: Some(error.clone()),
                registry: Arc::clone(&self.registry),
                level: self.level,
            }
        };
        // The first piece holds the batch's buffer memory until it completes.
        let reservation = self._reservation.take();
        let a = piece(0, first, first_count, first_sink, reservation);
        let b = piece(span, second, second_count, second_sink, None);
        Ok([a, b])
    }

    /// The two halves, encoded and sealed, with their record counts.
    fn encode_halves(&self) -> Result<[(SealedBatch, i32); 2], ProducerError> {
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            ProducerError::Fatal(format!("splitting a batch: {what}: {e}").into())
        };
        let Body::Sealed(sealed) = &self.body else {
            return Err(ProducerError::Fatal(
                "only a sealed batch can be split".into(),
            ));
        };
        let decoded = RecordBatch::decode(sealed.to_bytes()).map_err(|e| bad("decode", &e))?;
        let records = decoded
            .records()
            .map_err(|e| bad("records", &e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("records", &e))?;
        let cut = records.len() / 2;
        let (producer_id, epoch, base) = (
            decoded.producer_id(),
            decoded.producer_epoch(),
            decoded.base_sequence(),
        );
        let mut out = Vec::with_capacity(2);
        for (i, part) in [&records[..cut], &records[cut..]].into_iter().enumerate() {
            let mut b = builder(decoded.compression(), self.level, sealed.size())
                .transactional(decoded.is_transactional());
            if producer_id >= 0 {
                let sequence = if i == 0 {
                    base
                } else {
                    next_sequence(base, cut as i32)
                };
                b.set_producer(producer_id, epoch, sequence);
            }
            for r in part {
                let headers: Vec<RecordHeader> = r.headers.iter().collect();
                b.append(r.timestamp, r.key.as_deref(), r.value.as_deref(), &headers)
                    .map_err(|e| bad("encode", &e))?;
            }
            let count = b.record_count();
            out.push((b.seal().map_err(|e| bad("seal", &e))?, count));
        }
        let mut out = out.into_iter();
        match (out.next(), out.next()) {
            (Some(a), Some(b)) if a.1 > 0 && b.1 > 0 => Ok([a, b]),
            _ => Err(ProducerError::Fatal(
                "splitting a batch: fewer than two records".into(),
            )),
        }
    }
}

impl Drop for ProducerBatch {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
        // The sink's own Drop resolves the futures with Closed if nothing else did.
    }
}
