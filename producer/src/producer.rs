//! The [`Producer`] handle: `send`, `try_send`, `flush`, `close`.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::accumulator::{AppendDeferred, PartitionSource, RecordAccumulator};
use crate::config::ProducerConfig;
use crate::delivery::DeliveryFuture;
use crate::error::{CloseReason, ProducerError};
use crate::partitioner::PartitionAvailability;
use crate::record::ProducerRecord;
use crate::sender::{Sender, SenderMetrics, SenderShared, TopicInfo, TransactionHook, Transport};

/// An idempotent (by default) asynchronous Kafka producer. Cheap to clone; clones share one
/// buffer and one sender task. See the crate docs for an example.
///
/// Dropping the last handle does not lose accepted records: new records are refused, and the
/// sender task goes on until every accepted record was sent or failed (bounded by
/// `delivery_timeout`); their futures resolve either way. Use [`close`](Self::close) to wait
/// for that.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<ProducerConfig>,
    acc: Arc<RecordAccumulator>,
    transport: Arc<dyn Transport>,
    shared: Arc<SenderShared>,
    sender: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Refuse new records; the sender task drains what was accepted and then ends.
        self.acc.close();
    }
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("client_id", &self.inner.config.client_id)
            .field("closed", &self.inner.acc.is_closed())
            .finish_non_exhaustive()
    }
}

/// A snapshot of the producer's counters, named after Java's metrics where one exists.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProducerMetrics {
    /// Records acknowledged (Java: `record-send-total`).
    pub records_sent: u64,
    /// Bytes of acknowledged batches, as sent (Java: `byte-total`).
    pub bytes_sent: u64,
    /// Batches acknowledged.
    pub batches_sent: u64,
    /// Average acknowledged batch size in bytes (Java: `batch-size-avg`).
    pub batch_size_avg: u64,
    /// Batch attempts retried (Java: `record-retry-total` counts records).
    pub retries: u64,
    /// Batches failed for good (Java: `record-error-total` counts records).
    pub batches_failed: u64,
    /// Produce requests sent (Java: `request-total`).
    pub requests: u64,
    /// Batches split in two because the broker refused them as too large (Java:
    /// `batch-split-total`).
    pub batches_split: u64,
    /// Sum of the brokers' throttle times (Java: `produce-throttle-time-*`).
    pub throttle_time_ms: u64,
    /// Producer ids and epoch bumps obtained.
    pub producer_ids: u64,
    /// Free buffer memory (Java: `buffer-available-bytes`).
    pub buffer_available_bytes: usize,
    /// Total buffer memory (Java: `buffer-total-bytes`).
    pub buffer_total_bytes: usize,
    /// Batches without an outcome yet, queued or in flight.
    pub batches_incomplete: usize,
}

impl Producer {
    /// A builder: Java's settings and defaults, then `build().await` connects.
    pub fn builder() -> crate::ProducerBuilder {
        crate::ProducerBuilder::default()
    }

    /// A producer over any [`Transport`], for tests and custom networking. Spawns the sender
    /// task on the current Tokio runtime (panics outside one, like `tokio::spawn`).
    pub fn with_transport(config: ProducerConfig, transport: Arc<dyn Transport>) -> Producer {
        Producer::with_transport_and_hook(config, transport, None)
    }

    /// Like [`with_transport`](Self::with_transport), with a transaction manager steering the
    /// sender (klamm-txn; see [`TransactionHook`]).
    pub fn with_transport_and_hook(
        config: ProducerConfig,
        transport: Arc<dyn Transport>,
        hook: Option<Arc<dyn TransactionHook>>,
    ) -> Producer {
        let config = Arc::new(config);
        let acc = Arc::new(RecordAccumulator::new(Arc::clone(&config)));
        let shared = Arc::new(SenderShared::default());
        let sender = Sender::new(
            Arc::clone(&config),
            Arc::clone(&acc),
            Arc::clone(&transport),
            Arc::clone(&shared),
        )
        .with_hook(hook);
        // The sender task's span carries the client id (and the transactional id) into every
        // event it emits: connection, retry, epoch bump, fencing.
        let span = tracing::info_span!(
            "klamm_producer_sender",
            client_id = %config.client_id,
            transactional_id = config.transactional_id.as_deref().unwrap_or("")
        );
        let handle = tokio::spawn(tracing::Instrument::instrument(sender.run(), span));
        Producer {
            inner: Arc::new(Inner {
                config,
                acc,
                transport,
                shared,
                sender: std::sync::Mutex::new(Some(handle)),
            }),
        }
    }

