//! SASL authentication as Kafka brokers do it (KIP-43, KIP-152): SaslHandshake v1 picks the
//! mechanism, SaslAuthenticate carries the tokens. PLAIN (RFC 4616) and SCRAM-SHA-256/512
//! (RFC 5802 / RFC 7677, 4096 iterations as Kafka's default).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// A SASL mechanism the brokers can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// PLAIN.
    Plain,
    /// SCRAM-SHA-256.
    ScramSha256,
    /// SCRAM-SHA-512.
    ScramSha512,
}

impl Mechanism {
    /// The mechanism's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [
            Mechanism::Plain,
            Mechanism::ScramSha256,
            Mechanism::ScramSha512,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }
}

/// The users and mechanisms the brokers accept.
///
/// ```
/// use klamm_testkit::{Mechanism, SaslConfig};
/// let sasl = SaslConfig::new(&[Mechanism::Plain, Mechanism::ScramSha512]).user("alice", "secret");
/// # let _ = sasl;
/// ```
#[derive(Debug, Clone, Default)]
pub struct SaslConfig {
    mechanisms: Vec<Mechanism>,
    users: Vec<(String, String)>,
}

impl SaslConfig {
    /// Enables these mechanisms (no users yet).
    pub fn new(mechanisms: &[Mechanism]) -> Self {
        SaslConfig {
            mechanisms: mechanisms.to_vec(),
            users: Vec::new(),
        }
    }

    /// Adds a user.
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users.push((name.to_string(), password.to_string()));
        self
    }

    /// Names of the enabled mechanisms.
    pub fn mechanism_names(&self) -> Vec<String> {
        self.mechanisms
            .iter()
            .map(|m| m.name().to_string())
            .collect()
    }

    fn password(&self, user: &str) -> Option<&str> {
        self.users
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, p)| p.as_str())
    }
}

/// Where one connection's SASL exchange is.
#[derive(Debug, Default)]
pub(crate) enum SaslSession {
    /// No handshake yet.
    #[default]
    Start,
    /// Handshake done; waiting for the first token.
    Chosen(Mechanism),
    /// SCRAM: server-first sent.
    ScramSent {
        mechanism: Mechanism,
        user: String,
        nonce: String,
        salt: Vec<u8>,
        client_first_bare: String,
        server_first: String,
    },
    /// Authenticated or failed: nothing more to do.
    Done,
}

/// Why authentication failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SaslError {
    /// Bad message or wrong credentials (Kafka does not say which).
    #[error("authentication failed: {0}")]
    Failed(&'static str),
    /// A token without a handshake.
    #[error("SASL token before SaslHandshake")]
    IllegalState,
}

const ITERATIONS: u32 = 4096;

impl SaslSession {
    /// Handles SaslHandshake: `Err(())` if the mechanism is not enabled.
    pub fn handshake(&mut self, config: &SaslConfig, mechanism: &str) -> Result<(), ()> {
        match Mechanism::from_name(mechanism) {
            Some(m) if config.mechanisms.contains(&m) => {
                *self = SaslSession::Chosen(m);
                Ok(())
            }
            _ => Err(()),
        }
    }

    /// Handles one SaslAuthenticate token: `Ok((reply, done))`.
    pub fn step(
        &mut self,
        config: &SaslConfig,
        token: &[u8],
    ) -> Result<(Vec<u8>, bool), SaslError> {
        match std::mem::take(self) {
            SaslSession::Chosen(Mechanism::Plain) => {
                *self = SaslSession::Done;
                let mut parts = token.split(|b| *b == 0);
                let (_authz, user, pass) =
                    match (parts.next(), parts.next(), parts.next(), parts.next()) {
                        (Some(a), Some(u), Some(p), None) => (a, u, p),
                        _ => return Err(SaslError::Failed("malformed PLAIN token")),
                    };
                let user = std::str::from_utf8(user).map_err(|_| SaslError::Failed("bad user"))?;
                match config.password(user) {
                    Some(p) if p.as_bytes() == pass => Ok((Vec::new(), true)),
                    _ => Err(SaslError::Failed("invalid username or password")),
                }
            }
            SaslSession::Chosen(m) => self.scram_first(config, m, token),
            SaslSession::ScramSent {
                mechanism,
                user,
                nonce,
                salt,
                client_first_bare,
                server_first,
            } => {
                *self = SaslSession::Done;
                let pass = config
                    .password(&user)
                    .ok_or(SaslError::Failed("unknown user"))?;
                let msg = std::str::from_utf8(token).map_err(|_| SaslError::Failed("bad token"))?;
                let (without_proof, proof) = msg
                    .rsplit_once(",p=")
                    .ok_or(SaslError::Failed("no proof"))?;
                let attr = |k: &str| {
                    without_proof
                        .split(',')
                        .find_map(|kv| kv.strip_prefix(k))
                        .map(str::to_string)
                };
                if attr("r=").as_deref() != Some(nonce.as_str()) {
                    return Err(SaslError::Failed("nonce mismatch"));
                }
                let proof = B64
                    .decode(proof)
                    .map_err(|_| SaslError::Failed("bad proof"))?;
                let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
                let (ok, server_sig) = match mechanism {
                    Mechanism::ScramSha256 => verify_sha256(pass, &salt, &auth_message, &proof),
                    _ => verify_sha512(pass, &salt, &auth_message, &proof),
                };
                if !ok {
                    return Err(SaslError::Failed("invalid username or password"));
                }
                Ok((format!("v={}", B64.encode(server_sig)).into_bytes(), true))
            }
            SaslSession::Start | SaslSession::Done => Err(SaslError::IllegalState),
        }
    }

