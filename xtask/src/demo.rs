//! `cargo xtask demo [--bootstrap HOST:PORT | --kafka | --docker]`: the main job, on whatever
//! exists. `--kafka` starts Apache Kafka itself (a 3-node KRaft cluster on loopback, see
//! [`crate::kafka`]) and stops it at the end.
//!
//! The demo is a list of acts, each run only when the workspace has the target it needs
//! (found through `cargo metadata`, so the demo grows as crates land):
//!
//! | act | needs | runs |
//! |---|---|---|
//! | cluster | `klamm-testkit` bin (or `--bootstrap` / `--docker`; until the testkit binary lands, the librdkafka mock via `klamm-broker mock`) | `cargo run -p klamm-testkit -- --brokers 3`, reads `bootstrap: ...` |
//! | producer | `klamm-producer` example `perf` | `perf --bootstrap ADDR --topic klamm-demo --num-records 200000 --record-size 100` |
//! | pool | `klamm-pool` example `orders_service` | `orders_service --bootstrap ADDR --drive 2000 --concurrency 64` (fires the requests at itself, reads back read_committed, prints its results table) |
//!
//! Acts whose target does not exist yet are listed as "not yet" with the issue that brings
//! them; the demo never pretends they ran.

use std::io::{BufRead, BufReader};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::ui::{self, Status, StepReport, TestCounts};
use crate::{docker, kafka, workspace};

/// Options of `cargo xtask demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Use an existing Kafka cluster instead of the embedded testkit cluster.
    #[arg(long, value_name = "HOST:PORT", conflicts_with_all = ["docker", "kafka"])]
    pub bootstrap: Option<String>,
    /// Start Apache Kafka (resolved from Maven Central, 3 KRaft nodes on loopback; needs
    /// Java 17+ and Maven) and run the demo on it.
    #[arg(long, conflicts_with = "docker")]
    pub kafka: bool,
    /// Use Apache Kafka in a Docker container (Testcontainers; needs a Docker engine).
    #[arg(long)]
    pub docker: bool,
}

/// The topic the producer act writes (created with 6 partitions on the embedded cluster).
const DEMO_TOPIC: &str = "klamm-demo";

struct Act {
    name: &'static str,
    package: &'static str,
    kind: &'static str,
    target: &'static str,
    comes_with: &'static str,
}

const ACTS: &[Act] = &[
    Act {
        name: "producer",
        package: "klamm-producer",
        kind: "example",
        target: "perf",
        comes_with: "issue 6 (klamm-producer, examples/perf.rs)",
    },
    Act {
        name: "pool",
        package: "klamm-pool",
        kind: "example",
        target: "orders_service",
        comes_with: "issue 8 (klamm-pool, examples/orders_service.rs)",
    },
];

