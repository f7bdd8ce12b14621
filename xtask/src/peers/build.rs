//! Building the drivers on first use, cached under the cargo target directory.
//!
//! * Klamm: `cargo build --release -p klamm-producer --example perf` (cargo knows when it is
//!   fresh); the binary is `target/release/examples/perf`.
//! * librdkafka: `cargo build --release -p klamm-bench --bin klamm-bench`, run as
//!   `klamm-bench perf ...` (see `bench/src/perf.rs`).
//! * Go peers (`bench/peers/franz`, `bench/peers/sarama`, sharing `bench/peers/goperf`):
//!   `go build` with `GOMODCACHE`, `GOCACHE` and `GOPATH` under `target/tools/go/`, binaries
//!   in `target/tools/peers/bin/`.
//! * Java peers (`bench/peers/java`): Maven with its local repository in `target/tools/m2`,
//!   classes and runtime jars in `target/tools/peers/java/`.
//!
//! A peer is rebuilt only when its sources change: a hash of its folder's files (plus the
//! toolchain's version line) is stored in a `.stamp` file next to the output together with
//! the client versions the build resolved, which are printed on every use.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;

use crate::{ui, workspace};

/// A driver ready to run: how to start it, and which client version it carries.
#[derive(Debug, Clone)]
pub struct Built {
    /// The program (binary, or `java`).
    pub program: PathBuf,
    /// Arguments that come before the benchmark flags (JVM options, class path, main class).
    pub leading: Vec<String>,
    /// Client library and version, e.g. `franz-go v1.22.3 (go1.26.0)`.
    pub version: String,
}

impl Built {
    /// A command that starts the driver (its leading arguments included); add the flags.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.leading);
        cmd
    }
}

/// Whether a driver could be prepared.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// Built (or found fresh in the cache).
    Ready(Built),
    /// Not buildable on this machine (a toolchain is missing); the text says which.
    Skipped(String),
}

/// `bench/peers/` in the workspace.
pub fn peers_dir() -> PathBuf {
    workspace::root().join("bench").join("peers")
}

fn tools_dir() -> PathBuf {
    workspace::target_dir().join("tools")
}

/// FNV-1a (64 bit): stable across Rust releases, unlike `DefaultHasher`, and plenty to tell
/// whether a handful of source files changed.
fn fnv1a(hash: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *hash ^= u64::from(b);
        *hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            // A `mvn` run by hand leaves `target/` in the Java folder; it is output, not source.
            if name != "target" && !name.starts_with('.') {
                collect_files(&path, out)?;
            }
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// A hash of every file under `dirs` (relative names and contents) and of `extra`.
fn source_hash(dirs: &[PathBuf], extra: &str) -> Result<String> {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    let base = peers_dir();
    for dir in dirs {
        let mut files = Vec::new();
        collect_files(dir, &mut files)?;
        files.sort();
        for f in files {
            let rel = f.strip_prefix(&base).unwrap_or(&f);
            fnv1a(&mut hash, rel.to_string_lossy().as_bytes());
            fnv1a(&mut hash, &[0]);
            fnv1a(
                &mut hash,
                &std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?,
            );
            fnv1a(&mut hash, &[0]);
        }
    }
    fnv1a(&mut hash, extra.as_bytes());
    Ok(format!("{hash:016x}"))
}

/// The version stored in `stamp` if it was written for `hash` and `output` exists.
fn fresh(stamp: &Path, hash: &str, output: &Path) -> Option<String> {
    let text = std::fs::read_to_string(stamp).ok()?;
    let (stored, version) = text.split_once('\n')?;
    (stored == hash && output.exists()).then(|| version.trim().to_string())
}

fn write_stamp(stamp: &Path, hash: &str, version: &str) -> Result<()> {
    std::fs::write(stamp, format!("{hash}\n{version}\n"))
        .with_context(|| format!("writing {}", stamp.display()))
}

fn run_build(pb: &ProgressBar, what: &str, cmd: Command) -> Result<()> {
    ui::say(pb, &format!("--> {}", ui::describe(&cmd)));
    let out = ui::run_streaming(pb, cmd)?;
    if !out.success {
        bail!(
            "building {what} failed (exit {:?}); see its output above",
            out.code
        );
    }
    Ok(())
}

/// Builds a workspace binary with `cargo build --release <args>` and returns its path
/// (`target/release/<rel>`); `what` names it in errors.
pub fn cargo_release(pb: &ProgressBar, what: &str, args: &[&str], rel: &[&str]) -> Result<PathBuf> {
    let mut cmd = workspace::cargo();
    cmd.args(["build", "--release"]).args(args);
    run_build(pb, what, cmd)?;
    let program = rel
        .iter()
        .fold(workspace::target_dir().join("release"), |p, r| p.join(r));
    if !program.is_file() {
        bail!("cargo built {what} but {} is missing", program.display());
    }
    Ok(program)
}

/// Builds Klamm's perf example in release mode.
pub fn klamm(pb: &ProgressBar) -> Result<Prepared> {
    let program = cargo_release(
        pb,
        "Klamm's perf example",
        &["-p", "klamm-producer", "--example", "perf"],
        &["examples", "perf"],
    )?;
    Ok(Prepared::Ready(Built {
        program,
        leading: Vec::new(),
        version: format!(
            "klamm-producer {} (this workspace)",
            env!("CARGO_PKG_VERSION")
        ),
    }))
}

/// Builds the librdkafka driver (`klamm-bench perf`, rust-rdkafka with its bundled
/// librdkafka) in release mode; the version is what the binary reports as linked in.
pub fn rdkafka(pb: &ProgressBar) -> Result<Prepared> {
    let program = cargo_release(
        pb,
        "the librdkafka driver (klamm-bench)",
        &["-p", "klamm-bench", "--bin", "klamm-bench"],
        &["klamm-bench"],
    )?;
    let version = workspace::tool_version(&program.to_string_lossy(), &["perf-version"])
        .ok()
        .context("`klamm-bench perf-version` printed no librdkafka version")?;
    Ok(Prepared::Ready(Built {
        program,
        leading: vec!["perf".to_string()],
        version,
    }))
}

/// The Go environment: module and build caches under `target/tools/go`, no workspace file.
fn go_command(args: &[&str]) -> Command {
    let go = tools_dir().join("go");
    let mut cmd = Command::new("go");
    cmd.args(args)
        .env("GOMODCACHE", go.join("mod"))
        .env("GOCACHE", go.join("cache"))
        .env("GOPATH", go.join("path"))
        .env("GOWORK", "off");
    cmd
}

/// `github.com/twmb/franz-go v1.22.3` from `go version -m` output (the `dep` line of `module`),
/// with the Go release from its first line.
fn go_dep_version(version_m: &str, module: &str) -> Option<String> {
    let go = version_m
        .lines()
        .next()
        .and_then(|l| l.rsplit_once(": "))
        .map(|(_, v)| v.trim().to_string());
    let dep = version_m.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        (f.next() == Some("dep") && f.next() == Some(module))
            .then(|| f.next().map(str::to_string))
            .flatten()
    })?;
    let short = module.rsplit('/').next().unwrap_or(module);
    Some(match go {
        Some(go) => format!("{short} {dep} ({go})"),
        None => format!("{short} {dep}"),
    })
}

