//! Apache Kafka itself as a broker kind: a pinned release resolved from Maven Central and run
//! as a 3-node KRaft cluster on loopback, so every claim the testkit makes can be refereed by
//! the real thing.
//!
//! * **Resolve** ([`ensure_installed`]): `mvn dependency:copy-dependencies` on the checked-in
//!   `xtask/kafka/pom.xml` copies the broker and its dependencies into
//!   `target/tools/kafka/<version>/libs`, with Maven's local repository at `target/tools/m2`;
//!   a stamp file marks a complete copy, so the second run downloads nothing.
//! * **Start** ([`KafkaCluster::start`]): three combined broker+controller nodes (KRaft, a
//!   static quorum of the three), each with its own free ports, storage formatted by Kafka's
//!   `StorageTool`, a small heap, logs and data under `target/kafka-run/<run>/n<id>`;
//!   `min.insync.replicas=2` and replication factor 3 for the internal topics (transaction
//!   state, consumer offsets) and for topics created with the default. Ready when a Metadata
//!   request lists every node.
//! * **Stop**: [`KafkaCluster::stop`] or drop kills every JVM. A *lifeline* process holds the
//!   read end of a pipe whose write end only this process has; when the xtask ends in any way
//!   (exit, panic, Ctrl-C, `kill -9`), the pipe closes and the lifeline kills every node whose
//!   pid file it finds, so a failed run leaves no JVM behind. A node restarted by a fault
//!   scenario writes its new pid to the same file and is covered too.
//!
//! Scenarios find the cluster through `cluster.json` in the run directory (its path is passed
//! as `KLAMM_KAFKA_CLUSTER`): the bootstrap list and, per node, its id, port, pid file and
//! the exact command that starts it, so a fault scenario can `kill -9` a node and restart it.

use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::tansu::{free_port, tail_of};
use crate::{ui, workspace};

/// The Apache Kafka release the project is tested against (also in `xtask/kafka/pom.xml`).
pub const KAFKA_VERSION: &str = "4.1.1";

/// Nodes of the cluster: each is a broker and a controller.
pub const NODES: usize = 3;

/// How long a cluster may take to answer Metadata with every node.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// Environment variable through which scenarios find a running cluster's `cluster.json`.
pub const CLUSTER_ENV: &str = "KLAMM_KAFKA_CLUSTER";

/// The broker's JVM options: a small heap, so three JVMs and the clients fit on a 2-core,
/// 24 GiB machine with room to spare.
const JVM_OPTS: &[&str] = &[
    "-Xms192m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
];

fn pom() -> PathBuf {
    workspace::root()
        .join("xtask")
        .join("kafka")
        .join("pom.xml")
}

fn log_config() -> PathBuf {
    workspace::root()
        .join("xtask")
        .join("kafka")
        .join("log4j2.properties")
}

/// Whether `java` runs here: its version line, or why not (the reason a skip reports).
pub fn java() -> std::result::Result<String, String> {
    workspace::tool_version("java", &["-version"])
        .map_err(|why| format!("{why}; Apache Kafka needs Java 17+"))
}

/// Whether `mvn` runs here: its version line, or why not.
pub fn maven() -> std::result::Result<String, String> {
    workspace::tool_version("mvn", &["-v", "-B"])
}

/// A resolved Kafka release: every jar the broker needs, in one folder.
#[derive(Debug, Clone)]
pub struct Install {
    /// The release, e.g. `4.1.1`.
    pub version: String,
    /// The folder of jars (the classpath is `<libs>/*`).
    pub libs: PathBuf,
}

impl Install {
    /// The JVM classpath covering every jar.
    pub fn classpath(&self) -> String {
        format!("{}/*", self.libs.display())
    }
}

fn install_root() -> PathBuf {
    workspace::target_dir()
        .join("tools")
        .join("kafka")
        .join(KAFKA_VERSION)
}

