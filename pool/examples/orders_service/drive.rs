//! `--drive N`: the service plays its own clients, then checks exactly-once from the outside.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use klamm_net::read::{Isolation, read_topic};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Pool;

/// What the run saw.
pub struct Report {
    duplicates: usize,
    missing: usize,
    leaked: usize,
}

impl Report {
    /// No duplicate, nothing committed missing, nothing aborted visible.
    pub fn exactly_once(&self) -> bool {
        self.duplicates == 0 && self.missing == 0 && self.leaked == 0
    }
}

/// One HTTP/1.1 request on its own connection; returns the status code.
async fn post(addr: SocketAddr, id: &str, body: &str) -> Result<u16, String> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let request = format!(
        "POST /orders/{id} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let head = String::from_utf8_lossy(&response[..response.len().min(64)]).into_owned();
    head.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(format!("not an HTTP response: {head:?}"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Fires `n` requests, `concurrency` at a time (every tenth is rejected by validation), reads
/// both topics back `read_committed`, prints the table.
pub async fn run(
    addr: SocketAddr,
    bootstrap: &str,
    n: usize,
    concurrency: usize,
    pool: &Pool,
) -> Result<Report, Box<dyn std::error::Error>> {
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let bar = ProgressBar::new(n as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} requests {per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let next = Arc::clone(&next);
        let bar = bar.clone();
        workers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let id = format!("{run_id}-{i}");
                let body = if i % 10 == 9 {
                    format!("order {i}: reject (fails validation)")
                } else {
                    format!("order {i}: 2 x widget")
                };
                let t = Instant::now();
                let status = post(addr, &id, &body).await;
                seen.push((id, status, t.elapsed()));
                bar.inc(1);
                if !bar.is_hidden() {
                    continue;
                }
                // Not a terminal (e.g. under `cargo xtask demo`): a line every 10%.
                let done = bar.position() as usize;
                if n >= 10 && done.is_multiple_of(n / 10) {
                    println!("progress: {done}/{n} requests");
                }
            }
            seen
        }));
    }
    let mut results = Vec::with_capacity(n);
    for w in workers {
        results.extend(w.await?);
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();

    let mut latencies: Vec<Duration> = results.iter().map(|r| r.2).collect();
    latencies.sort_unstable();
    let committed: Vec<&str> = results
        .iter()
        .filter(|r| matches!(r.1, Ok(200)))
        .map(|r| r.0.as_str())
        .collect();
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| !matches!(r.1, Ok(200)))
        .map(|r| r.0.as_str())
        .collect();
    if let Some((id, Err(e), _)) = results.iter().find(|r| r.1.is_err()) {
        eprintln!("first transport error ({id}): {e}");
    }

    // Read back as a read_committed consumer. Real Kafka writes the markers just after EndTxn
    // answers, so give the last stable offset a few seconds to catch up.
    let cluster = klamm_net::Cluster::builder()
        .bootstrap(bootstrap)
        .connect()
        .await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let (orders, audit) = loop {
        let orders = committed_keys(&cluster, "orders").await?;
        let audit = committed_keys(&cluster, "audit").await?;
        let count = |keys: &[bytes::Bytes]| {
            keys.iter()
                .filter(|k| k.starts_with(format!("{run_id}-").as_bytes()))
                .count()
        };
        if (count(&orders) >= committed.len() && count(&audit) >= committed.len())
            || Instant::now() > deadline
        {
            break (orders, audit);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    cluster.close();
    let tally = |keys: &[bytes::Bytes]| {
        let mut m: HashMap<String, usize> = HashMap::new();
        for k in keys {
            let k = String::from_utf8_lossy(k);
            if k.starts_with(&format!("{run_id}-")) {
                *m.entry(k.into_owned()).or_default() += 1;
            }
        }
        m
    };
    let (orders, audit) = (tally(&orders), tally(&audit));
    let visible: usize = orders.values().sum::<usize>() + audit.values().sum::<usize>();
    let duplicates: usize = orders
        .values()
        .chain(audit.values())
        .map(|c| c.saturating_sub(1))
        .sum();
    let missing = committed
        .iter()
        .filter(|id| !orders.contains_key(**id) || !audit.contains_key(**id))
        .count();
    let leaked = failed
        .iter()
        .filter(|id| orders.contains_key(**id) || audit.contains_key(**id))
        .count();
    let m = pool.metrics();
    let rows: Vec<(&str, String)> = vec![
        ("requests", n.to_string()),
        ("committed (HTTP 200)", committed.len().to_string()),
        ("failed (HTTP 500, aborted)", failed.len().to_string()),
        (
            "pool commits / aborts",
            format!("{} / {}", m.commits, m.aborts),
        ),
        ("producers replaced", m.replacements.to_string()),
        ("records visible (read_committed)", visible.to_string()),
        ("duplicates", duplicates.to_string()),
        ("missing (committed, not visible)", missing.to_string()),
        ("aborted but visible", leaked.to_string()),
        (
            "latency p50",
            format!("{:.1} ms", percentile(&latencies, 0.50).as_secs_f64() * 1e3),
        ),
        (
            "latency p99",
            format!("{:.1} ms", percentile(&latencies, 0.99).as_secs_f64() * 1e3),
        ),
        (
            "requests/s",
            format!("{:.0}", n as f64 / elapsed.as_secs_f64().max(1e-9)),
        ),
        (
            "pool size / transactional ids",
            format!(
                "{} / {}-0..",
                m.size,
                pool.transactional_ids()
                    .next()
                    .unwrap_or("?")
                    .rsplit_once('-')
                    .map_or("?", |(p, _)| p)
            ),
        ),
    ];
    println!();
    println!("+{:-<36}+{:-<22}+", "", "");
    for (k, v) in &rows {
        println!("| {k:<34} | {v:>20} |");
    }
    println!("+{:-<36}+{:-<22}+", "", "");
    let report = Report {
        duplicates,
        missing,
        leaked,
    };
    println!(
        "exactly-once: {}",
        if report.exactly_once() {
            "held (every committed order and audit record visible once, every aborted one invisible)"
        } else {
            "VIOLATED"
        }
    );
    Ok(report)
}

/// The keys of every committed record of `topic`, over all partitions, as a `read_committed`
/// consumer sees them (KIP-98: aborted transactions dropped, markers skipped).
async fn committed_keys(
    cluster: &klamm_net::Cluster,
    topic: &str,
) -> Result<Vec<bytes::Bytes>, klamm_net::read::ReadError> {
    let partitions = read_topic(cluster, topic, Isolation::ReadCommitted).await?;
    Ok(partitions
        .into_iter()
        .flatten()
        .map(|r| r.key.unwrap_or_default())
        .collect())
}
