//! `cargo xtask bench [protocol|producer|txn|pool|all] [--quick]`.
//!
//! Runs the criterion benches of each selected crate (whatever bench targets
//! `cargo metadata` lists for it, so new benches are picked up without touching this file),
//! then reads criterion's own results (`target/criterion/**/new/{benchmark,estimates}.json`)
//! and prints one table with time, throughput and the ratio between Klamm and its peer
//! (kafka-protocol, rdkafka, the anti-pattern ...) measured in the same group.
//! Areas whose crate has no bench target yet are reported as "not yet", never as passed.
//!
//! `cargo xtask bench producer` without `--broker` runs klamm-producer's criterion benches and
//! then the `klamm-bench` comparison with librdkafka on in-process brokers (issue 6), as it
//! always did. With `--broker testkit|kafka|all` it runs instead the comparison with every
//! peer client (librdkafka, the Java client, Kafka's ProducerPerformance, franz-go, sarama)
//! against that broker, see [`vs_peers`] (`--records N`, default 1,000,000, or 100,000 with
//! `--quick`; `--rounds R`, default 3). `cargo xtask bench all --broker ...` runs every
//! area's benches as above and adds the peer comparison at the end.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use anyhow::{Result, bail};

use crate::peers::BrokerKind;
use crate::ui::{self, Status, StepReport, TestCounts};
use crate::workspace;

mod seeds;
mod vs_peers;

/// Which benchmarks to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Area {
    /// klamm-protocol: RecordBatch encode/decode vs kafka-protocol.
    Protocol,
    /// klamm-producer: records/s vs rdkafka's ThreadedProducer.
    Producer,
    /// klamm-txn: transactions/s vs rdkafka's transactional producer.
    Txn,
    /// klamm-pool: the pool vs a producer per request.
    Pool,
    /// The seed failure on Apache Kafka: sarama's producer per request (built with -race)
    /// beside Klamm's orders service (needs Java, Maven and Go; not part of `all`).
    Seeds,
    /// Everything above but `seeds`.
    All,
}

impl Area {
    fn crate_name(self) -> &'static str {
        match self {
            Area::Protocol => "klamm-protocol",
            Area::Producer => "klamm-producer",
            Area::Txn => "klamm-txn",
            Area::Pool => "klamm-pool",
            Area::Seeds | Area::All => "",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Area::Protocol => "protocol",
            Area::Producer => "producer",
            Area::Txn => "txn",
            Area::Pool => "pool",
            Area::Seeds => "seeds",
            Area::All => "all",
        }
    }
}

/// Options of `cargo xtask bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Which area to benchmark.
    #[arg(value_enum, default_value = "all")]
    pub area: Area,
    /// A short run (passes `--quick` to every bench: criterion's quick mode; 100,000
    /// records per run in the peer comparison).
    #[arg(long)]
    pub quick: bool,
    /// Compare Klamm with every peer client against this broker (with `producer`, instead
    /// of the criterion and in-process rdkafka benches; with `all`, in addition to them).
    #[arg(long, value_enum)]
    pub broker: Option<PeerBrokers>,
    /// Records per client run in the peer comparison (default 1,000,000; 100,000 with
    /// `--quick`).
    #[arg(long, requires = "broker")]
    pub records: Option<u64>,
    /// Rounds of the peer comparison (default 3; the medians want at least 3).
    #[arg(long, requires = "broker")]
    pub rounds: Option<usize>,
}

/// The brokers of the peer comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PeerBrokers {
    /// klamm-testkit (release build, in memory, 3 brokers).
    Testkit,
    /// Apache Kafka 4.1.1, 3 KRaft nodes on loopback.
    Kafka,
    /// The testkit, then Kafka.
    All,
}

impl PeerBrokers {
    fn kinds(self) -> Vec<BrokerKind> {
        match self {
            PeerBrokers::Testkit => vec![BrokerKind::Testkit],
            PeerBrokers::Kafka => vec![BrokerKind::Kafka],
            PeerBrokers::All => vec![BrokerKind::Testkit, BrokerKind::Kafka],
        }
    }
}