/// Resolves the pinned Kafka release into `target/tools/kafka/<version>/libs` (once; later
/// calls find the stamp and download nothing).
pub fn ensure_installed() -> Result<Install> {
    let root = install_root();
    let libs = root.join("libs");
    let stamp = root.join("complete");
    let install = Install {
        version: KAFKA_VERSION.to_string(),
        libs: libs.clone(),
    };
    if stamp.is_file()
        && libs
            .join(format!("kafka_2.13-{KAFKA_VERSION}.jar"))
            .is_file()
    {
        println!(
            "kafka: Apache Kafka {KAFKA_VERSION} (cached in {})",
            libs.display()
        );
        return Ok(install);
    }
    if let Err(why) = maven() {
        bail!("cannot resolve Apache Kafka {KAFKA_VERSION}: {why}");
    }
    if libs.exists() {
        std::fs::remove_dir_all(&libs).with_context(|| format!("clearing {}", libs.display()))?;
    }
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let repo = workspace::target_dir().join("tools").join("m2");
    let pb = ui::spinner(&format!(
        "resolving Apache Kafka {KAFKA_VERSION} from Maven Central (first use only)"
    ));
    let mut cmd = Command::new("mvn");
    cmd.args(["-q", "-B", "-f"])
        .arg(pom())
        .arg(format!("-Dmaven.repo.local={}", repo.display()))
        .arg(format!("-Dkafka.version={KAFKA_VERSION}"))
        .arg("dependency:copy-dependencies")
        .arg(format!("-DoutputDirectory={}", libs.display()))
        .stdin(Stdio::null());
    ui::say(&pb, &format!("--> {}", ui::describe(&cmd)));
    let out = ui::run_streaming(&pb, cmd)?;
    pb.finish_and_clear();
    if !out.success {
        bail!(
            "Maven could not resolve org.apache.kafka:kafka_2.13:{KAFKA_VERSION} (exit {:?}); \
             its output is above",
            out.code
        );
    }
    let jar = libs.join(format!("kafka_2.13-{KAFKA_VERSION}.jar"));
    if !jar.is_file() {
        bail!("Maven finished but {} is missing", jar.display());
    }
    std::fs::write(&stamp, KAFKA_VERSION)
        .with_context(|| format!("writing {}", stamp.display()))?;
    println!(
        "kafka: Apache Kafka {KAFKA_VERSION} resolved into {}",
        libs.display()
    );
    Ok(install)
}

/// One node of a running cluster.
#[derive(Debug)]
struct Node {
    id: usize,
    port: u16,
    controller_port: u16,
    dir: PathBuf,
    command: Vec<String>,
    child: Option<Child>,
}

impl Node {
    fn pid_file(&self) -> PathBuf {
        self.dir.join("pid")
    }

    fn config(&self) -> PathBuf {
        self.dir.join("server.properties")
    }
}

/// A running 3-node KRaft cluster; [`KafkaCluster::stop`] or drop kills every JVM.
#[derive(Debug)]
pub struct KafkaCluster {
    run_dir: PathBuf,
    nodes: Vec<Node>,
    lifeline: Option<Child>,
}

fn runs_root() -> PathBuf {
    workspace::target_dir().join("kafka-run")
}

