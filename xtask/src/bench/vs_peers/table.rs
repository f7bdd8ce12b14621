//! The numbers of a peer comparison: each run as a [`Sample`], the medians per broker,
//! idempotence setting and client, each peer's ratios to Klamm, and the verdict on the
//! issue's target (Klamm at least 2x the fastest peer's records/s at no more than half its
//! CPU per record). Printed as Markdown tables, which read well in a terminal too.

use std::time::Duration;

use crate::peers::{BrokerKind, Client, Outcome};
use crate::ui::Status;

/// One client run in one round.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The broker it ran against.
    pub broker: BrokerKind,
    /// Idempotence on or off.
    pub idempotence: bool,
    /// The round (from 0).
    pub round: usize,
    /// What the driver printed and cost.
    pub outcome: Outcome,
    /// CPU the broker processes used during the run.
    pub broker_cpu: Option<Duration>,
}

impl Sample {
    fn passed(&self) -> bool {
        self.outcome.status == Status::Passed
    }

    fn records(&self) -> Option<f64> {
        self.outcome
            .summary
            .as_ref()
            .map(|s| s.records as f64)
            .filter(|&n| n > 0.0)
    }

    fn per_million(&self, cpu: Option<Duration>) -> Option<f64> {
        Some(cpu?.as_secs_f64() / self.records()? * 1e6)
    }
}

/// The median (mean of the middle two for an even count); None when empty.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// One client's medians over the rounds that passed.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The client.
    pub client: Client,
    /// Runs that delivered every record, and runs in all.
    pub passed: usize,
    /// Runs in all.
    pub runs: usize,
    /// Median records per second.
    pub rate: Option<f64>,
    /// Median client CPU seconds per million records.
    pub cpu: Option<f64>,
    /// Median peak RSS in MiB.
    pub rss_mib: Option<f64>,
    /// Median p99 latency in ms.
    pub p99_ms: Option<f64>,
    /// Median broker CPU seconds per million records during the client's runs.
    pub broker_cpu: Option<f64>,
    /// Why it has no numbers (skipped or failed), if so.
    pub note: Option<String>,
}

/// The rows of one broker and idempotence setting, in `clients` order.
pub fn rows(
    samples: &[Sample],
    broker: BrokerKind,
    idempotence: bool,
    clients: &[Client],
) -> Vec<Row> {
    clients
        .iter()
        .map(|&client| {
            let mine: Vec<&Sample> = samples
                .iter()
                .filter(|s| {
                    s.broker == broker && s.idempotence == idempotence && s.outcome.client == client
                })
                .collect();
            let ok: Vec<&Sample> = mine.iter().copied().filter(|s| s.passed()).collect();
            let med = |f: &dyn Fn(&Sample) -> Option<f64>| {
                median(ok.iter().filter_map(|s| f(s)).collect())
            };
            let note = mine.iter().find_map(|s| match &s.outcome.status {
                Status::Passed => None,
                Status::Failed(why) => Some(format!("round {} FAILED: {why}", s.round + 1)),
                Status::Skipped(why) => Some(format!("skipped: {why}")),
            });
            Row {
                client,
                passed: ok.len(),
                runs: mine.len(),
                rate: med(&|s| s.outcome.summary.as_ref().map(|x| x.records_per_sec)),
                cpu: med(&|s| s.per_million(s.outcome.cpu)),
                rss_mib: med(&|s| s.outcome.peak_rss.map(|b| b as f64 / (1024.0 * 1024.0))),
                p99_ms: med(&|s| s.outcome.summary.as_ref().map(|x| x.p99_ms)),
                broker_cpu: med(&|s| s.per_million(s.broker_cpu)),
                note,
            }
        })
        .collect()
}

/// `a / b` when both are known and `b` is not zero.
fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// `1234567.8` as `1,234,568`.
pub fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}

fn cell(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.decimals$}"))
}

