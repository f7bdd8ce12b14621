//! Tagged fields (KIP-482): the extensible section at the end of every flexible struct.

use bytes::{BufMut, Bytes};

use super::{DecodeContext, PResult, put_unsigned_varint, unsigned_varint};
use crate::error::{DecodeError, EncodeError};

/// A tagged field this codec does not know, kept verbatim so that re-encoding a decoded
/// message gives back the same bytes.
///
/// ```
/// use bytes::Bytes;
/// use klamm_protocol::primitives::{RawTaggedField, put_raw_tagged_field};
/// let mut buf = Vec::new();
/// put_raw_tagged_field(&mut buf, &RawTaggedField { tag: 5, data: Bytes::from_static(b"ab") })?;
/// assert_eq!(buf, [5, 2, b'a', b'b']); // tag, size, data
/// # Ok::<(), klamm_protocol::EncodeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTaggedField {
    /// The tag number.
    pub tag: u32,
    /// The field's bytes, without tag and size.
    pub data: Bytes,
}

/// The unknown tagged fields of one struct, in wire order.
///
/// ```
/// use klamm_protocol::Message;
/// use klamm_protocol::messages::EndTxnRequest;
/// use klamm_protocol::primitives::RawTaggedField;
/// // A flexible message keeps tags it does not know, and writes them back.
/// let mut request = EndTxnRequest::default();
/// request.unknown_tagged_fields.push(RawTaggedField { tag: 99, data: vec![1].into() });
/// let bytes = request.to_bytes(3)?;
/// assert_eq!(EndTxnRequest::decode(&bytes, 3)?, request);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type UnknownTaggedFields = Vec<RawTaggedField>;

/// Reads the tag section header and calls `known` for every field: it returns `Ok(true)` when it
/// consumed a known tag from the given slice, `Ok(false)` to keep the field as unknown.
///
/// ```
/// use bytes::Bytes;
/// use klamm_protocol::primitives::{DecodeContext, tagged_fields};
/// // Two fields: tag 0 (known here) and tag 7 (kept as unknown).
/// let frame = Bytes::from_static(&[2, 0, 1, 0xaa, 7, 1, 0xbb]);
/// let mut known = None;
/// let (rest, unknown) = tagged_fields(&frame, &DecodeContext::new(&frame, 0), |tag, data| {
///     if tag == 0 {
///         known = Some(data[0]);
///         return Ok(true);
///     }
///     Ok(false)
/// })?;
/// assert!(rest.is_empty());
/// assert_eq!(known, Some(0xaa));
/// assert_eq!((unknown[0].tag, &unknown[0].data[..]), (7, &[0xbb][..]));
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
pub fn tagged_fields<'a>(
    input: &'a [u8],
    cx: &DecodeContext<'_>,
    mut known: impl FnMut(u32, &'a [u8]) -> Result<bool, nom::Err<DecodeError>>,
) -> PResult<'a, UnknownTaggedFields> {
    let (mut rest, n) = unsigned_varint(input)?;
    if n as usize > rest.len() {
        return DecodeError::InvalidLength {
            what: "tagged fields",
            len: n as i64,
            remaining: rest.len(),
        }
        .fail();
    }
    let mut unknown = Vec::new();
    for _ in 0..n {
        let (r, tag) = unsigned_varint(rest)?;
        let (r, size) = unsigned_varint(r)?;
        if size as usize > r.len() {
            return DecodeError::InvalidLength {
                what: "tagged field",
                len: size as i64,
                remaining: r.len(),
            }
            .fail();
        }
        let (data, r) = r.split_at(size as usize);
        if !known(tag, data)? {
            unknown.push(RawTaggedField {
                tag,
                data: cx.bytes_of(data),
            });
        }
        rest = r;
    }
    Ok((rest, unknown))
}

/// Writes one tagged field whose body is produced by `body` into a scratch buffer.
///
/// ```
/// use bytes::BufMut;
/// use klamm_protocol::primitives::put_tagged_field;
/// let mut buf = Vec::new();
/// put_tagged_field(&mut buf, 1, |b| {
///     b.put_i16(3);
///     Ok(())
/// })?;
/// assert_eq!(buf, [1, 2, 0, 3]);
/// # Ok::<(), klamm_protocol::EncodeError>(())
/// ```
pub fn put_tagged_field(
    buf: &mut impl BufMut,
    tag: u32,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let mut scratch = Vec::new();
    body(&mut scratch)?;
    put_unsigned_varint(buf, tag);
    put_unsigned_varint(
        buf,
        u32::try_from(scratch.len()).map_err(|_| EncodeError::TooLong {
            what: "tagged field",
            len: scratch.len(),
        })?,
    );
    buf.put_slice(&scratch);
    Ok(())
}

/// Writes an unknown tagged field as it was read.
///
/// ```
/// use klamm_protocol::primitives::{RawTaggedField, put_raw_tagged_field};
/// let mut buf = Vec::new();
/// put_raw_tagged_field(&mut buf, &RawTaggedField { tag: 0, data: Default::default() })?;
/// assert_eq!(buf, [0, 0]);
/// # Ok::<(), klamm_protocol::EncodeError>(())
/// ```
pub fn put_raw_tagged_field(buf: &mut impl BufMut, f: &RawTaggedField) -> Result<(), EncodeError> {
    put_tagged_field(buf, f.tag, |b| {
        b.put_slice(&f.data);
        Ok(())
    })
}

/// Writes a tag section made of known fields (already ordered by tag, as `(tag, writer)`
/// pairs) and unknown fields, merged in ascending tag order as the protocol requires.
///
/// ```
/// use bytes::Bytes;
/// use klamm_protocol::primitives::{RawTaggedField, put_tag_section};
/// let unknown = [RawTaggedField { tag: 4, data: Bytes::from_static(&[9]) }];
/// let mut buf = Vec::new();
/// put_tag_section(&mut buf, vec![(1, vec![0xaa]), (6, vec![])], &unknown)?;
/// // Three fields, in tag order: 1, then the unknown 4, then 6.
/// assert_eq!(buf, [3, 1, 1, 0xaa, 4, 1, 9, 6, 0]);
/// # Ok::<(), klamm_protocol::EncodeError>(())
/// ```
pub fn put_tag_section<B: BufMut>(
    buf: &mut B,
    known: Vec<(u32, Vec<u8>)>,
    unknown: &[RawTaggedField],
) -> Result<(), EncodeError> {
    // A raw field with the tag of a known field that is being written is stale (the known
    // field was set after decoding): the known value wins.
    let unknown: Vec<&RawTaggedField> = unknown
        .iter()
        .filter(|u| !known.iter().any(|(t, _)| *t == u.tag))
        .collect();
    let total = known.len() + unknown.len();
    put_unsigned_varint(
        buf,
        u32::try_from(total).map_err(|_| EncodeError::TooLong {
            what: "tagged fields",
            len: total,
        })?,
    );
    let mut k = known.into_iter().peekable();
    let mut u = unknown.into_iter().peekable();
    loop {
        let take_known = match (k.peek(), u.peek()) {
            (Some((kt, _)), Some(uf)) => *kt <= uf.tag,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if take_known {
            let (tag, body) = k.next().expect("peeked");
            put_tagged_field(buf, tag, |b| {
                b.put_slice(&body);
                Ok(())
            })?;
        } else {
            put_raw_tagged_field(buf, u.next().expect("peeked"))?;
        }
    }
    Ok(())
}
