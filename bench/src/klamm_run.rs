//! The Klamm side of the producer benchmark: klamm-producer with the same settings as the
//! librdkafka side.

use std::time::{Duration, Instant};

use bytes::Bytes;
use klamm_producer::{Acks, Producer, ProducerRecord};

use crate::run::{ProducerRun, RunResult};
use klamm_testkit::usage;

/// The most records whose outcome the sending loop has not seen yet (2.4 MB of futures).
const MAX_PENDING: usize = 100_000;

/// Sends `run.records` records with klamm-producer and waits for every delivery.
pub fn producer(run: &ProducerRun) -> Result<RunResult, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    rt.block_on(async {
        let producer = Producer::builder()
            .bootstrap(run.bootstrap.split(','))
            .acks(Acks::All)
            .enable_idempotence(run.idempotence)
            .linger(Duration::from_millis(run.linger_ms))
            .batch_size(run.batch_size)
            .buffer_memory(256 * 1024 * 1024)
            .max_in_flight(5)
            .build()
            .await
            .map_err(|e| format!("klamm producer: {e}"))?;
        let payload = Bytes::from(vec![b'x'; run.record_size]);
        let topic: std::sync::Arc<str> = run.topic.as_str().into();
        // Every record's outcome is checked, the way a fast application does it: delivery
        // futures wait in a queue in send order and are taken from its front as soon as their
        // outcome is known (`try_result`, no waiting, no task per record); the ones left at the
        // end are awaited. librdkafka's side counts its delivery reports in a callback.
        let (mut ok, mut failed) = (0u64, 0u64);
        let mut count =
            |r: Result<klamm_producer::RecordMetadata, klamm_producer::ProducerError>| match r {
                Ok(_) => ok += 1,
                Err(_) => failed += 1,
            };
        let mut pending = std::collections::VecDeque::new();
        let cpu0 = usage::cpu_time().unwrap_or_default();
        let start = Instant::now();
        for _ in 0..run.records {
            let record = ProducerRecord::new(topic.clone()).value(payload.clone());
            let fut = producer
                .send(record)
                .await
                .map_err(|e| format!("klamm send: {e}"))?;
            pending.push_back(fut);
            while let Some(r) = pending.front().and_then(|f| f.try_result()) {
                count(r);
                pending.pop_front();
            }
            // Bound the records awaiting their outcome, as an application bounds its memory
            // (librdkafka bounds its queue the same way with queue.buffering.max.messages).
            if pending.len() > MAX_PENDING
                && let Some(oldest) = pending.pop_front()
            {
                count(oldest.await);
            }
        }
        producer.flush().await;
        for fut in pending {
            count(fut.await);
        }
        let elapsed = start.elapsed();
        let cpu = usage::cpu_time().unwrap_or_default().saturating_sub(cpu0);
        producer
            .close(Duration::from_secs(30))
            .await
            .map_err(|e| format!("klamm close: {e}"))?;
        Ok(RunResult {
            delivered: ok,
            failed,
            elapsed_s: elapsed.as_secs_f64(),
            cpu_s: cpu.as_secs_f64(),
            peak_rss: usage::peak_rss_bytes().unwrap_or(0),
        })
    })
}
