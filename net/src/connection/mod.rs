//! One TCP (or TLS) connection to one broker, as a pipelined `tower::Service`.
//!
//! A writer task assigns correlation ids and writes frames; a reader task matches each response
//! to the oldest request in flight (Kafka answers in order on a connection). Up to
//! `max_in_flight` requests are in flight; `poll_ready` waits for a slot. A mismatched
//! correlation id, an oversized or malformed frame, or a lost connection closes the connection
//! and fails every pending request with a retriable error; a new connection must then be
//! opened (the [`Cluster`](crate::Cluster) does this with backoff).

mod handshake;
mod io;
mod request;
mod stream;
mod versions;

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use klamm_protocol::frame::encode_request_frame;
use klamm_protocol::header::RequestHeader;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};
use tokio_util::sync::PollSemaphore;
use tower::Service;

pub use request::{KafkaRequest, Response, ResponseBody, ResponseFuture};
pub use versions::ApiVersions;

use self::io::{Command, Shared};
use self::request::orphan_throttle;
use crate::config::ConnectionConfig;
use crate::error::Error;
use crate::throttle::ThrottleHandle;

/// A connection to one broker. Cheap to clone: clones share the connection.
///
/// ```no_run
/// use klamm_net::{BrokerConnection, ConnectionConfig};
/// use klamm_protocol::messages::MetadataRequest;
///
/// # async fn run() -> Result<(), klamm_net::Error> {
/// let conn = BrokerConnection::connect("127.0.0.1:9092", &ConnectionConfig::default()).await?;
/// let meta = conn.send(MetadataRequest::default()).await?;
/// println!("{} brokers (Metadata v{})", meta.brokers.len(), meta.version);
/// # Ok(()) }
/// ```
pub struct BrokerConnection {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Command>,
    semaphore: PollSemaphore,
    permit: Option<OwnedSemaphorePermit>,
    versions: Arc<ApiVersions>,
    client_id: Option<String>,
}

impl Clone for BrokerConnection {
    fn clone(&self) -> Self {
        BrokerConnection {
            shared: self.shared.clone(),
            tx: self.tx.clone(),
            semaphore: self.semaphore.clone(),
            permit: None,
            versions: self.versions.clone(),
            client_id: self.client_id.clone(),
        }
    }
}

impl std::fmt::Debug for BrokerConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerConnection")
            .field("broker", &self.shared.broker)
            .field("closed", &self.shared.closed())
            .finish_non_exhaustive()
    }
}

impl BrokerConnection {
    /// Connects to `addr` (`host:port`), negotiates API versions and authenticates if the
    /// configuration asks for SASL, all within the connect timeout.
    pub async fn connect(addr: &str, config: &ConnectionConfig) -> Result<Self, Error> {
        Self::connect_with_throttle(addr, config, None).await
    }

    /// As [`connect`](Self::connect); a throttle carried by a response whose caller went away
    /// is reported to `throttle` (the connection's [`ThrottleLayer`](crate::throttle::ThrottleLayer)
    /// handle), so cancellation never loses a throttle.
    pub async fn connect_with_throttle(
        addr: &str,
        config: &ConnectionConfig,
        throttle: Option<ThrottleHandle>,
    ) -> Result<Self, Error> {
        let broker: Arc<str> = Arc::from(addr);
        let setup = async {
            let (read, write) = stream::open(addr, config, &broker).await?;
            let shared = Shared::new(broker.clone(), throttle, config.max_in_flight);
            let (tx, rx) = mpsc::channel(config.max_in_flight);
            io::spawn(read, write, rx, shared.clone(), config.max_response_size);
            let mut conn = BrokerConnection {
                semaphore: PollSemaphore::new(shared.semaphore.clone()),
                shared,
                tx,
                permit: None,
                versions: Arc::new(ApiVersions::default()),
                client_id: config.client_id.clone(),
            };
            // ApiVersions and the SASL exchange run here, before the connection is handed to
            // the throttle layer, and do not wait for a throttle deadline. That matches what
            // Kafka does (KIP-219): the broker mutes the *connection* a throttled answer went
            // out on, so a new connection has nothing to wait for; every request after the
            // handshake still waits for the broker's deadline, which the cluster keeps across
            // reconnects. A throttle carried by the ApiVersions answer is reported to
            // `throttle`, so it holds the requests that follow (SASL answers carry none).
            let result = async {
                conn.versions = Arc::new(handshake::negotiate_versions(&conn).await?);
                if let Some(sasl) = &config.sasl {
                    handshake::authenticate(&conn, sasl).await?;
                }
                Ok::<_, Error>(())
            }
            .await;
            if let Err(e) = result {
                conn.close();
                return Err(e);
            }
            Ok(conn)
        };
        let conn = tokio::time::timeout(config.connect_timeout, setup)
            .await
            .map_err(|_| Error::ConnectTimeout {
                broker: broker.clone(),
            })??;
        tracing::info!(broker = %broker, "connected");
        Ok(conn)
    }

    /// The broker address this connection was opened to.
    pub fn broker(&self) -> &str {
        &self.shared.broker
    }

