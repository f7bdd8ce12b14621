//! Encoders for the primitive types.

use bytes::BufMut;

use super::Uuid;
use crate::error::EncodeError;

/// Writes an `unsigned_varint` (LEB128).
///
/// ```
/// use klamm_protocol::primitives::put_unsigned_varint;
/// let mut buf = Vec::new();
/// put_unsigned_varint(&mut buf, 300);
/// assert_eq!(buf, [0xac, 0x02]);
/// ```
#[inline]
pub fn put_unsigned_varint(buf: &mut impl BufMut, mut v: u32) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Writes a 64-bit unsigned varint.
///
/// ```
/// use klamm_protocol::primitives::put_unsigned_varlong;
/// let mut buf = Vec::new();
/// put_unsigned_varlong(&mut buf, 1 << 35);
/// assert_eq!(buf, [0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
/// ```
#[inline]
pub fn put_unsigned_varlong(buf: &mut impl BufMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Writes a zigzag `varint`.
///
/// ```
/// use klamm_protocol::primitives::put_varint;
/// let mut buf = Vec::new();
/// put_varint(&mut buf, -1);
/// put_varint(&mut buf, 1);
/// assert_eq!(buf, [0x01, 0x02]);
/// ```
#[inline]
pub fn put_varint(buf: &mut impl BufMut, v: i32) {
    put_unsigned_varint(buf, ((v << 1) ^ (v >> 31)) as u32);
}

/// Writes a zigzag `varlong`.
///
/// ```
/// use klamm_protocol::primitives::put_varlong;
/// let mut buf = Vec::new();
/// put_varlong(&mut buf, -65);
/// assert_eq!(buf, [0x81, 0x01]);
/// ```
#[inline]
pub fn put_varlong(buf: &mut impl BufMut, v: i64) {
    put_unsigned_varlong(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// The number of bytes [`put_unsigned_varint`] writes for `v`.
///
/// ```
/// use klamm_protocol::primitives::unsigned_varint_len;
/// assert_eq!(unsigned_varint_len(127), 1);
/// assert_eq!(unsigned_varint_len(128), 2);
/// assert_eq!(unsigned_varint_len(u32::MAX), 5);
/// ```
#[inline]
pub const fn unsigned_varint_len(v: u32) -> usize {
    match v {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}

/// The number of bytes [`put_varint`] writes for `v`.
///
/// ```
/// use klamm_protocol::primitives::varint_len;
/// assert_eq!(varint_len(-64), 1);
/// assert_eq!(varint_len(64), 2);
/// ```
#[inline]
pub const fn varint_len(v: i32) -> usize {
    unsigned_varint_len(((v << 1) ^ (v >> 31)) as u32)
}

/// The number of bytes [`put_varlong`] writes for `v`.
///
/// ```
/// use klamm_protocol::primitives::varlong_len;
/// assert_eq!(varlong_len(i64::MIN), 10);
/// ```
#[inline]
pub const fn varlong_len(v: i64) -> usize {
    let mut u = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while u >= 0x80 {
        u >>= 7;
        n += 1;
    }
    n
}

/// Writes a `boolean`.
///
/// ```
/// use klamm_protocol::primitives::put_bool;
/// let mut buf = Vec::new();
/// put_bool(&mut buf, true);
/// assert_eq!(buf, [1]);
/// ```
#[inline]
pub fn put_bool(buf: &mut impl BufMut, v: bool) {
    buf.put_u8(v as u8);
}

/// Writes a `uuid`.
///
/// ```
/// use klamm_protocol::{Uuid, primitives::put_uuid};
/// let mut buf = Vec::new();
/// put_uuid(&mut buf, &Uuid([7; 16]));
/// assert_eq!(buf, [7; 16]);
/// ```
#[inline]
pub fn put_uuid(buf: &mut impl BufMut, v: &Uuid) {
    buf.put_slice(&v.0);
}

fn short_len(what: &'static str, len: usize) -> Result<i16, EncodeError> {
    i16::try_from(len).map_err(|_| EncodeError::TooLong { what, len })
}

fn long_len(what: &'static str, len: usize) -> Result<i32, EncodeError> {
    i32::try_from(len).map_err(|_| EncodeError::TooLong { what, len })
}

fn compact_len(what: &'static str, len: usize) -> Result<u32, EncodeError> {
    u32::try_from(len)
        .ok()
        .and_then(|l| l.checked_add(1))
        .ok_or(EncodeError::TooLong { what, len })
}

/// Writes a `string` or `nullable_string` (int16 length, `-1` for null), or their compact forms.
///
/// ```
/// use klamm_protocol::primitives::put_nullable_str;
/// let mut buf = Vec::new();
/// put_nullable_str(&mut buf, None, false)?;
/// put_nullable_str(&mut buf, Some("a"), true)?;
/// assert_eq!(buf, [0xff, 0xff, 2, b'a']);
/// # Ok::<(), klamm_protocol::EncodeError>(())
/// ```
pub fn put_nullable_str(
    buf: &mut impl BufMut,
    v: Option<&str>,
    compact: bool,
) -> Result<(), EncodeError> {
    put_nullable_slice(buf, v.map(str::as_bytes), compact, false, "string")
}

/// Writes a non-null string (int16 length) or compact string.
///
/// ```
/// use klamm_protocol::primitives::put_str;
/// let mut buf = Vec::new();
/// put_str(&mut buf, "hi", false)?;
/// assert_eq!(buf, [0, 2, b'h', b'i']);
/// # Ok::<(), klamm_protocol::EncodeError>(())
/// ```
pub fn put_str(buf: &mut impl BufMut, v: &str, compact: bool) -> Result<(), EncodeError> {
    put_nullable_slice(buf, Some(v.as_bytes()), compact, false, "string")
}

/// Writes `bytes` / `nullable_bytes` (int32 length, `-1` for null) or their compact forms.
///
/// ```
/// use klamm_protocol::primitives::put_nullable_bytes;
/// let mut buf = Vec::new();
/// put_nullable_bytes(&mut buf, None, false)?;
/// put_nullable_bytes(&mut buf, None, true)?;
/// assert_eq!(buf, [0xff, 0xff, 0xff, 0xff, 0]);
/// # Ok::<(), klamm_protocol::EncodeError>(())
/// ```
pub fn put_nullable_bytes(
    buf: &mut impl BufMut,
    v: Option<&[u8]>,
    compact: bool,
) -> Result<(), EncodeError> {
    put_nullable_slice(buf, v, compact, true, "bytes")
}

/// Writes non-null `bytes` or `compact_bytes`.
///
/// ```
/// use klamm_protocol::primitives::put_bytes;
/// let mut buf = Vec::new();
/// put_bytes(&mut buf, &[9, 9], true)?;
/// assert_eq!(buf, [3, 9, 9]);
/// # Ok::<(), klamm_protocol::EncodeError>(())
/// ```
pub fn put_bytes(buf: &mut impl BufMut, v: &[u8], compact: bool) -> Result<(), EncodeError> {
    put_nullable_slice(buf, Some(v), compact, true, "bytes")
}

fn put_nullable_slice(
    buf: &mut impl BufMut,
    v: Option<&[u8]>,
    compact: bool,
    long: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    match (v, compact) {
        (None, true) => put_unsigned_varint(buf, 0),
        (None, false) if long => buf.put_i32(-1),
        (None, false) => buf.put_i16(-1),
        (Some(b), true) => {
            put_unsigned_varint(buf, compact_len(what, b.len())?);
            buf.put_slice(b);
        }
        (Some(b), false) => {
            if long {
                buf.put_i32(long_len(what, b.len())?);
            } else {
                buf.put_i16(short_len(what, b.len())?);
            }
            buf.put_slice(b);
        }
    }
    Ok(())
}

/// Writes an array length: int32 (`-1` for null) or compact N+1 (`0` for null).
///
/// ```
/// use klamm_protocol::primitives::put_array_len;
/// let mut buf = Vec::new();
/// put_array_len(&mut buf, Some(2), false)?;
/// put_array_len(&mut buf, None, true)?;
/// assert_eq!(buf, [0, 0, 0, 2, 0]);
/// # Ok::<(), klamm_protocol::EncodeError>(())
/// ```
pub fn put_array_len(
    buf: &mut impl BufMut,
    len: Option<usize>,
    compact: bool,
) -> Result<(), EncodeError> {
    match (len, compact) {
        (None, true) => put_unsigned_varint(buf, 0),
        (None, false) => buf.put_i32(-1),
        (Some(n), true) => put_unsigned_varint(buf, compact_len("array", n)?),
        (Some(n), false) => buf.put_i32(long_len("array", n)?),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::decode::*;
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varint_round_trips(v: i32) {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            prop_assert_eq!(b.len(), varint_len(v));
            prop_assert_eq!(varint(&b).unwrap(), (&[][..], v));
        }

        #[test]
        fn varlong_round_trips(v: i64) {
            let mut b = Vec::new();
            put_varlong(&mut b, v);
            prop_assert_eq!(b.len(), varlong_len(v));
            prop_assert_eq!(varlong(&b).unwrap(), (&[][..], v));
        }

        #[test]
        fn unsigned_varint_round_trips(v: u32) {
            let mut b = Vec::new();
            put_unsigned_varint(&mut b, v);
            prop_assert_eq!(b.len(), unsigned_varint_len(v));
            prop_assert_eq!(unsigned_varint(&b).unwrap(), (&[][..], v));
        }

        #[test]
        fn strings_round_trip(s: Option<String>, compact: bool) {
            let mut b = Vec::new();
            put_nullable_str(&mut b, s.as_deref(), compact).unwrap();
            let (rest, back) = if compact { compact_nullable_string(&b).unwrap() } else { nullable_string(&b).unwrap() };
            prop_assert!(rest.is_empty());
            prop_assert_eq!(back, s);
        }
    }
}
