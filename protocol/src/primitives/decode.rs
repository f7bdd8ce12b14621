//! Decoders for the primitive types.

use bytes::Bytes;

use super::{PResult, Uuid};
use crate::error::DecodeError;

/// Carries the message version and the frame being decoded, so that byte fields can be handed
/// out as zero-copy [`Bytes`] slices of the frame.
///
/// ```
/// use bytes::Bytes;
/// use klamm_protocol::primitives::{DecodeContext, bytes};
/// let frame = Bytes::from_static(&[0, 0, 0, 2, b'h', b'i']);
/// let cx = DecodeContext::new(&frame, 0);
/// let (_, b) = bytes(&frame, &cx)?;
/// // The value shares the frame's memory.
/// assert_eq!(b.as_ptr(), frame[4..].as_ptr());
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DecodeContext<'f> {
    /// The API version being decoded.
    pub version: i16,
    frame: &'f Bytes,
}

impl<'f> DecodeContext<'f> {
    /// A context for decoding slices of `frame` at `version`.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use klamm_protocol::primitives::DecodeContext;
    /// let frame = Bytes::from_static(b"frame");
    /// assert_eq!(DecodeContext::new(&frame, 7).version, 7);
    /// ```
    pub fn new(frame: &'f Bytes, version: i16) -> Self {
        DecodeContext { version, frame }
    }

    /// Returns `sub` as a [`Bytes`] sharing the frame's memory when `sub` lies inside the frame,
    /// and as a copy otherwise (never panics).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use klamm_protocol::primitives::DecodeContext;
    /// let frame = Bytes::from_static(b"hello world");
    /// let cx = DecodeContext::new(&frame, 0);
    /// assert_eq!(cx.bytes_of(&frame[6..]).as_ptr(), frame[6..].as_ptr()); // shared
    /// assert_eq!(cx.bytes_of(b"elsewhere"), Bytes::from_static(b"elsewhere")); // copied
    /// ```
    pub fn bytes_of(&self, sub: &[u8]) -> Bytes {
        let start = self.frame.as_ptr() as usize;
        let end = start + self.frame.len();
        let s = sub.as_ptr() as usize;
        if !sub.is_empty() && s >= start && s + sub.len() <= end {
            self.frame.slice_ref(sub)
        } else {
            Bytes::copy_from_slice(sub)
        }
    }

    /// The same frame at another version (used for nested encodings with their own version).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use klamm_protocol::primitives::DecodeContext;
    /// let frame = Bytes::new();
    /// assert_eq!(DecodeContext::new(&frame, 3).with_version(0).version, 0);
    /// ```
    pub fn with_version(&self, version: i16) -> Self {
        DecodeContext {
            version,
            frame: self.frame,
        }
    }
}

fn need<'a>(input: &'a [u8], n: usize, what: &'static str) -> PResult<'a, &'a [u8]> {
    if input.len() < n {
        return DecodeError::Truncated {
            what,
            needed: n,
            remaining: input.len(),
        }
        .fail();
    }
    Ok((&input[n..], &input[..n]))
}

macro_rules! fixed {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {$(
        $(#[$doc])*
        #[inline]
        pub fn $name(input: &[u8]) -> PResult<'_, $ty> {
            const N: usize = std::mem::size_of::<$ty>();
            let (rest, b) = need(input, N, stringify!($name))?;
            let mut a = [0u8; N];
            a.copy_from_slice(b);
            Ok((rest, <$ty>::from_be_bytes(a)))
        }
    )*};
}

