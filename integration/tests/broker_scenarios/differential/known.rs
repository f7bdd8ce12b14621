//! The differences between klamm-testkit and Apache Kafka 4.1.1 that the differential suite
//! knows and accepts, each with its reason (the same list is in `testkit/README.md`,
//! "Differences from Apache Kafka"). A difference not listed here fails the suite, and so does
//! an entry here that no longer occurs, so the list stays true.
//!
//! Empty since every difference the suite found was fixed in the testkit (see the README for
//! what the suite does not compare, and why).

use super::transcript::Difference;

/// One accepted difference: a field of a step of a case, with both brokers' values.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    /// The case.
    pub case: &'static str,
    /// Text the step's description contains.
    pub step: &'static str,
    /// The field.
    pub field: &'static str,
    /// What Apache Kafka answers.
    pub kafka: &'static str,
    /// What the testkit answers.
    pub testkit: &'static str,
    /// Why the testkit keeps answering differently.
    pub why: &'static str,
}

impl Known {
    /// Whether `d` is this difference.
    pub fn matches(&self, d: &Difference) -> bool {
        d.case == self.case
            && d.what.contains(self.step)
            && d.field == self.field
            && d.kafka == self.kafka
            && d.testkit == self.testkit
    }
}

/// Every accepted difference.
pub const KNOWN: &[Known] = &[];

/// The verdict on the differences of a run against a list of known ones.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Differences no entry accepts.
    pub unexpected: Vec<Difference>,
    /// For each entry of the list, whether it occurred.
    pub seen: Vec<bool>,
}

impl Verdict {
    /// A verdict with nothing seen yet, for `known`.
    pub fn new(known: &[Known]) -> Self {
        Verdict {
            unexpected: Vec::new(),
            seen: vec![false; known.len()],
        }
    }

    /// Sorts `differences` into accepted (marking their entries seen) and unexpected.
    pub fn add(&mut self, known: &[Known], differences: &[Difference]) {
        for d in differences {
            match known.iter().position(|k| k.matches(d)) {
                Some(i) => self.seen[i] = true,
                None => self.unexpected.push(d.clone()),
            }
        }
    }

    /// The entries of `known` that did not occur.
    pub fn gone<'a>(&self, known: &'a [Known]) -> Vec<&'a Known> {
        known
            .iter()
            .zip(&self.seen)
            .filter(|(_, seen)| !**seen)
            .map(|(k, _)| k)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &[Known] = &[
        Known {
            case: "c",
            step: "Produce",
            field: "error",
            kafka: "NONE",
            testkit: "UNKNOWN_PRODUCER_ID",
            why: "a test entry",
        },
        Known {
            case: "c",
            step: "Fetch",
            field: "hw",
            kafka: "3",
            testkit: "4",
            why: "a test entry that does not occur",
        },
    ];

    fn diff(field: &str, testkit: &str) -> Difference {
        Difference {
            case: "c",
            step: 1,
            what: "Produce v9 partition 0".into(),
            field: field.into(),
            kafka: "NONE".into(),
            testkit: testkit.into(),
        }
    }

    #[test]
    fn listed_differences_pass_others_fail_and_stale_entries_are_named() {
        let mut v = Verdict::new(LIST);
        v.add(
            LIST,
            &[
                diff("error", "UNKNOWN_PRODUCER_ID"),
                diff("error", "INVALID_TXN_STATE"),
            ],
        );
        assert_eq!(v.unexpected.len(), 1);
        assert_eq!(v.unexpected[0].testkit, "INVALID_TXN_STATE");
        let gone = v.gone(LIST);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].step, "Fetch");
    }
}
