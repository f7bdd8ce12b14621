//! Peer drivers: Klamm's perf example next to small benchmark programs on other Kafka clients
//! (`bench/peers/`), run with the same flags against the same broker, compared in one table.
//!
//! * `cargo xtask peers smoke [--bootstrap HOST:PORT]` — builds every driver and runs each
//!   once with 5,000 records of 100 B (acks=all, linger 5 ms, idempotence on); fails when a
//!   driver does not build, does not deliver every record, or prints no summary. A driver
//!   whose toolchain is missing (no `go`, `java` or `mvn`) is reported as skipped, with the
//!   reason. Without `--bootstrap` it runs [`ci_smoke`]: on an Apache Kafka cluster of its
//!   own, as `cargo xtask ci` does.
//! * `cargo xtask peers run --bootstrap HOST:PORT [--clients klamm,franz,..] [perf flags]` —
//!   the same with any flags of the perf example, for real measurements.
//! * `cargo xtask peers build [CLIENT..]` — builds the drivers and prints their versions.
//!
//! The drivers: Klamm's perf example, librdkafka (`klamm-bench perf`, rust-rdkafka), the Java
//! client (`bench/peers/java`), Kafka's own `ProducerPerformance`, franz-go and sarama.
//!
//! Each driver runs as a child process; its CPU time and peak RSS are measured by the xtask
//! (see [`mod@measure`]), its throughput and latency come from its own summary line (see
//! [`summary`]). The broker is the caller's choice for these commands; [`brokers`] starts one
//! for `cargo xtask bench producer --broker ...` and for [`ci_smoke`] (the smoke run on a
//! fresh Apache Kafka cluster that `cargo xtask ci` runs).

mod brokers;
mod build;
mod measure;
mod summary;

pub use brokers::{BrokerKind, PeerBroker};
pub use build::{Built, Prepared, cargo_release as build_release, go_peer_with as build_go_peer};
pub use measure::run as measure;
pub use summary::Summary;

use std::fmt;
use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use clap::{ArgAction, Subcommand};

use crate::ui::{self, Status, StepReport, TestCounts};

/// `cargo xtask peers ...`.
#[derive(Debug, clap::Args)]
pub struct PeersArgs {
    #[command(subcommand)]
    command: PeersCmd,
}

#[derive(Debug, Subcommand)]
enum PeersCmd {
    /// Build every driver and run each with 5,000 records of 100 B against a broker.
    Smoke {
        /// The broker(s) to produce to, HOST:PORT[,..]; without it, a fresh Apache Kafka
        /// cluster is started for the run and stopped after it (what `cargo xtask ci` does).
        #[arg(long)]
        bootstrap: Option<String>,
        /// The topic (auto-created by the broker if missing).
        #[arg(long, default_value = "klamm-peers-smoke")]
        topic: String,
    },
    /// Run drivers with the perf example's flags and compare them.
    Run(RunArgs),
    /// Build the drivers (all, or the ones named) and print the client versions.
    Build {
        /// Drivers to build (default: all).
        #[arg(value_enum)]
        clients: Vec<Client>,
    },
    /// (internal) Run a driver, wait for it and report its CPU time and peak RSS.
    #[command(hide = true)]
    Rusage {
        /// The program and its arguments, after `--`.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<std::ffi::OsString>,
    },
}

/// `cargo xtask peers run`.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The broker(s) to produce to, HOST:PORT[,..].
    #[arg(long)]
    bootstrap: String,
    /// Drivers to run, in this order (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    clients: Vec<Client>,
    /// A driver still running after this many seconds is killed and fails.
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,
    #[command(flatten)]
    perf: PerfArgs,
}