    /// The versions the broker advertised.
    pub fn api_versions(&self) -> &ApiVersions {
        &self.versions
    }

    /// The version a request of type `R` is sent at: the highest both sides support.
    pub fn version_for<R: KafkaRequest>(&self) -> Result<i16, Error> {
        self.versions
            .negotiate(R::API_KEY, R::VERSIONS, &self.shared.broker)
    }

    /// The version `req` is sent at: the highest both sides support within what the request's
    /// content allows ([`KafkaRequest::version_range`]).
    pub fn version_for_request<R: KafkaRequest>(&self, req: &R) -> Result<i16, Error> {
        self.versions
            .negotiate(R::API_KEY, req.version_range(), &self.shared.broker)
    }

    /// Sends `req` at the negotiated version and waits for the response (a slot in flight
    /// first). Dropping the future is safe at any point.
    pub async fn send<R: KafkaRequest>(&self, req: R) -> Result<Response<R::Response>, Error> {
        let version = self.version_for_request(&req)?;
        self.send_at(req, version).await
    }

    /// Sends `req` at an explicit `version` (which the broker must support).
    pub async fn send_at<R: KafkaRequest>(
        &self,
        req: R,
        version: i16,
    ) -> Result<Response<R::Response>, Error> {
        let permit = self.acquire().await?;
        let rx = self.start(&req, version, permit)?;
        ResponseFuture::waiting(
            rx,
            version,
            self.shared.broker.clone(),
            self.shared.throttle.clone(),
        )
        .await
    }

    /// Sends `req` at `version` and returns the raw response frame (header included).
    pub(crate) async fn roundtrip<R: KafkaRequest>(
        &self,
        req: &R,
        version: i16,
    ) -> Result<Bytes, Error> {
        let permit = self.acquire().await?;
        let rx = self.start(req, version, permit)?;
        match rx.await {
            Ok(Ok(Some(answer))) => Ok(answer.frame),
            Ok(Ok(None)) => Ok(Bytes::new()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(self.closed_error()),
        }
    }

    async fn acquire(&self) -> Result<OwnedSemaphorePermit, Error> {
        self.shared
            .semaphore
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| self.closed_error())
    }

    fn closed_error(&self) -> Error {
        self.shared.closed().unwrap_or(Error::Closed)
    }

    /// Encodes `req` and queues it for the writer.
    fn start<R: KafkaRequest>(
        &self,
        req: &R,
        version: i16,
        permit: OwnedSemaphorePermit,
    ) -> Result<oneshot::Receiver<io::Reply>, Error> {
        if let Some(e) = self.shared.closed() {
            return Err(e);
        }
        self.shared.note_request();
        let header = RequestHeader::new(R::API_KEY, version, 0, self.client_id.clone());
        let mut frame = BytesMut::new();
        encode_request_frame(&mut frame, &header, req, version)?;
        let (reply, rx) = oneshot::channel();
        let cmd = Command {
            frame,
            expects_response: req.expects_response(),
            version,
            reply,
            permit,
            orphan: Some(orphan_throttle::<R::Response>),
        };
        // Every queued command holds one of `max_in_flight` permits and the channel has as
        // many slots, so it is never full; it is closed only when the writer has stopped.
        self.tx.try_send(cmd).map_err(|_| self.closed_error())?;
        Ok(rx)
    }

    /// Closes the connection: pending requests fail with [`Error::Closed`].
    pub fn close(&self) {
        self.shared.fail(Error::Closed);
    }

    /// Whether the connection is closed or broken (then it stays so: open a new one).
    pub fn is_closed(&self) -> bool {
        self.shared.closed().is_some()
    }

    /// Why the connection ended, if it did.
    pub fn closed_reason(&self) -> Option<Error> {
        self.shared.closed()
    }

    /// Requests written and waiting for their response.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight()
    }

    /// How long the connection has had nothing in flight (zero while a request waits for
    /// its answer): what `connections.max.idle.ms` is compared with.
    pub fn idle_for(&self) -> std::time::Duration {
        self.shared.idle_for()
    }
}

impl<R: KafkaRequest> Service<R> for BrokerConnection {
    type Response = Response<R::Response>;
    type Error = Error;
    type Future = ResponseFuture<R::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.permit.is_some() {
            return Poll::Ready(Ok(()));
        }
        if let Some(e) = self.shared.closed() {
            return Poll::Ready(Err(e));
        }
        match self.semaphore.poll_acquire(cx) {
            Poll::Ready(Some(p)) => {
                self.permit = Some(p);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(None) => Poll::Ready(Err(self.closed_error())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn call(&mut self, req: R) -> Self::Future {
        let Some(permit) = self.permit.take() else {
            return ResponseFuture::failed(Error::NotReady);
        };
        let result = self
            .version_for_request(&req)
            .and_then(|v| Ok((v, self.start(&req, v, permit)?)));
        match result {
            Ok((version, rx)) => ResponseFuture::waiting(
                rx,
                version,
                self.shared.broker.clone(),
                self.shared.throttle.clone(),
            ),
            Err(e) => ResponseFuture::failed(e),
        }
    }
}
