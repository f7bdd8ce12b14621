//! The transactional producer over the fake backend and the fake coordinator.

use std::sync::Arc;
use std::time::Duration;

use klamm_producer::{ErrorKind, ProducerRecord};
use klamm_protocol::error_code::ErrorCode;

use super::fake_backend::FakeBackend;
use super::*;
use crate::coordinator::fake::FakeCoordinator;
use crate::state::Op;

pub(super) type Producer = TransactionalProducer<FakeBackend, Arc<FakeCoordinator>>;

pub(super) fn producer(partitions: i32) -> (Arc<FakeCoordinator>, FakeBackend, Arc<Producer>) {
    let mut cfg = TxnConfig::new("orders-7");
    cfg.operation_timeout = Duration::from_secs(10);
    cfg.retry_backoff = Duration::from_millis(5);
    cfg.short_backoff = Duration::from_millis(1);
    let mgr = Producer::manager_for(cfg);
    let coord = Arc::new(FakeCoordinator::new());
    let backend = FakeBackend::start(Arc::clone(&mgr), Arc::clone(&coord), partitions);
    let p = Arc::new(TransactionalProducer::new(
        mgr,
        backend.clone(),
        Arc::clone(&coord),
    ));
    (coord, backend, p)
}

pub(super) fn record(v: &str) -> ProducerRecord {
    ProducerRecord::new("t").value(v.to_owned())
}

#[test]
fn is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Producer>();
}

