//! SASL mechanisms as pure state machines (KIP-43, KIP-84): PLAIN (RFC 4616) and
//! SCRAM-SHA-256/512 (RFC 5802, RFC 7677), client and server side.
//!
//! Nothing here does I/O: the tokens travel in SaslAuthenticate messages, which klamm-net (the
//! client) and klamm-testkit (the broker) carry. Both sides live here, one layer below both
//! users, so the client and the test broker share one implementation of the crypto and the
//! message grammar (behind the default `sasl` feature).
//!
//! ```
//! use klamm_protocol::sasl::{ScramClient, ScramCredential, ScramMechanism, ScramServer};
//! let mech = ScramMechanism::Sha512;
//! let mut client = ScramClient::new(mech, "alice", "secret");
//! let mut server = ScramServer::new(ScramCredential::new(mech, "secret", b"salt", 4096));
//! let server_first = server.server_first(&client.client_first()).unwrap();
//! let client_final = client.handle_server_first(&server_first).unwrap();
//! let server_final = server.server_final(&client_final).unwrap();
//! client.handle_server_final(&server_final).unwrap();
//! assert!(client.is_done());
//! ```

mod error;
mod plain;
mod scram;
mod scram_client;
mod scram_server;

pub use error::SaslError;
pub use plain::plain_message;
pub use scram::{MAX_ITERATIONS, MIN_ITERATIONS, ScramCredential, ScramMechanism};
pub use scram_client::ScramClient;
pub use scram_server::{ClientFirst, ScramServer};