/// Builds the Go driver in `bench/peers/<folder>` as `target/tools/peers/bin/<binary>`;
/// `module` is the client library whose version is reported.
pub fn go_peer(pb: &ProgressBar, folder: &str, binary: &str, module: &str) -> Result<Prepared> {
    go_peer_with(pb, folder, binary, module, &[])
}

/// As [`go_peer`], with extra `go build` flags (`-race` for the seeds driver; the race
/// detector needs cgo, so a C compiler).
pub fn go_peer_with(
    pb: &ProgressBar,
    folder: &str,
    binary: &str,
    module: &str,
    flags: &[&str],
) -> Result<Prepared> {
    let Some(go_version) = workspace::tool_version("go", &["version"]).ok() else {
        return Ok(Prepared::Skipped(
            "`go` is not on PATH (install Go 1.22 or newer to build this peer)".into(),
        ));
    };
    let src = peers_dir().join(folder);
    let bin_dir = tools_dir().join("peers").join("bin");
    let bin = bin_dir.join(binary);
    let stamp = bin_dir.join(format!("{binary}.stamp"));
    let hash = source_hash(
        &[src.clone(), peers_dir().join("goperf")],
        &format!("{go_version} {}", flags.join(" ")),
    )?;
    if let Some(version) = fresh(&stamp, &hash, &bin) {
        return Ok(Prepared::Ready(Built {
            program: bin,
            leading: Vec::new(),
            version,
        }));
    }
    std::fs::create_dir_all(&bin_dir).with_context(|| format!("creating {}", bin_dir.display()))?;
    let mut cmd = go_command(&["build", "-trimpath"]);
    cmd.args(flags)
        .arg("-o")
        .arg(&bin)
        .arg(".")
        .current_dir(&src);
    if flags.contains(&"-race") {
        cmd.env("CGO_ENABLED", "1");
    }
    run_build(pb, &format!("the {folder} peer"), cmd)?;
    let out = go_command(&["version", "-m"])
        .arg(&bin)
        .output()
        .context("running `go version -m`")?;
    let version = go_dep_version(&String::from_utf8_lossy(&out.stdout), module)
        .with_context(|| format!("`go version -m {}` does not list {module}", bin.display()))?;
    write_stamp(&stamp, &hash, &version)?;
    Ok(Prepared::Ready(Built {
        program: bin,
        leading: Vec::new(),
        version,
    }))
}