fixed! {
    /// A big-endian `int8`.
    ///
    /// ```
    /// use klamm_protocol::primitives::int8;
    /// let input = [0xff, 1];
    /// let (rest, v) = int8(&input)?;
    /// assert_eq!(v, -1);
    /// assert_eq!(rest, &[1u8]);
    /// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
    /// ```
    int8: i8,
    /// A big-endian `int16`.
    ///
    /// ```
    /// use klamm_protocol::primitives::int16;
    /// let input = [0x01, 0x02, 9];
    /// let (rest, v) = int16(&input)?;
    /// assert_eq!(v, 0x0102);
    /// assert_eq!(rest, &[9u8]);
    /// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
    /// ```
    int16: i16,
    /// A big-endian `int32`.
    ///
    /// ```
    /// use klamm_protocol::primitives::int32;
    /// let input = [0, 0, 0, 7];
    /// let (rest, v) = int32(&input)?;
    /// assert_eq!(v, 7);
    /// assert_eq!(rest, &[] as &[u8]);
    /// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
    /// ```
    int32: i32,
    /// A big-endian `int64`.
    ///
    /// ```
    /// use klamm_protocol::primitives::int64;
    /// let input = [0xff; 8];
    /// let (rest, v) = int64(&input)?;
    /// assert_eq!(v, -1);
    /// assert_eq!(rest, &[] as &[u8]);
    /// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
    /// ```
    int64: i64,
    /// A big-endian `uint16`.
    ///
    /// ```
    /// use klamm_protocol::primitives::uint16;
    /// let input = [0xff, 0xfe];
    /// let (rest, v) = uint16(&input)?;
    /// assert_eq!(v, 0xfffe);
    /// assert_eq!(rest, &[] as &[u8]);
    /// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
    /// ```
    uint16: u16,
    /// A big-endian `uint32`.
    ///
    /// ```
    /// use klamm_protocol::primitives::uint32;
    /// let input = [0, 1, 0, 0];
    /// let (rest, v) = uint32(&input)?;
    /// assert_eq!(v, 65536);
    /// assert_eq!(rest, &[] as &[u8]);
    /// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
    /// ```
    uint32: u32,
    /// A big-endian IEEE 754 `float64`.
    ///
    /// ```
    /// use klamm_protocol::primitives::float64;
    /// let input = 1.5f64.to_be_bytes();
    /// let (rest, v) = float64(&input)?;
    /// assert_eq!(v, 1.5);
    /// assert_eq!(rest, &[] as &[u8]);
    /// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
    /// ```
    float64: f64,
}

/// A `boolean`: one byte, non-zero is true.
///
/// ```
/// use klamm_protocol::primitives::boolean;
/// assert_eq!(boolean(&[1])?.1, true);
/// assert_eq!(boolean(&[0])?.1, false);
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
#[inline]
pub fn boolean(input: &[u8]) -> PResult<'_, bool> {
    let (rest, b) = int8(input)?;
    Ok((rest, b != 0))
}

/// A 16-byte `uuid`.
///
/// ```
/// use klamm_protocol::{Uuid, primitives::uuid};
/// let (rest, id) = uuid(&[0u8; 17])?;
/// assert_eq!((id, rest.len()), (Uuid::ZERO, 1));
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
#[inline]
pub fn uuid(input: &[u8]) -> PResult<'_, Uuid> {
    let (rest, b) = need(input, 16, "uuid")?;
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    Ok((rest, Uuid(a)))
}

/// An `unsigned_varint` of up to 32 bits (LEB128, at most 5 bytes).
///
/// ```
/// use klamm_protocol::primitives::unsigned_varint;
/// assert_eq!(unsigned_varint(&[0x96, 0x01])?.1, 150);
/// assert!(unsigned_varint(&[0xff; 6]).is_err()); // more than 5 bytes
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
#[inline]
pub fn unsigned_varint(input: &[u8]) -> PResult<'_, u32> {
    let mut value: u32 = 0;
    for (i, &b) in input.iter().enumerate().take(5) {
        value |= ((b & 0x7f) as u32) << (7 * i);
        if b & 0x80 == 0 {
            if i == 4 && b > 0x0f {
                return DecodeError::VarintTooLong { max_bytes: 5 }.fail();
            }
            return Ok((&input[i + 1..], value));
        }
    }
    if input.len() >= 5 {
        DecodeError::VarintTooLong { max_bytes: 5 }.fail()
    } else {
        DecodeError::Truncated {
            what: "varint",
            needed: input.len() + 1,
            remaining: input.len(),
        }
        .fail()
    }
}

