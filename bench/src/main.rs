//! `klamm-bench`: Klamm and librdkafka (rust-rdkafka) side by side, against the same brokers,
//! in one run. Each client runs in its own child process so that its CPU time and peak memory
//! are measured alone; brokers run in processes of their own too.
//!
//! ```text
//! klamm-bench producer [--quick] [--repeat N]   # issue 6's comparison: N rounds (default 3,
//!                                               # 1 with --quick), medians and ratios
//! klamm-bench serve mock|testkit N   # (internal) a broker process
//! klamm-bench client-producer ...    # (internal) one measured client run
//! klamm-bench perf [perf.rs flags]   # librdkafka as a peer driver of `cargo xtask peers`
//! klamm-bench perf-version           # the librdkafka release linked in
//! ```
#![forbid(unsafe_code)]

mod broker;
mod klamm_run;
mod perf;
mod rdkafka_run;
mod run;

use std::process::{Command, ExitCode};

use broker::{BrokerKind, BrokerProcess};
use run::{ProducerRun, RunResult};

const PARTITIONS: i32 = 6;

fn run_child(run: &ProducerRun) -> Result<RunResult, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .arg("client-producer")
        .args(run.to_args())
        .output()
        .map_err(|e| format!("starting the {} client: {e}", run.implementation))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{} client failed: {}{}",
            run.implementation,
            String::from_utf8_lossy(&out.stderr).trim(),
            stdout.trim()
        ));
    }
    RunResult::from_json(stdout.lines().last().unwrap_or(""))
}

