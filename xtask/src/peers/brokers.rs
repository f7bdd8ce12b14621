//! The brokers that peer comparisons run against, started by the xtask, and their own CPU.
//!
//! * **klamm-testkit**: the release build of its binary (`cargo build --release -p
//!   klamm-testkit`), 3 brokers in one process, restarted for every fresh topic so that each
//!   setting starts with empty in-memory logs. It is started through a small shell that
//!   holds a pipe from the xtask and kills the testkit when that pipe closes, so a testkit
//!   never outlives the xtask (however it ends).
//! * **Apache Kafka**: the 3-node KRaft cluster of [`crate::kafka`], started once; each
//!   fresh topic is created with Kafka's own `org.apache.kafka.tools.TopicCommand` (from the
//!   resolved Kafka libs) with replication factor 3, checked with `--describe` until every
//!   partition has a leader, and deleted again when the next one is created.
//!
//! [`PeerBroker::cpu`] sums the user and system CPU time of the broker processes (the
//! testkit process, or every node's JVM) from `/proc/<pid>/stat`, in clock ticks of
//! `getconf CLK_TCK` (100 on Linux), so a caller can read it before and after a client's run.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;

use crate::kafka::{self, Install, KafkaCluster};
use crate::{ui, workspace};

/// Which broker a comparison runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    /// klamm-testkit, in memory, 3 brokers in one process.
    Testkit,
    /// Apache Kafka, 3 KRaft nodes on loopback.
    Kafka,
}

impl BrokerKind {
    /// Its short name: `testkit` or `kafka`.
    pub fn name(self) -> &'static str {
        match self {
            BrokerKind::Testkit => "testkit",
            BrokerKind::Kafka => "kafka",
        }
    }

    /// Why this broker cannot run here, if it cannot (Kafka needs `java`).
    pub fn unavailable(self) -> Option<String> {
        match self {
            BrokerKind::Testkit => None,
            BrokerKind::Kafka => kafka::java().err(),
        }
    }
}

/// A testkit process behind its lifeline shell.
#[derive(Debug)]
struct TestkitProcess {
    shell: Child,
    /// The pipe whose closing makes the shell kill the testkit.
    lifeline: Option<ChildStdin>,
    pid: u32,
    bootstrap: String,
}

#[derive(Debug)]
enum Running {
    Testkit {
        binary: PathBuf,
        process: Option<TestkitProcess>,
    },
    Kafka {
        install: Install,
        cluster: KafkaCluster,
        /// Topics created so far and not yet deleted.
        topics: Vec<String>,
    },
}

/// A running broker for peer comparisons; stopped by [`PeerBroker::stop`] or on drop.
#[derive(Debug)]
pub struct PeerBroker {
    description: String,
    running: Running,
}

impl PeerBroker {
    /// Builds (testkit) or resolves (Kafka) the broker and starts it. The testkit only
    /// starts serving with [`PeerBroker::fresh_topic`].
    pub fn start(kind: BrokerKind, pb: &ProgressBar) -> Result<PeerBroker> {
        match kind {
            BrokerKind::Testkit => {
                let binary = super::build::cargo_release(
                    pb,
                    "the klamm-testkit binary",
                    &["-p", "klamm-testkit", "--bin", "klamm-testkit"],
                    &["klamm-testkit"],
                )?;
                Ok(PeerBroker {
                    description: format!(
                        "klamm-testkit {} (in memory, 3 brokers in one process, release build)",
                        env!("CARGO_PKG_VERSION")
                    ),
                    running: Running::Testkit {
                        binary,
                        process: None,
                    },
                })
            }
            BrokerKind::Kafka => {
                let java = match kafka::java() {
                    Ok(version) => version,
                    Err(why) => bail!("cannot run Apache Kafka: {why}"),
                };
                let install = kafka::ensure_installed()?;
                let cluster = KafkaCluster::start(&install)?;
                Ok(PeerBroker {
                    description: format!(
                        "Apache Kafka {} (3 KRaft nodes on loopback, replication factor 3, \
                         min.insync.replicas 2; {java})",
                        install.version
                    ),
                    running: Running::Kafka {
                        install,
                        cluster,
                        topics: Vec::new(),
                    },
                })
            }
        }
    }

    /// What runs, with its version, for the report.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// `bootstrap.servers` for the clients (empty for a testkit not yet serving).
    pub fn bootstrap(&self) -> String {
        match &self.running {
            Running::Testkit { process, .. } => process
                .as_ref()
                .map(|p| p.bootstrap.clone())
                .unwrap_or_default(),
            Running::Kafka { cluster, .. } => cluster.bootstrap(),
        }
    }

