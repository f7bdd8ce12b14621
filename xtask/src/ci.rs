//! `cargo xtask ci`: everything CI checks, in order, with a summary at the end.
//!
//! 1. `cargo fmt --all --check`
//! 2. `cargo clippy --workspace --all-targets -- -D warnings`
//!    2b. `cargo package` of the library crates (verified, never uploaded) and
//!    `cargo doc --workspace --no-deps` with `-D warnings`
//! 3. `cargo test --workspace` (unit, doc and in-process scenario tests; the scenario tests
//!    run here against the in-process brokers, see [`crate::integration`])
//! 4. the load tests that need optimised code (issue 8's 64 clients x 10,000 requests through
//!    the pool), `cargo test --release` on just those targets
//! 5. the integration suites against the brokers that run as separate processes
//!    (tansu; Apache Kafka from Maven Central as a 3-node KRaft cluster when `java` runs;
//!    Apache Kafka in Docker when an engine answers).
//! 6. the peer drivers' smoke run (`cargo xtask peers smoke`'s settings: every driver, 5,000
//!    records of 100 B) against an Apache Kafka cluster started for it and stopped after it
//!    (skipped with the reason when `java` is missing; a driver whose toolchain is missing is
//!    reported skipped, a driver that fails to build or deliver fails the step).
//!
//! Every step runs even when an earlier one failed (so one run shows every problem), and the
//! process exits non-zero when any step failed.

use std::time::Instant;

use anyhow::Result;

use crate::integration::{self, Broker};
use crate::ui::{self, Status, StepReport};
use crate::workspace;

/// Options of `cargo xtask ci`.
#[derive(Debug, Clone, clap::Args)]
pub struct CiArgs {
    /// Stop at the first failing step instead of running them all.
    #[arg(long)]
    pub fail_fast: bool,
    /// Skip the integration suites against external brokers (tansu, kafka, docker) and the
    /// peer drivers' smoke run on Kafka.
    #[arg(long)]
    pub no_integration: bool,
}

/// Runs CI; returns whether everything passed (or was honestly skipped).
pub fn run(args: &CiArgs) -> Result<bool> {
    let result = run_steps(args);
    crate::tansu::cancel_prefetch();
    result
}

fn run_steps(args: &CiArgs) -> Result<bool> {
    let start = Instant::now();
    let total = if args.no_integration { 4 } else { 6 };
    let mut reports = Vec::new();
    if !args.no_integration {
        // tansu takes ~10 minutes to build once: start it now, at low priority.
        crate::tansu::prefetch();
    }

    ui::header(1, total, "fmt", "cargo fmt --all --check");
    reports.push(cargo_step(
        "fmt",
        &["fmt", "--all", "--check"],
        "formatting differs: run `cargo fmt --all` and commit the result",
    )?);
    if stop(args, &reports) {
        return Ok(ui::summary("ci", &reports, start.elapsed()));
    }

    ui::header(
        2,
        total,
        "clippy",
        "cargo clippy --workspace --all-targets -- -D warnings",
    );
    reports.push(cargo_step(
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        "fix the warnings/errors above; reproduce one crate with \
         `cargo clippy -p <crate> --all-targets -- -D warnings`",
    )?);
    if stop(args, &reports) {
        return Ok(ui::summary("ci", &reports, start.elapsed()));
    }

    reports.extend(package_and_docs_steps()?);
    if stop(args, &reports) {
        return Ok(ui::summary("ci", &reports, start.elapsed()));
    }

    ui::header(
        3,
        total,
        "test",
        "cargo test --workspace (scenarios on in-process brokers: mock, testkit)",
    );
    reports.push(test_step()?);
    if stop(args, &reports) {
        return Ok(ui::summary("ci", &reports, start.elapsed()));
    }

    ui::header(
        4,
        total,
        "load",
        "cargo test --release on the load tests (640,000 pooled transactions)",
    );
    for &(krate, target) in RELEASE_LOAD_TESTS {
        reports.push(release_load_step(krate, target)?);
    }
    if stop(args, &reports) {
        return Ok(ui::summary("ci", &reports, start.elapsed()));
    }

    if !args.no_integration {
        ui::header(
            5,
            total,
            "integration",
            "scenario suites against tansu, Apache Kafka (3-node KRaft) and Apache Kafka in docker",
        );
        let suites = integration::run_brokers(&[Broker::Tansu, Broker::Kafka, Broker::Docker])?;
        reports.extend(suites);
        if stop(args, &reports) {
            return Ok(ui::summary("ci", &reports, start.elapsed()));
        }

        ui::header(
            6,
            total,
            "peers-smoke",
            "every peer driver, 5,000 x 100 B, against a fresh Apache Kafka (3-node KRaft)",
        );
        reports.extend(crate::peers::ci_smoke());
    }
    Ok(ui::summary("ci", &reports, start.elapsed()))
}

