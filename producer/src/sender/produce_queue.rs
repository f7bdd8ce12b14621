//! [`ProduceQueues`]: one queue per broker that writes the producer's Produce requests to the
//! broker's connection in the order the sender handed them over, while their answers are
//! awaited side by side (up to `max_in_flight`, pipelining).
//!
//! Why a queue: before a request is written it may wait for the broker's connection (being
//! opened or reopened), its throttle deadline (KIP-219) and a free in-flight slot. If every
//! request waited on its own, whichever waiter woke first would be written first, and two
//! batches of one partition could reach the broker in the wrong order. An idempotent producer
//! then gets OUT_OF_ORDER_SEQUENCE_NUMBER and retries (wasted round trips); a broker that does
//! not check sequences, or a producer without idempotence, stores the records out of order.
//! Java's sender cannot hit this, as it writes to a ready connection synchronously
//! (`NetworkClient.send`); here one task per broker does the waiting, one request at a time,
//! so the order of writes is the order of calls. A request that need not wait, with nothing
//! queued before it, is written by the caller at once, which is the same order without the
//! trip through the task.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures::FutureExt;
use futures::future::BoxFuture;
use klamm_net::{BrokerService, Cluster};
use klamm_protocol::messages::produce::{ProduceRequest, ProduceResponse};
use tokio::sync::{mpsc, oneshot};
use tower::{Service, ServiceExt};

use super::produce_v12::ImplicitAddProduce;
use crate::error::ProducerError;

/// A Produce as the sender hands it over: plain, or one that may go at v12 (KIP-890 part 2).
#[derive(Debug)]
pub(crate) enum QueuedProduce {
    /// A Produce request, sent at the negotiated version.
    Plain(ProduceRequest),
    /// A transactional Produce whose partitions the broker adds (may go at v12).
    ImplicitAdd(ImplicitAddProduce),
}

/// The answer to one Produce, awaited by whoever handed the request over.
type Answer = BoxFuture<'static, Result<ProduceResponse, ProducerError>>;

/// One request in a broker's queue, and where to hand back its written request's answer.
struct Job {
    request: QueuedProduce,
    written: oneshot::Sender<Result<Answer, ProducerError>>,
}

/// The producer's per-broker Produce queues over a klamm-net [`Cluster`].
#[derive(Debug)]
pub(crate) struct ProduceQueues {
    cluster: Cluster,
    queues: Mutex<HashMap<i32, BrokerQueue>>,
}

/// One broker's queue: its task's inbox, and how many requests it holds or is writing.
#[derive(Debug)]
struct BrokerQueue {
    jobs: mpsc::UnboundedSender<Job>,
    /// Requests handed to the task and not written yet (decremented by the task after the
    /// write). At zero a request may be written at once by the caller, in its place.
    pending: Arc<AtomicUsize>,
}