/// A benchmark driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    /// Klamm's own perf example (`producer/examples/perf.rs`).
    Klamm,
    /// librdkafka through rust-rdkafka's `ThreadedProducer` (`klamm-bench perf`).
    Rdkafka,
    /// `bench/peers/java`: PerfDriver on the Apache Kafka Java client.
    Java,
    /// Kafka's own `ProducerPerformance` (kafka-producer-perf-test) from the same class path.
    JavaPerfTest,
    /// `bench/peers/franz`: franz-go (pkg/kgo).
    Franz,
    /// `bench/peers/sarama`: IBM/sarama's AsyncProducer.
    Sarama,
}

impl Client {
    /// Every driver, in the order the table lists them.
    pub const ALL: [Client; 6] = [
        Client::Klamm,
        Client::Rdkafka,
        Client::Java,
        Client::JavaPerfTest,
        Client::Franz,
        Client::Sarama,
    ];

    /// Builds the driver (or finds it fresh in the cache).
    pub fn prepare(self, pb: &indicatif::ProgressBar) -> Result<Prepared> {
        match self {
            Client::Klamm => build::klamm(pb),
            Client::Rdkafka => build::rdkafka(pb),
            Client::Java => build::java_peer(pb, "klamm.peers.PerfDriver"),
            Client::JavaPerfTest => {
                build::java_peer(pb, "org.apache.kafka.tools.ProducerPerformance")
            }
            Client::Franz => build::go_peer(pb, "franz", "franz-perf", "github.com/twmb/franz-go"),
            Client::Sarama => build::go_peer(pb, "sarama", "sarama-perf", "github.com/IBM/sarama"),
        }
    }

    /// The command that runs the built driver with `perf` against `bootstrap`.
    fn command(self, built: &Built, bootstrap: &str, perf: &PerfArgs) -> Command {
        let mut cmd = Command::new(&built.program);
        cmd.args(&built.leading);
        match self {
            Client::JavaPerfTest => cmd.args(perf.producer_performance_flags(bootstrap)),
            _ => cmd.args(perf.flags(bootstrap)),
        };
        cmd
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Client::Klamm => "klamm",
            Client::Rdkafka => "rdkafka",
            Client::Java => "java",
            Client::JavaPerfTest => "java-perf-test",
            Client::Franz => "franz",
            Client::Sarama => "sarama",
        })
    }
}

/// The flags of Klamm's perf example, which every driver accepts.
#[derive(Debug, Clone, clap::Args)]
pub struct PerfArgs {
    /// Topic to produce to.
    #[arg(long, default_value = "klamm-peers")]
    pub topic: String,
    /// Records to send.
    #[arg(long, default_value_t = 1_000_000)]
    pub num_records: u64,
    /// Value size in bytes (records have no key).
    #[arg(long, default_value_t = 100)]
    pub record_size: usize,
    /// Target records per second; -1 for as fast as possible.
    #[arg(long, default_value_t = -1.0, allow_hyphen_values = true)]
    pub throughput: f64,
    /// all, 1 or 0.
    #[arg(long, default_value = "all", value_parser = ["all", "1", "0"])]
    pub acks: String,
    /// none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none", value_parser = ["none", "gzip", "snappy", "lz4", "zstd"])]
    pub compression: String,
    /// How long a batch may wait for more records.
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    /// Batch size target in bytes.
    #[arg(long, default_value_t = 16_384)]
    pub batch_size: usize,
    /// true or false.
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    pub idempotence: bool,
}

impl PerfArgs {
    /// The smoke run: 5,000 records of 100 B, acks=all, linger 5 ms, idempotent.
    pub fn smoke(topic: &str) -> Self {
        PerfArgs {
            topic: topic.to_string(),
            num_records: 5_000,
            record_size: 100,
            throughput: -1.0,
            acks: "all".into(),
            compression: "none".into(),
            linger_ms: 5,
            batch_size: 16_384,
            idempotence: true,
        }
    }

