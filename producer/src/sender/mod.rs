//! The sender task (one per producer): drains ready batches per leader into one Produce
//! request per broker, keeps at most `max_in_flight` requests per broker, applies the answers
//! (complete, requeue at the head of the partition, or fail), expires batches past
//! `delivery_timeout`, and keeps the idempotent producer id and epoch (KIP-360 bumps).
//!
//! No lock is held across an `.await`; the in-flight batches live in this task (keyed by
//! request), so a forced close fails them explicitly and a dropped task drops them, which
//! resolves their records' futures with [`ProducerError::Closed`] (DESIGN.md invariant 6).

mod cluster;
mod produce_queue;
mod produce_v12;
mod request;
mod response;
mod transport;
mod txn_hook;

pub use cluster::ClusterTransport;
pub use request::produce_request;
pub use response::{Verdict, classify, limit_retries, no_answer};
pub use transport::{TopicInfo, Transport};
pub use txn_hook::TransactionHook;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use klamm_protocol::messages::produce::ProduceResponse;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::Instrument;

use crate::accumulator::{DrainContext, ProducerBatch, RecordAccumulator};
use crate::config::{Acks, ProducerConfig};
use crate::error::{CloseReason, ProducerError};
use crate::idempotence::{Idempotence, ProducerIdEpoch};

/// State the sender shares with the producer handles.
#[derive(Debug, Default)]
pub struct SenderShared {
    fatal: OnceLock<ProducerError>,
    force_close: Notify,
    forced: std::sync::atomic::AtomicBool,
    metrics: Mutex<SenderMetrics>,
}

/// Counters the sender keeps (read with [`SenderShared::metrics`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SenderMetrics {
    /// Produce requests sent.
    pub requests: u64,
    /// Batches acknowledged.
    pub batches_sent: u64,
    /// Records acknowledged.
    pub records_sent: u64,
    /// Bytes of acknowledged batches (as sent, compressed).
    pub bytes_sent: u64,
    /// Batch attempts that were retried.
    pub retries: u64,
    /// Batches that failed for good.
    pub batches_failed: u64,
    /// Epoch bumps (KIP-360) and producer ids obtained.
    pub producer_ids: u64,
    /// Sum of the brokers' `throttle_time_ms` answers.
    pub throttle_time_ms: u64,
    /// Batches split in two after the broker refused them as too large (Java:
    /// `batch-split-total`).
    pub splits: u64,
}

impl SenderShared {
    /// The fatal error that stopped the producer, if any.
    pub fn fatal(&self) -> Option<&ProducerError> {
        self.fatal.get()
    }