/// An unsigned varint of up to 64 bits (at most 10 bytes).
///
/// ```
/// use klamm_protocol::primitives::unsigned_varlong;
/// assert_eq!(unsigned_varlong(&[0x80, 0x80, 0x80, 0x80, 0x10])?.1, 1 << 32);
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
#[inline]
pub fn unsigned_varlong(input: &[u8]) -> PResult<'_, u64> {
    let mut value: u64 = 0;
    for (i, &b) in input.iter().enumerate().take(10) {
        value |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            if i == 9 && b > 0x01 {
                return DecodeError::VarintTooLong { max_bytes: 10 }.fail();
            }
            return Ok((&input[i + 1..], value));
        }
    }
    if input.len() >= 10 {
        DecodeError::VarintTooLong { max_bytes: 10 }.fail()
    } else {
        DecodeError::Truncated {
            what: "varlong",
            needed: input.len() + 1,
            remaining: input.len(),
        }
        .fail()
    }
}

/// A zigzag-encoded signed `varint` (32 bits), as used inside records.
///
/// ```
/// use klamm_protocol::primitives::varint;
/// assert_eq!(varint(&[0x01])?.1, -1);
/// assert_eq!(varint(&[0x02])?.1, 1);
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
#[inline]
pub fn varint(input: &[u8]) -> PResult<'_, i32> {
    let (rest, u) = unsigned_varint(input)?;
    Ok((rest, ((u >> 1) as i32) ^ -((u & 1) as i32)))
}

/// A zigzag-encoded signed `varlong` (64 bits), as used inside records.
///
/// ```
/// use klamm_protocol::primitives::varlong;
/// assert_eq!(varlong(&[0x03])?.1, -2);
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
#[inline]
pub fn varlong(input: &[u8]) -> PResult<'_, i64> {
    let (rest, u) = unsigned_varlong(input)?;
    Ok((rest, ((u >> 1) as i64) ^ -((u & 1) as i64)))
}

/// Reads a length (already decoded, `-1` meaning null) and takes that many bytes, checking the
/// length against what remains before anything is allocated.
fn take_len<'a>(input: &'a [u8], len: i64, what: &'static str) -> PResult<'a, Option<&'a [u8]>> {
    if len == -1 {
        return Ok((input, None));
    }
    if len < 0 || len as u64 > input.len() as u64 {
        return DecodeError::InvalidLength {
            what,
            len,
            remaining: input.len(),
        }
        .fail();
    }
    let len = len as usize;
    Ok((&input[len..], Some(&input[..len])))
}

fn to_string(b: &[u8]) -> Result<String, nom::Err<DecodeError>> {
    match std::str::from_utf8(b) {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => DecodeError::InvalidUtf8.fail(),
    }
}

/// A raw slice with an int16 length (`-1` = null).
fn short_slice<'a>(input: &'a [u8], what: &'static str) -> PResult<'a, Option<&'a [u8]>> {
    let (rest, len) = int16(input)?;
    take_len(rest, len as i64, what)
}

/// A raw slice with an int32 length (`-1` = null).
fn long_slice<'a>(input: &'a [u8], what: &'static str) -> PResult<'a, Option<&'a [u8]>> {
    let (rest, len) = int32(input)?;
    take_len(rest, len as i64, what)
}

/// A raw slice with an unsigned varint N+1 length (`0` = null).
fn compact_slice<'a>(input: &'a [u8], what: &'static str) -> PResult<'a, Option<&'a [u8]>> {
    let (rest, n) = unsigned_varint(input)?;
    take_len(rest, n as i64 - 1, what)
}

fn non_null<T>(v: Option<T>, field: &'static str) -> Result<T, nom::Err<DecodeError>> {
    match v {
        Some(v) => Ok(v),
        None => DecodeError::UnexpectedNull { field }.fail(),
    }
}

/// A nullable `string` (int16 length, `-1` = null).
///
/// ```
/// use klamm_protocol::primitives::nullable_string;
/// assert_eq!(nullable_string(&[0xff, 0xff])?.1, None);
/// assert_eq!(nullable_string(&[0, 2, b'o', b'k'])?.1.as_deref(), Some("ok"));
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
pub fn nullable_string(input: &[u8]) -> PResult<'_, Option<String>> {
    let (rest, s) = short_slice(input, "string")?;
    Ok((rest, s.map(to_string).transpose()?))
}

