//! Request header v0-v2 and response header v0-v1.
//!
//! The header version follows from the API and its version ([`ApiKey::request_header_version`],
//! [`ApiKey::response_header_version`]). Note that the request header's `client_id` is a classic
//! (non-compact) nullable string even in header v2, as in Kafka's `RequestHeader.json`.
//!
//! ```
//! use klamm_protocol::ApiKey;
//! use klamm_protocol::header::RequestHeader;
//!
//! // Flexible versions use header v2 (with a tag section); ApiVersions v3 is flexible.
//! let h = RequestHeader::new(ApiKey::ApiVersions, 3, 1, Some("c".into()));
//! let mut buf = Vec::new();
//! h.encode(&mut buf, ApiKey::ApiVersions.request_header_version(3))?;
//! assert_eq!(buf, [0, 18, 0, 3, 0, 0, 0, 1, 0, 1, b'c', 0]);
//! # Ok::<(), klamm_protocol::EncodeError>(())
//! ```

use bytes::{BufMut, Bytes};

use crate::api::ApiKey;
use crate::error::{DecodeError, EncodeError, finish};
use crate::primitives::{
    DecodeContext, PResult, UnknownTaggedFields, int16, int32, nullable_string, put_nullable_str,
    put_tag_section, tagged_fields,
};

/// The header of every request.
///
/// ```
/// use klamm_protocol::ApiKey;
/// use klamm_protocol::header::RequestHeader;
///
/// let h = RequestHeader::new(ApiKey::Metadata, 12, 5, Some("app".into()));
/// let mut buf = Vec::new();
/// h.encode(&mut buf, h.header_version().unwrap())?;
/// buf.extend_from_slice(&[0xAA]); // the body follows the header
/// let (read, body) = RequestHeader::split_frame(&buf.into())?;
/// assert_eq!(read, h);
/// assert_eq!(&body[..], &[0xAA]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestHeader {
    /// The API key of the request (kept raw: a broker must be able to read headers of APIs it
    /// does not know, to answer them).
    pub request_api_key: i16,
    /// The API version of the request.
    pub request_api_version: i16,
    /// The correlation id, echoed by the response.
    pub correlation_id: i32,
    /// The client id (header v1+).
    pub client_id: Option<String>,
    /// Unknown tagged fields (header v2).
    pub unknown_tagged_fields: UnknownTaggedFields,
}

impl RequestHeader {
    /// A header for `api` at `version`.
    ///
    /// ```
    /// use klamm_protocol::{ApiKey, header::RequestHeader};
    /// let h = RequestHeader::new(ApiKey::Produce, 9, 7, Some("app".into()));
    /// assert_eq!(h.header_version(), Some(2));
    /// ```
    pub fn new(api: ApiKey, version: i16, correlation_id: i32, client_id: Option<String>) -> Self {
        RequestHeader {
            request_api_key: api.as_i16(),
            request_api_version: version,
            correlation_id,
            client_id,
            unknown_tagged_fields: Vec::new(),
        }
    }

    /// The API, if this codec covers it.
    ///
    /// ```
    /// use klamm_protocol::ApiKey;
    /// use klamm_protocol::header::RequestHeader;
    /// assert_eq!(RequestHeader::new(ApiKey::Fetch, 12, 0, None).api_key(), Some(ApiKey::Fetch));
    /// let unknown = RequestHeader { request_api_key: 999, ..Default::default() };
    /// assert_eq!(unknown.api_key(), None);
    /// ```
    pub fn api_key(&self) -> Option<ApiKey> {
        ApiKey::from_i16(self.request_api_key)
    }

