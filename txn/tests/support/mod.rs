//! Test support for end-to-end transactions against klamm-testkit.
//!
//! [`MiniProducer`] is a deliberately small stand-in for klamm-producer's sender until that
//! sender offers the transaction hook (see the crate README): one Produce request at a time,
//! one batch per partition per request, transactional batches stamped with the manager's
//! producer id and epoch, and - the contract under test - a partition drained only once the
//! [`TransactionManager`] allows it. It speaks transaction version 1 only (Produce up to v11
//! after AddPartitionsToTxn): managers driving it have `kip890_capable` off. [`read_committed`] reads partitions back with Fetch
//! `isolation_level = 1`, filtering aborted transactions the way Kafka's consumer does.
//! [`scenario`] holds the set-up and workloads the testkit test files share.

#![allow(dead_code)]

mod scenario;

pub use scenario::*;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use klamm_net::read::Isolation;
use klamm_producer::delivery::{BatchCompleter, BatchOutcome};
use klamm_producer::idempotence::{ProducerIdEpoch, TopicPartition};
use klamm_producer::{CloseReason, DeliveryFuture, ProducerError, ProducerRecord};
use klamm_protocol::error_code::ErrorCode;
use klamm_protocol::messages::ProduceRequest;
use klamm_protocol::record::{BatchBuilder, Compression, Header};
use klamm_testkit::requests;
use klamm_txn::{
    ClusterTransport, ProducerBackend, TransactionManager, TransactionalProducer, TxnState,
};
use tokio::sync::Notify;

struct Pending {
    key: Option<Bytes>,
    value: Option<Bytes>,
    completer: BatchCompleter,
}

#[derive(Default)]
struct State {
    queues: BTreeMap<(Arc<str>, i32), Vec<Pending>>,
    busy: bool,
    sequences: HashMap<(Arc<str>, i32), i32>,
    producer: Option<ProducerIdEpoch>,
    closed: bool,
    round_robin: u32,
}

struct Inner {
    mgr: Arc<TransactionManager>,
    cluster: klamm_net::Cluster,
    transactional_id: String,
    state: Mutex<State>,
    wake: Notify,
    idle: Notify,
}

/// A minimal transactional sender for tests (see the module docs).
#[derive(Clone)]
pub struct MiniProducer(Arc<Inner>);

impl MiniProducer {
    /// Starts the sender task.
    pub fn start(mgr: Arc<TransactionManager>, cluster: klamm_net::Cluster) -> Self {
        let transactional_id = mgr.config().transactional_id.to_string();
        let inner = Arc::new(Inner {
            mgr,
            cluster,
            transactional_id,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            idle: Notify::new(),
        });
        tokio::spawn(sender(Arc::downgrade(&inner)));
        MiniProducer(inner)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.state.lock().expect("state lock")
    }
}

/// A transactional producer over a [`MiniProducer`].
pub type MiniTxnProducer = TransactionalProducer<MiniProducer, ClusterTransport>;

/// The transactional producer `id` over a [`MiniProducer`] on `cluster`, configured by
/// [`kip98_config`].
pub fn mini_producer(cluster: &klamm_net::Cluster, id: &str) -> Arc<MiniTxnProducer> {
    let mgr = MiniTxnProducer::manager_for(kip98_config(id));
    let backend = MiniProducer::start(Arc::clone(&mgr), cluster.clone());
    Arc::new(MiniTxnProducer::new(
        mgr,
        backend,
        ClusterTransport::new(cluster.clone()),
    ))
}

type Job = (Arc<str>, i32, Vec<Pending>, ProducerIdEpoch, i32);