    /// Makes `name` an empty topic of `partitions` partitions: a restarted testkit that
    /// holds only it, or a new Kafka topic (replication factor 3) after deleting the
    /// topics this broker created before.
    pub fn fresh_topic(&mut self, name: &str, partitions: u32, pb: &ProgressBar) -> Result<()> {
        match &mut self.running {
            Running::Testkit { binary, process } => {
                // Dropping the old process stops it.
                drop(process.take());
                *process = Some(spawn_testkit(binary, name, partitions)?);
                Ok(())
            }
            Running::Kafka {
                install,
                cluster,
                topics,
            } => {
                let bootstrap = cluster.bootstrap();
                for old in std::mem::take(topics) {
                    ui::say(pb, &format!("kafka: deleting topic {old}"));
                    topic_command(install, &bootstrap, &["--delete", "--topic", &old])?;
                }
                ui::say(
                    pb,
                    &format!("kafka: creating topic {name} ({partitions} partitions, RF 3)"),
                );
                let parts = partitions.to_string();
                topic_command(
                    install,
                    &bootstrap,
                    &[
                        "--create",
                        "--topic",
                        name,
                        "--partitions",
                        &parts,
                        "--replication-factor",
                        "3",
                    ],
                )?;
                topics.push(name.to_string());
                wait_for_leaders(install, &bootstrap, name, partitions)
            }
        }
    }

    /// The broker processes' ids (none for a testkit not yet serving).
    fn pids(&self) -> Vec<u32> {
        match &self.running {
            Running::Testkit { process, .. } => process.iter().map(|p| p.pid).collect(),
            Running::Kafka { cluster, .. } => cluster.node_pids(),
        }
    }

    /// Why the broker cannot serve any more (a process of it has exited or was killed),
    /// or None while every process of it runs.
    pub fn gone(&self) -> Option<String> {
        let pids = self.pids();
        if pids.is_empty() {
            return Some("no broker process is running".into());
        }
        let dead: Vec<String> = pids
            .iter()
            .filter(|&&pid| !running(pid))
            .map(u32::to_string)
            .collect();
        (!dead.is_empty()).then(|| {
            format!(
                "broker process(es) {} exited or were killed (another cluster's start-up \
                 sweeping this run's nodes does that)",
                dead.join(", ")
            )
        })
    }

