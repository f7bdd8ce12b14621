use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256, Sha512};

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

/// A SCRAM client written from RFC 5802, to drive the server.
fn scram(mech: Mechanism, password: &str) -> Result<bool, SaslError> {
    let c = config();
    let mut s = SaslSession::default();
    s.handshake(&c, mech.name()).unwrap();
    let bare = "n=alice,r=clientnonce123";
    let (server_first, done) = s.step(&c, format!("n,,{bare}").as_bytes())?;
    assert!(!done);
    let server_first = String::from_utf8(server_first).unwrap();
    let attr = |k: &str| {
        server_first
            .split(',')
            .find_map(|kv| kv.strip_prefix(k))
            .unwrap()
            .to_string()
    };
    let nonce = attr("r=");
    assert!(nonce.starts_with("clientnonce123"));
    let salt = B64.decode(attr("s=")).unwrap();
    let iters: u32 = attr("i=").parse().unwrap();
    let without_proof = format!("c={},r={nonce}", B64.encode("n,,"));
    let auth = format!("{bare},{server_first},{without_proof}");
    let (proof, server_sig) = match mech {
        Mechanism::ScramSha256 => {
            let mut salted = [0u8; 32];
            pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iters, &mut salted);
            let ck = hmac_sha256(&salted, b"Client Key");
            let sig = hmac_sha256(&Sha256::digest(&ck), auth.as_bytes());
            let sk = hmac_sha256(&salted, b"Server Key");
            let proof: Vec<u8> = ck.iter().zip(sig).map(|(a, b)| a ^ b).collect();
            (proof, hmac_sha256(&sk, auth.as_bytes()))
        }
        _ => {
            let mut salted = [0u8; 64];
            pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), &salt, iters, &mut salted);
            let ck = hmac_sha512(&salted, b"Client Key");
            let sig = hmac_sha512(&Sha512::digest(&ck), auth.as_bytes());
            let sk = hmac_sha512(&salted, b"Server Key");
            let proof: Vec<u8> = ck.iter().zip(sig).map(|(a, b)| a ^ b).collect();
            (proof, hmac_sha512(&sk, auth.as_bytes()))
        }
    };
    let (server_final, done) = s.step(
        &c,
        format!("{without_proof},p={}", B64.encode(proof)).as_bytes(),
    )?;
    assert!(done);
    assert_eq!(
        String::from_utf8(server_final).unwrap(),
        format!("v={}", B64.encode(server_sig))
    );
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
