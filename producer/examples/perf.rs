//! The equivalent of Kafka's `kafka-producer-perf-test`:
//!
//! ```text
//! cargo run --release -p klamm-producer --example perf -- \
//!     --bootstrap 127.0.0.1:9092 --topic perf --num-records 1000000 --record-size 100 \
//!     --throughput -1 --acks all --compression none --linger-ms 5 --batch-size 16384 \
//!     --idempotence true
//! ```
//!
//! Without `--bootstrap` it starts an embedded klamm-testkit cluster (3 brokers) and produces
//! to it. Prints a progress line every 5 seconds and a final summary as the Java tool does.

use std::str::FromStr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use klamm_producer::{Acks, Compression, DeliveryFuture, Producer, ProducerRecord};

struct Args {
    bootstrap: Option<String>,
    topic: String,
    num_records: u64,
    record_size: usize,
    throughput: f64,
    acks: Acks,
    compression: Compression,
    linger_ms: u64,
    batch_size: usize,
    idempotence: bool,
}

fn usage(problem: &str) -> ! {
    eprintln!("error: {problem}");
    eprintln!(
        "usage: perf [--bootstrap HOST:PORT[,..]] [--topic T] [--num-records N] \
         [--record-size BYTES] [--throughput RECORDS_PER_SEC|-1] [--acks all|1|0] \
         [--compression none|gzip|snappy|lz4|zstd] [--linger-ms MS] [--batch-size BYTES] \
         [--idempotence true|false]"
    );
    std::process::exit(2)
}

fn parse<T: FromStr>(flag: &str, value: Option<String>) -> T {
    let Some(v) = value else {
        usage(&format!("{flag} needs a value"))
    };
    v.parse()
        .unwrap_or_else(|_| usage(&format!("{flag}: cannot parse {v:?}")))
}

fn args() -> Args {
    let mut a = Args {
        bootstrap: None,
        topic: "perf".into(),
        num_records: 1_000_000,
        record_size: 100,
        throughput: -1.0,
        acks: Acks::All,
        compression: Compression::None,
        linger_ms: 5,
        batch_size: 16_384,
        idempotence: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next();
        match flag.as_str() {
            "--bootstrap" => a.bootstrap = Some(parse(&flag, v)),
            "--topic" => a.topic = parse(&flag, v),
            "--num-records" => a.num_records = parse(&flag, v),
            "--record-size" => a.record_size = parse(&flag, v),
            "--throughput" => a.throughput = parse(&flag, v),
            "--acks" => {
                a.acks = match parse::<String>(&flag, v).as_str() {
                    "all" | "-1" => Acks::All,
                    "1" => Acks::Leader,
                    "0" => Acks::None,
                    other => usage(&format!("--acks: {other:?} is not all, 1 or 0")),
                }
            }
            "--compression" => a.compression = parse(&flag, v),
            "--linger-ms" => a.linger_ms = parse(&flag, v),
            "--batch-size" => a.batch_size = parse(&flag, v),
            "--idempotence" => a.idempotence = parse(&flag, v),
            other => usage(&format!("unknown option {other}")),
        }
    }
    a
}

struct Stats {
    latencies_us: Vec<u32>,
    window_start: Instant,
    window_count: u64,
    window_max_us: u32,
    window_sum_us: u64,
}

impl Stats {
    fn record(&mut self, us: u32, record_size: usize) {
        self.latencies_us.push(us);
        self.window_count += 1;
        self.window_sum_us += u64::from(us);
        self.window_max_us = self.window_max_us.max(us);
        let elapsed = self.window_start.elapsed();
        if elapsed >= Duration::from_secs(5) {
            let rate = self.window_count as f64 / elapsed.as_secs_f64();
            eprintln!(
                "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
                self.window_count,
                rate,
                rate * record_size as f64 / (1024.0 * 1024.0),
                self.window_sum_us as f64 / self.window_count as f64 / 1000.0,
                f64::from(self.window_max_us) / 1000.0
            );
            self.window_start = Instant::now();
            self.window_count = 0;
            self.window_sum_us = 0;
            self.window_max_us = 0;
        }
    }
}

