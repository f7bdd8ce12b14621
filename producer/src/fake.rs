//! An in-memory cluster implementing [`Transport`], with Kafka's idempotence checks and
//! injectable faults, for the sender's and the producer's unit tests. (The end-to-end tests
//! run against klamm-testkit over TCP.)

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use klamm_protocol::error_code::ErrorCode;
use klamm_protocol::messages::produce::response::{PartitionProduceResponse, TopicProduceResponse};
use klamm_protocol::messages::produce::{ProduceRequest, ProduceResponse};
use klamm_protocol::record::RecordBatch;
use tokio::sync::watch;

use crate::error::ProducerError;
use crate::idempotence::{ProducerIdEpoch, TopicPartition, next_sequence};
use crate::sender::{TopicInfo, Transport};

/// A fault applied to one Produce request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Apply the request, then lose the answer (connection dropped).
    DropAfterApply,
    /// Answer every partition with this code without applying anything.
    Code(ErrorCode),
    /// Move every leader to the next node first (the request then hits non-leaders).
    MoveLeaders,
    /// Forget every producer's state first (UNKNOWN_PRODUCER_ID / OUT_OF_ORDER follow).
    LoseProducerState,
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: usize,
}

#[derive(Debug)]
struct ProducerState {
    epoch: i16,
    last_seq: i32,
    recent: VecDeque<(i32, i32, i64)>,
}

#[derive(Debug, Default)]
struct State {
    topics: HashMap<String, i32>,
    nodes: i32,
    shift: i32,
    logs: HashMap<(String, i32), Vec<Stored>>,
    producers: HashMap<(String, i32), ProducerState>,
    next_pid: i64,
    faults: VecDeque<Fault>,
    random_faults: Option<(rand::rngs::StdRng, Vec<Fault>, f64)>,
    injected: HashMap<String, u64>,
    /// (producer id, epoch, transactional flag) of every batch received, in order.
    batch_headers: Vec<(i64, i16, bool)>,
    /// Batches larger than this are refused with MESSAGE_TOO_LARGE (Kafka's
    /// `max.message.bytes`).
    max_batch_bytes: Option<usize>,
    /// Topics that exist only from a moment on: (name, partitions, from).
    later: Vec<(String, i32, tokio::time::Instant)>,
}

/// The in-memory cluster.
#[derive(Debug)]
pub(crate) struct FakeCluster {
    state: Mutex<State>,
    stalled: watch::Sender<bool>,
    pub refreshes: AtomicU64,
    pub produce_calls: AtomicU64,
    request_timeout: Duration,
    me: std::sync::Weak<FakeCluster>,
}