    /// The settings this producer runs with.
    pub fn config(&self) -> &ProducerConfig {
        &self.inner.config
    }

    fn check_usable(&self) -> Result<(), ProducerError> {
        if let Some(e) = self.inner.shared.fatal() {
            return Err(e.clone());
        }
        if self.inner.acc.is_closed() {
            return Err(ProducerError::Closed {
                reason: CloseReason::AlreadyClosed,
            });
        }
        Ok(())
    }

    /// The topic's partitions: cached, or fetched (retrying with backoff) until `deadline`.
    async fn topic_info(
        &self,
        topic: &Arc<str>,
        start: Instant,
        deadline: Instant,
    ) -> Result<TopicInfo, ProducerError> {
        if let Some(info) = self.inner.transport.cached_topic(topic) {
            return Ok(info);
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let fetched =
                tokio::time::timeout_at(deadline, self.inner.transport.fetch_topic(topic)).await;
            let last = match fetched {
                Ok(Ok(info)) if info.partitions > 0 => return Ok(info),
                Ok(Ok(_)) => None,
                Ok(Err(e)) if !e.is_retriable() => return Err(e),
                Ok(Err(e)) => Some(e),
                Err(_elapsed) => None,
            };
            let backoff = self.inner.config.backoff_for(attempt);
            if Instant::now() + backoff >= deadline {
                return Err(ProducerError::MetadataTimeout {
                    topic: Arc::clone(topic),
                    waited: start.elapsed(),
                    last_error: last.map(Arc::new),
                });
            }
            tokio::time::sleep(backoff).await;
        }
    }

