//! The server side of a SCRAM exchange, as pure functions over a stored credential.

use super::error::SaslError;
use super::scram::{
    ScramCredential, attr, b64_decode, b64_encode, new_nonce, unescape_username, xor,
};
use super::scram_client::constant_time_eq;

/// The parts of a client-first message a server needs to look the user up.
///
/// ```
/// use klamm_protocol::sasl::ClientFirst;
/// let first = ClientFirst::parse(b"n,,n=alice,r=xyz")?;
/// assert_eq!((first.username.as_str(), first.nonce.as_str()), ("alice", "xyz"));
/// assert_eq!(first.bare, "n=alice,r=xyz");
/// # Ok::<(), klamm_protocol::sasl::SaslError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The (unescaped) username.
    pub username: String,
    /// The client's nonce.
    pub nonce: String,
    /// The message without its GS2 header, as it enters the AuthMessage.
    pub bare: String,
}

impl ClientFirst {
    /// Parses `gs2-header client-first-message-bare`; channel binding (`p=`) is refused, as
    /// Kafka does.
    ///
    /// ```
    /// use klamm_protocol::sasl::ClientFirst;
    /// assert_eq!(ClientFirst::parse(b"n,,n=a=3Db,r=1")?.username, "a=b");
    /// assert!(ClientFirst::parse(b"p=tls-unique,,n=a,r=1").is_err()); // channel binding
    /// # Ok::<(), klamm_protocol::sasl::SaslError>(())
    /// ```
    pub fn parse(msg: &[u8]) -> Result<ClientFirst, SaslError> {
        let text = std::str::from_utf8(msg)
            .map_err(|_| SaslError::Malformed("client-first is not UTF-8"))?;
        let mut gs2 = text.splitn(3, ',');
        let cbind = gs2.next().unwrap_or_default();
        let _authzid = gs2.next().ok_or(SaslError::Malformed("GS2 header"))?;
        let bare = gs2.next().ok_or(SaslError::Malformed("GS2 header"))?;
        if cbind != "n" && cbind != "y" {
            return Err(SaslError::Malformed("channel binding is not supported"));
        }
        let parts: Vec<&str> = bare.split(',').collect();
        let username = unescape_username(attr(&parts, 0, 'n', "client-first username (n=)")?)?;
        let nonce = attr(&parts, 1, 'r', "client-first nonce (r=)")?;
        if nonce.is_empty() {
            return Err(SaslError::Malformed("empty client nonce"));
        }
        Ok(ClientFirst {
            username,
            nonce: nonce.to_owned(),
            bare: bare.to_owned(),
        })
    }
}

/// A server-side SCRAM exchange for one client, given the user's stored credential.
///
/// Exposed so that a test broker can authenticate clients; a client never needs it.
///
/// ```
/// use klamm_protocol::sasl::{ScramClient, ScramCredential, ScramMechanism, ScramServer};
/// // A broker looks the user up by the client-first message, then runs the exchange.
/// let mech = ScramMechanism::Sha256;
/// let mut client = ScramClient::new(mech, "alice", "secret");
/// let first = client.client_first();
/// let user = klamm_protocol::sasl::ClientFirst::parse(&first)?.username;
/// assert_eq!(user, "alice");
/// let mut server = ScramServer::new(ScramCredential::new(mech, "secret", b"salt", 4096));
/// let server_first = server.server_first(&first)?;
/// let server_final = server.server_final(&client.handle_server_first(&server_first)?)?;
/// client.handle_server_final(&server_final)?;
/// # Ok::<(), klamm_protocol::sasl::SaslError>(())
/// ```
#[derive(Debug)]
pub struct ScramServer {
    credential: ScramCredential,
    server_nonce: String,
    state: ServerState,
}

#[derive(Debug)]
enum ServerState {
    Initial,
    SentFirst {
        client_first_bare: String,
        server_first: String,
        nonce: String,
    },
    Done,
}

impl ScramServer {
    /// A new exchange with a fresh server nonce.
    ///
    /// ```
    /// use klamm_protocol::sasl::{ScramClient, ScramCredential, ScramMechanism, ScramServer};
    /// let mut server = ScramServer::new(ScramCredential::new(ScramMechanism::Sha256, "p", b"s", 4096));
    /// let mut client = ScramClient::new(ScramMechanism::Sha256, "u", "p");
    /// assert!(server.server_first(&client.client_first())?.starts_with(b"r="));
    /// # Ok::<(), klamm_protocol::sasl::SaslError>(())
    /// ```
    pub fn new(credential: ScramCredential) -> Self {
        Self::with_nonce(credential, &new_nonce())
    }

