//! SCRAM against published test vectors and against the server side.

use klamm_net::sasl::{
    SaslConfig, SaslError, ScramClient, ScramCredential, ScramMechanism, ScramServer,
};

// RFC 7677 section 3 (SCRAM-SHA-256).
const CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const SALT_B64: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
const RFC7677_SERVER_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const RFC7677_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const RFC7677_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

// The same exchange with SHA-512 (no RFC gives one). Computed independently with Python's
// hashlib.pbkdf2_hmac / hmac, whose SHA-256 run reproduces the RFC 7677 proof above.
const SHA512_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=gMGXRcevScNtxZ6/8lQYpGtnsNAc3mGcmNomv+xnoOMw+3R2xNJdMNnzMlTN8PPC6wdp6dybEmDYXYTxwnYPJQ==";
const SHA512_SERVER_FINAL: &str =
    "v=ZQnYEgWQMFmmsM8aQMF0nDDCy/AgCzkwk8CmMZYcMg0vSVlKDanekLtifDSeVGT4+5ZxXnJq199RVG2rR7N7Zw==";

fn salt() -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(SALT_B64)
        .expect("salt")
}

fn vector(mech: ScramMechanism, client_final: &str, server_final: &str) {
    let mut client = ScramClient::with_nonce(mech, "user", "pencil", CLIENT_NONCE);
    assert_eq!(client.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    let out = client
        .handle_server_first(RFC7677_SERVER_FIRST.as_bytes())
        .expect("server-first");
    assert_eq!(String::from_utf8(out).expect("utf8"), client_final);
    client
        .handle_server_final(server_final.as_bytes())
        .expect("server signature verifies");
    assert!(client.is_done());

    // The server side reproduces the same messages from the stored credential alone.
    let cred = ScramCredential::new(mech, "pencil", &salt(), 4096);
    let mut server = ScramServer::with_nonce(cred, SERVER_NONCE);
    let sf = server
        .server_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        .expect("server-first");
    assert_eq!(sf, RFC7677_SERVER_FIRST.as_bytes());
    let fin = server
        .server_final(client_final.as_bytes())
        .expect("proof verifies");
    assert_eq!(fin, server_final.as_bytes());
}

#[test]
fn rfc7677_sha256_vector() {
    vector(
        ScramMechanism::Sha256,
        RFC7677_CLIENT_FINAL,
        RFC7677_SERVER_FINAL,
    );
}

#[test]
fn sha512_vector() {
    vector(
        ScramMechanism::Sha512,
        SHA512_CLIENT_FINAL,
        SHA512_SERVER_FINAL,
    );
}

#[test]
fn wrong_server_signature_is_refused() {
    let mut client =
        ScramClient::with_nonce(ScramMechanism::Sha256, "user", "pencil", CLIENT_NONCE);
    client.client_first();
    client
        .handle_server_first(RFC7677_SERVER_FIRST.as_bytes())
        .expect("server-first");
    let forged = "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
    assert_eq!(
        client.handle_server_final(forged.as_bytes()),
        Err(SaslError::ServerSignature)
    );
    assert!(!client.is_done());
}

#[test]
fn wrong_password_is_refused_by_the_server() {
    for mech in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
        let mut client = ScramClient::new(mech, "alice", "wrong");
        let mut server = ScramServer::new(ScramCredential::new(mech, "right", b"salty", 4096));
        let sf = server.server_first(&client.client_first()).expect("first");
        let cf = client.handle_server_first(&sf).expect("final");
        assert_eq!(server.server_final(&cf), Err(SaslError::InvalidProof));
    }
}

#[test]
fn bad_server_first_messages_are_typed_errors() {
    type Check = fn(&SaslError) -> bool;
    let bad: &[(&str, Check)] = &[
        (
            "e=unknown-user",
            |e| matches!(e, SaslError::Server(s) if s == "unknown-user"),
        ),
        ("r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", |e| {
            matches!(e, SaslError::NonceMismatch)
        }),
        // The nonce must be extended, not merely repeated.
        (
            "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            |e| matches!(e, SaslError::NonceMismatch),
        ),
        (
            "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1",
            |e| matches!(e, SaslError::Iterations { got: 1, .. }),
        ),
        (
            "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999",
            |e| matches!(e, SaslError::Iterations { .. }),
        ),
        ("r=rOprNGfwEbeRWgbNEkqOx,s=***,i=4096", |e| {
            matches!(e, SaslError::Malformed(_))
        }),
        ("r=rOprNGfwEbeRWgbNEkqOx,i=4096", |e| {
            matches!(e, SaslError::Malformed(_))
        }),
        (
            "m=ext,r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            |e| matches!(e, SaslError::Malformed(_)),
        ),
        ("", |e| matches!(e, SaslError::Malformed(_))),
        ("\u{0}\u{1},,,", |e| matches!(e, SaslError::Malformed(_))),
    ];
    for (msg, ok) in bad {
        let mut client =
            ScramClient::with_nonce(ScramMechanism::Sha256, "user", "pencil", CLIENT_NONCE);
        client.client_first();
        let err = client.handle_server_first(msg.as_bytes()).expect_err(msg);
        assert!(ok(&err), "{msg}: {err:?}");
    }
    let mut client = ScramClient::new(ScramMechanism::Sha256, "user", "pencil");
    assert!(matches!(
        client.handle_server_first(RFC7677_SERVER_FIRST.as_bytes()),
        Err(SaslError::UnexpectedMessage(_))
    ));
    assert!(client.handle_server_first(&[0xff, 0xfe]).is_err());
}

#[test]
fn usernames_with_separators_are_escaped_both_ways() {
    let mech = ScramMechanism::Sha256;
    let mut client = ScramClient::new(mech, "a,b=c", "pw");
    let first = client.client_first();
    assert!(first.starts_with(b"n,,n=a=2Cb=3Dc,r="));
    let parsed = klamm_net::sasl::ClientFirst::parse(&first).expect("parse");
    assert_eq!(parsed.username, "a,b=c");
    let mut server = ScramServer::new(ScramCredential::new(mech, "pw", b"s", 4096));
    let sf = server.server_first(&first).expect("first");
    let cf = client.handle_server_first(&sf).expect("final");
    let fin = server.server_final(&cf).expect("proof");
    client.handle_server_final(&fin).expect("verified");
}

#[test]
fn sessions_run_the_whole_exchange() {
    let cfg = SaslConfig::Scram {
        mechanism: ScramMechanism::Sha512,
        username: "bob".into(),
        password: "hunter2".into(),
    };
    assert_eq!(cfg.mechanism_name(), "SCRAM-SHA-512");
    assert!(!format!("{cfg:?}").contains("hunter2"));
    let mut session = cfg.start();
    let mut server = ScramServer::new(ScramCredential::new(
        ScramMechanism::Sha512,
        "hunter2",
        b"pepper",
        8192,
    ));
    let sf = server
        .server_first(&session.initial_response())
        .expect("first");
    let cf = session.step(&sf).expect("step").expect("client-final");
    let fin = server.server_final(&cf).expect("proof");
    assert_eq!(session.step(&fin).expect("final"), None);
    assert!(session.is_done());
    assert!(session.step(&fin).is_err());
}