    /// The command line of perf.rs (and of every peer built here).
    pub fn flags(&self, bootstrap: &str) -> Vec<String> {
        [
            ("--bootstrap", bootstrap.to_string()),
            ("--topic", self.topic.clone()),
            ("--num-records", self.num_records.to_string()),
            ("--record-size", self.record_size.to_string()),
            ("--throughput", self.throughput.to_string()),
            ("--acks", self.acks.clone()),
            ("--compression", self.compression.clone()),
            ("--linger-ms", self.linger_ms.to_string()),
            ("--batch-size", self.batch_size.to_string()),
            ("--idempotence", self.idempotence.to_string()),
        ]
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_string(), value])
        .collect()
    }

    /// The same settings in `ProducerPerformance`'s syntax, with `--print-metrics` so that
    /// its error count (`record-error-total`) can be read.
    pub fn producer_performance_flags(&self, bootstrap: &str) -> Vec<String> {
        let mut f: Vec<String> = [
            "--topic",
            &self.topic,
            "--num-records",
            &self.num_records.to_string(),
            "--record-size",
            &self.record_size.to_string(),
            "--throughput",
            &self.throughput.to_string(),
            "--print-metrics",
            "--producer-props",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        f.extend([
            format!("bootstrap.servers={bootstrap}"),
            format!("acks={}", self.acks),
            format!("compression.type={}", self.compression),
            format!("linger.ms={}", self.linger_ms),
            format!("batch.size={}", self.batch_size),
            format!("enable.idempotence={}", self.idempotence),
        ]);
        f
    }
}

/// One driver's run: what it printed and what it cost.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The driver.
    pub client: Client,
    /// Client library and version, once built.
    pub version: Option<String>,
    /// Passed, failed (with the reason) or skipped (with the reason).
    pub status: Status,
    /// Its summary line, when it printed one.
    pub summary: Option<Summary>,
    /// User + system CPU time of the driver process.
    pub cpu: Option<Duration>,
    /// Peak resident set of the driver process, in bytes.
    pub peak_rss: Option<u64>,
    /// Wall time of the run (build excluded).
    pub wall: Duration,
}

impl Outcome {
    fn not_run(client: Client, version: Option<String>, status: Status) -> Self {
        Outcome {
            client,
            version,
            status,
            summary: None,
            cpu: None,
            peak_rss: None,
            wall: Duration::ZERO,
        }
    }
}

/// Whether a run delivered: exited 0, printed a summary with every record and no errors.
fn verdict(m: &measure::Measured, s: Option<&Summary>, perf: &PerfArgs) -> Status {
    let Some(s) = s else {
        return Status::Failed(if m.timed_out {
            "killed at the timeout before printing a summary".into()
        } else {
            format!("printed no parsable summary line (exit {:?})", m.code)
        });
    };
    if m.timed_out {
        Status::Failed("killed at the timeout".into())
    } else if s.records != perf.num_records {
        Status::Failed(format!(
            "{} of {} records completed",
            s.records, perf.num_records
        ))
    } else if s.errors.is_none() {
        Status::Failed("printed no error count".into())
    } else if s.errors != Some(0) {
        Status::Failed(format!("{} records failed", s.errors.unwrap_or(0)))
    } else if !m.success {
        Status::Failed(format!("exited with {:?}", m.code))
    } else {
        Status::Passed
    }
}

/// Builds `client` (or finds it fresh in the cache); the error is the outcome to report
/// instead of a run (skipped: a toolchain is missing; failed: the build failed).
pub fn prepare(client: Client) -> std::result::Result<Built, Box<Outcome>> {
    let pb = ui::spinner(&format!("{client}: building"));
    let prepared = client.prepare(&pb);
    pb.finish_and_clear();
    match prepared {
        Ok(Prepared::Ready(b)) => Ok(b),
        Ok(Prepared::Skipped(why)) => Err(Box::new(Outcome::not_run(
            client,
            None,
            Status::Skipped(why),
        ))),
        Err(e) => Err(Box::new(Outcome::not_run(
            client,
            None,
            Status::Failed(format!("build: {e:#}")),
        ))),
    }
}

