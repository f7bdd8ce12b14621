//! `cargo xtask integration`: the scenario suites against each broker.
//!
//! # How the harness works
//! The scenarios live in the `klamm-integration` crate (`integration/`), in the test target
//! `broker_scenarios`. Each scenario is a function of a `BrokerUnderTest` (bootstrap address
//! plus capabilities such as `transactions` or `throttling`), and the same scenario runs once
//! per broker named in the environment variable `KLAMM_BROKERS`:
//!
//! * `mock` and `testkit` are **in-process**: the test itself starts a librdkafka mock cluster
//!   (`rdkafka::mocking::MockCluster`) or a klamm-testkit cluster, so it can also move leaders
//!   or inject faults. They are the default when `KLAMM_BROKERS` is unset, which is why plain
//!   `cargo test --workspace` exercises them.
//! * `tansu`, `kafka`, `docker` and `external` are **separate processes** that this xtask
//!   starts (or that already run) and whose bootstrap address it passes in
//!   `KLAMM_TANSU_BOOTSTRAP`, `KLAMM_KAFKA_BOOTSTRAP`, `KLAMM_DOCKER_BOOTSTRAP` or
//!   `KLAMM_EXTERNAL_BOOTSTRAP`. `kafka` is Apache Kafka itself, resolved from Maven Central
//!   and run as a 3-node KRaft cluster (see [`crate::kafka`]); it is skipped, with the
//!   reason, where `java` does not run.
//!
//! Each scenario appends its outcome (passed / failed / skipped with the reason) to
//! `$KLAMM_SCENARIO_REPORT/<broker>.jsonl`; the xtask reads those files to print the
//! scenario x broker table, and counts a broker whose scenarios were all skipped as
//! *skipped*, never as passed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::ui::{self, Status, StepReport, TestCounts};
use crate::{docker, kafka, tansu, workspace};

/// Environment variable naming the directory where scenarios write their outcomes.
pub const REPORT_ENV: &str = "KLAMM_SCENARIO_REPORT";
/// The crate holding the scenarios.
pub const CRATE: &str = "klamm-integration";
/// The test target holding the scenarios.
pub const TEST_TARGET: &str = "broker_scenarios";

/// A broker the scenarios can run against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broker {
    /// klamm-testkit, in-process.
    Testkit,
    /// tansu, a separate process installed under `target/tools/tansu`.
    Tansu,
    /// The librdkafka mock cluster, in-process.
    Mock,
    /// Apache Kafka from Maven Central, a 3-node KRaft cluster this xtask runs (needs Java).
    Kafka,
    /// Apache Kafka in a Docker container (Testcontainers), when an engine answers.
    Docker,
    /// An already running Kafka-compatible cluster.
    External(String),
}

impl Broker {
    /// The name used in `KLAMM_BROKERS` and in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Broker::Testkit => "testkit",
            Broker::Tansu => "tansu",
            Broker::Mock => "mock",
            Broker::Kafka => "kafka",
            Broker::Docker => "docker",
            Broker::External(_) => "external",
        }
    }
}

/// `--broker` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BrokerChoice {
    /// klamm-testkit (in-process).
    Testkit,
    /// tansu (installed on first use).
    Tansu,
    /// librdkafka mock cluster (in-process).
    Mock,
    /// Apache Kafka, a 3-node KRaft cluster on loopback (resolved with Maven, needs Java).
    Kafka,
    /// Apache Kafka via Testcontainers (needs a Docker engine).
    Docker,
    /// All of the above.
    All,
}

/// Options of `cargo xtask integration`.
#[derive(Debug, Clone, clap::Args)]
pub struct IntegrationArgs {
    /// Which broker(s) to run the scenarios against (repeatable; default: all, or none
    /// but the external one when --bootstrap is given).
    #[arg(long, value_enum)]
    pub broker: Vec<BrokerChoice>,
    /// Run against an already running Kafka cluster at HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap: Option<String>,
}

/// Runs `cargo xtask integration`; returns whether nothing failed.
pub fn run(args: &IntegrationArgs) -> Result<bool> {
    let start = ui::clock();
    let mut brokers = Vec::new();
    let choices = if args.broker.is_empty() && args.bootstrap.is_none() {
        vec![BrokerChoice::All]
    } else {
        args.broker.clone()
    };
    for choice in &choices {
        let add: &[Broker] = match choice {
            BrokerChoice::Testkit => &[Broker::Testkit],
            BrokerChoice::Tansu => &[Broker::Tansu],
            BrokerChoice::Mock => &[Broker::Mock],
            BrokerChoice::Kafka => &[Broker::Kafka],
            BrokerChoice::Docker => &[Broker::Docker],
            BrokerChoice::All => &[
                Broker::Testkit,
                Broker::Mock,
                Broker::Tansu,
                Broker::Kafka,
                Broker::Docker,
            ],
        };
        for b in add {
            if !brokers.contains(b) {
                brokers.push(b.clone());
            }
        }
    }
    if let Some(addr) = &args.bootstrap {
        brokers.push(Broker::External(addr.clone()));
    }
    let reports = run_brokers(&brokers)?;
    Ok(ui::summary("integration", &reports, start.elapsed()))
}

