//! One module per Kafka API the brokers serve, and the dispatch that runs a request through
//! the fault rules, its handler and the throttling of its response.

mod add_offsets_to_txn;
mod add_partitions_to_txn;
mod alter_client_quotas;
mod api_versions;
mod create_topics;
mod describe_client_quotas;
mod describe_producers;
mod end_txn;
mod fetch;
mod find_coordinator;
mod init_producer_id;
mod list_offsets;
mod metadata;
mod offset_fetch;
mod produce;
mod sasl;
mod sent_codes;
mod txn_offset_commit;

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use klamm_protocol::frame::encode_response_frame;
use klamm_protocol::messages::RequestBody;
use klamm_protocol::{ApiKey, Message};

use crate::cluster::Inner;
use crate::control::FaultAction;
use crate::server::ConnState;

pub(crate) use api_versions::unsupported_version_frame;

/// The APIs and versions the brokers serve (clipped to what the codec supports).
const SERVED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 12),
    (ApiKey::Fetch, 4, 16),
    (ApiKey::ListOffsets, 1, 9),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::FindCoordinator, 0, 6),
    // v0 would switch the connection to raw SASL tokens; clients use v1.
    (ApiKey::SaslHandshake, 1, 1),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::AddPartitionsToTxn, 0, 5),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 5),
    (ApiKey::TxnOffsetCommit, 0, 4),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::DescribeClientQuotas, 0, 1),
    (ApiKey::AlterClientQuotas, 0, 1),
];

/// The version range served for `api`, if it is served at all.
pub(crate) fn served(api: ApiKey) -> Option<(i16, i16)> {
    let (_, min, max) = SERVED.iter().find(|(k, _, _)| *k == api)?;
    let info = api.info();
    let (min, max) = ((*min).max(info.min_version), (*max).min(info.max_version));
    (min <= max).then_some((min, max))
}

/// Whether `version` of `api` is answered first and throttled after (KIP-219); for older
/// versions the broker delays the response itself. The table is klamm-protocol's, shared with
/// the client side (klamm-net's throttle layer).
pub(crate) fn kip219(api: ApiKey, version: i16) -> bool {
    api.client_enforces_throttle(version)
}

/// What a handler sees of its request's context.
pub(crate) struct Ctx<'a> {
    /// The cluster.
    pub inner: &'a Inner,
    /// Node id of the broker that received the request.
    pub node: i32,
    /// Request version.
    pub version: i16,
    /// Client id from the header ("" if null).
    pub client_id: &'a str,
    /// Size of the request frame.
    pub request_size: usize,
    /// When handling began.
    pub now: Instant,
    /// Throttle time a quota asks for (set by Produce).
    pub quota_throttle_ms: i32,
    /// Close the connection after handling (Produce with acks=0 that failed, as Kafka does
    /// so that the client notices).
    pub close_after: bool,
    /// Per-connection state (SASL).
    pub conn: &'a mut ConnState,
}

