//! The librdkafka side: rust-rdkafka's `ThreadedProducer` with the same settings as Klamm.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use crate::run::{ProducerRun, RunResult};
use klamm_testkit::usage;

#[derive(Default, Clone)]
struct Counter {
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl ClientContext for Counter {}

impl ProducerContext for Counter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        match result {
            Ok(_) => self.ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// Sends `run.records` records and waits for every delivery report.
pub fn producer(run: &ProducerRun) -> Result<RunResult, String> {
    let counter = Counter::default();
    let producer: ThreadedProducer<Counter> = ClientConfig::new()
        .set("bootstrap.servers", &run.bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", run.idempotence.to_string())
        .set("linger.ms", run.linger_ms.to_string())
        .set("batch.size", run.batch_size.to_string())
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("max.in.flight.requests.per.connection", "5")
        .create_with_context(counter.clone())
        .map_err(|e| format!("rdkafka producer: {e}"))?;
    let payload = vec![b'x'; run.record_size];
    let cpu0 = usage::cpu_time().unwrap_or_default();
    let start = Instant::now();
    for _ in 0..run.records {
        let mut record = BaseRecord::<(), [u8]>::to(&run.topic).payload(&payload[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err((e, _)) => return Err(format!("rdkafka send: {e}")),
            }
        }
    }
    producer
        .flush(Duration::from_secs(300))
        .map_err(|e| format!("rdkafka flush: {e}"))?;
    while counter.ok.load(Ordering::Relaxed) + counter.failed.load(Ordering::Relaxed) < run.records
    {
        if start.elapsed() > Duration::from_secs(300) {
            return Err("rdkafka: delivery reports missing after 300 s".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed = start.elapsed();
    let cpu = usage::cpu_time().unwrap_or_default().saturating_sub(cpu0);
    Ok(RunResult {
        delivered: counter.ok.load(Ordering::Relaxed),
        failed: counter.failed.load(Ordering::Relaxed),
        elapsed_s: elapsed.as_secs_f64(),
        cpu_s: cpu.as_secs_f64(),
        peak_rss: usage::peak_rss_bytes().unwrap_or(0),
    })
}
