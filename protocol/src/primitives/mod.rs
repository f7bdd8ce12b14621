//! Kafka's primitive types, both directions.
//!
//! Decoders are nom parsers over complete input (`&[u8]`) with [`DecodeError`] as the error
//! type; encoders write into any [`bytes::BufMut`]. Names follow the protocol guide: `string`
//! is an int16-prefixed string, `compact_string` an unsigned-varint (N+1) prefixed one, and so
//! on. Every length is checked against what remains before anything is allocated.

mod decode;
mod encode;
mod tagged;

pub use decode::*;
pub use encode::*;
pub use tagged::*;

use crate::error::DecodeError;

/// The result type of every decoder in this crate.
pub type PResult<'a, T> = nom::IResult<&'a [u8], T, DecodeError>;

/// A 16-byte UUID as Kafka sends it (topic ids, client instance ids).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero UUID Kafka uses for "no id".
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
