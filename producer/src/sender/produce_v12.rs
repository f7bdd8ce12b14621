//! [`ImplicitAddProduce`]: a transactional Produce request that may be sent at v12.
//!
//! klamm-net stops a transactional [`ProduceRequest`] at v11 (its `version_range`), because a
//! transactional Produce v12 makes the broker add the partition to the transaction
//! implicitly (KIP-890 part 2), which only a producer in transaction version 2 may rely on.
//! Such a producer (its transaction hook says `implicit_partition_add`) sends its requests
//! wrapped in this type, whose range is the message's whole range; the bytes on the wire are
//! the same as the inner request's.

use bytes::BufMut;
use klamm_protocol::api::ApiKey;
use klamm_protocol::messages::produce::{ProduceRequest, ProduceResponse};
use klamm_protocol::primitives::{DecodeContext, PResult};
use klamm_protocol::{EncodeError, Message, Request};

/// A transactional Produce whose partitions the broker adds to the transaction (v12).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ImplicitAddProduce(pub ProduceRequest);

impl Message for ImplicitAddProduce {
    const API_KEY: ApiKey = ProduceRequest::API_KEY;
    const VERSIONS: (i16, i16) = ProduceRequest::VERSIONS;
    const FIRST_FLEXIBLE: i16 = ProduceRequest::FIRST_FLEXIBLE;

    fn encode(&self, buf: &mut impl BufMut, version: i16) -> Result<(), EncodeError> {
        self.0.encode(buf, version)
    }

    fn read<'a>(input: &'a [u8], cx: &DecodeContext<'_>) -> PResult<'a, Self> {
        let (rest, inner) = ProduceRequest::read(input, cx)?;
        Ok((rest, ImplicitAddProduce(inner)))
    }
}

impl Request for ImplicitAddProduce {
    type Response = ProduceResponse;
}

impl klamm_net::KafkaRequest for ImplicitAddProduce {
    fn expects_response(&self) -> bool {
        self.0.acks != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klamm_net::KafkaRequest;

    #[test]
    fn reaches_v12_with_the_same_bytes() {
        let req = ProduceRequest {
            transactional_id: Some("orders-0".into()),
            acks: -1,
            timeout_ms: 1000,
            ..Default::default()
        };
        assert_eq!(req.version_range().1, 11);
        let wrapped = ImplicitAddProduce(req.clone());
        assert_eq!(wrapped.version_range(), (ProduceRequest::VERSIONS.0, 12));
        assert_eq!(
            wrapped.to_bytes(12).expect("v12"),
            req.to_bytes(12).expect("v12")
        );
        assert!(wrapped.expects_response());
    }
}