/// Runs the scenarios once per broker, bringing each external broker up and down around
/// its run. One report per broker.
pub fn run_brokers(brokers: &[Broker]) -> Result<Vec<StepReport>> {
    let mut reports = Vec::new();
    for broker in brokers {
        let t = ui::clock();
        let name = format!("integration/{}", broker.name());
        let report = match run_one(broker) {
            Ok(mut r) => {
                r.name = name;
                r.elapsed = t.elapsed();
                r
            }
            Err(e) => StepReport {
                name,
                status: Status::Failed(format!("{e:#}")),
                elapsed: t.elapsed(),
                tests: TestCounts::default(),
                detail: String::new(),
            },
        };
        reports.push(report);
    }
    Ok(reports)
}

fn run_one(broker: &Broker) -> Result<StepReport> {
    match broker {
        Broker::Mock | Broker::Testkit => run_scenarios(broker, &[]),
        Broker::External(addr) => run_scenarios(broker, &[("KLAMM_EXTERNAL_BOOTSTRAP", addr)]),
        Broker::Tansu => {
            let bin = tansu::ensure_installed()?;
            let running = tansu::start(&bin)?;
            let addr = running.bootstrap();
            let result = run_scenarios(broker, &[("KLAMM_TANSU_BOOTSTRAP", &addr)])
                .and_then(|report| with_net_interop(report, &TANSU_INTEROP, &addr));
            running.stop();
            result
        }
        Broker::Kafka => match kafka::java() {
            Err(why) => Ok(skipped(broker, why)),
            Ok(java) => {
                println!("kafka: {java}");
                let install = kafka::ensure_installed()?;
                let cluster = kafka::KafkaCluster::start(&install)?;
                let addr = cluster.bootstrap();
                let description = cluster.description().display().to_string();
                let result = run_scenarios(
                    broker,
                    &[
                        ("KLAMM_KAFKA_BOOTSTRAP", &addr),
                        (kafka::CLUSTER_ENV, &description),
                    ],
                )
                .and_then(|report| with_net_interop(report, &KAFKA_QUOTAS, &addr));
                cluster.stop();
                result
            }
        },
        Broker::Docker => match docker::engine() {
            Err(why) => Ok(skipped(broker, why)),
            Ok(engine) => {
                println!("Docker engine {engine} answered; starting apache/kafka (KRaft)");
                let kafka = docker::start_kafka()?;
                let addr = kafka.bootstrap().to_string();
                let result = run_scenarios(broker, &[("KLAMM_DOCKER_BOOTSTRAP", &addr)]);
                kafka.stop();
                result
            }
        },
    }
}

/// A klamm-net test target whose tests are `#[ignore]`d by plain `cargo test` because they
/// need a broker this step started: (test target, the variable holding its address, what it
/// checks).
struct NetInterop {
    target: &'static str,
    env: &'static str,
    what: &'static str,
}

/// klamm-net's own test against tansu (`net/tests/tansu.rs`: ApiVersions, CreateTopics,
/// Metadata, Produce).
const TANSU_INTEROP: NetInterop = NetInterop {
    target: "tansu",
    env: "KLAMM_TANSU_BOOTSTRAP",
    what: "klamm-net against tansu",
};

/// klamm-net's client quota test against Apache Kafka (`net/tests/client_quotas.rs`:
/// AlterClientQuotas / DescribeClientQuotas, a quota that throttles one client id only).
const KAFKA_QUOTAS: NetInterop = NetInterop {
    target: "client_quotas",
    env: "KLAMM_KAFKA_BOOTSTRAP",
    what: "klamm-net client quotas on Apache Kafka",
};