impl ProduceQueues {
    pub(crate) fn new(cluster: Cluster) -> Self {
        ProduceQueues {
            cluster,
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// Queues `request` for broker `node` and returns its answer: requests queued for one
    /// broker are written to it in the order of the calls. Dropping the returned future
    /// before the request is written takes it out of the queue; after, it only stops the wait
    /// for the answer (klamm-net's request futures are cancellation-safe).
    ///
    /// When nothing is queued for the broker and it can take the request now (connected, not
    /// throttled, a free in-flight slot), the request is written here, without a trip through
    /// the broker's task: the common case, and the order is the same.
    pub(crate) fn send(&self, node: i32, request: QueuedProduce) -> Answer {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let queue = queues
            .entry(node)
            .or_insert_with(|| spawn_queue(self.cluster.clone(), node));
        // Under the lock, so no other request can be queued in between.
        let request = if queue.pending.load(Ordering::Acquire) == 0 {
            match self.try_write_now(node, request) {
                Ok(answer) => return answer,
                Err(request) => request,
            }
        } else {
            request
        };
        let (written, answer) = oneshot::channel();
        let mut job = Job { request, written };
        queue.pending.fetch_add(1, Ordering::AcqRel);
        if let Err(mpsc::error::SendError(returned)) = queue.jobs.send(job) {
            // The broker's task ended (its runtime shut down): start another.
            job = returned;
            *queue = spawn_queue(self.cluster.clone(), node);
            queue.pending.fetch_add(1, Ordering::AcqRel);
            if let Err(mpsc::error::SendError(lost)) = queue.jobs.send(job) {
                drop(lost);
            }
        }
        drop(queues);
        async move {
            match answer.await {
                Ok(Ok(answer)) => answer.await,
                Ok(Err(e)) => Err(e),
                Err(_) => Err(ProducerError::NoAnswer(
                    format!("produce to broker {node}: the broker's queue stopped").into(),
                )),
            }
        }
        .boxed()
    }

    /// Writes `request` now if broker `node` can take it without waiting; hands it back
    /// otherwise.
    fn try_write_now(&self, node: i32, request: QueuedProduce) -> Result<Answer, QueuedProduce> {
        let Some(mut broker) = self.cluster.connected_broker(node) else {
            return Err(request);
        };
        // Readiness is only asked, never waited for: a pending answer drops the reservation
        // with `broker` and the task waits for it instead.
        let mut cx = Context::from_waker(Waker::noop());
        let ready = match &request {
            QueuedProduce::Plain(_) => Service::<ProduceRequest>::poll_ready(&mut broker, &mut cx),
            QueuedProduce::ImplicitAdd(_) => {
                Service::<ImplicitAddProduce>::poll_ready(&mut broker, &mut cx)
            }
        };
        if !matches!(ready, Poll::Ready(Ok(()))) {
            return Err(request);
        }
        Ok(call(&mut broker, node, request))
    }

    /// Ends every broker's task once it has handed over what is queued.
    pub(crate) fn close(&self) {
        self.queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

fn spawn_queue(cluster: Cluster, node: i32) -> BrokerQueue {
    let (jobs, rx) = mpsc::unbounded_channel();
    let pending = Arc::new(AtomicUsize::new(0));
    tokio::spawn(run_queue(cluster, node, rx, Arc::clone(&pending)));
    BrokerQueue { jobs, pending }
}

/// The broker's task: for each request in turn, wait until the broker can take it
/// (connection, throttle, in-flight slot), write it, and hand its answer back.
async fn run_queue(
    cluster: Cluster,
    node: i32,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    pending: Arc<AtomicUsize>,
) {
    while let Some(job) = jobs.recv().await {
        if !job.written.is_closed() {
            let answer = write(&cluster, node, job.request).await;
            // The receiver may have gone meanwhile; then the answer is dropped, which
            // klamm-net allows at any point.
            let _ = job.written.send(answer);
        }
        // (A job whose sender gave up before it was written is not sent.) Only now may a
        // later request skip the queue.
        pending.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn write(
    cluster: &Cluster,
    node: i32,
    request: QueuedProduce,
) -> Result<Answer, ProducerError> {
    let mut broker = cluster
        .broker(node)
        .await
        .map_err(|e| super::cluster::net_error(None, e))?;
    let ready = match &request {
        QueuedProduce::Plain(_) => ServiceExt::<ProduceRequest>::ready(&mut broker).await,
        QueuedProduce::ImplicitAdd(_) => ServiceExt::<ImplicitAddProduce>::ready(&mut broker).await,
    };
    ready.map_err(|e| no_answer(node, e))?;
    Ok(call(&mut broker, node, request))
}

/// Writes `request` to a ready `broker`: `call` puts it on the connection's write queue
/// before returning, so whatever is written after this call goes after it.
fn call(broker: &mut BrokerService, node: i32, request: QueuedProduce) -> Answer {
    match request {
        QueuedProduce::Plain(request) => answer(broker.call(request), node),
        QueuedProduce::ImplicitAdd(request) => answer(broker.call(request), node),
    }
}

/// The answer of a written request, its errors named after the broker.
fn answer<F>(response: F, node: i32) -> Answer
where
    F: Future<Output = Result<klamm_net::Response<ProduceResponse>, klamm_net::Error>>
        + Send
        + 'static,
{
    async move {
        response
            .await
            .map(|r| r.body)
            .map_err(|e| no_answer(node, e))
    }
    .boxed()
}

fn no_answer(node: i32, e: klamm_net::Error) -> ProducerError {
    ProducerError::NoAnswer(format!("produce to broker {node}: {e}").into())
}
