use std::time::{Duration, Instant};

use bytes::Bytes;
use klamm_protocol::record::RecordBatch;

use super::ImplicitAdd;
use crate::codes;
use crate::state::ClusterState;
use crate::state::batch::data_batch;
use crate::state::test_support::with_producer;

fn add(now: Instant) -> Option<ImplicitAdd<'static>> {
    Some(ImplicitAdd {
        transactional_id: "x",
        now,
        now_ms: 0,
    })
}

/// The last batch of `t-p`.
fn last_batch(s: &ClusterState, p: i32) -> Option<RecordBatch> {
    let b: Bytes = s.partition("t", p)?.log.batches().last()?.bytes.clone();
    RecordBatch::decode(b).ok()
}

/// `(is commit, producer epoch)` of the last batch of `t-p` if it is a marker.
fn last_marker(s: &ClusterState, p: i32) -> Option<(bool, i16)> {
    let batch = last_batch(s, p)?;
    let epoch = batch.producer_epoch();
    Some((batch.end_txn_marker().ok()??.is_commit(), epoch))
}

#[test]
fn produce_v12_adds_the_partition_and_end_txn_v5_bumps_the_epoch() {
    let (mut s, now, pid, e0) = with_producer(2, Duration::ZERO);
    // without the implicit add the partition is not in the transaction
    let b = data_batch(pid, e0, 0, 2, true);
    assert_eq!(s.produce(0, "t", 0, &b).error, codes::INVALID_TXN_STATE);
    assert_eq!(s.produce_adding(0, "t", 0, &b, add(now)).error, codes::NONE);
    let (pid1, e1) = s.end_txn_v2("x", pid, e0, true, now, 0).expect("commit");
    assert_eq!((pid1, e1), (pid, e0 + 1));
    // the marker carries the new epoch; the other partition was never in the transaction
    assert_eq!(last_marker(&s, 0), Some((true, e1)));
    assert_eq!(s.partition("t", 1).unwrap().log.batches().len(), 0);
    let log = &s.partition("t", 0).unwrap().log;
    assert_eq!(log.last_stable_offset(), log.high_watermark());
    // a retry of the same EndTxn answers the same new epoch; the opposite outcome is fenced
    assert_eq!(s.end_txn_v2("x", pid, e0, true, now, 0), Ok((pid, e1)));
    assert_eq!(
        s.end_txn_v2("x", pid, e0, false, now, 0),
        Err(codes::PRODUCER_FENCED)
    );
    // the next transaction writes with the new epoch from sequence 0
    let b = data_batch(pid, e1, 0, 1, true);
    assert_eq!(s.produce_adding(0, "t", 0, &b, add(now)).error, codes::NONE);
    // a zombie with the old epoch is refused; a leader answers the coordinator's
    // PRODUCER_FENCED as INVALID_PRODUCER_EPOCH, as Kafka 4.1.1's does
    let z = data_batch(pid, e0, 2, 1, true);
    assert_eq!(
        s.produce_adding(0, "t", 1, &z, add(now)).error,
        codes::INVALID_PRODUCER_EPOCH
    );
    assert_eq!(s.end_txn_v2("x", pid, e1, false, now, 0), Ok((pid, e1 + 1)));
    assert_eq!(last_marker(&s, 0), Some((false, e1 + 1)));
}

#[test]
fn produce_v12_is_unsupported_below_transaction_version_2() {
    let (mut s, now, pid, e) = with_producer(1, Duration::ZERO);
    let b = data_batch(pid, e, 0, 1, true);
    assert_eq!(
        s.produce_adding(0, "t", 0, &b, add(now)).error,
        codes::UNSUPPORTED_VERSION
    );
}

#[test]
fn the_next_transaction_waits_for_the_markers() {
    let (mut s, now, pid, e0) = with_producer(2, Duration::from_millis(50));
    let b = data_batch(pid, e0, 0, 1, true);
    assert_eq!(s.produce_adding(0, "t", 0, &b, add(now)).error, codes::NONE);
    let (_, e1) = s.end_txn_v2("x", pid, e0, true, now, 0).expect("commit");
    // markers pending: the next transaction's first produce and the retry must wait
    let next = data_batch(pid, e1, 0, 1, true);
    assert_eq!(
        s.produce_adding(0, "t", 0, &next, add(now)).error,
        codes::CONCURRENT_TRANSACTIONS
    );
    assert_eq!(
        s.end_txn_v2("x", pid, e0, true, now, 0),
        Err(codes::CONCURRENT_TRANSACTIONS)
    );
    let later = now + Duration::from_millis(60);
    assert_eq!(s.end_txn_v2("x", pid, e0, true, later, 0), Ok((pid, e1)));
    assert_eq!(
        s.produce_adding(0, "t", 0, &next, add(later)).error,
        codes::NONE
    );
}

#[test]
fn aborting_with_no_transaction_bumps_and_committing_is_refused() {
    let (mut s, now, pid, e0) = with_producer(2, Duration::ZERO);
    assert_eq!(
        s.end_txn_v2("x", pid, e0, true, now, 0),
        Err(codes::INVALID_TXN_STATE)
    );
    assert_eq!(s.end_txn_v2("x", pid, e0, false, now, 0), Ok((pid, e0 + 1)));
    // a new instance fences the old epoch; the old one's EndTxn is no retry
    let (_, e2) = s.init_producer_id(Some("x"), 60_000, None, now, 0).unwrap();
    assert_eq!(e2, e0 + 2);
    assert_eq!(
        s.end_txn_v2("x", pid, e0, false, now, 0),
        Err(codes::PRODUCER_FENCED)
    );
}

#[test]
fn an_exhausted_epoch_writes_the_markers_with_the_old_producer_id() {
    let (mut s, now, pid, _) = with_producer(2, Duration::ZERO);
    // Fast-forward to the last usable epoch (a producer after 32,765 transactions).
    let last = i16::MAX - 1;
    s.txns.metas.get_mut("x").unwrap().epoch = last;
    let b = data_batch(pid, last, 0, 2, true);
    assert_eq!(s.produce_adding(0, "t", 0, &b, add(now)).error, codes::NONE);
    let (pid1, e1) = s.end_txn_v2("x", pid, last, true, now, 0).expect("commit");
    assert_ne!(pid1, pid, "a new producer id");
    assert_eq!(e1, 0);
    // Kafka: the markers close the old producer id's transaction, with epoch i16::MAX.
    assert_eq!(last_batch(&s, 0).unwrap().producer_id(), pid);
    assert_eq!(last_marker(&s, 0), Some((true, i16::MAX)));
    let log = &s.partition("t", 0).unwrap().log;
    assert_eq!(
        log.last_stable_offset(),
        log.high_watermark(),
        "nothing left open"
    );
    // The next transaction runs under the new producer id and ends with its own markers.
    let b = data_batch(pid1, e1, 0, 1, true);
    assert_eq!(s.produce_adding(0, "t", 0, &b, add(now)).error, codes::NONE);
    assert_eq!(s.end_txn_v2("x", pid1, e1, false, now, 0), Ok((pid1, 1)));
    assert_eq!(last_batch(&s, 0).unwrap().producer_id(), pid1);
    assert_eq!(last_marker(&s, 0), Some((false, 1)));
    let log = &s.partition("t", 0).unwrap().log;
    assert_eq!(log.last_stable_offset(), log.high_watermark());
}
