//! What a Produce answer (or the lack of one) means for a batch: complete, retry or fail
//! (Java's `Sender.completeBatch` rules).

use std::sync::Arc;
use std::time::Duration;

use klamm_protocol::error_code::ErrorCode;
use klamm_protocol::messages::produce::response::PartitionProduceResponse;
use tokio::time::Instant;

use crate::error::ProducerError;
use crate::idempotence::{Outcome, TopicPartition};

/// The decision for one batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Written: resolve the records with these offsets.
    Complete {
        /// Offset of the batch's first record (`-1` if unknown).
        base_offset: i64,
        /// The broker's append time for `LogAppendTime` topics.
        log_append_time: Option<i64>,
    },
    /// Send again after the backoff.
    Retry {
        /// Why (reported if retries run out).
        error: ProducerError,
        /// Whether the error says our metadata is stale (leader moved, ...).
        refresh_metadata: bool,
        /// For the idempotence bookkeeping.
        outcome: Outcome,
    },
    /// The broker refused the batch as too large (MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE):
    /// split it in two and send the halves in its place (Java's `splitAndReenqueue`). A batch
    /// that cannot be split (a single record) fails with this error.
    Split {
        /// The broker's refusal.
        error: ProducerError,
    },
    /// Give up: resolve the records with the error.
    Fail {
        /// The error.
        error: ProducerError,
        /// For the idempotence bookkeeping.
        outcome: Outcome,
        /// Whether the whole producer must stop (fenced epoch).
        fatal: bool,
    },
}

/// Errors after which Java refreshes metadata (`InvalidMetadataException` and friends).
fn stale_metadata(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::UnknownTopicOrPartition
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::NotLeaderOrFollower
            | ErrorCode::ReplicaNotAvailable
            | ErrorCode::KafkaStorageError
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::UnknownLeaderEpoch
    )
}

/// The verdict for a batch from its partition's answer (`None`: the broker left the
/// partition out of its response, which counts as no answer).
pub fn classify(
    tp: &TopicPartition,
    answer: Option<&PartitionProduceResponse>,
    idempotent: bool,
) -> Verdict {
    let Some(answer) = answer else {
        return no_answer(
            tp,
            "the broker's response did not mention the partition".into(),
        );
    };
    let code = ErrorCode::from_i16(answer.error_code);
    let log_append_time = (answer.log_append_time_ms >= 0).then_some(answer.log_append_time_ms);
    let error = || ProducerError::Broker {
        topic: Arc::clone(&tp.topic),
        partition: tp.partition,
        code,
        message: answer.error_message.as_deref().map(Arc::from),
    };
    match code {
        ErrorCode::None => Verdict::Complete {
            base_offset: answer.base_offset,
            log_append_time,
        },
        // Written by an earlier attempt (KIP-98): success, but the broker no longer knows
        // where (newer brokers answer NONE with the original offset when they do). Kafka sends
        // -1 here and Java reports the offset as unknown; some brokers (the librdkafka mock)
        // send 0, so never trust the field: -1, unknown.
        ErrorCode::DuplicateSequenceNumber if idempotent => Verdict::Complete {
            base_offset: -1,
            log_append_time,
        },
        ErrorCode::OutOfOrderSequenceNumber | ErrorCode::UnknownProducerId if idempotent => {
            Verdict::Retry {
                error: error(),
                refresh_metadata: false,
                outcome: Outcome::SequenceRejected,
            }
        }
        ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced => Verdict::Fail {
            error: ProducerError::Fatal(
                format!(
                    "{}: another producer with a newer epoch fenced this one",
                    code.name()
                )
                .into(),
            ),
            outcome: Outcome::Failed {
                maybe_written: false,
            },
            fatal: true,
        },
        ErrorCode::MessageTooLarge | ErrorCode::RecordListTooLarge => {
            Verdict::Split { error: error() }
        }
        code if code.is_retriable() => Verdict::Retry {
            error: error(),
            refresh_metadata: stale_metadata(code),
            outcome: Outcome::RetriableRejected,
        },
        _ => Verdict::Fail {
            error: error(),
            outcome: Outcome::Failed {
                maybe_written: false,
            },
            fatal: false,
        },
    }
}

/// The verdict when the request got no answer (connection lost, request timeout): the batch
/// may have been written, so it is retried under the same sequence.
pub fn no_answer(tp: &TopicPartition, why: Arc<str>) -> Verdict {
    tracing::debug!(topic = %tp.topic, partition = tp.partition, %why, "no answer for batch");
    Verdict::Retry {
        error: ProducerError::NoAnswer(why),
        refresh_metadata: true,
        outcome: Outcome::Unknown,
    }
}