    /// A new exchange with the given server nonce suffix (for test vectors).
    ///
    /// ```
    /// use klamm_protocol::sasl::{ScramCredential, ScramMechanism, ScramServer};
    /// let credential = ScramCredential::new(ScramMechanism::Sha256, "p", b"salt", 4096);
    /// let mut server = ScramServer::with_nonce(credential, "SERVER");
    /// let server_first = server.server_first(b"n,,n=u,r=client")?;
    /// assert_eq!(server_first, b"r=clientSERVER,s=c2FsdA==,i=4096");
    /// # Ok::<(), klamm_protocol::sasl::SaslError>(())
    /// ```
    pub fn with_nonce(credential: ScramCredential, server_nonce: &str) -> Self {
        ScramServer {
            credential,
            server_nonce: server_nonce.to_owned(),
            state: ServerState::Initial,
        }
    }

    /// Answers a client-first message with `r=<client+server nonce>,s=<salt>,i=<iterations>`.
    ///
    /// ```
    /// use klamm_protocol::sasl::{ScramCredential, ScramMechanism, ScramServer};
    /// let mut server = ScramServer::new(ScramCredential::new(ScramMechanism::Sha256, "p", b"s", 4096));
    /// assert!(server.server_first(b"not scram").is_err());
    /// ```
    pub fn server_first(&mut self, client_first: &[u8]) -> Result<Vec<u8>, SaslError> {
        if !matches!(self.state, ServerState::Initial) {
            return Err(SaslError::UnexpectedMessage(
                "server already answered client-first",
            ));
        }
        let first = ClientFirst::parse(client_first)?;
        let nonce = format!("{}{}", first.nonce, self.server_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            b64_encode(&self.credential.salt),
            self.credential.iterations
        );
        self.state = ServerState::SentFirst {
            client_first_bare: first.bare,
            server_first: server_first.clone(),
            nonce,
        };
        Ok(server_first.into_bytes())
    }

    /// Verifies the client-final message's proof and returns `v=<server signature>`;
    /// [`SaslError::InvalidProof`] when the password was wrong.
    ///
    /// ```
    /// use klamm_protocol::sasl::{ScramClient, ScramCredential, ScramMechanism, ScramServer};
    /// let mech = ScramMechanism::Sha512;
    /// let mut client = ScramClient::new(mech, "alice", "secret");
    /// let mut server = ScramServer::new(ScramCredential::new(mech, "secret", b"salt", 4096));
    /// let server_first = server.server_first(&client.client_first())?;
    /// let server_final = server.server_final(&client.handle_server_first(&server_first)?)?;
    /// assert!(server_final.starts_with(b"v="));
    /// # Ok::<(), klamm_protocol::sasl::SaslError>(())
    /// ```
    pub fn server_final(&mut self, client_final: &[u8]) -> Result<Vec<u8>, SaslError> {
        let ServerState::SentFirst {
            client_first_bare,
            server_first,
            nonce,
        } = &self.state
        else {
            return Err(SaslError::UnexpectedMessage(
                "client-final before client-first",
            ));
        };
        let text = std::str::from_utf8(client_final)
            .map_err(|_| SaslError::Malformed("client-final is not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(SaslError::Malformed("client-final proof (p=)"))?;
        let parts: Vec<&str> = without_proof.split(',').collect();
        let cbind = attr(&parts, 0, 'c', "client-final channel binding (c=)")?;
        if cbind != "biws" && cbind != "eSws" {
            return Err(SaslError::Malformed("channel binding is not supported"));
        }
        if attr(&parts, 1, 'r', "client-final nonce (r=)")? != nonce {
            return Err(SaslError::NonceMismatch);
        }
        let proof = b64_decode(proof, "client proof")?;
        let cred = &self.credential;
        let mech = cred.mechanism;
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let client_signature = mech.hmac(&cred.stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(SaslError::InvalidProof);
        }
        let client_key = xor(&proof, &client_signature);
        if !constant_time_eq(&mech.hash(&client_key), &cred.stored_key) {
            return Err(SaslError::InvalidProof);
        }
        let server_signature = mech.hmac(&cred.server_key, auth_message.as_bytes());
        self.state = ServerState::Done;
        Ok(format!("v={}", b64_encode(&server_signature)).into_bytes())
    }
}