impl KafkaCluster {
    /// Formats and starts a fresh cluster from `install` and waits until Metadata lists
    /// every node. Nodes left by an earlier run that was killed are stopped first.
    pub fn start(install: &Install) -> Result<KafkaCluster> {
        if let Err(why) = java() {
            bail!("cannot run Apache Kafka: {why}");
        }
        sweep_stale_runs();
        let started = Instant::now();
        let run_dir = runs_root().join(format!("{}-{}", unix_millis(), std::process::id()));
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("creating {}", run_dir.display()))?;
        let mut nodes = Vec::with_capacity(NODES);
        for id in 1..=NODES {
            nodes.push(Node {
                id,
                port: free_port()?,
                controller_port: free_port()?,
                dir: run_dir.join(format!("n{id}")),
                command: Vec::new(),
                child: None,
            });
        }
        let voters = nodes
            .iter()
            .map(|n| format!("{}@127.0.0.1:{}", n.id, n.controller_port))
            .collect::<Vec<_>>()
            .join(",");
        for node in &mut nodes {
            std::fs::create_dir_all(node.dir.join("data"))
                .with_context(|| format!("creating {}", node.dir.display()))?;
            std::fs::write(node.config(), server_properties(node, &voters))
                .with_context(|| format!("writing {}", node.config().display()))?;
            node.command = node_command(install, node);
        }
        let mut cluster = KafkaCluster {
            run_dir,
            nodes,
            lifeline: None,
        };
        cluster.lifeline = Some(spawn_lifeline(&cluster.run_dir)?);
        cluster.format(install)?;
        for node in &mut cluster.nodes {
            let log = node.dir.join("stdout.log");
            let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
            let err = out.try_clone()?;
            let child = Command::new(&node.command[0])
                .args(&node.command[1..])
                .current_dir(&node.dir)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .with_context(|| format!("starting Kafka node {}", node.id))?;
            std::fs::write(node.pid_file(), child.id().to_string())?;
            node.child = Some(child);
        }
        cluster.write_description()?;
        println!(
            "kafka: starting Apache Kafka {} on {} (3 KRaft nodes, logs under {})",
            install.version,
            cluster.bootstrap(),
            cluster.run_dir.display()
        );
        if let Err(e) = cluster.wait_ready(START_TIMEOUT) {
            let tails = cluster
                .nodes
                .iter()
                .map(|n| {
                    format!(
                        "--- node {} ({}) ---\n{}",
                        n.id,
                        n.dir.join("server.log").display(),
                        tail_of(&n.dir.join("server.log"), 15)
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            cluster.kill_all();
            bail!("Apache Kafka did not come up: {e:#}\n{tails}");
        }
        println!(
            "kafka: cluster ready in {} ({})",
            ui::fmt_duration(started.elapsed()),
            cluster.bootstrap()
        );
        Ok(cluster)
    }

    /// `bootstrap.servers` for a client: every node's listener.
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The `cluster.json` that scenarios read (pass it as [`CLUSTER_ENV`]).
    pub fn description(&self) -> PathBuf {
        self.run_dir.join("cluster.json")
    }

    /// The process id of each node's JVM, from its pid file (a node restarted by a fault
    /// scenario included); nodes whose file is missing or unreadable are left out.
    pub fn node_pids(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .filter_map(|n| {
                std::fs::read_to_string(n.pid_file())
                    .ok()?
                    .trim()
                    .parse()
                    .ok()
            })
            .collect()
    }

    /// Kills every node and the lifeline, and waits for them.
    pub fn stop(mut self) {
        self.kill_all();
    }

    fn format(&self, install: &Install) -> Result<()> {
        let cluster_id = cluster_id();
        let mut formatting = Vec::new();
        for node in &self.nodes {
            let log = node.dir.join("format.log");
            let out = File::create(&log)?;
            let err = out.try_clone()?;
            let child = Command::new("java")
                .args(["-Xmx256m", "-cp", &install.classpath()])
                .arg(format!(
                    "-Dlog4j2.configurationFile={}",
                    log_config().display()
                ))
                .arg(format!("-Dkafka.logs.dir={}", node.dir.display()))
                .args(["kafka.tools.StorageTool", "format", "-t", &cluster_id, "-c"])
                .arg(node.config())
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .context("starting Kafka's StorageTool")?;
            formatting.push((node, child, log));
        }
        for (node, mut child, log) in formatting {
            let status = child.wait()?;
            if !status.success() {
                bail!(
                    "formatting node {}'s storage failed ({status}):\n{}",
                    node.id,
                    tail_of(&log, 20)
                );
            }
        }
        Ok(())
    }

    fn write_description(&self) -> Result<()> {
        let nodes: Vec<serde_json::Value> = self
            .nodes
            .iter()
            .map(|n| {
                serde_json::json!({
                    "id": n.id,
                    "port": n.port,
                    "dir": n.dir,
                    "pid_file": n.pid_file(),
                    "command": n.command,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "version": KAFKA_VERSION,
            "bootstrap": self.bootstrap(),
            "nodes": nodes,
        });
        let path = self.description();
        std::fs::write(&path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            for node in &mut self.nodes {
                if let Some(child) = node.child.as_mut()
                    && let Some(status) = child.try_wait()?
                {
                    bail!("node {} exited ({status}) while starting", node.id);
                }
            }
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.nodes[0].port));
            let last = match metadata_broker_count(addr) {
                Ok(n) if n >= self.nodes.len() => return Ok(()),
                Ok(n) => format!("Metadata lists {n} of {} brokers", self.nodes.len()),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() > deadline {
                bail!("not ready within {timeout:?}: {last}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn kill_all(&mut self) {
        for node in &mut self.nodes {
            // A node a fault scenario restarted is not our child: its pid is in the file.
            kill_from_pid_file(&node.pid_file(), &node.config());
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if let Some(mut lifeline) = self.lifeline.take() {
            let _ = lifeline.kill();
            let _ = lifeline.wait();
        }
    }
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// `server.properties` of one node.
fn server_properties(node: &Node, voters: &str) -> String {
    let id = node.id;
    let port = node.port;
    let cport = node.controller_port;
    let data = node.dir.join("data");
    format!(
        "# Written by `cargo xtask` (xtask/src/kafka.rs) for a throwaway loopback cluster.
process.roles=broker,controller
node.id={id}
controller.quorum.voters={voters}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data}
# Replication as a production cluster would have it: three copies, two in sync to accept
# an acks=all write (so a single broker down still accepts writes, two down do not).
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
# Fewer internal partitions than the default 50 start faster and still spread the
# coordinators of different ids over all three nodes.
offsets.topic.num.partitions=6
transaction.state.log.num.partitions=6
num.partitions=3
group.initial.rebalance.delay.ms=0
# Look for timed-out transactions every second instead of every 10 s, so a test of
# transaction.timeout.ms sees the coordinator abort within about its timeout.
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
# Client quotas measured over 2 windows of 1 s (Kafka's default is 11): a quota test sees
# throttles of about a second instead of up to 11 s. klamm-integration configures the
# testkit the same way (QUOTA_WINDOW_SAMPLES), so both can be compared.
quota.window.num=2
quota.window.size.seconds=1
# Small thread pools: three nodes share two cores.
num.network.threads=2
num.io.threads=4
num.replica.fetchers=1
background.threads=4
log.cleaner.enable=true
log.cleaner.threads=1
# Writes go to the page cache only; the data is thrown away after the run.
log.flush.interval.messages=9223372036854775807
",
        data = data.display()
    )
}

fn node_command(install: &Install, node: &Node) -> Vec<String> {
    let mut cmd: Vec<String> = vec!["java".into()];
    cmd.extend(JVM_OPTS.iter().map(|s| s.to_string()));
    cmd.push(format!(
        "-Dlog4j2.configurationFile={}",
        log_config().display()
    ));
    cmd.push(format!("-Dkafka.logs.dir={}", node.dir.display()));
    cmd.push("-cp".into());
    cmd.push(install.classpath());
    cmd.push("kafka.Kafka".into());
    cmd.push(node.config().display().to_string());
    cmd
}

/// Starts the lifeline: a shell that ignores Ctrl-C and hang-ups, blocks reading a pipe
/// only this process writes to, and, when the pipe closes (this process ended, however),
/// kills every Kafka node of `run_dir` by its pid file.
fn spawn_lifeline(run_dir: &Path) -> Result<Child> {
    let script = r#"trap '' INT HUP TERM
cat >/dev/null
for f in "$0"/n*/pid; do
  p=$(cat "$f" 2>/dev/null) || continue
  grep -q kafka.Kafka "/proc/$p/cmdline" 2>/dev/null && kill -9 "$p" 2>/dev/null
done
exit 0"#;
    Command::new("sh")
        .args(["-c", script])
        .arg(run_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the lifeline that stops the Kafka nodes when the xtask ends")
}

/// Kills the process in `pid_file` if it is a Kafka node running `config`.
fn kill_from_pid_file(pid_file: &Path, config: &Path) {
    let Ok(pid) = std::fs::read_to_string(pid_file) else {
        return;
    };
    let pid = pid.trim();
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline);
    if cmdline.contains("kafka.Kafka") && cmdline.contains(&*config.to_string_lossy()) {
        let _ = Command::new("kill")
            .args(["-9", pid])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Stops nodes of earlier runs whose xtask is gone (a run killed before its lifeline could
/// act, e.g. the whole process group killed at once) and removes those runs' folders. A run
/// whose xtask is still alive (its pid ends the folder's name) is another command's cluster
/// and is left alone.
fn sweep_stale_runs() {
    let Ok(entries) = std::fs::read_dir(runs_root()) else {
        return;
    };
    for run in entries.flatten() {
        let run = run.path();
        let owner = run
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.rsplit('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if owner.is_some_and(|pid| pid != std::process::id() && process_alive(pid)) {
            continue;
        }
        for id in 1..=NODES {
            let node = run.join(format!("n{id}"));
            kill_from_pid_file(&node.join("pid"), &node.join("server.properties"));
        }
        let _ = std::fs::remove_dir_all(&run);
    }
}

/// Whether a process with this pid exists (and is not a zombie).
fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the command name in parentheses: "pid (comm) S ...".
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// A random KRaft cluster id: 16 bytes, base64url without padding (22 characters), as
/// `kafka-storage random-uuid` prints.
fn cluster_id() -> String {
    let mut bytes = [0u8; 16];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(unix_nanos());
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    base64url(&bytes)
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn unix_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn unix_millis() -> u128 {
    unix_nanos() / 1_000_000
}

/// Asks `addr` for Metadata (v1, no topics) and returns how many brokers it lists. The
/// request is written by hand: the xtask stays free of the workspace's crates, so it starts
/// fast from a cold cache.
fn metadata_broker_count(addr: SocketAddr) -> Result<usize> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let client_id = b"klamm-xtask";
    let mut body = Vec::new();
    body.extend_from_slice(&3i16.to_be_bytes()); // api key: Metadata
    body.extend_from_slice(&1i16.to_be_bytes()); // version 1 (header v1, no tagged fields)
    body.extend_from_slice(&1i32.to_be_bytes()); // correlation id
    body.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    body.extend_from_slice(client_id);
    body.extend_from_slice(&0i32.to_be_bytes()); // topics: none
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    stream.write_all(&frame)?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = i32::from_be_bytes(len);
    if !(8..=1 << 20).contains(&len) {
        bail!("Metadata answer of {len} bytes");
    }
    let mut answer = vec![0u8; len as usize];
    stream.read_exact(&mut answer)?;
    // correlation id (4), then the brokers array's count (4).
    let count = i32::from_be_bytes([answer[4], answer[5], answer[6], answer[7]]);
    usize::try_from(count).context("negative broker count")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pom_pins_the_same_release() {
        let pom = include_str!("../kafka/pom.xml");
        assert!(
            pom.contains(&format!("<kafka.version>{KAFKA_VERSION}</kafka.version>")),
            "xtask/kafka/pom.xml and KAFKA_VERSION disagree"
        );
    }

    #[test]
    fn base64url_matches_known_vectors() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(cluster_id().len(), 22);
        assert_ne!(cluster_id(), cluster_id());
    }

    #[test]
    fn node_config_names_the_quorum_and_replication() {
        let node = Node {
            id: 2,
            port: 9092,
            controller_port: 9093,
            dir: PathBuf::from("/tmp/n2"),
            command: Vec::new(),
            child: None,
        };
        let props = server_properties(&node, "1@127.0.0.1:1,2@127.0.0.1:9093");
        assert!(props.contains("node.id=2\n"));
        assert!(props.contains("controller.quorum.voters=1@127.0.0.1:1,2@127.0.0.1:9093\n"));
        assert!(props.contains("listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"));
        assert!(props.contains("transaction.state.log.replication.factor=3\n"));
        assert!(props.contains("min.insync.replicas=2\n"));
    }

    #[test]
    fn a_running_process_is_alive_and_a_finished_one_is_not() {
        assert!(process_alive(std::process::id()));
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!process_alive(pid));
    }

    #[test]
    fn a_stale_pid_file_kills_nothing_else() {
        let dir = workspace::target_dir().join("kafka-run-test");
        std::fs::create_dir_all(&dir).unwrap();
        let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
        let pid_file = dir.join("pid");
        std::fs::write(&pid_file, sleeper.id().to_string()).unwrap();
        // Not a Kafka node: left alone.
        kill_from_pid_file(&pid_file, &dir.join("server.properties"));
        assert!(sleeper.try_wait().unwrap().is_none());
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