    fn scram_first(
        &mut self,
        config: &SaslConfig,
        m: Mechanism,
        token: &[u8],
    ) -> Result<(Vec<u8>, bool), SaslError> {
        *self = SaslSession::Done;
        let msg = std::str::from_utf8(token).map_err(|_| SaslError::Failed("bad token"))?;
        // gs2-header "n,," or "y,," (optionally with an authzid), then the bare message.
        let mut it = msg.splitn(3, ',');
        let (Some(cb), Some(_authz), Some(bare)) = (it.next(), it.next(), it.next()) else {
            return Err(SaslError::Failed("malformed client-first message"));
        };
        if cb != "n" && cb != "y" {
            return Err(SaslError::Failed("channel binding not supported"));
        }
        let attr = |k: &str| bare.split(',').find_map(|kv| kv.strip_prefix(k));
        let user = attr("n=").ok_or(SaslError::Failed("no user"))?;
        let user = user.replace("=2C", ",").replace("=3D", "=");
        let cnonce = attr("r=").ok_or(SaslError::Failed("no nonce"))?;
        if config.password(&user).is_none() {
            return Err(SaslError::Failed("invalid username or password"));
        }
        let snonce: [u8; 18] = rand::random();
        let nonce = format!("{cnonce}{}", B64.encode(snonce));
        let salt: [u8; 16] = rand::random();
        let server_first = format!("r={nonce},s={},i={ITERATIONS}", B64.encode(salt));
        *self = SaslSession::ScramSent {
            mechanism: m,
            user,
            nonce,
            salt: salt.to_vec(),
            client_first_bare: bare.to_string(),
            server_first: server_first.clone(),
        };
        Ok((server_first.into_bytes(), false))
    }
}

macro_rules! scram_fns {
    ($hmac:ident, $verify:ident, $d:ty) => {
        pub(crate) fn $hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
            // HMAC accepts keys of any length, so this never fails.
            let Ok(mut mac) = <Hmac<$d> as Mac>::new_from_slice(key) else {
                return Vec::new();
            };
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }

        /// Checks a SCRAM client proof; returns (valid, server signature).
        fn $verify(
            password: &str,
            salt: &[u8],
            auth_message: &str,
            proof: &[u8],
        ) -> (bool, Vec<u8>) {
            let mut salted = vec![0u8; <$d as Digest>::output_size()];
            pbkdf2::pbkdf2_hmac::<$d>(password.as_bytes(), salt, ITERATIONS, &mut salted);
            let client_key = $hmac(&salted, b"Client Key");
            let stored_key = <$d>::digest(&client_key).to_vec();
            let client_sig = $hmac(&stored_key, auth_message.as_bytes());
            let server_key = $hmac(&salted, b"Server Key");
            let server_sig = $hmac(&server_key, auth_message.as_bytes());
            if proof.len() != client_sig.len() {
                return (false, server_sig);
            }
            let recovered: Vec<u8> = proof.iter().zip(&client_sig).map(|(a, b)| a ^ b).collect();
            (<$d>::digest(&recovered).to_vec() == stored_key, server_sig)
        }
    };
}

scram_fns!(hmac_sha256, verify_sha256, Sha256);
scram_fns!(hmac_sha512, verify_sha512, Sha512);

#[cfg(test)]
#[path = "sasl_tests.rs"]
mod tests;