    /// Send a record: returns once it is in the buffer, with a future for its outcome.
    ///
    /// Waits for the topic's metadata and for buffer memory, both within one `max_block`
    /// (Java's `max.block.ms`): time spent waiting for metadata is not available for memory.
    /// When both are at hand (the usual case) this does not suspend at all: it appends the
    /// record under its partition's lock and returns.
    ///
    /// Errors here mean the record was not accepted: too large, no such partition, no
    /// metadata or no memory within `max_block`, producer closed or failed.
    ///
    /// Like any future, it does nothing until polled (awaited).
    pub fn send(&self, record: ProducerRecord) -> SendFuture<'_> {
        SendFuture {
            state: SendState::Start(self, record),
        }
    }

    /// `send`'s first step, without waiting: append if the topic's partitions are cached and
    /// memory is at hand; otherwise say what is missing.
    fn send_now(&self, record: ProducerRecord) -> Result<DeliveryFuture, AppendDeferred> {
        if let Err(e) = self.check_usable() {
            return Err(AppendDeferred::Failed(e));
        }
        let transport = &self.inner.transport;
        match transport.metadata_version() {
            Some(version) => {
                self.inner
                    .acc
                    .append_now(record, PartitionSource::Cached(version), None)
            }
            // A transport that cannot tell when metadata changed is asked every time.
            None => match transport.cached_topic(&record.topic) {
                Some(info) => {
                    let partitions = PartitionAvailability {
                        count: info.partitions,
                        available: &info.available,
                    };
                    self.inner
                        .acc
                        .append_now(record, PartitionSource::Given(partitions), None)
                }
                None => Err(AppendDeferred::NeedMetadata(Box::new(record))),
            },
        }
    }

    /// `send`'s slow path: wait for what the record lacks (metadata, memory) within one
    /// `max_block` budget, then append.
    async fn send_waiting(
        &self,
        mut deferred: AppendDeferred,
    ) -> Result<DeliveryFuture, ProducerError> {
        let start = Instant::now();
        let deadline = start + self.inner.config.max_block;
        let mut fresh: Option<(Option<u64>, TopicInfo)> = None;
        let mut reservation = None;
        loop {
            let record = match deferred {
                AppendDeferred::Failed(e) => return Err(e),
                AppendDeferred::NeedMetadata(record) => {
                    let version = self.inner.transport.metadata_version();
                    let info = self.topic_info(&record.topic, start, deadline).await?;
                    fresh = Some((version, info));
                    record
                }
                AppendDeferred::NeedMemory { record, bytes } => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    let reserved = self.inner.acc.memory().reserve(bytes, remaining).await;
                    reservation = Some(reserved.map_err(|e| match e {
                        ProducerError::BufferExhausted { requested, .. } => {
                            ProducerError::BufferExhausted {
                                requested,
                                waited: start.elapsed(),
                            }
                        }
                        other => other,
                    })?);
                    record
                }
            };
            self.check_usable()?;
            let source = match &fresh {
                Some((Some(version), info)) => PartitionSource::Fresh {
                    version: *version,
                    info,
                },
                Some((None, info)) => PartitionSource::Given(PartitionAvailability {
                    count: info.partitions,
                    available: &info.available,
                }),
                None => match self.inner.transport.metadata_version() {
                    Some(version) => PartitionSource::Cached(version),
                    None => {
                        deferred = AppendDeferred::NeedMetadata(record);
                        continue;
                    }
                },
            };
            deferred = match self
                .inner
                .acc
                .append_now(*record, source, reservation.take())
            {
                Ok(future) => return Ok(future),
                Err(d) => d,
            };
        }
    }

    /// Like [`send`](Self::send) but never waits: fails with
    /// [`ProducerError::WouldBlock`] when buffer memory is short and with
    /// [`ProducerError::MetadataTimeout`] when the topic's metadata is not cached yet.
    pub fn try_send(&self, record: ProducerRecord) -> Result<DeliveryFuture, ProducerError> {
        self.check_usable()?;
        let version = self.inner.transport.metadata_version();
        let deferred = match version {
            Some(v) => self
                .inner
                .acc
                .append_now(record, PartitionSource::Cached(v), None),
            None => Err(AppendDeferred::NeedMetadata(Box::new(record))),
        };
        let deferred = match deferred {
            Ok(future) => return Ok(future),
            Err(AppendDeferred::NeedMetadata(record)) => {
                let Some(info) = self.inner.transport.cached_topic(&record.topic) else {
                    let topic = Arc::clone(&record.topic);
                    self.inner.transport.refresh_metadata();
                    // Start fetching so that a later try_send finds it.
                    let fetch = self.inner.transport.fetch_topic(&topic);
                    tokio::spawn(async move { drop(fetch.await) });
                    return Err(ProducerError::MetadataTimeout {
                        topic,
                        waited: Duration::ZERO,
                        last_error: None,
                    });
                };
                let source = match version {
                    Some(version) => PartitionSource::Fresh {
                        version,
                        info: &info,
                    },
                    None => PartitionSource::Given(PartitionAvailability {
                        count: info.partitions,
                        available: &info.available,
                    }),
                };
                match self.inner.acc.append_now(*record, source, None) {
                    Ok(future) => return Ok(future),
                    Err(d) => d,
                }
            }
            Err(d) => d,
        };
        Err(match deferred {
            AppendDeferred::Failed(e) => e,
            AppendDeferred::NeedMemory { bytes, .. } => ProducerError::WouldBlock {
                requested: bytes,
                available: self.inner.acc.memory().available(),
            },
            AppendDeferred::NeedMetadata(_) => {
                ProducerError::Fatal("the accumulator asked for metadata it was given".into())
            }
        })
    }

    /// Send every buffered record now (ignoring `linger`) and wait until each record accepted
    /// before this call has its outcome. Outcomes are reported through the records' futures.
    pub async fn flush(&self) {
        struct EndFlush<'a>(&'a RecordAccumulator);
        impl Drop for EndFlush<'_> {
            fn drop(&mut self) {
                self.0.end_flush();
            }
        }
        self.inner.acc.begin_flush();
        let _end = EndFlush(&self.inner.acc);
        futures::future::join_all(self.inner.acc.incomplete()).await;
    }

    /// Fail every batch not yet sent with `error`, then wait until every batch already in
    /// flight has its outcome. A transaction's abort needs this: its ABORT markers must come
    /// after every write of the transaction, and nothing unsent may be written later.
    pub async fn abort_unsent(&self, error: ProducerError) {
        let n = self.inner.acc.abort_queued(&error);
        tracing::debug!(batches = n, "unsent batches failed");
        futures::future::join_all(self.inner.acc.incomplete()).await;
    }

    /// Refuse new records, send what is buffered, and wait up to `timeout` for every accepted
    /// record's outcome. When the time is up, what is left fails with
    /// `Closed { CloseTimeout }` and this returns that error. Closing twice is harmless.
    /// A producer from [`ProducerBuilder::build`](crate::ProducerBuilder::build) then closes
    /// the cluster it connected; one from
    /// [`build_on`](crate::ProducerBuilder::build_on) leaves the shared cluster open.
    pub async fn close(&self, timeout: Duration) -> Result<(), ProducerError> {
        self.inner.acc.close();
        let handle = self
            .inner
            .sender
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(mut handle) = handle else {
            return Ok(());
        };
        match tokio::time::timeout(timeout, &mut handle).await {
            Ok(_) => Ok(()),
            Err(_) => {
                tracing::warn!(?timeout, "close timed out; failing the remaining records");
                self.inner.shared.force_close();
                drop(handle.await);
                Err(ProducerError::Closed {
                    reason: CloseReason::CloseTimeout,
                })
            }
        }
    }

    /// The producer's counters.
    pub fn metrics(&self) -> ProducerMetrics {
        let m: SenderMetrics = self.inner.shared.metrics();
        let memory = self.inner.acc.memory();
        ProducerMetrics {
            records_sent: m.records_sent,
            bytes_sent: m.bytes_sent,
            batches_sent: m.batches_sent,
            batch_size_avg: m.bytes_sent.checked_div(m.batches_sent).unwrap_or(0),
            retries: m.retries,
            batches_failed: m.batches_failed,
            requests: m.requests,
            batches_split: m.splits,
            throttle_time_ms: m.throttle_time_ms,
            producer_ids: m.producer_ids,
            buffer_available_bytes: memory.available(),
            buffer_total_bytes: memory.total(),
            batches_incomplete: self.inner.acc.incomplete_batches(),
        }
    }
}

