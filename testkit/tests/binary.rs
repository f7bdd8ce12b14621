//! The `klamm-testkit` binary prints its bootstrap line first and serves until killed.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::Client;

#[tokio::test]
async fn prints_bootstrap_first_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_klamm-testkit"))
        .args(["--brokers", "3", "--topic", "orders:6"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    lines.read_line(&mut first).unwrap();
    let addrs: Vec<&str> = first
        .trim()
        .strip_prefix("bootstrap: ")
        .expect("first line is the bootstrap line")
        .split(',')
        .collect();
    assert_eq!(addrs.len(), 3);
    assert!(addrs.iter().all(|a| a.starts_with("127.0.0.1:")));
    let mut c = Client::connect(addrs[2].parse().unwrap()).await;
    let r = c.metadata().await;
    assert_eq!(r.brokers.len(), 3);
    assert_eq!(r.topics[0].partitions.len(), 6);
    let mut second = String::new();
    lines.read_line(&mut second).unwrap();
    assert!(second.starts_with("broker 0: 127.0.0.1:"), "{second}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn bad_arguments_exit_with_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_klamm-testkit"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
}
