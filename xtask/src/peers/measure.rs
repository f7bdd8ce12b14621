//! Runs a driver as a child process and measures what it cost: CPU time (user + system) and
//! peak resident memory, exactly.
//!
//! How, without `unsafe` (the crate forbids it): the driver is started through a small
//! wrapper, the xtask binary itself (`cargo xtask peers rusage -- PROGRAM ARGS..`, hidden),
//! which starts the driver, waits for it and then reads `getrusage(RUSAGE_CHILDREN)` through
//! nix's safe API. The wrapper has no other child, so the kernel's figures are the driver's
//! own: CPU to the microsecond, all threads included, and `ru_maxrss`, the high-water mark
//! of its resident set (including the last moments before exit, which sampling
//! `/proc/<pid>/status` would miss). Calling getrusage in the xtask process instead would
//! not do: its `ru_maxrss` is the largest of *all* children waited for so far, and the
//! cargo, Maven or Go build that ran just before would count.
//!
//! The wrapper reports on stderr with lines starting with [`MARK`]: the driver's pid first
//! (so a driver past its timeout can be killed by pid; its output goes straight to the
//! supervisor's pipes), then its usage. A JVM driver is the `java` process itself.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::ProgressBar;

use crate::ui;

/// How often the supervisor checks whether the child exited or overran.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// The prefix of the wrapper's own stderr lines.
pub const MARK: &str = "@@klamm-peers ";

/// What a finished (or killed) child left behind.
#[derive(Debug)]
pub struct Measured {
    /// Whether it exited with status 0.
    pub success: bool,
    /// Its exit code, if it exited normally.
    pub code: Option<i32>,
    /// Whether it was killed for running past the timeout.
    pub timed_out: bool,
    /// Everything it printed (stdout and stderr, in the order read), the wrapper's lines
    /// excepted.
    pub lines: Vec<String>,
    /// Wall time from spawn to exit.
    pub wall: Duration,
    /// User + system CPU time, when the wrapper reported it.
    pub cpu: Option<Duration>,
    /// Peak resident set size in bytes, when the wrapper reported it.
    pub peak_rss: Option<u64>,
}

/// A line of the wrapper.
#[derive(Debug, PartialEq)]
enum Mark {
    /// The driver's process id.
    Pid(i32),
    /// The driver's usage once it was waited for.
    Usage { cpu: Duration, max_rss: u64 },
}

fn parse_mark(line: &str) -> Option<Mark> {
    let rest = line.strip_prefix(MARK)?;
    if let Some(pid) = rest.strip_prefix("pid=") {
        return pid.trim().parse().ok().map(Mark::Pid);
    }
    let rest = rest.strip_prefix("rusage ")?;
    let (mut cpu_us, mut max_rss) = (None, None);
    for field in rest.split_whitespace() {
        match field.split_once('=') {
            Some(("cpu_us", v)) => cpu_us = v.parse::<u64>().ok(),
            Some(("max_rss_bytes", v)) => max_rss = v.parse::<u64>().ok(),
            _ => {}
        }
    }
    Some(Mark::Usage {
        cpu: Duration::from_micros(cpu_us?),
        max_rss: max_rss?,
    })
}

/// CPU time and peak RSS (bytes) of the children this process has waited for.
#[cfg(unix)]
fn children_usage() -> Option<(Duration, u64)> {
    use nix::sys::resource::{UsageWho, getrusage};
    let u = getrusage(UsageWho::RUSAGE_CHILDREN).ok()?;
    let micros = |t: nix::sys::time::TimeVal| {
        u64::try_from(t.tv_sec())
            .ok()?
            .checked_mul(1_000_000)?
            .checked_add(u64::try_from(t.tv_usec()).ok()?)
    };
    let cpu = micros(u.user_time())? + micros(u.system_time())?;
    let max_rss = u64::try_from(u.max_rss()).ok()?;
    // Linux reports ru_maxrss in KiB, macOS in bytes.
    let bytes = if cfg!(target_os = "macos") {
        max_rss
    } else {
        max_rss * 1024
    };
    Some((Duration::from_micros(cpu), bytes))
}

/// Without getrusage the usage stays unknown rather than guessed.
#[cfg(not(unix))]
fn children_usage() -> Option<(Duration, u64)> {
    None
}

/// Kills the driver the wrapper started, by its pid.
#[cfg(unix)]
fn kill_pid(pid: i32) {
    use nix::sys::signal::{Signal, kill};
    let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
}

/// Elsewhere only the wrapper can be killed.
#[cfg(not(unix))]
fn kill_pid(_pid: i32) {}

/// The wrapper (`cargo xtask peers rusage -- PROGRAM ARGS..`): runs the driver with this
/// process's stdio, waits, reports its usage on stderr, and returns the driver's exit status.
pub fn wrapper(command: &[OsString]) -> Result<ExitStatus> {
    let (program, args) = command
        .split_first()
        .context("`peers rusage` needs a program to run")?;
    let mut child = Command::new(program)
        .args(args)
        .spawn()
        .with_context(|| format!("could not start {}", program.to_string_lossy()))?;
    eprintln!("{MARK}pid={}", child.id());
    let status = child.wait()?;
    match children_usage() {
        Some((cpu, rss)) => eprintln!(
            "{MARK}rusage cpu_us={} max_rss_bytes={rss}",
            cpu.as_micros()
        ),
        None => eprintln!("{MARK}rusage unavailable"),
    }
    Ok(status)
}

