//! Errors of SASL authentication.

/// Why a SASL exchange failed.
///
/// ```
/// use klamm_protocol::sasl::{ScramClient, ScramCredential, ScramMechanism, ScramServer};
/// let mech = ScramMechanism::Sha256;
/// let mut client = ScramClient::new(mech, "alice", "wrong");
/// let mut server = ScramServer::new(ScramCredential::new(mech, "secret", b"salt", 4096));
/// let server_first = server.server_first(&client.client_first())?;
/// let client_final = client.handle_server_first(&server_first)?;
/// let err = server.server_final(&client_final).unwrap_err();
/// assert_eq!(err, klamm_protocol::sasl::SaslError::InvalidProof);
/// # Ok::<(), klamm_protocol::sasl::SaslError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    /// The server sent a SCRAM error (`e=...`), for example `invalid-proof` or
    /// `unknown-user`: the credentials are wrong. Check the username, password and mechanism.
    #[error("the server rejected the SCRAM authentication: {0}")]
    Server(String),
    /// A server message could not be parsed.
    #[error("malformed SCRAM message from the server: {0}")]
    Malformed(&'static str),
    /// The server's nonce does not extend the client's nonce (RFC 5802 section 5.1).
    #[error("the server's SCRAM nonce does not start with the client's nonce")]
    NonceMismatch,
    /// The iteration count is outside what Kafka accepts.
    #[error("SCRAM iteration count {got} is outside {min}..={max}")]
    Iterations {
        /// The iteration count the server sent.
        got: u32,
        /// Smallest accepted count.
        min: u32,
        /// Largest accepted count.
        max: u32,
    },
    /// The server's signature is wrong: the server does not know the password (or a
    /// man in the middle answered). Do not trust this connection.
    #[error("the server's SCRAM signature does not verify: the server may not be genuine")]
    ServerSignature,
    /// The client proof did not verify (server side: wrong password).
    #[error("invalid SCRAM client proof")]
    InvalidProof,
    /// A message arrived when the exchange was already finished or not yet started.
    #[error("unexpected SASL message in state {0}")]
    UnexpectedMessage(&'static str),
}
