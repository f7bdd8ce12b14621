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
//! so the order of writes is the order of calls.

use std::collections::HashMap;
use std::sync::Mutex;

use futures::FutureExt;
use futures::future::BoxFuture;
use klamm_net::Cluster;
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
    queues: Mutex<HashMap<i32, mpsc::UnboundedSender<Job>>>,
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
    pub(crate) fn send(&self, node: i32, request: QueuedProduce) -> Answer {
        let (written, answer) = oneshot::channel();
        let mut job = Job { request, written };
        {
            let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
            let queue = queues
                .entry(node)
                .or_insert_with(|| spawn_queue(self.cluster.clone(), node));
            if let Err(mpsc::error::SendError(returned)) = queue.send(job) {
                // The broker's task ended (its runtime shut down): start another.
                job = returned;
                *queue = spawn_queue(self.cluster.clone(), node);
                if let Err(mpsc::error::SendError(lost)) = queue.send(job) {
                    drop(lost);
                }
            }
        }
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

    /// Ends every broker's task once it has handed over what is queued.
    pub(crate) fn close(&self) {
        self.queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

fn spawn_queue(cluster: Cluster, node: i32) -> mpsc::UnboundedSender<Job> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run_queue(cluster, node, rx));
    tx
}

/// The broker's task: for each request in turn, wait until the broker can take it
/// (connection, throttle, in-flight slot), write it, and hand its answer back.
async fn run_queue(cluster: Cluster, node: i32, mut jobs: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = jobs.recv().await {
        if job.written.is_closed() {
            // Its sender gave up on it before it was written: nothing to send.
            continue;
        }
        let answer = write(&cluster, node, job.request).await;
        // The receiver may have gone meanwhile; then the answer is dropped, which klamm-net
        // allows at any point.
        let _ = job.written.send(answer);
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
    let no_answer = move |e: klamm_net::Error| {
        ProducerError::NoAnswer(format!("produce to broker {node}: {e}").into())
    };
    // `ready` then `call`: `call` puts the request on the connection's write queue before
    // returning, so the next request of this task is written after it.
    Ok(match request {
        QueuedProduce::Plain(request) => {
            ServiceExt::<ProduceRequest>::ready(&mut broker)
                .await
                .map_err(no_answer)?;
            let response = broker.call(request);
            async move { response.await.map(|r| r.body).map_err(no_answer) }.boxed()
        }
        QueuedProduce::ImplicitAdd(request) => {
            ServiceExt::<ImplicitAddProduce>::ready(&mut broker)
                .await
                .map_err(no_answer)?;
            let response = broker.call(request);
            async move { response.await.map(|r| r.body).map_err(no_answer) }.boxed()
        }
    })
}
