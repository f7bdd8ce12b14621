use klamm_protocol::sasl::ScramClient;

use super::*;

fn config() -> SaslConfig {
    SaslConfig::new(&[
        Mechanism::Plain,
        Mechanism::ScramSha256,
        Mechanism::ScramSha512,
    ])
    .user("alice", "secret")
}

#[test]
fn plain_accepts_the_right_password_only() {
    let c = config();
    let mut s = SaslSession::default();
    assert_eq!(s.step(&c, b"\0alice\0secret"), Err(SaslError::IllegalState));
    s.handshake(&c, "PLAIN").unwrap();
    assert_eq!(s.step(&c, b"\0alice\0secret"), Ok((Vec::new(), true)));
    let mut s = SaslSession::default();
    s.handshake(&c, "PLAIN").unwrap();
    assert!(s.step(&c, b"\0alice\0wrong").is_err());
    let mut s = SaslSession::default();
    s.handshake(&c, "PLAIN").unwrap();
    assert!(s.step(&c, b"garbage").is_err());
    assert!(
        s.handshake(&SaslConfig::new(&[Mechanism::Plain]), "SCRAM-SHA-256")
            .is_err()
    );
    assert!(s.handshake(&c, "GSSAPI").is_err());
}

/// Drives the session with klamm-protocol's SCRAM client (the client side of the shared
/// implementation; librdkafka checks the same server in `tests/sasl.rs`).
fn scram(mech: Mechanism, password: &str) -> Result<bool, SaslError> {
    let c = config();
    let mut s = SaslSession::default();
    s.handshake(&c, mech.name()).unwrap();
    let scram_mech = match mech {
        Mechanism::ScramSha256 => ScramMechanism::Sha256,
        _ => ScramMechanism::Sha512,
    };
    let mut client = ScramClient::new(scram_mech, "alice", password);
    let (server_first, done) = s.step(&c, &client.client_first())?;
    assert!(!done);
    let client_final = client.handle_server_first(&server_first).unwrap();
    let (server_final, done) = s.step(&c, &client_final)?;
    assert!(done);
    // The server proved it knows the password too.
    client.handle_server_final(&server_final).unwrap();
    Ok(true)
}

#[test]
fn scram_sha256_and_sha512_verify_proofs() {
    assert_eq!(scram(Mechanism::ScramSha256, "secret"), Ok(true));
    assert_eq!(scram(Mechanism::ScramSha512, "secret"), Ok(true));
    assert!(scram(Mechanism::ScramSha256, "wrong").is_err());
    assert!(scram(Mechanism::ScramSha512, "wrong").is_err());
}

#[test]
fn scram_refuses_unknown_users_and_garbage() {
    let c = config();
    let mut s = SaslSession::default();
    s.handshake(&c, "SCRAM-SHA-256").unwrap();
    assert!(s.step(&c, b"n,,n=bob,r=x").is_err());
    let mut s = SaslSession::default();
    s.handshake(&c, "SCRAM-SHA-256").unwrap();
    assert!(s.step(&c, &[0xff, 0xfe]).is_err());
    let mut s = SaslSession::default();
    s.handshake(&c, "SCRAM-SHA-512").unwrap();
    assert!(s.step(&c, b"p=tls-unique,,n=alice,r=x").is_err());
}