/// A `string` (int16 length); null is an error.
///
/// ```
/// use klamm_protocol::primitives::string;
/// assert_eq!(string(&[0, 1, b'x'])?.1, "x");
/// assert!(string(&[0xff, 0xff]).is_err()); // null
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
pub fn string(input: &[u8]) -> PResult<'_, String> {
    let (rest, s) = nullable_string(input)?;
    Ok((rest, non_null(s, "string")?))
}

/// A `compact_nullable_string` (unsigned varint N+1 length, `0` = null).
///
/// ```
/// use klamm_protocol::primitives::compact_nullable_string;
/// assert_eq!(compact_nullable_string(&[0])?.1, None);
/// assert_eq!(compact_nullable_string(&[3, b'o', b'k'])?.1.as_deref(), Some("ok"));
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
pub fn compact_nullable_string(input: &[u8]) -> PResult<'_, Option<String>> {
    let (rest, s) = compact_slice(input, "compact string")?;
    Ok((rest, s.map(to_string).transpose()?))
}

/// A `compact_string`; null is an error.
///
/// ```
/// use klamm_protocol::primitives::compact_string;
/// assert_eq!(compact_string(&[1])?.1, ""); // length N+1 = 1: empty
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
pub fn compact_string(input: &[u8]) -> PResult<'_, String> {
    let (rest, s) = compact_nullable_string(input)?;
    Ok((rest, non_null(s, "compact string")?))
}

/// Nullable `bytes` (int32 length, `-1` = null), zero-copy.
///
/// ```
/// use bytes::Bytes;
/// use klamm_protocol::primitives::{DecodeContext, nullable_bytes};
/// let frame = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff]);
/// assert_eq!(nullable_bytes(&frame, &DecodeContext::new(&frame, 0))?.1, None);
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
pub fn nullable_bytes<'a>(input: &'a [u8], cx: &DecodeContext<'_>) -> PResult<'a, Option<Bytes>> {
    let (rest, s) = long_slice(input, "bytes")?;
    Ok((rest, s.map(|s| cx.bytes_of(s))))
}

/// `bytes` (int32 length); null is an error.
///
/// ```
/// use bytes::Bytes;
/// use klamm_protocol::primitives::{DecodeContext, bytes};
/// let frame = Bytes::from_static(&[0, 0, 0, 1, 9]);
/// assert_eq!(&bytes(&frame, &DecodeContext::new(&frame, 0))?.1[..], &[9]);
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
pub fn bytes<'a>(input: &'a [u8], cx: &DecodeContext<'_>) -> PResult<'a, Bytes> {
    let (rest, s) = nullable_bytes(input, cx)?;
    Ok((rest, non_null(s, "bytes")?))
}

/// `compact_nullable_bytes` (unsigned varint N+1 length, `0` = null), zero-copy.
///
/// ```
/// use bytes::Bytes;
/// use klamm_protocol::primitives::{DecodeContext, compact_nullable_bytes};
/// let frame = Bytes::from_static(&[0]);
/// assert_eq!(compact_nullable_bytes(&frame, &DecodeContext::new(&frame, 0))?.1, None);
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
pub fn compact_nullable_bytes<'a>(
    input: &'a [u8],
    cx: &DecodeContext<'_>,
) -> PResult<'a, Option<Bytes>> {
    let (rest, s) = compact_slice(input, "compact bytes")?;
    Ok((rest, s.map(|s| cx.bytes_of(s))))
}

/// `compact_bytes`; null is an error.
///
/// ```
/// use bytes::Bytes;
/// use klamm_protocol::primitives::{DecodeContext, compact_bytes};
/// let frame = Bytes::from_static(&[2, 9]);
/// assert_eq!(&compact_bytes(&frame, &DecodeContext::new(&frame, 0))?.1[..], &[9]);
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
pub fn compact_bytes<'a>(input: &'a [u8], cx: &DecodeContext<'_>) -> PResult<'a, Bytes> {
    let (rest, s) = compact_nullable_bytes(input, cx)?;
    Ok((rest, non_null(s, "compact bytes")?))
}