    /// The header version this request uses, if the API is covered.
    ///
    /// ```
    /// use klamm_protocol::ApiKey;
    /// use klamm_protocol::header::RequestHeader;
    /// assert_eq!(RequestHeader::new(ApiKey::Produce, 8, 0, None).header_version(), Some(1));
    /// assert_eq!(RequestHeader::new(ApiKey::Produce, 9, 0, None).header_version(), Some(2));
    /// ```
    pub fn header_version(&self) -> Option<i16> {
        self.api_key()
            .map(|k| k.request_header_version(self.request_api_version))
    }

    /// Writes the header at `header_version` (0, 1 or 2).
    ///
    /// ```
    /// use klamm_protocol::ApiKey;
    /// use klamm_protocol::header::RequestHeader;
    /// let mut buf = Vec::new();
    /// RequestHeader::new(ApiKey::Produce, 3, 7, None).encode(&mut buf, 1)?;
    /// // key, version, correlation id, null client id
    /// assert_eq!(buf, [0, 0, 0, 3, 0, 0, 0, 7, 0xff, 0xff]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encode(&self, buf: &mut impl BufMut, header_version: i16) -> Result<(), EncodeError> {
        buf.put_i16(self.request_api_key);
        buf.put_i16(self.request_api_version);
        buf.put_i32(self.correlation_id);
        if header_version >= 1 {
            put_nullable_str(buf, self.client_id.as_deref(), false)?;
        }
        if header_version >= 2 {
            put_tag_section(buf, Vec::new(), &self.unknown_tagged_fields)?;
        }
        Ok(())
    }

    /// Reads a header at `header_version`.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use klamm_protocol::header::RequestHeader;
    /// use klamm_protocol::primitives::DecodeContext;
    /// let frame = Bytes::from_static(&[0, 18, 0, 0, 0, 0, 0, 9, 0, 1, b'a', 0xEE]);
    /// let (rest, h) = RequestHeader::read(&frame, &DecodeContext::new(&frame, 0), 1)?;
    /// assert_eq!((h.request_api_key, h.correlation_id), (18, 9));
    /// assert_eq!(h.client_id.as_deref(), Some("a"));
    /// assert_eq!(rest, &[0xEE]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read<'a>(
        input: &'a [u8],
        cx: &DecodeContext<'_>,
        header_version: i16,
    ) -> PResult<'a, Self> {
        let (rest, request_api_key) = int16(input)?;
        let (rest, request_api_version) = int16(rest)?;
        let (mut rest, correlation_id) = int32(rest)?;
        let mut h = RequestHeader {
            request_api_key,
            request_api_version,
            correlation_id,
            ..Default::default()
        };
        if header_version >= 1 {
            let (r, c) = nullable_string(rest)?;
            h.client_id = c;
            rest = r;
        }
        if header_version >= 2 {
            let (r, unknown) = tagged_fields(rest, cx, |_, _| Ok(false))?;
            h.unknown_tagged_fields = unknown;
            rest = r;
        }
        Ok((rest, h))
    }

    /// Splits a request frame (without its length prefix) into header and body. The header
    /// version is derived from the API key and version; for an API this codec does not cover,
    /// header v1 is assumed (what every non-flexible API uses) so that a broker can still answer.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use klamm_protocol::header::RequestHeader;
    /// // ApiVersions v0: header v1 (no tagged fields), empty body.
    /// let frame = Bytes::from_static(&[0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff]);
    /// let (h, body) = RequestHeader::split_frame(&frame)?;
    /// assert_eq!(h.correlation_id, 1);
    /// assert!(body.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn split_frame(frame: &Bytes) -> Result<(RequestHeader, Bytes), DecodeError> {
        let (_, key) = finish(int16(frame))?;
        let (_, version) = finish(int16(frame.get(2..).unwrap_or(&[])))?;
        let hv = ApiKey::from_i16(key)
            .map(|k| k.request_header_version(version))
            .unwrap_or(1);
        let cx = DecodeContext::new(frame, version);
        let (rest, h) = finish(RequestHeader::read(frame, &cx, hv))?;
        let body = frame.slice(frame.len() - rest.len()..);
        Ok((h, body))
    }
}

