//! The server side of a SCRAM exchange, as pure functions over a stored credential.

use super::error::SaslError;
use super::scram::{
    ScramCredential, attr, b64_decode, b64_encode, new_nonce, unescape_username, xor,
};
use super::scram_client::constant_time_eq;

/// The parts of a client-first message a server needs to look the user up.
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
    pub fn new(credential: ScramCredential) -> Self {
        Self::with_nonce(credential, &new_nonce())
    }

    /// A new exchange with the given server nonce suffix (for test vectors).
    pub fn with_nonce(credential: ScramCredential, server_nonce: &str) -> Self {
        ScramServer {
            credential,
            server_nonce: server_nonce.to_owned(),
            state: ServerState::Initial,
        }
    }

    /// Answers a client-first message with `r=<client+server nonce>,s=<salt>,i=<iterations>`.
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
