//! Record encoding helpers: headers to append and the varint writers of the hot path.

/// A record header to append: a UTF-8 key and an optional value.
///
/// ```
/// use klamm_protocol::record::Header;
/// let h = Header::new("trace-id", Some(b"abc"));
/// assert_eq!(h.key, "trace-id");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// The header key.
    pub key: &'a str,
    /// The header value; `None` is written as length -1.
    pub value: Option<&'a [u8]>,
}

impl<'a> Header<'a> {
    /// A header with this key and value.
    ///
    /// ```
    /// use klamm_protocol::record::Header;
    /// let h = Header::new("trace", None);
    /// assert_eq!((h.key, h.value), ("trace", None));
    /// ```
    pub const fn new(key: &'a str, value: Option<&'a [u8]>) -> Self {
        Header { key, value }
    }
}

/// Anything [`BatchBuilder::append`](super::BatchBuilder::append) can write as a record header,
/// so a producer can pass the headers it already owns without building a new list per record.
///
/// Implemented for [`Header`], for decoded [`RecordHeader`](super::RecordHeader)s (to copy
/// records from one batch to another), for `(key, Option<value>)` tuples of anything that is
/// `AsRef<[u8]>` (`(&str, Option<&[u8]>)`, `(String, Option<Bytes>)`, ...) and for references to
/// these.
///
/// ```
/// use bytes::Bytes;
/// use klamm_protocol::record::{BatchBuilder, Compression};
/// let owned: Vec<(String, Option<Bytes>)> = vec![("k".into(), Some(Bytes::from_static(b"v")))];
/// let mut b = BatchBuilder::new(Compression::None);
/// b.append(0, None, Some(b"value"), &owned)?;
/// # Ok::<(), klamm_protocol::EncodeError>(())
/// ```
pub trait AsHeader {
    /// The key bytes (Kafka header keys are UTF-8 strings).
    ///
    /// ```
    /// use klamm_protocol::record::{AsHeader, Header};
    /// assert_eq!(Header::new("k", None).header_key(), b"k");
    /// assert_eq!(("k", Some(b"v")).header_key(), b"k");
    /// ```
    fn header_key(&self) -> &[u8];
    /// The value bytes, or `None` for a null value.
    ///
    /// ```
    /// use klamm_protocol::record::AsHeader;
    /// assert_eq!(("k", Some("v")).header_value(), Some(&b"v"[..]));
    /// assert_eq!(("k", None::<&[u8]>).header_value(), None);
    /// ```
    fn header_value(&self) -> Option<&[u8]>;
}

impl AsHeader for Header<'_> {
    fn header_key(&self) -> &[u8] {
        self.key.as_bytes()
    }
    fn header_value(&self) -> Option<&[u8]> {
        self.value
    }
}

impl<K: AsRef<[u8]>, V: AsRef<[u8]>> AsHeader for (K, Option<V>) {
    fn header_key(&self) -> &[u8] {
        self.0.as_ref()
    }
    fn header_value(&self) -> Option<&[u8]> {
        self.1.as_ref().map(AsRef::as_ref)
    }
}

impl<T: AsHeader + ?Sized> AsHeader for &T {
    fn header_key(&self) -> &[u8] {
        (**self).header_key()
    }
    fn header_value(&self) -> Option<&[u8]> {
        (**self).header_value()
    }
}

impl AsHeader for super::RecordHeader {
    fn header_key(&self) -> &[u8] {
        &self.key
    }
    fn header_value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }
}

/// Zigzag-encodes a 64-bit value.
#[inline(always)]
pub(crate) const fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Bytes an unsigned LEB128 value takes.
#[inline(always)]
pub(crate) const fn uvarint_len(v: u64) -> usize {
    // 1 + floor(bits / 7), with 0 taking one byte.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Bytes a zigzag varint/varlong takes.
#[inline(always)]
pub(crate) const fn varlong_len(v: i64) -> usize {
    uvarint_len(zigzag64(v))
}

/// Bytes the length prefix of an optional slice takes (`-1` for null).
#[inline(always)]
pub(crate) const fn nullable_len_len(len: Option<usize>) -> usize {
    match len {
        Some(n) => varlong_len(n as i64),
        None => 1,
    }
}

/// Writes an unsigned LEB128 value into `out` (which has room: the caller reserved it).
#[inline(always)]
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Writes a zigzag varlong.
#[inline(always)]
pub(crate) fn put_varlong(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag64(v));
}

/// Writes a varint length and the slice, or `-1` for `None`.
#[inline(always)]
pub(crate) fn put_nullable(out: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        Some(b) => {
            put_varlong(out, b.len() as i64);
            out.extend_from_slice(b);
        }
        None => out.push(1), // zigzag(-1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::{varlong, varlong_len as reference_len};

    #[test]
    fn varlong_matches_the_primitives() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            8191,
            -8193,
            i32::MAX as i64,
            i64::MIN,
            i64::MAX,
        ] {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            assert_eq!(out.len(), varlong_len(v), "{v}");
            assert_eq!(out.len(), reference_len(v), "{v}");
            assert_eq!(varlong(&out).unwrap().1, v);
        }
    }
}
