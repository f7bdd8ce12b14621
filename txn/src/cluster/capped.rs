//! Request types whose version range is capped below what klamm-protocol encodes, so that
//! klamm-net's version negotiation never picks a version a client must not send.
//!
//! * AddPartitionsToTxn v4+ is the broker-to-broker form (KIP-890 part 1); clients send v3
//!   at most, as Java's `AddPartitionsToTxnRequest.Builder.forClient` does.
//! * EndTxn v5 tells the coordinator that the client follows KIP-890 part 2 (a new epoch
//!   after every transaction); it is sent only when that protocol is in use.

use bytes::BufMut;
use klamm_protocol::api::ApiKey;
use klamm_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse,
};
use klamm_protocol::primitives::{DecodeContext, PResult};
use klamm_protocol::{EncodeError, Message, Request};

macro_rules! capped {
    ($(#[$doc:meta])* $name:ident, $inner:ty, $resp:ty, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name(pub $inner);

        impl Message for $name {
            const API_KEY: ApiKey = <$inner as Message>::API_KEY;
            const VERSIONS: (i16, i16) = (<$inner as Message>::VERSIONS.0, $max);
            const FIRST_FLEXIBLE: i16 = <$inner as Message>::FIRST_FLEXIBLE;

            fn encode(&self, buf: &mut impl BufMut, version: i16) -> Result<(), EncodeError> {
                klamm_protocol::codec::check_encode_version::<Self>(version)?;
                self.0.encode(buf, version)
            }

            fn read<'a>(input: &'a [u8], cx: &DecodeContext<'_>) -> PResult<'a, Self> {
                let (rest, inner) = <$inner as Message>::read(input, cx)?;
                Ok((rest, $name(inner)))
            }
        }

        impl Request for $name {
            type Response = $resp;
        }

        impl klamm_net::KafkaRequest for $name {}
    };
}

capped!(
    /// AddPartitionsToTxn as a client sends it: versions up to 3.
    ClientAddPartitionsToTxn,
    AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse,
    3
);

capped!(
    /// EndTxn without KIP-890 part 2: versions up to 4.
    EndTxnV4,
    EndTxnRequest,
    EndTxnResponse,
    4
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_ranges_and_identical_encoding() {
        assert_eq!(ClientAddPartitionsToTxn::VERSIONS, (0, 3));
        assert_eq!(EndTxnV4::VERSIONS, (0, 4));
        assert_eq!(EndTxnV4::API_KEY, ApiKey::EndTxn);
        let req = EndTxnRequest {
            transactional_id: "t".into(),
            producer_id: 7,
            producer_epoch: 2,
            committed: true,
            ..Default::default()
        };
        let capped = EndTxnV4(req.clone());
        for v in 0..=4 {
            assert_eq!(
                capped.to_bytes(v).expect("encode"),
                req.to_bytes(v).expect("encode"),
                "v{v}"
            );
            let back = EndTxnV4::decode(&capped.to_bytes(v).expect("encode"), v).expect("decode");
            assert_eq!(back, capped);
        }
        assert!(capped.to_bytes(5).is_err(), "v5 is refused");
    }
}
