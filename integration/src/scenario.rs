//! Running one scenario on every selected broker, and reporting each outcome.

use std::fs::OpenOptions;
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::broker::{BrokerKind, BrokerUnderTest, Capabilities};
use crate::error::HarnessError;

/// A scenario's error: anything, boxed, with a message that says what went wrong.
pub type ScenarioError = Box<dyn std::error::Error + Send + Sync>;
/// What a scenario returns.
pub type ScenarioResult = Result<(), ScenarioError>;

/// Environment variable naming the brokers to run on (comma separated).
pub const BROKERS_ENV: &str = "KLAMM_BROKERS";
/// Environment variable naming the directory where outcomes are appended.
pub const REPORT_ENV: &str = "KLAMM_SCENARIO_REPORT";

/// What a scenario needs from a broker; brokers lacking it are skipped with the reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// Idempotent produce.
    pub idempotence: bool,
    /// Transactions with markers (`read_committed` filtering).
    pub transaction_markers: bool,
    /// Produce quotas with `throttle_time_ms`.
    pub throttling: bool,
    /// In-process control (leader moves, injected errors).
    pub controllable: bool,
    /// Killing, restarting and pausing broker processes.
    pub process_control: bool,
    /// Apache Kafka itself (the reference of the differential suite).
    pub apache_kafka: bool,
}

impl Needs {
    /// Runs anywhere.
    pub const NOTHING: Needs = Needs {
        idempotence: false,
        transaction_markers: false,
        throttling: false,
        controllable: false,
        process_control: false,
        apache_kafka: false,
    };

    /// Why a broker with `caps` cannot run the scenario, if it cannot.
    pub fn unmet(&self, kind: BrokerKind, caps: Capabilities) -> Option<String> {
        let mut missing = Vec::new();
        if self.idempotence && !caps.idempotence {
            missing.push("idempotent produce");
        }
        if self.transaction_markers && !caps.transaction_markers {
            missing.push("transactions with commit/abort markers");
        }
        if self.throttling && !caps.throttling {
            missing.push("produce quotas (throttle_time_ms)");
        }
        if self.controllable && !caps.controllable {
            missing.push("in-process control (leader moves, fault injection)");
        }
        if self.apache_kafka && !caps.apache_kafka {
            missing.push("Apache Kafka itself (this compares the testkit with it)");
        }
        if self.process_control && !caps.process_control {
            missing.push("broker processes the test may kill, restart and pause");
        }
        if missing.is_empty() {
            None
        } else {
            Some(format!("{kind} has no {}", missing.join(", no ")))
        }
    }
}

/// The brokers named in `KLAMM_BROKERS`; `mock,testkit` (the in-process ones) when unset,
/// none when it is empty or `none`.
pub fn selected_brokers() -> Result<Vec<BrokerKind>, HarnessError> {
    let Ok(list) = std::env::var(BROKERS_ENV) else {
        return Ok(vec![BrokerKind::Mock, BrokerKind::Testkit]);
    };
    let mut kinds = Vec::new();
    for part in list.split(',') {
        let part = part.trim();
        if part.is_empty() || part == "none" {
            continue;
        }
        let k = BrokerKind::parse(part)?;
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    Ok(kinds)
}

/// A topic name no other scenario or run uses.
pub fn unique_topic(scenario: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let clean: String = scenario
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("klamm-{clean}-{}-{nanos}-{n}", std::process::id())
}

/// Records an outcome (in the report directory when `KLAMM_SCENARIO_REPORT` is set) and
/// prints it.
fn record(scenario: &str, broker: BrokerKind, outcome: &str, reason: &str, elapsed: Duration) {
    println!("scenario {scenario} on {broker}: {outcome} {reason}");
    let Some(dir) = std::env::var_os(REPORT_ENV) else {
        return;
    };
    let path = PathBuf::from(dir).join(format!("{}.jsonl", broker.name()));
    let line = serde_json::json!({
        "scenario": scenario,
        "broker": broker.name(),
        "outcome": outcome,
        "reason": reason,
        "millis": elapsed.as_millis() as u64,
    });
    let written = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
    if let Err(source) = written {
        let e = HarnessError::Report {
            path: path.display().to_string(),
            source,
        };
        eprintln!("{e}");
    }
}

/// Scenarios that kill, restart or pause broker processes ([`Needs::process_control`]) hold
/// this exclusively while they run; every other scenario holds it shared. libtest runs the
/// scenarios of one binary on several threads, and a broker killed under a scenario that did
/// not ask for faults would fail it for nothing. (Fair: a waiting fault scenario holds back
/// new scenarios, so it is not starved.)
static BROKER_FAULTS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Records "failed (panicked)" if the scenario panics before it finishes.
struct PanicGuard<'a> {
    scenario: &'a str,
    broker: BrokerKind,
    start: Instant,
    armed: bool,
}

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            record(
                self.scenario,
                self.broker,
                "failed",
                "panicked",
                self.start.elapsed(),
            );
        }
    }
}

