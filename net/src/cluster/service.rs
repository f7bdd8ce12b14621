//! The per-broker service handed to producers: throttle -> request timeout -> connection.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tower::timeout::Timeout;
use tower::{Service, ServiceExt};

use crate::connection::{BrokerConnection, KafkaRequest, Response, ResponseBody};
use crate::error::Error;
use crate::throttle::{ThrottleHandle, ThrottleLayer, ThrottleService};

type Stack = ThrottleService<Timeout<BrokerConnection>>;

/// One broker's request service: waits out the broker's throttle (KIP-219) in `poll_ready`,
/// bounds each request by `request.timeout.ms`, and sends it on the broker's connection with
/// at most `max_in_flight` requests in flight.
///
/// Cheap to clone; clones share the connection and the throttle deadline. Obtained from
/// [`Cluster::broker`](crate::Cluster::broker) and friends.
#[derive(Clone)]
pub struct BrokerService {
    node_id: i32,
    stack: Stack,
    connection: BrokerConnection,
    throttle: ThrottleHandle,
}

impl std::fmt::Debug for BrokerService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerService")
            .field("node_id", &self.node_id)
            .field("broker", &self.connection.broker())
            .finish_non_exhaustive()
    }
}

impl BrokerService {
    pub(crate) fn new(
        node_id: i32,
        connection: BrokerConnection,
        throttle: &ThrottleLayer,
        request_timeout: Duration,
    ) -> Self {
        let stack =
            tower::Layer::layer(throttle, Timeout::new(connection.clone(), request_timeout));
        BrokerService {
            node_id,
            stack,
            connection,
            throttle: throttle.handle(),
        }
    }

    /// The broker id.
    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    /// The underlying connection (versions, state).
    pub fn connection(&self) -> &BrokerConnection {
        &self.connection
    }

    /// The broker's throttle state and metrics.
    pub fn throttle(&self) -> &ThrottleHandle {
        &self.throttle
    }

    /// The version a request of type `R` is sent at.
    pub fn version_for<R: KafkaRequest>(&self) -> Result<i16, Error> {
        self.connection.version_for::<R>()
    }

    /// Sends one request through the whole stack and waits for its response.
    pub async fn send<R: KafkaRequest>(&self, req: R) -> Result<Response<R::Response>, Error> {
        self.clone().oneshot(req).await
    }
}

impl<R: KafkaRequest> Service<R> for BrokerService {
    type Response = Response<R::Response>;
    type Error = Error;
    type Future = BrokerFuture<<Stack as Service<R>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        <Stack as Service<R>>::poll_ready(&mut self.stack, cx).map_err(Error::from_boxed)
    }

    fn call(&mut self, req: R) -> Self::Future {
        BrokerFuture {
            inner: self.stack.call(req),
        }
    }
}

pin_project! {
    /// The future of a [`BrokerService`] call.
    pub struct BrokerFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, B> Future for BrokerFuture<F>
where
    F: Future<Output = Result<Response<B>, tower::BoxError>>,
    B: ResponseBody,
{
    type Output = Result<Response<B>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map_err(Error::from_boxed)
    }
}

impl<F> std::fmt::Debug for BrokerFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerFuture").finish_non_exhaustive()
    }
}
