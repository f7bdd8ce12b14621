//! TLS: the brokers serve a self-signed certificate clients can trust; plaintext is refused.

use std::sync::Arc;

use bytes::BytesMut;
use klamm_protocol::frame::{FrameDecoder, encode_request_frame};
use klamm_protocol::header::{RequestHeader, ResponseHeader};
use klamm_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use klamm_protocol::{ApiKey, Message};
use klamm_testkit::Cluster;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

#[tokio::test]
async fn api_versions_over_tls() {
    let cluster = Cluster::builder().tls(true).start().await.unwrap();
    assert!(
        cluster
            .ca_certificate_pem()
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(cluster.ca_certificate_der().unwrap()))
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(cluster.brokers()[0].1).await.unwrap();
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let mut buf = BytesMut::new();
    let header = RequestHeader::new(ApiKey::ApiVersions, 3, 1, Some("tls-test".into()));
    encode_request_frame(&mut buf, &header, &ApiVersionsRequest::default(), 3).unwrap();
    tls.write_all(&buf).await.unwrap();
    let mut rx = BytesMut::new();
    let frame = loop {
        if let Some(f) = FrameDecoder::new(1 << 20).decode(&mut rx).unwrap() {
            break f;
        }
        assert!(tls.read_buf(&mut rx).await.unwrap() > 0, "closed");
    };
    let (h, body) = ResponseHeader::split_frame(&frame, 0).unwrap();
    assert_eq!(h.correlation_id, 1);
    let r = ApiVersionsResponse::decode(&body, 3).unwrap();
    assert_eq!(r.error_code, 0);

    // plaintext Kafka on a TLS listener fails the handshake and is closed
    let mut plain = TcpStream::connect(cluster.brokers()[0].1).await.unwrap();
    plain.write_all(&buf).await.unwrap();
    let mut junk = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        plain.read_to_end(&mut junk),
    )
    .await
    .expect("the broker closes the connection");
    // at most a TLS alert record (content type 21), never a Kafka response
    assert!(
        read.is_err() || junk.is_empty() || junk[0] == 21,
        "{junk:?}"
    );
}
