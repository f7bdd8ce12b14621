use std::time::{Duration, Instant};

use super::TxnStatus;
use crate::codes;

use crate::state::batch::{control_type, data_batch};
use crate::state::groups::CommittedOffset;
use crate::state::test_support::{cluster, with_producer};

/// A TxnOffsetCommit of offset `o` for partition "t"-0.
fn off(o: i64) -> Vec<(String, i32, CommittedOffset)> {
    vec![(
        "t".to_string(),
        0,
        CommittedOffset {
            offset: o,
            leader_epoch: -1,
            metadata: None,
        },
    )]
}

fn tp(p: i32) -> (String, i32) {
    ("t".to_string(), p)
}

#[test]
fn commit_writes_markers_on_every_partition() {
    let (mut s, now, pid, epoch) = with_producer(2, Duration::ZERO);
    assert_eq!(epoch, 0);
    // not added yet: refused
    let b0 = data_batch(pid, epoch, 0, 2, true);
    assert_eq!(s.produce(0, "t", 0, &b0).error, codes::INVALID_TXN_STATE);
    let r = s.add_partitions_to_txn("x", pid, epoch, &[tp(0), tp(1)], now, 0);
    assert!(r.iter().all(|(_, c)| *c == codes::NONE));
    assert_eq!(s.produce(0, "t", 0, &b0).error, codes::NONE);
    assert_eq!(s.partition("t", 0).unwrap().log.last_stable_offset(), 0);
    assert_eq!(s.end_txn("x", pid, epoch, true, now, 0), codes::NONE);
    for p in 0..2 {
        let log = &s.partition("t", p).unwrap().log;
        let last = log.batches().last().unwrap();
        assert_eq!(control_type(&last.bytes), Some(true));
        assert_eq!(log.last_stable_offset(), log.high_watermark());
    }
    // retry of the same EndTxn succeeds; the opposite outcome does not
    assert_eq!(s.end_txn("x", pid, epoch, true, now, 0), codes::NONE);
    assert_eq!(
        s.end_txn("x", pid, epoch, false, now, 0),
        codes::INVALID_TXN_STATE
    );
    // after the commit, the partition is no longer in a transaction
    let b1 = data_batch(pid, epoch, 2, 1, true);
    assert_eq!(s.produce(0, "t", 0, &b1).error, codes::INVALID_TXN_STATE);
}

#[test]
fn init_fences_and_aborts_the_open_transaction_of_the_previous_epoch() {
    let (mut s, now, pid, e0) = with_producer(2, Duration::ZERO);
    s.add_partitions_to_txn("x", pid, e0, &[tp(0)], now, 0);
    assert_eq!(
        s.produce(0, "t", 0, &data_batch(pid, e0, 0, 3, true)).error,
        codes::NONE
    );
    // a second producer with the same id: first answer is CONCURRENT_TRANSACTIONS
    assert_eq!(
        s.init_producer_id(Some("x"), 60_000, None, now, 0),
        Err(codes::CONCURRENT_TRANSACTIONS)
    );
    let log = &s.partition("t", 0).unwrap().log;
    assert_eq!(
        control_type(&log.batches().last().unwrap().bytes),
        Some(false)
    );
    assert_eq!(log.aborted_between(0, 10).len(), 1);
    let (pid2, e2) = s.init_producer_id(Some("x"), 60_000, None, now, 0).unwrap();
    assert_eq!((pid2, e2), (pid, e0 + 2));
    // the zombie is fenced everywhere
    assert_eq!(
        s.end_txn("x", pid, e0, true, now, 0),
        codes::PRODUCER_FENCED
    );
    assert_eq!(
        s.add_partitions_to_txn("x", pid, e0, &[tp(1)], now, 0)[0].1,
        codes::PRODUCER_FENCED
    );
    assert_eq!(
        s.produce(0, "t", 0, &data_batch(pid, e0, 3, 1, true)).error,
        codes::INVALID_PRODUCER_EPOCH
    );
    assert_eq!(
        s.produce(0, "t", 0, &data_batch(pid, e0, 3, 1, false))
            .error,
        codes::INVALID_PRODUCER_EPOCH
    );
}

#[test]
fn concurrent_transactions_while_markers_are_pending() {
    let (mut s, now, pid, e) = with_producer(2, Duration::from_millis(100));
    s.add_partitions_to_txn("x", pid, e, &[tp(0)], now, 0);
    s.produce(0, "t", 0, &data_batch(pid, e, 0, 1, true));
    assert_eq!(s.end_txn("x", pid, e, true, now, 0), codes::NONE);
    assert_eq!(s.txns.get("x").unwrap().status, TxnStatus::PrepareCommit);
    assert_eq!(
        s.end_txn("x", pid, e, true, now, 0),
        codes::CONCURRENT_TRANSACTIONS
    );
    assert_eq!(
        s.add_partitions_to_txn("x", pid, e, &[tp(1)], now, 0)[0].1,
        codes::CONCURRENT_TRANSACTIONS
    );
    assert_eq!(
        s.add_offsets_to_txn("x", pid, e, "g", now, 0),
        codes::CONCURRENT_TRANSACTIONS
    );
    assert_eq!(s.partition("t", 0).unwrap().log.last_stable_offset(), 0);
    let later = now + Duration::from_millis(150);
    assert_eq!(
        s.add_offsets_to_txn("x", pid, e, "g", later, 0),
        codes::NONE
    );
    assert_eq!(s.partition("t", 0).unwrap().log.last_stable_offset(), 2);
}

