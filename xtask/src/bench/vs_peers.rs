//! `cargo xtask bench producer --broker testkit|kafka|all [--quick] [--records N] [--rounds R]`:
//! Klamm's producer next to every peer client, against the same broker, in the same run.
//!
//! Every client of [`crate::peers`] (Klamm's perf example, librdkafka, the Java client's
//! PerfDriver, Kafka's own ProducerPerformance, franz-go, sarama) is built first (a client
//! whose toolchain is missing is reported skipped, never passed). Then, per broker
//! ([`crate::peers::PeerBroker`]: the testkit's release binary, or a 3-node Apache Kafka
//! cluster), for each round and each idempotence setting (on, off; the order flips every
//! round), a fresh topic of 6 partitions is made (replication factor 3 on Kafka) and every
//! client produces N records of 100 B to it with acks=all, linger 5 ms, batch 16 KiB and no
//! compression, one after the other, in [`Client::ALL`]'s order in even rounds and the
//! reverse in odd ones. Each run's CPU time and peak RSS come from getrusage of the client
//! process, its records/s and latency from its own summary line, and the broker's CPU during
//! the run from `/proc/<pid>/stat` of the broker processes. Before the measured runs on a
//! fresh topic, one unmeasured warm-up run (see [`warm_up`]) writes to it.
//!
//! The report (date, machine, broker, versions, then one Markdown table per broker and
//! setting with medians over the passing rounds, each peer's ratios to Klamm, and the verdict
//! on the issue's target) is printed at the end and written to
//! `target/bench-reports/producer-vs-peers.md`.

mod table;

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::peers::{self, BrokerKind, Built, Client, Outcome, PeerBroker, PerfArgs};
use crate::ui::{self, Status, StepReport, TestCounts};
use crate::workspace;
use table::Sample;

/// Partitions of every benchmark topic.
const PARTITIONS: u32 = 6;

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The brokers, in order.
    pub brokers: Vec<BrokerKind>,
    /// Records per client run.
    pub records: u64,
    /// Rounds (each: every client, idempotence on and off).
    pub rounds: usize,
}

/// The perf settings of one run.
fn perf(topic: &str, records: u64, idempotence: bool) -> PerfArgs {
    PerfArgs {
        num_records: records,
        idempotence,
        ..PerfArgs::smoke(topic)
    }
}

/// The client order of a round: [`Client::ALL`] in even rounds, reversed in odd ones.
fn order(round: usize) -> Vec<Client> {
    let mut clients = Client::ALL.to_vec();
    if !round.is_multiple_of(2) {
        clients.reverse();
    }
    clients
}

/// The idempotence settings of a round, in order: on first in even rounds.
fn settings(round: usize) -> [bool; 2] {
    if round.is_multiple_of(2) {
        [true, false]
    } else {
        [false, true]
    }
}

/// The first line of a command's output, or `unknown`.
fn first_line(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(|l| l.trim().to_string())
        })
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The 1-minute load average (how busy the machine was: the runs share it).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// Date, machine and load, for the report's head.
fn machine() -> Vec<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| Some(l.strip_prefix("model name")?.split_once(':')?.1.trim()))
        .unwrap_or("unknown CPU");
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let kib: f64 = m.lines().next()?.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!("{:.1} GiB RAM", kib / (1024.0 * 1024.0)))
        })
        .unwrap_or_else(|| "unknown RAM".into());
    let load = load_average();
    vec![
        format!(
            "date: {}",
            first_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
        ),
        format!(
            "machine: {} CPUs (`nproc`), {model}, {memory}, {}; load average {load} at the start",
            first_line("nproc", &[]),
            first_line("uname", &["-sr"])
        ),
    ]
}

/// Builds every client once; the ones that cannot run carry the outcome that says why.
fn prepare_all() -> Vec<(Client, std::result::Result<Built, Outcome>)> {
    Client::ALL
        .iter()
        .map(|&c| (c, peers::prepare(c).map_err(|o| *o)))
        .collect()
}

/// An unmeasured run on a fresh topic before the measured ones (a quarter of the records,
/// at least 20,000), so that the first client of a round does not pay for the broker's
/// first writes to new partitions (and, on Kafka, its JIT warming up). Klamm's driver does
/// it, or the first other one that built.
fn warm_up(
    broker: &PeerBroker,
    clients: &[(Client, std::result::Result<Built, Outcome>)],
    topic: &str,
    records: u64,
    idempotence: bool,
    timeout: Duration,
) {
    let Some((client, Ok(built))) = clients.iter().find(|(_, b)| b.is_ok()) else {
        return;
    };
    let records = (records / 4).max(20_000);
    println!("--- warm-up: {client}, {records} records to {topic} (not measured)");
    let perf = perf(topic, records, idempotence);
    let o = peers::run_built(*client, built, &broker.bootstrap(), &perf, timeout);
    println!("--- warm-up: {}", status_text(&o.status));
}

