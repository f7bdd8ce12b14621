//! Klamm's task runner: `cargo xtask <command>` (the alias lives in `.cargo/config.toml`).
//!
//! * `ci` — rustfmt check, clippy with warnings denied, `cargo test --workspace`, then the
//!   integration suites against external brokers. `.ci/run` calls exactly this.
//! * `integration [--broker testkit|tansu|mock|kafka|docker|all]` — the scenario suites per broker.
//! * `demo [--bootstrap HOST:PORT | --docker]` — the main job on whatever exists so far.
//! * `bench [protocol|producer|txn|pool|all] [--quick]` — criterion benches with ratios.
//!   `bench producer --broker testkit|kafka|all` — Klamm next to every peer client, one table.
//!
//! Every command ends with a one-line summary and exits non-zero when something failed.
#![forbid(unsafe_code)]

mod bench;
mod ci;
mod demo;
mod docker;
mod integration;
mod kafka;
mod peers;
mod tansu;
mod ui;
mod workspace;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Klamm's task runner.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Everything CI checks: fmt, clippy, tests, integration suites.
    Ci(ci::CiArgs),
    /// The scenario suites against real brokers.
    Integration(integration::IntegrationArgs),
    /// The demo: the main job on the embedded cluster (or --bootstrap / --docker).
    Demo(demo::DemoArgs),
    /// The side-by-side benchmarks, with ratios.
    Bench(bench::BenchArgs),
    /// Peer drivers: Klamm's perf example next to other Kafka clients, same flags, one table.
    Peers(peers::PeersArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Cmd::Ci(a) => ci::run(a),
        Cmd::Integration(a) => integration::run(a),
        Cmd::Demo(a) => demo::run(a),
        Cmd::Bench(a) => bench::run(a),
        Cmd::Peers(a) => peers::run(a),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
