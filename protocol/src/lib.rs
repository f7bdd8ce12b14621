#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod error;
pub mod primitives;

pub use error::{DecodeError, EncodeError};
pub use primitives::Uuid;
