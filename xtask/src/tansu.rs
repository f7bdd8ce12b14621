//! tansu (a Kafka-compatible broker from crates.io): found or installed, started on a free
//! loopback port with in-memory storage, and killed at the end.
//!
//! Lookup order: `$KLAMM_TANSU` (a path to the binary), the project's cache
//! `target/tools/tansu/bin/tansu`, `tansu` on `PATH`, `~/.cargo/bin/tansu`. When none
//! answers `tansu --version`, it is installed with
//! `cargo install --locked tansu --version <TANSU_VERSION> --features dynostore --root target/tools/tansu`
//! (about 10 minutes on 2 cores, once; the build directory is kept under
//! `target/tools/tansu-build` so an interrupted install resumes).

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{ui, workspace};

/// The tansu release the project is tested with.
pub const TANSU_VERSION: &str = "0.6.0";

/// How long tansu may take to open its port.
const START_TIMEOUT: Duration = Duration::from_secs(60);

fn cache_root() -> PathBuf {
    workspace::target_dir().join("tools").join("tansu")
}

/// The version line a binary prints, if it runs at all.
fn version_of(bin: &Path) -> Option<String> {
    let out = Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Some(text)
}

fn candidates() -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = std::env::var_os("KLAMM_TANSU") {
        c.push(PathBuf::from(p));
    }
    c.push(cache_root().join("bin").join("tansu"));
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            c.push(dir.join("tansu"));
        }
    }
    if let Some(home) = std::env::var_os("HOME") {
        c.push(PathBuf::from(home).join(".cargo").join("bin").join("tansu"));
    }
    c
}

fn find_existing() -> Option<PathBuf> {
    for bin in candidates() {
        if bin.is_file()
            && let Some(v) = version_of(&bin)
        {
            println!("tansu: using {} ({v})", bin.display());
            return Some(bin);
        }
    }
    None
}

/// Finds a working tansu binary, installing it into `target/tools/tansu` when there is none
/// (or waiting for the install [`prefetch`] started).
pub fn ensure_installed() -> Result<PathBuf> {
    let background = BACKGROUND.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(bg) = background {
        return bg.finish();
    }
    match find_existing() {
        Some(bin) => Ok(bin),
        None => install(),
    }
}

/// An install running in the background.
struct Background {
    child: Child,
    log: PathBuf,
    started: Instant,
}

static BACKGROUND: Mutex<Option<Background>> = Mutex::new(None);

/// When no tansu is installed, starts installing it in the background at low priority
/// (`nice`), so that the ~10 minute build fills the gaps of the other CI steps;
/// [`ensure_installed`] waits for it. Output goes to `target/tools/tansu-install.log`.
pub fn prefetch() {
    if find_existing().is_some() {
        return;
    }
    let tools = workspace::target_dir().join("tools");
    let log = tools.join("tansu-install.log");
    let spawned = std::fs::create_dir_all(&tools)
        .and_then(|()| File::create(&log))
        .and_then(|out| {
            let err = out.try_clone()?;
            let cargo = install_command();
            let mut cmd = if Command::new("nice")
                .arg("true")
                .status()
                .is_ok_and(|s| s.success())
            {
                let mut n = Command::new("nice");
                n.args(["-n", "10"])
                    .arg(cargo.get_program())
                    .args(cargo.get_args());
                n
            } else {
                cargo
            };
            cmd.current_dir(workspace::root())
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
        });
    match spawned {
        Ok(child) => {
            println!(
                "tansu: not installed; installing {TANSU_VERSION} in the background (log: {})",
                log.display()
            );
            *BACKGROUND.lock().unwrap_or_else(|e| e.into_inner()) = Some(Background {
                child,
                log,
                started: Instant::now(),
            });
        }
        Err(e) => {
            println!("tansu: could not start the background install ({e}); will install on use")
        }
    }
}

/// Stops a background install nobody waited for (e.g. CI stopped early); the next run
/// resumes it from `target/tools/tansu-build`.
pub fn cancel_prefetch() {
    let background = BACKGROUND.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(mut bg) = background {
        let _ = bg.child.kill();
        let _ = bg.child.wait();
        println!("tansu: background install stopped (it resumes on the next run)");
    }
}

