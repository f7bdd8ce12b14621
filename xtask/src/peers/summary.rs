//! The summary a driver prints when it is done, parsed.
//!
//! Every driver (Klamm's perf example, the peers under `bench/peers/`, and Kafka's own
//! `ProducerPerformance`) ends with the line of `kafka-producer-perf-test`:
//!
//! ```text
//! 5000 records sent, 4712.5 records/sec (0.45 MB/sec), 12.30 ms avg latency, 80.00 ms max latency, 9.10 ms 50th, 30.20 ms 95th, 70.00 ms 99th, 80.00 ms 99.9th.
//! ```
//!
//! (`ProducerPerformance` prints the percentiles as whole milliseconds.) The error count comes
//! from the next line, `E errors; ...` or `E errors.`, which our drivers print; for
//! `ProducerPerformance` it comes from the `producer-metrics:record-error-total` line that
//! `--print-metrics` adds.

/// The numbers of one finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Records completed (acknowledged or failed).
    pub records: u64,
    /// Records per second over the whole run.
    pub records_per_sec: f64,
    /// Payload MiB per second (the tools print it as "MB/sec").
    pub mb_per_sec: f64,
    /// Mean send-to-ack latency in milliseconds.
    pub avg_ms: f64,
    /// Median latency in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency in milliseconds.
    pub p99_ms: f64,
    /// Records that failed, when the output said (None: no error count was printed).
    pub errors: Option<u64>,
}

/// Parses the final summary line (not the shorter 5-second progress lines, which lack the
/// percentiles). Returns None for any other line.
pub fn parse_summary_line(line: &str) -> Option<Summary> {
    let body = line.trim().strip_suffix('.')?;
    let parts: Vec<&str> = body.split(", ").collect();
    let [sent, rate, avg, max, p50, p95, p99, p999] = parts.as_slice() else {
        return None;
    };
    let records = sent.strip_suffix(" records sent")?.trim().parse().ok()?;
    // "4712.5 records/sec (0.45 MB/sec)"
    let (per_sec, mb) = rate.split_once(" records/sec (")?;
    let mb = mb.strip_suffix(" MB/sec)")?;
    let ms = |part: &str, label: &str| -> Option<f64> {
        part.strip_suffix(label)?
            .strip_suffix(" ms")?
            .trim()
            .parse()
            .ok()
    };
    ms(max, " max latency")?;
    ms(p95, " 95th")?;
    ms(p999, " 99.9th")?;
    Some(Summary {
        records,
        records_per_sec: per_sec.trim().parse().ok()?,
        mb_per_sec: mb.trim().parse().ok()?,
        avg_ms: ms(avg, " avg latency")?,
        p50_ms: ms(p50, " 50th")?,
        p99_ms: ms(p99, " 99th")?,
        errors: None,
    })
}

/// The error count of a line `E errors; ...` or `E errors.`, or of the
/// `producer-metrics:record-error-total:{...} : 0.000` line of `ProducerPerformance`.
pub fn parse_errors_line(line: &str) -> Option<u64> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("producer-metrics:record-error-total:") {
        let value: f64 = rest.rsplit_once(':')?.1.trim().parse().ok()?;
        // A count printed as a float ("3.000"); anything fractional is not a count.
        return (value >= 0.0 && value.fract() == 0.0).then_some(value as u64);
    }
    let (n, rest) = line.split_once(' ')?;
    if rest == "errors." || rest.starts_with("errors;") {
        n.parse().ok()
    } else {
        None
    }
}

/// The summary of a driver's whole output: the last summary line, with the error count of
/// the last error line (if any).
pub fn parse_output<S: AsRef<str>>(lines: &[S]) -> Option<Summary> {
    let mut summary = None;
    let mut errors = None;
    for line in lines {
        let line = line.as_ref();
        if let Some(s) = parse_summary_line(line) {
            summary = Some(s);
        } else if let Some(e) = parse_errors_line(line) {
            errors = Some(e);
        }
    }
    summary.map(|s| Summary { errors, ..s })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERF: &str = "5000 records sent, 4712.5 records/sec (0.45 MB/sec), 12.30 ms avg latency, \
        80.00 ms max latency, 9.10 ms 50th, 30.20 ms 95th, 70.00 ms 99th, 80.00 ms 99.9th.";

    #[test]
    fn parses_the_perf_summary_line() {
        let s = parse_summary_line(PERF).unwrap();
        assert_eq!(s.records, 5000);
        assert_eq!(s.records_per_sec, 4712.5);
        assert_eq!(s.mb_per_sec, 0.45);
        assert_eq!(s.avg_ms, 12.30);
        assert_eq!(s.p50_ms, 9.10);
        assert_eq!(s.p99_ms, 70.00);
        assert_eq!(s.errors, None);
    }

    #[test]
    fn parses_producer_performance_whole_millisecond_percentiles() {
        let line = "20000 records sent, 35335.7 records/sec (3.37 MB/sec), 65.74 ms avg latency, \
            234.00 ms max latency, 74 ms 50th, 150 ms 95th, 163 ms 99th, 164 ms 99.9th.";
        let s = parse_summary_line(line).unwrap();
        assert_eq!((s.records, s.p50_ms, s.p99_ms), (20000, 74.0, 163.0));
    }

    #[test]
    fn ignores_progress_lines_and_garbage() {
        let progress = "41200 records sent, 8240.0 records/sec (0.79 MB/sec), 3.1 ms avg latency, \
            40.2 ms max latency.";
        assert_eq!(parse_summary_line(progress), None);
        assert_eq!(parse_summary_line(""), None);
        assert_eq!(
            parse_summary_line(
                "x records sent, 1 records/sec (1 MB/sec), 1 ms avg latency, 1 ms max latency, 1 ms 50th, 1 ms 95th, 1 ms 99th, 1 ms 99.9th."
            ),
            None
        );
        // A broken latency field anywhere rejects the line.
        let broken = PERF.replace("30.20 ms 95th", "30.20 95th");
        assert_eq!(parse_summary_line(&broken), None);
    }

    #[test]
    fn parses_error_lines() {
        assert_eq!(
            parse_errors_line("3 errors; 10 batches, 1500 bytes avg per batch."),
            Some(3)
        );
        assert_eq!(parse_errors_line("0 errors."), Some(0));
        assert_eq!(
            parse_errors_line(
                "producer-metrics:record-error-total:{client-id=perf-producer-client}   : 2.000"
            ),
            Some(2)
        );
        assert_eq!(parse_errors_line("some errors; none"), None);
        assert_eq!(parse_errors_line("12 records sent"), None);
    }

    #[test]
    fn takes_the_last_summary_and_its_error_count() {
        let lines = [
            "41200 records sent, 8240.0 records/sec (0.79 MB/sec), 3.1 ms avg latency, 40.2 ms max latency.",
            PERF,
            "0 errors; 12 batches, 4000 bytes avg per batch, 0 retries, 30 requests.",
        ];
        let s = parse_output(&lines).unwrap();
        assert_eq!((s.records, s.errors), (5000, Some(0)));
        assert!(parse_output(&lines[..1]).is_none());
    }
}