/// Runs the built `client` once with `perf` against `bootstrap`.
pub fn run_built(
    client: Client,
    built: &Built,
    bootstrap: &str,
    perf: &PerfArgs,
    timeout: Duration,
) -> Outcome {
    let pb = ui::spinner(&format!("{client}: producing {} records", perf.num_records));
    ui::say(&pb, &format!("{client}: {}", built.version));
    let cmd = client.command(built, bootstrap, perf);
    ui::say(&pb, &format!("--> {}", ui::describe(&cmd)));
    let measured = measure::run(&pb, &format!("[{client}] "), cmd, timeout);
    pb.finish_and_clear();
    let version = Some(built.version.clone());
    let m = match measured {
        Ok(m) => m,
        Err(e) => return Outcome::not_run(client, version, Status::Failed(format!("{e:#}"))),
    };
    let summary = summary::parse_output(&m.lines);
    Outcome {
        client,
        version,
        status: verdict(&m, summary.as_ref(), perf),
        summary,
        cpu: m.cpu,
        peak_rss: m.peak_rss,
        wall: m.wall,
    }
}

/// Builds `client` and runs it once with `perf` against `bootstrap`.
pub fn run_client(client: Client, bootstrap: &str, perf: &PerfArgs, timeout: Duration) -> Outcome {
    match prepare(client) {
        Ok(built) => run_built(client, &built, bootstrap, perf, timeout),
        Err(outcome) => *outcome,
    }
}

/// Runs every driver in `clients` (in order) against `bootstrap`, prints the comparison table
/// and the closing summary, and returns whether none failed (skipped drivers do not fail).
pub fn compare(
    what: &str,
    bootstrap: &str,
    clients: &[Client],
    perf: &PerfArgs,
    timeout: Duration,
) -> bool {
    let total = ui::clock();
    let outcomes = run_each(bootstrap, clients, perf, timeout, &|| None);
    print_table(&outcomes, perf);
    ui::summary(what, &reports("", &outcomes), total.elapsed())
}

/// Runs every driver in `clients` (in order) once against `bootstrap`; a driver whose turn
/// comes after `gone` says the broker died fails with that reason instead of running.
fn run_each(
    bootstrap: &str,
    clients: &[Client],
    perf: &PerfArgs,
    timeout: Duration,
    gone: &dyn Fn() -> Option<String>,
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for (i, &client) in clients.iter().enumerate() {
        if let Some(why) = gone() {
            let why = format!("not run: the broker is gone: {why}");
            outcomes.push(Outcome::not_run(client, None, Status::Failed(why)));
            continue;
        }
        ui::header(
            i + 1,
            clients.len(),
            &client.to_string(),
            &format!(
                "{} records of {} B to {} at {bootstrap}",
                perf.num_records, perf.record_size, perf.topic
            ),
        );
        outcomes.push(run_client(client, bootstrap, perf, timeout));
    }
    outcomes
}

/// One summary row per driver, named `<prefix><client>`, with its version as the detail.
fn reports(prefix: &str, outcomes: &[Outcome]) -> Vec<StepReport> {
    outcomes
        .iter()
        .map(|o| StepReport {
            name: format!("{prefix}{}", o.client),
            status: o.status.clone(),
            elapsed: o.wall,
            tests: TestCounts::default(),
            detail: o.version.clone().unwrap_or_default(),
        })
        .collect()
}

