//! The traits every message implements, and the helpers to read and write whole bodies.
//!
//! ```
//! use klamm_protocol::{Message, Request};
//! use klamm_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse};
//!
//! fn round_trip<R: Request + PartialEq + std::fmt::Debug>(request: &R, version: i16) {
//!     let bytes = request.to_bytes(version).unwrap();
//!     assert_eq!(&R::decode(&bytes, version).unwrap(), request);
//! }
//! round_trip(&FindCoordinatorRequest { key: "group".into(), ..Default::default() }, 3);
//! let _: Option<FindCoordinatorResponse> = None; // its `Request::Response`
//! ```

use bytes::{BufMut, Bytes};

use crate::api::ApiKey;
use crate::error::{DecodeError, EncodeError, finish};
use crate::primitives::{DecodeContext, PResult, expect_end};

/// A Kafka message body (a request or a response of one API) that this crate can encode and
/// decode at every version in [`Message::VERSIONS`].
///
/// ```
/// use klamm_protocol::Message;
/// use klamm_protocol::messages::InitProducerIdRequest;
///
/// let request = InitProducerIdRequest { transaction_timeout_ms: 60_000, ..Default::default() };
/// assert!(InitProducerIdRequest::is_flexible(InitProducerIdRequest::FIRST_FLEXIBLE));
/// let bytes = request.to_bytes(4)?;
/// assert_eq!(InitProducerIdRequest::decode(&bytes, 4)?, request);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Message: Sized {
    /// The API this message belongs to.
    ///
    /// ```
    /// use klamm_protocol::{ApiKey, Message, messages::ProduceRequest};
    /// assert_eq!(ProduceRequest::API_KEY, ApiKey::Produce);
    /// ```
    const API_KEY: ApiKey;
    /// The supported version range, inclusive.
    ///
    /// ```
    /// use klamm_protocol::{Message, messages::ProduceRequest};
    /// assert_eq!(ProduceRequest::VERSIONS, (0, 12));
    /// ```
    const VERSIONS: (i16, i16);
    /// The first flexible version (KIP-482), or `i16::MAX` when the API has none.
    ///
    /// ```
    /// use klamm_protocol::{Message, messages::ProduceRequest};
    /// assert_eq!(ProduceRequest::FIRST_FLEXIBLE, 9);
    /// ```
    const FIRST_FLEXIBLE: i16;

    /// Writes the body at `version`.
    ///
    /// ```
    /// use klamm_protocol::{Message, messages::SaslHandshakeRequest};
    /// let mut buf = Vec::new();
    /// SaslHandshakeRequest { mechanism: "PLAIN".into() }.encode(&mut buf, 1)?;
    /// assert_eq!(buf, b"\x00\x05PLAIN");
    /// # Ok::<(), klamm_protocol::EncodeError>(())
    /// ```
    fn encode(&self, buf: &mut impl BufMut, version: i16) -> Result<(), EncodeError>;

    /// Reads the body from `input`, a slice of the frame held by `cx`, at `cx.version`.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use klamm_protocol::primitives::DecodeContext;
    /// use klamm_protocol::{Message, messages::SaslHandshakeRequest};
    /// let frame = Bytes::from_static(b"\x00\x05PLAIN+");
    /// let (rest, m) = SaslHandshakeRequest::read(&frame, &DecodeContext::new(&frame, 1))?;
    /// assert_eq!((m.mechanism.as_str(), rest), ("PLAIN", &b"+"[..]));
    /// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
    /// ```
    fn read<'a>(input: &'a [u8], cx: &DecodeContext<'_>) -> PResult<'a, Self>;

    /// Decodes a complete body at `version`; byte fields share `body`'s memory.
    ///
    /// Fails with [`DecodeError::UnsupportedVersion`] outside [`Message::VERSIONS`] and with
    /// [`DecodeError::TrailingBytes`] if the body holds more than one message.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use klamm_protocol::{DecodeError, Message, messages::SaslHandshakeRequest};
    /// let m = SaslHandshakeRequest::decode(&Bytes::from_static(b"\x00\x05PLAIN"), 1)?;
    /// assert_eq!(m.mechanism, "PLAIN");
    /// let extra = SaslHandshakeRequest::decode(&Bytes::from_static(b"\x00\x05PLAIN!"), 1);
    /// assert_eq!(extra, Err(DecodeError::TrailingBytes(1)));
    /// # Ok::<(), DecodeError>(())
    /// ```
    fn decode(body: &Bytes, version: i16) -> Result<Self, DecodeError> {
        let (msg, trailing) = Self::decode_lenient(body, version)?;
        expect_end(&trailing)?;
        Ok(msg)
    }

    /// Decodes a body at `version` the way Kafka's own parsers do: bytes left after a complete
    /// message are ignored and handed back. Real peers send such bytes (librdkafka 2.16 pads
    /// its all-topics Metadata v12 request; its mock cluster pads Metadata v13 responses), and
    /// neither the Java broker nor the Java client rejects them.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use klamm_protocol::{Message, messages::SaslHandshakeRequest};
    /// let (m, rest) = SaslHandshakeRequest::decode_lenient(&Bytes::from_static(b"\x00\x01x\x00"), 1)?;
    /// assert_eq!((m.mechanism.as_str(), &rest[..]), ("x", &[0u8][..]));
    /// # Ok::<(), klamm_protocol::DecodeError>(())
    /// ```
    fn decode_lenient(body: &Bytes, version: i16) -> Result<(Self, Bytes), DecodeError> {
        check_decode_version::<Self>(version)?;
        let cx = DecodeContext::new(body, version);
        let (rest, msg) = finish(Self::read(&body[..], &cx))?;
        let trailing = body.slice(body.len() - rest.len()..);
        Ok((msg, trailing))
    }

    /// Encodes the body at `version` into a new buffer.
    ///
    /// ```
    /// use klamm_protocol::{Message, messages::SaslHandshakeRequest};
    /// let bytes = SaslHandshakeRequest { mechanism: "x".into() }.to_bytes(0)?;
    /// assert_eq!(&bytes[..], b"\x00\x01x");
    /// # Ok::<(), klamm_protocol::EncodeError>(())
    /// ```
    fn to_bytes(&self, version: i16) -> Result<Bytes, EncodeError> {
        let mut buf = Vec::new();
        self.encode(&mut buf, version)?;
        Ok(Bytes::from(buf))
    }

    /// Whether `version` uses the flexible encoding.
    ///
    /// ```
    /// use klamm_protocol::{Message, messages::MetadataRequest};
    /// assert!(!MetadataRequest::is_flexible(8));
    /// assert!(MetadataRequest::is_flexible(9));
    /// ```
    fn is_flexible(version: i16) -> bool {
        version >= Self::FIRST_FLEXIBLE
    }
}