    /// A copy of the counters.
    pub fn metrics(&self) -> SenderMetrics {
        self.metrics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Make the sender stop now, failing what is left with `Closed { CloseTimeout }`.
    pub fn force_close(&self) {
        self.forced
            .store(true, std::sync::atomic::Ordering::Release);
        self.force_close.notify_one();
    }

    fn is_forced(&self) -> bool {
        self.forced.load(std::sync::atomic::Ordering::Acquire)
    }

    fn count(&self, f: impl FnOnce(&mut SenderMetrics)) {
        f(&mut self.metrics.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

type RequestId = u64;

/// How often the adaptive sticky partitioner gets fresh queue lengths.
const LOAD_UPDATE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

enum Event {
    Response(RequestId, Result<ProduceResponse, ProducerError>),
    ProducerId(Result<ProducerIdEpoch, ProducerError>),
    Wake,
}

/// The sender task's state. Create with [`Sender::new`] and spawn [`Sender::run`].
pub struct Sender<T: Transport + ?Sized> {
    config: Arc<ProducerConfig>,
    acc: Arc<RecordAccumulator>,
    transport: Arc<T>,
    shared: Arc<SenderShared>,
    idem: Option<Idempotence>,
    in_flight: HashMap<RequestId, (i32, Vec<ProducerBatch>)>,
    per_node: HashMap<i32, usize>,
    responses:
        FuturesUnordered<BoxFuture<'static, (RequestId, Result<ProduceResponse, ProducerError>)>>,
    init_pid: Option<BoxFuture<'static, Result<ProducerIdEpoch, ProducerError>>>,
    init_pid_after: Option<Instant>,
    init_pid_attempts: u32,
    next_request: RequestId,
    load_updated: Option<Instant>,
    hook: Option<Arc<dyn TransactionHook>>,
    /// Topics sent to since they were last reported to the transport.
    topics_used: Vec<Arc<str>>,
    topics_reported: Option<Instant>,
}

impl<T: Transport + ?Sized> Sender<T> {
    /// A sender for the accumulator's batches over `transport`.
    pub fn new(
        config: Arc<ProducerConfig>,
        acc: Arc<RecordAccumulator>,
        transport: Arc<T>,
        shared: Arc<SenderShared>,
    ) -> Self {
        Sender {
            idem: config.enable_idempotence.then(Idempotence::new),
            config,
            acc,
            transport,
            shared,
            in_flight: HashMap::new(),
            per_node: HashMap::new(),
            responses: FuturesUnordered::new(),
            init_pid: None,
            init_pid_after: None,
            init_pid_attempts: 0,
            next_request: 0,
            load_updated: None,
            hook: None,
            topics_used: Vec::new(),
            topics_reported: None,
        }
    }

    /// Let a transaction manager steer this sender (see [`TransactionHook`]).
    pub fn with_hook(mut self, hook: Option<Arc<dyn TransactionHook>>) -> Self {
        self.hook = hook;
        self
    }

    /// Run until the accumulator is closed and everything accepted has an outcome, or until
    /// a forced close.
    pub async fn run(mut self) {
        // Wakes the task for lingering or backing-off batches and periodic checks.
        let mut timer = Box::pin(tokio::time::sleep_until(
            Instant::now() + self.config.metadata_max_age,
        ));
        loop {
            if self.shared.is_forced() {
                self.abort(ProducerError::Closed {
                    reason: CloseReason::CloseTimeout,
                });
                break;
            }
            let (next_ready, waiting) = self.send_ready();
            if self.acc.is_closed() && self.in_flight.is_empty() && !self.acc.has_queued() {
                break;
            }
            let now = Instant::now();
            let tick = now + self.config.retry_backoff;
            let wake = match next_ready {
                Some(at) => at.min(tick),
                None if waiting => tick,
                None => now + self.config.metadata_max_age,
            };
            // One timer for the task's life, moved only when it must fire sooner (or has
            // fired): waking early is harmless (one more round), and most rounds keep it.
            let deadline = timer.deadline();
            if wake < deadline || deadline <= now {
                timer.as_mut().reset(wake);
            }
            let event = {
                let timer = timer.as_mut();
                let responses = &mut self.responses;
                let init_pid = &mut self.init_pid;
                let acc = &self.acc;
                let shared = &self.shared;
                let hook = &self.hook;
                tokio::select! {
                    () = async { hook.as_ref().expect("guarded by the condition").changed().await },
                        if hook.is_some() => Event::Wake,
                    Some((id, result)) = responses.next(), if !responses.is_empty() => {
                        Event::Response(id, result)
                    }
                    pid = async { init_pid.as_mut().expect("guarded by the condition").await },
                        if init_pid.is_some() => Event::ProducerId(pid),
                    () = acc.wait_for_work() => Event::Wake,
                    () = timer => Event::Wake,
                    () = shared.force_close.notified() => Event::Wake,
                }
            };
            match event {
                Event::Response(id, result) => self.on_response(id, result),
                Event::ProducerId(pid) => {
                    self.init_pid = None;
                    self.on_producer_id(pid);
                }
                Event::Wake => {}
            }
        }
        tracing::debug!("sender finished");
        self.transport.close();
    }

    /// One round: producer id, expiry, drain, requests. Returns when the next lingering or
    /// backing-off batch becomes ready, and whether batches are still queued.
    fn send_ready(&mut self) -> (Option<Instant>, bool) {
        let now = Instant::now();
        if let Some(hook) = &self.hook {
            if let Some(error) = hook.failed() {
                let n = self.acc.abort_queued(&error);
                if n > 0 {
                    tracing::debug!(batches = n, %error, "transaction failed: unsent batches failed");
                }
            }
            // The transaction manager owns the producer id (InitProducerId with the
            // transactional id; with KIP-890 part 2 a new epoch after every EndTxn); adopt a
            // new one only when nothing is in flight (invariant 2).
            if let (Some(pid), Some(idem)) = (hook.producer_id_epoch(), self.idem.as_mut())
                && idem.producer() != Some(pid)
                && idem.replace_producer(pid)
            {
                self.shared.count(|m| m.producer_ids += 1);
                tracing::info!(producer_id = pid.id, epoch = pid.epoch, "producer id");
            }
        }
        // Batches are stamped with the producer id adopted above; if the manager's changes
        // during this round, hold every transactional partition back until the next one.
        let adopted = self.idem.as_ref().map(Idempotence::producer);
        if let Some(idem) = &self.idem
            && self.hook.is_none()
            && self.init_pid.is_none()
            && self.init_pid_after.is_none_or(|at| at <= now)
            && (idem.producer().is_none() || idem.bump_requested())
            && idem.can_bump()
        {
            self.init_pid = Some(self.transport.init_producer_id(idem.producer()));
        }
        for batch in self.acc.expire(now) {
            let tp = batch.topic_partition().clone();
            if let Some(idem) = &mut self.idem {
                idem.abandon(&tp, batch.id());
            }
            let error = ProducerError::DeliveryTimeout {
                topic: Arc::clone(&tp.topic),
                partition: tp.partition,
                timeout: self.config.delivery_timeout,
                attempts: batch.attempts(),
                last_error: batch.last_error().cloned().map(Arc::new),
            };
            self.shared.count(|m| m.batches_failed += 1);
            self.report_failure(&tp, &error);
            batch.fail(error);
        }
        if self
            .load_updated
            .is_none_or(|at| now >= at + LOAD_UPDATE_INTERVAL)
        {
            let transport = &self.transport;
            self.acc.update_partitioner_load(&|tp| transport.leader(tp));
            self.load_updated = Some(now);
        }
        let max_in_flight = self.config.max_in_flight;
        let per_node = &self.per_node;
        let transport = &self.transport;
        let hook = &self.hook;
        let drained = self.acc.drain(DrainContext {
            now,
            leader_for: &|tp| {
                if hook.as_ref().is_some_and(|h| {
                    !h.may_drain(tp) || adopted.is_some_and(|a| h.producer_id_epoch() != a)
                }) {
                    return None;
                }
                transport.leader(tp)
            },
            node_ready: &|node| per_node.get(&node).copied().unwrap_or(0) < max_in_flight,
            idempotence: self.idem.as_mut(),
        });
        // Partitions the transaction holds back (not added yet) are not a metadata problem.
        if drained
            .unknown_leaders
            .iter()
            .any(|tp| self.hook.as_ref().is_none_or(|h| h.may_drain(tp)))
        {
            self.transport.refresh_metadata();
        }
        for (batch, error) in drained.failed {
            self.shared.count(|m| m.batches_failed += 1);
            batch.fail(error);
        }
        self.note_topics_used(&drained.batches, now);
        for (node, batches) in drained.batches {
            self.send_request(node, batches);
        }
        (drained.next_ready, drained.waiting)
    }

    /// Collects the topics of the batches being sent and reports them to the transport
    /// (`metadata_max_idle` keeps their metadata) about four times per idle period, at most
    /// once a second.
    fn note_topics_used(&mut self, batches: &HashMap<i32, Vec<ProducerBatch>>, now: Instant) {
        for batch in batches.values().flatten() {
            let topic = &batch.topic_partition().topic;
            if !self.topics_used.iter().any(|t| t == topic) {
                self.topics_used.push(Arc::clone(topic));
            }
        }
        let every = (self.config.metadata_max_idle / 4).min(std::time::Duration::from_secs(1));
        if !self.topics_used.is_empty() && self.topics_reported.is_none_or(|at| now >= at + every) {
            self.transport.topics_used(&self.topics_used);
            self.topics_used.clear();
            self.topics_reported = Some(now);
        }
    }

    fn send_request(&mut self, node: i32, batches: Vec<ProducerBatch>) {
        let request = produce_request(
            &batches,
            self.config.acks.as_i16(),
            i32::try_from(self.config.request_timeout.as_millis()).unwrap_or(i32::MAX),
            self.config.transactional_id.as_deref(),
        );
        let id = self.next_request;
        self.next_request += 1;
        tracing::debug!(
            node,
            batches = batches.len(),
            request = id,
            "produce request"
        );
        let response = if self
            .hook
            .as_ref()
            .is_some_and(|h| h.implicit_partition_add())
        {
            // KIP-890 part 2: the broker adds the partitions (Produce v12)
            self.transport.produce_implicit_add(node, request)
        } else {
            self.transport.produce(node, request)
        };
        // One span per Produce request, from send to answer (DESIGN.md: debug level on the
        // hot path), so a subscriber can see each request's life and time.
        let span = tracing::debug_span!(
            "produce_request",
            node,
            request = id,
            batches = batches.len()
        );
        self.responses.push(Box::pin(
            async move { (id, response.await) }.instrument(span),
        ));
        self.in_flight.insert(id, (node, batches));
        *self.per_node.entry(node).or_insert(0) += 1;
        self.shared.count(|m| m.requests += 1);
    }

    fn on_response(&mut self, id: RequestId, result: Result<ProduceResponse, ProducerError>) {
        let Some((node, batches)) = self.in_flight.remove(&id) else {
            return;
        };
        if let Some(n) = self.per_node.get_mut(&node) {
            *n = n.saturating_sub(1);
        }
        let now = Instant::now();
        let idempotent = self.idem.is_some();
        match &result {
            Ok(resp) => {
                let throttle = u64::try_from(resp.throttle_time_ms).unwrap_or(0);
                self.shared.count(|m| m.throttle_time_ms += throttle);
            }
            Err(e) => tracing::debug!(node, error = %e, "produce request got no answer"),
        }
        for batch in batches {
            let tp = batch.topic_partition().clone();
            let verdict = match &result {
                Ok(_) if self.config.acks == Acks::None => Verdict::Complete {
                    base_offset: -1,
                    log_append_time: None,
                },
                Ok(resp) => {
                    let answer = resp
                        .responses
                        .iter()
                        .filter(|t| *t.name == *tp.topic)
                        .flat_map(|t| t.partition_responses.iter())
                        .find(|p| p.index == tp.partition);
                    classify(&tp, answer, idempotent)
                }
                Err(e) => no_answer(&tp, e.to_string().into()),
            };
            let verdict = limit_retries(
                verdict,
                &tp,
                batch.attempts(),
                batch.created(),
                now,
                self.config.retries,
                self.config.delivery_timeout,
            );
            self.apply(batch, verdict, now);
        }
    }

    fn apply(&mut self, batch: ProducerBatch, verdict: Verdict, now: Instant) {
        let tp = batch.topic_partition().clone();
        match verdict {
            Verdict::Complete {
                base_offset,
                log_append_time,
            } => {
                if let Some(idem) = &mut self.idem {
                    idem.on_outcome(&tp, batch.id(), crate::idempotence::Outcome::Written);
                }
                self.acc.unmute(&tp);
                let (records, bytes) = (batch.record_count(), batch.size());
                self.shared.count(|m| {
                    m.batches_sent += 1;
                    m.records_sent += records as u64;
                    m.bytes_sent += bytes as u64;
                });
                batch.complete(base_offset, log_append_time);
            }
            Verdict::Retry {
                error,
                refresh_metadata,
                outcome,
            } => {
                if refresh_metadata {
                    self.transport.refresh_metadata();
                }
                if let Some(idem) = &mut self.idem {
                    idem.on_outcome(&tp, batch.id(), outcome);
                }
                self.shared.count(|m| m.retries += 1);
                self.acc.reenqueue(batch, error, now);
            }
            Verdict::Split { error } => {
                if now >= batch.created() + self.config.delivery_timeout {
                    let error = ProducerError::DeliveryTimeout {
                        topic: Arc::clone(&tp.topic),
                        partition: tp.partition,
                        timeout: self.config.delivery_timeout,
                        attempts: batch.attempts(),
                        last_error: Some(Arc::new(error)),
                    };
                    return self.apply(batch, too_large_failure(error), now);
                }
                match self
                    .acc
                    .split_and_reenqueue(batch, error, self.idem.as_mut())
                {
                    Ok(()) => self.shared.count(|m| m.splits += 1),
                    Err(unsplit) => {
                        let (batch, error) = *unsplit;
                        self.apply(batch, too_large_failure(error), now);
                    }
                }
            }
            Verdict::Fail {
                error,
                outcome,
                fatal,
            } => {
                if let Some(idem) = &mut self.idem {
                    idem.on_outcome(&tp, batch.id(), outcome);
                }
                self.acc.unmute(&tp);
                self.shared.count(|m| m.batches_failed += 1);
                if fatal {
                    self.set_fatal(error.clone());
                }
                self.report_failure(&tp, &error);
                batch.fail(error);
            }
        }
    }

    /// Tells the transaction manager, if any, that a batch of `tp` failed for good.
    fn report_failure(&self, tp: &crate::idempotence::TopicPartition, error: &ProducerError) {
        if let Some(hook) = &self.hook {
            let needs_bump = self.idem.as_ref().is_some_and(|i| i.bump_requested());
            hook.on_batch_failed(tp, error, needs_bump);
        }
    }

    fn on_producer_id(&mut self, result: Result<ProducerIdEpoch, ProducerError>) {
        let Some(idem) = &mut self.idem else {
            return;
        };
        match result {
            Ok(pid) => {
                self.init_pid_attempts = 0;
                self.init_pid_after = None;
                if idem.set_producer(pid) {
                    self.shared.count(|m| m.producer_ids += 1);
                    tracing::info!(producer_id = pid.id, epoch = pid.epoch, "producer id");
                }
            }
            Err(e) if e.is_retriable() => {
                self.init_pid_attempts = self.init_pid_attempts.saturating_add(1);
                let backoff = self.config.backoff_for(self.init_pid_attempts);
                self.init_pid_after = Some(Instant::now() + backoff);
                tracing::debug!(error = %e, ?backoff, "InitProducerId failed; retrying");
            }
            Err(e) => self.set_fatal(ProducerError::Fatal(
                format!("could not obtain a producer id: {e}").into(),
            )),
        }
    }

    fn set_fatal(&mut self, error: ProducerError) {
        tracing::error!(%error, "producer failed fatally");
        let _ = self.shared.fatal.set(error.clone());
        self.acc.close();
        self.acc.abort_queued(&error);
    }

    /// Fail everything queued and in flight (forced close).
    fn abort(&mut self, error: ProducerError) {
        self.acc.close();
        let queued = self.acc.abort_queued(&error);
        let mut in_flight = 0;
        for (_, (_, batches)) in self.in_flight.drain() {
            in_flight += batches.len();
            for b in batches {
                b.fail(error.clone());
            }
        }
        tracing::info!(queued, in_flight, "sender aborted: batches failed");
    }
}

/// The verdict for a refused batch that is not split: failed, not written (the broker
/// answered).
fn too_large_failure(error: ProducerError) -> Verdict {
    Verdict::Fail {
        error,
        outcome: crate::idempotence::Outcome::Failed {
            maybe_written: false,
        },
        fatal: false,
    }
}

#[cfg(test)]
mod tests;