impl FakeCluster {
    pub fn new(nodes: i32, topics: &[(&str, i32)]) -> Arc<Self> {
        let state = State {
            topics: topics.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect(),
            nodes,
            next_pid: 1000,
            ..Default::default()
        };
        Arc::new_cyclic(|me| FakeCluster {
            state: Mutex::new(state),
            stalled: watch::channel(false).0,
            refreshes: AtomicU64::new(0),
            produce_calls: AtomicU64::new(0),
            request_timeout: Duration::from_secs(2),
            me: me.clone(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Refuse batches larger than `bytes` with MESSAGE_TOO_LARGE.
    pub fn max_batch_bytes(&self, bytes: Option<usize>) {
        self.lock().max_batch_bytes = bytes;
    }

    /// A topic that metadata knows only `after` from now; fetching it before then waits.
    pub fn add_topic_later(&self, name: &str, partitions: i32, after: Duration) {
        let at = tokio::time::Instant::now() + after;
        self.lock().later.push((name.to_owned(), partitions, at));
    }

    pub fn push_fault(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }

    /// Each request draws a fault from `faults` with probability `p`, from a seeded RNG.
    pub fn random_faults(&self, seed: u64, faults: Vec<Fault>, p: f64) {
        use rand::SeedableRng;
        self.lock().random_faults = Some((rand::rngs::StdRng::seed_from_u64(seed), faults, p));
    }

    /// Stop (or resume) answering: requests wait, then time out after 2 s without an answer.
    pub fn stall(&self, on: bool) {
        self.stalled.send_replace(on);
    }

    pub fn log(&self, topic: &str, partition: i32) -> Vec<Stored> {
        self.lock()
            .logs
            .get(&(topic.to_owned(), partition))
            .cloned()
            .unwrap_or_default()
    }

    /// (producer id, epoch, transactional flag) of every batch received, in order.
    pub fn batch_headers(&self) -> Vec<(i64, i16, bool)> {
        self.lock().batch_headers.clone()
    }

    pub fn injected(&self, what: &str) -> u64 {
        self.lock().injected.get(what).copied().unwrap_or(0)
    }

    fn leader_of(state: &State, partition: i32) -> i32 {
        (partition + state.shift).rem_euclid(state.nodes.max(1))
    }

    fn handle(&self, node: i32, req: &ProduceRequest) -> (ProduceResponse, bool) {
        let mut st = self.lock();
        let mut fault = st.faults.pop_front();
        if fault.is_none()
            && let Some((rng, faults, p)) = &mut st.random_faults
        {
            use rand::Rng;
            if rng.random_bool(*p) {
                fault = Some(faults[rng.random_range(0..faults.len())]);
            }
        }
        if let Some(f) = fault {
            *st.injected.entry(format!("{f:?}")).or_insert(0) += 1;
        }
        match fault {
            Some(Fault::MoveLeaders) => st.shift += 1,
            Some(Fault::LoseProducerState) => st.producers.clear(),
            _ => {}
        }
        let mut responses = Vec::new();
        for topic in &req.topic_data {
            let mut partition_responses = Vec::new();
            for p in &topic.partition_data {
                let (code, base_offset) = match fault {
                    Some(Fault::Code(code)) => (code, -1),
                    _ if Self::leader_of(&st, p.index) != node => {
                        (ErrorCode::NotLeaderOrFollower, -1)
                    }
                    _ => Self::append(&mut st, &topic.name, p.index, p.records.clone()),
                };
                partition_responses.push(PartitionProduceResponse {
                    index: p.index,
                    error_code: code.as_i16(),
                    base_offset,
                    log_append_time_ms: -1,
                    ..Default::default()
                });
            }
            responses.push(TopicProduceResponse {
                name: topic.name.clone(),
                partition_responses,
                ..Default::default()
            });
        }
        let resp = ProduceResponse {
            responses,
            ..Default::default()
        };
        (resp, fault == Some(Fault::DropAfterApply))
    }

    fn append(
        st: &mut State,
        topic: &str,
        partition: i32,
        records: Option<Bytes>,
    ) -> (ErrorCode, i64) {
        if let (Some(limit), Some(r)) = (st.max_batch_bytes, &records)
            && r.len() > limit
        {
            *st.injected.entry("MessageTooLarge".into()).or_insert(0) += 1;
            return (ErrorCode::MessageTooLarge, -1);
        }
        let Some(batch) = records.and_then(|r| RecordBatch::decode(r).ok()) else {
            return (ErrorCode::CorruptMessage, -1);
        };
        st.batch_headers.push((
            batch.producer_id(),
            batch.producer_epoch(),
            batch.is_transactional(),
        ));
        let key = (topic.to_owned(), partition);
        let count = batch.record_count();
        let base = batch.base_sequence();
        let last = next_sequence(base, count - 1);
        let epoch = batch.producer_epoch();
        let next_offset = st.logs.get(&key).map_or(0, Vec::len) as i64;
        if batch.producer_id() >= 0 {
            match st.producers.get(&key) {
                Some(p) if epoch < p.epoch => return (ErrorCode::InvalidProducerEpoch, -1),
                Some(p) if epoch == p.epoch => {
                    if let Some(&(_, _, offset)) =
                        p.recent.iter().find(|&&(b, l, _)| b == base && l == last)
                    {
                        return (ErrorCode::None, offset);
                    }
                    if base != next_sequence(p.last_seq, 1) {
                        return (ErrorCode::OutOfOrderSequenceNumber, -1);
                    }
                }
                Some(_) if base != 0 => return (ErrorCode::OutOfOrderSequenceNumber, -1),
                None if base != 0 => return (ErrorCode::UnknownProducerId, -1),
                _ => {}
            }
            let p = st.producers.entry(key.clone()).or_insert(ProducerState {
                epoch,
                last_seq: -1,
                recent: VecDeque::new(),
            });
            if p.epoch != epoch {
                p.recent.clear();
            }
            p.epoch = epoch;
            p.last_seq = last;
            p.recent.push_back((base, last, next_offset));
            if p.recent.len() > 5 {
                p.recent.pop_front();
            }
        }
        let Ok(records) = batch.records() else {
            return (ErrorCode::CorruptMessage, -1);
        };
        let log = st.logs.entry(key).or_default();
        for r in records.flatten() {
            log.push(Stored {
                key: r.key.clone(),
                value: r.value.clone(),
                headers: r.headers.len(),
            });
        }
        (ErrorCode::None, next_offset)
    }
}

impl Transport for FakeCluster {
    fn cached_topic(&self, topic: &str) -> Option<TopicInfo> {
        let n = *self.lock().topics.get(topic)?;
        Some(TopicInfo {
            partitions: n,
            available: (0..n).collect(),
        })
    }

    fn fetch_topic(&self, topic: &str) -> BoxFuture<'static, Result<TopicInfo, ProducerError>> {
        let later = {
            let st = self.lock();
            st.later
                .iter()
                .find(|(name, _, _)| name == topic)
                .map(|&(_, n, at)| (n, at))
        };
        let me = self.me.clone();
        let name = topic.to_owned();
        async move {
            if let Some((n, at)) = later {
                tokio::time::sleep_until(at).await;
                if let Some(me) = me.upgrade() {
                    me.lock().topics.insert(name.clone(), n);
                }
            }
            me.upgrade()
                .and_then(|me| me.cached_topic(&name))
                .ok_or_else(|| ProducerError::Broker {
                    topic: name.as_str().into(),
                    partition: -1,
                    code: ErrorCode::UnknownTopicOrPartition,
                    message: None,
                })
        }
        .boxed()
    }

    fn leader(&self, tp: &TopicPartition) -> Option<i32> {
        let st = self.lock();
        st.topics
            .contains_key(&*tp.topic)
            .then(|| Self::leader_of(&st, tp.partition))
    }

    fn refresh_metadata(&self) {
        self.refreshes.fetch_add(1, Ordering::Relaxed);
    }

    fn produce(
        &self,
        node: i32,
        request: ProduceRequest,
    ) -> BoxFuture<'static, Result<ProduceResponse, ProducerError>> {
        self.produce_calls.fetch_add(1, Ordering::Relaxed);
        let mut stalled = self.stalled.subscribe();
        let timeout = self.request_timeout;
        // Answer now unless stalled (then wait for the stall to end, or time out).
        let answer = (!*stalled.borrow()).then(|| self.handle(node, &request));
        let me = self.me.clone();
        async move {
            let (resp, dropped) = match answer {
                Some(a) => a,
                None => {
                    let resumed = tokio::time::timeout(timeout, stalled.wait_for(|s| !s)).await;
                    if resumed.is_err() {
                        return Err(ProducerError::NoAnswer("request timed out".into()));
                    }
                    let Some(me) = me.upgrade() else {
                        return Err(ProducerError::NoAnswer("cluster gone".into()));
                    };
                    me.handle(node, &request)
                }
            };
            if dropped {
                Err(ProducerError::NoAnswer("connection dropped".into()))
            } else {
                Ok(resp)
            }
        }
        .boxed()
    }

    fn init_producer_id(
        &self,
        current: Option<ProducerIdEpoch>,
    ) -> BoxFuture<'static, Result<ProducerIdEpoch, ProducerError>> {
        let mut st = self.lock();
        let pid = match current {
            Some(c) => ProducerIdEpoch {
                id: c.id,
                epoch: c.epoch + 1,
            },
            None => {
                st.next_pid += 1;
                ProducerIdEpoch {
                    id: st.next_pid,
                    epoch: 0,
                }
            }
        };
        async move { Ok(pid) }.boxed()
    }

    fn close(&self) {}
}
