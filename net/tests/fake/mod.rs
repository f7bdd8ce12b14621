//! A tiny scripted broker on 127.0.0.1 for connection tests: it answers ApiVersions like a
//! real broker and hands every other request to the test's script.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use klamm_protocol::frame::{FrameDecoder, encode_response_frame};
use klamm_protocol::header::RequestHeader;
use klamm_protocol::messages::api_versions::response::ApiVersion;
use klamm_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use klamm_protocol::{ApiKey, Message, SUPPORTED_APIS};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as the fake broker saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub header: RequestHeader,
    pub body: Bytes,
}

/// What the script does with a request.
pub enum Action {
    /// Write these bytes (zero or more complete or partial frames).
    Write(Vec<u8>),
    /// Write nothing.
    Nothing,
    /// Write these bytes, then close the connection.
    WriteAndClose(Vec<u8>),
    /// Wait (without blocking the runtime), then write these bytes.
    Later(std::time::Duration, Vec<u8>),
    /// Write these bytes in pieces of the given size, flushing and pausing between pieces.
    Trickle(usize, Vec<u8>),
}

/// The script: called for every request but ApiVersions (unless `raw_api_versions`).
pub type Script = Arc<dyn Fn(&Seen) -> Action + Send + Sync>;

/// A fake broker.
pub struct FakeBroker {
    pub addr: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

/// Options of the fake broker.
#[derive(Clone)]
pub struct Options {
    /// API ranges advertised; default: everything klamm-protocol covers.
    pub apis: Vec<(ApiKey, i16, i16)>,
    /// Answer ApiVersions v3+ with UNSUPPORTED_VERSION and a malformed body (as the
    /// librdkafka mock does), v0 normally.
    pub old_api_versions: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            apis: SUPPORTED_APIS
                .iter()
                .map(|a| (a.key, a.min_version, a.max_version))
                .collect(),
            old_api_versions: false,
        }
    }
}

impl FakeBroker {
    pub async fn start(script: impl Fn(&Seen) -> Action + Send + Sync + 'static) -> FakeBroker {
        Self::start_with(Options::default(), script).await
    }

    pub async fn start_with(
        opts: Options,
        script: impl Fn(&Seen) -> Action + Send + Sync + 'static,
    ) -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Script = Arc::new(script);
        let s2 = seen.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, opts.clone(), script.clone(), s2.clone()));
            }
        });
        FakeBroker { addr, seen }
    }

    /// Requests seen (all connections), ApiVersions included.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }
}

/// Serves one connection (plain TCP or TLS) until it closes.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut sock: S,
    opts: Options,
    script: Script,
    seen: Arc<Mutex<Vec<Seen>>>,
) {
    let decoder = FrameDecoder::new(64 << 20);
    let mut buf = BytesMut::new();
    loop {
        while let Ok(Some(frame)) = decoder.decode(&mut buf) {
            let Ok((header, body)) = RequestHeader::split_frame(&frame) else {
                return;
            };
            let s = Seen { header, body };
            seen.lock().expect("seen").push(s.clone());
            let action = if s.header.request_api_key == ApiKey::ApiVersions.as_i16() {
                Action::Write(api_versions(&s, &opts))
            } else {
                script(&s)
            };
            match action {
                Action::Write(b) => {
                    if sock.write_all(&b).await.is_err() {
                        return;
                    }
                }
                Action::Nothing => {}
                Action::Trickle(n, b) => {
                    for piece in b.chunks(n.max(1)) {
                        if sock.write_all(piece).await.is_err() || sock.flush().await.is_err() {
                            return;
                        }
                        tokio::time::sleep(std::time::Duration::from_micros(200)).await;
                    }
                }
                Action::Later(d, b) => {
                    tokio::time::sleep(d).await;
                    if sock.write_all(&b).await.is_err() {
                        return;
                    }
                }
                Action::WriteAndClose(b) => {
                    let _ = sock.write_all(&b).await;
                    return;
                }
            }
        }
        match sock.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn api_versions(s: &Seen, opts: &Options) -> Vec<u8> {
    let v = s.header.request_api_version;
    let corr = s.header.correlation_id;
    if opts.old_api_versions && v > 0 {
        // v0 layout: error_code UNSUPPORTED_VERSION, then a body that does not parse at v3.
        let mut out = Vec::new();
        let body: [u8; 7] = [0, 35, 0, 0, 0, 0, 0xff];
        out.extend_from_slice(&((4 + body.len()) as i32).to_be_bytes());
        out.extend_from_slice(&corr.to_be_bytes());
        out.extend_from_slice(&body);
        return out;
    }
    // Decoding the request also checks that the client encodes it correctly.
    ApiVersionsRequest::decode(&s.body, v).expect("valid ApiVersions request");
    let resp = ApiVersionsResponse {
        api_keys: opts
            .apis
            .iter()
            .map(|&(k, min, max)| ApiVersion {
                api_key: k.as_i16(),
                min_version: min,
                max_version: max,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    response(corr, &resp, v)
}

/// A complete response frame.
pub fn response<M: Message>(corr: i32, body: &M, version: i16) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_response_frame(&mut out, corr, body, version).expect("encode response");
    out.to_vec()
}