/// The future of [`Producer::send`]: resolves once the record is in the buffer, with its
/// [`DeliveryFuture`]. Small: the waiting part (metadata, memory) is boxed only when needed.
#[must_use = "futures do nothing unless polled: the record is not sent until this is awaited"]
pub struct SendFuture<'a> {
    state: SendState<'a>,
}

enum SendState<'a> {
    Start(&'a Producer, ProducerRecord),
    Waiting(BoxedSend<'a>),
    Done,
}

type BoxedSend<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<DeliveryFuture, ProducerError>> + Send + 'a>>;

impl std::fmt::Debug for SendFuture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            SendState::Start(..) => "start",
            SendState::Waiting(_) => "waiting",
            SendState::Done => "done",
        };
        f.debug_struct("SendFuture").field("state", &state).finish()
    }
}

impl Future for SendFuture<'_> {
    type Output = Result<DeliveryFuture, ProducerError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        // `SendFuture` is `Unpin` (a reference, a record, a pinned box).
        let this = &mut *self;
        if let SendState::Start(..) = this.state {
            let SendState::Start(producer, record) =
                std::mem::replace(&mut this.state, SendState::Done)
            else {
                return Poll::Ready(Err(ProducerError::Fatal("send polled twice".into())));
            };
            match producer.send_now(record) {
                Ok(future) => return Poll::Ready(Ok(future)),
                Err(AppendDeferred::Failed(e)) => return Poll::Ready(Err(e)),
                Err(deferred) => {
                    this.state = SendState::Waiting(Box::pin(producer.send_waiting(deferred)));
                }
            }
        }
        match &mut this.state {
            SendState::Waiting(fut) => {
                let out = fut.as_mut().poll(cx);
                if out.is_ready() {
                    this.state = SendState::Done;
                }
                out
            }
            _ => Poll::Ready(Err(ProducerError::Fatal(
                "send polled after it completed".into(),
            ))),
        }
    }
}

#[cfg(test)]
#[path = "producer_tests.rs"]
mod tests;