    /// User + system CPU time the broker processes have used so far; None when `/proc`
    /// could not be read for one of them.
    pub fn cpu(&self) -> Option<Duration> {
        let pids = self.pids();
        if pids.is_empty() {
            return None;
        }
        let ticks = pids
            .iter()
            .map(|&pid| cpu_ticks(pid))
            .sum::<Option<u64>>()?;
        Some(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
    }

    /// Stops the broker (every process it started).
    pub fn stop(self) {
        match self.running {
            Running::Testkit { process, .. } => drop(process),
            Running::Kafka { cluster, .. } => cluster.stop(),
        }
    }
}

impl Drop for TestkitProcess {
    /// Closes the lifeline: the shell kills the testkit and exits.
    fn drop(&mut self) {
        drop(self.lifeline.take());
        let _ = self.shell.wait();
    }
}

/// The shell that runs the testkit: prints its pid, then blocks reading its input (a pipe
/// only the xtask writes to) and kills the testkit when that input closes.
const LIFELINE: &str = r#"trap '' INT HUP
"$0" "$@" </dev/null &
p=$!
echo "pid: $p"
cat >/dev/null
kill -9 "$p" 2>/dev/null
wait "$p" 2>/dev/null
exit 0"#;

/// Starts the testkit with one topic and waits for its `bootstrap:` line.
fn spawn_testkit(binary: &PathBuf, topic: &str, partitions: u32) -> Result<TestkitProcess> {
    let log = workspace::target_dir()
        .join("tmp")
        .join("peers-testkit.log");
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let stderr = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let mut shell = Command::new("sh")
        .args(["-c", LIFELINE])
        .arg(binary)
        .args([
            "--brokers",
            "3",
            "--topic",
            &format!("{topic}:{partitions}"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .context("starting klamm-testkit")?;
    let lifeline = shell.stdin.take();
    let stdout = shell
        .stdout
        .take()
        .context("the testkit shell has no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Keeps reading to the end, so the testkit never blocks on a full pipe.
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let mut process = TestkitProcess {
        shell,
        lifeline,
        pid: 0,
        bootstrap: String::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while process.pid == 0 || process.bootstrap.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            bail!(
                "klamm-testkit printed no `bootstrap:` line within 60 s (its log: {})",
                log.display()
            );
        };
        if let Some(pid) = line.strip_prefix("pid: ") {
            process.pid = pid.trim().parse().context("the testkit shell's pid line")?;
        } else if let Some(addr) = line.strip_prefix("bootstrap: ") {
            process.bootstrap = addr.trim().to_string();
        }
    }
    Ok(process)
}

/// Runs Kafka's `TopicCommand` with `args` against `bootstrap` and returns its output.
fn topic_command(install: &Install, bootstrap: &str, args: &[&str]) -> Result<String> {
    let out = Command::new("java")
        .args(["-Xmx256m", "-cp", &install.classpath()])
        .arg("org.apache.kafka.tools.TopicCommand")
        .args(["--bootstrap-server", bootstrap])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("starting Kafka's TopicCommand")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!(
            "TopicCommand {} failed ({}):\n{}",
            args.join(" "),
            out.status,
            text.trim()
        );
    }
    Ok(text)
}

/// How many partitions a `TopicCommand --describe` output lists with an elected leader.
fn partitions_with_leader(describe: &str) -> u32 {
    describe
        .lines()
        .filter(|l| l.contains("Partition: "))
        .filter(|l| {
            l.split("Leader: ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|id| id.parse::<i64>().ok())
                .is_some_and(|id| id >= 0)
        })
        .count() as u32
}

/// Describes `topic` until every one of its partitions has a leader (30 s at most).
fn wait_for_leaders(
    install: &Install,
    bootstrap: &str,
    topic: &str,
    partitions: u32,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = topic_command(install, bootstrap, &["--describe", "--topic", topic])?;
        let led = partitions_with_leader(&text);
        if led >= partitions {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("topic {topic}: {led} of {partitions} partitions have a leader after 30 s");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Whether `pid` exists and is neither a zombie nor dead (state `Z` or `X` in its stat).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat.get(stat.rfind(')')? + 2..)?.chars().next()?;
            Some(!matches!(state, 'Z' | 'X' | 'x'))
        })
        .unwrap_or(false)
}

/// utime + stime of `pid` in clock ticks, from `/proc/<pid>/stat`.
fn cpu_ticks(pid: u32) -> Option<u64> {
    parse_stat_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted from its last `)`.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let after = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100, Linux's fixed USER_HZ, if that fails).
pub fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_ticks_from_a_stat_line() {
        let stat = "4242 (java (x) y) S 1 4242 4242 0 -1 4194560 9000 0 3 0 1500 230 0 0 20 0 \
                    60 0 12345 4000000000 90000";
        assert_eq!(parse_stat_ticks(stat), Some(1730));
        assert_eq!(parse_stat_ticks("4242 (java) S 1"), None);
        // This very process has used some CPU already.
        assert!(cpu_ticks(std::process::id()).is_some());
        assert!(clock_ticks() > 0);
    }

    #[test]
    fn counts_partitions_with_a_leader() {
        let text = "Topic: t\tTopicId: x\tPartitionCount: 3\tReplicationFactor: 3\n\
            \tTopic: t\tPartition: 0\tLeader: 2\tReplicas: 2,3,1\tIsr: 2,3,1\n\
            \tTopic: t\tPartition: 1\tLeader: none\tReplicas: 3,1,2\tIsr: \n\
            \tTopic: t\tPartition: 2\tLeader: -1\tReplicas: 1,2,3\tIsr: \n";
        assert_eq!(partitions_with_leader(text), 1);
    }

    #[test]
    fn the_testkit_dies_with_its_lifeline() {
        // `sleep` stands in for the testkit: the shell prints its pid, and closing the
        // pipe kills it.
        let mut shell = Command::new("sh")
            .args(["-c", LIFELINE, "sleep", "30"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(shell.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let pid: u32 = line.trim().strip_prefix("pid: ").unwrap().parse().unwrap();
        assert!(
            cpu_ticks(pid).is_some() && running(pid),
            "the stand-in runs"
        );
        let started = Instant::now();
        drop(shell.stdin.take());
        assert!(shell.wait().unwrap().success());
        assert!(started.elapsed() < Duration::from_secs(10));
        // Killed and reaped by the shell: gone from /proc (or a zombie being reaped).
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(stat.is_empty() || stat.contains(") Z"), "{stat}");
        assert!(!running(pid));
    }
}