/// Which output lines are not echoed (the driver's are still kept): the wrapper's own, and
/// the metrics table that `ProducerPerformance --print-metrics` prints (over a hundred lines).
fn hidden(line: &str) -> bool {
    line.starts_with(MARK) || line.contains(":{client-id=") || line.starts_with("Metric Name ")
}

fn forward<R: Read + Send + 'static>(
    src: R,
    pb: ProgressBar,
    prefix: String,
    sink: Arc<Mutex<Vec<String>>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for line in BufReader::new(src).split(b'\n') {
            let Ok(bytes) = line else { break };
            let line = String::from_utf8_lossy(&bytes).trim_end().to_string();
            if !hidden(&line) && !line.is_empty() {
                ui::say(&pb, &format!("{prefix}{line}"));
            }
            sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    })
}

/// Runs `cmd` through the wrapper (this very binary), echoing its output with `prefix`
/// through `pb`, and kills it if it runs longer than `timeout`.
pub fn run(pb: &ProgressBar, prefix: &str, cmd: Command, timeout: Duration) -> Result<Measured> {
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let mut wrapped = Command::new(exe);
    wrapped
        .args(["peers", "rusage", "--"])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => wrapped.env(key, v),
            None => wrapped.env_remove(key),
        };
    }
    supervise(pb, prefix, wrapped, timeout)
}

/// Runs the wrapper command `cmd` and collects the driver's output and the wrapper's report.
fn supervise(
    pb: &ProgressBar,
    prefix: &str,
    mut cmd: Command,
    timeout: Duration,
) -> Result<Measured> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let shown = ui::describe(&cmd);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("could not start `{shown}`"))?;
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(forward(out, pb.clone(), prefix.into(), lines.clone()));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(forward(err, pb.clone(), prefix.into(), lines.clone()));
    }
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if !timed_out && started.elapsed() > timeout {
            timed_out = true;
            let driver = lines
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .find_map(|l| match parse_mark(l) {
                    Some(Mark::Pid(pid)) => Some(pid),
                    _ => None,
                });
            match driver {
                // The wrapper then reports and exits by itself.
                Some(pid) => kill_pid(pid),
                None => {
                    let _ = child.kill();
                }
            }
        }
        thread::sleep(POLL_EVERY);
    };
    let wall = started.elapsed();
    for r in readers {
        let _ = r.join();
    }
    let all = std::mem::take(&mut *lines.lock().unwrap_or_else(|e| e.into_inner()));
    let (mut cpu, mut peak_rss) = (None, None);
    let mut kept = Vec::with_capacity(all.len());
    for line in all {
        match parse_mark(&line) {
            Some(Mark::Usage { cpu: c, max_rss }) => (cpu, peak_rss) = (Some(c), Some(max_rss)),
            Some(Mark::Pid(_)) => {}
            None if line.starts_with(MARK) => {}
            None => kept.push(line),
        }
    }
    Ok(Measured {
        success: status.success() && !timed_out,
        code: status.code(),
        timed_out,
        lines: kept,
        wall,
        cpu,
        peak_rss,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_wrapper_lines() {
        assert_eq!(parse_mark("@@klamm-peers pid=42"), Some(Mark::Pid(42)));
        assert_eq!(
            parse_mark("@@klamm-peers rusage cpu_us=1500000 max_rss_bytes=2048"),
            Some(Mark::Usage {
                cpu: Duration::from_millis(1500),
                max_rss: 2048
            })
        );
        assert_eq!(parse_mark("@@klamm-peers rusage unavailable"), None);
        assert_eq!(parse_mark("5000 records sent"), None);
    }

    #[test]
    fn the_wrapper_reports_its_child() {
        // In-process: the test binary's RUSAGE_CHILDREN also holds other tests' children,
        // so only "known and non-zero" can be checked here.
        let status = wrapper(&["sh".into(), "-c".into(), "exit 0".into()]).unwrap();
        assert!(status.success());
        let status = wrapper(&["sh".into(), "-c".into(), "exit 3".into()]).unwrap();
        assert_eq!(status.code(), Some(3));
        if cfg!(unix) {
            let (_, rss) = children_usage().unwrap();
            assert!(rss > 0);
        }
    }

    /// A stand-in for the wrapper: a shell that reports like it and burns some CPU.
    fn fake_wrapper(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }

    #[test]
    fn collects_output_and_usage() {
        let cmd = fake_wrapper(
            "echo '@@klamm-peers pid=1' >&2; echo hello; \
             echo '@@klamm-peers rusage cpu_us=250000 max_rss_bytes=4096' >&2",
        );
        let m = supervise(&ProgressBar::hidden(), "", cmd, Duration::from_secs(60)).unwrap();
        assert!(m.success && !m.timed_out);
        assert_eq!(m.lines, vec!["hello".to_string()]);
        assert_eq!(m.cpu, Some(Duration::from_millis(250)));
        assert_eq!(m.peak_rss, Some(4096));
    }

    #[test]
    fn kills_the_driver_past_its_timeout() {
        // The "driver" is the shell itself after exec: its pid is the one reported.
        let cmd = fake_wrapper("echo \"@@klamm-peers pid=$$\" >&2; exec sleep 30");
        let m = supervise(&ProgressBar::hidden(), "", cmd, Duration::from_millis(300)).unwrap();
        assert!(m.timed_out && !m.success);
        assert!(m.wall < Duration::from_secs(10), "{:?}", m.wall);
    }
}