/// JVM options for both Java drivers: the heap limit and collector settings that Kafka's
/// `kafka-producer-perf-test.sh` (via `kafka-run-class.sh`) uses, and client logging at
/// warn level (slf4j-simple, to stderr).
const JVM_OPTIONS: [&str; 5] = [
    "-Xmx512M",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
];

/// `kafka-clients 4.1.1` from the jar names in a `lib` folder.
fn jar_versions(lib: &Path) -> Result<String> {
    let mut found = Vec::new();
    for artifact in ["kafka-clients", "kafka-tools"] {
        let prefix = format!("{artifact}-");
        let version = std::fs::read_dir(lib)
            .with_context(|| format!("reading {}", lib.display()))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .find_map(|n| {
                let v = n.strip_prefix(&prefix)?.strip_suffix(".jar")?;
                v.starts_with(|c: char| c.is_ascii_digit())
                    .then(|| v.to_string())
            })
            .with_context(|| format!("no {artifact} jar in {}", lib.display()))?;
        found.push(format!("{artifact} {version}"));
    }
    Ok(found.join(", "))
}

/// Builds the Java drivers (once for both) and returns how to start `main_class`.
pub fn java_peer(pb: &ProgressBar, main_class: &str) -> Result<Prepared> {
    let Some(java_version) = workspace::tool_version("java", &["-version"]).ok() else {
        return Ok(Prepared::Skipped(
            "`java` is not on PATH (install a JDK 17 or newer to build this peer)".into(),
        ));
    };
    let Some(mvn_version) = workspace::tool_version("mvn", &["-v"]).ok() else {
        return Ok(Prepared::Skipped(
            "`mvn` is not on PATH (the Java peers are built with Maven 3)".into(),
        ));
    };
    let src = peers_dir().join("java");
    let out = tools_dir().join("peers").join("java");
    let (classes, lib) = (out.join("classes"), out.join("lib"));
    let stamp = out.join("build.stamp");
    let hash = source_hash(std::slice::from_ref(&src), &mvn_version)?;
    let version = match fresh(&stamp, &hash, &lib) {
        Some(v) => v,
        None => {
            // Jars of an older pinned version must not linger on the class path.
            for dir in [&classes, &lib] {
                if dir.exists() {
                    std::fs::remove_dir_all(dir)
                        .with_context(|| format!("removing {}", dir.display()))?;
                }
            }
            let mut cmd = Command::new("mvn");
            cmd.args(["-B", "-q", "-Dstyle.color=never"])
                .arg(format!(
                    "-Dmaven.repo.local={}",
                    tools_dir().join("m2").display()
                ))
                .arg(format!("-Dpeers.out={}", out.display()))
                .args(["-f", "pom.xml", "compile", "dependency:copy-dependencies"])
                .current_dir(&src);
            run_build(pb, "the Java peers", cmd)?;
            let v = format!("{} ({java_version})", jar_versions(&lib)?);
            write_stamp(&stamp, &hash, &v)?;
            v
        }
    };
    let class_path = format!("{}:{}", classes.display(), lib.join("*").display());
    let mut leading: Vec<String> = JVM_OPTIONS.iter().map(|s| s.to_string()).collect();
    leading.extend(["-cp".to_string(), class_path, main_class.to_string()]);
    Ok(Prepared::Ready(Built {
        program: PathBuf::from("java"),
        leading,
        version,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_client_version_from_go_version_m() {
        let text = "/t/franz-perf: go1.26.0\n\tpath\tklamm.invalid/peers/franz\n\
            \tdep\tgithub.com/klauspost/compress\tv1.20.3\th1:x=\n\
            \tdep\tgithub.com/twmb/franz-go\tv1.22.3\th1:y=\n";
        assert_eq!(
            go_dep_version(text, "github.com/twmb/franz-go").as_deref(),
            Some("franz-go v1.22.3 (go1.26.0)")
        );
        assert_eq!(go_dep_version(text, "github.com/IBM/sarama"), None);
    }

    #[test]
    fn the_source_hash_follows_the_files() {
        let dir = workspace::target_dir().join("tmp").join("peers-hash-test");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("target")).unwrap();
        std::fs::write(dir.join("main.go"), "package main").unwrap();
        let a = source_hash(std::slice::from_ref(&dir), "go1").unwrap();
        // Output under target/ does not count; a changed source or toolchain does.
        std::fs::write(dir.join("target").join("x.class"), "x").unwrap();
        assert_eq!(a, source_hash(std::slice::from_ref(&dir), "go1").unwrap());
        assert_ne!(a, source_hash(std::slice::from_ref(&dir), "go2").unwrap());
        std::fs::write(dir.join("main.go"), "package main // changed").unwrap();
        assert_ne!(a, source_hash(std::slice::from_ref(&dir), "go1").unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