/// The peer comparison's plan from the arguments.
fn peer_plan(args: &BenchArgs, brokers: PeerBrokers) -> Result<vs_peers::Plan> {
    let records = args
        .records
        .unwrap_or(if args.quick { 100_000 } else { 1_000_000 });
    let rounds = args.rounds.unwrap_or(3);
    if records == 0 || rounds == 0 {
        bail!("--records and --rounds must be at least 1");
    }
    if rounds < 3 {
        println!("note: {rounds} round(s): fewer than the 3 the issue asks for");
    }
    Ok(vs_peers::Plan {
        brokers: brokers.kinds(),
        records,
        rounds,
    })
}

/// Runs the benches; returns whether none failed.
pub fn run(args: &BenchArgs) -> Result<bool> {
    let start = ui::clock();
    if args.area == Area::Seeds {
        let requests = if args.quick { 300 } else { 2_000 };
        let reports = seeds::run(requests)?;
        return Ok(ui::summary("bench", &reports, start.elapsed()));
    }
    if let Some(brokers) = args.broker {
        let plan = peer_plan(args, brokers)?;
        match args.area {
            Area::Producer => {
                let reports = vs_peers::run(&plan)?;
                return Ok(ui::summary("bench", &reports, start.elapsed()));
            }
            Area::All => {}
            other => bail!(
                "--broker belongs to `bench producer` (or `bench all`), not `bench {}`",
                other.name()
            ),
        }
    }
    let since = SystemTime::now();
    let areas: Vec<Area> = if args.area == Area::All {
        vec![Area::Protocol, Area::Producer, Area::Txn, Area::Pool]
    } else {
        vec![args.area]
    };
    let members = workspace::members()?;
    let mut reports = Vec::new();
    for area in areas {
        let t = ui::clock();
        let benches = workspace::find(&members, area.crate_name())
            .map(|p| p.targets_of("bench"))
            .unwrap_or_default();
        if benches.is_empty() {
            let why = format!(
                "not yet: {} has no bench target (its benchmark lands with its issue)",
                area.crate_name()
            );
            println!("bench/{}: {why}", area.name());
            reports.push(StepReport {
                name: format!("bench/{}", area.name()),
                status: Status::Skipped(why),
                elapsed: t.elapsed(),
                tests: TestCounts::default(),
                detail: String::new(),
            });
            continue;
        }
        for bench in benches {
            let label = format!("bench/{}/{bench}", area.name());
            let pb = ui::spinner(&label);
            let mut cmd = workspace::cargo();
            cmd.args(["bench", "-p", area.crate_name(), "--bench", &bench]);
            if args.quick {
                // Criterion (0.5) and the project's own harness=false benches both take
                // `--quick`; the environment variable is for benches that prefer it.
                cmd.env("KLAMM_BENCH_QUICK", "1").args(["--", "--quick"]);
            }
            let rerun = format!("cargo bench -p {} --bench {bench}", area.crate_name());
            reports.push(bench_step(label, pb, cmd, t, "the bench", &rerun)?);
        }
    }
    // The client comparisons with rdkafka run each client in its own process (CPU and peak
    // memory are per process), so they live in the klamm-bench binary, not in criterion.
    for area in [Area::Producer] {
        if args.area != area && args.area != Area::All {
            continue;
        }
        let t = ui::clock();
        let label = format!("bench/{}/vs-rdkafka", area.name());
        let pb = ui::spinner(&label);
        let mut cmd = workspace::cargo();
        cmd.args([
            "run",
            "--release",
            "-q",
            "-p",
            "klamm-bench",
            "--",
            area.name(),
        ]);
        if args.quick {
            cmd.arg("--quick");
        }
        let rerun = format!("cargo run --release -p klamm-bench -- {}", area.name());
        reports.push(bench_step(label, pb, cmd, t, "the comparison", &rerun)?);
    }
    let results = load_results(&workspace::target_dir().join("criterion"), since);
    print_table(&results);
    if let Some(brokers) = args.broker {
        reports.extend(vs_peers::run(&peer_plan(args, brokers)?)?);
    }
    Ok(ui::summary("bench", &reports, start.elapsed()))
}

