//! The client side of a SCRAM exchange.

use super::error::SaslError;
use super::scram::{
    Keys, MAX_ITERATIONS, MIN_ITERATIONS, ScramMechanism, attr, b64_decode, b64_encode,
    escape_username, new_nonce, xor,
};

/// `base64("n,,")`: no channel binding, no authzid.
const GS2_HEADER_B64: &str = "biws";

/// A client-side SCRAM-SHA-256/512 exchange (RFC 5802): client-first, server-first,
/// client-final with proof, and verification of the server's final signature.
///
/// ```
/// use klamm_protocol::sasl::{ScramClient, ScramCredential, ScramMechanism, ScramServer};
///
/// let mech = ScramMechanism::Sha512;
/// let mut client = ScramClient::new(mech, "alice", "secret");
/// let mut server = ScramServer::new(ScramCredential::new(mech, "secret", b"salt", 4096));
/// let first = client.client_first();
/// let server_first = server.server_first(&first)?;
/// let client_final = client.handle_server_first(&server_first)?;
/// let server_final = server.server_final(&client_final)?;
/// client.handle_server_final(&server_final)?;
/// assert!(client.is_done());
/// # Ok::<(), klamm_protocol::sasl::SaslError>(())
/// ```
#[derive(Debug)]
pub struct ScramClient {
    mechanism: ScramMechanism,
    username: String,
    password: String,
    nonce: String,
    state: State,
}

#[derive(Debug)]
enum State {
    Initial,
    SentFirst { client_first_bare: String },
    SentFinal { server_signature: Vec<u8> },
    Done,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Initial => "initial",
            State::SentFirst { .. } => "sent client-first",
            State::SentFinal { .. } => "sent client-final",
            State::Done => "done",
        }
    }
}

impl ScramClient {
    /// A new exchange with a fresh random nonce.
    ///
    /// ```
    /// use klamm_protocol::sasl::{ScramClient, ScramMechanism};
    /// let mut client = ScramClient::new(ScramMechanism::Sha256, "alice", "secret");
    /// assert!(client.client_first().starts_with(b"n,,n=alice,r="));
    /// ```
    pub fn new(mechanism: ScramMechanism, username: &str, password: &str) -> Self {
        Self::with_nonce(mechanism, username, password, &new_nonce())
    }

    /// A new exchange with the given client nonce (for test vectors; use [`new`](Self::new)
    /// otherwise). The nonce must be printable ASCII without `,`.
    ///
    /// ```
    /// use klamm_protocol::sasl::{ScramClient, ScramMechanism};
    /// let mut client = ScramClient::with_nonce(ScramMechanism::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
    /// assert_eq!(client.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    /// ```
    pub fn with_nonce(
        mechanism: ScramMechanism,
        username: &str,
        password: &str,
        nonce: &str,
    ) -> Self {
        ScramClient {
            mechanism,
            username: username.to_owned(),
            password: password.to_owned(),
            nonce: nonce.to_owned(),
            state: State::Initial,
        }
    }

    /// The mechanism of this exchange.
    ///
    /// ```
    /// use klamm_protocol::sasl::{ScramClient, ScramMechanism};
    /// assert_eq!(ScramClient::new(ScramMechanism::Sha512, "a", "b").mechanism(), ScramMechanism::Sha512);
    /// ```
    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// The client-first message, `n,,n=<user>,r=<nonce>`.
    ///
    /// ```
    /// use klamm_protocol::sasl::{ScramClient, ScramMechanism};
    /// // `=` and `,` in user names are escaped (RFC 5802).
    /// let mut client = ScramClient::with_nonce(ScramMechanism::Sha256, "a=b,c", "p", "n0");
    /// assert_eq!(client.client_first(), b"n,,n=a=3Db=2Cc,r=n0");
    /// ```
    pub fn client_first(&mut self) -> Vec<u8> {
        let bare = format!("n={},r={}", escape_username(&self.username), self.nonce);
        let msg = format!("n,,{bare}").into_bytes();
        self.state = State::SentFirst {
            client_first_bare: bare,
        };
        msg
    }

