//! What this process used so far: CPU time and peak resident memory, read from Linux's
//! `/proc/self` (so no unsafe FFI is needed). For benchmarks, which report CPU per operation
//! next to their rates (the in-process broker's share included); `None` where `/proc` is not
//! available.

use std::time::Duration;

/// CPU time (user + system) of this process so far.
pub fn cpu_time() -> Option<Duration> {
    // /proc/self/stat fields 14 and 15 (1-based) are utime and stime in clock ticks. The
    // command name (field 2) may contain spaces, so count from the closing parenthesis.
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every mainstream Linux build (it is fixed by the kernel ABI).
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Peak resident set size of this process (VmHWM) in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        // Burn CPU until the counter moves by at least three ticks (the machine may be loaded,
        // so wall time says little); it must move well within ten seconds.
        let before = cpu_time().expect("cpu time");
        let start = std::time::Instant::now();
        let mut x = 0u64;
        let mut after = before;
        while after < before + Duration::from_millis(30) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "cpu time stuck at {after:?}"
            );
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            after = cpu_time().expect("cpu time");
        }
        std::hint::black_box(x);
        assert!(peak_rss_bytes().expect("rss") > 1024 * 1024);
    }
}
