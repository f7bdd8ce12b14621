//! SASL over the wire: handshake, PLAIN authentication, and connections that skip it.

mod common;

use bytes::Bytes;
use common::{Client, metadata_all};
use klamm_protocol::messages::*;
use klamm_testkit::{Cluster, Mechanism, SaslConfig, codes};

async fn cluster() -> Cluster {
    Cluster::builder()
        .sasl(SaslConfig::new(&[Mechanism::Plain, Mechanism::ScramSha256]).user("alice", "secret"))
        .start()
        .await
        .unwrap()
}

async fn plain(c: &mut Client, password: &str) -> i16 {
    let h = c
        .call(
            &SaslHandshakeRequest {
                mechanism: "PLAIN".into(),
            },
            1,
        )
        .await;
    assert_eq!(h.error_code, 0);
    assert_eq!(h.mechanisms, ["PLAIN", "SCRAM-SHA-256"]);
    let token = format!("\0alice\0{password}");
    let r = c
        .call(
            &SaslAuthenticateRequest {
                auth_bytes: Bytes::from(token),
                ..Default::default()
            },
            2,
        )
        .await;
    r.error_code
}

#[tokio::test]
async fn plain_authenticates_then_serves() {
    let cluster = cluster().await;
    let mut c = Client::connect(cluster.brokers()[0].1).await;
    // ApiVersions is allowed before authentication
    c.call(&ApiVersionsRequest::default(), 3).await;
    assert_eq!(plain(&mut c, "secret").await, 0);
    let r = c.metadata().await;
    assert_eq!(r.brokers.len(), 1);
}

#[tokio::test]
async fn wrong_passwords_and_unauthenticated_requests_are_refused() {
    let cluster = cluster().await;
    let mut c = Client::connect(cluster.brokers()[0].1).await;
    assert_eq!(
        plain(&mut c, "nope").await,
        codes::SASL_AUTHENTICATION_FAILED
    );
    assert!(
        c.try_call(&metadata_all(), 12).await.is_none(),
        "still unauthenticated: closed"
    );
    let mut c = Client::connect(cluster.brokers()[0].1).await;
    let h = c
        .call(
            &SaslHandshakeRequest {
                mechanism: "GSSAPI".into(),
            },
            1,
        )
        .await;
    assert_eq!(h.error_code, codes::UNSUPPORTED_SASL_MECHANISM);
}

#[tokio::test]
async fn without_sasl_configured_the_handshake_is_refused() {
    let cluster = Cluster::builder().start().await.unwrap();
    let mut c = Client::connect(cluster.brokers()[0].1).await;
    let h = c
        .call(
            &SaslHandshakeRequest {
                mechanism: "PLAIN".into(),
            },
            1,
        )
        .await;
    assert_eq!(h.error_code, codes::UNSUPPORTED_SASL_MECHANISM);
}
