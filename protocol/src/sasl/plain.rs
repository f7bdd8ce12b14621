//! SASL/PLAIN (RFC 4616).

/// The single PLAIN message: `authzid NUL authcid NUL passwd`, with an empty authzid as the
/// Kafka clients send it.
///
/// ```
/// assert_eq!(klamm_protocol::sasl::plain_message("alice", "secret"), b"\0alice\0secret");
/// ```
pub fn plain_message(username: &str, password: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + username.len() + password.len());
    out.push(0);
    out.extend_from_slice(username.as_bytes());
    out.push(0);
    out.extend_from_slice(password.as_bytes());
    out
}
