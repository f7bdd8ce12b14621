//! SASL authentication as Kafka brokers do it (KIP-43, KIP-152): SaslHandshake v1 picks the
//! mechanism, SaslAuthenticate carries the tokens. PLAIN (RFC 4616) and SCRAM-SHA-256/512
//! (RFC 5802 / RFC 7677, 4096 iterations as Kafka's default).

use klamm_protocol::sasl::{
    ClientFirst, SaslError as ScramError, ScramCredential, ScramMechanism, ScramServer,
};

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
    /// SCRAM: server-first sent; the exchange (klamm-protocol's, shared with the client side)
    /// waits for client-final.
    ScramSent(Box<ScramServer>),
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

impl From<ScramError> for SaslError {
    fn from(e: ScramError) -> Self {
        SaslError::Failed(match e {
            ScramError::Malformed(what) => what,
            ScramError::NonceMismatch => "nonce mismatch",
            _ => "invalid username or password",
        })
    }
}

/// Kafka's default SCRAM iteration count.
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
            SaslSession::Chosen(Mechanism::ScramSha256) => {
                self.scram_first(config, ScramMechanism::Sha256, token)
            }
            SaslSession::Chosen(Mechanism::ScramSha512) => {
                self.scram_first(config, ScramMechanism::Sha512, token)
            }
            SaslSession::ScramSent(mut server) => {
                *self = SaslSession::Done;
                Ok((server.server_final(token)?, true))
            }
            SaslSession::Start | SaslSession::Done => Err(SaslError::IllegalState),
        }
    }

    /// Answers client-first: looks the user up, derives the stored credential from the
    /// password with a fresh salt (a real broker stores it; the result is the same), and hands
    /// the exchange to klamm-protocol's [`ScramServer`].
    fn scram_first(
        &mut self,
        config: &SaslConfig,
        mechanism: ScramMechanism,
        token: &[u8],
    ) -> Result<(Vec<u8>, bool), SaslError> {
        *self = SaslSession::Done;
        let first = ClientFirst::parse(token)?;
        let password = config
            .password(&first.username)
            .ok_or(SaslError::Failed("invalid username or password"))?;
        let salt: [u8; 16] = rand::random();
        let credential = ScramCredential::new(mechanism, password, &salt, ITERATIONS);
        let mut server = Box::new(ScramServer::new(credential));
        let reply = server.server_first(token)?;
        *self = SaslSession::ScramSent(server);
        Ok((reply, false))
    }
}

#[cfg(test)]
#[path = "sasl_tests.rs"]
mod tests;