/// The header of every response.
///
/// ```
/// use bytes::Bytes;
/// use klamm_protocol::header::ResponseHeader;
/// let h = ResponseHeader { correlation_id: 3, ..Default::default() };
/// let mut buf = Vec::new();
/// h.encode(&mut buf, 1)?;
/// assert_eq!(buf, [0, 0, 0, 3, 0]); // v1 ends with an empty tag section
/// let (read, body) = ResponseHeader::split_frame(&Bytes::from(buf), 1)?;
/// assert_eq!(read, h);
/// assert!(body.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseHeader {
    /// The correlation id of the request this answers.
    pub correlation_id: i32,
    /// Unknown tagged fields (header v1).
    pub unknown_tagged_fields: UnknownTaggedFields,
}

impl ResponseHeader {
    /// Writes the header at `header_version` (0 or 1).
    ///
    /// ```
    /// use klamm_protocol::header::ResponseHeader;
    /// let mut buf = Vec::new();
    /// ResponseHeader { correlation_id: 1, ..Default::default() }.encode(&mut buf, 0)?;
    /// assert_eq!(buf, [0, 0, 0, 1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encode(&self, buf: &mut impl BufMut, header_version: i16) -> Result<(), EncodeError> {
        buf.put_i32(self.correlation_id);
        if header_version >= 1 {
            put_tag_section(buf, Vec::new(), &self.unknown_tagged_fields)?;
        }
        Ok(())
    }

    /// Reads a header at `header_version`.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use klamm_protocol::header::ResponseHeader;
    /// use klamm_protocol::primitives::DecodeContext;
    /// let frame = Bytes::from_static(&[0, 0, 0, 4, 0, 0x55]);
    /// let (rest, h) = ResponseHeader::read(&frame, &DecodeContext::new(&frame, 0), 1)?;
    /// assert_eq!(h.correlation_id, 4);
    /// assert_eq!(rest, &[0x55]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read<'a>(
        input: &'a [u8],
        cx: &DecodeContext<'_>,
        header_version: i16,
    ) -> PResult<'a, Self> {
        let (mut rest, correlation_id) = int32(input)?;
        let mut h = ResponseHeader {
            correlation_id,
            unknown_tagged_fields: Vec::new(),
        };
        if header_version >= 1 {
            let (r, unknown) = tagged_fields(rest, cx, |_, _| Ok(false))?;
            h.unknown_tagged_fields = unknown;
            rest = r;
        }
        Ok((rest, h))
    }

    /// Reads only the correlation id of a response frame (the first four bytes), which is all
    /// a client needs to match the frame to its request before it knows the header version.
    ///
    /// ```
    /// use klamm_protocol::header::ResponseHeader;
    /// assert_eq!(ResponseHeader::peek_correlation_id(&[0, 0, 1, 0, 9, 9])?, 256);
    /// assert!(ResponseHeader::peek_correlation_id(&[0, 0]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn peek_correlation_id(frame: &[u8]) -> Result<i32, DecodeError> {
        finish(int32(frame)).map(|(_, c)| c)
    }

    /// Splits a response frame (without its length prefix) into header and body.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use klamm_protocol::header::ResponseHeader;
    /// let frame = Bytes::from_static(&[0, 0, 0, 8, 0, 0]);
    /// let (h, body) = ResponseHeader::split_frame(&frame, 0)?;
    /// assert_eq!(h.correlation_id, 8);
    /// assert_eq!(&body[..], &[0, 0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn split_frame(
        frame: &Bytes,
        header_version: i16,
    ) -> Result<(ResponseHeader, Bytes), DecodeError> {
        let cx = DecodeContext::new(frame, 0);
        let (rest, h) = finish(ResponseHeader::read(frame, &cx, header_version))?;
        let body = frame.slice(frame.len() - rest.len()..);
        Ok((h, body))
    }
}
