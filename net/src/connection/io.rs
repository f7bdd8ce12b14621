//! The connection's two tasks: a writer that assigns correlation ids and writes frames, and a
//! reader that cuts response frames and hands each to the request waiting for it.
//!
//! Responses are always read, even when their caller has gone away, so a dropped caller
//! future never desynchronises the connection.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use klamm_protocol::frame::FrameDecoder;
use klamm_protocol::header::ResponseHeader;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::throttle::ThrottleHandle;

/// A response frame, with the in-flight slot of its request: the receiver releases the slot
/// only after it has applied the response's throttle, so no other request can take the slot
/// and slip out before the throttle deadline is known.
pub(crate) struct Answer {
    pub(crate) frame: Bytes,
    pub(crate) permit: OwnedSemaphorePermit,
}

/// What the reader sends back: the answer, or `None` for a request that expects no response
/// (acks=0 produce) once it is written.
pub(crate) type Reply = Result<Option<Answer>, Error>;

/// Reads `(throttle_time_ms, broker_delayed)` from a response frame whose caller went away.
pub(crate) type OrphanThrottle = fn(&Bytes, i16) -> Option<(i32, bool)>;

/// Offset of the correlation id in an encoded request frame: length (4), key (2), version (2).
const CORRELATION_OFFSET: usize = 8;
/// Frames at least this large are written directly instead of being copied into the batch.
const DIRECT_WRITE: usize = 16 * 1024;
/// How many bytes of small frames are coalesced into one write.
const COALESCE: usize = 64 * 1024;

/// A request on its way to the writer.
pub(crate) struct Command {
    /// The encoded frame; its correlation id is patched by the writer.
    pub(crate) frame: BytesMut,
    pub(crate) expects_response: bool,
    pub(crate) version: i16,
    pub(crate) reply: oneshot::Sender<Reply>,
    pub(crate) permit: OwnedSemaphorePermit,
    pub(crate) orphan: Option<OrphanThrottle>,
}

struct Pending {
    correlation_id: i32,
    version: i16,
    reply: oneshot::Sender<Reply>,
    permit: OwnedSemaphorePermit,
    orphan: Option<OrphanThrottle>,
}

#[derive(Default)]
struct Queue {
    closed: Option<Error>,
    pending: VecDeque<Pending>,
}

