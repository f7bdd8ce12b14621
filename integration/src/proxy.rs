//! A timestamping TCP proxy in front of every broker of a cluster: the outside witness of
//! KIP-219 throttling. It forwards bytes unchanged except the broker addresses in Metadata
//! and FindCoordinator answers (rewritten to the proxies, so that a client that bootstraps
//! through them keeps talking through them), and it notes, per client connection, when each
//! request arrived and when each Produce answer carrying `throttle_time_ms > 0` was forwarded.
//!
//! [`ProxyLog::verdict`] then replays each connection: after a throttled answer forwarded at
//! `t` with throttle `x`, a request arriving before `t + x` is *early*, unless it arrived
//! within `grace` of `t`, when the client may not have read the answer yet (it was on the wire
//! already: pipelining, counted apart).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use klamm_protocol::header::{RequestHeader, ResponseHeader};
use klamm_protocol::messages::{FindCoordinatorResponse, MetadataResponse, ProduceResponse};
use klamm_protocol::{ApiKey, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::scenario::ScenarioError;

/// The largest frame the proxy forwards (Kafka's default `socket.request.max.bytes`).
const MAX_FRAME: usize = 100 * 1024 * 1024;

#[derive(Debug, Clone, Copy)]
enum Event {
    Request { at: Instant, api: i16 },
    Throttled { at: Instant, ms: u32 },
}

/// Whose a connection is: the broker it goes to (upstream port) and its client id.
type Owner = (u16, Option<String>);

/// Everything the proxies saw, per client connection.
#[derive(Debug, Default)]
pub struct ProxyLog {
    connections: Mutex<HashMap<u64, Vec<Event>>>,
    /// Per connection: the broker it goes to (upstream port) and the client id of its first
    /// request (Kafka's quotas are per client id on each broker).
    owners: Mutex<HashMap<u64, Owner>>,
    next_connection: AtomicU64,
}

/// What [`ProxyLog::verdict`] found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProxyVerdict {
    /// Client connections seen.
    pub connections: u64,
    /// Requests forwarded.
    pub requests: u64,
    /// Produce answers forwarded with `throttle_time_ms > 0`.
    pub throttled_answers: u64,
    /// Requests that arrived before their connection's deadline, more than `grace` after the
    /// throttled answer: violations.
    pub early: u64,
    /// Requests that arrived within `grace` after a throttled answer was forwarded (already
    /// on the wire: pipelining, not a violation).
    pub pipelined: u64,
    /// Of the early requests, how many were not Produce (Metadata, FindCoordinator, ...).
    pub early_non_produce: u64,
    /// Requests that arrived while *another* connection of the same client id to the same
    /// broker was throttled (more than `grace` after that throttle was forwarded): the quota
    /// is the client id's, so these were sent while the broker held the client over quota.
    pub early_other_connection: u64,
}

