//! Length-prefixed framing: every Kafka request and response is an int32 size followed by that
//! many bytes.
//!
//! [`FrameDecoder`] checks the announced size against a configurable maximum *before* reserving
//! any memory, so a peer announcing a 2 GiB frame costs nothing but a closed connection.
//!
//! ```
//! use bytes::BytesMut;
//! use klamm_protocol::frame::FrameDecoder;
//!
//! // Two frames arrive in one read, the second one cut short.
//! let mut stream = BytesMut::from(&[0, 0, 0, 1, 0xaa, 0, 0, 0, 2, 0xbb][..]);
//! let decoder = FrameDecoder::default();
//! assert_eq!(&decoder.decode(&mut stream)?.unwrap()[..], &[0xaa]);
//! assert_eq!(decoder.decode(&mut stream)?, None); // wait for the rest
//! # Ok::<(), klamm_protocol::DecodeError>(())
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::codec::Message;
use crate::error::{DecodeError, EncodeError};
use crate::header::{RequestHeader, ResponseHeader};

/// The default maximum frame size: 100 MiB, like Kafka's `socket.request.max.bytes`.
///
/// ```
/// use klamm_protocol::frame::{DEFAULT_MAX_FRAME_SIZE, FrameDecoder};
/// assert_eq!(FrameDecoder::default().max_frame_size(), DEFAULT_MAX_FRAME_SIZE);
/// ```
pub const DEFAULT_MAX_FRAME_SIZE: usize = 100 * 1024 * 1024;

/// Cuts complete frames out of a byte stream.
///
/// ```
/// use bytes::BytesMut;
/// use klamm_protocol::DecodeError;
/// use klamm_protocol::frame::FrameDecoder;
///
/// let decoder = FrameDecoder::new(1024);
/// // Half a frame: wait for more bytes.
/// let mut buf = BytesMut::from(&[0, 0, 0, 3, 1][..]);
/// assert_eq!(decoder.decode(&mut buf)?, None);
/// buf.extend_from_slice(&[2, 3]);
/// assert_eq!(&decoder.decode(&mut buf)?.unwrap()[..], &[1, 2, 3]);
/// // A frame announcing more than the maximum is refused before anything is allocated.
/// let mut huge = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff][..]);
/// assert!(matches!(decoder.decode(&mut huge), Err(DecodeError::FrameTooLarge { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FrameDecoder {
    max_frame_size: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(DEFAULT_MAX_FRAME_SIZE)
    }
}

impl FrameDecoder {
    /// A decoder refusing frames larger than `max_frame_size` bytes (without the prefix).
    ///
    /// ```
    /// use klamm_protocol::frame::FrameDecoder;
    /// assert_eq!(FrameDecoder::new(1 << 20).max_frame_size(), 1 << 20);
    /// ```
    pub fn new(max_frame_size: usize) -> Self {
        FrameDecoder { max_frame_size }
    }

    /// The configured maximum.
    ///
    /// ```
    /// use klamm_protocol::frame::FrameDecoder;
    /// assert_eq!(FrameDecoder::new(4096).max_frame_size(), 4096);
    /// ```
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Takes the next complete frame (without its length prefix) out of `src`, or returns
    /// `Ok(None)` when more bytes are needed. A negative or oversized length is an error, and
    /// the connection should be closed: the stream cannot be resynchronised.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use klamm_protocol::frame::FrameDecoder;
    /// let mut buf = BytesMut::from(&[0, 0, 0, 2, 7, 8, 0][..]);
    /// let frame = FrameDecoder::new(16).decode(&mut buf).unwrap().unwrap();
    /// assert_eq!(&frame[..], &[7, 8]);
    /// assert_eq!(&buf[..], &[0]);
    /// ```
    pub fn decode(&self, src: &mut BytesMut) -> Result<Option<Bytes>, DecodeError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let len = i32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        if len < 0 {
            return Err(DecodeError::InvalidLength {
                what: "frame",
                len: len as i64,
                remaining: src.len() - 4,
            });
        }
        let len = len as usize;
        if len > self.max_frame_size {
            return Err(DecodeError::FrameTooLarge {
                len: len as i64,
                max: self.max_frame_size,
            });
        }
        if src.len() < 4 + len {
            src.reserve(4 + len - src.len());
            return Ok(None);
        }
        src.advance(4);
        Ok(Some(src.split_to(len).freeze()))
    }
}

