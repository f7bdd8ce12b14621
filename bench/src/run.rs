//! One producer run, as executed in a child process, and its result.

use serde_json::{Value, json};

/// What a client process is asked to do.
#[derive(Debug, Clone)]
pub struct ProducerRun {
    /// `klamm` or `rdkafka`.
    pub implementation: String,
    /// Bootstrap servers.
    pub bootstrap: String,
    /// Topic to write to.
    pub topic: String,
    /// Records to send.
    pub records: u64,
    /// Value size in bytes (no key).
    pub record_size: usize,
    /// Idempotence on or off (acks=all either way).
    pub idempotence: bool,
    /// linger.ms.
    pub linger_ms: u64,
    /// batch.size in bytes.
    pub batch_size: usize,
}

impl ProducerRun {
    /// As command-line arguments for the child.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            self.implementation.clone(),
            self.bootstrap.clone(),
            self.topic.clone(),
            self.records.to_string(),
            self.record_size.to_string(),
            self.idempotence.to_string(),
            self.linger_ms.to_string(),
            self.batch_size.to_string(),
        ]
    }

    /// From the child's command-line arguments.
    pub fn from_args(a: &[String]) -> Result<ProducerRun, String> {
        let [imp, bootstrap, topic, records, size, idem, linger, batch] = a else {
            return Err(format!("expected 8 arguments, got {}", a.len()));
        };
        let num = |s: &str| s.parse::<u64>().map_err(|e| format!("{s}: {e}"));
        Ok(ProducerRun {
            implementation: imp.clone(),
            bootstrap: bootstrap.clone(),
            topic: topic.clone(),
            records: num(records)?,
            record_size: num(size)? as usize,
            idempotence: idem == "true",
            linger_ms: num(linger)?,
            batch_size: num(batch)? as usize,
        })
    }
}

/// What a client process measured.
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    /// Records acknowledged.
    pub delivered: u64,
    /// Records that failed.
    pub failed: u64,
    /// Seconds from the first send to the last acknowledgement.
    pub elapsed_s: f64,
    /// CPU seconds (user + system) the client process used over that time.
    pub cpu_s: f64,
    /// Peak resident memory of the client process, bytes.
    pub peak_rss: u64,
}

impl RunResult {
    /// As one JSON line.
    pub fn to_json(&self) -> String {
        json!({
            "delivered": self.delivered,
            "failed": self.failed,
            "elapsed_s": self.elapsed_s,
            "cpu_s": self.cpu_s,
            "peak_rss": self.peak_rss,
        })
        .to_string()
    }

    /// From the child's JSON line.
    pub fn from_json(s: &str) -> Result<RunResult, String> {
        let v: Value = serde_json::from_str(s).map_err(|e| format!("{e}: {s}"))?;
        let f = |k: &str| v[k].as_f64().ok_or_else(|| format!("missing {k} in {s}"));
        Ok(RunResult {
            delivered: f("delivered")? as u64,
            failed: f("failed")? as u64,
            elapsed_s: f("elapsed_s")?,
            cpu_s: f("cpu_s")?,
            peak_rss: f("peak_rss")? as u64,
        })
    }

    /// Records per second.
    pub fn rate(&self) -> f64 {
        self.delivered as f64 / self.elapsed_s.max(1e-9)
    }

    /// CPU seconds per million records.
    pub fn cpu_per_million(&self) -> f64 {
        self.cpu_s * 1e6 / (self.delivered.max(1) as f64)
    }
}
