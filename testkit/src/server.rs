//! Listeners and connections: frames in, requests through the APIs, responses out.
//!
//! Each connection has a reader task that reads frames as they arrive (logging each arrival
//! with its time, so tests see exactly when a client sent) and a processor that answers them
//! in order, one at a time, as a Kafka broker does (answers to requests that were already
//! waiting leave in one write). Bad input closes only that connection.

use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use klamm_protocol::ApiKey;
use klamm_protocol::frame::FrameDecoder;
use klamm_protocol::header::RequestHeader;
use klamm_protocol::messages::RequestBody;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::apis::{self, Ctx, Outcome};
use crate::cluster::Inner;
use crate::control::{Arrival, ThrottleEvent};

/// Requests read ahead of the one being processed, per connection.
const READ_AHEAD: usize = 32;

/// Answers gathered for one write at most (more are written at once).
const COALESCE: usize = 64 * 1024;

/// Per-connection state the APIs may change.
#[derive(Debug, Default)]
pub(crate) struct ConnState {
    /// Whether SASL authentication succeeded (always true without SASL).
    pub authenticated: bool,
    /// SASL exchange in progress.
    pub sasl: crate::sasl::SaslSession,
}

/// Accepts connections for one broker until aborted; aborting drops every connection.
pub(crate) async fn listen(inner: Arc<Inner>, node: i32, listener: TcpListener) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let id = inner.next_connection();
                    tracing::debug!(node, conn = id, %peer, "connection accepted");
                    match inner.tls.clone() {
                        None => {
                            conns.spawn(serve(inner.clone(), node, id, stream));
                        }
                        Some(tls) => {
                            let inner = inner.clone();
                            conns.spawn(async move {
                                match tls.acceptor.accept(stream).await {
                                    Ok(s) => serve(inner, node, id, s).await,
                                    Err(e) => {
                                        tracing::debug!(node, conn = id, error = %e, "TLS handshake failed");
                                    }
                                }
                            });
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(node, error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Incoming {
    header: RequestHeader,
    body: Bytes,
    size: usize,
}

/// Serves one connection until the client closes it, a fault drops it or input is bad.
pub(crate) async fn serve<S>(inner: Arc<Inner>, node: i32, conn: u64, stream: S)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (rd, mut wr) = tokio::io::split(stream);
    let deadline = Arc::new(Mutex::new(None::<Instant>));
    let (tx, mut rx) = mpsc::channel(READ_AHEAD);
    // Aborted however this future ends (even when the broker is stopped and this task is
    // aborted), so the socket closes at once.
    let _reader = AbortOnDrop(tokio::spawn(read_frames(
        inner.clone(),
        node,
        conn,
        rd,
        tx,
        deadline.clone(),
    )));
    let mut state = ConnState {
        authenticated: inner.sasl.is_none(),
        ..ConnState::default()
    };
    // Answers not written yet: when requests arrive faster than they are answered (a client
    // pipelining on one connection), several answers leave in one write. Order and content
    // are the same as one write each; anything that makes the connection wait (a throttle, a
    // delayed request, a close) writes what is answered first.
    let mut out = BytesMut::new();
    let mut next = rx.recv().await;
    while let Some(req) = next.take() {
        // KIP-219: a throttled connection is muted until its deadline.
        let until = *deadline.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(until) = until.filter(|u| *u > Instant::now()) {
            if flush(&mut wr, &mut out).await.is_err() {
                break;
            }
            tokio::time::sleep_until(until.into()).await;
        }
        let mut handling = std::pin::pin!(process(&inner, node, conn, &mut state, req));
        let handled = match std::future::poll_fn(|cx| Poll::Ready(handling.as_mut().poll(cx))).await
        {
            Poll::Ready(handled) => handled,
            Poll::Pending => {
                // The request waits (a delay fault): earlier answers go out first.
                if flush(&mut wr, &mut out).await.is_err() {
                    break;
                }
                handling.await
            }
        };
        let Some((frame, throttle)) = handled else {
            let _ = flush(&mut wr, &mut out).await;
            break;
        };
        if let Some((ms, delay_first)) = throttle {
            if delay_first {
                // Before KIP-219 the answer itself is held back.
                if flush(&mut wr, &mut out).await.is_err() {
                    break;
                }
                tokio::time::sleep(apis::ms(ms)).await;
            } else {
                let until = crate::apis::now() + apis::ms(ms);
                let mut d = deadline.lock().unwrap_or_else(|e| e.into_inner());
                *d = Some(d.map_or(until, |old| old.max(until)));
            }
        }
        if let Some(frame) = frame {
            out.extend_from_slice(&frame);
        }
        next = match rx.try_recv() {
            Ok(req) if out.len() < COALESCE => Some(req),
            queued => {
                if flush(&mut wr, &mut out).await.is_err() {
                    break;
                }
                match queued {
                    Ok(req) => Some(req),
                    Err(_) => rx.recv().await,
                }
            }
        };
    }
    let _ = wr.shutdown().await;
    tracing::debug!(node, conn, "connection closed");
}

/// Writes the answers gathered in `out` (if any) and empties it.
async fn flush<W: AsyncWrite + Unpin>(wr: &mut W, out: &mut BytesMut) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let written = wr.write_all(out).await;
    out.clear();
    written
}

/// Handles one request: `None` closes the connection; otherwise the frame to send (if any)
/// and the throttle to apply (ms, whether to delay the response itself).
async fn process(
    inner: &Inner,
    node: i32,
    conn: u64,
    state: &mut ConnState,
    req: Incoming,
) -> Option<(Option<Bytes>, Option<(i32, bool)>)> {
    let h = req.header;
    let Some(api) = ApiKey::from_i16(h.request_api_key) else {
        return refuse(inner, node, conn, "unknown API key");
    };
    let Some((min, max)) = apis::served(api) else {
        return refuse(inner, node, conn, "API not served");
    };
    let version = h.request_api_version;
    if version < min || version > max {
        if api == ApiKey::ApiVersions {
            // KIP-511: answer in v0 with UNSUPPORTED_VERSION and what is supported.
            inner
                .observations()
                .count_error_codes(api, node, &[crate::codes::UNSUPPORTED_VERSION]);
            return Some((
                Some(apis::unsupported_version_frame(h.correlation_id)),
                None,
            ));
        }
        return refuse(inner, node, conn, "unsupported version");
    }
    if !state.authenticated
        && !matches!(
            api,
            ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
        )
    {
        return refuse(inner, node, conn, "request before SASL authentication");
    }
    let body = match RequestBody::decode(api, version, &req.body) {
        Ok(b) => b,
        Err(e) => {
            tracing::debug!(node, conn, api = api.name(), error = %e, "undecodable request");
            return refuse(inner, node, conn, "undecodable request body");
        }
    };
    let client_id = h.client_id.unwrap_or_default();
    let mut ctx = Ctx {
        inner,
        node,
        version,
        client_id: &client_id,
        request_size: req.size,
        now: crate::apis::now(),
        quota_throttle_ms: 0,
        close_after: false,
        conn: state,
    };
    match apis::dispatch(&mut ctx, h.correlation_id, body).await {
        Outcome::Close => None,
        Outcome::Silent => Some((None, None)),
        Outcome::Respond {
            frame,
            throttle_ms,
            from_quota,
        } => {
            let throttle = (throttle_ms > 0).then(|| {
                inner.observations().log_throttle(ThrottleEvent {
                    broker: node,
                    connection: conn,
                    api_key: api.as_i16(),
                    at: crate::apis::now(),
                    throttle_ms,
                    from_quota,
                });
                (throttle_ms, !apis::kip219(api, version))
            });
            Some((Some(frame), throttle))
        }
    }
}

fn refuse<T>(inner: &Inner, node: i32, conn: u64, why: &str) -> Option<T> {
    tracing::debug!(node, conn, why, "closing connection");
    inner.observations().malformed_requests += 1;
    None
}

/// Reads frames, logs their arrival and passes them on, until EOF or bad input.
async fn read_frames<R>(
    inner: Arc<Inner>,
    node: i32,
    conn: u64,
    mut rd: R,
    tx: mpsc::Sender<Incoming>,
    deadline: Arc<Mutex<Option<Instant>>>,
) where
    R: AsyncRead + Unpin,
{
    let decoder = FrameDecoder::new(inner.max_frame);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        let frame = match decoder.decode(&mut buf) {
            Ok(Some(f)) => f,
            Ok(None) => match rd.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            },
            Err(e) => {
                tracing::debug!(node, conn, error = %e, "bad frame");
                inner.observations().malformed_requests += 1;
                return;
            }
        };
        let at = crate::apis::now();
        let size = frame.len() + 4;
        let (header, body) = match RequestHeader::split_frame(&frame) {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(node, conn, error = %e, "bad request header");
                inner.observations().malformed_requests += 1;
                return;
            }
        };
        let throttled_until =
            (*deadline.lock().unwrap_or_else(|e| e.into_inner())).filter(|d| *d > at);
        inner.observations().log_arrival(Arrival {
            broker: node,
            connection: conn,
            at,
            api_key: header.request_api_key,
            api_version: header.request_api_version,
            correlation_id: header.correlation_id,
            client_id: header.client_id.clone(),
            throttled_until,
        });
        if tx.send(Incoming { header, body, size }).await.is_err() {
            return;
        }
    }
}
