//! Cases of transactions (KIP-98, and KIP-890's transaction version 2): commit and abort with
//! markers, `read_committed` Fetch with the last stable offset and the aborted-transaction
//! list, an open transaction holding the LSO, fencing by a second InitProducerId, and a
//! transaction the coordinator aborts when it times out.

use std::time::Duration;

use klamm_integration::ScenarioResult;

use super::SETTLE;
use super::plan::{Batch, Read};
use super::side::Side;

/// The transaction timeout of the timeout case.
const SHORT_TIMEOUT_MS: i32 = 1_000;
/// How long the timeout case waits for the coordinator to abort: Kafka looks for timed-out
/// transactions every `transaction.abort.timed.out.transaction.cleanup.interval.ms` (10 s by
/// default, 1 s on the xtask's cluster).
const ABORT_PATIENCE: Duration = Duration::from_secs(60);
/// The timeout of every other transaction: never reached.
const TIMEOUT_MS: i32 = 60_000;

/// Transactions committed and aborted on two partitions, with plain writes between them;
/// both isolation levels read back, from the start and from inside an aborted transaction.
pub async fn commit_and_abort(s: &mut Side) -> ScenarioResult {
    let txn = s.txn_id("t");
    let (pid, e) = s
        .init_producer_id("fresh", Some(&txn), TIMEOUT_MS, None)
        .await?;
    let p = (pid, e);
    s.add_partitions("both partitions", &txn, p, &[0, 1])
        .await?;
    s.produce("", Batch::idempotent(0, 3, pid, e, 0).txn(&txn))
        .await?;
    s.produce("", Batch::idempotent(1, 2, pid, e, 0).txn(&txn))
        .await?;
    s.end_txn("the first transaction", &txn, p, true).await?;
    s.settle(&[0, 1], Some(pid), SETTLE).await?;
    s.add_partitions("both again", &txn, p, &[0, 1]).await?;
    s.produce("", Batch::idempotent(0, 2, pid, e, 3).txn(&txn))
        .await?;
    s.produce("", Batch::idempotent(1, 1, pid, e, 2).txn(&txn))
        .await?;
    s.end_txn("the second transaction", &txn, p, false).await?;
    s.settle(&[0, 1], Some(pid), SETTLE).await?;
    s.produce("between transactions", Batch::plain(0, 1))
        .await?;
    s.add_partitions("partition 0 only", &txn, p, &[0]).await?;
    s.produce("", Batch::idempotent(0, 1, pid, e, 5).txn(&txn))
        .await?;
    s.end_txn("the third transaction", &txn, p, true).await?;
    s.settle(&[0, 1], Some(pid), SETTLE).await?;
    s.end_txn("again (a retry)", &txn, p, true).await?;
    s.end_txn("the opposite of what completed", &txn, p, false)
        .await?;
    for partition in [0, 1] {
        s.fetch("", Read::committed(partition)).await?;
        s.fetch("", Read::uncommitted(partition)).await?;
    }
    s.fetch(
        "from inside the aborted transaction",
        Read::committed(0).at(5),
    )
    .await?;
    s.fetch("past the aborted transaction", Read::committed(0).at(8))
        .await?;
    s.describe_producers("", 0).await
}

/// An open transaction holds the last stable offset while other producers write after it.
pub async fn open_transaction(s: &mut Side) -> ScenarioResult {
    let slow = s.txn_id("slow");
    let quick = s.txn_id("quick");
    let (pid, e) = s
        .init_producer_id("the slow one", Some(&slow), TIMEOUT_MS, None)
        .await?;
    s.add_partitions("", &slow, (pid, e), &[0]).await?;
    s.produce("opens it", Batch::idempotent(0, 2, pid, e, 0).txn(&slow))
        .await?;
    s.produce("after it", Batch::plain(0, 3)).await?;
    s.fetch("the LSO stops at the open transaction", Read::committed(0))
        .await?;
    s.fetch("", Read::uncommitted(0)).await?;
    s.describe_producers("the open transaction", 0).await?;
    let (qpid, qe) = s
        .init_producer_id("the quick one", Some(&quick), TIMEOUT_MS, None)
        .await?;
    s.add_partitions("", &quick, (qpid, qe), &[0]).await?;
    s.produce("", Batch::idempotent(0, 1, qpid, qe, 0).txn(&quick))
        .await?;
    s.end_txn("commits first", &quick, (qpid, qe), true).await?;
    s.settle(&[0], Some(qpid), SETTLE).await?;
    s.fetch(
        "still held by the slow transaction",
        Read::committed(0).at(2),
    )
    .await?;
    s.fetch("", Read::uncommitted(0)).await?;
    s.end_txn("commits last", &slow, (pid, e), true).await?;
    s.settle(&[0], Some(pid), SETTLE).await?;
    s.fetch("now all stable", Read::committed(0)).await?;
    s.describe_producers("both ended", 0).await
}