/// Turn a `Retry` into a `Fail` when the batch has used up `retries` or its
/// `delivery_timeout` (counted from its creation, as Java does).
pub fn limit_retries(
    verdict: Verdict,
    tp: &TopicPartition,
    attempts: u32,
    created: Instant,
    now: Instant,
    retries: u32,
    delivery_timeout: Duration,
) -> Verdict {
    let Verdict::Retry { error, outcome, .. } = &verdict else {
        return verdict;
    };
    let out_of_time = now >= created + delivery_timeout;
    if attempts <= retries && !out_of_time {
        return verdict;
    }
    let maybe_written = *outcome == Outcome::Unknown;
    let error = if out_of_time {
        ProducerError::DeliveryTimeout {
            topic: Arc::clone(&tp.topic),
            partition: tp.partition,
            timeout: delivery_timeout,
            attempts,
            last_error: Some(Arc::new(error.clone())),
        }
    } else {
        error.clone()
    };
    Verdict::Fail {
        error,
        outcome: Outcome::Failed { maybe_written },
        fatal: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp() -> TopicPartition {
        TopicPartition {
            topic: "t".into(),
            partition: 1,
        }
    }

    fn answer(code: ErrorCode) -> PartitionProduceResponse {
        PartitionProduceResponse {
            index: 1,
            error_code: code.as_i16(),
            base_offset: 40,
            log_append_time_ms: -1,
            ..Default::default()
        }
    }

    #[test]
    fn success_and_duplicates_complete() {
        assert_eq!(
            classify(&tp(), Some(&answer(ErrorCode::None)), true),
            Verdict::Complete {
                base_offset: 40,
                log_append_time: None
            }
        );
        // A duplicate is written, at an offset the broker no longer knows: -1 (as Java),
        // whatever the base offset field holds.
        let mut a = answer(ErrorCode::DuplicateSequenceNumber);
        a.log_append_time_ms = 77;
        assert_eq!(
            classify(&tp(), Some(&a), true),
            Verdict::Complete {
                base_offset: -1,
                log_append_time: Some(77)
            }
        );
    }

    #[test]
    fn leader_errors_retry_and_refresh_metadata() {
        let v = classify(&tp(), Some(&answer(ErrorCode::NotLeaderOrFollower)), true);
        let Verdict::Retry {
            error,
            refresh_metadata,
            outcome,
        } = v
        else {
            panic!("{v:?}")
        };
        assert!(refresh_metadata);
        assert_eq!(outcome, Outcome::RetriableRejected);
        assert!(
            error.to_string().contains("NOT_LEADER_OR_FOLLOWER"),
            "{error}"
        );
        let v = classify(&tp(), Some(&answer(ErrorCode::NotEnoughReplicas)), true);
        assert!(matches!(
            v,
            Verdict::Retry {
                refresh_metadata: false,
                ..
            }
        ));
    }

    #[test]
    fn sequence_errors_retry_with_idempotence_and_fail_without() {
        for code in [
            ErrorCode::OutOfOrderSequenceNumber,
            ErrorCode::UnknownProducerId,
        ] {
            assert!(matches!(
                classify(&tp(), Some(&answer(code)), true),
                Verdict::Retry {
                    outcome: Outcome::SequenceRejected,
                    ..
                }
            ));
            assert!(matches!(
                classify(&tp(), Some(&answer(code)), false),
                Verdict::Fail { fatal: false, .. }
            ));
        }
    }

    #[test]
    fn fencing_is_fatal_and_other_errors_fail_the_batch() {
        assert!(matches!(
            classify(&tp(), Some(&answer(ErrorCode::ProducerFenced)), true),
            Verdict::Fail { fatal: true, .. }
        ));
        let mut a = answer(ErrorCode::InvalidRecord);
        a.error_message = Some("bad".into());
        let Verdict::Fail { error, fatal, .. } = classify(&tp(), Some(&a), true) else {
            panic!()
        };
        assert!(!fatal);
        assert!(
            error.to_string().contains("INVALID_RECORD (code 87): bad"),
            "{error}"
        );
        // Too large: split (the sender fails a batch that cannot be split).
        for code in [ErrorCode::MessageTooLarge, ErrorCode::RecordListTooLarge] {
            let mut a = answer(code);
            a.error_message = Some("too big".into());
            let Verdict::Split { error } = classify(&tp(), Some(&a), true) else {
                panic!("{code:?}")
            };
            assert!(error.to_string().contains("too big"), "{error}");
        }
    }

    #[test]
    fn missing_answers_are_unknown_outcomes() {
        assert!(matches!(
            classify(&tp(), None, true),
            Verdict::Retry {
                outcome: Outcome::Unknown,
                refresh_metadata: true,
                ..
            }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_and_delivery_timeout_bound_retrying() {
        let start = Instant::now();
        let retry = || classify(&tp(), Some(&answer(ErrorCode::NotLeaderOrFollower)), true);
        let timeout = Duration::from_secs(120);
        let v = limit_retries(retry(), &tp(), 3, start, start, 3, timeout);
        assert!(matches!(v, Verdict::Retry { .. }));
        let v = limit_retries(retry(), &tp(), 4, start, start, 3, timeout);
        assert!(matches!(
            v,
            Verdict::Fail {
                error: ProducerError::Broker { .. },
                ..
            }
        ));
        let later = start + timeout;
        let v = limit_retries(retry(), &tp(), 1, start, later, 10, timeout);
        let Verdict::Fail { error, outcome, .. } = v else {
            panic!()
        };
        assert!(matches!(
            error,
            ProducerError::DeliveryTimeout { attempts: 1, .. }
        ));
        assert_eq!(
            outcome,
            Outcome::Failed {
                maybe_written: false
            }
        );
        let v = limit_retries(
            no_answer(&tp(), "gone".into()),
            &tp(),
            9,
            start,
            later,
            10,
            timeout,
        );
        assert!(matches!(
            v,
            Verdict::Fail {
                outcome: Outcome::Failed {
                    maybe_written: true
                },
                ..
            }
        ));
    }
}
