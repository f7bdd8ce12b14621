//! `klamm-testkit`: runs an in-memory Kafka cluster until killed.
//!
//! ```text
//! cargo run -p klamm-testkit -- --brokers 3 --topic orders:6 --produce-quota 1048576
//! ```
//! The first line printed is `bootstrap: 127.0.0.1:PORT,...`, then one `broker N: ADDR` line
//! per broker and, with `--tls`, `ca: PATH` (the PEM of the self-signed certificate).

#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use klamm_testkit::{Cluster, Mechanism, SaslConfig};

const USAGE: &str = "usage: klamm-testkit [--brokers N] [--topic NAME:PARTITIONS]... \
[--no-auto-create] [--default-partitions N] [--produce-quota BYTES_PER_SEC] \
[--marker-delay-ms MS] [--sasl-user USER:PASSWORD]... [--tls]";

fn parse() -> Result<klamm_testkit::ClusterBuilder, String> {
    let mut b = Cluster::builder().brokers(1);
    let mut users = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        let num = |s: String, name: &str| {
            s.parse::<i64>()
                .map_err(|_| format!("{name}: not a number: {s}"))
        };
        match arg.as_str() {
            "--brokers" => b = b.brokers(num(value("--brokers")?, "--brokers")? as i32),
            "--topic" => {
                let v = value("--topic")?;
                let (name, parts) = v
                    .split_once(':')
                    .ok_or_else(|| format!("--topic wants NAME:PARTITIONS, not {v}"))?;
                b = b.topic(name, num(parts.to_string(), "--topic")? as i32);
            }
            "--no-auto-create" => b = b.auto_create_topics(false),
            "--tls" => b = b.tls(true),
            "--default-partitions" => {
                b = b
                    .default_partitions(
                        num(value("--default-partitions")?, "--default-partitions")? as i32,
                    )
            }
            "--produce-quota" => {
                b = b.produce_quota(num(value("--produce-quota")?, "--produce-quota")? as f64)
            }
            "--marker-delay-ms" => {
                let ms = num(value("--marker-delay-ms")?, "--marker-delay-ms")?;
                b = b.marker_delay(Duration::from_millis(ms.max(0) as u64));
            }
            "--sasl-user" => {
                let v = value("--sasl-user")?;
                let (u, p) = v
                    .split_once(':')
                    .ok_or_else(|| format!("--sasl-user wants USER:PASSWORD, not {v}"))?;
                users.push((u.to_string(), p.to_string()));
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if !users.is_empty() {
        let mut sasl = SaslConfig::new(&[
            Mechanism::Plain,
            Mechanism::ScramSha256,
            Mechanism::ScramSha512,
        ]);
        for (u, p) in &users {
            sasl = sasl.user(u, p);
        }
        b = b.sasl(sasl);
    }
    Ok(b)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let builder = match parse() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let cluster = match builder.start().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("klamm-testkit: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A reader that stops reading (or closes the pipe) must not stop the cluster.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "bootstrap: {}", cluster.bootstrap());
    for (node, addr) in cluster.brokers() {
        let _ = writeln!(out, "broker {node}: {addr}");
    }
    if let Some(pem) = cluster.ca_certificate_pem() {
        let path = std::env::temp_dir().join(format!("klamm-testkit-{}.pem", std::process::id()));
        match std::fs::write(&path, pem) {
            Ok(()) => {
                let _ = writeln!(out, "ca: {}", path.display());
            }
            Err(e) => eprintln!("klamm-testkit: cannot write the CA certificate: {e}"),
        }
    }
    let _ = out.flush();
    if tokio::signal::ctrl_c().await.is_err() {
        // No signal handling available: run until killed.
        std::future::pending::<()>().await;
    }
    drop(cluster);
    ExitCode::SUCCESS
}