/// Runs the ignored tests of `interop` against `addr`; their outcome joins the scenario
/// report.
fn with_net_interop(
    mut report: StepReport,
    interop: &NetInterop,
    addr: &str,
) -> Result<StepReport> {
    let pb = ui::spinner(interop.what);
    let mut cmd = workspace::cargo();
    cmd.args([
        "test",
        "--workspace",
        "--test",
        interop.target,
        "--",
        "--ignored",
    ])
    .env(interop.env, addr);
    ui::say(
        &pb,
        &format!("--> {}={addr} {}", interop.env, ui::describe(&cmd)),
    );
    let out = ui::run_streaming(&pb, cmd)?;
    pb.finish_and_clear();
    report.tests.passed += out.tests.passed;
    report.tests.failed += out.tests.failed;
    report.detail = format!(
        "{}; {}: {} passed, {} failed",
        report.detail, interop.what, out.tests.passed, out.tests.failed
    );
    if !out.success || out.tests.passed == 0 {
        let why = if out.success {
            format!("{} (`--test {}`) did not run", interop.what, interop.target)
        } else {
            format!("{} (`--test {}`) failed", interop.what, interop.target)
        };
        report.status = match report.status {
            Status::Failed(earlier) => Status::Failed(format!("{earlier}; {why}")),
            _ => Status::Failed(why),
        };
    }
    Ok(report)
}

fn skipped(broker: &Broker, why: String) -> StepReport {
    println!("integration/{}: skipped: {why}", broker.name());
    StepReport {
        name: String::new(),
        status: Status::Skipped(why),
        elapsed: Default::default(),
        tests: TestCounts::default(),
        detail: String::new(),
    }
}

