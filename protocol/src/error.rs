//! Typed errors for decoding and encoding.
//!
//! Bytes from the network are untrusted (DESIGN.md invariant 7): every decoder returns a
//! [`DecodeError`] instead of panicking, and checks each length against what remains of the
//! frame before allocating anything.
//!
//! ```
//! use bytes::Bytes;
//! use klamm_protocol::{DecodeError, EncodeError, Message};
//! use klamm_protocol::messages::MetadataRequest;
//!
//! // A body claiming 2^31 - 1 topics in four bytes fails at once, without allocating.
//! let body = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff]);
//! assert!(matches!(MetadataRequest::decode(&body, 1), Err(DecodeError::InvalidLength { .. })));
//! // Metadata v0 cannot say "no topics" (null), so encoding it refuses instead of sending "all".
//! let none = MetadataRequest { topics: None, ..Default::default() };
//! assert!(matches!(none.to_bytes(0), Err(EncodeError::NullNotAllowed { .. })));
//! ```

use nom::error::{ErrorKind, ParseError};

/// Why a frame, a message or a record batch could not be decoded.
///
/// ```
/// use bytes::Bytes;
/// use klamm_protocol::{DecodeError, Message};
/// use klamm_protocol::messages::EndTxnRequest;
///
/// // One byte cannot hold an EndTxn request.
/// let err = EndTxnRequest::decode(&Bytes::from_static(&[0]), 0).unwrap_err();
/// assert!(matches!(err, DecodeError::Truncated { .. }), "{err}");
/// // A string length pointing past the end of the body.
/// let err = EndTxnRequest::decode(&Bytes::from_static(&[0, 1]), 0).unwrap_err();
/// assert!(matches!(err, DecodeError::InvalidLength { .. }), "{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the value was complete.
    #[error("truncated input: {what} needs {needed} bytes but only {remaining} remain")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// A length or count field is negative (and not the null marker) or larger than the input.
    #[error("invalid length {len} for {what}: only {remaining} bytes remain")]
    InvalidLength {
        /// What the length belongs to.
        what: &'static str,
        /// The length as read from the wire.
        len: i64,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// A string is not valid UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A varint ran over its maximum number of bytes.
    #[error("varint is longer than {max_bytes} bytes")]
    VarintTooLong {
        /// The maximum number of bytes for that varint width.
        max_bytes: usize,
    },
    /// A null value where the schema does not allow one at this version.
    #[error("null {field} is not allowed at this version")]
    UnexpectedNull {
        /// The field name.
        field: &'static str,
    },
    /// The API key is not one this codec knows.
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    /// The version is outside the range this codec supports for the API.
    #[error("{api} version {version} is not supported (supported {min}-{max})")]
    UnsupportedVersion {
        /// The API name.
        api: &'static str,
        /// The requested version.
        version: i16,
        /// Lowest supported version.
        min: i16,
        /// Highest supported version.
        max: i16,
    },
    /// Bytes were left over after a complete message.
    #[error("{0} trailing bytes after a complete message")]
    TrailingBytes(usize),
    /// A frame's length prefix is larger than the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    FrameTooLarge {
        /// The announced length.
        len: i64,
        /// The configured maximum.
        max: usize,
    },
    /// The CRC stored in a record batch does not match its contents.
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// The CRC read from the batch.
        stored: u32,
        /// The CRC computed over the batch.
        computed: u32,
    },
    /// The record batch magic byte is not one this codec reads.
    #[error("unsupported record batch magic {0}")]
    UnsupportedMagic(i8),
    /// A compression codec that is unknown or not compiled in.
    #[error("compression codec {0} is unknown or not enabled")]
    UnsupportedCompression(u8),
    /// Decompression failed.
    #[error("{codec} decompression failed: {message}")]
    Decompression {
        /// The codec name.
        codec: &'static str,
        /// What the decompressor said.
        message: String,
    },
    /// A value that is structurally readable but not valid.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// A nom combinator failed without a more specific error.
    #[error("malformed input ({0:?})")]
    Malformed(ErrorKind),
}

impl<I> ParseError<I> for DecodeError {
    fn from_error_kind(_input: I, kind: ErrorKind) -> Self {
        DecodeError::Malformed(kind)
    }

    fn append(_input: I, _kind: ErrorKind, other: Self) -> Self {
        // Keep the innermost, most specific error.
        other
    }
}

impl DecodeError {
    /// Wraps this error for returning from a nom parser.
    ///
    /// ```
    /// use klamm_protocol::DecodeError;
    /// use klamm_protocol::primitives::PResult;
    ///
    /// fn never(_input: &[u8]) -> PResult<'_, u8> {
    ///     DecodeError::Invalid { what: "example", detail: "always fails".into() }.fail()
    /// }
    /// assert!(matches!(never(b"x"), Err(nom::Err::Failure(DecodeError::Invalid { .. }))));
    /// ```
    pub fn fail<T>(self) -> Result<T, nom::Err<DecodeError>> {
        Err(nom::Err::Failure(self))
    }
}

/// Converts a nom result at the top of a decoder into a plain `Result`.
pub(crate) fn finish<T>(r: Result<T, nom::Err<DecodeError>>) -> Result<T, DecodeError> {
    match r {
        Ok(v) => Ok(v),
        Err(nom::Err::Error(e)) | Err(nom::Err::Failure(e)) => Err(e),
        Err(nom::Err::Incomplete(n)) => Err(DecodeError::Truncated {
            what: "input",
            needed: match n {
                nom::Needed::Size(s) => s.get(),
                nom::Needed::Unknown => 1,
            },
            remaining: 0,
        }),
    }
}

/// Why a message could not be encoded.
///
/// ```
/// use klamm_protocol::{EncodeError, Message};
/// use klamm_protocol::messages::EndTxnRequest;
///
/// // Version 6 of EndTxn does not exist in this codec.
/// let err = EndTxnRequest::default().to_bytes(6).unwrap_err();
/// assert!(matches!(err, EncodeError::UnsupportedVersion { max: 5, .. }), "{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The version is outside the range this codec supports for the API.
    #[error("{api} version {version} is not supported (supported {min}-{max})")]
    UnsupportedVersion {
        /// The API name.
        api: &'static str,
        /// The requested version.
        version: i16,
        /// Lowest supported version.
        min: i16,
        /// Highest supported version.
        max: i16,
    },
    /// A field holds a non-default value but does not exist at the chosen version and is not
    /// ignorable, so sending it would silently change the request's meaning.
    #[error("field {field} is set but does not exist at version {version}")]
    FieldNotSupported {
        /// The field name.
        field: &'static str,
        /// The version being encoded.
        version: i16,
    },
    /// A null value in a field that is not nullable at the chosen version.
    #[error("field {field} is null but not nullable at version {version}")]
    NullNotAllowed {
        /// The field name.
        field: &'static str,
        /// The version being encoded.
        version: i16,
    },
    /// A string, byte array or array is longer than its length prefix can express.
    #[error("{what} of length {len} is too long for its length prefix")]
    TooLong {
        /// What was too long.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// A value that cannot be encoded.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// Why.
        detail: String,
    },
}