/// A second InitProducerId with the same transactional id fences the first instance, whose
/// open transaction is aborted; the old epoch's requests are refused.
pub async fn fencing(s: &mut Side) -> ScenarioResult {
    let txn = s.txn_id("fenced");
    let (pid, e) = s
        .init_producer_id("the first instance", Some(&txn), TIMEOUT_MS, None)
        .await?;
    s.add_partitions("", &txn, (pid, e), &[0]).await?;
    s.produce("", Batch::idempotent(0, 2, pid, e, 0).txn(&txn))
        .await?;
    let (pid2, e2) = s
        .init_producer_id(
            "a second instance while the first's transaction is open",
            Some(&txn),
            TIMEOUT_MS,
            None,
        )
        .await?;
    s.settle(&[0], Some(pid), SETTLE).await?;
    s.add_partitions("the old epoch", &txn, (pid, e), &[1])
        .await?;
    s.produce(
        "the old epoch",
        Batch::idempotent(0, 1, pid, e, 2).txn(&txn),
    )
    .await?;
    s.end_txn("the old epoch", &txn, (pid, e), true).await?;
    s.end_txn("the old epoch", &txn, (pid, e), false).await?;
    s.add_partitions("the new epoch", &txn, (pid2, e2), &[0])
        .await?;
    s.produce(
        "the new epoch",
        Batch::idempotent(0, 1, pid2, e2, 0).txn(&txn),
    )
    .await?;
    s.end_txn("the new epoch", &txn, (pid2, e2), true).await?;
    s.settle(&[0], Some(pid2), SETTLE).await?;
    s.init_producer_id(
        "a zombie retrying its init with its old epoch (KIP-360)",
        Some(&txn),
        TIMEOUT_MS,
        Some((pid, e)),
    )
    .await?;
    s.fetch("", Read::committed(0)).await?;
    s.fetch("", Read::uncommitted(0)).await?;
    s.describe_producers("", 0).await
}

/// A transaction left open past its timeout is aborted by the coordinator, which bumps the
/// epoch; the producer's late requests are refused, and it can start again.
pub async fn timeout(s: &mut Side) -> ScenarioResult {
    let txn = s.txn_id("slow");
    let (pid, e) = s
        .init_producer_id(
            "transaction_timeout_ms 1000",
            Some(&txn),
            SHORT_TIMEOUT_MS,
            None,
        )
        .await?;
    s.add_partitions("", &txn, (pid, e), &[0]).await?;
    s.produce("", Batch::idempotent(0, 2, pid, e, 0).txn(&txn))
        .await?;
    s.wait_aborted("the coordinator aborts it", 0, pid, ABORT_PATIENCE)
        .await?;
    s.settle(&[0], Some(pid), SETTLE).await?;
    s.fetch("the abort marker", Read::committed(0)).await?;
    s.fetch("", Read::uncommitted(0)).await?;
    s.end_txn("commit, too late", &txn, (pid, e), true).await?;
    s.end_txn("abort, too late", &txn, (pid, e), false).await?;
    s.add_partitions("too late", &txn, (pid, e), &[0]).await?;
    s.produce("too late", Batch::idempotent(0, 1, pid, e, 2).txn(&txn))
        .await?;
    s.describe_producers("", 0).await?;
    let (pid2, e2) = s
        .init_producer_id(
            "again, with the producer id and epoch it had (KIP-360)",
            Some(&txn),
            TIMEOUT_MS,
            Some((pid, e)),
        )
        .await?;
    s.add_partitions("", &txn, (pid2, e2), &[0]).await?;
    s.produce("", Batch::idempotent(0, 1, pid2, e2, 0).txn(&txn))
        .await?;
    s.end_txn("", &txn, (pid2, e2), true).await?;
    s.settle(&[0], Some(pid2), SETTLE).await?;
    s.fetch("", Read::committed(0)).await
}

