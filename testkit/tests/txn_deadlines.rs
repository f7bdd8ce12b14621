//! The coordinator's deadlines: transaction timeouts and delayed markers are kept in time
//! order, so completing what is due visits only that (not every transactional id ever seen),
//! and timeouts still abort exactly the transactions that outlived their timeout.

use std::time::{Duration, Instant};

use klamm_testkit::codes;
use klamm_testkit::requests::batch;
use klamm_testkit::state::txn::TxnStatus;
use klamm_testkit::state::{ClusterState, StateConfig};

const IDS: usize = 3_000;

fn cluster(marker_delay: Duration) -> ClusterState {
    let mut s = ClusterState::new(
        1,
        StateConfig {
            marker_delay,
            ..StateConfig::default()
        },
    );
    s.create_topic("t", 1).expect("topic");
    s
}

fn id(i: usize) -> String {
    format!("txn-{i}")
}

fn status(s: &ClusterState, i: usize) -> (TxnStatus, i16) {
    let m = s.txns.get(&id(i)).expect("known id");
    (m.status, m.epoch)
}

/// Begins a transaction on `t-0` for `txn` at `now`.
fn begin(s: &mut ClusterState, txn: &str, pid: i64, epoch: i16, now: Instant) {
    let r = s.add_partitions_to_txn(txn, pid, epoch, &[("t".to_string(), 0)], now, 0);
    assert_eq!(r[0].1, codes::NONE, "{txn}");
}

#[test]
fn timeouts_abort_exactly_the_expired_transactions_among_thousands_of_ids() {
    let now = Instant::now();
    let ms = |n| now + Duration::from_millis(n);
    let mut s = cluster(Duration::ZERO);
    // every third id has a 1 s timeout, the others 5 s; all begin a transaction at `now`
    let mut producers = Vec::new();
    for i in 0..IDS {
        let timeout = if i % 3 == 0 { 1_000 } else { 5_000 };
        let (pid, epoch) = s
            .init_producer_id(Some(&id(i)), timeout, None, now, 0)
            .expect("init");
        begin(&mut s, &id(i), pid, epoch, now);
        producers.push((pid, epoch));
    }
    // one of the short ones wrote records, which the abort marker must close
    let (pid0, e0) = producers[0];
    let records = batch(&["a", "b"], Some((pid0, e0, 0)), true).expect("batch");
    assert_eq!(s.produce(0, "t", 0, &records).error, codes::NONE);
    assert_eq!(s.txns.scheduled(), IDS);
    // those with i % 3 == 1 commit before any timeout
    for i in (1..IDS).step_by(3) {
        let (pid, epoch) = producers[i];
        assert_eq!(s.end_txn(&id(i), pid, epoch, true, ms(100), 0), codes::NONE);
    }
    assert_eq!(
        s.txns.scheduled(),
        2 * IDS / 3,
        "committed ones have no deadline"
    );
    assert!(!s.complete_due(ms(999), 0));
    assert!(
        !s.complete_due(ms(1_000), 0),
        "a timeout fires once exceeded"
    );
    assert_eq!(s.txns.timed_out, 0);
    assert_eq!(s.partition("t", 0).unwrap().log.last_stable_offset(), 0);

    assert!(s.complete_due(ms(1_001), 0));
    assert_eq!(s.txns.timed_out, (IDS / 3) as u64);
    for i in 0..IDS {
        let want = match i % 3 {
            0 => (TxnStatus::CompleteAbort, 1),
            1 => (TxnStatus::CompleteCommit, 0),
            _ => (TxnStatus::Ongoing, 0),
        };
        assert_eq!(status(&s, i), want, "{}", id(i));
    }
    let log = &s.partition("t", 0).unwrap().log;
    assert_eq!(
        log.last_stable_offset(),
        log.high_watermark(),
        "the abort marker was written"
    );
    assert_eq!(log.aborted_between(0, 10).len(), 1);
    // the timed-out producer is fenced
    assert_eq!(
        s.end_txn(&id(0), pid0, e0, true, ms(1_002), 0),
        codes::PRODUCER_FENCED
    );
    assert_eq!(s.txns.scheduled(), IDS / 3);

    // an aborted id that begins again gets a deadline from its new start (2 s + 5 s)
    let (pid3, e3) = s
        .init_producer_id(Some(&id(3)), 5_000, None, ms(2_000), 0)
        .expect("re-init");
    begin(&mut s, &id(3), pid3, e3, ms(2_000));
    assert!(!s.complete_due(ms(5_000), 0));
    assert!(s.complete_due(ms(5_001), 0));
    assert_eq!(s.txns.timed_out, (2 * IDS / 3) as u64);
    assert_eq!(status(&s, 2), (TxnStatus::CompleteAbort, 1));
    assert_eq!(
        status(&s, 3).0,
        TxnStatus::Ongoing,
        "its new timeout is later"
    );
    assert_eq!(s.txns.scheduled(), 1);
    assert!(!s.complete_due(ms(7_000), 0));
    assert!(s.complete_due(ms(7_001), 0));
    assert_eq!(status(&s, 3).0, TxnStatus::CompleteAbort);
    assert_eq!(s.txns.timed_out, (2 * IDS / 3 + 1) as u64);
    assert_eq!(s.txns.scheduled(), 0, "nothing left to visit");
    assert!(!s.complete_due(ms(60_000), 0));
}

#[test]
fn delayed_markers_complete_when_due_even_after_a_timeout() {
    let now = Instant::now();
    let ms = |n| now + Duration::from_millis(n);
    let mut s = cluster(Duration::from_millis(200));
    let (pa, ea) = s.init_producer_id(Some("a"), 60_000, None, now, 0).unwrap();
    let (pb, eb) = s.init_producer_id(Some("b"), 500, None, now, 0).unwrap();
    begin(&mut s, "a", pa, ea, now);
    begin(&mut s, "b", pb, eb, now);
    let records = batch(&["x"], Some((pa, ea, 0)), true).unwrap();
    assert_eq!(s.produce(0, "t", 0, &records).error, codes::NONE);
    assert_eq!(s.end_txn("a", pa, ea, true, ms(100), 0), codes::NONE);
    assert_eq!(s.txns.get("a").unwrap().status, TxnStatus::PrepareCommit);
    // the commit's markers are due at 300 ms, b's timeout at 500 ms
    assert!(!s.complete_due(ms(299), 0));
    assert_eq!(s.partition("t", 0).unwrap().log.last_stable_offset(), 0);
    assert!(s.complete_due(ms(300), 0));
    assert_eq!(s.txns.get("a").unwrap().status, TxnStatus::CompleteCommit);
    assert_eq!(s.partition("t", 0).unwrap().log.last_stable_offset(), 2);
    // b times out, is fenced and prepared for abort; its markers follow 200 ms later
    assert!(s.complete_due(ms(501), 0));
    assert_eq!(s.txns.timed_out, 1);
    assert_eq!(s.txns.get("b").unwrap().status, TxnStatus::PrepareAbort);
    assert_eq!(s.txns.scheduled(), 1);
    assert!(!s.complete_due(ms(700), 0));
    assert!(s.complete_due(ms(701), 0));
    assert_eq!(s.txns.get("b").unwrap().status, TxnStatus::CompleteAbort);
    assert_eq!(s.txns.scheduled(), 0);
    assert_eq!(
        s.txns.timed_out, 1,
        "an abort in progress does not time out again"
    );
}