/// One criterion measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// Criterion group.
    pub group: String,
    /// Function id within the group (e.g. `klamm/encode`).
    pub function: String,
    /// Parameter, if any.
    pub value: String,
    /// Mean time per iteration in nanoseconds.
    pub mean_ns: f64,
    /// Bytes or elements per iteration, with its unit.
    pub throughput: Option<(f64, &'static str)>,
}

/// Runs one benchmark command under its spinner and reports it as a step; `what` names it in
/// the failure message, which says how to rerun it alone.
fn bench_step(
    label: String,
    pb: indicatif::ProgressBar,
    cmd: std::process::Command,
    started: std::time::Instant,
    what: &str,
    rerun: &str,
) -> Result<StepReport> {
    ui::say(&pb, &format!("--> {}", ui::describe(&cmd)));
    let out = ui::run_streaming(&pb, cmd)?;
    pb.finish_and_clear();
    Ok(StepReport {
        name: label,
        status: if out.success {
            Status::Passed
        } else {
            Status::Failed(format!(
                "{what} failed (exit {:?}); rerun `{rerun}`",
                out.code
            ))
        },
        elapsed: started.elapsed(),
        tests: TestCounts::default(),
        detail: String::new(),
    })
}

/// Reads every `new/benchmark.json` + `new/estimates.json` pair written at or after `since`.
pub fn load_results(dir: &Path, since: SystemTime) -> Vec<Measurement> {
    let mut found = Vec::new();
    walk(dir, &mut |new_dir| {
        let bench = new_dir.join("benchmark.json");
        let est = new_dir.join("estimates.json");
        let fresh = std::fs::metadata(&est)
            .and_then(|m| m.modified())
            .is_ok_and(|m| m >= since);
        if !fresh {
            return;
        }
        let (Ok(b), Ok(e)) = (std::fs::read(&bench), std::fs::read(&est)) else {
            return;
        };
        if let Some(m) = parse_measurement(&b, &e) {
            found.push(m);
        }
    });
    found.sort_by(|a, b| (&a.group, &a.value, &a.function).cmp(&(&b.group, &b.value, &b.function)));
    found
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "new") {
                f(&p);
            } else {
                walk(&p, f);
            }
        }
    }
}

fn parse_measurement(benchmark: &[u8], estimates: &[u8]) -> Option<Measurement> {
    let b: serde_json::Value = serde_json::from_slice(benchmark).ok()?;
    let e: serde_json::Value = serde_json::from_slice(estimates).ok()?;
    let throughput = b["throughput"].as_object().and_then(|t| {
        if let Some(n) = t.get("Bytes").and_then(|v| v.as_f64()) {
            Some((n, "B"))
        } else if let Some(n) = t.get("BytesDecimal").and_then(|v| v.as_f64()) {
            Some((n, "B"))
        } else {
            t.get("Elements")
                .and_then(|v| v.as_f64())
                .map(|n| (n, "elem"))
        }
    });
    Some(Measurement {
        group: b["group_id"].as_str()?.to_string(),
        function: b["function_id"].as_str().unwrap_or_default().to_string(),
        value: b["value_str"].as_str().unwrap_or_default().to_string(),
        mean_ns: e["mean"]["point_estimate"].as_f64()?,
        throughput,
    })
}

/// Names that mark the peer implementation in a function id.
const PEERS: &[&str] = &[
    "kafka-protocol",
    "kafka_protocol",
    "rdkafka",
    "anti-pattern",
    "anti_pattern",
];