/// The median of `values` (the mean of the middle two for an even count); 0 when empty.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Broker, idempotence and client of a run.
type Setting = (BrokerKind, bool, &'static str);

/// Several runs of one client with one setting, summarised.
struct Summary {
    rate: f64,
    cpu_per_million: f64,
    peak_rss: u64,
    failed: u64,
}

fn summarise(runs: &[RunResult]) -> Summary {
    Summary {
        rate: median(runs.iter().map(RunResult::rate).collect()),
        cpu_per_million: median(runs.iter().map(RunResult::cpu_per_million).collect()),
        peak_rss: runs.iter().map(|r| r.peak_rss).max().unwrap_or(0),
        failed: runs.iter().map(|r| r.failed).sum(),
    }
}

fn producer_bench(quick: bool, repeat: usize) -> Result<(), String> {
    let records: u64 = if quick { 100_000 } else { 1_000_000 };
    println!(
        "producer benchmark: {records} records of 100 bytes, no key, acks=all, linger 5 ms, {PARTITIONS} partitions, 3 brokers; \
         {repeat} round(s), each on fresh brokers, clients alternating; medians of records/s and CPU, largest peak RSS"
    );
    let topic = |imp: &str, idem: bool| format!("bench-{imp}-{idem}");
    let topics: Vec<String> = [true, false]
        .iter()
        .flat_map(|i| ["klamm", "rdkafka"].map(|c| topic(c, *i)))
        .collect();
    let mut results: Vec<(Setting, Vec<RunResult>)> = Vec::new();
    for kind in [BrokerKind::Mock, BrokerKind::Testkit] {
        for round in 0..repeat {
            let broker = BrokerProcess::start(kind, 3, &topics, PARTITIONS)?;
            for idempotence in [true, false] {
                for implementation in ["klamm", "rdkafka"] {
                    let run = ProducerRun {
                        implementation: implementation.into(),
                        bootstrap: broker.bootstrap.clone(),
                        topic: topic(implementation, idempotence),
                        records,
                        record_size: 100,
                        idempotence,
                        linger_ms: 5,
                        batch_size: 131_072,
                    };
                    match run_child(&run) {
                        Ok(r) => {
                            println!(
                                "  round {} {:<8} idempotence={:<5} {:<8} {:>10.0} records/s {:>7.3} cpu s/M {:>7.1} MB",
                                round + 1,
                                kind.name(),
                                idempotence,
                                implementation,
                                r.rate(),
                                r.cpu_per_million(),
                                r.peak_rss as f64 / 1e6
                            );
                            let key = (kind, idempotence, implementation);
                            match results.iter_mut().find(|(k, _)| *k == key) {
                                Some((_, runs)) => runs.push(r),
                                None => results.push((key, vec![r])),
                            }
                        }
                        Err(e) => println!(
                            "  round {} {:<8} idempotence={:<5} {:<8} not measured: {e}",
                            round + 1,
                            kind.name(),
                            idempotence,
                            implementation
                        ),
                    }
                }
            }
        }
    }
    println!();
    println!(
        "{:<8} {:<6} {:<8} {:>12} {:>9} {:>14} {:>10} {:>8}",
        "broker", "idem", "client", "records/s", "MB/s", "cpu s/M rec", "peak RSS", "failed"
    );
    let mut ratios = Vec::new();
    for kind in [BrokerKind::Mock, BrokerKind::Testkit] {
        for idempotence in [true, false] {
            let mut pair = Vec::new();
            for implementation in ["klamm", "rdkafka"] {
                let Some((_, runs)) = results
                    .iter()
                    .find(|(k, _)| *k == (kind, idempotence, implementation))
                else {
                    continue;
                };
                let s = summarise(runs);
                println!(
                    "{:<8} {:<6} {:<8} {:>12.0} {:>9.1} {:>14.3} {:>8.1}MB {:>8}",
                    kind.name(),
                    idempotence,
                    implementation,
                    s.rate,
                    s.rate * 100.0 / 1e6,
                    s.cpu_per_million,
                    s.peak_rss as f64 / 1e6,
                    s.failed
                );
                pair.push((implementation, s));
            }
            if let [(_, k), (_, r)] = &pair[..] {
                ratios.push(format!(
                    "{} idempotence={idempotence}: klamm/rdkafka records/s {:.2}x, cpu per record {:.2}x, peak RSS {:.2}x",
                    kind.name(),
                    k.rate / r.rate.max(1e-9),
                    k.cpu_per_million / r.cpu_per_million.max(1e-9),
                    k.peak_rss as f64 / (r.peak_rss.max(1) as f64)
                ));
            }
        }
    }
    println!();
    if ratios.is_empty() {
        println!("ratios: none (a side was not measured)");
    }
    for r in ratios {
        println!("ratio {r}");
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("producer") => {
            let quick = args.iter().any(|a| a == "--quick");
            let repeat = args
                .iter()
                .position(|a| a == "--repeat")
                .and_then(|i| args.get(i + 1))
                .and_then(|n| n.parse().ok())
                .unwrap_or(if quick { 1 } else { 3 })
                .max(1);
            producer_bench(quick, repeat)
        }
        Some("serve") => match (
            args.get(1).and_then(|k| BrokerKind::parse(k)),
            args.get(2).and_then(|n| n.parse().ok()),
            args.get(3).and_then(|n| n.parse().ok()),
        ) {
            (Some(kind), Some(n), Some(p)) => broker::serve(kind, n, p, &args[4..]),
            _ => Err("usage: klamm-bench serve mock|testkit BROKERS PARTITIONS [TOPIC...]".into()),
        },
        Some("client-producer") => ProducerRun::from_args(&args[1..]).and_then(|run| {
            let r = match run.implementation.as_str() {
                "rdkafka" => rdkafka_run::producer(&run),
                "klamm" => klamm_run::producer(&run),
                other => Err(format!("unknown client {other}")),
            }?;
            println!("{}", r.to_json());
            Ok(())
        }),
        Some("perf") => match perf::PerfFlags::parse(&args[1..]) {
            Ok(flags) => match perf::run(&flags) {
                Ok(true) => Ok(()),
                Ok(false) => return ExitCode::FAILURE,
                Err(e) => Err(e),
            },
            Err(e) => {
                eprintln!("klamm-bench perf: {e}\n{}", perf::USAGE);
                return ExitCode::from(2);
            }
        },
        Some("perf-version") => {
            println!(
                "librdkafka {} (rust-rdkafka, bundled)",
                perf::librdkafka_version()
            );
            Ok(())
        }
        _ => Err(
            "usage: klamm-bench producer [--quick] [--repeat N] | perf [FLAGS] | perf-version"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("klamm-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), 0.0);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
