//! `klamm-bench`: Klamm and librdkafka (rust-rdkafka) side by side, against the same brokers,
//! in one run. Each client runs in its own child process so that its CPU time and peak memory
//! are measured alone; brokers run in processes of their own too.
//!
//! ```text
//! klamm-bench producer [--quick]     # issue 6's comparison; prints a table with ratios
//! klamm-bench serve mock|testkit N   # (internal) a broker process
//! klamm-bench client-producer ...    # (internal) one measured client run
//! ```
#![forbid(unsafe_code)]

mod broker;
mod klamm_run;
mod rdkafka_run;
mod run;
mod usage;

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

fn producer_bench(quick: bool) -> Result<(), String> {
    let records: u64 = if quick { 100_000 } else { 1_000_000 };
    println!(
        "producer benchmark: {records} records of 100 bytes, no key, acks=all, linger 5 ms, {PARTITIONS} partitions, 3 brokers"
    );
    println!(
        "{:<8} {:<6} {:<8} {:>12} {:>9} {:>14} {:>10} {:>8}",
        "broker", "idem", "client", "records/s", "MB/s", "cpu s/M rec", "peak RSS", "failed"
    );
    let mut ratios = Vec::new();
    let topic = |imp: &str, idem: bool| format!("bench-{imp}-{idem}");
    let topics: Vec<String> = [true, false]
        .iter()
        .flat_map(|i| ["klamm", "rdkafka"].map(|c| topic(c, *i)))
        .collect();
    for kind in [BrokerKind::Mock, BrokerKind::Testkit] {
        let broker = BrokerProcess::start(kind, 3, &topics, PARTITIONS)?;
        for idempotence in [true, false] {
            let mut pair: Vec<(String, Result<RunResult, String>)> = Vec::new();
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
                let result = run_child(&run);
                match &result {
                    Ok(r) => println!(
                        "{:<8} {:<6} {:<8} {:>12.0} {:>9.1} {:>14.3} {:>8.1}MB {:>8}",
                        kind.name(),
                        idempotence,
                        implementation,
                        r.rate(),
                        r.rate() * 100.0 / 1e6,
                        r.cpu_per_million(),
                        r.peak_rss as f64 / 1e6,
                        r.failed
                    ),
                    Err(e) => println!(
                        "{:<8} {:<6} {:<8} not measured: {e}",
                        kind.name(),
                        idempotence,
                        implementation
                    ),
                }
                pair.push((implementation.to_string(), result));
            }
            if let (Ok(k), Ok(r)) = (&pair[0].1, &pair[1].1) {
                ratios.push(format!(
                    "{} idempotence={idempotence}: klamm/rdkafka records/s {:.2}x, cpu per record {:.2}x, peak RSS {:.2}x",
                    kind.name(),
                    k.rate() / r.rate(),
                    k.cpu_per_million() / r.cpu_per_million().max(1e-9),
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
        Some("producer") => producer_bench(args.iter().any(|a| a == "--quick")),
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
        _ => Err("usage: klamm-bench producer [--quick]".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("klamm-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
