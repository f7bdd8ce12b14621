//! Typed requests and responses on a connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use klamm_protocol::codec::check_decode_version;
use klamm_protocol::header::ResponseHeader;
use klamm_protocol::messages::*;
use klamm_protocol::primitives::DecodeContext;
use klamm_protocol::{DecodeError, Message, Request};
use tokio::sync::oneshot;

use super::io::{OrphanThrottle, Reply};
use crate::error::Error;
use crate::throttle::{ThrottleHandle, ThrottleTime, broker_delays_response};

/// A response body this crate can hand back: every response message of klamm-protocol.
pub trait ResponseBody: Message + Default + Send + 'static {
    /// The body's `throttle_time_ms`, if the message has one.
    fn throttle_time_ms(&self) -> Option<i32>;
}

/// A request this crate can send: every request message of klamm-protocol.
pub trait KafkaRequest: Request<Response: ResponseBody> + Send + 'static {
    /// Whether the broker answers. Only a Produce with `acks = 0` is not answered; its
    /// response is then an empty (default) body, returned once the request is written.
    fn expects_response(&self) -> bool {
        true
    }

    /// The versions this particular request may be sent at; the type's whole range unless the
    /// request's content rules some out.
    fn version_range(&self) -> (i16, i16) {
        Self::VERSIONS
    }
}

macro_rules! bodies {
    (throttled: $($resp:ty),* ; unthrottled: $($plain:ty),* ; requests: $($req:ty),*) => {
        $(impl ResponseBody for $resp {
            fn throttle_time_ms(&self) -> Option<i32> { Some(self.throttle_time_ms) }
        })*
        $(impl ResponseBody for $plain {
            fn throttle_time_ms(&self) -> Option<i32> { None }
        })*
        $(impl KafkaRequest for $req {})*
    };
}

bodies! {
    throttled: ApiVersionsResponse, MetadataResponse, FetchResponse, ListOffsetsResponse,
        OffsetFetchResponse, FindCoordinatorResponse, CreateTopicsResponse,
        InitProducerIdResponse, AddPartitionsToTxnResponse, AddOffsetsToTxnResponse,
        EndTxnResponse, TxnOffsetCommitResponse, DescribeProducersResponse, ProduceResponse,
        DescribeClientQuotasResponse, AlterClientQuotasResponse;
    unthrottled: SaslHandshakeResponse, SaslAuthenticateResponse;
    requests: ApiVersionsRequest, MetadataRequest, FetchRequest, ListOffsetsRequest,
        OffsetFetchRequest, FindCoordinatorRequest, CreateTopicsRequest, InitProducerIdRequest,
        AddPartitionsToTxnRequest, AddOffsetsToTxnRequest, EndTxnRequest,
        TxnOffsetCommitRequest, DescribeProducersRequest, SaslHandshakeRequest,
        SaslAuthenticateRequest, DescribeClientQuotasRequest, AlterClientQuotasRequest
}

impl KafkaRequest for ProduceRequest {
    fn expects_response(&self) -> bool {
        self.acks != 0
    }

    /// KIP-890 part 2: a transactional Produce v12 makes the broker add the partition to the
    /// transaction implicitly, which only a producer in transaction version 2 may rely on. A
    /// transactional request therefore stops at v11 here.
    fn version_range(&self) -> (i16, i16) {
        if self.transactional_id.is_some() {
            (Self::VERSIONS.0, Self::VERSIONS.1.min(11))
        } else {
            Self::VERSIONS
        }
    }
}

/// A decoded response and the version it was sent at.
#[derive(Debug, Clone, PartialEq)]
pub struct Response<B> {
    /// The API version of the exchange.
    pub version: i16,
    /// The response body.
    pub body: B,
    /// Whether the connection already applied the body's throttle to its throttle handle
    /// (then [`ThrottleTime`] reports none, so a ThrottleLayer above does not count it twice).
    pub(crate) throttle_recorded: bool,
}

impl<B> Response<B> {
    /// A response as received at `version`.
    pub fn new(version: i16, body: B) -> Self {
        Response {
            version,
            body,
            throttle_recorded: false,
        }
    }
}

impl<B> std::ops::Deref for Response<B> {
    type Target = B;
    fn deref(&self) -> &B {
        &self.body
    }
}

impl<B: ResponseBody> ThrottleTime for Response<B> {
    fn throttle_time_ms(&self) -> Option<i32> {
        if self.throttle_recorded {
            return None;
        }
        self.body.throttle_time_ms()
    }
    fn throttled_by_broker(&self) -> bool {
        broker_delays_response(B::API_KEY, self.version)
    }
}

