//! Apache Kafka in Docker, only when a Docker engine answers.
//!
//! The engine check is cheap (`docker info`, 15 s at most) and lives here. The container
//! itself is started by the `klamm-broker` binary of `klamm-integration`
//! (Testcontainers, image `apache/kafka`, KRaft mode), so the xtask stays free of heavy
//! dependencies: the binary prints `bootstrap: HOST:PORT`, keeps the container while its
//! standard input is open, and removes it when the input closes.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::workspace;

/// How long `docker info` may take to answer.
const INFO_TIMEOUT: Duration = Duration::from_secs(15);
/// How long pulling and starting the Kafka image may take.
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// Where the Docker client will look for an engine.
pub fn endpoint() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string())
}

/// `Ok(server version)` when an engine answers, otherwise `Err(what happened and what to do)`.
pub fn engine() -> std::result::Result<String, String> {
    let advice = "run without --docker (or start a Docker engine)";
    let child = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return Err(format!(
                "no Docker engine answered at {}: the `docker` command could not run ({e}): {advice}",
                endpoint()
            ));
        }
    };
    let (tx, rx) = mpsc::channel();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    std::thread::spawn(move || {
        let mut out = String::new();
        let mut err = String::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_string(&mut out);
        }
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_string(&mut err);
        }
        let _ = tx.send((out, err));
    });
    let Ok((out, err)) = rx.recv_timeout(INFO_TIMEOUT) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "no Docker engine answered at {} within {INFO_TIMEOUT:?}: {advice}",
            endpoint()
        ));
    };
    let status = child.wait().map_err(|e| e.to_string())?;
    let version = out.trim();
    if status.success() && !version.is_empty() {
        Ok(version.to_string())
    } else {
        let why = err
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("docker info failed");
        Err(format!(
            "no Docker engine answered at {} ({}): {advice}",
            endpoint(),
            why.trim()
        ))
    }
}

/// A Kafka container held by the `klamm-broker` process.
pub struct Kafka {
    child: Child,
    stdin: Option<ChildStdin>,
    bootstrap: String,
}

impl Kafka {
    /// `HOST:PORT` of the container's listener.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Closes the helper's input (it removes the container) and waits up to 60 s.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        drop(self.stdin.take());
        for _ in 0..600 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Kafka {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts Apache Kafka through the `klamm-broker` helper and waits for its bootstrap line.
pub fn start_kafka() -> Result<Kafka> {
    let mut cmd = workspace::cargo();
    cmd.args([
        "run",
        "-q",
        "-p",
        "klamm-integration",
        "--bin",
        "klamm-broker",
        "--",
        "docker",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    let mut child = cmd.spawn().context("starting the klamm-broker helper")?;
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().context("helper has no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            println!("klamm-broker: {line}");
            if let Some(addr) = line.strip_prefix("bootstrap: ") {
                let _ = tx.send(addr.trim().to_string());
            }
        }
    });
    let mut kafka = Kafka {
        child,
        stdin,
        bootstrap: String::new(),
    };
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(addr) => {
            kafka.bootstrap = addr;
            Ok(kafka)
        }
        Err(_) => {
            kafka.shutdown();
            bail!(
                "the Kafka container did not report a bootstrap address within {START_TIMEOUT:?} \
                 (see the output above); run without --docker to skip it"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_check_never_passes_silently() {
        // Either an engine answers with a version, or the message names the endpoint and
        // says what to do; there is no third outcome.
        match engine() {
            Ok(v) => assert!(!v.is_empty()),
            Err(msg) => {
                assert!(msg.contains("no Docker engine answered at"), "{msg}");
                assert!(msg.contains("run without --docker"), "{msg}");
            }
        }
    }
}