/// Runs `scenario` once per selected broker: skips (with the reason) brokers that lack
/// what it `needs` or do not exist yet, fails brokers that should be there and are not,
/// bounds each run by `timeout`, and panics at the end listing every failure (so the
/// libtest test fails).
pub async fn run<F, Fut>(scenario: &str, needs: Needs, timeout: Duration, f: F)
where
    F: Fn(BrokerUnderTest) -> Fut,
    Fut: Future<Output = ScenarioResult>,
{
    let brokers = match selected_brokers() {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    };
    let mut failures = Vec::new();
    for kind in brokers {
        let start = Instant::now();
        if let Some(why) = needs.unmet(kind, kind.capabilities()) {
            record(scenario, kind, "skipped", &why, start.elapsed());
            continue;
        }
        let broker = match BrokerUnderTest::connect(kind).await {
            Ok(Ok(b)) => b,
            Ok(Err(unavailable)) => {
                record(scenario, kind, "skipped", &unavailable.0, start.elapsed());
                continue;
            }
            Err(e) => {
                record(scenario, kind, "failed", &e.to_string(), start.elapsed());
                failures.push(format!("{kind}: {e}"));
                continue;
            }
        };
        let mut guard = PanicGuard {
            scenario,
            broker: kind,
            start,
            armed: true,
        };
        let outcome = if needs.process_control {
            let _exclusive = BROKER_FAULTS.write().await;
            tokio::time::timeout(timeout, f(broker)).await
        } else {
            let _shared = BROKER_FAULTS.read().await;
            tokio::time::timeout(timeout, f(broker)).await
        };
        guard.armed = false;
        match outcome {
            Ok(Ok(())) => record(scenario, kind, "passed", "", start.elapsed()),
            Ok(Err(e)) => {
                record(scenario, kind, "failed", &e.to_string(), start.elapsed());
                failures.push(format!("{kind}: {e}"));
            }
            Err(_) => {
                let why = format!("did not finish within {timeout:?}");
                record(scenario, kind, "failed", &why, start.elapsed());
                failures.push(format!("{kind}: {why}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "scenario {scenario} failed on {}",
        failures.join("; ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmet_needs_name_what_is_missing() {
        let needs = Needs {
            transaction_markers: true,
            ..Needs::NOTHING
        };
        let why = needs
            .unmet(BrokerKind::Tansu, BrokerKind::Tansu.capabilities())
            .unwrap();
        assert!(why.contains("tansu has no transactions"), "{why}");
        assert!(
            needs
                .unmet(BrokerKind::Docker, BrokerKind::Docker.capabilities())
                .is_none()
        );
    }

    #[test]
    fn unique_topics_differ() {
        assert_ne!(unique_topic("a b"), unique_topic("a b"));
        assert!(unique_topic("a b").starts_with("klamm-a-b-"));
    }
}