/// The CI smoke step: starts an Apache Kafka cluster (3 KRaft nodes), creates the smoke
/// topic (6 partitions, replication factor 3), runs every driver once with the smoke
/// settings and stops the cluster. One report per driver (`peers-smoke/<client>`): failed
/// when it did not build or deliver, skipped with the reason when its toolchain is missing;
/// a single skipped report when `java` is missing (no Kafka), a single failed one when the
/// cluster could not be set up.
pub fn ci_smoke() -> Vec<StepReport> {
    let started = ui::clock();
    let single = |status| {
        vec![StepReport {
            name: "peers-smoke".into(),
            status,
            elapsed: started.elapsed(),
            tests: TestCounts::default(),
            detail: String::new(),
        }]
    };
    if let Some(why) = BrokerKind::Kafka.unavailable() {
        return single(Status::Skipped(format!(
            "no Apache Kafka to run against: {why}"
        )));
    }
    let pb = ui::spinner("peers-smoke: starting Apache Kafka");
    let topic = "klamm-peers-smoke";
    let setup = PeerBroker::start(BrokerKind::Kafka, &pb).and_then(|mut broker| {
        broker.fresh_topic(topic, 6, &pb)?;
        Ok(broker)
    });
    pb.finish_and_clear();
    let broker = match setup {
        Ok(b) => b,
        Err(e) => return single(Status::Failed(format!("setting up Apache Kafka: {e:#}"))),
    };
    let perf = PerfArgs::smoke(topic);
    // 5,000 records take seconds; two minutes is for a JVM on a loaded machine.
    let outcomes = run_each(
        &broker.bootstrap(),
        &Client::ALL,
        &perf,
        Duration::from_secs(120),
        &|| broker.gone(),
    );
    broker.stop();
    print_table(&outcomes, &perf);
    reports("peers-smoke/", &outcomes)
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.decimals$}"))
}

/// The comparison table: one row per driver (latency is from the send call to the
/// acknowledgement, as each driver measured it).
fn print_table(outcomes: &[Outcome], perf: &PerfArgs) {
    println!();
    println!(
        "{} records of {} B, acks={}, compression={}, linger {} ms, batch {} B, idempotence {}:",
        perf.num_records,
        perf.record_size,
        perf.acks,
        perf.compression,
        perf.linger_ms,
        perf.batch_size,
        perf.idempotence
    );
    println!(
        "  {:<15} {:>11} {:>8} {:>9} {:>9} {:>9} {:>14} {:>13} {:>7}  status",
        "client",
        "records/s",
        "MB/s",
        "avg ms",
        "p50 ms",
        "p99 ms",
        "CPU s/M rec",
        "peak RSS MiB",
        "errors"
    );
    for o in outcomes {
        let s = o.summary.as_ref();
        let cpu_per_million = match (o.cpu, s) {
            (Some(cpu), Some(s)) if s.records > 0 => {
                Some(cpu.as_secs_f64() / s.records as f64 * 1e6)
            }
            _ => None,
        };
        let status = match &o.status {
            Status::Passed => "ok",
            Status::Failed(_) => "FAILED",
            Status::Skipped(_) => "skipped",
        };
        println!(
            "  {:<15} {:>11} {:>8} {:>9} {:>9} {:>9} {:>14} {:>13} {:>7}  {status}",
            o.client.to_string(),
            opt(s.map(|s| s.records_per_sec), 1),
            opt(s.map(|s| s.mb_per_sec), 2),
            opt(s.map(|s| s.avg_ms), 2),
            opt(s.map(|s| s.p50_ms), 2),
            opt(s.map(|s| s.p99_ms), 2),
            opt(cpu_per_million, 2),
            opt(o.peak_rss.map(|b| b as f64 / (1024.0 * 1024.0)), 1),
            s.and_then(|s| s.errors)
                .map_or("-".to_string(), |e| e.to_string()),
        );
    }
}

/// `cargo xtask peers smoke` against `bootstrap`: every driver once with the smoke settings.
pub fn smoke(bootstrap: &str, topic: &str) -> bool {
    compare(
        "peers smoke",
        bootstrap,
        &Client::ALL,
        &PerfArgs::smoke(topic),
        Duration::from_secs(300),
    )
}

/// Builds `clients` (all when empty) and prints each version; false if a build failed.
fn build_only(clients: &[Client]) -> bool {
    let mut ok = true;
    for &client in if clients.is_empty() {
        &Client::ALL[..]
    } else {
        clients
    } {
        let pb = ui::spinner(&format!("{client}: building"));
        let result = client.prepare(&pb);
        pb.finish_and_clear();
        match result {
            Ok(Prepared::Ready(b)) => println!("{client}: {} ({})", b.version, b.program.display()),
            Ok(Prepared::Skipped(why)) => println!("{client}: skipped: {why}"),
            Err(e) => {
                ok = false;
                println!("{client}: FAILED: {e:#}");
            }
        }
    }
    ok
}