#[tokio::test]
async fn records_are_written_inside_their_transaction_and_committed() {
    let (coord, backend, p) = producer(3);
    p.init_transactions().await.expect("init");
    p.begin_transaction().expect("begin");
    let mut futures = Vec::new();
    for i in 0..10 {
        futures.push(p.send(record(&format!("r{i}"))).await.expect("send"));
    }
    p.commit_transaction().await.expect("commit");
    for f in futures {
        let md = f.await.expect("delivered");
        assert!(md.offset >= 0);
    }
    let log = backend.log();
    assert!(log.violations.is_empty(), "{:?}", log.violations);
    assert_eq!(log.written.len(), 10);
    assert!(log.written.iter().all(|w| w.2 == 0), "all in transaction 0");
    let m = coord.m();
    assert_eq!(m.ended.len(), 1);
    assert!(m.ended[0].0, "committed");
    assert_eq!(m.ended[0].1.len(), 3, "all three partitions joined");
    assert_eq!(p.state(), TxnState::Ready);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_tasks_send_into_one_transaction() {
    let (coord, backend, p) = producer(6);
    p.init_transactions().await.expect("init");
    p.begin_transaction().expect("begin");
    let mut tasks = Vec::new();
    for t in 0..32 {
        let p = Arc::clone(&p);
        tasks.push(tokio::spawn(async move {
            let mut fs = Vec::new();
            for i in 0..50 {
                let rec = record(&format!("{t}-{i}")).partition((t + i) % 6);
                fs.push(p.send(rec).await.expect("send"));
            }
            fs
        }));
    }
    let mut futures = Vec::new();
    for t in tasks {
        futures.extend(t.await.expect("task"));
    }
    p.commit_transaction().await.expect("commit");
    for f in futures {
        f.await.expect("delivered");
    }
    let log = backend.log();
    assert!(log.violations.is_empty(), "{:?}", log.violations);
    assert_eq!(log.written.len(), 32 * 50);
    let mut values: Vec<_> = log.written.iter().map(|w| w.1.clone()).collect();
    values.sort();
    values.dedup();
    assert_eq!(values.len(), 32 * 50, "each record exactly once");
    assert!(log.written.iter().all(|w| w.2 == 0));
    let m = coord.m();
    assert_eq!(m.ended.len(), 1);
    assert_eq!(
        m.ended[0],
        (true, (0..6).map(|p| ("t".to_owned(), p)).collect())
    );
}

#[tokio::test]
async fn thousand_transactions_every_fourth_aborted_read_committed() {
    let (coord, backend, p) = producer(6);
    p.init_transactions().await.expect("init");
    let mut committed_values = Vec::new();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for txn in 0..1000 {
        p.begin_transaction().expect("begin");
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let n = 1 + (seed % 50) as usize;
        let commit = txn % 4 != 3;
        for i in 0..n {
            let v = format!("{txn}-{i}");
            let f = p.send(record(&v)).await.expect("send");
            drop(f);
            if commit {
                committed_values.push(v);
            }
        }
        if commit {
            p.commit_transaction().await.expect("commit");
        } else {
            p.abort_transaction().await.expect("abort");
        }
    }
    let m = coord.m();
    assert_eq!(m.ended.iter().filter(|e| e.0).count(), 750);
    // an abort that came before any partition reached the coordinator needs no EndTxn
    assert!(m.ended.len() <= 1000);
    let log = backend.log();
    assert!(
        log.violations.is_empty(),
        "{:?}",
        &log.violations[..3.min(log.violations.len())]
    );
    // what a read_committed reader sees: records of committed transactions, in order
    let visible: Vec<String> = log
        .written
        .iter()
        .filter(|w| m.ended[w.2].0)
        .map(|w| String::from_utf8(w.1.clone().expect("value").to_vec()).expect("utf8"))
        .collect();
    assert_eq!(visible, committed_values);
}

#[tokio::test]
async fn misuse_is_a_typed_error() {
    let (_coord, _backend, p) = producer(1);
    assert!(matches!(
        p.send(record("x")).await,
        Err(TxnError::NotInitialized { op: Op::Send })
    ));
    p.init_transactions().await.expect("init");
    assert!(matches!(
        p.send(record("x")).await,
        Err(TxnError::NoTransaction { op: Op::Send })
    ));
    assert!(matches!(
        p.commit_transaction().await,
        Err(TxnError::NoTransaction { op: Op::Commit })
    ));
    p.begin_transaction().expect("begin");
    assert!(matches!(
        p.begin_transaction(),
        Err(TxnError::AlreadyInTransaction)
    ));
    p.abort_transaction().await.expect("abort");
    assert_eq!(p.state(), TxnState::Ready);
}

#[tokio::test]
async fn a_failed_record_makes_the_transaction_abortable() {
    let (coord, backend, p) = producer(2);
    p.init_transactions().await.expect("init");
    p.begin_transaction().expect("begin");
    *backend.0.fail.lock().expect("lock") = Some((1, ErrorCode::MessageTooLarge));
    let ok = p.send(record("a").partition(0)).await.expect("send");
    let bad = p.send(record("b").partition(1)).await.expect("send");
    let e = p.commit_transaction().await.expect_err("a record failed");
    assert_eq!(e.kind(), ErrorKind::Abortable);
    assert!(bad.await.is_err());
    assert!(ok.await.is_ok(), "written, but will be aborted");
    assert_eq!(p.state(), TxnState::AbortableError);
    assert!(matches!(
        p.send(record("c")).await,
        Err(TxnError::MustAbort { op: Op::Send, .. })
    ));
    p.abort_transaction().await.expect("abort");
    assert_eq!(coord.m().ended.len(), 1);
    assert!(!coord.m().ended[0].0, "aborted");
    p.begin_transaction().expect("begin");
    let d = p.send(record("d")).await.expect("send");
    p.commit_transaction().await.expect("commit");
    d.await.expect("delivered");
    assert!(coord.m().ended[1].0);
}

#[tokio::test]
async fn abort_fails_unsent_records() {
    let (coord, _backend, p) = producer(2);
    p.init_transactions().await.expect("init");
    p.begin_transaction().expect("begin");
    let first = p.send(record("a").partition(0)).await.expect("send");
    first
        .await
        .expect("the partition was added and the record written");
    // the coordinator stops answering AddPartitionsToTxn: the new partition stays unsent
    coord.inject(
        klamm_protocol::api::ApiKey::AddPartitionsToTxn,
        &[crate::coordinator::fake::Fault::Hang],
    );
    let stuck = p.send(record("b").partition(1)).await.expect("send");
    tokio::time::sleep(Duration::from_millis(20)).await;
    p.abort_transaction().await.expect("abort");
    let e = stuck.await.expect_err("never sent");
    assert!(e.to_string().contains("aborted"), "{e}");
    assert_eq!(coord.m().ended, vec![(false, vec![("t".to_owned(), 0)])]);
}

#[tokio::test]
async fn close_is_fatal_and_observable() {
    let (_coord, _backend, p) = producer(1);
    p.init_transactions().await.expect("init");
    p.close(Duration::from_secs(1)).await.expect("close");
    assert_eq!(p.state(), TxnState::FatalError);
    let e = p.begin_transaction().expect_err("closed");
    assert!(
        matches!(&e, TxnError::FatalState { cause, .. } if **cause == TxnError::Closed),
        "{e}"
    );
}

#[tokio::test]
async fn a_fatal_send_error_makes_the_producer_fatal() {
    let (_coord, backend, p) = producer(1);
    p.init_transactions().await.expect("init");
    p.begin_transaction().expect("begin");
    // the producer underneath closes (or fails) on its own
    backend.close(Duration::ZERO).await.expect("close");
    let e = p.send(record("x")).await.expect_err("closed");
    assert_eq!(e.kind(), ErrorKind::Fatal);
    assert_eq!(p.state(), TxnState::FatalError);
}