/// Everything one broker's rounds measured, or why the broker did not run.
fn run_broker(
    kind: BrokerKind,
    plan: &Plan,
    clients: &[(Client, std::result::Result<Built, Outcome>)],
    samples: &mut Vec<Sample>,
) -> std::result::Result<String, Status> {
    if let Some(why) = kind.unavailable() {
        return Err(Status::Skipped(why));
    }
    let pb = ui::spinner(&format!("{}: starting the broker", kind.name()));
    let started = PeerBroker::start(kind, &pb);
    pb.finish_and_clear();
    let mut broker =
        started.map_err(|e| Status::Failed(format!("starting {}: {e:#}", kind.name())))?;
    let description = broker.description().to_string();
    let timeout = Duration::from_secs((plan.records / 2_000).max(600));
    let total = plan.rounds * 2 * clients.len();
    let mut index = 0;
    for round in 0..plan.rounds {
        for idempotence in settings(round) {
            let topic = format!("peers-{}-r{}-idem-{idempotence}", kind.name(), round + 1);
            let pb = ui::spinner(&format!("{}: preparing topic {topic}", kind.name()));
            let fresh = broker.fresh_topic(&topic, PARTITIONS, &pb);
            pb.finish_and_clear();
            if let Err(e) = fresh {
                broker.stop();
                return Err(Status::Failed(format!("topic {topic}: {e:#}")));
            }
            warm_up(&broker, clients, &topic, plan.records, idempotence, timeout);
            let perf = perf(&topic, plan.records, idempotence);
            for client in order(round) {
                index += 1;
                let Some((_, prepared)) = clients.iter().find(|(c, _)| *c == client) else {
                    continue;
                };
                ui::header(
                    index,
                    total,
                    &format!("{}/{client}", kind.name()),
                    &format!(
                        "round {}/{}, idempotence {idempotence}, {} records to {topic}",
                        round + 1,
                        plan.rounds,
                        plan.records
                    ),
                );
                if let Some(why) = broker.gone() {
                    broker.stop();
                    return Err(Status::Failed(format!(
                        "the broker died in round {}: {why}",
                        round + 1
                    )));
                }
                let (outcome, broker_cpu) = match prepared {
                    Ok(built) => {
                        let before = broker.cpu();
                        let o =
                            peers::run_built(client, built, &broker.bootstrap(), &perf, timeout);
                        let used = broker.cpu().zip(before).map(|(a, b)| a.saturating_sub(b));
                        (o, used)
                    }
                    Err(not_run) => (not_run.clone(), None),
                };
                let sample = Sample {
                    broker: kind,
                    idempotence,
                    round,
                    outcome,
                    broker_cpu,
                };
                println!("{}", one_line(&sample));
                samples.push(sample);
                if prepared.is_ok() {
                    // Lets the broker finish what the run left (replication, log rolls)
                    // before the next client's run is measured.
                    std::thread::sleep(Duration::from_secs(2));
                }
            }
        }
    }
    broker.stop();
    Ok(description)
}

/// `ok`, `FAILED: why` or `skipped: why`.
fn status_text(status: &Status) -> String {
    match status {
        Status::Passed => "ok".to_string(),
        Status::Failed(why) => format!("FAILED: {why}"),
        Status::Skipped(why) => format!("skipped: {why}"),
    }
}

/// The line printed after each run.
fn one_line(s: &Sample) -> String {
    let o = &s.outcome;
    let per_m = |cpu: Option<Duration>| {
        let n = o.summary.as_ref()?.records as f64;
        let cpu = cpu?;
        (n > 0.0).then(|| format!("{:.2}", cpu.as_secs_f64() / n * 1e6))
    };
    let status = status_text(&o.status);
    format!(
        "    -> {} records/s, CPU {} s/M, peak RSS {} MiB, broker CPU {} s/M: {status}",
        o.summary
            .as_ref()
            .map_or("-".into(), |x| table::thousands(x.records_per_sec)),
        per_m(o.cpu).unwrap_or_else(|| "-".into()),
        o.peak_rss
            .map_or("-".into(), |b| format!("{:.0}", b as f64 / 1048576.0)),
        per_m(s.broker_cpu).unwrap_or_else(|| "-".into()),
    )
}

/// The full report: head, then per broker and setting a table, its verdict and notes.
fn report(
    head: &[String],
    brokers: &[(BrokerKind, std::result::Result<String, Status>)],
    samples: &[Sample],
) -> String {
    let mut out = String::new();
    for line in head {
        let _ = writeln!(out, "{line}  ");
    }
    for (kind, ran) in brokers {
        let _ = writeln!(out);
        let description = match ran {
            Ok(d) => d,
            Err(status @ Status::Skipped(_)) => {
                let _ = writeln!(out, "broker {}: {}", kind.name(), status_text(status));
                continue;
            }
            Err(status) => {
                let _ = writeln!(out, "broker {}: {}", kind.name(), status_text(status));
                if !samples.iter().any(|s| s.broker == *kind) {
                    continue;
                }
                kind.name()
            }
        };
        for idempotence in [true, false] {
            let rows = table::rows(samples, *kind, idempotence, &Client::ALL);
            let _ = writeln!(
                out,
                "broker: {description}; idempotence {}\n",
                if idempotence { "on" } else { "off" }
            );
            out.push_str(&table::table(&rows, true));
            let _ = writeln!(out, "\n{}", table::verdict(&rows));
            for note in table::notes(&rows) {
                let _ = writeln!(out, "- {note}");
            }
            let _ = writeln!(out);
        }
    }
    out
}

