//! `klamm-bench perf ...`: librdkafka (rust-rdkafka's `ThreadedProducer`) as a peer driver of
//! `cargo xtask peers` and `cargo xtask bench producer --broker ...`.
//!
//! It takes the flags of Klamm's perf example (`producer/examples/perf.rs`) and prints its
//! final lines, as every driver under `bench/peers/` does:
//!
//! ```text
//! N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency, P50 ms 50th, P95 ms 95th, P99 ms 99th, P999 ms 99.9th.
//! E errors; librdkafka 2.12.1.
//! ```
//!
//! Settings mapping: `--acks` → `acks`, `--compression` → `compression.type`, `--linger-ms`
//! → `linger.ms`, `--batch-size` → `batch.size`, `--idempotence` → `enable.idempotence`;
//! everything else stays librdkafka's default (a local queue of 100,000 messages: when it
//! is full the send loop waits 100 µs and tries again). Latency runs from the `send` call to
//! the delivery report. Exit status: 0 when every record was acknowledged, 1 when one
//! failed, 2 on bad flags.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

/// How long the final flush may take before the run counts the rest as failed.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(300);

/// The perf example's flags.
#[derive(Debug, Clone, PartialEq)]
pub struct PerfFlags {
    bootstrap: String,
    topic: String,
    num_records: u64,
    record_size: usize,
    throughput: f64,
    acks: String,
    compression: String,
    linger_ms: u64,
    batch_size: usize,
    idempotence: bool,
}

impl Default for PerfFlags {
    fn default() -> Self {
        PerfFlags {
            bootstrap: "127.0.0.1:9092".into(),
            topic: "perf".into(),
            num_records: 1_000_000,
            record_size: 100,
            throughput: -1.0,
            acks: "all".into(),
            compression: "none".into(),
            linger_ms: 5,
            batch_size: 16_384,
            idempotence: true,
        }
    }
}

/// The usage text printed with a flag error.
pub const USAGE: &str = "usage: klamm-bench perf [--bootstrap HOST:PORT[,..]] [--topic T] \
[--num-records N] [--record-size BYTES] [--throughput RECORDS_PER_SEC|-1] [--acks all|1|0] \
[--compression none|gzip|snappy|lz4|zstd] [--linger-ms MS] [--batch-size BYTES] \
[--idempotence true|false]";

impl PerfFlags {
    /// Parses the flags (every flag takes a value); the error names the bad one.
    pub fn parse(args: &[String]) -> Result<PerfFlags, String> {
        fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
            v.parse().map_err(|_| format!("{flag}: cannot parse {v:?}"))
        }
        let mut f = PerfFlags::default();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let v = it
                .next()
                .ok_or_else(|| format!("{flag} needs a value"))?
                .as_str();
            match flag.as_str() {
                "--bootstrap" => f.bootstrap = v.to_string(),
                "--topic" => f.topic = v.to_string(),
                "--num-records" => f.num_records = num(flag, v)?,
                "--record-size" => f.record_size = num(flag, v)?,
                "--throughput" => f.throughput = num(flag, v)?,
                "--acks" => {
                    f.acks = match v {
                        "all" | "-1" => "all".into(),
                        "1" | "0" => v.into(),
                        _ => return Err(format!("--acks: {v:?} is not all, 1 or 0")),
                    }
                }
                "--compression" => {
                    if !["none", "gzip", "snappy", "lz4", "zstd"].contains(&v) {
                        return Err(format!("--compression: unknown codec {v:?}"));
                    }
                    f.compression = v.into();
                }
                "--linger-ms" => f.linger_ms = num(flag, v)?,
                "--batch-size" => f.batch_size = num(flag, v)?,
                "--idempotence" => f.idempotence = num(flag, v)?,
                other => return Err(format!("unknown option {other}")),
            }
        }
        if f.idempotence && f.acks != "all" {
            return Err("--idempotence true needs --acks all".into());
        }
        Ok(f)
    }
}

/// Counts delivery reports and keeps each record's latency.
struct Reports {
    start: Instant,
    ok: AtomicU64,
    failed: AtomicU64,
    latencies_us: Mutex<Vec<u32>>,
}

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    /// Microseconds from `start` to the send call.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_us: usize) {
        let now_us = self.start.elapsed().as_micros();
        let latency = now_us.saturating_sub(sent_us as u128);
        match result {
            Ok(_) => self.ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
        self.latencies_us
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(u32::try_from(latency).unwrap_or(u32::MAX));
    }
}

/// The librdkafka release linked in, e.g. `2.12.1`.
pub fn librdkafka_version() -> String {
    rdkafka::util::get_rdkafka_version().1
}

/// The value at quantile `q` of sorted latencies, in milliseconds (0 when empty).
fn quantile_ms(sorted_us: &[u32], q: f64) -> f64 {
    let Some(last) = sorted_us.len().checked_sub(1) else {
        return 0.0;
    };
    let i = ((sorted_us.len() as f64 * q) as usize).min(last);
    f64::from(sorted_us[i]) / 1000.0
}