impl Background {
    fn finish(mut self) -> Result<PathBuf> {
        let pb = ui::spinner(&format!(
            "waiting for the background tansu install (log: {})",
            self.log.display()
        ));
        // Now that CI waits for it, give the install normal priority again (crates it
        // compiles from now on inherit it; failure just means it stays niced).
        let _ = Command::new("renice")
            .args(["-n", "0", "-p", &self.child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // Report progress (crates compiled so far) every minute, so a CI log shows life.
        let mut last_report = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            std::thread::sleep(Duration::from_millis(500));
            let compiled = std::fs::read_to_string(&self.log)
                .map(|t| t.matches("Compiling ").count())
                .unwrap_or(0);
            pb.set_message(format!(
                "waiting for the background tansu install: {compiled} crates compiled (log: {})",
                self.log.display()
            ));
            if pb.is_hidden() && last_report.elapsed() >= Duration::from_secs(60) {
                last_report = Instant::now();
                println!(
                    "tansu: background install running for {}, {compiled} crates compiled",
                    ui::fmt_duration(self.started.elapsed())
                );
            }
        };
        pb.finish_and_clear();
        let took = ui::fmt_duration(self.started.elapsed());
        if !status.success() {
            bail!(
                "installing tansu failed ({status}, after {took}); last lines of {}:\n{}\n\
                 To use a tansu you built yourself, set KLAMM_TANSU=/path/to/tansu",
                self.log.display(),
                tail_of(&self.log, 40)
            );
        }
        println!("tansu: background install finished in {took}");
        installed()
    }
}

fn install_command() -> Command {
    let mut cmd = workspace::cargo();
    cmd.args(["install", "--locked", "tansu", "--version", TANSU_VERSION])
        .args(["--features", "dynostore", "--root"])
        .arg(cache_root())
        .arg("--target-dir")
        .arg(build_dir());
    cmd
}

fn build_dir() -> PathBuf {
    workspace::target_dir().join("tools").join("tansu-build")
}

/// The freshly installed binary, checked; the intermediate build is removed.
fn installed() -> Result<PathBuf> {
    let bin = cache_root().join("bin").join("tansu");
    match version_of(&bin) {
        Some(v) => {
            println!("tansu: installed {} ({v})", bin.display());
            // The intermediate build (over 1 GB) is only needed to resume an interrupted install.
            let _ = std::fs::remove_dir_all(build_dir());
            Ok(bin)
        }
        None => bail!(
            "cargo install reported success but {} does not run",
            bin.display()
        ),
    }
}

fn install() -> Result<PathBuf> {
    let pb = ui::spinner(&format!(
        "installing tansu {TANSU_VERSION} into {} (first use only, ~10 min on 2 cores)",
        cache_root().display()
    ));
    let cmd = install_command();
    ui::say(&pb, &format!("--> {}", ui::describe(&cmd)));
    let out = ui::run_streaming(&pb, cmd)?;
    pb.finish_and_clear();
    if !out.success {
        bail!(
            "installing tansu failed (exit {:?}); see the cargo output above. \
             To use a tansu you built yourself, set KLAMM_TANSU=/path/to/tansu",
            out.code
        );
    }
    installed()
}

/// A free TCP port on 127.0.0.1 (bound once and released; good enough for a test broker).
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Waits until `addr` accepts TCP connections, or `child` exits, or `timeout` passes.
pub fn wait_for_port(addr: SocketAddr, child: &mut Child, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("the broker exited ({status}) before it opened {addr}");
        }
        if Instant::now() > deadline {
            bail!("nothing answered on {addr} within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A running tansu broker; [`Running::stop`] (or drop) kills it.
pub struct Running {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Running {
    /// `127.0.0.1:PORT`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker and waits for it.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `bin` as a broker on a free loopback port, in a scratch directory under
/// `target/tools/tansu-run`, with in-memory storage, and waits until the port answers.
pub fn start(bin: &Path) -> Result<Running> {
    let port = free_port()?;
    let url = format!("tcp://127.0.0.1:{port}");
    let dir = workspace::target_dir()
        .join("tools")
        .join("tansu-run")
        .join(port.to_string());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let log = dir.join("tansu.log");
    let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone()?;
    let mut cmd = Command::new(bin);
    cmd.arg("broker")
        .args(["--listener-url", &url])
        .args(["--advertised-listener-url", &url])
        .args(["--storage-engine", "memory://tansu/"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    println!("tansu: starting {}", ui::describe(&cmd));
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let mut running = Running { child, port, log };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    if let Err(e) = wait_for_port(addr, &mut running.child, START_TIMEOUT) {
        let tail = tail_of(&running.log, 20);
        running.kill();
        bail!(
            "tansu did not come up: {e}\n--- last lines of {} ---\n{tail}\n\
             check the flags with `{} broker --help`",
            running.log.display(),
            bin.display()
        );
    }
    println!(
        "tansu: answering on {addr} (log: {})",
        running.log.display()
    );
    Ok(running)
}

/// The last `n` lines of a log file (empty when it cannot be read).
pub fn tail_of(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_is_bindable_again() {
        let p = free_port().unwrap();
        assert_ne!(p, 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, p)).unwrap();
    }

    #[test]
    fn wait_for_port_reports_an_exited_child() {
        let mut child = Command::new("true").spawn().unwrap();
        let port = free_port().unwrap();
        let err = wait_for_port(
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            &mut child,
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(err.to_string().contains("exited"), "{err}");
    }
}