/// Runs the scenario target with `KLAMM_BROKERS=<broker>` and the extra environment.
fn run_scenarios(broker: &Broker, env: &[(&str, &str)]) -> Result<StepReport> {
    let name = broker.name();
    let members = workspace::members()?;
    let Some(pkg) = workspace::find(&members, CRATE) else {
        anyhow::bail!("the `{CRATE}` crate is missing from the workspace members");
    };
    if !pkg.has("test", TEST_TARGET) {
        anyhow::bail!("`{CRATE}` has no test target `{TEST_TARGET}`");
    }
    let dir = fresh_report_dir(name)?;
    let pb = ui::spinner(&format!("scenarios on {name}"));
    let mut cmd = workspace::cargo();
    // `--workspace` keeps the feature set identical to `cargo test --workspace`, so
    // nothing is rebuilt; `--test` picks only the scenario target.
    // `--show-output`: scenarios print what they observed (faults injected, throttles seen)
    // even when they pass.
    cmd.args([
        "test",
        "--workspace",
        "--test",
        TEST_TARGET,
        "--",
        "--show-output",
    ])
    .env("KLAMM_BROKERS", name)
    .env(REPORT_ENV, &dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    ui::say(
        &pb,
        &format!(
            "--> KLAMM_BROKERS={name} {}{}",
            env.iter()
                .map(|(k, v)| format!("{k}={v} "))
                .collect::<String>(),
            ui::describe(&cmd)
        ),
    );
    let out = ui::run_streaming(&pb, cmd)?;
    pb.finish_and_clear();
    let table = ScenarioTable::load(&dir);
    table.print();
    let counts = table.counts(name);
    let detail = format!(
        "scenarios: {} passed, {} failed, {} skipped",
        counts.passed, counts.failed, counts.skipped
    );
    let status = if !out.success {
        let crates = crate::ci::crates_that_failed(&out.lines);
        if crates.is_empty() {
            Status::Failed(format!(
                "scenario(s) failed on {name}: {}; rerun with `cargo xtask integration --broker {name}`",
                table.failed(name).join(", ")
            ))
        } else {
            Status::Failed(format!("did not compile: {}", crates.join(", ")))
        }
    } else if counts.total() == 0 {
        Status::Failed(format!(
            "no scenario reported an outcome on {name}: the harness did not run \
             (check that {REPORT_ENV} reaches the tests)"
        ))
    } else if counts.passed == 0 && counts.failed == 0 {
        Status::Skipped(format!(
            "every scenario skipped on {name}: {}",
            table.skip_reasons(name).join("; ")
        ))
    } else {
        Status::Passed
    };
    // Count scenario outcomes, not libtest's: a libtest test whose scenario was skipped on
    // this broker "passes" in libtest, but it is a skip here.
    let tests = TestCounts {
        passed: counts.passed,
        failed: counts.failed.max(out.tests.failed),
        ignored: counts.skipped,
    };
    Ok(StepReport {
        name: String::new(),
        status,
        elapsed: Default::default(),
        tests,
        detail,
    })
}

/// A new, empty directory for scenario outcomes, under `target/klamm-scenarios/<label>`.
pub fn fresh_report_dir(label: &str) -> Result<PathBuf> {
    let dir = workspace::target_dir().join("klamm-scenarios").join(label);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// One scenario outcome as written by the harness.
#[derive(Debug, Clone)]
struct Outcome {
    outcome: String,
    reason: String,
}

/// Scenario x broker outcomes read from a report directory.
#[derive(Debug, Default)]
pub struct ScenarioTable {
    cells: BTreeMap<String, BTreeMap<String, Outcome>>,
    brokers: Vec<String>,
}

/// Counts of scenario outcomes.
#[derive(Debug, Default, Clone, Copy)]
pub struct ScenarioCounts {
    /// Passed.
    pub passed: u64,
    /// Failed.
    pub failed: u64,
    /// Skipped (capability missing or broker unavailable).
    pub skipped: u64,
}

impl ScenarioCounts {
    fn total(&self) -> u64 {
        self.passed + self.failed + self.skipped
    }
}

impl ScenarioTable {
    /// Reads every `*.jsonl` file in `dir` (missing or malformed lines are ignored).
    pub fn load(dir: &Path) -> Self {
        let mut table = ScenarioTable::default();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return table;
        };
        let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for path in files {
            if path.extension().is_some_and(|e| e == "jsonl") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                table.add_jsonl(&text);
            }
        }
        table
    }

    fn add_jsonl(&mut self, text: &str) {
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let (Some(scenario), Some(broker), Some(outcome)) = (
                v["scenario"].as_str(),
                v["broker"].as_str(),
                v["outcome"].as_str(),
            ) else {
                continue;
            };
            if !self.brokers.iter().any(|b| b == broker) {
                self.brokers.push(broker.to_string());
            }
            self.cells.entry(scenario.to_string()).or_default().insert(
                broker.to_string(),
                Outcome {
                    outcome: outcome.to_string(),
                    reason: v["reason"].as_str().unwrap_or_default().to_string(),
                },
            );
        }
    }

    /// Whether nothing was reported.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Counts for one broker.
    pub fn counts(&self, broker: &str) -> ScenarioCounts {
        let mut c = ScenarioCounts::default();
        for row in self.cells.values() {
            match row.get(broker).map(|o| o.outcome.as_str()) {
                Some("passed") => c.passed += 1,
                Some("failed") => c.failed += 1,
                Some(_) => c.skipped += 1,
                None => {}
            }
        }
        c
    }

    fn failed(&self, broker: &str) -> Vec<String> {
        self.cells
            .iter()
            .filter(|(_, row)| row.get(broker).is_some_and(|o| o.outcome == "failed"))
            .map(|(s, _)| s.clone())
            .collect()
    }

    fn skip_reasons(&self, broker: &str) -> Vec<String> {
        let mut reasons: Vec<String> = self
            .cells
            .values()
            .filter_map(|row| row.get(broker))
            .filter(|o| o.outcome == "skipped")
            .map(|o| o.reason.clone())
            .collect();
        reasons.sort();
        reasons.dedup();
        reasons
    }

    /// `mock 3/4 passed, testkit 0/4 (skipped)`.
    pub fn brief(&self) -> String {
        self.brokers
            .iter()
            .map(|b| {
                let c = self.counts(b);
                format!(
                    "{b} {} passed/{} skipped/{} failed",
                    c.passed, c.skipped, c.failed
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Prints the scenario x broker table with skip reasons underneath.
    pub fn print(&self) {
        if self.is_empty() {
            return;
        }
        let w = self.cells.keys().map(String::len).max().unwrap_or(8).max(8);
        let mut head = format!("  {:w$}", "scenario");
        for b in &self.brokers {
            head.push_str(&format!("  {b:>8}"));
        }
        println!("{head}");
        let mut notes = Vec::new();
        for (scenario, row) in &self.cells {
            let mut line = format!("  {scenario:w$}");
            for b in &self.brokers {
                let cell = match row.get(b) {
                    Some(o) if o.outcome == "passed" => "pass",
                    Some(o) if o.outcome == "failed" => "FAIL",
                    Some(o) => {
                        notes.push(format!("{scenario} on {b}: {}", o.reason));
                        "skip"
                    }
                    None => "-",
                };
                line.push_str(&format!("  {cell:>8}"));
            }
            println!("{line}");
        }
        for n in notes {
            println!("    skipped: {n}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_outcomes_per_broker() {
        let mut t = ScenarioTable::default();
        t.add_jsonl(
            r#"{"scenario":"roundtrip","broker":"mock","outcome":"passed","reason":""}
{"scenario":"txn","broker":"mock","outcome":"skipped","reason":"no markers"}
{"scenario":"txn","broker":"tansu","outcome":"failed","reason":"boom"}
not json"#,
        );
        let m = t.counts("mock");
        assert_eq!((m.passed, m.failed, m.skipped), (1, 0, 1));
        let ta = t.counts("tansu");
        assert_eq!((ta.passed, ta.failed, ta.skipped), (0, 1, 0));
        assert_eq!(t.failed("tansu"), vec!["txn".to_string()]);
        assert_eq!(t.skip_reasons("mock"), vec!["no markers".to_string()]);
    }
}