/// Runs the demo; returns whether every act that exists succeeded.
pub fn run(args: &DemoArgs) -> Result<bool> {
    let start = ui::clock();
    let members = workspace::members()?;
    let ready: Vec<&Act> = ACTS
        .iter()
        .filter(|a| workspace::find(&members, a.package).is_some_and(|p| p.has(a.kind, a.target)))
        .collect();
    println!("Klamm demo: what exists and what is still to come");
    for a in ACTS {
        let state = if ready.iter().any(|r| r.name == a.name) {
            "ready".to_string()
        } else {
            format!("not yet: comes with {}", a.comes_with)
        };
        let target = format!("{} {} {}", a.package, a.kind, a.target);
        println!("  {:<9} {target:<38} {state}", a.name);
    }

    let mut reports = Vec::new();
    // The cluster: an external one, a Docker one, or the embedded testkit.
    let t = ui::clock();
    let cluster = match cluster(args, &members) {
        Ok(c) => c,
        Err(e) => {
            reports.push(StepReport {
                name: "cluster".into(),
                status: Status::Failed(format!("{e:#}")),
                elapsed: t.elapsed(),
                tests: TestCounts::default(),
                detail: String::new(),
            });
            return Ok(ui::summary("demo", &reports, start.elapsed()));
        }
    };
    reports.push(StepReport {
        name: "cluster".into(),
        status: match &cluster.bootstrap {
            Some(_) => Status::Passed,
            None => Status::Skipped(cluster.note.clone()),
        },
        elapsed: t.elapsed(),
        tests: TestCounts::default(),
        detail: cluster.bootstrap.clone().unwrap_or_default(),
    });

    let bar = ProgressBar::new(ACTS.len() as u64);
    if !ui::interactive() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    for act in ACTS {
        bar.set_message(act.name);
        let t = ui::clock();
        let status = if !ready.iter().any(|r| r.name == act.name) {
            Status::Skipped(format!("not yet: comes with {}", act.comes_with))
        } else if let Some(addr) = &cluster.bootstrap {
            run_act(&bar, act, addr)?
        } else {
            Status::Skipped(format!("no cluster: {}", cluster.note))
        };
        reports.push(StepReport {
            name: act.name.into(),
            status,
            elapsed: t.elapsed(),
            tests: TestCounts::default(),
            detail: format!("{} {}", act.package, act.target),
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    drop(cluster);
    Ok(ui::summary("demo", &reports, start.elapsed()))
}

fn run_act(bar: &ProgressBar, act: &Act, addr: &str) -> Result<Status> {
    let mut cmd = workspace::cargo();
    cmd.args(["run", "-q", "--release", "-p", act.package])
        .args([format!("--{}", act.kind), act.target.to_string()])
        .args(["--", "--bootstrap", addr]);
    if act.name == "pool" {
        // The service plays its own 64 concurrent clients, reads both topics back
        // read_committed and prints the results table.
        cmd.args(["--drive", "2000", "--concurrency", "64"]);
    }
    if act.name == "producer" {
        cmd.args([
            "--topic",
            DEMO_TOPIC,
            "--num-records",
            "200000",
            "--record-size",
            "100",
        ]);
    }
    ui::say(bar, &format!("--> {}", ui::describe(&cmd)));
    let out = ui::run_streaming(bar, cmd)?;
    Ok(if out.success {
        Status::Passed
    } else {
        Status::Failed(format!(
            "{} exited with {:?}; see its output above",
            act.target, out.code
        ))
    })
}

/// The cluster the acts run against; dropping it stops what the demo started.
struct Cluster {
    bootstrap: Option<String>,
    note: String,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    _docker: Option<docker::Kafka>,
    _kafka: Option<kafka::KafkaCluster>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Closing the input asks a `klamm-broker` to stop; the testkit binary is killed.
        drop(self.stdin.take());
        if let Some(c) = self.child.as_mut() {
            std::thread::sleep(Duration::from_millis(300));
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn cluster(args: &DemoArgs, members: &[workspace::Package]) -> Result<Cluster> {
    if let Some(addr) = &args.bootstrap {
        check_reachable(addr)?;
        return Ok(Cluster {
            bootstrap: Some(addr.clone()),
            note: String::new(),
            child: None,
            stdin: None,
            _docker: None,
            _kafka: None,
        });
    }
    if args.kafka {
        let java = kafka::java().map_err(|e| anyhow::anyhow!(e))?;
        println!("cluster: {java}");
        let install = kafka::ensure_installed()?;
        let running = kafka::KafkaCluster::start(&install)?;
        return Ok(Cluster {
            bootstrap: Some(running.bootstrap()),
            note: String::new(),
            child: None,
            stdin: None,
            _docker: None,
            _kafka: Some(running),
        });
    }
    if args.docker {
        let version = docker::engine().map_err(|e| anyhow::anyhow!(e))?;
        println!("Docker engine {version} answered; starting apache/kafka (KRaft)");
        let kafka = docker::start_kafka()?;
        return Ok(Cluster {
            bootstrap: Some(kafka.bootstrap().to_string()),
            note: String::new(),
            child: None,
            stdin: None,
            _docker: Some(kafka),
            _kafka: None,
        });
    }
    let has_testkit_bin =
        workspace::find(members, "klamm-testkit").is_some_and(|p| !p.targets_of("bin").is_empty());
    let mut cmd = workspace::cargo();
    let note = if has_testkit_bin {
        cmd.args([
            "run",
            "-q",
            "-p",
            "klamm-testkit",
            "--",
            "--brokers",
            "3",
            "--topic",
            &format!("{DEMO_TOPIC}:6"),
        ]);
        String::new()
    } else {
        // Until the testkit binary lands, the librdkafka mock cluster stands in.
        cmd.args([
            "run",
            "-q",
            "-p",
            "klamm-integration",
            "--bin",
            "klamm-broker",
            "--",
            "mock",
            "--brokers",
            "3",
        ]);
        "the embedded klamm-testkit binary is not yet there (issue 3): \
         using the librdkafka mock cluster instead"
            .to_string()
    };
    if !note.is_empty() {
        println!("cluster: {note}");
    }
    spawn_cluster(cmd, note)
}

/// Starts a broker process that prints `bootstrap: ...` first and runs until its input
/// closes or it is killed.
fn spawn_cluster(mut cmd: std::process::Command, note: String) -> Result<Cluster> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    println!("cluster: {}", ui::describe(&cmd));
    let mut child = cmd.spawn().context("starting the cluster")?;
    let stdin = child.stdin.take();
    let stdout = child
        .stdout
        .take()
        .context("the cluster process has no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.strip_prefix("bootstrap: ") {
                let _ = tx.send(addr.trim().to_string());
            }
        }
    });
    // Generous: the first run compiles the cluster's crate.
    match rx.recv_timeout(Duration::from_secs(900)) {
        Ok(addr) => {
            println!("cluster: bootstrap {addr}");
            Ok(Cluster {
                bootstrap: Some(addr),
                note,
                child: Some(child),
                stdin,
                _docker: None,
                _kafka: None,
            })
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the cluster process printed no `bootstrap: ...` line (see its output above)")
        }
    }
}

/// Fails with advice when nothing answers at `addr`.
fn check_reachable(addr: &str) -> Result<()> {
    let first = addr.split(',').next().unwrap_or(addr);
    let addrs: Vec<_> = first
        .to_socket_addrs()
        .with_context(|| format!("`{first}` is not a HOST:PORT address"))?
        .collect();
    for a in &addrs {
        if TcpStream::connect_timeout(a, Duration::from_secs(5)).is_ok() {
            return Ok(());
        }
    }
    bail!(
        "nothing answered at {first}: start that cluster, or run without --bootstrap to use the embedded one"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_bootstrap_says_what_to_do() {
        // Port 1 is below the ephemeral range: a connection to a free ephemeral port on
        // loopback can connect to itself (TCP simultaneous open) and seem answered.
        let err = check_reachable("127.0.0.1:1").unwrap_err();
        assert!(err.to_string().contains("run without --bootstrap"), "{err}");
        assert!(check_reachable("not an address").is_err());
    }
}