/// One summary row per broker and client: failed if a run failed, skipped if none ran.
fn step_reports(
    brokers: &[(BrokerKind, std::result::Result<String, Status>)],
    samples: &[Sample],
) -> Vec<StepReport> {
    let mut reports = Vec::new();
    for (kind, ran) in brokers {
        let name = format!("bench/producer/{}", kind.name());
        if let Err(status) = ran {
            reports.push(StepReport {
                name: name.clone(),
                status: status.clone(),
                elapsed: Duration::ZERO,
                tests: TestCounts::default(),
                detail: String::new(),
            });
        }
        for client in Client::ALL {
            let mine: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.broker == *kind && s.outcome.client == client)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let failed = mine.iter().find_map(|s| match &s.outcome.status {
                Status::Failed(why) => Some(why.clone()),
                _ => None,
            });
            let skipped = mine.iter().find_map(|s| match &s.outcome.status {
                Status::Skipped(why) => Some(why.clone()),
                _ => None,
            });
            let passed = mine.iter().filter(|s| s.outcome.status == Status::Passed);
            let status = match (failed, skipped) {
                (Some(why), _) => Status::Failed(why),
                (None, Some(why)) => Status::Skipped(why),
                (None, None) => Status::Passed,
            };
            reports.push(StepReport {
                name: format!("{name}/{client}"),
                status,
                elapsed: mine.iter().map(|s| s.outcome.wall).sum(),
                tests: TestCounts::default(),
                detail: format!("{} of {} runs delivered", passed.count(), mine.len()),
            });
        }
    }
    reports
}

/// Runs the comparison, prints and writes the report, and returns one summary row per
/// broker and client.
pub fn run(plan: &Plan) -> Result<Vec<StepReport>> {
    let started = ui::clock();
    let mut head = vec!["Producer vs peers (issue 17)".to_string()];
    head.extend(machine());
    head.push(format!(
        "settings: {} records x 100 B per run, no key, acks=all, linger 5 ms, batch 16384 B, \
         no compression, idempotence on and off; a fresh {PARTITIONS}-partition topic per \
         setting; {} rounds, client order reversed every other round; medians over the \
         rounds that delivered every record",
        table::thousands(plan.records as f64),
        plan.rounds
    ));
    for line in &head {
        println!("{line}");
    }
    let clients = prepare_all();
    for (client, prepared) in &clients {
        let line = match prepared {
            Ok(b) => format!("client {client}: {}", b.version),
            Err(o) => format!("client {client}: {}", status_text(&o.status)),
        };
        println!("{line}");
        head.push(line);
    }
    head.push(
        "CPU and peak RSS: getrusage of each client process (a JVM's start-up included); \
         broker CPU: utime+stime of the broker processes during the client's run"
            .into(),
    );
    let mut samples = Vec::new();
    let mut brokers = Vec::new();
    for &kind in &plan.brokers {
        let ran = run_broker(kind, plan, &clients, &mut samples);
        brokers.push((kind, ran));
    }
    head.push(format!(
        "load average {} at the end (everything took {})",
        load_average(),
        ui::fmt_duration(started.elapsed())
    ));
    let text = report(&head, &brokers, &samples);
    println!("\n{text}");
    let dir = workspace::target_dir().join("bench-reports");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("producer-vs-peers.md");
    std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    println!("report written to {}", path.display());
    Ok(step_reports(&brokers, &samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_alternate_the_client_order_and_the_setting() {
        assert_eq!(order(0), Client::ALL.to_vec());
        let mut reversed = Client::ALL.to_vec();
        reversed.reverse();
        assert_eq!(order(1), reversed);
        assert_eq!(order(2), Client::ALL.to_vec());
        assert_eq!(settings(0), [true, false]);
        assert_eq!(settings(1), [false, true]);
    }

    #[test]
    fn runs_use_the_issue_settings() {
        let p = perf("t", 1_000_000, false);
        assert_eq!(
            p.flags("h:1").join(" "),
            "--bootstrap h:1 --topic t --num-records 1000000 --record-size 100 --throughput -1 \
             --acks all --compression none --linger-ms 5 --batch-size 16384 --idempotence false"
        );
    }

    #[test]
    fn the_head_names_date_and_machine() {
        let m = machine();
        assert!(m[0].starts_with("date: "));
        assert!(m[1].contains("CPUs (`nproc`)"), "{}", m[1]);
    }
}