/// An array's element count: int32 (`-1` = null) or, when `compact`, unsigned varint N+1
/// (`0` = null).
///
/// Every element takes at least one byte, so a count larger than the remaining input is
/// rejected at once: an array that claims 2^31 elements never allocates.
///
/// ```
/// use klamm_protocol::primitives::array_len;
/// assert_eq!(array_len(&[0, 0, 0, 1, 5], false)?.1, Some(1));
/// assert_eq!(array_len(&[0], true)?.1, None);
/// // 2^31 - 1 elements cannot fit in 1 remaining byte: refused before any allocation.
/// assert!(array_len(&[0x7f, 0xff, 0xff, 0xff, 0], false).is_err());
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
pub fn array_len(input: &[u8], compact: bool) -> PResult<'_, Option<usize>> {
    let (rest, n) = if compact {
        let (rest, n) = unsigned_varint(input)?;
        (rest, n as i64 - 1)
    } else {
        let (rest, n) = int32(input)?;
        (rest, n as i64)
    };
    if n == -1 {
        return Ok((rest, None));
    }
    if n < 0 || n as u64 > rest.len() as u64 {
        return DecodeError::InvalidLength {
            what: "array",
            len: n,
            remaining: rest.len(),
        }
        .fail();
    }
    Ok((rest, Some(n as usize)))
}

/// A nullable array whose elements are read by `elem`.
///
/// ```
/// use klamm_protocol::primitives::{int8, nullable_array};
/// assert_eq!(nullable_array(&[3, 1, 2], true, int8)?.1, Some(vec![1, 2]));
/// assert_eq!(nullable_array(&[0], true, int8)?.1, None);
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
pub fn nullable_array<'a, T>(
    input: &'a [u8],
    compact: bool,
    mut elem: impl FnMut(&'a [u8]) -> PResult<'a, T>,
) -> PResult<'a, Option<Vec<T>>> {
    let (mut rest, n) = array_len(input, compact)?;
    let Some(n) = n else {
        return Ok((rest, None));
    };
    // The count is already bounded by the input length; cap the up-front reservation too, so a
    // frame of one-byte elements cannot make us reserve many times its size before parsing.
    let mut out = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let (r, v) = elem(rest)?;
        rest = r;
        out.push(v);
    }
    Ok((rest, Some(out)))
}

/// A non-null array whose elements are read by `elem`.
///
/// ```
/// use klamm_protocol::primitives::{array, int16};
/// assert_eq!(array(&[0, 0, 0, 1, 0, 7], false, int16)?.1, vec![7]);
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
pub fn array<'a, T>(
    input: &'a [u8],
    compact: bool,
    elem: impl FnMut(&'a [u8]) -> PResult<'a, T>,
) -> PResult<'a, Vec<T>> {
    let (rest, v) = nullable_array(input, compact, elem)?;
    Ok((rest, non_null(v, "array")?))
}

/// A non-null string, compact when `flexible`.
///
/// ```
/// use klamm_protocol::primitives::read_string;
/// assert_eq!(read_string(&[2, b'a'], true)?.1, "a");
/// assert_eq!(read_string(&[0, 1, b'a'], false)?.1, "a");
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
pub fn read_string(input: &[u8], flexible: bool) -> PResult<'_, String> {
    if flexible {
        compact_string(input)
    } else {
        string(input)
    }
}

/// A nullable string, compact when `flexible`.
///
/// ```
/// use klamm_protocol::primitives::read_nullable_string;
/// assert_eq!(read_nullable_string(&[0], true)?.1, None);
/// assert_eq!(read_nullable_string(&[0xff, 0xff], false)?.1, None);
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
pub fn read_nullable_string(input: &[u8], flexible: bool) -> PResult<'_, Option<String>> {
    if flexible {
        compact_nullable_string(input)
    } else {
        nullable_string(input)
    }
}