/// Entry point of `cargo xtask peers`.
pub fn run(args: &PeersArgs) -> Result<bool> {
    Ok(match &args.command {
        PeersCmd::Smoke {
            bootstrap: Some(bootstrap),
            topic,
        } => smoke(bootstrap, topic),
        PeersCmd::Smoke {
            bootstrap: None, ..
        } => {
            let started = ui::clock();
            ui::summary("peers smoke", &ci_smoke(), started.elapsed())
        }
        PeersCmd::Run(a) => {
            let clients = if a.clients.is_empty() {
                &Client::ALL[..]
            } else {
                &a.clients
            };
            compare(
                "peers run",
                &a.bootstrap,
                clients,
                &a.perf,
                Duration::from_secs(a.timeout_secs),
            )
        }
        PeersCmd::Build { clients } => build_only(clients),
        PeersCmd::Rusage { command } => {
            let status = measure::wrapper(command)?;
            // Pass the driver's exit code on (2 is a usage error for every driver).
            if let Some(code) = status.code().filter(|&c| c != 0) {
                std::process::exit(code);
            }
            status.success()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_driver_gets_the_same_settings() {
        let p = PerfArgs::smoke("t");
        let flags = p.flags("h:1");
        assert_eq!(
            flags.join(" "),
            "--bootstrap h:1 --topic t --num-records 5000 --record-size 100 --throughput -1 \
             --acks all --compression none --linger-ms 5 --batch-size 16384 --idempotence true"
        );
        let pp = p.producer_performance_flags("h:1").join(" ");
        assert!(
            pp.starts_with("--topic t --num-records 5000 --record-size 100 --throughput -1"),
            "{pp}"
        );
        for prop in [
            "bootstrap.servers=h:1",
            "acks=all",
            "compression.type=none",
            "linger.ms=5",
            "batch.size=16384",
            "enable.idempotence=true",
        ] {
            assert!(pp.contains(prop), "{pp} lacks {prop}");
        }
    }

    fn measured(success: bool) -> measure::Measured {
        measure::Measured {
            success,
            code: Some(if success { 0 } else { 1 }),
            timed_out: false,
            lines: Vec::new(),
            wall: Duration::from_secs(1),
            cpu: None,
            peak_rss: None,
        }
    }

    #[test]
    fn a_run_passes_only_with_every_record_and_no_error() {
        let perf = PerfArgs::smoke("t");
        let line = "5000 records sent, 4712.5 records/sec (0.45 MB/sec), 12.30 ms avg latency, \
            80.00 ms max latency, 9.10 ms 50th, 30.20 ms 95th, 70.00 ms 99th, 80.00 ms 99.9th.";
        let s = summary::parse_summary_line(line).unwrap();
        let with = |errors| Summary {
            errors,
            ..s.clone()
        };
        assert_eq!(
            verdict(&measured(true), Some(&with(Some(0))), &perf),
            Status::Passed
        );
        assert!(matches!(
            verdict(&measured(true), None, &perf),
            Status::Failed(_)
        ));
        assert!(matches!(
            verdict(&measured(true), Some(&with(None)), &perf),
            Status::Failed(_)
        ));
        assert!(matches!(
            verdict(&measured(false), Some(&with(Some(2))), &perf),
            Status::Failed(_)
        ));
        assert!(matches!(
            verdict(&measured(false), Some(&with(Some(0))), &perf),
            Status::Failed(_)
        ));
        let short = Summary {
            records: 4999,
            ..with(Some(0))
        };
        assert!(matches!(
            verdict(&measured(true), Some(&short), &perf),
            Status::Failed(_)
        ));
    }
}
