//! SaslHandshake (v1) and SaslAuthenticate: PLAIN and SCRAM-SHA-256/512 against the users
//! configured with [`crate::SaslConfig`]. Without SASL configured, both answer as a broker
//! whose listener has no SASL: UNSUPPORTED_SASL_MECHANISM / ILLEGAL_SASL_STATE.

use bytes::Bytes;
use klamm_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};

use super::{Api, Ctx};
use crate::codes;
use crate::sasl::SaslError;

pub(crate) struct Handshake;
pub(crate) struct Authenticate;

impl Api for Handshake {
    type Req = SaslHandshakeRequest;
    type Resp = SaslHandshakeResponse;

    async fn handle(ctx: &mut Ctx<'_>, req: Self::Req) -> Option<Self::Resp> {
        let Some(config) = &ctx.inner.sasl else {
            return Some(Self::error(ctx, &req, codes::UNSUPPORTED_SASL_MECHANISM));
        };
        let mechanisms = config.mechanism_names();
        let error_code = match ctx.conn.sasl.handshake(config, &req.mechanism) {
            Ok(()) => codes::NONE,
            Err(()) => codes::UNSUPPORTED_SASL_MECHANISM,
        };
        Some(SaslHandshakeResponse {
            error_code,
            mechanisms,
        })
    }

    fn error(ctx: &Ctx<'_>, _req: &Self::Req, code: i16) -> Self::Resp {
        SaslHandshakeResponse {
            error_code: code,
            mechanisms: ctx
                .inner
                .sasl
                .as_ref()
                .map(|c| c.mechanism_names())
                .unwrap_or_default(),
        }
    }

    fn set_throttle(_resp: &mut Self::Resp, _ms: i32) {}
}

impl Api for Authenticate {
    type Req = SaslAuthenticateRequest;
    type Resp = SaslAuthenticateResponse;

    async fn handle(ctx: &mut Ctx<'_>, req: Self::Req) -> Option<Self::Resp> {
        let Some(config) = &ctx.inner.sasl else {
            return Some(Self::error(ctx, &req, codes::ILLEGAL_SASL_STATE));
        };
        Some(match ctx.conn.sasl.step(config, &req.auth_bytes) {
            Ok((reply, done)) => {
                if done {
                    ctx.conn.authenticated = true;
                }
                SaslAuthenticateResponse {
                    error_code: codes::NONE,
                    auth_bytes: Bytes::from(reply),
                    ..SaslAuthenticateResponse::default()
                }
            }
            Err(e) => SaslAuthenticateResponse {
                error_code: match e {
                    SaslError::IllegalState => codes::ILLEGAL_SASL_STATE,
                    SaslError::Failed(_) => codes::SASL_AUTHENTICATION_FAILED,
                },
                error_message: Some(e.to_string()),
                ..SaslAuthenticateResponse::default()
            },
        })
    }

    fn error(_ctx: &Ctx<'_>, _req: &Self::Req, code: i16) -> Self::Resp {
        SaslAuthenticateResponse {
            error_code: code,
            ..SaslAuthenticateResponse::default()
        }
    }

    fn set_throttle(_resp: &mut Self::Resp, _ms: i32) {}
}
