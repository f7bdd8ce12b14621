//! Round trips per second for small requests (ApiVersions) over one pipelined connection to an
//! in-process klamm-testkit broker, next to the bound for that broker: a raw socket writing
//! pre-encoded frames and reading the answers with no client logic at all.
//!
//! `cargo bench -p klamm-net --bench roundtrip`. Besides criterion's timings it prints the
//! process CPU time per request (client and in-process broker together, from /proc/self/stat).

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use std::time::Instant;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use klamm_net::{BrokerConnection, ConnectionConfig};
use klamm_protocol::ApiKey;
use klamm_protocol::frame::{FrameDecoder, encode_request_frame};
use klamm_protocol::header::RequestHeader;
use klamm_protocol::messages::ApiVersionsRequest;
use klamm_testkit::usage;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

const BATCH: usize = 1000;
const DEPTH: usize = 256;

async fn pipelined(conn: &BrokerConnection, n: usize) {
    let mut inflight = FuturesUnordered::new();
    let mut sent = 0;
    while sent < n || !inflight.is_empty() {
        while sent < n && inflight.len() < DEPTH {
            inflight.push(conn.send_at(ApiVersionsRequest::default(), 3));
            sent += 1;
        }
        if let Some(r) = inflight.next().await {
            r.expect("response");
        }
    }
}

async fn raw(addr: &str, n: usize) {
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    sock.set_nodelay(true).expect("nodelay");
    let mut out = BytesMut::new();
    for i in 0..n {
        let h = RequestHeader::new(ApiKey::ApiVersions, 3, i as i32, Some("raw".into()));
        encode_request_frame(&mut out, &h, &ApiVersionsRequest::default(), 3).expect("encode");
    }
    let (mut rd, mut wr) = sock.split();
    let write = wr.write_all(&out);
    let read = async {
        let dec = FrameDecoder::default();
        let mut buf = BytesMut::with_capacity(1 << 16);
        let mut got = 0;
        while got < n {
            while let Some(_f) = dec.decode(&mut buf).expect("frame") {
                got += 1;
            }
            if got < n {
                rd.read_buf(&mut buf).await.expect("read");
            }
        }
    };
    let (w, ()) = tokio::join!(write, read);
    w.expect("write");
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let (tk, conn) = rt.block_on(async {
        let tk = klamm_testkit::Cluster::builder()
            .brokers(1)
            .start()
            .await
            .expect("testkit");
        let addr = tk.brokers()[0].1.to_string();
        let cfg = ConnectionConfig::builder()
            .max_in_flight(DEPTH)
            .build()
            .expect("config");
        let conn = BrokerConnection::connect(&addr, &cfg)
            .await
            .expect("connect");
        (tk, conn)
    });
    let addr = tk.brokers()[0].1.to_string();

    let mut g = c.benchmark_group("net_roundtrip");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("klamm_pipelined_256", |b| {
        b.iter(|| rt.block_on(pipelined(&conn, BATCH)))
    });
    g.bench_function("raw_socket_bound", |b| {
        b.iter(|| rt.block_on(raw(&addr, BATCH)))
    });
    g.throughput(Throughput::Elements(100));
    g.bench_function("klamm_sequential_100", |b| {
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..100 {
                    conn.send_at(ApiVersionsRequest::default(), 3)
                        .await
                        .expect("response");
                }
            })
        })
    });
    g.finish();

    let n = 50_000;
    for (name, run) in [("klamm_pipelined_256", 0), ("raw_socket_bound", 1)] {
        let (cpu0, t0) = (usage::cpu_time(), Instant::now());
        rt.block_on(async {
            if run == 0 {
                pipelined(&conn, n).await
            } else {
                raw(&addr, n).await
            }
        });
        let wall = t0.elapsed();
        let cpu = usage::cpu_time()
            .zip(cpu0)
            .map(|(a, b)| a.saturating_sub(b));
        println!(
            "{name}: {:.0} requests/s, CPU {} per request (client + in-process broker)",
            n as f64 / wall.as_secs_f64(),
            cpu.map_or("n/a".into(), |c| format!(
                "{:.1} us",
                c.as_secs_f64() * 1e6 / n as f64
            )),
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
