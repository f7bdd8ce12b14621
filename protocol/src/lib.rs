#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod answers;
pub mod api;
pub mod codec;
pub mod error;
pub mod error_code;
pub mod frame;
pub mod header;
pub mod messages;
pub mod primitives;
pub mod record;
#[cfg(feature = "sasl")]
pub mod sasl;

pub use api::{ApiInfo, ApiKey, SUPPORTED_APIS};
pub use codec::{Message, Request};
pub use error::{DecodeError, EncodeError};
pub use primitives::Uuid;
