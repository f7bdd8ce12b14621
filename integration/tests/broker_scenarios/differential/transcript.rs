//! Transcripts: each broker's answers to a case's requests, normalized so that two brokers
//! that behave alike produce equal transcripts, and compared step by step, field by field.
//!
//! Normalized means: error codes as Kafka's names; producer ids as `p0`, `p1`, ... in the
//! order the case first used them; epochs relative to the first epoch seen for that producer
//! id (`e+0`, `e+1`, ...); offsets as they are in the case's fresh topic (whose partitions
//! start at 0 on both brokers, so they are relative to the partition start); throttle times
//! compared roughly. Producer ids, timestamps, coordinator epochs and error messages are
//! left out.

use std::collections::HashMap;
use std::fmt::{self, Display, Write as _};

use klamm_protocol::error_code::ErrorCode;

/// Two positive throttle times agree when the larger is at most this many times the smaller.
pub const THROTTLE_RATIO: f64 = 1.5;

/// One field of a normalized answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Compared exactly.
    Exact(String),
    /// A throttle time in milliseconds: agrees when both are zero, or both positive and
    /// within [`THROTTLE_RATIO`] of each other.
    Millis(i64),
}

impl Value {
    /// Whether two brokers' values agree.
    pub fn agrees(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Exact(a), Value::Exact(b)) => a == b,
            (Value::Millis(a), Value::Millis(b)) => {
                if *a <= 0 || *b <= 0 {
                    (*a <= 0) == (*b <= 0)
                } else {
                    let (lo, hi) = ((*a).min(*b) as f64, (*a).max(*b) as f64);
                    hi / lo <= THROTTLE_RATIO
                }
            }
            _ => false,
        }
    }
}

impl Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Exact(s) => f.write_str(s),
            Value::Millis(ms) => write!(f, "{ms} ms"),
        }
    }
}

/// One request of a case and its normalized answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// What was sent (the same text on both brokers).
    pub what: String,
    /// The answer's fields, in a fixed order.
    pub fields: Vec<(&'static str, Value)>,
}

impl Step {
    /// A step with no fields yet.
    pub fn new(what: impl Into<String>) -> Self {
        Step {
            what: what.into(),
            fields: Vec::new(),
        }
    }

    /// Adds a field compared exactly.
    pub fn field(mut self, name: &'static str, value: impl Display) -> Self {
        self.fields.push((name, Value::Exact(value.to_string())));
        self
    }

    /// Adds a throttle time, compared roughly.
    pub fn millis(mut self, name: &'static str, ms: i64) -> Self {
        self.fields.push((name, Value::Millis(ms)));
        self
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// A Kafka error code as its name.
pub fn code_name(code: i16) -> &'static str {
    ErrorCode::from_i16(code).name()
}

/// The answers of a request retried while the broker said CONCURRENT_TRANSACTIONS, with
/// repeats collapsed (how often a broker said it is timing, not behaviour).
pub fn answers(codes: &[i16]) -> String {
    let mut names: Vec<&str> = codes.iter().map(|c| code_name(*c)).collect();
    names.dedup();
    names.join(" -> ")
}

/// Names for what differs between brokers by nature: producer ids and absolute epochs.
#[derive(Debug, Default)]
pub struct Names {
    pids: Vec<i64>,
    base_epochs: HashMap<i64, i16>,
}

impl Names {
    /// The producer id's name (`p0`, `p1`, ... in order of first use; `none` for -1).
    pub fn pid(&mut self, pid: i64) -> String {
        if pid < 0 {
            return "none".into();
        }
        let i = match self.pids.iter().position(|p| *p == pid) {
            Some(i) => i,
            None => {
                self.pids.push(pid);
                self.pids.len() - 1
            }
        };
        format!("p{i}")
    }

    /// The epoch relative to the first epoch seen for the producer id (`e+0` the first time).
    pub fn epoch(&mut self, pid: i64, epoch: i16) -> String {
        if pid < 0 || epoch < 0 {
            return format!("{epoch}");
        }
        self.pid(pid);
        let base = *self.base_epochs.entry(pid).or_insert(epoch);
        let d = i32::from(epoch) - i32::from(base);
        if d >= 0 {
            format!("e+{d}")
        } else {
            format!("e{d}")
        }
    }

    /// `p0/e+1`.
    pub fn producer(&mut self, pid: i64, epoch: i16) -> String {
        let p = self.pid(pid);
        let e = self.epoch(pid, epoch);
        format!("{p}/{e}")
    }
}

/// The steps of one case on one broker.
#[derive(Debug, Default)]
pub struct Transcript {
    /// In the order sent.
    pub steps: Vec<Step>,
}

/// A field in which the brokers' transcripts differ.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// The case.
    pub case: &'static str,
    /// 1-based step number.
    pub step: usize,
    /// What was sent.
    pub what: String,
    /// The field (`step` when the steps themselves differ).
    pub field: String,
    /// Apache Kafka's value.
    pub kafka: String,
    /// The testkit's value.
    pub testkit: String,
}

impl Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} #{} {} / {}: kafka {} | testkit {}",
            self.case, self.step, self.what, self.field, self.kafka, self.testkit
        )
    }
}

/// How many fields two transcripts compared, and where they differ.
#[derive(Debug, Default)]
pub struct Comparison {
    /// Steps compared.
    pub steps: usize,
    /// Fields compared.
    pub fields: usize,
    /// Every difference.
    pub differences: Vec<Difference>,
}