#[tokio::main]
async fn main() {
    let a = args();
    // The embedded cluster lives as long as `_testkit`.
    let (_testkit, bootstrap) = match &a.bootstrap {
        Some(b) => (None, b.clone()),
        None => {
            let c = klamm_testkit::Cluster::builder()
                .brokers(3)
                .topic(&a.topic, 6)
                .start()
                .await
                .unwrap_or_else(|e| usage(&format!("could not start the testkit: {e}")));
            let b = c.bootstrap();
            eprintln!("embedded klamm-testkit cluster at {b}");
            (Some(c), b)
        }
    };
    let producer = Producer::builder()
        .bootstrap(bootstrap.split(','))
        .acks(a.acks)
        .compression(a.compression)
        .linger(Duration::from_millis(a.linger_ms))
        .batch_size(a.batch_size)
        .enable_idempotence(a.idempotence)
        .build()
        .await
        .unwrap_or_else(|e| usage(&e.to_string()));

    let payload = Bytes::from(
        (0..a.record_size)
            .map(|i| b'A' + (i % 26) as u8)
            .collect::<Vec<u8>>(),
    );
    // Each delivery's latency is taken when it completes (as the Java tool's callback does),
    // by a collector task; timing it when the send loop next looks would add the gap between
    // sends to every latency at a limited `--throughput`.
    let (deliveries, mut completed) =
        tokio::sync::mpsc::unbounded_channel::<(Instant, DeliveryFuture)>();
    let record_size = a.record_size;
    let expected = a.num_records;
    let collector = tokio::spawn(async move {
        let mut stats = Stats {
            latencies_us: Vec::with_capacity(expected.min(10_000_000) as usize),
            window_start: Instant::now(),
            window_count: 0,
            window_max_us: 0,
            window_sum_us: 0,
        };
        let mut failed = 0u64;
        let mut pending = FuturesUnordered::new();
        let mut open = true;
        while open || !pending.is_empty() {
            tokio::select! {
                biased;
                Some((us, ok)) = pending.next(), if !pending.is_empty() => {
                    let (us, ok): (u32, bool) = (us, ok);
                    failed += u64::from(!ok);
                    stats.record(us, record_size);
                }
                next = completed.recv(), if open => match next {
                    Some((sent, f)) => pending.push(async move {
                        let ok = f.await.is_ok();
                        (u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX), ok)
                    }),
                    None => open = false,
                },
            }
        }
        (stats, failed)
    });
    let mut errors = 0u64;
    let start = Instant::now();
    for i in 0..a.num_records {
        if a.throughput > 0.0 {
            let due = start + Duration::from_secs_f64(i as f64 / a.throughput);
            tokio::time::sleep_until(due.into()).await;
        }
        let record = ProducerRecord::new(a.topic.as_str()).value(payload.clone());
        let sent = Instant::now();
        match producer.send(record).await {
            Ok(f) => {
                let _ = deliveries.send((sent, f));
            }
            Err(e) => {
                errors += 1;
                eprintln!("send failed: {e}");
            }
        }
    }
    drop(deliveries);
    let (stats, failed) = collector.await.expect("the delivery collector panicked");
    errors += failed;
    let elapsed = start.elapsed().as_secs_f64();
    let metrics = producer.metrics();
    if let Err(e) = producer.close(Duration::from_secs(30)).await {
        eprintln!("close: {e}");
    }

    let mut l = stats.latencies_us;
    l.sort_unstable();
    let pct = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .map_or(0.0, |&us| f64::from(us) / 1000.0)
    };
    let n = l.len() as f64;
    let avg = l.iter().map(|&us| f64::from(us)).sum::<f64>() / n.max(1.0) / 1000.0;
    let rate = n / elapsed;
    println!(
        "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, \
         {:.2} ms 50th, {:.2} ms 95th, {:.2} ms 99th, {:.2} ms 99.9th.",
        l.len(),
        rate,
        rate * a.record_size as f64 / (1024.0 * 1024.0),
        avg,
        pct(1.0),
        pct(0.5),
        pct(0.95),
        pct(0.99),
        pct(0.999)
    );
    println!(
        "{} errors; {} batches, {} bytes avg per batch, {} retries, {} requests.",
        errors, metrics.batches_sent, metrics.batch_size_avg, metrics.retries, metrics.requests
    );
    if errors > 0 {
        std::process::exit(1);
    }
}