/// Splits a function id into (is_klamm, is_peer, the id without its implementation
/// segment): `encode/zstd/kafka-protocol` -> (false, true, `encode/zstd`),
/// `decode/zstd/klamm-borrowed` -> (true, false, `decode/zstd`).
fn classify(function: &str) -> (bool, bool, String) {
    let lower = function.to_ascii_lowercase();
    let mut is_klamm = false;
    let mut is_peer = false;
    let mut rest = Vec::new();
    for seg in lower.split('/') {
        if PEERS.iter().any(|p| seg.contains(p)) {
            is_peer = true;
        } else if seg.contains("klamm") {
            is_klamm = true;
        } else {
            rest.push(seg);
        }
    }
    (is_klamm && !is_peer, is_peer, rest.join("/"))
}

/// `peer time / klamm time` for each Klamm measurement that has a peer in its group
/// with the same operation and parameter.
pub fn ratios(results: &[Measurement]) -> BTreeMap<usize, f64> {
    let mut out = BTreeMap::new();
    for (i, k) in results.iter().enumerate() {
        let (is_klamm, _, op) = classify(&k.function);
        if !is_klamm {
            continue;
        }
        let peer = results.iter().find(|p| {
            let (_, is_peer, pop) = classify(&p.function);
            is_peer && p.group == k.group && p.value == k.value && pop == op
        });
        if let Some(p) = peer
            && k.mean_ns > 0.0
        {
            out.insert(i, p.mean_ns / k.mean_ns);
        }
    }
    out
}

fn human_time(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

fn human_rate(per_iter: f64, unit: &str, ns: f64) -> String {
    let per_sec = per_iter / (ns / 1e9);
    if unit == "B" {
        format!("{:.2} GB/s", per_sec / 1e9)
    } else {
        format!("{:.2} M{unit}/s", per_sec / 1e6)
    }
}

fn print_table(results: &[Measurement]) {
    if results.is_empty() {
        println!("no criterion results were written by this run");
        return;
    }
    let ratios = ratios(results);
    println!();
    println!(
        "{:<44} {:>12} {:>14} {:>22}",
        "benchmark", "mean", "throughput", "klamm vs peer"
    );
    for (i, m) in results.iter().enumerate() {
        let id = [m.group.as_str(), m.function.as_str(), m.value.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("/");
        let tp = m
            .throughput
            .map(|(n, u)| human_rate(n, u, m.mean_ns))
            .unwrap_or_default();
        let ratio = ratios
            .get(&i)
            .map(|r| format!("{r:.2}x faster"))
            .unwrap_or_default();
        println!(
            "{id:<44} {:>12} {tp:>14} {ratio:>22}",
            human_time(m.mean_ns)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(function: &str, ns: f64) -> Measurement {
        Measurement {
            group: "record_batch".into(),
            function: function.into(),
            value: "uncompressed".into(),
            mean_ns: ns,
            throughput: Some((1e6, "B")),
        }
    }

    #[test]
    fn pairs_klamm_with_its_peer() {
        let r = vec![
            m("klamm/encode", 100.0),
            m("kafka-protocol/encode", 300.0),
            m("klamm/decode", 50.0),
        ];
        let ratios = ratios(&r);
        assert_eq!(ratios.len(), 1);
        assert!((ratios[&0] - 3.0).abs() < 1e-9);
    }

    #[test]
    fn classifies_implementation_segments() {
        assert_eq!(
            classify("encode/zstd/kafka-protocol"),
            (false, true, "encode/zstd".into())
        );
        assert_eq!(
            classify("decode/zstd/klamm-borrowed"),
            (true, false, "decode/zstd".into())
        );
        assert_eq!(classify("klamm/encode"), (true, false, "encode".into()));
    }

    #[test]
    fn parses_criterion_json() {
        let b = br#"{"group_id":"record_batch","function_id":"klamm/encode","value_str":"zstd","throughput":{"Bytes":1000000}}"#;
        let e = br#"{"mean":{"point_estimate":2000000.0}}"#;
        let got = parse_measurement(b, e).unwrap();
        assert_eq!(got.function, "klamm/encode");
        assert_eq!(got.throughput, Some((1e6, "B")));
        assert_eq!(human_rate(1e6, "B", got.mean_ns), "0.50 GB/s");
    }
}
