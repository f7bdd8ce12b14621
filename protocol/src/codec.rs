//! The traits every message implements, and the helpers to read and write whole bodies.

use bytes::{BufMut, Bytes};

use crate::api::ApiKey;
use crate::error::{DecodeError, EncodeError, finish};
use crate::primitives::{DecodeContext, PResult, expect_end};

/// A Kafka message body (a request or a response of one API) that this crate can encode and
/// decode at every version in [`Message::VERSIONS`].
pub trait Message: Sized {
    /// The API this message belongs to.
    const API_KEY: ApiKey;
    /// The supported version range, inclusive.
    const VERSIONS: (i16, i16);
    /// The first flexible version (KIP-482), or `i16::MAX` when the API has none.
    const FIRST_FLEXIBLE: i16;

    /// Writes the body at `version`.
    fn encode(&self, buf: &mut impl BufMut, version: i16) -> Result<(), EncodeError>;

    /// Reads the body from `input`, a slice of the frame held by `cx`, at `cx.version`.
    fn read<'a>(input: &'a [u8], cx: &DecodeContext<'_>) -> PResult<'a, Self>;

    /// Decodes a complete body at `version`; byte fields share `body`'s memory.
    ///
    /// Fails with [`DecodeError::UnsupportedVersion`] outside [`Message::VERSIONS`] and with
    /// [`DecodeError::TrailingBytes`] if the body holds more than one message.
    fn decode(body: &Bytes, version: i16) -> Result<Self, DecodeError> {
        check_decode_version::<Self>(version)?;
        let cx = DecodeContext::new(body, version);
        let (rest, msg) = finish(Self::read(&body[..], &cx))?;
        expect_end(rest)?;
        Ok(msg)
    }

    /// Encodes the body at `version` into a new buffer.
    fn to_bytes(&self, version: i16) -> Result<Bytes, EncodeError> {
        let mut buf = Vec::new();
        self.encode(&mut buf, version)?;
        Ok(Bytes::from(buf))
    }

    /// Whether `version` uses the flexible encoding.
    fn is_flexible(version: i16) -> bool {
        version >= Self::FIRST_FLEXIBLE
    }
}

/// A request body, tied to the type of its response.
pub trait Request: Message {
    /// The response body type.
    type Response: Message;
}

/// Checks an encode version against the supported range.
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