impl ProxyLog {
    fn connection(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    fn own(&self, conn: u64, upstream: u16, client_id: Option<String>) {
        self.owners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(conn)
            .or_insert((upstream, client_id));
    }

    fn push(&self, conn: u64, event: Event) {
        self.connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(conn)
            .or_default()
            .push(event);
    }

    /// Replays every connection's events (see the module documentation).
    pub fn verdict(&self, grace: Duration) -> ProxyVerdict {
        let conns = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        let mut v = ProxyVerdict {
            connections: conns.len() as u64,
            ..Default::default()
        };
        for events in conns.values() {
            let mut deadline: Option<Instant> = None;
            let mut last_throttle: Option<Instant> = None;
            for e in events {
                match *e {
                    Event::Throttled { at, ms } => {
                        v.throttled_answers += 1;
                        let until = at + Duration::from_millis(u64::from(ms));
                        deadline = Some(deadline.map_or(until, |d| d.max(until)));
                        last_throttle = Some(at);
                    }
                    Event::Request { at, api } => {
                        v.requests += 1;
                        if deadline.is_some_and(|d| at < d) {
                            if last_throttle.is_some_and(|t| at.duration_since(t) <= grace) {
                                v.pipelined += 1;
                            } else {
                                v.early += 1;
                                if api != ApiKey::Produce.as_i16() {
                                    v.early_non_produce += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        v.early_other_connection = self.early_other_connection(&conns, grace);
        v
    }

    /// Replays the connections of each (broker, client id) together, in time order.
    fn early_other_connection(&self, conns: &HashMap<u64, Vec<Event>>, grace: Duration) -> u64 {
        let owners = self.owners.lock().unwrap_or_else(|p| p.into_inner());
        let mut groups: HashMap<&Owner, Vec<(u64, Event)>> = HashMap::new();
        for (conn, events) in conns {
            if let Some(owner) = owners.get(conn) {
                groups
                    .entry(owner)
                    .or_default()
                    .extend(events.iter().map(|e| (*conn, *e)));
            }
        }
        let at = |e: &Event| match *e {
            Event::Request { at, .. } | Event::Throttled { at, .. } => at,
        };
        let mut early = 0;
        for events in groups.values_mut() {
            events.sort_by_key(|(_, e)| at(e));
            // Per throttling connection: (deadline, when its throttle was forwarded).
            let mut throttled: HashMap<u64, (Instant, Instant)> = HashMap::new();
            for (conn, e) in events.iter() {
                match *e {
                    Event::Throttled { at, ms } => {
                        let until = at + Duration::from_millis(u64::from(ms));
                        let entry = throttled.entry(*conn).or_insert((until, at));
                        *entry = (entry.0.max(until), at);
                    }
                    Event::Request { at, .. } => {
                        let other = throttled.iter().any(|(c, (until, sent))| {
                            c != conn && at < *until && at.duration_since(*sent) > grace
                        });
                        early += u64::from(other);
                    }
                }
            }
        }
        early
    }
}

/// Proxies in front of every broker; dropping it stops them.
#[derive(Debug)]
pub struct KafkaProxy {
    bootstrap: String,
    log: Arc<ProxyLog>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for KafkaProxy {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Upstream port -> proxy port, for rewriting broker addresses.
type PortMap = Arc<HashMap<u16, u16>>;

impl KafkaProxy {
    /// Starts one proxy per address in `brokers` (each `127.0.0.1:port`, as the brokers
    /// advertise themselves).
    pub async fn start(brokers: &[SocketAddr]) -> Result<KafkaProxy, ScenarioError> {
        let log = Arc::new(ProxyLog::default());
        let mut listeners = Vec::new();
        let mut ports = HashMap::new();
        for upstream in brokers {
            let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
            ports.insert(upstream.port(), listener.local_addr()?.port());
            listeners.push((listener, *upstream));
        }
        let ports: PortMap = Arc::new(ports);
        let bootstrap = listeners
            .iter()
            .map(|(l, _)| l.local_addr().map(|a| a.to_string()))
            .collect::<Result<Vec<_>, _>>()?
            .join(",");
        let mut tasks = Vec::new();
        for (listener, upstream) in listeners {
            let (log, ports) = (Arc::clone(&log), Arc::clone(&ports));
            tasks.push(tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let (log, ports) = (Arc::clone(&log), Arc::clone(&ports));
                    tokio::spawn(async move {
                        if let Ok(server) = TcpStream::connect(upstream).await {
                            let _ = client.set_nodelay(true);
                            let _ = server.set_nodelay(true);
                            relay(client, server, upstream.port(), log, ports).await;
                        }
                    });
                }
            }));
        }
        Ok(KafkaProxy {
            bootstrap,
            log,
            tasks,
        })
    }

    /// `bootstrap.servers` through the proxies.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// What the proxies saw so far.
    pub fn log(&self) -> &ProxyLog {
        &self.log
    }
}

async fn read_frame(stream: &mut tokio::net::tcp::OwnedReadHalf) -> Option<Bytes> {
    let len = stream.read_u32().await.ok()? as usize;
    if len > MAX_FRAME {
        return None;
    }
    let mut buf = BytesMut::zeroed(len);
    stream.read_exact(&mut buf).await.ok()?;
    Some(buf.freeze())
}

async fn write_frame(stream: &mut tokio::net::tcp::OwnedWriteHalf, frame: &[u8]) -> Option<()> {
    let mut out = Vec::with_capacity(frame.len() + 4);
    out.extend_from_slice(&(frame.len() as u32).to_be_bytes());
    out.extend_from_slice(frame);
    stream.write_all(&out).await.ok()
}

/// Forwards both directions of one client connection until either side closes.
async fn relay(
    client: TcpStream,
    server: TcpStream,
    upstream: u16,
    log: Arc<ProxyLog>,
    ports: PortMap,
) {
    let conn = log.connection();
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    // correlation id -> (api key, version), filled by requests, read by answers.
    let asked: Arc<Mutex<HashMap<i32, (i16, i16)>>> = Arc::default();
    let to_broker = {
        let (log, asked) = (Arc::clone(&log), Arc::clone(&asked));
        async move {
            while let Some(frame) = read_frame(&mut client_rx).await {
                if let Ok((h, _)) = RequestHeader::split_frame(&frame) {
                    log.own(conn, upstream, h.client_id.clone());
                    log.push(
                        conn,
                        Event::Request {
                            at: Instant::now(),
                            api: h.request_api_key,
                        },
                    );
                    asked
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(h.correlation_id, (h.request_api_key, h.request_api_version));
                }
                write_frame(&mut server_tx, &frame).await?;
            }
            Some(())
        }
    };
    let to_client = async move {
        while let Some(frame) = read_frame(&mut server_rx).await {
            let asked = ResponseHeader::peek_correlation_id(&frame)
                .ok()
                .and_then(|c| asked.lock().unwrap_or_else(|p| p.into_inner()).remove(&c));
            let mut out = frame.clone();
            if let Some((api, version)) = asked
                && let Some(api) = ApiKey::from_i16(api)
            {
                out = rewrite(api, version, &frame, &ports).unwrap_or(frame);
                let throttled = (api == ApiKey::Produce)
                    .then(|| produce_throttle(version, &out))
                    .flatten();
                write_frame(&mut client_tx, &out).await?;
                if let Some(ms) = throttled {
                    log.push(
                        conn,
                        Event::Throttled {
                            at: Instant::now(),
                            ms,
                        },
                    );
                }
                continue;
            }
            write_frame(&mut client_tx, &out).await?;
        }
        Some(())
    };
    tokio::select! {
        _ = to_broker => {}
        _ = to_client => {}
    }
}

fn produce_throttle(version: i16, frame: &Bytes) -> Option<u32> {
    let hv = ApiKey::Produce.response_header_version(version);
    let (_, body) = ResponseHeader::split_frame(frame, hv).ok()?;
    let r = ProduceResponse::decode(&body, version).ok()?;
    u32::try_from(r.throttle_time_ms).ok().filter(|ms| *ms > 0)
}

/// The answer with broker ports mapped to the proxies' (Metadata, FindCoordinator); `None`
/// when there is nothing to rewrite or it cannot be decoded (forwarded unchanged).
fn rewrite(api: ApiKey, version: i16, frame: &Bytes, ports: &HashMap<u16, u16>) -> Option<Bytes> {
    let map = |port: &mut i32| {
        if let Some(p) = u16::try_from(*port).ok().and_then(|p| ports.get(&p)) {
            *port = i32::from(*p);
        }
    };
    let hv = api.response_header_version(version);
    let (header, body) = ResponseHeader::split_frame(frame, hv).ok()?;
    let body = match api {
        ApiKey::Metadata => {
            let mut r = MetadataResponse::decode(&body, version).ok()?;
            r.brokers.iter_mut().for_each(|b| map(&mut b.port));
            r.to_bytes(version).ok()?
        }
        ApiKey::FindCoordinator => {
            let mut r = FindCoordinatorResponse::decode(&body, version).ok()?;
            map(&mut r.port);
            r.coordinators.iter_mut().for_each(|c| map(&mut c.port));
            r.to_bytes(version).ok()?
        }
        _ => return None,
    };
    let mut out = Vec::with_capacity(body.len() + 8);
    header.encode(&mut out, hv).ok()?;
    out.extend_from_slice(&body);
    Some(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_and_pipelined_requests_are_told_apart() {
        let log = ProxyLog::default();
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let produce = ApiKey::Produce.as_i16();
        for e in [
            Event::Request {
                at: ms(0),
                api: produce,
            },
            Event::Throttled {
                at: ms(10),
                ms: 100,
            },
            Event::Request {
                at: ms(11),
                api: produce,
            }, // within grace: pipelined
            Event::Request { at: ms(50), api: 3 }, // early, and not Produce
            Event::Request {
                at: ms(111),
                api: produce,
            }, // after the deadline
        ] {
            log.push(7, e);
        }
        let v = log.verdict(Duration::from_millis(2));
        assert_eq!(v.connections, 1);
        assert_eq!(v.requests, 4);
        assert_eq!(v.throttled_answers, 1);
        assert_eq!((v.pipelined, v.early, v.early_non_produce), (1, 1, 1));
        assert_eq!(v.early_other_connection, 0, "one connection only");
    }

    #[test]
    fn a_request_on_another_connection_of_the_client_is_seen() {
        let log = ProxyLog::default();
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let produce = ApiKey::Produce.as_i16();
        log.own(1, 9092, Some("app".into()));
        log.own(2, 9092, Some("app".into()));
        log.own(3, 9092, Some("other".into()));
        log.own(4, 9093, Some("app".into()));
        log.push(
            1,
            Event::Throttled {
                at: ms(10),
                ms: 100,
            },
        );
        // Same broker and client id, during connection 1's throttle: counted.
        log.push(
            2,
            Event::Request {
                at: ms(50),
                api: produce,
            },
        );
        // Another client id, or another broker: not counted.
        log.push(
            3,
            Event::Request {
                at: ms(50),
                api: produce,
            },
        );
        log.push(
            4,
            Event::Request {
                at: ms(50),
                api: produce,
            },
        );
        // Within grace of the throttle, or after the deadline: not counted.
        log.push(
            2,
            Event::Request {
                at: ms(11),
                api: produce,
            },
        );
        log.push(
            2,
            Event::Request {
                at: ms(120),
                api: produce,
            },
        );
        let v = log.verdict(Duration::from_millis(2));
        assert_eq!(v.early_other_connection, 1);
        assert_eq!(v.early, 0, "no connection broke its own deadline");
    }
}
