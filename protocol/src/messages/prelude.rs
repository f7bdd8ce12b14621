//! What every generated message module uses.

pub(crate) use bytes::{BufMut, Bytes};

pub(crate) use crate::api::ApiKey;
pub(crate) use crate::codec::{Message, Request, Struct, check_encode_version};
pub(crate) use crate::error::EncodeError;
pub(crate) use crate::primitives::*;

#[cfg(test)]
pub(crate) use proptest::prelude::*;