/// One API's handler.
pub(crate) trait Api {
    /// The request body.
    type Req: Message + Send;
    /// The response body.
    type Resp: Message + Send + sent_codes::SentCodes;
    /// Handles the request; `None` sends no response (Produce with acks=0).
    fn handle(ctx: &mut Ctx<'_>, req: Self::Req)
    -> impl Future<Output = Option<Self::Resp>> + Send;
    /// The response that answers `req` with `code` everywhere.
    fn error(ctx: &Ctx<'_>, req: &Self::Req, code: i16) -> Self::Resp;
    /// Sets the response's `throttle_time_ms`, where it has one.
    fn set_throttle(resp: &mut Self::Resp, ms: i32);
    /// Whether the client waits for a response (false for Produce with acks=0).
    fn expects_response(_req: &Self::Req) -> bool {
        true
    }
}

/// What to do after handling a request.
pub(crate) enum Outcome {
    /// Send this frame (length prefix included); throttle the connection for `throttle_ms`
    /// (`from_quota` says why).
    Respond {
        frame: Bytes,
        throttle_ms: i32,
        from_quota: bool,
    },
    /// Send nothing.
    Silent,
    /// Close the connection.
    Close,
}

async fn run<A: Api>(ctx: &mut Ctx<'_>, correlation_id: i32, req: A::Req) -> Outcome {
    let api = A::Req::API_KEY;
    let actions = ctx.inner.observations().on_request(api, ctx.node);
    let mut injected_error = None;
    let mut drop_after = false;
    let mut injected_throttle = None;
    for a in &actions {
        match *a {
            FaultAction::Delay(d) => tokio::time::sleep(d).await,
            FaultAction::DropBefore => return Outcome::Close,
            FaultAction::Error(code) => injected_error = injected_error.or(Some(code)),
            FaultAction::DropAfter => drop_after = true,
            FaultAction::Throttle(ms) => injected_throttle = Some(ms),
        }
    }
    ctx.now = now();
    let resp = match injected_error {
        Some(_) if !A::expects_response(&req) => None,
        Some(code) => Some(A::error(ctx, &req, code)),
        None => A::handle(ctx, req).await,
    };
    if drop_after || ctx.close_after {
        return Outcome::Close;
    }
    let Some(mut resp) = resp else {
        return Outcome::Silent;
    };
    count_sent_codes(ctx, api, &resp);
    let (throttle_ms, from_quota) = match injected_throttle {
        Some(ms) => (ms, false),
        None => (ctx.quota_throttle_ms, ctx.quota_throttle_ms > 0),
    };
    A::set_throttle(&mut resp, throttle_ms.max(0));
    let mut buf = BytesMut::new();
    match encode_response_frame(&mut buf, correlation_id, &resp, ctx.version) {
        Ok(()) => Outcome::Respond {
            frame: buf.freeze(),
            throttle_ms: throttle_ms.max(0),
            from_quota,
        },
        Err(e) => {
            tracing::warn!(api = api.name(), error = %e, "cannot encode response; closing");
            Outcome::Close
        }
    }
}

/// Counts the non-zero error codes of a response about to be sent (one lock per response,
/// none when it carries no error).
fn count_sent_codes<R: sent_codes::SentCodes>(ctx: &Ctx<'_>, api: ApiKey, resp: &R) {
    let mut errors: Vec<i16> = Vec::new();
    resp.sent_codes(ctx.version, &mut |c| {
        if c != 0 {
            errors.push(c);
        }
    });
    if !errors.is_empty() {
        ctx.inner
            .observations()
            .count_error_codes(api, ctx.node, &errors);
    }
}

/// Runs one decoded request.
pub(crate) async fn dispatch(ctx: &mut Ctx<'_>, correlation_id: i32, body: RequestBody) -> Outcome {
    let c = correlation_id;
    match body {
        RequestBody::Produce(r) => run::<produce::Produce>(ctx, c, r).await,
        RequestBody::Fetch(r) => run::<fetch::Fetch>(ctx, c, r).await,
        RequestBody::ListOffsets(r) => run::<list_offsets::ListOffsets>(ctx, c, r).await,
        RequestBody::Metadata(r) => run::<metadata::Metadata>(ctx, c, r).await,
        RequestBody::OffsetFetch(r) => run::<offset_fetch::OffsetFetch>(ctx, c, r).await,
        RequestBody::FindCoordinator(r) => {
            run::<find_coordinator::FindCoordinator>(ctx, c, r).await
        }
        RequestBody::SaslHandshake(r) => run::<sasl::Handshake>(ctx, c, r).await,
        RequestBody::ApiVersions(r) => run::<api_versions::ApiVersions>(ctx, c, r).await,
        RequestBody::CreateTopics(r) => run::<create_topics::CreateTopics>(ctx, c, r).await,
        RequestBody::InitProducerId(r) => run::<init_producer_id::InitProducerId>(ctx, c, r).await,
        RequestBody::AddPartitionsToTxn(r) => {
            run::<add_partitions_to_txn::AddPartitionsToTxn>(ctx, c, r).await
        }
        RequestBody::AddOffsetsToTxn(r) => {
            run::<add_offsets_to_txn::AddOffsetsToTxn>(ctx, c, r).await
        }
        RequestBody::EndTxn(r) => run::<end_txn::EndTxn>(ctx, c, r).await,
        RequestBody::TxnOffsetCommit(r) => {
            run::<txn_offset_commit::TxnOffsetCommit>(ctx, c, r).await
        }
        RequestBody::SaslAuthenticate(r) => run::<sasl::Authenticate>(ctx, c, r).await,
        RequestBody::DescribeProducers(r) => {
            run::<describe_producers::DescribeProducers>(ctx, c, r).await
        }
        RequestBody::DescribeClientQuotas(r) => {
            run::<describe_client_quotas::DescribeClientQuotas>(ctx, c, r).await
        }
        RequestBody::AlterClientQuotas(r) => {
            run::<alter_client_quotas::AlterClientQuotas>(ctx, c, r).await
        }
        _ => Outcome::Close,
    }
}

/// Maps PRODUCER_FENCED to INVALID_PRODUCER_EPOCH for versions before `first_fenced`
/// (KIP-588: older clients do not know code 90).
pub(crate) fn fenced_for_version(code: i16, version: i16, first_fenced: i16) -> i16 {
    if code == crate::codes::PRODUCER_FENCED && version < first_fenced {
        crate::codes::INVALID_PRODUCER_EPOCH
    } else {
        code
    }
}

/// The current instant on tokio's clock (so a paused test clock pauses the brokers too), as a
/// `std` instant for the state model.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Milliseconds on the same clock since the first call, for rate measurements (quotas).
pub(crate) fn mono_ms() -> i64 {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(now);
    i64::try_from(now().saturating_duration_since(base).as_millis()).unwrap_or(i64::MAX)
}

/// Wall-clock milliseconds since the Unix epoch (record timestamps).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A duration from a non-negative millisecond count.
pub(crate) fn ms(v: i32) -> Duration {
    Duration::from_millis(u64::try_from(v).unwrap_or(0))
}