/// Decodes a response frame (header and body) at `version`.
///
/// Bytes left over after a complete body are ignored (and logged), as the Java client and
/// librdkafka do: a newer broker may append fields, and some peers send a stray byte (the
/// librdkafka mock does after flexible Metadata responses).
pub(crate) fn decode_frame<B: ResponseBody>(
    frame: &Bytes,
    version: i16,
    broker: &Arc<str>,
) -> Result<B, Error> {
    let hv = B::API_KEY.response_header_version(version);
    let decode = || {
        check_decode_version::<B>(version)?;
        let (_, body) = ResponseHeader::split_frame(frame, hv)?;
        let cx = DecodeContext::new(&body, version);
        match B::read(&body[..], &cx) {
            Ok((rest, msg)) => {
                if !rest.is_empty() {
                    tracing::debug!(%broker, api = %B::API_KEY, version, trailing = rest.len(), "ignoring trailing bytes after a response body");
                }
                Ok(msg)
            }
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e),
            Err(nom::Err::Incomplete(_)) => Err(DecodeError::Truncated {
                what: "response body",
                needed: 1,
                remaining: 0,
            }),
        }
    };
    decode().map_err(|source| Error::Decode {
        broker: broker.clone(),
        source,
    })
}

/// Reads the throttle of a response nobody waits for (see [`super::io::OrphanThrottle`]).
pub(crate) fn orphan_throttle<B: ResponseBody>(frame: &Bytes, version: i16) -> Option<(i32, bool)> {
    let body: B = decode_frame(frame, version, &Arc::from("")).ok()?;
    let ms = body.throttle_time_ms()?;
    Some((ms, broker_delays_response(B::API_KEY, version)))
}

/// The future of a request on a [`BrokerConnection`](crate::BrokerConnection).
///
/// Dropping it is safe at any time: the response is still read off the connection and
/// discarded.
pub struct ResponseFuture<B> {
    state: State,
    _body: std::marker::PhantomData<fn() -> B>,
}

enum State {
    Failed(Option<Error>),
    Waiting {
        rx: oneshot::Receiver<Reply>,
        version: i16,
        broker: Arc<str>,
        throttle: Option<ThrottleHandle>,
        orphan: OrphanThrottle,
    },
}

impl<B> ResponseFuture<B> {
    pub(crate) fn failed(e: Error) -> Self {
        ResponseFuture {
            state: State::Failed(Some(e)),
            _body: std::marker::PhantomData,
        }
    }
}

impl<B: ResponseBody> ResponseFuture<B> {
    pub(crate) fn waiting(
        rx: oneshot::Receiver<Reply>,
        version: i16,
        broker: Arc<str>,
        throttle: Option<ThrottleHandle>,
    ) -> Self {
        ResponseFuture {
            state: State::Waiting {
                rx,
                version,
                broker,
                throttle,
                orphan: orphan_throttle::<B>,
            },
            _body: std::marker::PhantomData,
        }
    }
}

impl<B> Drop for ResponseFuture<B> {
    /// A future dropped after its response arrived but before it was polled again still
    /// applies the response's throttle (the connection's reader cannot: it handed it over).
    fn drop(&mut self) {
        if let State::Waiting {
            rx,
            version,
            throttle: Some(handle),
            orphan,
            ..
        } = &mut self.state
            && let Ok(Ok(Some(answer))) = rx.try_recv()
            && let Some((ms, broker_delayed)) = orphan(&answer.frame, *version)
        {
            handle.observe(ms, broker_delayed);
        }
    }
}

impl<B> std::fmt::Debug for ResponseFuture<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<B: ResponseBody> Future for ResponseFuture<B> {
    type Output = Result<Response<B>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            State::Failed(e) => Poll::Ready(Err(e.take().unwrap_or(Error::Closed))),
            State::Waiting {
                rx,
                version,
                broker,
                throttle,
                ..
            } => {
                let reply = match Pin::new(rx).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(r)) => r,
                    Poll::Ready(Err(_)) => Err(Error::Disconnected {
                        broker: broker.clone(),
                        reason: Arc::from("the connection task ended"),
                    }),
                };
                let version = *version;
                Poll::Ready(match reply {
                    Ok(Some(answer)) => {
                        let mut resp = decode_frame::<B>(&answer.frame, version, broker)
                            .map(|body| Response::new(version, body));
                        if let (Ok(r), Some(handle)) = (&mut resp, throttle.as_ref())
                            && let Some(ms) = r.body.throttle_time_ms()
                        {
                            handle.observe(ms, broker_delays_response(B::API_KEY, version));
                            r.throttle_recorded = true;
                        }
                        // Only now may another request take this slot.
                        drop(answer.permit);
                        resp
                    }
                    Ok(None) => Ok(Response::new(version, B::default())),
                    Err(e) => Err(e),
                })
            }
        }
    }
}

#[cfg(test)]
mod version_range_tests {
    use super::*;

    #[test]
    fn a_transactional_produce_stops_at_v11_and_a_plain_one_uses_the_whole_range() {
        let plain = ProduceRequest::default();
        assert_eq!(plain.version_range(), ProduceRequest::VERSIONS);
        assert_eq!(ProduceRequest::VERSIONS.1, 12);
        let txn = ProduceRequest {
            transactional_id: Some("orders-0".into()),
            ..Default::default()
        };
        assert_eq!(txn.version_range(), (ProduceRequest::VERSIONS.0, 11));
    }
}
