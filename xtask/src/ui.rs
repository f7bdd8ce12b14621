//! Terminal output: a spinner per long step, child output streamed through, timings, and
//! the outcome of every step.
//!
//! On a terminal each step shows an indicatif spinner with the elapsed time while the
//! child's output scrolls above it. Without a terminal (CI logs) the spinner is hidden and
//! plain `==>` header lines are printed instead, so a log reads top to bottom.

use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How one step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The step ran and succeeded.
    Passed,
    /// The step ran and failed; the text says what to do next.
    Failed(String),
    /// The step did not run; the text says why (never a silent pass).
    Skipped(String),
}

/// What a finished step reports: its status, its duration and the test counts it saw.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// Short name shown in the summary table.
    pub name: String,
    /// Outcome.
    pub status: Status,
    /// Wall time.
    pub elapsed: Duration,
    /// Test counts parsed from the step's output (zero for steps that run no tests).
    pub tests: TestCounts,
    /// Free-form detail for the summary table.
    pub detail: String,
}

/// Test counts summed from `test result:` lines of libtest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestCounts {
    /// Tests that passed.
    pub passed: u64,
    /// Tests that failed.
    pub failed: u64,
    /// Tests marked `#[ignore]`.
    pub ignored: u64,
}

impl TestCounts {
    /// Adds the counts of one `test result: ...` line, if `line` is one.
    pub fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(what), Some(n)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }

    /// Sums two counts.
    pub fn merge(&mut self, other: TestCounts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
    }
}

/// Whether standard error is a terminal (spinners and colours only then).
pub fn interactive() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("CI").is_none()
}

/// A spinner for a step; hidden when not interactive.
pub fn spinner(message: &str) -> ProgressBar {
    let pb = if interactive() {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
    };
    pb.set_style(
        ProgressStyle::with_template("{spinner:.cyan} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(message.to_string());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// Prints a line above the spinner (or plainly when there is none).
pub fn say(pb: &ProgressBar, line: &str) {
    if pb.is_hidden() {
        println!("{line}");
    } else {
        pb.suspend(|| println!("{line}"));
    }
}

/// Prints the header of a step (`==> [2/5] clippy: cargo clippy ...`).
pub fn header(index: usize, total: usize, name: &str, what: &str) {
    println!("==> [{index}/{total}] {name}: {what}");
}

/// The output of a finished child process.
#[derive(Debug, Default)]
pub struct Captured {
    /// Whether the process exited with status 0.
    pub success: bool,
    /// Exit code, if it exited normally.
    pub code: Option<i32>,
    /// Every line it printed (stdout and stderr interleaved as read).
    pub lines: Vec<String>,
    /// Counts from `test result:` lines.
    pub tests: TestCounts,
}

/// Runs `cmd` to completion, streaming its stdout and stderr line by line through `pb`
/// (so the log keeps everything, including libtest's `test result:` lines) and keeping
/// the lines for later inspection.
pub fn run_streaming(pb: &ProgressBar, mut cmd: Command) -> anyhow::Result<Captured> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if interactive() && std::env::var_os("CARGO_TERM_COLOR").is_none() {
        cmd.env("CARGO_TERM_COLOR", "always");
    }
    let shown = describe(&cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| anyhow::anyhow!("could not start `{shown}`: {e}"))?;
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(forward(out, pb.clone(), lines.clone(), false));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(forward(err, pb.clone(), lines.clone(), true));
    }
    let status = child.wait()?;
    for r in readers {
        let _ = r.join();
    }
    let lines = std::mem::take(&mut *lines.lock().unwrap_or_else(|e| e.into_inner()));
    let mut tests = TestCounts::default();
    for l in &lines {
        tests.add_line(&strip_ansi(l));
    }
    Ok(Captured {
        success: status.success(),
        code: status.code(),
        lines,
        tests,
    })
}

fn forward<R: Read + Send + 'static>(
    src: R,
    pb: ProgressBar,
    sink: Arc<Mutex<Vec<String>>>,
    is_err: bool,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let reader = BufReader::new(src);
        for line in reader.split(b'\n') {
            let Ok(bytes) = line else { break };
            let line = String::from_utf8_lossy(&bytes).into_owned();
            let print = || {
                if is_err {
                    eprintln!("{line}");
                } else {
                    println!("{line}");
                }
            };
            if pb.is_hidden() {
                print();
            } else {
                pb.suspend(print);
            }
            sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    })
}

/// Removes ANSI colour escapes so coloured cargo output can still be parsed.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// A shell-like rendering of a command, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// `1m02s`, `3.4s`.
pub fn fmt_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 60.0 {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    } else {
        format!("{secs:.1}s")
    }
}

/// Starts a clock for a step.
pub fn clock() -> Instant {
    Instant::now()
}

/// Prints the summary table of all steps, then the closing line
/// `<what>: N passed, N failed, N skipped` (tests and checks), and returns whether all
/// steps passed or were skipped.
pub fn summary(what: &str, reports: &[StepReport], total: Duration) -> bool {
    println!();
    println!("{what} summary ({}):", fmt_duration(total));
    let width = reports
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut ok = true;
    let mut tests = TestCounts::default();
    let mut failed_steps = 0u64;
    let mut passed_steps = 0u64;
    let mut skipped = 0u64;
    for r in reports {
        tests.merge(r.tests);
        let (mark, text) = match &r.status {
            Status::Passed => {
                if r.tests == TestCounts::default() {
                    passed_steps += 1;
                }
                ("ok     ", r.detail.clone())
            }
            Status::Failed(why) => {
                ok = false;
                if r.tests.failed == 0 {
                    failed_steps += 1;
                }
                ("FAILED ", join_detail(&r.detail, why))
            }
            Status::Skipped(why) => {
                skipped += 1;
                ("skipped", join_detail(&r.detail, why))
            }
        };
        println!(
            "  {mark} {:width$}  {:>8}  {text}",
            r.name,
            fmt_duration(r.elapsed)
        );
    }
    println!(
        "{} in {}: {} step(s) failed, {} skipped (see the reasons above)",
        if ok { "OK" } else { "FAILED" },
        fmt_duration(total),
        reports
            .iter()
            .filter(|r| matches!(r.status, Status::Failed(_)))
            .count(),
        reports
            .iter()
            .filter(|r| matches!(r.status, Status::Skipped(_)))
            .count()
    );
    // The closing line: tests (and non-test checks such as fmt/clippy) as one count.
    println!(
        "{what}: {} passed, {} failed, {} skipped",
        tests.passed + passed_steps,
        tests.failed + failed_steps,
        skipped + tests.ignored
    );
    ok
}

fn join_detail(detail: &str, why: &str) -> String {
    if detail.is_empty() {
        why.to_string()
    } else {
        format!("{detail}; {why}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libtest_result_lines() {
        let mut c = TestCounts::default();
        c.add_line(
            "test result: ok. 12 passed; 0 failed; 3 ignored; 0 measured; 0 filtered out; finished in 0.01s",
        );
        c.add_line("test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured");
        c.add_line("running 3 tests");
        assert_eq!(
            c,
            TestCounts {
                passed: 13,
                failed: 2,
                ignored: 3
            }
        );
    }

    #[test]
    fn strips_colour_codes() {
        assert_eq!(
            strip_ansi("\u{1b}[32mtest result\u{1b}[0m: ok"),
            "test result: ok"
        );
    }

    #[test]
    fn formats_durations() {
        assert_eq!(fmt_duration(Duration::from_millis(3400)), "3.4s");
        assert_eq!(fmt_duration(Duration::from_secs(62)), "1m02s");
    }
}
