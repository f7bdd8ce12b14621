//! What happens on a fresh connection before it is handed out: ApiVersions negotiation and
//! SASL authentication.

use bytes::Bytes;
use klamm_protocol::ApiKey;
use klamm_protocol::DecodeError;
use klamm_protocol::error_code::ErrorCode;
use klamm_protocol::header::ResponseHeader;
use klamm_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, SaslAuthenticateRequest, SaslHandshakeRequest,
};

use super::BrokerConnection;
use super::request::decode_frame;
use super::versions::ApiVersions;
use crate::error::Error;
use crate::sasl::SaslConfig;

/// The ApiVersions version tried first (KIP-511: client name and version).
const FIRST_TRY: i16 = 3;

/// Asks the broker for its API versions: v3 first; if the broker does not know v3 it answers
/// UNSUPPORTED_VERSION in an older layout (and some brokers' answer is not even well-formed
/// then), so only the error code is read before retrying at v0, as librdkafka does.
pub(crate) async fn negotiate_versions(conn: &BrokerConnection) -> Result<ApiVersions, Error> {
    let req = ApiVersionsRequest {
        client_software_name: "klamm".to_owned(),
        client_software_version: env!("CARGO_PKG_VERSION").to_owned(),
        ..Default::default()
    };
    let broker = conn.shared.broker.clone();
    let frame = conn.roundtrip(&req, FIRST_TRY).await?;
    let code = error_code_only(&frame).map_err(|source| Error::Decode {
        broker: broker.clone(),
        source,
    })?;
    let (resp, version): (ApiVersionsResponse, i16) = if code == ErrorCode::UnsupportedVersion {
        tracing::debug!(%broker, "broker does not support ApiVersions v{FIRST_TRY}; retrying at v0");
        let frame = conn.roundtrip(&req, 0).await?;
        (decode_frame(&frame, 0, &broker)?, 0)
    } else {
        (decode_frame(&frame, FIRST_TRY, &broker)?, FIRST_TRY)
    };
    // ApiVersions answers carry `throttle_time_ms` from v1 (a v0 answer decodes it as 0); the
    // client enforces it from v2 (KIP-219). Report a throttle to the broker's deadline, which
    // the requests after the handshake wait for. (An unthrottled handshake is not counted in
    // the throttle metrics, which count the connection's own requests.)
    if let Some(handle) = &conn.shared.throttle
        && resp.throttle_time_ms > 0
    {
        handle.observe(
            resp.throttle_time_ms,
            crate::throttle::broker_delays_response(klamm_protocol::ApiKey::ApiVersions, version),
        );
    }
    let code = ErrorCode::from_i16(resp.error_code);
    if code.is_err() {
        return Err(Error::Kafka {
            context: "ApiVersions",
            code,
            message: None,
        });
    }
    Ok(ApiVersions::from_response(&resp))
}

/// The error code of an ApiVersions response frame: the first field of the body after a v0
/// response header, whatever the version.
fn error_code_only(frame: &Bytes) -> Result<ErrorCode, DecodeError> {
    let (_, body) = ResponseHeader::split_frame(frame, 0)?;
    match body.get(..2) {
        Some(b) => Ok(ErrorCode::from_i16(i16::from_be_bytes([b[0], b[1]]))),
        None => Err(DecodeError::Truncated {
            what: "ApiVersions error code",
            needed: 2,
            remaining: body.len(),
        }),
    }
}

/// SaslHandshake v1, then SaslAuthenticate rounds until the mechanism is done.
pub(crate) async fn authenticate(conn: &BrokerConnection, sasl: &SaslConfig) -> Result<(), Error> {
    let broker = conn.shared.broker.clone();
    let hs_version = conn
        .api_versions()
        .negotiate(ApiKey::SaslHandshake, (1, 1), &broker)?;
    let hs = conn
        .send_at(
            SaslHandshakeRequest {
                mechanism: sasl.mechanism_name().to_owned(),
            },
            hs_version,
        )
        .await?;
    match ErrorCode::from_i16(hs.body.error_code) {
        ErrorCode::None => {}
        ErrorCode::UnsupportedSaslMechanism => {
            return Err(Error::SaslMechanism {
                broker,
                wanted: sasl.mechanism_name(),
                offered: hs.body.mechanisms.clone(),
            });
        }
        code => {
            return Err(Error::Kafka {
                context: "SaslHandshake",
                code,
                message: None,
            });
        }
    }
    let mut session = sasl.start();
    let mut message = session.initial_response();
    loop {
        let resp = conn
            .send(SaslAuthenticateRequest {
                auth_bytes: Bytes::from(message),
                ..Default::default()
            })
            .await?;
        let code = ErrorCode::from_i16(resp.body.error_code);
        if code.is_err() {
            return Err(Error::Kafka {
                context: "SASL authentication",
                code,
                message: resp.body.error_message.clone(),
            });
        }
        match session.step(&resp.body.auth_bytes) {
            Ok(Some(next)) => message = next,
            Ok(None) => break,
            Err(source) => return Err(Error::Sasl { broker, source }),
        }
    }
    tracing::debug!(%broker, mechanism = sasl.mechanism_name(), user = sasl.username(), "SASL authenticated");
    Ok(())
}
