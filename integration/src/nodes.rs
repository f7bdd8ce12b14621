//! Control over the Apache Kafka nodes `cargo xtask integration --broker kafka` started:
//! `kill -9` a node, restart it with the exact command it was started with, pause it with
//! SIGSTOP and resume it with SIGCONT. The xtask describes its cluster in a `cluster.json`
//! whose path it passes as `KLAMM_KAFKA_CLUSTER`; a node restarted here writes its new pid to
//! the node's pid file, which the xtask's lifeline reads, so no restarted node outlives the
//! run.

use std::fs::OpenOptions;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::scenario::ScenarioError;

/// Environment variable naming the running cluster's `cluster.json`.
pub const CLUSTER_ENV: &str = "KLAMM_KAFKA_CLUSTER";

/// One node of the cluster, as the xtask describes it.
#[derive(Debug, Clone)]
pub struct KafkaNode {
    /// The node id (`node.id`, also the broker id in Metadata).
    pub id: i32,
    /// Its client listener port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    pid_file: PathBuf,
    command: Vec<String>,
}

/// Every node of the running cluster.
#[derive(Debug, Clone)]
pub struct KafkaNodes {
    nodes: Vec<KafkaNode>,
}

impl KafkaNodes {
    /// Reads the cluster the xtask described in `KLAMM_KAFKA_CLUSTER`; `Ok(None)` when the
    /// variable is unset (no cluster whose processes this test may touch).
    pub fn from_env() -> Result<Option<KafkaNodes>, ScenarioError> {
        let Some(path) = std::env::var_os(CLUSTER_ENV) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", PathBuf::from(&path).display()))?;
        let doc: serde_json::Value = serde_json::from_str(&text)?;
        let mut nodes = Vec::new();
        for n in doc["nodes"].as_array().ok_or("cluster.json has no nodes")? {
            let command: Vec<String> = n["command"]
                .as_array()
                .ok_or("a node without a command")?
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect();
            if command.is_empty() {
                return Err("a node with an empty command".into());
            }
            nodes.push(KafkaNode {
                id: n["id"].as_i64().ok_or("a node without an id")? as i32,
                port: n["port"].as_u64().ok_or("a node without a port")? as u16,
                dir: PathBuf::from(n["dir"].as_str().ok_or("a node without a dir")?),
                pid_file: PathBuf::from(n["pid_file"].as_str().ok_or("a node without a pid file")?),
                command,
            });
        }
        Ok(Some(KafkaNodes { nodes }))
    }

    /// The node with broker id `id`.
    pub fn node(&self, id: i32) -> Result<&KafkaNode, ScenarioError> {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .ok_or_else(|| format!("no Kafka node with id {id}").into())
    }

    /// Every node.
    pub fn all(&self) -> &[KafkaNode] {
        &self.nodes
    }
}

fn signal(pid: u32, sig: &str) -> Result<(), ScenarioError> {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .stdin(Stdio::null())
        .status()?;
    if !status.success() {
        return Err(format!("kill {sig} {pid} failed ({status})").into());
    }
    Ok(())
}

impl KafkaNode {
    /// The pid of the node's JVM now.
    pub fn pid(&self) -> Result<u32, ScenarioError> {
        let text = std::fs::read_to_string(&self.pid_file)
            .map_err(|e| format!("node {}: reading {}: {e}", self.id, self.pid_file.display()))?;
        Ok(text.trim().parse()?)
    }

    fn accepts(&self) -> bool {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
    }

    /// `kill -9`: the JVM dies at once, with no controlled shutdown (as a crashed machine).
    /// Returns once its port refuses connections.
    pub fn kill9(&self) -> Result<(), ScenarioError> {
        signal(self.pid()?, "-KILL")?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.accepts() {
            if Instant::now() > deadline {
                return Err(format!("node {} still accepts after kill -9", self.id).into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Starts the node again with its original command (same id, ports, data) and waits
    /// until its port accepts connections.
    pub fn restart(&self) -> Result<(), ScenarioError> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("stdout.log"))?;
        let child = Command::new(&self.command[0])
            .args(&self.command[1..])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        std::fs::write(&self.pid_file, child.id().to_string())?;
        let deadline = Instant::now() + Duration::from_secs(90);
        while !self.accepts() {
            if Instant::now() > deadline {
                return Err(format!("node {} did not reopen its port in 90 s", self.id).into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// SIGSTOP: the JVM freezes; connections stay open and nothing answers (as a long GC
    /// pause or a hung machine).
    pub fn pause(&self) -> Result<(), ScenarioError> {
        signal(self.pid()?, "-STOP")
    }

    /// SIGCONT after [`pause`](Self::pause).
    pub fn resume(&self) -> Result<(), ScenarioError> {
        signal(self.pid()?, "-CONT")
    }
}
