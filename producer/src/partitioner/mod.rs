//! Choosing a partition for a record that names none.
//!
//! * keyed records: `toPositive(murmur2(key)) % partitions`, exactly as Java (see [`murmur2`]);
//! * keyless records (or all records with `partitioner_ignore_keys`): the uniform sticky
//!   partitioner of KIP-794 ([`StickyPartitioner`]);
//! * [`crate::config::PartitionerChoice::RoundRobin`] and a user
//!   function ([`PartitionerFn`]) as alternatives.
//!
//! Per-topic state lives in a [`TopicPartitioner`], which the accumulator keeps next to the
//! topic's partition queues so that a record costs one map lookup.

mod murmur2;
mod sticky;

pub use murmur2::{murmur2, partition_for_key, to_positive};
pub use sticky::{PartitionAvailability, StickyPartitioner};

use std::sync::atomic::{AtomicU32, Ordering};

use crate::config::{PartitionerChoice, ProducerConfig};

/// What a custom partitioner sees of a record.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct PartitionerContext<'a> {
    /// The record's topic.
    pub topic: &'a str,
    /// The record's key, if any.
    pub key: Option<&'a [u8]>,
    /// The record's value, if any.
    pub value: Option<&'a [u8]>,
    /// The topic's number of partitions (at least 1).
    pub partitions: i32,
    /// Partitions whose leader is currently known, ascending (may be empty if unknown).
    pub available: &'a [i32],
}

/// A user partitioner: returns a partition in `0..ctx.partitions`. A value outside that range
/// makes `send` fail with [`PartitionError::OutOfRange`] instead of guessing.
pub type PartitionerFn = dyn Fn(&PartitionerContext<'_>) -> i32 + Send + Sync;

/// Why no partition could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PartitionError {
    /// The topic has no partitions (metadata says 0).
    #[error("topic {topic:?} has no partitions")]
    NoPartitions {
        /// The topic.
        topic: String,
    },
    /// A partition (given explicitly or by a custom partitioner) does not exist.
    #[error("partition {partition} of topic {topic:?} does not exist (the topic has {partitions})")]
    OutOfRange {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
        /// How many partitions the topic has.
        partitions: i32,
    },
}

/// Where a record goes, and whether the sticky partitioner must hear about the append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment {
    /// The partition.
    pub partition: i32,
    /// Whether the sticky partitioner chose it (then report the appended bytes with
    /// [`TopicPartitioner::on_append`]).
    pub sticky: bool,
}

/// Partitioner state of one topic.
#[derive(Debug)]
pub struct TopicPartitioner {
    sticky: StickyPartitioner,
    round_robin: AtomicU32,
}

impl TopicPartitioner {
    /// Fresh state for a topic, switching sticky partitions after `batch_size` bytes.
    pub fn new(batch_size: usize) -> Self {
        TopicPartitioner {
            sticky: StickyPartitioner::new(batch_size),
            round_robin: AtomicU32::new(0),
        }
    }

    /// The sticky partitioner of this topic (for load updates).
    pub fn sticky(&self) -> &StickyPartitioner {
        &self.sticky
    }

    /// Choose the partition for a record. `explicit` is the record's own partition, if any;
    /// it is only range-checked.
    pub fn assign(
        &self,
        config: &ProducerConfig,
        topic: &str,
        explicit: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        partitions: PartitionAvailability<'_>,
    ) -> Result<Assignment, PartitionError> {
        if partitions.count <= 0 {
            return Err(PartitionError::NoPartitions {
                topic: topic.to_owned(),
            });
        }
        let check = |partition: i32| {
            if (0..partitions.count).contains(&partition) {
                Ok(partition)
            } else {
                Err(PartitionError::OutOfRange {
                    topic: topic.to_owned(),
                    partition,
                    partitions: partitions.count,
                })
            }
        };
        let fixed = |partition| {
            check(partition).map(|partition| Assignment {
                partition,
                sticky: false,
            })
        };
        if let Some(p) = explicit {
            return fixed(p);
        }
        match &config.partitioner {
            PartitionerChoice::Custom(f) => fixed(f(&PartitionerContext {
                topic,
                key,
                value,
                partitions: partitions.count,
                available: partitions.available,
            })),
            PartitionerChoice::RoundRobin => {
                let n = self.round_robin.fetch_add(1, Ordering::Relaxed) as usize;
                let p = if partitions.available.is_empty() {
                    (n % partitions.count as usize) as i32
                } else {
                    partitions.available[n % partitions.available.len()]
                };
                fixed(p)
            }
            PartitionerChoice::Default => match key {
                Some(key) if !config.partitioner_ignore_keys => {
                    // `partitions.count > 0` was checked above.
                    fixed(partition_for_key(key, partitions.count).unwrap_or(0))
                }
                _ => {
                    let partition = self.sticky.partition(partitions).ok_or_else(|| {
                        PartitionError::NoPartitions {
                            topic: topic.to_owned(),
                        }
                    })?;
                    check(partition).map(|partition| Assignment {
                        partition,
                        sticky: true,
                    })
                }
            },
        }
    }