/// The summary line of `kafka-producer-perf-test` for `latencies_us` over `elapsed`.
pub fn summary_line(mut latencies_us: Vec<u32>, elapsed: Duration, record_size: usize) -> String {
    latencies_us.sort_unstable();
    let n = latencies_us.len() as f64;
    let avg = latencies_us.iter().map(|&us| f64::from(us)).sum::<f64>() / n.max(1.0) / 1000.0;
    let rate = n / elapsed.as_secs_f64().max(1e-9);
    let q = |p| quantile_ms(&latencies_us, p);
    format!(
        "{} records sent, {rate:.1} records/sec ({:.2} MB/sec), {avg:.2} ms avg latency, \
         {:.2} ms max latency, {:.2} ms 50th, {:.2} ms 95th, {:.2} ms 99th, {:.2} ms 99.9th.",
        latencies_us.len(),
        rate * record_size as f64 / (1024.0 * 1024.0),
        q(1.0),
        q(0.5),
        q(0.95),
        q(0.99),
        q(0.999)
    )
}

/// Runs the benchmark; `Ok(false)` when a record failed or went missing.
pub fn run(f: &PerfFlags) -> Result<bool, String> {
    let start = Instant::now();
    let reports = Reports {
        start,
        ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        latencies_us: Mutex::new(Vec::with_capacity(f.num_records.min(10_000_000) as usize)),
    };
    let producer: ThreadedProducer<Reports> = ClientConfig::new()
        .set("bootstrap.servers", &f.bootstrap)
        .set("acks", &f.acks)
        .set("compression.type", &f.compression)
        .set("linger.ms", f.linger_ms.to_string())
        .set("batch.size", f.batch_size.to_string())
        .set("enable.idempotence", f.idempotence.to_string())
        .create_with_context(reports)
        .map_err(|e| format!("creating the rdkafka producer: {e}"))?;
    let payload: Vec<u8> = (0..f.record_size).map(|i| b'A' + (i % 26) as u8).collect();
    let mut send_errors = 0u64;
    for i in 0..f.num_records {
        if f.throughput > 0.0 {
            let due = Duration::from_secs_f64(i as f64 / f.throughput);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let sent_us = usize::try_from(start.elapsed().as_micros()).unwrap_or(usize::MAX);
        let mut record =
            BaseRecord::<(), [u8], usize>::with_opaque_to(&f.topic, sent_us).payload(&payload[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_micros(100));
                }
                Err((e, _)) => {
                    send_errors += 1;
                    eprintln!("send failed: {e}");
                    break;
                }
            }
        }
    }
    if let Err(e) = producer.flush(FLUSH_TIMEOUT) {
        eprintln!("flush: {e}");
    }
    let ctx = producer.context();
    let expected = f.num_records - send_errors;
    let wait_until = Instant::now() + Duration::from_secs(10);
    while ctx.ok.load(Ordering::Relaxed) + ctx.failed.load(Ordering::Relaxed) < expected
        && Instant::now() < wait_until
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed = start.elapsed();
    let latencies =
        std::mem::take(&mut *ctx.latencies_us.lock().unwrap_or_else(|e| e.into_inner()));
    let missing = expected
        .saturating_sub(ctx.ok.load(Ordering::Relaxed) + ctx.failed.load(Ordering::Relaxed));
    let errors = send_errors + ctx.failed.load(Ordering::Relaxed) + missing;
    println!("{}", summary_line(latencies, elapsed, f.record_size));
    println!(
        "{errors} errors; librdkafka {}{}.",
        librdkafka_version(),
        if missing > 0 {
            format!(", {missing} delivery reports missing")
        } else {
            String::new()
        }
    );
    Ok(errors == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn parses_the_perf_flags() {
        let f = PerfFlags::parse(&args(
            "--bootstrap h:1 --topic t --num-records 5000 --record-size 10 --throughput -1 \
             --acks all --compression lz4 --linger-ms 7 --batch-size 1000 --idempotence false",
        ))
        .unwrap();
        assert_eq!(f.bootstrap, "h:1");
        assert_eq!((f.num_records, f.record_size, f.linger_ms), (5000, 10, 7));
        assert_eq!((f.compression.as_str(), f.idempotence), ("lz4", false));
        assert!(PerfFlags::parse(&args("--acks 2")).is_err());
        assert!(
            PerfFlags::parse(&args("--acks 1")).is_err(),
            "idempotence needs acks=all"
        );
        assert!(PerfFlags::parse(&args("--acks 1 --idempotence false")).is_ok());
        assert!(PerfFlags::parse(&args("--num-records")).is_err());
        assert!(PerfFlags::parse(&args("--frobnicate 1")).is_err());
    }

    #[test]
    fn prints_the_perf_summary_line() {
        let line = summary_line(vec![3000, 1000, 2000, 4000], Duration::from_secs(2), 100);
        assert_eq!(
            line,
            "4 records sent, 2.0 records/sec (0.00 MB/sec), 2.50 ms avg latency, \
             4.00 ms max latency, 3.00 ms 50th, 4.00 ms 95th, 4.00 ms 99th, 4.00 ms 99.9th."
        );
        assert!(summary_line(Vec::new(), Duration::from_secs(1), 100).starts_with("0 records"));
    }
}