/// A structure inside a message (or a message body itself), encoded according to the version
/// of the message it belongs to.
///
/// ```
/// use klamm_protocol::codec::Struct;
/// use klamm_protocol::messages::end_txn::response::EndTxnResponse;
/// use klamm_protocol::primitives::DecodeContext;
///
/// // Every generated structure, nested or not, reads and writes itself at its message's version.
/// let response = EndTxnResponse { throttle_time_ms: 5, ..Default::default() };
/// let mut buf = Vec::new();
/// response.write_to(&mut buf, 3)?;
/// let frame = bytes::Bytes::from(buf);
/// let (rest, back) = EndTxnResponse::read_from(&frame, &DecodeContext::new(&frame, 3))?;
/// assert!(rest.is_empty());
/// assert_eq!(back, response);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Struct: Sized {
    /// Writes the structure at `version` of its message.
    ///
    /// ```
    /// use klamm_protocol::codec::Struct;
    /// use klamm_protocol::messages::produce::request::PartitionProduceData;
    /// let mut buf = Vec::new();
    /// PartitionProduceData { index: 1, ..Default::default() }.write_to(&mut buf, 3)?;
    /// assert_eq!(buf, [0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]); // index, null records
    /// # Ok::<(), klamm_protocol::EncodeError>(())
    /// ```
    fn write_to<B: BufMut>(&self, buf: &mut B, version: i16) -> Result<(), EncodeError>;

    /// Reads the structure at `cx.version` of its message.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use klamm_protocol::codec::Struct;
    /// use klamm_protocol::messages::produce::request::PartitionProduceData;
    /// use klamm_protocol::primitives::DecodeContext;
    /// let frame = Bytes::from_static(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
    /// let (_, p) = PartitionProduceData::read_from(&frame, &DecodeContext::new(&frame, 3))?;
    /// assert_eq!((p.index, p.records), (1, None));
    /// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
    /// ```
    fn read_from<'a>(input: &'a [u8], cx: &DecodeContext<'_>) -> PResult<'a, Self>;
}

