//! SASL authentication: PLAIN and SCRAM-SHA-256/512 as pure state machines.
//!
//! The connection drives a [`SaslSession`] over SaslHandshake v1 + SaslAuthenticate; nothing
//! here does I/O. The mechanisms themselves live in `klamm_protocol::sasl` (shared with the test
//! broker) and are re-exported here.

pub use klamm_protocol::sasl::{
    ClientFirst, MAX_ITERATIONS, MIN_ITERATIONS, SaslError, ScramClient, ScramCredential,
    ScramMechanism, ScramServer, plain_message,
};

/// Which SASL mechanism to authenticate with, and the credentials.
#[derive(Clone, PartialEq, Eq)]
pub enum SaslConfig {
    /// `PLAIN`: username and password in clear (use it over TLS only).
    Plain {
        /// The username.
        username: String,
        /// The password.
        password: String,
    },
    /// `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    Scram {
        /// The hash function.
        mechanism: ScramMechanism,
        /// The username.
        username: String,
        /// The password.
        password: String,
    },
}

impl std::fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password.
        f.debug_struct("SaslConfig")
            .field("mechanism", &self.mechanism_name())
            .field("username", &self.username())
            .finish_non_exhaustive()
    }
}

impl SaslConfig {
    /// The mechanism name sent in SaslHandshake (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`).
    pub fn mechanism_name(&self) -> &'static str {
        match self {
            SaslConfig::Plain { .. } => "PLAIN",
            SaslConfig::Scram { mechanism, .. } => mechanism.name(),
        }
    }

    /// The username.
    pub fn username(&self) -> &str {
        match self {
            SaslConfig::Plain { username, .. } | SaslConfig::Scram { username, .. } => username,
        }
    }

    /// Starts one authentication exchange.
    pub fn start(&self) -> SaslSession {
        match self {
            SaslConfig::Plain { username, password } => SaslSession::Plain {
                message: Some(plain_message(username, password)),
            },
            SaslConfig::Scram {
                mechanism,
                username,
                password,
            } => SaslSession::Scram(Box::new(ScramClient::new(*mechanism, username, password))),
        }
    }
}

/// One client-side authentication exchange.
///
/// ```
/// use klamm_net::sasl::SaslConfig;
/// let cfg = SaslConfig::Plain { username: "u".into(), password: "p".into() };
/// let mut s = cfg.start();
/// assert_eq!(s.initial_response(), b"\0u\0p");
/// assert_eq!(s.step(b"").unwrap(), None); // PLAIN is done after one round
/// assert!(s.is_done());
/// ```
#[derive(Debug)]
pub enum SaslSession {
    /// PLAIN: one message.
    Plain {
        /// The message, until sent.
        message: Option<Vec<u8>>,
    },
    /// SCRAM: three messages.
    Scram(Box<ScramClient>),
}

impl SaslSession {
    /// The first message the client sends.
    pub fn initial_response(&mut self) -> Vec<u8> {
        match self {
            SaslSession::Plain { message } => message.take().unwrap_or_default(),
            SaslSession::Scram(c) => c.client_first(),
        }
    }

    /// Feeds the server's answer to the previous message: `Some(next message)` to send, or
    /// `None` when the exchange completed successfully.
    pub fn step(&mut self, server: &[u8]) -> Result<Option<Vec<u8>>, SaslError> {
        match self {
            SaslSession::Plain { message } => {
                if message.is_some() {
                    return Err(SaslError::UnexpectedMessage("PLAIN message not sent yet"));
                }
                Ok(None)
            }
            SaslSession::Scram(c) => {
                if c.is_done() {
                    return Err(SaslError::UnexpectedMessage("done"));
                }
                match c.handle_server_first(server) {
                    Ok(next) => Ok(Some(next)),
                    Err(SaslError::UnexpectedMessage(_)) => {
                        c.handle_server_final(server)?;
                        Ok(None)
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Whether the exchange completed.
    pub fn is_done(&self) -> bool {
        match self {
            SaslSession::Plain { message } => message.is_none(),
            SaslSession::Scram(c) => c.is_done(),
        }
    }
}
