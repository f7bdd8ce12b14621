//! `klamm-broker`: hosts a third-party broker in its own process for the xtask and for
//! clients in other languages.
//!
//! * `klamm-broker mock [--brokers N]` — the librdkafka mock cluster (default 3 brokers).
//! * `klamm-broker docker` — Apache Kafka (`apache/kafka`, KRaft) through Testcontainers;
//!   needs a Docker engine.
//!
//! The first line on stdout is `bootstrap: HOST:PORT[,...]`. The broker runs until standard
//! input closes (or reaches EOF), then shuts down and removes what it started.
#![forbid(unsafe_code)]

use std::io::Read;
use std::process::ExitCode;

use rdkafka::mocking::MockCluster;
use testcontainers_modules::kafka::apache::{KAFKA_PORT, Kafka};
use testcontainers_modules::testcontainers::ImageExt;
use testcontainers_modules::testcontainers::runners::AsyncRunner;

const USAGE: &str = "usage: klamm-broker mock [--brokers N] | klamm-broker docker";

fn wait_for_stdin_eof() {
    let mut sink = [0u8; 256];
    let mut stdin = std::io::stdin();
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
}

fn mock(args: &[String]) -> Result<(), String> {
    let brokers = match args {
        [] => 3,
        [flag, n] if flag == "--brokers" => n
            .parse::<i32>()
            .ok()
            .filter(|n| (1..=32).contains(n))
            .ok_or_else(|| format!("--brokers wants a number from 1 to 32, got `{n}`"))?,
        _ => return Err(USAGE.to_string()),
    };
    let cluster = MockCluster::new(brokers).map_err(|e| format!("mock cluster: {e}"))?;
    println!("bootstrap: {}", cluster.bootstrap_servers());
    wait_for_stdin_eof();
    drop(cluster);
    Ok(())
}

async fn docker() -> Result<(), String> {
    let container = Kafka::default()
        .with_jvm_image()
        .with_startup_timeout(std::time::Duration::from_secs(240))
        .start()
        .await
        .map_err(|e| format!("starting apache/kafka: {e} (is a Docker engine running?)"))?;
    let host = container
        .get_host()
        .await
        .map_err(|e| format!("container host: {e}"))?;
    let port = container
        .get_host_port_ipv4(KAFKA_PORT)
        .await
        .map_err(|e| format!("container port: {e}"))?;
    println!("bootstrap: {host}:{port}");
    tokio::task::spawn_blocking(wait_for_stdin_eof)
        .await
        .map_err(|e| e.to_string())?;
    container
        .rm()
        .await
        .map_err(|e| format!("removing the container: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("mock") => mock(&args[1..]),
        Some("docker") => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| rt.block_on(docker())),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("klamm-broker: {e}");
            ExitCode::FAILURE
        }
    }
}