/// A request body, tied to the type of its response.
///
/// ```
/// use klamm_protocol::{Message, Request};
/// use klamm_protocol::messages::{EndTxnRequest, EndTxnResponse};
///
/// // Generic code can name the response type of any request.
/// fn answer<R: Request>(_: &R) -> R::Response
/// where
///     R::Response: Default,
/// {
///     R::Response::default()
/// }
/// let response: EndTxnResponse = answer(&EndTxnRequest::default());
/// assert_eq!(response.to_bytes(0)?.len(), 6); // throttle time and error code
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Request: Message {
    /// The response body type.
    ///
    /// ```
    /// use klamm_protocol::{Request, messages::{EndTxnRequest, EndTxnResponse}};
    /// fn response_of<R: Request>() -> std::any::TypeId where R::Response: 'static {
    ///     std::any::TypeId::of::<R::Response>()
    /// }
    /// assert_eq!(response_of::<EndTxnRequest>(), std::any::TypeId::of::<EndTxnResponse>());
    /// ```
    type Response: Message;
}

/// Checks an encode version against the supported range.
///
/// ```
/// use klamm_protocol::codec::check_encode_version;
/// use klamm_protocol::messages::EndTxnRequest;
/// assert!(check_encode_version::<EndTxnRequest>(5).is_ok());
/// assert!(check_encode_version::<EndTxnRequest>(6).is_err());
/// ```
pub fn check_encode_version<M: Message>(version: i16) -> Result<(), EncodeError> {
    let (min, max) = M::VERSIONS;
    if version < min || version > max {
        return Err(EncodeError::UnsupportedVersion {
            api: M::API_KEY.name(),
            version,
            min,
            max,
        });
    }
    Ok(())
}

/// Checks a decode version against the supported range.
///
/// ```
/// use klamm_protocol::codec::check_decode_version;
/// use klamm_protocol::messages::EndTxnRequest;
/// assert!(check_decode_version::<EndTxnRequest>(0).is_ok());
/// assert!(check_decode_version::<EndTxnRequest>(-1).is_err());
/// ```
pub fn check_decode_version<M: Message>(version: i16) -> Result<(), DecodeError> {
    let (min, max) = M::VERSIONS;
    if version < min || version > max {
        return Err(DecodeError::UnsupportedVersion {
            api: M::API_KEY.name(),
            version,
            min,
            max,
        });
    }
    Ok(())
}

/// Helpers for the generated property tests.
#[cfg(test)]
pub(crate) mod test_support {
    use std::fmt::Debug;

    use bytes::Bytes;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    use super::Message;
    use crate::primitives::RawTaggedField;

    /// Unknown tagged fields with tags far above any known tag, in ascending order.
    pub(crate) fn unknown_tagged_fields() -> BoxedStrategy<Vec<RawTaggedField>> {
        proptest::collection::btree_map(
            1000u32..1008,
            proptest::collection::vec(any::<u8>(), 0..8),
            0..3,
        )
        .prop_map(|m| {
            m.into_iter()
                .map(|(tag, data)| RawTaggedField {
                    tag,
                    data: Bytes::from(data),
                })
                .collect()
        })
        .boxed()
    }

    /// `decode(encode(x)) == x` for values valid at every supported version.
    pub(crate) fn round_trip_every_version<M: Message + Debug + PartialEq + Clone>(
        strategy: fn(i16) -> BoxedStrategy<M>,
    ) {
        let (min, max) = M::VERSIONS;
        for v in min..=max {
            let mut runner = TestRunner::new(Config::with_cases(48));
            let result = runner.run(&strategy(v), |m| {
                let bytes = m
                    .to_bytes(v)
                    .map_err(|e| TestCaseError::fail(format!("encode v{v}: {e}")))?;
                let back = M::decode(&bytes, v)
                    .map_err(|e| TestCaseError::fail(format!("decode v{v}: {e}")))?;
                prop_assert_eq!(&back, &m, "version {}", v);
                let again = back.to_bytes(v).expect("re-encode");
                prop_assert_eq!(again, bytes, "re-encoding is byte-identical at v{}", v);
                Ok(())
            });
            if let Err(e) = result {
                panic!("{} v{v}: {e}", M::API_KEY);
            }
        }
    }
}
