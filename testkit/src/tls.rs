//! Optional TLS: a self-signed certificate for `localhost` and `127.0.0.1`, generated at
//! start-up with rcgen, served with rustls (ring provider, TLS 1.2 and 1.3).

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use crate::error::TestkitError;

/// The brokers' TLS identity and acceptor.
#[derive(Clone)]
pub(crate) struct Tls {
    /// Accepts TLS connections.
    pub acceptor: TlsAcceptor,
    /// The self-signed certificate, PEM (clients trust it as their CA).
    pub cert_pem: String,
    /// The same certificate, DER.
    pub cert_der: CertificateDer<'static>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// Generates a certificate and builds the acceptor.
    pub fn generate() -> Result<Tls, TestkitError> {
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let key = rcgen::generate_simple_self_signed(names)
            .map_err(|e| TestkitError::Tls(e.to_string()))?;
        let cert_der = CertificateDer::from(key.cert.der().to_vec());
        let private =
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| TestkitError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], private)
        .map_err(|e| TestkitError::Tls(e.to_string()))?;
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            cert_pem: key.cert.pem(),
            cert_der,
        })
    }
}