    /// Tell the sticky partitioner that `bytes` were appended to a partition it chose (see
    /// [`StickyPartitioner::on_append`]).
    pub fn on_append(
        &self,
        assignment: Assignment,
        bytes: usize,
        batch_full: bool,
        partitions: PartitionAvailability<'_>,
    ) {
        if assignment.sticky {
            self.sticky
                .on_append(assignment.partition, bytes, batch_full, partitions);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> crate::config::ProducerConfigBuilder {
        ProducerConfig::builder().bootstrap(["localhost:9092"])
    }

    const SIX: PartitionAvailability<'static> = PartitionAvailability {
        count: 6,
        available: &[],
    };

    #[test]
    fn keyed_records_use_murmur2_on_all_partitions() {
        let c = config().build().unwrap();
        let t = TopicPartitioner::new(c.batch_size);
        // Even with only partition 0 available, the key decides (Java ignores availability).
        let one_up = PartitionAvailability {
            count: 6,
            available: &[0],
        };
        let a = t
            .assign(&c, "t", None, Some(b"foobar"), None, one_up)
            .unwrap();
        assert_eq!(a.partition, to_positive(-790_332_482) % 6);
        assert!(!a.sticky);
    }

    #[test]
    fn explicit_partition_is_range_checked() {
        let c = config().build().unwrap();
        let t = TopicPartitioner::new(c.batch_size);
        assert_eq!(
            t.assign(&c, "t", Some(5), Some(b"k"), None, SIX)
                .unwrap()
                .partition,
            5
        );
        let err = t.assign(&c, "t", Some(6), None, None, SIX).unwrap_err();
        assert_eq!(
            err,
            PartitionError::OutOfRange {
                topic: "t".into(),
                partition: 6,
                partitions: 6
            }
        );
        assert!(t.assign(&c, "t", Some(-1), None, None, SIX).is_err());
    }

    #[test]
    fn keyless_records_stick() {
        let c = config().build().unwrap();
        let t = TopicPartitioner::new(c.batch_size);
        let a = t.assign(&c, "t", None, None, Some(b"v"), SIX).unwrap();
        assert!(a.sticky);
        for _ in 0..10 {
            let b = t.assign(&c, "t", None, None, Some(b"v"), SIX).unwrap();
            assert_eq!(a, b);
            t.on_append(b, 10, false, SIX);
        }
    }

    #[test]
    fn ignore_keys_makes_keyed_records_sticky() {
        let c = config().partitioner_ignore_keys(true).build().unwrap();
        let t = TopicPartitioner::new(c.batch_size);
        let a = t.assign(&c, "t", None, Some(b"k1"), None, SIX).unwrap();
        let b = t.assign(&c, "t", None, Some(b"k2"), None, SIX).unwrap();
        assert!(a.sticky && b.sticky);
        assert_eq!(a.partition, b.partition);
    }

    #[test]
    fn round_robin_cycles_available_partitions() {
        let c = config()
            .partitioner(PartitionerChoice::RoundRobin)
            .build()
            .unwrap();
        let t = TopicPartitioner::new(c.batch_size);
        let avail = PartitionAvailability {
            count: 6,
            available: &[1, 3, 4],
        };
        let got: Vec<i32> = (0..6)
            .map(|_| {
                t.assign(&c, "t", None, Some(b"k"), None, avail)
                    .unwrap()
                    .partition
            })
            .collect();
        assert_eq!(got, [1, 3, 4, 1, 3, 4]);
        let got: Vec<i32> = (0..7)
            .map(|_| t.assign(&c, "t", None, None, None, SIX).unwrap().partition)
            .collect();
        assert_eq!(got, [0, 1, 2, 3, 4, 5, 0]);
    }

    #[test]
    fn custom_partitioner_is_called_and_checked() {
        let c = config()
            .partitioner_fn(|ctx| ctx.key.map_or(0, |k| k.len() as i32))
            .build()
            .unwrap();
        let t = TopicPartitioner::new(c.batch_size);
        assert_eq!(
            t.assign(&c, "t", None, Some(b"abc"), None, SIX)
                .unwrap()
                .partition,
            3
        );
        let err = t
            .assign(&c, "t", None, Some(b"1234567"), None, SIX)
            .unwrap_err();
        assert!(matches!(
            err,
            PartitionError::OutOfRange { partition: 7, .. }
        ));
    }

    #[test]
    fn zero_partitions_is_an_error() {
        let c = config().build().unwrap();
        let t = TopicPartitioner::new(c.batch_size);
        let none = PartitionAvailability {
            count: 0,
            available: &[],
        };
        assert!(matches!(
            t.assign(&c, "t", None, Some(b"k"), None, none),
            Err(PartitionError::NoPartitions { .. })
        ));
    }
}
