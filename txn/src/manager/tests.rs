use std::sync::Arc;

use klamm_producer::idempotence::TopicPartition;
use klamm_protocol::error_code::ErrorCode;

use super::*;

fn tp(p: i32) -> TopicPartition {
    TopicPartition {
        topic: Arc::from("t"),
        partition: p,
    }
}

fn ready() -> TransactionManager {
    let m = TransactionManager::new(TxnConfig::new("id"));
    m.start(Op::InitTransactions)
        .expect("init")
        .complete(TxnState::Ready)
        .expect("ready");
    m
}

#[test]
fn transitions_outside_the_table_are_refused_and_change_nothing() {
    let m = TransactionManager::new(TxnConfig::new("id"));
    let g = m.start(Op::InitTransactions).expect("init");
    // Initializing -> InTransaction is not in the table
    let e = g.complete(TxnState::InTransaction).expect_err("refused");
    assert_eq!(
        e,
        TxnError::InvalidTransition {
            from: TxnState::Initializing,
            to: TxnState::InTransaction
        }
    );
    assert_eq!(m.state(), TxnState::Initializing);
    assert_eq!(m.status().running, None);
}

#[test]
fn a_second_state_change_is_refused_while_one_runs() {
    let m = ready();
    let g = m.start(Op::BeginTransaction).expect("begin");
    assert_eq!(
        m.start(Op::Commit).expect_err("concurrent"),
        TxnError::ConcurrentOperation {
            op: Op::Commit,
            running: Op::BeginTransaction
        }
    );
    g.complete(TxnState::InTransaction).expect("in txn");
    assert!(m.start(Op::Commit).is_ok());
}

#[test]
fn dropped_commit_and_abort_guards_leave_outcome_unknown() {
    let m = ready();
    m.start(Op::BeginTransaction)
        .expect("begin")
        .complete(TxnState::InTransaction)
        .expect("in txn");
    let g = m.start(Op::Commit).expect("commit");
    assert_eq!(m.state(), TxnState::Committing);
    assert_eq!(g.interrupt(), TxnState::CommitOutcomeUnknown);
    let g = m.start(Op::Commit).expect("resume");
    assert_eq!(
        g.admit(),
        Admit::Resume {
            to: TxnState::Committing
        }
    );
    g.complete(TxnState::Ready).expect("ready");

    m.start(Op::BeginTransaction)
        .expect("begin")
        .complete(TxnState::InTransaction)
        .expect("in txn");
    drop(m.start(Op::Abort).expect("abort"));
    assert_eq!(m.state(), TxnState::AbortOutcomeUnknown);
}

#[test]
fn send_permits_count_and_register_partitions_once() {
    let m = ready();
    assert!(matches!(
        m.begin_send(&tp(0)),
        Err(TxnError::NoTransaction { op: Op::Send })
    ));
    m.start(Op::BeginTransaction)
        .expect("begin")
        .complete(TxnState::InTransaction)
        .expect("in txn");
    let a = m.begin_send(&tp(0)).expect("send");
    let b = m.begin_send(&tp(0)).expect("send");
    assert_eq!(m.lock().sends_in_progress, 2);
    assert_eq!(m.lock().partitions.pending_len(), 1);
    assert!(m.has_pending_partitions());
    drop(a);
    drop(b);
    assert_eq!(m.lock().sends_in_progress, 0);
    assert!(!m.is_send_to_partition_allowed(&tp(0)), "not added yet");
}

#[test]
fn batch_errors_are_classified() {
    let m = ready();
    // outside a transaction an abortable error is ignored
    m.on_batch_error(&tp(0), ErrorCode::MessageTooLarge);
    assert_eq!(m.state(), TxnState::Ready);
    m.start(Op::BeginTransaction)
        .expect("begin")
        .complete(TxnState::InTransaction)
        .expect("in txn");
    m.on_batch_error(&tp(0), ErrorCode::MessageTooLarge);
    assert_eq!(m.state(), TxnState::AbortableError);
    let first = m.status().last_error.expect("cause");
    // a second error keeps the first cause
    m.on_batch_error(&tp(1), ErrorCode::OutOfOrderSequenceNumber);
    assert_eq!(m.status().last_error.expect("cause"), first);
    assert!(
        m.end_plan(false).bump,
        "sequence error asks for an epoch bump"
    );
    m.on_batch_error(&tp(1), ErrorCode::ProducerFenced);
    assert_eq!(m.state(), TxnState::FatalError);
    assert!(m.status().last_error.expect("cause").is_fenced());
    // fatal is sticky
    m.on_batch_error(&tp(1), ErrorCode::MessageTooLarge);
    assert_eq!(m.state(), TxnState::FatalError);
}

#[test]
fn kip890_is_latched_at_begin() {
    let mut cfg = TxnConfig::new("id");
    cfg.kip890_capable = true;
    let m = TransactionManager::new(cfg);
    m.start(Op::InitTransactions)
        .expect("init")
        .complete(TxnState::Ready)
        .expect("ready");
    m.set_broker_transaction_version(2);
    assert!(!m.status().kip890, "not before a transaction boundary");
    m.start(Op::BeginTransaction)
        .expect("begin")
        .complete(TxnState::InTransaction)
        .expect("in txn");
    assert!(m.status().kip890);
    m.set_broker_transaction_version(1);
    assert!(m.status().kip890, "no switch mid-transaction");
    drop(m.begin_send(&tp(3)).expect("send"));
    assert!(m.is_send_to_partition_allowed(&tp(3)), "implicitly added");
}

#[test]
fn failed_batches_from_the_sender_hook() {
    let m = ready();
    m.start(Op::BeginTransaction)
        .expect("begin")
        .complete(TxnState::InTransaction)
        .expect("in txn");
    assert_eq!(m.failure(), None);
    let timeout = klamm_producer::ProducerError::DeliveryTimeout {
        topic: Arc::from("t"),
        partition: 0,
        timeout: std::time::Duration::from_secs(1),
        attempts: 3,
        last_error: None,
    };
    m.on_batch_failed(&tp(0), &timeout, true);
    assert_eq!(m.state(), TxnState::AbortableError);
    assert!(
        m.end_plan(false).bump,
        "a sequence gap asks for an epoch bump"
    );
    let cause = m.failure().expect("failure reported to the sender");
    assert!(matches!(&*cause, TxnError::Producer(_)));
    m.on_batch_failed(
        &tp(0),
        &klamm_producer::ProducerError::Fatal(Arc::from("broken")),
        false,
    );
    assert_eq!(m.state(), TxnState::FatalError);
}