/// The library crates a user installs from crates.io (issue 20, item 7).
const PUBLISHED_CRATES: &[&str] = &[
    "klamm-protocol",
    "klamm-net",
    "klamm-producer",
    "klamm-txn",
    "klamm-pool",
    "klamm-testkit",
];

/// Step 2b: the library crates package as crates.io would take them (nothing is uploaded)
/// and the docs build without a warning.
///
/// The crates are packaged in one `cargo package` call: cargo then resolves their path
/// dependencies on each other through a local registry of the crates just packaged, so each
/// `.crate` is also verified (unpacked and compiled on its own, with only what it ships).
/// Packaging them one by one would fail for a reason outside the crates (the dependencies
/// are not on crates.io yet). `--allow-dirty` because CI checks the content, not whether it
/// is committed.
fn package_and_docs_steps() -> Result<Vec<StepReport>> {
    println!("==> [2b] package, doc: cargo package (no upload) and cargo doc with -D warnings");
    let mut package = vec!["package", "--allow-dirty"];
    for krate in PUBLISHED_CRATES {
        package.extend(["-p", krate]);
    }
    let package = cargo_step(
        "package",
        &package,
        "a library crate does not package or its packaged copy does not build: rerun \
         `cargo package -p <crate> ... --allow-dirty` with every crate above",
    )?;
    let doc = cargo_step(
        "doc",
        &[
            "doc",
            "--workspace",
            "--no-deps",
            "--config",
            "build.rustdocflags=[\"-D\", \"warnings\"]",
        ],
        "rustdoc warned: rerun `RUSTDOCFLAGS=\"-D warnings\" cargo doc --workspace --no-deps`",
    )?;
    Ok(vec![package, doc])
}

fn stop(args: &CiArgs, reports: &[StepReport]) -> bool {
    args.fail_fast
        && reports
            .iter()
            .any(|r| matches!(r.status, Status::Failed(_)))
}

/// Runs one cargo command as a step. `advice` says what to do when it fails.
fn cargo_step(name: &str, args: &[&str], advice: &str) -> Result<StepReport> {
    let pb = ui::spinner(&format!("{name}: cargo {}", args.join(" ")));
    let t = ui::clock();
    let mut cmd = workspace::cargo();
    cmd.args(args);
    let out = ui::run_streaming(&pb, cmd)?;
    pb.finish_and_clear();
    let failed_crates = crates_that_failed(&out.lines);
    let status = if out.success {
        Status::Passed
    } else if failed_crates.is_empty() {
        Status::Failed(advice.to_string())
    } else {
        Status::Failed(format!(
            "{advice} (did not compile: {})",
            failed_crates.join(", ")
        ))
    };
    Ok(StepReport {
        name: name.to_string(),
        status,
        elapsed: t.elapsed(),
        tests: out.tests,
        detail: String::new(),
    })
}

/// Test targets whose full size only runs in optimised code (in the debug profile of `cargo
/// test --workspace` they are ignored and say how to run them): (crate, test target).
const RELEASE_LOAD_TESTS: &[(&str, &str)] = &[("klamm-pool", "testkit_load")];

