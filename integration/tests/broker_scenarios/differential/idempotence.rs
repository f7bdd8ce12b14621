//! Cases of the idempotent producer: sequence gaps, duplicates (within and beyond the five
//! batches a broker remembers), epochs that are stale or bumped without InitProducerId, and
//! producer ids the broker has no state for; plus the coordinator's answers to producer ids
//! and transactional ids it does not know, and other refusals (bad transaction timeouts,
//! unknown partitions, transactional records without a transactional id, a Fetch past the
//! end).

use klamm_integration::ScenarioResult;

use super::plan::{Batch, Read};
use super::side::Side;

/// A producer id no broker of the suite hands out (Kafka allocates from 0 in blocks of
/// 1000, the testkit from 1000): the case's unknown producer.
const STRANGER: i64 = 4_000_000_000;

/// Sequence gaps, duplicates, stale and bumped epochs of an idempotent producer.
pub async fn sequences(s: &mut Side) -> ScenarioResult {
    let (pid, e) = s
        .init_producer_id("a fresh idempotent producer", None, 0, None)
        .await?;
    s.produce("first batch", Batch::idempotent(0, 3, pid, e, 0))
        .await?;
    s.produce(
        "the same batch again (a retry)",
        Batch::idempotent(0, 3, pid, e, 0),
    )
    .await?;
    s.produce("in sequence", Batch::idempotent(0, 2, pid, e, 3))
        .await?;
    s.produce("a gap (5..9 missing)", Batch::idempotent(0, 1, pid, e, 10))
        .await?;
    s.produce(
        "overlapping, not a retry of a whole batch",
        Batch::idempotent(0, 1, pid, e, 4),
    )
    .await?;
    for seq in 5..10 {
        s.produce("one more in sequence", Batch::idempotent(0, 1, pid, e, seq))
            .await?;
    }
    s.produce(
        "a retry of a batch no longer among the last five",
        Batch::idempotent(0, 2, pid, e, 3),
    )
    .await?;
    s.produce(
        "a retry of one of the last five",
        Batch::idempotent(0, 1, pid, e, 7),
    )
    .await?;
    s.produce(
        "the next epoch from sequence 0, without InitProducerId",
        Batch::idempotent(0, 2, pid, e + 1, 0),
    )
    .await?;
    s.produce(
        "the old epoch again (stale)",
        Batch::idempotent(0, 1, pid, e, 10),
    )
    .await?;
    s.produce(
        "a newer epoch not starting at sequence 0",
        Batch::idempotent(0, 1, pid, e + 2, 3),
    )
    .await?;
    s.produce(
        "the same producer on another partition",
        Batch::idempotent(1, 2, pid, e + 1, 0),
    )
    .await?;
    s.produce("records without a producer id", Batch::plain(0, 2))
        .await?;
    let (pid2, e2) = s
        .init_producer_id("a second idempotent producer", None, 0, None)
        .await?;
    s.produce(
        "its first batch starts at sequence 0",
        Batch::idempotent(1, 1, pid2, e2, 0),
    )
    .await?;
    s.describe_producers("after it all", 0).await?;
    s.describe_producers("after it all", 1).await?;
    s.fetch("everything written", Read::uncommitted(0)).await?;
    s.fetch("everything written", Read::uncommitted(1)).await?;
    s.fetch(
        "read_committed sees the same (nothing transactional)",
        Read::committed(0),
    )
    .await
}

/// Producer ids and transactional ids the brokers have no state for.
pub async fn unknown_producers(s: &mut Side) -> ScenarioResult {
    s.produce(
        "a producer id never handed out, from sequence 0",
        Batch::idempotent(0, 2, STRANGER, 0, 0),
    )
    .await?;
    s.produce(
        "a producer id never handed out, from sequence 7",
        Batch::idempotent(1, 2, STRANGER + 1, 0, 7),
    )
    .await?;
    s.produce(
        "it carries on in sequence",
        Batch::idempotent(1, 1, STRANGER + 1, 0, 9),
    )
    .await?;
    s.produce(
        "a handed-out-nowhere producer with a gap after that",
        Batch::idempotent(1, 1, STRANGER + 1, 0, 20),
    )
    .await?;
    let ghost = s.txn_id("ghost");
    s.produce(
        "a transactional batch of an unknown transactional id",
        Batch::idempotent(0, 1, STRANGER + 2, 0, 0).txn(&ghost),
    )
    .await?;
    s.add_partitions(
        "for a transactional id never initialized",
        &ghost,
        (STRANGER + 2, 0),
        &[0],
    )
    .await?;
    s.end_txn(
        "for a transactional id never initialized",
        &ghost,
        (STRANGER + 2, 0),
        true,
    )
    .await?;
    let txn = s.txn_id("known");
    s.init_producer_id("transaction_timeout_ms 0", Some(&txn), 0, None)
        .await?;
    s.init_producer_id(
        "transaction_timeout_ms above transaction.max.timeout.ms (15 min)",
        Some(&txn),
        900_001,
        None,
    )
    .await?;
    let (pid, e) = s
        .init_producer_id("a transactional producer", Some(&txn), 60_000, None)
        .await?;
    s.add_partitions("one partition that does not exist", &txn, (pid, e), &[0, 7])
        .await?;
    s.add_partitions("with a producer id not its own", &txn, (STRANGER, e), &[0])
        .await?;
    s.add_partitions("with a future epoch", &txn, (pid, e + 1), &[0])
        .await?;
    s.end_txn("with no transaction begun", &txn, (pid, e), true)
        .await?;
    s.end_txn("abort with no transaction begun", &txn, (pid, e), false)
        .await?;
    s.produce(
        "transactional, to a partition not added",
        Batch::idempotent(1, 1, pid, e, 0).txn(&txn),
    )
    .await?;
    s.add_partitions("partition 0", &txn, (pid, e), &[0])
        .await?;
    s.produce(
        "transactional, but to a partition not added while another is",
        Batch::idempotent(1, 1, pid, e, 0).txn(&txn),
    )
    .await?;
    s.produce(
        "transactional, to the partition added",
        Batch::idempotent(0, 2, pid, e, 0).txn(&txn),
    )
    .await?;
    s.produce(
        "not transactional while its transaction is open there",
        Batch::idempotent(0, 1, pid, e, 2),
    )
    .await?;
    s.produce(
        "transactional records in a Produce without a transactional id",
        Batch::idempotent(0, 1, pid, e, 2).txn_without_id(),
    )
    .await?;
    s.end_txn("abort it", &txn, (pid, e), false).await?;
    s.settle(&[0, 1], Some(pid), super::SETTLE).await?;
    s.fetch("what was accepted", Read::uncommitted(0)).await?;
    s.fetch("what was accepted", Read::uncommitted(1)).await?;
    s.fetch("the abort hides the transaction", Read::committed(0))
        .await?;
    s.fetch("past the end", Read::uncommitted(0).at(100)).await
}