/// The Markdown table of one broker and setting (the broker CPU column when `broker_cpu`).
pub fn table(rows: &[Row], broker_cpu: bool) -> String {
    let klamm = rows.iter().find(|r| r.client == Client::Klamm);
    let mut head = vec![
        "client",
        "records/s",
        "CPU s / M records",
        "peak RSS MiB",
        "p99 ms",
        "Klamm ÷ peer, records/s",
        "peer ÷ Klamm, CPU",
    ];
    if broker_cpu {
        head.push("broker CPU s / M records");
    }
    head.push("runs ok");
    let mut out = format!("| {} |\n", head.join(" | "));
    out.push_str(&format!("|{}\n", "---|".repeat(head.len())));
    for r in rows {
        let is_klamm = r.client == Client::Klamm;
        let vs = |v: Option<f64>| match v {
            _ if is_klamm => "—".to_string(),
            Some(v) => format!("{v:.2}x"),
            None => "-".to_string(),
        };
        let mut cells = vec![
            r.client.to_string(),
            r.rate.map_or_else(|| "-".into(), thousands),
            cell(r.cpu, 2),
            cell(r.rss_mib, 0),
            cell(r.p99_ms, 1),
            vs(ratio(klamm.and_then(|k| k.rate), r.rate)),
            vs(ratio(r.cpu, klamm.and_then(|k| k.cpu))),
        ];
        if broker_cpu {
            cells.push(cell(r.broker_cpu, 2));
        }
        cells.push(format!("{}/{}", r.passed, r.runs));
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

/// Whether the target holds for one setting: Klamm at least 2x the records/s of the
/// fastest peer, at no more than half that peer's CPU per record.
pub fn verdict(rows: &[Row]) -> String {
    let Some(klamm) = rows.iter().find(|r| r.client == Client::Klamm) else {
        return "target: not judged (Klamm did not run)".into();
    };
    let (Some(k_rate), Some(k_cpu)) = (klamm.rate, klamm.cpu) else {
        return "target: not judged (Klamm has no passing run)".into();
    };
    let fastest = rows
        .iter()
        .filter(|r| r.client != Client::Klamm)
        .filter_map(|r| Some((r, r.rate?, r.cpu?)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let Some((peer, p_rate, p_cpu)) = fastest else {
        return "target: not judged (no peer has a passing run)".into();
    };
    let (speed, cpu) = (k_rate / p_rate, p_cpu / k_cpu);
    let met = speed >= 2.0 && cpu >= 2.0;
    format!(
        "target (Klamm >= 2x the fastest peer's records/s at <= 1/2 its CPU per record): fastest \
         peer {} at {} records/s; Klamm has {:.2}x its records/s, the peer uses {:.2}x Klamm's \
         CPU per record: {}",
        peer.client,
        thousands(p_rate),
        speed,
        cpu,
        if met {
            "MET".to_string()
        } else {
            let mut missed = Vec::new();
            if speed < 2.0 {
                missed.push("records/s");
            }
            if cpu < 2.0 {
                missed.push("CPU");
            }
            format!("NOT met ({})", missed.join(" and "))
        }
    )
}

/// The rows' notes (skips and failures), one line each.
pub fn notes(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .filter_map(|r| Some(format!("{}: {}", r.client, r.note.as_ref()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::Summary;

    fn sample(client: Client, round: usize, rate: f64, cpu_s: f64, status: Status) -> Sample {
        Sample {
            broker: BrokerKind::Kafka,
            idempotence: true,
            round,
            outcome: Outcome {
                client,
                version: None,
                status,
                summary: Some(Summary {
                    records: 1_000_000,
                    records_per_sec: rate,
                    mb_per_sec: 0.0,
                    avg_ms: 1.0,
                    p50_ms: 1.0,
                    p99_ms: 5.0,
                    errors: Some(0),
                }),
                cpu: Some(Duration::from_secs_f64(cpu_s)),
                peak_rss: Some(64 << 20),
                wall: Duration::from_secs(1),
            },
            broker_cpu: Some(Duration::from_secs(3)),
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn rows_take_medians_of_passing_runs_only() {
        let samples = vec![
            sample(Client::Klamm, 0, 100.0, 1.0, Status::Passed),
            sample(Client::Klamm, 1, 300.0, 3.0, Status::Passed),
            sample(Client::Klamm, 2, 200.0, 2.0, Status::Passed),
            sample(Client::Franz, 0, 50.0, 4.0, Status::Passed),
            sample(
                Client::Franz,
                1,
                9999.0,
                0.1,
                Status::Failed("2 records failed".into()),
            ),
        ];
        let rows = rows(
            &samples,
            BrokerKind::Kafka,
            true,
            &[Client::Klamm, Client::Franz],
        );
        assert_eq!((rows[0].rate, rows[0].cpu), (Some(200.0), Some(2.0)));
        assert_eq!((rows[0].passed, rows[0].runs), (3, 3));
        assert_eq!(
            (rows[1].rate, rows[1].passed, rows[1].runs),
            (Some(50.0), 1, 2)
        );
        assert_eq!(rows[1].broker_cpu, Some(3.0));
        assert!(rows[1].note.as_deref().unwrap().contains("round 2 FAILED"));
        let t = table(&rows, true);
        assert!(
            t.contains("| franz | 50 | 4.00 | 64 | 5.0 | 4.00x | 2.00x | 3.00 | 1/2 |"),
            "{t}"
        );
        // Klamm 4x franz's rate at half its CPU: met.
        assert!(verdict(&rows).ends_with(": MET"), "{}", verdict(&rows));
    }

    #[test]
    fn the_target_is_judged_against_the_fastest_peer() {
        let samples = vec![
            sample(Client::Klamm, 0, 100.0, 1.0, Status::Passed),
            sample(Client::Franz, 0, 80.0, 1.5, Status::Passed),
            sample(Client::Sarama, 0, 20.0, 9.0, Status::Passed),
        ];
        let all = [Client::Klamm, Client::Franz, Client::Sarama];
        let v = verdict(&rows(&samples, BrokerKind::Kafka, true, &all));
        assert!(v.contains("fastest peer franz at 80 records/s"), "{v}");
        assert!(v.ends_with("NOT met (records/s and CPU)"), "{v}");
        let none = verdict(&rows(&samples, BrokerKind::Kafka, false, &all));
        assert!(none.contains("not judged"), "{none}");
    }

    #[test]
    fn formats_thousands() {
        assert_eq!(thousands(1_234_567.6), "1,234,568");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
    }
}