    /// Reads the server-first message and returns the client-final message with the proof.
    ///
    /// ```
    /// use klamm_protocol::sasl::{ScramClient, ScramCredential, ScramMechanism, ScramServer};
    /// let mech = ScramMechanism::Sha256;
    /// let mut client = ScramClient::new(mech, "alice", "secret");
    /// let mut server = ScramServer::new(ScramCredential::new(mech, "secret", b"salt", 4096));
    /// let server_first = server.server_first(&client.client_first())?;
    /// let client_final = client.handle_server_first(&server_first)?;
    /// assert!(client_final.windows(3).any(|w| w == b",p=")); // carries the proof
    /// # Ok::<(), klamm_protocol::sasl::SaslError>(())
    /// ```
    pub fn handle_server_first(&mut self, msg: &[u8]) -> Result<Vec<u8>, SaslError> {
        let State::SentFirst { client_first_bare } = &self.state else {
            return Err(SaslError::UnexpectedMessage(self.state.name()));
        };
        let server_first = std::str::from_utf8(msg)
            .map_err(|_| SaslError::Malformed("server-first is not UTF-8"))?;
        if let Some(err) = server_first.strip_prefix("e=") {
            return Err(SaslError::Server(err.to_owned()));
        }
        let parts: Vec<&str> = server_first.split(',').collect();
        if parts.first().is_some_and(|p| p.starts_with("m=")) {
            return Err(SaslError::Malformed("unsupported mandatory extension"));
        }
        let nonce = attr(&parts, 0, 'r', "server-first nonce (r=)")?;
        let salt = b64_decode(attr(&parts, 1, 's', "server-first salt (s=)")?, "salt")?;
        let iterations: u32 = attr(&parts, 2, 'i', "server-first iterations (i=)")?
            .parse()
            .map_err(|_| SaslError::Malformed("iteration count"))?;
        if nonce.len() <= self.nonce.len() || !nonce.starts_with(self.nonce.as_str()) {
            return Err(SaslError::NonceMismatch);
        }
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(SaslError::Iterations {
                got: iterations,
                min: MIN_ITERATIONS,
                max: MAX_ITERATIONS,
            });
        }
        let mech = self.mechanism;
        let without_proof = format!("c={GS2_HEADER_B64},r={nonce}");
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let salted = mech.salted_password(self.password.as_bytes(), &salt, iterations);
        let keys = Keys::from_salted(mech, &salted);
        let stored_key = mech.hash(&keys.client_key);
        let client_signature = mech.hmac(&stored_key, auth_message.as_bytes());
        let proof = xor(&keys.client_key, &client_signature);
        let server_signature = mech.hmac(&keys.server_key, auth_message.as_bytes());
        self.state = State::SentFinal { server_signature };
        Ok(format!("{without_proof},p={}", b64_encode(&proof)).into_bytes())
    }

    /// Verifies the server-final message (`v=<signature>`); an `e=` message is the server's
    /// refusal.
    ///
    /// ```
    /// use klamm_protocol::sasl::{SaslError, ScramClient, ScramMechanism};
    /// let mut client = ScramClient::with_nonce(ScramMechanism::Sha256, "alice", "secret", "abc");
    /// client.client_first();
    /// client.handle_server_first(b"r=abcdef,s=c2FsdA==,i=4096")?;
    /// // The server refused the proof.
    /// let err = client.handle_server_final(b"e=invalid-proof").unwrap_err();
    /// assert!(matches!(err, SaslError::Server(_)));
    /// assert!(!client.is_done());
    /// # Ok::<(), klamm_protocol::sasl::SaslError>(())
    /// ```
    pub fn handle_server_final(&mut self, msg: &[u8]) -> Result<(), SaslError> {
        let State::SentFinal { server_signature } = &self.state else {
            return Err(SaslError::UnexpectedMessage(self.state.name()));
        };
        let text = std::str::from_utf8(msg)
            .map_err(|_| SaslError::Malformed("server-final is not UTF-8"))?;
        let first = text.split(',').next().unwrap_or_default();
        if let Some(err) = first.strip_prefix("e=") {
            return Err(SaslError::Server(err.to_owned()));
        }
        let sig = first
            .strip_prefix("v=")
            .ok_or(SaslError::Malformed("server-final has neither v= nor e="))?;
        let sig = b64_decode(sig, "server signature")?;
        if !constant_time_eq(&sig, server_signature) {
            return Err(SaslError::ServerSignature);
        }
        self.state = State::Done;
        Ok(())
    }

    /// Whether the exchange completed and the server proved it knows the password.
    ///
    /// ```
    /// use klamm_protocol::sasl::{ScramClient, ScramCredential, ScramMechanism, ScramServer};
    /// let mech = ScramMechanism::Sha256;
    /// let mut client = ScramClient::new(mech, "alice", "secret");
    /// let mut server = ScramServer::new(ScramCredential::new(mech, "secret", b"salt", 4096));
    /// let server_first = server.server_first(&client.client_first())?;
    /// let server_final = server.server_final(&client.handle_server_first(&server_first)?)?;
    /// assert!(!client.is_done());
    /// client.handle_server_final(&server_final)?;
    /// assert!(client.is_done());
    /// # Ok::<(), klamm_protocol::sasl::SaslError>(())
    /// ```
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }
}

/// Equality that takes the same time wherever the first difference is.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