#[test]
fn timed_out_transactions_are_aborted_and_the_producer_fenced() {
    let now = Instant::now();
    let mut s = cluster(2, Duration::ZERO);
    let (pid, e) = s.init_producer_id(Some("x"), 1_000, None, now, 0).unwrap();
    s.add_partitions_to_txn("x", pid, e, &[tp(1)], now, 0);
    s.produce(0, "t", 1, &data_batch(pid, e, 0, 4, true));
    s.complete_due(now + Duration::from_millis(500), 0);
    assert_eq!(s.txns.timed_out, 0);
    s.complete_due(now + Duration::from_millis(1_500), 0);
    assert_eq!(s.txns.timed_out, 1);
    let log = &s.partition("t", 1).unwrap().log;
    assert_eq!(log.aborted_between(0, 10).len(), 1);
    assert_eq!(s.end_txn("x", pid, e, true, now, 0), codes::PRODUCER_FENCED);
}

#[test]
fn transactional_offsets_become_visible_on_commit_only() {
    let (mut s, now, pid, e) = with_producer(2, Duration::ZERO);
    assert_eq!(
        s.txn_offset_commit("x", pid, e, "g", off(5)),
        codes::INVALID_TXN_STATE
    );
    assert_eq!(s.add_offsets_to_txn("x", pid, e, "g", now, 0), codes::NONE);
    assert_eq!(s.txn_offset_commit("x", pid, e, "g", off(5)), codes::NONE);
    assert!(s.txns.has_pending_offset("g", "t", 0));
    assert!(s.groups.get("g", "t", 0).is_none());
    assert_eq!(s.end_txn("x", pid, e, false, now, 0), codes::NONE);
    assert!(s.groups.get("g", "t", 0).is_none());
    assert!(!s.txns.has_pending_offset("g", "t", 0));
    s.add_offsets_to_txn("x", pid, e, "g", now, 0);
    s.txn_offset_commit("x", pid, e, "g", off(9));
    assert_eq!(s.end_txn("x", pid, e, true, now, 0), codes::NONE);
    assert_eq!(s.groups.get("g", "t", 0).unwrap().offset, 9);
}

#[test]
fn pending_offsets_are_counted_per_transaction_until_each_completes() {
    let now = Instant::now();
    let mut s = cluster(2, Duration::ZERO);
    let mut producers = Vec::new();
    for id in ["x", "y"] {
        let (pid, e) = s.init_producer_id(Some(id), 60_000, None, now, 0).unwrap();
        assert_eq!(s.add_offsets_to_txn(id, pid, e, "g", now, 0), codes::NONE);
        producers.push((id, pid, e));
    }
    let (x, xp, xe) = producers[0];
    let (y, yp, ye) = producers[1];
    // x commits the same partition twice (one pending offset), y once.
    assert_eq!(s.txn_offset_commit(x, xp, xe, "g", off(3)), codes::NONE);
    assert_eq!(s.txn_offset_commit(x, xp, xe, "g", off(4)), codes::NONE);
    assert_eq!(s.txn_offset_commit(y, yp, ye, "g", off(7)), codes::NONE);
    assert!(s.txns.has_pending_offset("g", "t", 0));
    assert!(!s.txns.has_pending_offset("g", "t", 1));
    assert!(!s.txns.has_pending_offset("h", "t", 0));
    assert_eq!(s.end_txn(x, xp, xe, true, now, 0), codes::NONE);
    assert_eq!(s.groups.get("g", "t", 0).unwrap().offset, 4);
    assert!(
        s.txns.has_pending_offset("g", "t", 0),
        "y's is still pending"
    );
    assert_eq!(s.end_txn(y, yp, ye, false, now, 0), codes::NONE);
    assert!(!s.txns.has_pending_offset("g", "t", 0));
    assert_eq!(s.groups.get("g", "t", 0).unwrap().offset, 4, "y aborted");
}

#[test]
fn init_checks_timeout_ids_and_kip360_epochs() {
    let now = Instant::now();
    let mut s = cluster(2, Duration::ZERO);
    assert_eq!(
        s.init_producer_id(Some("x"), 0, None, now, 0),
        Err(codes::INVALID_TRANSACTION_TIMEOUT)
    );
    assert_eq!(
        s.init_producer_id(Some("x"), 1_000_000, None, now, 0),
        Err(codes::INVALID_TRANSACTION_TIMEOUT)
    );
    let (a, _) = s.init_producer_id(None, 0, None, now, 0).unwrap();
    let (b, _) = s.init_producer_id(None, 0, None, now, 0).unwrap();
    assert_ne!(a, b);
    let (pid, e) = s.init_producer_id(Some("x"), 60_000, None, now, 0).unwrap();
    assert_eq!(
        s.init_producer_id(Some("x"), 60_000, Some((pid, e + 5)), now, 0),
        Err(codes::PRODUCER_FENCED)
    );
    let bumped = s
        .init_producer_id(Some("x"), 60_000, Some((pid, e)), now, 0)
        .unwrap();
    assert_eq!(bumped, (pid, e + 1));
    // a retry of the same request (its answer was lost) gets the same epoch back
    assert_eq!(
        s.init_producer_id(Some("x"), 60_000, Some((pid, e)), now, 0),
        Ok(bumped)
    );
    assert_eq!(
        s.end_txn("x", pid, e + 1, true, now, 0),
        codes::INVALID_TXN_STATE
    );
    assert_eq!(
        s.end_txn("nope", pid, e, true, now, 0),
        codes::INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(
        s.end_txn("x", pid + 100, e + 1, true, now, 0),
        codes::INVALID_PRODUCER_ID_MAPPING
    );
    let r = s.add_partitions_to_txn("x", pid, e + 1, &[tp(0), ("u".into(), 0)], now, 0);
    assert_eq!(r[0].1, codes::OPERATION_NOT_ATTEMPTED);
    assert_eq!(r[1].1, codes::UNKNOWN_TOPIC_OR_PARTITION);
}
