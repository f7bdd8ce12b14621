//! SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677): the shared crypto and message parsing.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::error::SaslError;

/// Smallest iteration count Kafka accepts for SCRAM credentials.
///
/// ```
/// use klamm_protocol::sasl::{MAX_ITERATIONS, MIN_ITERATIONS};
/// assert!(MIN_ITERATIONS <= 4096 && 4096 <= MAX_ITERATIONS);
/// ```
pub const MIN_ITERATIONS: u32 = 4096;
/// Largest iteration count Kafka accepts for SCRAM credentials.
///
/// ```
/// use klamm_protocol::sasl::{MAX_ITERATIONS, ScramClient, ScramMechanism};
/// let mut client = ScramClient::with_nonce(ScramMechanism::Sha256, "u", "p", "abc");
/// client.client_first();
/// // A server asking for more iterations than Kafka allows is refused.
/// let server_first = format!("r=abcdef,s=c2FsdA==,i={}", MAX_ITERATIONS + 1);
/// assert!(client.handle_server_first(server_first.as_bytes()).is_err());
/// ```
pub const MAX_ITERATIONS: u32 = 16384;

/// The SCRAM hash function.
///
/// ```
/// use klamm_protocol::sasl::ScramMechanism;
/// assert_ne!(ScramMechanism::Sha256, ScramMechanism::Sha512);
/// assert_eq!(ScramMechanism::Sha512.name(), "SCRAM-SHA-512");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScramMechanism {
    /// `SCRAM-SHA-256`.
    Sha256,
    /// `SCRAM-SHA-512`.
    Sha512,
}

impl ScramMechanism {
    /// The mechanism name as Kafka spells it in SaslHandshake.
    ///
    /// ```
    /// use klamm_protocol::sasl::ScramMechanism;
    /// assert_eq!(ScramMechanism::Sha256.name(), "SCRAM-SHA-256");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub(crate) fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                let mut m = <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            ScramMechanism::Sha512 => {
                let mut m = <Hmac<Sha512>>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    pub(crate) fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// `Hi(password, salt, i)`: PBKDF2 with this mechanism's HMAC.
    pub(crate) fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            ScramMechanism::Sha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }
}

/// What a server stores for one SCRAM user (RFC 5802 section 3): never the password itself.
///
/// ```
/// use klamm_protocol::sasl::{ScramCredential, ScramMechanism};
/// let c = ScramCredential::new(ScramMechanism::Sha256, "secret", b"salt", 4096);
/// assert_eq!((c.iterations, c.stored_key.len(), c.server_key.len()), (4096, 32, 32));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredential {
    /// The mechanism the credential is for.
    pub mechanism: ScramMechanism,
    /// The salt.
    pub salt: Vec<u8>,
    /// The PBKDF2 iteration count.
    pub iterations: u32,
    /// `H(ClientKey)`.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

impl ScramCredential {
    /// Derives the stored credential from a password.
    ///
    /// ```
    /// use klamm_protocol::sasl::{ScramCredential, ScramMechanism};
    /// let a = ScramCredential::new(ScramMechanism::Sha512, "secret", b"salt", 4096);
    /// let b = ScramCredential::new(ScramMechanism::Sha512, "secret", b"pepper", 4096);
    /// assert_ne!(a.stored_key, b.stored_key); // the salt matters
    /// assert_eq!(a.stored_key.len(), 64);
    /// ```
    pub fn new(mechanism: ScramMechanism, password: &str, salt: &[u8], iterations: u32) -> Self {
        let salted = mechanism.salted_password(password.as_bytes(), salt, iterations);
        let keys = Keys::from_salted(mechanism, &salted);
        ScramCredential {
            mechanism,
            salt: salt.to_vec(),
            iterations,
            stored_key: mechanism.hash(&keys.client_key),
            server_key: keys.server_key,
        }
    }
}

pub(crate) struct Keys {
    pub(crate) client_key: Vec<u8>,
    pub(crate) server_key: Vec<u8>,
}

impl Keys {
    pub(crate) fn from_salted(mech: ScramMechanism, salted: &[u8]) -> Self {
        Keys {
            client_key: mech.hmac(salted, b"Client Key"),
            server_key: mech.hmac(salted, b"Server Key"),
        }
    }
}

/// Escapes a username for the `n=` attribute (`=` as `=3D`, `,` as `=2C`).
pub(crate) fn escape_username(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// Reverses [`escape_username`]; any other `=` sequence is malformed.
pub(crate) fn unescape_username(name: &str) -> Result<String, SaslError> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let esc = rest
            .get(i..i + 3)
            .ok_or(SaslError::Malformed("bad escape in username"))?;
        match esc {
            "=3D" => out.push('='),
            "=2C" => out.push(','),
            _ => return Err(SaslError::Malformed("bad escape in username")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The value of attribute `key` at position `index` of a comma-separated message.
pub(crate) fn attr<'a>(
    parts: &[&'a str],
    index: usize,
    key: char,
    what: &'static str,
) -> Result<&'a str, SaslError> {
    let part = parts.get(index).ok_or(SaslError::Malformed(what))?;
    let mut chars = part.chars();
    if chars.next() != Some(key) || chars.next() != Some('=') {
        return Err(SaslError::Malformed(what));
    }
    Ok(&part[2..])
}

pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub(crate) fn b64_decode(s: &str, what: &'static str) -> Result<Vec<u8>, SaslError> {
    B64.decode(s).map_err(|_| SaslError::Malformed(what))
}

/// XOR of two equal-length byte strings.
pub(crate) fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// A fresh printable nonce (no `,`), as RFC 5802 requires.
pub(crate) fn new_nonce() -> String {
    let bytes: [u8; 24] = rand::random();
    b64_encode(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_escaping_round_trips() {
        let name = "a=b,c";
        assert_eq!(escape_username(name), "a=3Db=2Cc");
        assert_eq!(
            unescape_username(&escape_username(name)).as_deref(),
            Ok(name)
        );
        assert!(unescape_username("a=4").is_err());
        assert!(unescape_username("a=").is_err());
    }

    #[test]
    fn nonces_are_printable_and_fresh() {
        let a = new_nonce();
        assert!(!a.contains(','));
        assert!(a.bytes().all(|b| (0x21..0x7f).contains(&b)));
        assert_ne!(a, new_nonce());
    }
}