/// Transaction version 2 (KIP-890 part 2): Produce v12 adds the partition to the
/// transaction, EndTxn v5 bumps the epoch at every end and returns it.
pub async fn version_2(s: &mut Side) -> ScenarioResult {
    let txn = s.txn_id("tv2");
    let (pid, e) = s
        .init_producer_id("fresh", Some(&txn), TIMEOUT_MS, None)
        .await?;
    s.produce(
        "adds the partition itself",
        Batch::idempotent(0, 2, pid, e, 0).txn(&txn),
    )
    .await?;
    s.produce("and another", Batch::idempotent(1, 1, pid, e, 0).txn(&txn))
        .await?;
    let (pid1, e1) = s.end_txn("commit", &txn, (pid, e), true).await?;
    s.settle(&[0, 1], Some(pid), SETTLE).await?;
    s.end_txn("commit again (a retry)", &txn, (pid, e), true)
        .await?;
    s.produce(
        "with the epoch EndTxn returned",
        Batch::idempotent(0, 1, pid1, e1, 0).txn(&txn),
    )
    .await?;
    s.produce(
        "with the old epoch",
        Batch::idempotent(1, 1, pid, e, 1).txn(&txn),
    )
    .await?;
    let (pid2, e2) = s.end_txn("abort", &txn, (pid1, e1), false).await?;
    s.settle(&[0, 1], Some(pid1), SETTLE).await?;
    let (pid3, e3) = s
        .end_txn("abort with no transaction open", &txn, (pid2, e2), false)
        .await?;
    s.end_txn("commit with no transaction open", &txn, (pid3, e3), true)
        .await?;
    s.settle(&[0, 1], None, SETTLE).await?;
    for partition in [0, 1] {
        s.fetch("", Read::committed(partition)).await?;
        s.fetch("", Read::uncommitted(partition)).await?;
    }
    s.describe_producers("", 0).await
}

/// A batch stamped a week and a minute ago, one two minutes ago, then a transaction marker
/// stamped now: Kafka rolls a new log segment at the marker (more than `segment.ms`, 7 days,
/// after the segment's first batch), a Fetch answers from one segment, and the aborted
/// transactions it reports end with that segment. (The old segment's newest record is two
/// minutes old, so Kafka's retention, also 7 days, does not delete it meanwhile.)
pub async fn segment_roll(s: &mut Side) -> ScenarioResult {
    const WEEK_MS: i64 = 7 * 24 * 60 * 60 * 1000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let txn = s.txn_id("replay");
    s.produce(
        "a week and a minute ago",
        Batch::plain(0, 2).stamped(now - WEEK_MS - 60_000),
    )
    .await?;
    let (pid, e) = s.init_producer_id("", Some(&txn), TIMEOUT_MS, None).await?;
    s.add_partitions("", &txn, (pid, e), &[0]).await?;
    s.produce(
        "two minutes ago",
        Batch::idempotent(0, 2, pid, e, 0)
            .txn(&txn)
            .stamped(now - 120_000),
    )
    .await?;
    s.end_txn("the marker is stamped now", &txn, (pid, e), false)
        .await?;
    s.settle(&[0], Some(pid), SETTLE).await?;
    s.produce("stamped now", Batch::plain(0, 1)).await?;
    s.fetch("", Read::committed(0)).await?;
    s.fetch("", Read::uncommitted(0)).await?;
    s.fetch("from the marker", Read::committed(0).at(4)).await?;
    s.fetch("from the marker", Read::uncommitted(0).at(4)).await
}