/// Compares Kafka's transcript of `case` with the testkit's, step by step and field by field.
pub fn compare(case: &'static str, kafka: &Transcript, testkit: &Transcript) -> Comparison {
    let mut out = Comparison::default();
    let n = kafka.steps.len().max(testkit.steps.len());
    for i in 0..n {
        let (k, t) = (kafka.steps.get(i), testkit.steps.get(i));
        out.steps += 1;
        let (Some(k), Some(t)) = (k, t) else {
            let show = |s: Option<&Step>| s.map_or("(no step)".to_string(), |s| s.what.clone());
            out.differences.push(Difference {
                case,
                step: i + 1,
                what: show(k.or(t)),
                field: "step".into(),
                kafka: show(k),
                testkit: show(t),
            });
            continue;
        };
        if k.what != t.what {
            out.differences.push(Difference {
                case,
                step: i + 1,
                what: k.what.clone(),
                field: "step".into(),
                kafka: k.what.clone(),
                testkit: t.what.clone(),
            });
            continue;
        }
        let mut names: Vec<&str> = k.fields.iter().map(|(n, _)| *n).collect();
        for (name, _) in &t.fields {
            if !names.contains(name) {
                names.push(name);
            }
        }
        for name in names {
            out.fields += 1;
            let (kv, tv) = (k.get(name), t.get(name));
            let agree = matches!((kv, tv), (Some(a), Some(b)) if a.agrees(b));
            if !agree {
                let show = |v: Option<&Value>| v.map_or("(absent)".to_string(), Value::to_string);
                out.differences.push(Difference {
                    case,
                    step: i + 1,
                    what: k.what.clone(),
                    field: name.to_string(),
                    kafka: show(kv),
                    testkit: show(tv),
                });
            }
        }
    }
    out
}

/// Both transcripts of a case side by side; fields that differ are marked `!!` (unexpected)
/// or `~~` (a known difference, per `is_known`).
pub fn side_by_side(
    case: &str,
    kafka: &Transcript,
    testkit: &Transcript,
    is_known: impl Fn(&Difference) -> bool,
    differences: &[Difference],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "=== case {case}: Apache Kafka | klamm-testkit (!! differs, ~~ known difference)"
    );
    let n = kafka.steps.len().max(testkit.steps.len());
    for i in 0..n {
        let (k, t) = (kafka.steps.get(i), testkit.steps.get(i));
        let what = k.or(t).map_or("", |s| s.what.as_str());
        let _ = writeln!(out, "  #{:<2} {what}", i + 1);
        if let (Some(k), Some(t)) = (k, t)
            && k.what != t.what
        {
            let _ = writeln!(out, "       !! testkit sent: {}", t.what);
        }
        let mut names: Vec<&str> = Vec::new();
        for s in [k, t].into_iter().flatten() {
            for (n, _) in &s.fields {
                if !names.contains(n) {
                    names.push(n);
                }
            }
        }
        for name in names {
            let get = |s: Option<&Step>| {
                s.and_then(|s| s.get(name))
                    .map_or("(absent)".to_string(), Value::to_string)
            };
            let mark = match differences
                .iter()
                .find(|d| d.step == i + 1 && d.field == name)
            {
                Some(d) if is_known(d) => "~~",
                Some(_) => "!!",
                None => "  ",
            };
            let _ = writeln!(out, "    {mark} {name:<10} {:<44} | {}", get(k), get(t));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript(steps: Vec<Step>) -> Transcript {
        Transcript { steps }
    }

    #[test]
    fn equal_transcripts_have_no_differences() {
        let a = transcript(vec![
            Step::new("x").field("error", "NONE").millis("t", 2000),
        ]);
        let b = transcript(vec![
            Step::new("x").field("error", "NONE").millis("t", 2300),
        ]);
        let c = compare("case", &a, &b);
        assert_eq!((c.steps, c.fields), (1, 2));
        assert!(c.differences.is_empty(), "{:?}", c.differences);
    }

    #[test]
    fn differing_fields_steps_and_throttles_are_found() {
        let a = transcript(vec![
            Step::new("x").field("error", "NONE").millis("t", 2000),
            Step::new("y"),
        ]);
        let b = transcript(vec![
            Step::new("x")
                .field("error", "UNKNOWN_PRODUCER_ID")
                .millis("t", 0),
            Step::new("z"),
            Step::new("w"),
        ]);
        let c = compare("case", &a, &b);
        let fields: Vec<&str> = c.differences.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["error", "t", "step", "step"]);
        assert_eq!(c.differences[2].testkit, "z");
        assert_eq!(c.differences[3].kafka, "(no step)");
        let shown = side_by_side("case", &a, &b, |_| false, &c.differences);
        assert!(shown.contains("!! error"), "{shown}");
    }

    #[test]
    fn throttles_agree_roughly() {
        let v = |ms| Value::Millis(ms);
        assert!(v(0).agrees(&v(0)));
        assert!(!v(0).agrees(&v(5)));
        assert!(v(2000).agrees(&v(2900)));
        assert!(!v(2000).agrees(&v(3100)));
    }

    #[test]
    fn names_hide_producer_ids_and_absolute_epochs() {
        let mut n = Names::default();
        assert_eq!(n.producer(4711, 3), "p0/e+0");
        assert_eq!(n.producer(99, 0), "p1/e+0");
        assert_eq!(n.producer(4711, 5), "p0/e+2");
        assert_eq!(n.epoch(4711, 2), "e-1");
        assert_eq!(n.pid(-1), "none");
        assert_eq!(answers(&[51, 51, 0]), "CONCURRENT_TRANSACTIONS -> NONE");
    }
}
