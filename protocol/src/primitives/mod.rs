//! Kafka's primitive types, both directions.
//!
//! Decoders are nom parsers over complete input (`&[u8]`) with [`DecodeError`] as the error
//! type; encoders write into any [`bytes::BufMut`]. Names follow the protocol guide: `string`
//! is an int16-prefixed string, `compact_string` an unsigned-varint (N+1) prefixed one, and so
//! on. Every length is checked against what remains before anything is allocated.
//!
//! ```
//! use klamm_protocol::primitives::{compact_string, put_str, put_varint, varint};
//!
//! let mut buf = Vec::new();
//! put_str(&mut buf, "topic", true)?; // compact: length + 1 as an unsigned varint
//! put_varint(&mut buf, -3);
//! let (rest, s) = compact_string(&buf).unwrap();
//! assert_eq!(s, "topic");
//! assert_eq!(varint(rest).unwrap().1, -3);
//! # Ok::<(), klamm_protocol::EncodeError>(())
//! ```

mod decode;
mod encode;
mod tagged;

pub use decode::*;
pub use encode::*;
pub use tagged::*;

use crate::error::DecodeError;

/// The result type of every decoder in this crate.
///
/// ```
/// use klamm_protocol::primitives::{PResult, int8, int16};
/// // Decoders compose like any nom parser.
/// fn pair(input: &[u8]) -> PResult<'_, (i8, i16)> {
///     let (rest, a) = int8(input)?;
///     let (rest, b) = int16(rest)?;
///     Ok((rest, (a, b)))
/// }
/// assert_eq!(pair(&[1, 0, 2])?.1, (1, 2));
/// # Ok::<(), nom::Err<klamm_protocol::DecodeError>>(())
/// ```
pub type PResult<'a, T> = nom::IResult<&'a [u8], T, DecodeError>;

/// A 16-byte UUID as Kafka sends it (topic ids, client instance ids).
///
/// ```
/// use klamm_protocol::Uuid;
/// let id = Uuid([0xab; 16]);
/// assert_eq!(id.to_string(), "abababab-abab-abab-abab-abababababab");
/// assert!(!id.is_zero());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero UUID Kafka uses for "no id".
    ///
    /// ```
    /// use klamm_protocol::Uuid;
    /// assert_eq!(Uuid::default(), Uuid::ZERO);
    /// ```
    pub const ZERO: Uuid = Uuid([0; 16]);

    /// Whether this is the all-zero UUID.
    ///
    /// ```
    /// assert!(klamm_protocol::Uuid::ZERO.is_zero());
    /// ```
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl std::fmt::Display for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