/// Runs one release-mode test target; a run that executed no test fails (the target must not
/// be silently ignored in release too).
fn release_load_step(krate: &str, target: &str) -> Result<StepReport> {
    let args = ["test", "--release", "-p", krate, "--test", target];
    let mut report = cargo_step(
        &format!("load/{target}"),
        &args,
        &format!("rerun `cargo {}`", args.join(" ")),
    )?;
    if matches!(report.status, Status::Passed) && report.tests.passed == 0 {
        report.status = Status::Failed(format!(
            "`cargo {}` ran no test: the load test was skipped",
            args.join(" ")
        ));
    }
    report.detail = format!(
        "{} passed, {} failed, {} ignored",
        report.tests.passed, report.tests.failed, report.tests.ignored
    );
    Ok(report)
}

fn test_step() -> Result<StepReport> {
    let pb = ui::spinner("test: cargo test --workspace");
    let t = ui::clock();
    let reports_dir = integration::fresh_report_dir("test")?;
    let mut cmd = workspace::cargo();
    cmd.args(["test", "--workspace"]);
    cmd.env(integration::REPORT_ENV, &reports_dir);
    let out = ui::run_streaming(&pb, cmd)?;
    pb.finish_and_clear();
    let scenarios = integration::ScenarioTable::load(&reports_dir);
    scenarios.print();
    let mut detail = format!(
        "{} passed, {} failed, {} ignored",
        out.tests.passed, out.tests.failed, out.tests.ignored
    );
    if !scenarios.is_empty() {
        detail.push_str(&format!("; scenarios: {}", scenarios.brief()));
    }
    let status = if out.success {
        Status::Passed
    } else {
        let mut what = Vec::new();
        let crates = crates_that_failed(&out.lines);
        if !crates.is_empty() {
            what.push(format!("did not compile: {}", crates.join(", ")));
        }
        let reruns = rerun_hints(&out.lines);
        if !reruns.is_empty() {
            what.push(format!(
                "failing test targets (rerun with `cargo test {}`)",
                reruns.join("` / `cargo test ")
            ));
        }
        if what.is_empty() {
            what.push("see the output above".to_string());
        }
        Status::Failed(what.join("; "))
    };
    Ok(StepReport {
        name: "test".to_string(),
        status,
        elapsed: t.elapsed(),
        tests: out.tests,
        detail,
    })
}

/// Crate names from cargo's ``error: could not compile `name` `` lines.
pub fn crates_that_failed(lines: &[String]) -> Vec<String> {
    let mut crates: Vec<String> = lines
        .iter()
        .filter_map(|l| {
            let l = ui::strip_ansi(l);
            let rest = l.split("could not compile `").nth(1)?;
            Some(rest.split('`').next()?.to_string())
        })
        .collect();
    crates.sort();
    crates.dedup();
    crates
}

/// The arguments from cargo's "to rerun pass `-p x --lib`" hints.
fn rerun_hints(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| {
            let l = ui::strip_ansi(l);
            let rest = l.split("to rerun pass `").nth(1)?;
            Some(rest.split('`').next()?.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_crates_that_did_not_compile() {
        let lines = vec![
            "error: could not compile `klamm-net` (lib) due to 2 previous errors".to_string(),
            "warning: build failed, waiting for other jobs to finish...".to_string(),
            "error: could not compile `klamm-net` (lib test) due to 2 previous errors".to_string(),
        ];
        assert_eq!(crates_that_failed(&lines), vec!["klamm-net".to_string()]);
    }

    #[test]
    fn finds_rerun_hints() {
        let lines = vec![
            "error: test failed, to rerun pass `-p klamm-protocol --lib`".to_string(),
            "ok".to_string(),
        ];
        assert_eq!(rerun_hints(&lines), vec!["-p klamm-protocol --lib"]);
    }
}