async fn sender(weak: std::sync::Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let mgr = Arc::clone(&inner.mgr);
        let changed = mgr.partitions_changed();
        let woke = inner.wake.notified();
        let job = next_job(&inner);
        match job {
            Some(job) => {
                produce(&inner, job).await;
                inner.state.lock().expect("lock").busy = false;
                continue;
            }
            None => inner.idle.notify_waiters(),
        }
        tokio::select! {
            () = changed => {}
            () = woke => {}
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

fn next_job(inner: &Inner) -> Option<Job> {
    let mut s = inner.state.lock().expect("lock");
    // hook contract: once the transaction failed, batches not yet sent fail with its error
    // (their partitions may never be added)
    let status = inner.mgr.status();
    if matches!(
        status.state,
        TxnState::AbortableError | TxnState::FatalError
    ) {
        let why = status
            .last_error
            .map_or_else(|| "transaction failed".to_owned(), |e| e.to_string());
        for r in std::mem::take(&mut s.queues).into_values().flatten() {
            r.completer
                .complete(Err(ProducerError::Fatal(Arc::from(why.as_str()))));
        }
    }
    let producer = inner.mgr.producer_id_epoch()?;
    if s.producer != Some(producer) {
        // a new producer id or epoch restarts every partition's sequence at 0
        s.producer = Some(producer);
        s.sequences.clear();
    }
    let key = s
        .queues
        .iter()
        .find(|((t, p), q)| {
            !q.is_empty()
                && inner.mgr.is_send_to_partition_allowed(&TopicPartition {
                    topic: Arc::clone(t),
                    partition: *p,
                })
        })
        .map(|(k, _)| k.clone())?;
    let records = std::mem::take(s.queues.get_mut(&key).expect("queue"));
    let base = *s.sequences.get(&key).unwrap_or(&0);
    s.busy = true;
    Some((key.0, key.1, records, producer, base))
}

async fn produce(inner: &Inner, (topic, partition, records, producer, base): Job) {
    let tp = TopicPartition {
        topic: Arc::clone(&topic),
        partition,
    };
    let mut b = BatchBuilder::new(Compression::None)
        .producer(producer.id, producer.epoch, base)
        .transactional(true);
    for r in &records {
        b.append(
            1_700_000_000_000,
            r.key.as_deref(),
            r.value.as_deref(),
            &[] as &[Header],
        )
        .expect("append");
    }
    let batch = b.seal().expect("seal").into_bytes();
    let n = records.len() as i32;
    let request = ProduceRequest {
        transactional_id: Some(inner.transactional_id.clone()),
        timeout_ms: 30_000,
        ..requests::produce(&topic, partition, -1, batch)
    };
    let outcome: Result<i64, ErrorCode> = loop {
        let svc = match inner.cluster.leader(&topic, partition).await {
            Ok(s) => s,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let resp = match svc.send(request.clone()).await {
            Ok(r) => r,
            Err(_) => {
                // no answer: resend the same sequence, the broker de-duplicates
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Some(pr) = resp
            .responses
            .iter()
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.index == partition)
        else {
            break Err(ErrorCode::UnknownServerError);
        };
        let code = ErrorCode::from_i16(pr.error_code);
        match code {
            ErrorCode::None | ErrorCode::DuplicateSequenceNumber => break Ok(pr.base_offset),
            c if c.is_retriable() => {
                inner.cluster.on_error(c);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            c => break Err(c),
        }
    };
    let mut s = inner.state.lock().expect("lock");
    match outcome {
        Ok(base_offset) => {
            s.sequences.insert((topic, partition), base + n);
            drop(s);
            for (i, r) in records.into_iter().enumerate() {
                r.completer.complete(Ok(BatchOutcome {
                    base_offset: base_offset + i as i64,
                    log_append_time: None,
                }));
            }
        }
        Err(code) => {
            drop(s);
            inner.mgr.on_batch_error(&tp, code);
            for r in records {
                r.completer.complete(Err(ProducerError::Broker {
                    topic: Arc::clone(&tp.topic),
                    partition,
                    code,
                    message: None,
                }));
            }
        }
    }
}

impl ProducerBackend for MiniProducer {
    async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, ProducerError> {
        let partitions = match self.0.cluster.topic(&record.topic).await {
            Ok(t) => t.partitions.len() as u32,
            Err(e) => return Err(ProducerError::Fatal(Arc::from(e.to_string()))),
        };
        let mut s = self.lock();
        if s.closed {
            return Err(ProducerError::Closed {
                reason: CloseReason::AlreadyClosed,
            });
        }
        let partition = match record.partition {
            Some(p) => p,
            None => {
                s.round_robin = s.round_robin.wrapping_add(1);
                (s.round_robin % partitions.max(1)) as i32
            }
        };
        let completer = BatchCompleter::new(Arc::clone(&record.topic), partition);
        let future = completer.future(0, -1);
        s.queues
            .entry((record.topic, partition))
            .or_default()
            .push(Pending {
                key: record.key,
                value: record.value,
                completer,
            });
        drop(s);
        self.0.wake.notify_one();
        Ok(future)
    }

    async fn flush(&self) {
        loop {
            let idle = self.0.idle.notified();
            {
                let s = self.lock();
                if !s.busy && s.queues.values().all(Vec::is_empty) {
                    return;
                }
            }
            self.0.wake.notify_one();
            let _ = tokio::time::timeout(Duration::from_millis(50), idle).await;
        }
    }

    async fn abort_unsent(&self, error: ProducerError) {
        let queues = std::mem::take(&mut self.lock().queues);
        for r in queues.into_values().flatten() {
            r.completer.complete(Err(error.clone()));
        }
        // wait for the request in flight
        loop {
            let idle = self.0.idle.notified();
            if !self.lock().busy {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), idle).await;
        }
    }

    async fn close(&self, _timeout: Duration) -> Result<(), ProducerError> {
        self.lock().closed = true;
        Ok(())
    }
}

/// The values of `topic`'s partitions as a `read_committed` consumer sees them, in offset
/// order, read with Fetch (isolation level 1) up to the last stable offset.
pub async fn read_committed(
    cluster: &klamm_net::Cluster,
    topic: &str,
    partitions: i32,
) -> Vec<Vec<Bytes>> {
    let mut out = Vec::new();
    for p in 0..partitions {
        let records = klamm_net::read::read_partition(cluster, topic, p, Isolation::ReadCommitted)
            .await
            .expect("read_committed");
        out.push(
            records
                .into_iter()
                .map(|r| r.value.unwrap_or_default())
                .collect(),
        );
    }
    out
}