/// Appends a complete request frame (length prefix, header, body) to `buf`.
///
/// ```
/// use bytes::BytesMut;
/// use klamm_protocol::frame::{FrameDecoder, encode_request_frame};
/// use klamm_protocol::header::RequestHeader;
/// use klamm_protocol::messages::ApiVersionsRequest;
/// use klamm_protocol::{ApiKey, Message};
///
/// let header = RequestHeader::new(ApiKey::ApiVersions, 3, 1, Some("app".into()));
/// let mut buf = BytesMut::new();
/// encode_request_frame(&mut buf, &header, &ApiVersionsRequest::default(), 3)?;
/// let frame = FrameDecoder::default().decode(&mut buf)?.unwrap();
/// let (read, body) = RequestHeader::split_frame(&frame)?;
/// assert_eq!(read, header);
/// assert_eq!(ApiVersionsRequest::decode(&body, 3)?, ApiVersionsRequest::default());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode_request_frame<M: Message>(
    buf: &mut BytesMut,
    header: &RequestHeader,
    body: &M,
    version: i16,
) -> Result<(), EncodeError> {
    let start = buf.len();
    buf.put_i32(0);
    header.encode(buf, M::API_KEY.request_header_version(version))?;
    body.encode(buf, version)?;
    patch_len(buf, start)
}

/// Appends a complete response frame (length prefix, header, body) to `buf`.
///
/// ```
/// use bytes::BytesMut;
/// use klamm_protocol::frame::{FrameDecoder, encode_response_frame};
/// use klamm_protocol::header::ResponseHeader;
/// use klamm_protocol::messages::EndTxnResponse;
/// use klamm_protocol::{ApiKey, Message};
///
/// let response = EndTxnResponse { throttle_time_ms: 10, ..Default::default() };
/// let mut buf = BytesMut::new();
/// encode_response_frame(&mut buf, 42, &response, 3)?;
/// let frame = FrameDecoder::default().decode(&mut buf)?.unwrap();
/// assert_eq!(ResponseHeader::peek_correlation_id(&frame)?, 42);
/// let header_version = ApiKey::EndTxn.response_header_version(3);
/// let (header, body) = ResponseHeader::split_frame(&frame, header_version)?;
/// assert_eq!(header.correlation_id, 42);
/// assert_eq!(EndTxnResponse::decode(&body, 3)?, response);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode_response_frame<M: Message>(
    buf: &mut BytesMut,
    correlation_id: i32,
    body: &M,
    version: i16,
) -> Result<(), EncodeError> {
    let start = buf.len();
    buf.put_i32(0);
    ResponseHeader {
        correlation_id,
        unknown_tagged_fields: Vec::new(),
    }
    .encode(buf, M::API_KEY.response_header_version(version))?;
    body.encode(buf, version)?;
    patch_len(buf, start)
}

fn patch_len(buf: &mut BytesMut, start: usize) -> Result<(), EncodeError> {
    let len = buf.len() - start - 4;
    let len32 = i32::try_from(len).map_err(|_| EncodeError::TooLong { what: "frame", len })?;
    buf[start..start + 4].copy_from_slice(&len32.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{ApiVersionsRequest, ApiVersionsResponse};
    use crate::{ApiKey, Message};

    #[test]
    fn oversized_frame_is_refused_before_allocating() {
        let mut buf = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff][..]);
        let cap = buf.capacity();
        assert!(matches!(
            FrameDecoder::new(1024).decode(&mut buf),
            Err(DecodeError::FrameTooLarge { .. })
        ));
        assert_eq!(buf.capacity(), cap);
        let mut neg = BytesMut::from(&[0xff, 0xff, 0xff, 0xfe][..]);
        assert!(FrameDecoder::new(1024).decode(&mut neg).is_err());
    }

    #[test]
    fn partial_frames_wait_for_more() {
        let mut buf = BytesMut::from(&[0, 0, 0, 3, 1][..]);
        assert_eq!(FrameDecoder::default().decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(&[2, 3]);
        assert_eq!(
            &FrameDecoder::default().decode(&mut buf).unwrap().unwrap()[..],
            &[1, 2, 3]
        );
    }

    #[test]
    fn request_and_response_frames_round_trip() {
        let mut buf = BytesMut::new();
        let req = ApiVersionsRequest {
            client_software_name: "klamm".into(),
            client_software_version: "0.1".into(),
            ..Default::default()
        };
        let h = RequestHeader::new(ApiKey::ApiVersions, 3, 42, Some("c".into()));
        encode_request_frame(&mut buf, &h, &req, 3).unwrap();
        let frame = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
        let (h2, body) = RequestHeader::split_frame(&frame).unwrap();
        assert_eq!(h2, h);
        assert_eq!(ApiVersionsRequest::decode(&body, 3).unwrap(), req);

        let rsp = ApiVersionsResponse {
            error_code: 35,
            ..Default::default()
        };
        encode_response_frame(&mut buf, 42, &rsp, 3).unwrap();
        let frame = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
        assert_eq!(ResponseHeader::peek_correlation_id(&frame).unwrap(), 42);
        let (_, body) = ResponseHeader::split_frame(&frame, 0).unwrap();
        assert_eq!(ApiVersionsResponse::decode(&body, 3).unwrap(), rsp);
    }
}