/// Non-null bytes, compact when `flexible`.
///
/// ```
/// use bytes::Bytes;
/// use klamm_protocol::primitives::{DecodeContext, read_bytes};
/// let frame = Bytes::from_static(&[2, 0xab]);
/// assert_eq!(&read_bytes(&frame, &DecodeContext::new(&frame, 0), true)?.1[..], &[0xab]);
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
pub fn read_bytes<'a>(
    input: &'a [u8],
    cx: &DecodeContext<'_>,
    flexible: bool,
) -> PResult<'a, Bytes> {
    if flexible {
        compact_bytes(input, cx)
    } else {
        bytes(input, cx)
    }
}

/// Nullable bytes, compact when `flexible`.
///
/// ```
/// use bytes::Bytes;
/// use klamm_protocol::primitives::{DecodeContext, read_nullable_bytes};
/// let frame = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff]);
/// assert_eq!(read_nullable_bytes(&frame, &DecodeContext::new(&frame, 0), false)?.1, None);
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
pub fn read_nullable_bytes<'a>(
    input: &'a [u8],
    cx: &DecodeContext<'_>,
    flexible: bool,
) -> PResult<'a, Option<Bytes>> {
    if flexible {
        compact_nullable_bytes(input, cx)
    } else {
        nullable_bytes(input, cx)
    }
}

/// Checks that `rest` is empty after a complete message.
///
/// ```
/// use klamm_protocol::{DecodeError, primitives::expect_end};
/// assert_eq!(expect_end(&[]), Ok(()));
/// assert_eq!(expect_end(&[1, 2]), Err(DecodeError::TrailingBytes(2)));
/// ```
pub fn expect_end(rest: &[u8]) -> Result<(), DecodeError> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::TrailingBytes(rest.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_values() {
        let cases: &[(&[u8], i32)] = &[
            (&[0x00], 0),
            (&[0x01], -1),
            (&[0x02], 1),
            (&[0x7f], -64),
            (&[0x80, 0x01], 64),
            (&[0xfe, 0xff, 0xff, 0xff, 0x0f], i32::MAX),
            (&[0xff, 0xff, 0xff, 0xff, 0x0f], i32::MIN),
        ];
        for (bytes, v) in cases {
            assert_eq!(varint(bytes).unwrap(), (&[][..], *v), "{bytes:?}");
        }
    }

    #[test]
    fn overlong_varint_is_an_error() {
        assert!(matches!(
            unsigned_varint(&[0xff; 6]),
            Err(nom::Err::Failure(DecodeError::VarintTooLong { .. }))
        ));
        assert!(matches!(
            unsigned_varint(&[0xff, 0xff, 0xff, 0xff, 0x1f]),
            Err(nom::Err::Failure(DecodeError::VarintTooLong { .. }))
        ));
        assert!(matches!(
            unsigned_varint(&[0x80]),
            Err(nom::Err::Failure(DecodeError::Truncated { .. }))
        ));
    }

    #[test]
    fn huge_array_count_fails_before_allocating() {
        let input = [0x7f, 0xff, 0xff, 0xff, 0x00];
        assert!(matches!(
            array_len(&input, false),
            Err(nom::Err::Failure(DecodeError::InvalidLength { .. }))
        ));
    }

    #[test]
    fn strings_and_nulls() {
        assert_eq!(nullable_string(&[0xff, 0xff]).unwrap().1, None);
        assert_eq!(string(&[0, 2, b'h', b'i']).unwrap().1, "hi");
        assert_eq!(compact_nullable_string(&[0]).unwrap().1, None);
        assert_eq!(compact_string(&[3, b'h', b'i']).unwrap().1, "hi");
        assert!(string(&[0xff, 0xff]).is_err());
        assert!(string(&[0, 5, b'h']).is_err());
        assert!(string(&[0, 2, 0xff, 0xfe]).is_err());
    }

    #[test]
    fn bytes_are_zero_copy_slices_of_the_frame() {
        let frame = Bytes::from_static(&[0, 0, 0, 3, 1, 2, 3]);
        let cx = DecodeContext::new(&frame, 0);
        let (_, b) = bytes(&frame[..], &cx).unwrap();
        assert_eq!(&b[..], &[1, 2, 3]);
        assert_eq!(b.as_ptr(), frame[4..].as_ptr());
    }
}
