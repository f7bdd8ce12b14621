//! TLS (rustls) to a fake broker with a self-signed certificate generated at start-up.

mod fake;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fake::{Action, Options, Script};
use klamm_net::{BrokerConnection, ConnectionConfig, Error, TlsConfig};
use klamm_protocol::messages::{MetadataRequest, MetadataResponse};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS fake broker answering Metadata with an empty body; returns its address and cert.
async fn tls_broker() -> (String, CertificateDer<'static>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let cert = CertificateDer::from(ck.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let script: Script = Arc::new(|s| {
        let v = s.header.request_api_version;
        Action::Write(fake::response(
            s.header.correlation_id,
            &MetadataResponse::default(),
            v,
        ))
    });
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let script = script.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(sock).await {
                    fake::serve(
                        tls,
                        Options::default(),
                        script,
                        Arc::new(Mutex::new(Vec::new())),
                    )
                    .await;
                }
            });
        }
    });
    (format!("localhost:{}", addr.port()), cert)
}

fn client_tls(root: Option<CertificateDer<'static>>) -> TlsConfig {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(root) = root {
        roots.add(root).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConfig {
        client_config: Arc::new(config),
        server_name: None,
    }
}

#[tokio::test]
async fn requests_flow_over_tls_and_an_untrusted_certificate_is_refused() {
    let (addr, cert) = tls_broker().await;
    let cfg = ConnectionConfig::builder()
        .tls(client_tls(Some(cert)))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("config");
    let conn = BrokerConnection::connect(&addr, &cfg)
        .await
        .expect("TLS connect");
    for _ in 0..3 {
        conn.send(MetadataRequest::default())
            .await
            .expect("metadata over TLS");
    }

    let untrusted = ConnectionConfig::builder()
        .tls(client_tls(None))
        .build()
        .expect("config");
    let err = BrokerConnection::connect(&addr, &untrusted)
        .await
        .expect_err("unknown issuer");
    assert!(matches!(err, Error::Tls { .. }), "{err}");
}

#[tokio::test]
async fn large_requests_are_flushed_over_tls() {
    use klamm_protocol::messages::metadata::request::MetadataRequestTopic;
    let (addr, cert) = tls_broker().await;
    let cfg = ConnectionConfig::builder()
        .tls(client_tls(Some(cert)))
        .build()
        .expect("config");
    let conn = BrokerConnection::connect(&addr, &cfg)
        .await
        .expect("TLS connect");
    // About 100 KiB of topic names: above the size written directly instead of coalesced.
    let big = MetadataRequest {
        topics: Some(
            (0..1000)
                .map(|i| MetadataRequestTopic {
                    name: Some(format!("{i:0>100}")),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    };
    tokio::time::timeout(Duration::from_secs(5), conn.send(big))
        .await
        .expect("answered")
        .expect("metadata");
}