/// State shared by the handles and the two tasks of one connection.
pub(crate) struct Shared {
    pub(crate) broker: Arc<str>,
    queue: Mutex<Queue>,
    pub(crate) shutdown: CancellationToken,
    writer_done: CancellationToken,
    pub(crate) throttle: Option<ThrottleHandle>,
    /// One permit per request in flight; closed with the connection.
    pub(crate) semaphore: Arc<Semaphore>,
    /// When the connection was opened; `last_request` counts from it.
    opened: tokio::time::Instant,
    /// Milliseconds from `opened` to the last request handed to the writer.
    last_request: std::sync::atomic::AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        broker: Arc<str>,
        throttle: Option<ThrottleHandle>,
        max_in_flight: usize,
    ) -> Arc<Self> {
        Arc::new(Shared {
            broker,
            queue: Mutex::new(Queue::default()),
            shutdown: CancellationToken::new(),
            writer_done: CancellationToken::new(),
            throttle,
            semaphore: Arc::new(Semaphore::new(max_in_flight)),
            opened: tokio::time::Instant::now(),
            last_request: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Notes that a request is being sent now.
    pub(crate) fn note_request(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_request
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// How long nothing has been in flight: zero while a request waits for its answer,
    /// otherwise the time since the last request was sent.
    pub(crate) fn idle_for(&self) -> std::time::Duration {
        if self.in_flight() > 0 {
            return std::time::Duration::ZERO;
        }
        let last = self.last_request.load(std::sync::atomic::Ordering::Relaxed);
        self.opened
            .elapsed()
            .saturating_sub(std::time::Duration::from_millis(last))
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A poisoned lock only means another thread panicked mid-update of a VecDeque push or
        // pop, which cannot leave it inconsistent; keep going.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The error that closed the connection, if it is closed.
    pub(crate) fn closed(&self) -> Option<Error> {
        self.lock().closed.clone()
    }

    /// Requests waiting for a response.
    pub(crate) fn in_flight(&self) -> usize {
        self.lock().pending.len()
    }

    /// Closes the connection with `err`: fails every pending request with it (the first error
    /// wins) and stops both tasks. Idempotent.
    pub(crate) fn fail(&self, err: Error) {
        let drained: Vec<Pending> = {
            let mut q = self.lock();
            if q.closed.is_none() {
                q.closed = Some(err.clone());
            }
            q.pending.drain(..).collect()
        };
        if !self.shutdown.is_cancelled() {
            match &err {
                Error::Closed => tracing::debug!(broker = %self.broker, "connection closed"),
                e => {
                    tracing::info!(broker = %self.broker, error = %e, failed = drained.len(), "connection broken")
                }
            }
        }
        self.shutdown.cancel();
        self.semaphore.close();
        for p in drained {
            let _ = p.reply.send(Err(err.clone()));
        }
    }

    fn push(&self, p: Pending) -> Result<(), (Pending, Error)> {
        let mut q = self.lock();
        if let Some(e) = &q.closed {
            return Err((p, e.clone()));
        }
        q.pending.push_back(p);
        Ok(())
    }

    fn pop(&self) -> Option<Pending> {
        self.lock().pending.pop_front()
    }

    fn idle(&self) -> bool {
        self.lock().pending.is_empty()
    }
}

/// Spawns the writer and reader tasks of a connection.
pub(crate) fn spawn<R, W>(
    read: R,
    write: W,
    rx: mpsc::Receiver<Command>,
    shared: Arc<Shared>,
    max_response_size: usize,
) where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    tokio::spawn(writer(write, rx, shared.clone()));
    tokio::spawn(reader(read, shared, max_response_size));
}

async fn writer<W: AsyncWrite + Unpin>(
    mut w: W,
    mut rx: mpsc::Receiver<Command>,
    shared: Arc<Shared>,
) {
    let mut next_id: i32 = 0;
    let mut out = BytesMut::with_capacity(COALESCE);
    let mut unanswered: Vec<(oneshot::Sender<Reply>, OwnedSemaphorePermit)> = Vec::new();
    loop {
        let cmd = tokio::select! {
            biased;
            _ = shared.shutdown.cancelled() => break,
            cmd = rx.recv() => cmd,
        };
        let Some(cmd) = cmd else {
            // Every handle is gone: finish what is in flight, then let the reader close.
            shared.writer_done.cancel();
            break;
        };
        let mut size = cmd.frame.len();
        let mut batch = vec![cmd];
        while size < COALESCE {
            match rx.try_recv() {
                Ok(cmd) => {
                    size += cmd.frame.len();
                    batch.push(cmd);
                }
                Err(_) => break,
            }
        }
        let mut result = Ok(());
        for cmd in batch {
            let id = next_id;
            next_id = next_id.wrapping_add(1) & i32::MAX;
            let Command {
                mut frame,
                expects_response,
                version,
                reply,
                permit,
                orphan,
            } = cmd;
            frame[CORRELATION_OFFSET..CORRELATION_OFFSET + 4].copy_from_slice(&id.to_be_bytes());
            if expects_response {
                let p = Pending {
                    correlation_id: id,
                    version,
                    reply,
                    permit,
                    orphan,
                };
                // Registered before the bytes leave, so the reader always finds it.
                if let Err((p, e)) = shared.push(p) {
                    let _ = p.reply.send(Err(e));
                    continue;
                }
            } else {
                unanswered.push((reply, permit));
            }
            if result.is_err() {
                continue;
            }
            if frame.len() >= DIRECT_WRITE {
                result = write(&mut w, &mut out, &shared).await;
                if result.is_ok() {
                    result = tokio::select! {
                        biased;
                        _ = shared.shutdown.cancelled() => Err(Error::Closed),
                        r = w.write_all(&frame) => r.map_err(|e| Error::io(&shared.broker, e)),
                    };
                }
            } else {
                out.extend_from_slice(&frame);
            }
        }
        if result.is_ok() {
            result = write(&mut w, &mut out, &shared).await;
        }
        if let Err(e) = result {
            for (reply, _) in unanswered.drain(..) {
                let _ = reply.send(Err(e.clone()));
            }
            shared.fail(e);
            break;
        }
        for (reply, _permit) in unanswered.drain(..) {
            let _ = reply.send(Ok(None));
        }
    }
    // Refuse what is still queued.
    rx.close();
    let err = shared.closed().unwrap_or(Error::Closed);
    while let Ok(cmd) = rx.try_recv() {
        let _ = cmd.reply.send(Err(err.clone()));
    }
    let _ = w.shutdown().await;
}

async fn write<W: AsyncWrite + Unpin>(
    w: &mut W,
    out: &mut BytesMut,
    shared: &Shared,
) -> Result<(), Error> {
    // Always flushed, even with nothing buffered here: a frame written directly may still sit
    // in a TLS session's buffer.
    let r = tokio::select! {
        biased;
        _ = shared.shutdown.cancelled() => Err(Error::Closed),
        r = async {
            if !out.is_empty() {
                w.write_all(out).await?;
            }
            w.flush().await
        } => r.map_err(|e| Error::io(&shared.broker, e)),
    };
    out.clear();
    r
}

async fn reader<R: AsyncRead + Unpin>(mut r: R, shared: Arc<Shared>, max_response_size: usize) {
    let decoder = FrameDecoder::new(max_response_size);
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let err = loop {
        match decoder.decode(&mut buf) {
            Ok(Some(frame)) => {
                if let Err(e) = dispatch(&shared, frame) {
                    break e;
                }
                continue;
            }
            Ok(None) => {}
            Err(source) => {
                break Error::Decode {
                    broker: shared.broker.clone(),
                    source,
                };
            }
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(8 * 1024);
        }
        let idle = shared.idle();
        let n = tokio::select! {
            biased;
            _ = shared.shutdown.cancelled() => return,
            _ = shared.writer_done.cancelled(), if idle => break Error::Closed,
            n = r.read_buf(&mut buf) => n,
        };
        match n {
            Ok(0) => {
                break Error::Disconnected {
                    broker: shared.broker.clone(),
                    reason: Arc::from(if buf.is_empty() {
                        "the broker closed the connection"
                    } else {
                        "the broker closed the connection in the middle of a response"
                    }),
                };
            }
            Ok(_) => {}
            Err(e) => {
                break Error::Disconnected {
                    broker: shared.broker.clone(),
                    reason: Arc::from(e.to_string()),
                };
            }
        }
    };
    shared.fail(err);
}

/// Hands one response frame to the oldest pending request.
fn dispatch(shared: &Shared, frame: Bytes) -> Result<(), Error> {
    let got = ResponseHeader::peek_correlation_id(&frame).map_err(|source| Error::Decode {
        broker: shared.broker.clone(),
        source,
    })?;
    let Some(p) = shared.pop() else {
        return Err(Error::CorrelationMismatch {
            broker: shared.broker.clone(),
            expected: None,
            got,
        });
    };
    if p.correlation_id != got {
        let e = Error::CorrelationMismatch {
            broker: shared.broker.clone(),
            expected: Some(p.correlation_id),
            got,
        };
        let _ = p.reply.send(Err(e.clone()));
        return Err(e);
    }
    let answer = Answer {
        frame,
        permit: p.permit,
    };
    if let Err(Ok(Some(answer))) = p.reply.send(Ok(Some(answer))) {
        // The caller went away; the response is read and dropped, but a throttle it carries
        // still counts for this connection (applied before the slot is released).
        if let (Some(handle), Some(read)) = (&shared.throttle, p.orphan)
            && let Some((ms, broker_delayed)) = read(&answer.frame, p.version)
        {
            handle.observe(ms, broker_delayed);
        }
        tracing::trace!(broker = %shared.broker, correlation_id = got, "response discarded: caller gone");
    }
    Ok(())
}
