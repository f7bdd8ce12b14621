//! The conversation against the fake coordinator: init, partitions, offsets, rediscovery,
//! fencing, abortable errors, timeouts, and misuse from every state.

use std::sync::Arc;
use std::time::Duration;

use klamm_producer::ErrorKind;
use klamm_producer::idempotence::ProducerIdEpoch;
use klamm_protocol::api::ApiKey;
use klamm_protocol::error_code::ErrorCode;

use super::fake::{FakeCoordinator, Fault};
use super::requests::tp;
use super::*;
use crate::error::TxnError;
use crate::manager::{TransactionManager, TxnConfig};
use crate::state::{Op, TxnState};

pub(super) type Driver = TxnDriver<Arc<FakeCoordinator>>;

pub(super) fn setup_with(cfg: impl FnOnce(&mut TxnConfig)) -> (Arc<FakeCoordinator>, Driver) {
    let mut config = TxnConfig::new("orders-3");
    config.operation_timeout = Duration::from_secs(5);
    cfg(&mut config);
    let fake = Arc::new(FakeCoordinator::new());
    let mgr = Arc::new(TransactionManager::new(config));
    (fake.clone(), TxnDriver::new(mgr, fake))
}

pub(super) fn setup() -> (Arc<FakeCoordinator>, Driver) {
    setup_with(|_| {})
}

/// Registers sends to `partitions` of topic `t` (as `send` would) and releases the permits.
pub(super) fn send_to(d: &Driver, t: &str, partitions: &[i32]) {
    for &p in partitions {
        let permit = d.manager().begin_send(&tp(t, p)).expect("send admitted");
        drop(permit);
    }
}

/// A driver with an initialised producer and an open transaction that sent to `partitions`
/// of topic `t` (not yet added).
pub(super) async fn in_transaction(t: &str, partitions: &[i32]) -> (Arc<FakeCoordinator>, Driver) {
    let (fake, d) = setup();
    d.init_transactions().await.expect("init");
    d.begin_transaction().expect("begin");
    send_to(&d, t, partitions);
    (fake, d)
}

#[tokio::test(start_paused = true)]
async fn init_finds_the_coordinator_and_gets_an_epoch() {
    let (fake, d) = setup();
    d.init_transactions().await.expect("init");
    assert_eq!(d.manager().state(), TxnState::Ready);
    assert_eq!(
        d.manager().producer_id_epoch(),
        Some(ProducerIdEpoch { id: 4000, epoch: 0 })
    );
    assert_eq!(fake.count(ApiKey::FindCoordinator), 1);
    assert_eq!(fake.count(ApiKey::InitProducerId), 1);
    let e = d.init_transactions().await.expect_err("init twice");
    assert!(
        matches!(
            e,
            TxnError::AlreadyInitialized {
                state: TxnState::Ready
            }
        ),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Usage);
}

#[tokio::test(start_paused = true)]
async fn init_retries_load_and_concurrent_transactions_and_rediscovers() {
    let (fake, d) = setup();
    fake.inject(
        ApiKey::InitProducerId,
        &[
            Fault::Code(ErrorCode::CoordinatorLoadInProgress),
            Fault::Code(ErrorCode::ConcurrentTransactions),
            Fault::Code(ErrorCode::NotCoordinator),
            Fault::DropBefore,
        ],
    );
    fake.inject(
        ApiKey::FindCoordinator,
        &[Fault::Code(ErrorCode::CoordinatorNotAvailable)],
    );
    d.init_transactions().await.expect("init");
    assert_eq!(fake.m().injected, 5);
    assert_eq!(fake.count(ApiKey::InitProducerId), 5);
    // first lookup failed once, then NOT_COORDINATOR and the dropped connection each
    // forced a new lookup
    assert_eq!(fake.count(ApiKey::FindCoordinator), 4);
    assert_eq!(d.manager().state(), TxnState::Ready);
}

#[tokio::test(start_paused = true)]
async fn fatal_init_errors_are_sticky() {
    let (fake, d) = setup();
    fake.inject(
        ApiKey::InitProducerId,
        &[Fault::Code(ErrorCode::TransactionalIdAuthorizationFailed)],
    );
    let e = d.init_transactions().await.expect_err("unauthorised");
    assert_eq!(e.kind(), ErrorKind::Fatal);
    assert_eq!(d.manager().state(), TxnState::FatalError);
    for op in [Op::InitTransactions, Op::BeginTransaction] {
        let e = match op {
            Op::InitTransactions => d.init_transactions().await.expect_err("fatal"),
            _ => d.begin_transaction().expect_err("fatal"),
        };
        assert!(
            matches!(&e, TxnError::FatalState { op: o, .. } if *o == op),
            "{e}"
        );
    }
    assert_eq!(
        fake.count(ApiKey::InitProducerId),
        1,
        "nothing sent after fatal"
    );
}

#[tokio::test(start_paused = true)]
async fn partitions_are_added_in_one_batched_request_before_sending() {
    let (fake, d) = in_transaction("orders", &[0, 1, 2, 3]).await;
    send_to(&d, "audit", &[0]);
    send_to(&d, "orders", &[1]); // again: not added twice
    assert!(!d.manager().is_send_to_partition_allowed(&tp("orders", 0)));
    d.add_pending_partitions().await.expect("add");
    assert_eq!(fake.m().add_batches, vec![5]);
    for p in 0..4 {
        assert!(d.manager().is_send_to_partition_allowed(&tp("orders", p)));
    }
    assert!(!d.manager().is_send_to_partition_allowed(&tp("orders", 4)));
    send_to(&d, "orders", &[0, 4]);
    d.add_pending_partitions().await.expect("add");
    assert_eq!(fake.m().add_batches, vec![5, 1]);
    assert_eq!(d.manager().status().partitions_in_transaction, 6);
}

#[tokio::test(start_paused = true)]
async fn coordinator_moved_mid_transaction() {
    let (fake, d) = in_transaction("t", &[0]).await;
    d.add_pending_partitions().await.expect("add");
    fake.m().coordinator = 2;
    send_to(&d, "t", &[1]);
    d.add_pending_partitions().await.expect("add after move");
    d.commit_transaction(async { Ok(()) })
        .await
        .expect("commit");
    let m = fake.m();
    assert_eq!(
        m.add_batches,
        vec![1, 1, 1],
        "one NOT_COORDINATOR answer, then the retry"
    );
    assert_eq!(m.requests[&ApiKey::FindCoordinator], 2);
    assert_eq!(
        m.ended,
        vec![(true, vec![("t".to_owned(), 0), ("t".to_owned(), 1)])]
    );
}

#[tokio::test(start_paused = true)]
async fn zombie_is_fenced_and_its_transaction_aborted() {
    let (fake, d) = in_transaction("t", &[0]).await;
    d.add_pending_partitions().await.expect("add");
    // a new instance with the same transactional id initialises
    fake.fence();
    assert_eq!(fake.m().ended, vec![(false, vec![("t".to_owned(), 0)])]);
    send_to(&d, "t", &[1]);
    let e = d.add_pending_partitions().await.expect_err("fenced");
    assert!(e.is_fenced(), "{e}");
    assert_eq!(e.kind(), ErrorKind::Fatal);
    assert_eq!(d.manager().state(), TxnState::FatalError);
    let e = d
        .commit_transaction(async { Ok(()) })
        .await
        .expect_err("fatal is sticky");
    assert!(e.is_fenced(), "{e}");
    assert!(matches!(e, TxnError::FatalState { op: Op::Commit, .. }));
    assert!(d.abort_transaction(async {}).await.is_err());
    assert!(d.manager().begin_send(&tp("t", 0)).is_err());
}

#[tokio::test(start_paused = true)]
async fn abortable_error_allows_only_abort_then_continues() {
    let (fake, d) = setup();
    d.init_transactions().await.expect("init");
    d.begin_transaction().expect("begin");
    fake.inject(
        ApiKey::AddPartitionsToTxn,
        &[Fault::Code(ErrorCode::TopicAuthorizationFailed)],
    );
    send_to(&d, "secret", &[0]);
    let e = d
        .add_pending_partitions()
        .await
        .expect_err("unauthorised topic");
    assert_eq!(e.kind(), ErrorKind::Abortable);
    assert_eq!(d.manager().state(), TxnState::AbortableError);
    let e = d.manager().begin_send(&tp("t", 0)).expect_err("must abort");
    assert!(matches!(e, TxnError::MustAbort { op: Op::Send, .. }), "{e}");
    let e = d
        .commit_transaction(async { Ok(()) })
        .await
        .expect_err("must abort");
    assert!(
        matches!(e, TxnError::MustAbort { op: Op::Commit, .. }),
        "{e}"
    );
    assert!(d.begin_transaction().is_err());
    d.abort_transaction(async {}).await.expect("abort");
    assert_eq!(d.manager().state(), TxnState::Ready);
    // usable again
    d.begin_transaction().expect("begin again");
    send_to(&d, "t", &[0]);
    d.commit_transaction(async { Ok(()) })
        .await
        .expect("commit");
    assert_eq!(fake.m().ended, vec![(true, vec![("t".to_owned(), 0)])]);
}

#[tokio::test(start_paused = true)]
async fn offsets_are_committed_with_the_transaction() {
    let (fake, d) = setup();
    d.init_transactions().await.expect("init");
    d.begin_transaction().expect("begin");
    let group = ConsumerGroupMetadata::new("billing");
    let offsets = vec![
        (tp("in", 0), OffsetAndMetadata::new(42)),
        (tp("in", 1), OffsetAndMetadata::new(7)),
    ];
    fake.inject(
        ApiKey::TxnOffsetCommit,
        &[Fault::Code(ErrorCode::CoordinatorLoadInProgress)],
    );
    d.send_offsets_to_transaction(&offsets, &group)
        .await
        .expect("offsets");
    assert!(fake.m().committed_offsets.is_empty(), "not before commit");
    d.commit_transaction(async { Ok(()) })
        .await
        .expect("commit");
    let m = fake.m();
    assert_eq!(
        m.committed_offsets,
        vec![("in".to_owned(), 0, 42), ("in".to_owned(), 1, 7)]
    );
    assert_eq!(m.requests[&ApiKey::TxnOffsetCommit], 2);
    // the transaction's and the group's coordinator were each looked up once
    assert_eq!(m.requests[&ApiKey::FindCoordinator], 2);
}

#[tokio::test(start_paused = true)]
async fn lost_group_membership_makes_the_offsets_abortable() {
    let (fake, d) = setup();
    d.init_transactions().await.expect("init");
    d.begin_transaction().expect("begin");
    fake.inject(
        ApiKey::TxnOffsetCommit,
        &[Fault::Code(ErrorCode::IllegalGeneration)],
    );
    let e = d
        .send_offsets_to_transaction(
            &[(tp("in", 0), OffsetAndMetadata::new(1))],
            &ConsumerGroupMetadata::new("g"),
        )
        .await
        .expect_err("stale generation");
    assert_eq!(e.kind(), ErrorKind::Abortable);
    assert_eq!(d.manager().state(), TxnState::AbortableError);
    d.abort_transaction(async {}).await.expect("abort");
    assert!(fake.m().committed_offsets.is_empty());
}

#[tokio::test(start_paused = true)]
async fn init_that_times_out_resumes() {
    let (fake, d) = setup_with(|c| c.operation_timeout = Duration::from_secs(1));
    fake.inject(ApiKey::InitProducerId, &[Fault::Hang]);
    let e = d.init_transactions().await.expect_err("timeout");
    assert!(
        matches!(
            e,
            TxnError::Timeout {
                op: Op::InitTransactions,
                state: TxnState::Initializing,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Retriable);
    assert!(matches!(
        d.begin_transaction(),
        Err(TxnError::NotInitialized { .. })
    ));
    d.init_transactions().await.expect("resumed");
    assert_eq!(d.manager().state(), TxnState::Ready);
}

/// Brings a fresh driver to `state` through real operations.
pub(super) async fn reach(state: TxnState) -> (Arc<FakeCoordinator>, Driver) {
    let (fake, d) = setup_with(|c| c.operation_timeout = Duration::from_secs(1));
    if state == TxnState::Uninitialized {
        return (fake, d);
    }
    if state == TxnState::Initializing {
        fake.inject(ApiKey::InitProducerId, &[Fault::Hang]);
        let _ = d.init_transactions().await;
        return (fake, d);
    }
    if state == TxnState::FatalError {
        fake.inject(
            ApiKey::InitProducerId,
            &[Fault::Code(ErrorCode::ProducerFenced)],
        );
        let _ = d.init_transactions().await;
        return (fake, d);
    }
    d.init_transactions().await.expect("init");
    if state == TxnState::Ready {
        return (fake, d);
    }
    d.begin_transaction().expect("begin");
    send_to(&d, "t", &[0]);
    match state {
        TxnState::InTransaction => {}
        TxnState::AbortableError => {
            d.manager()
                .on_batch_error(&tp("t", 0), ErrorCode::MessageTooLarge);
        }
        TxnState::CommitOutcomeUnknown => {
            fake.inject(ApiKey::EndTxn, &[Fault::Hang]);
            let _ = d.commit_transaction(async { Ok(()) }).await;
        }
        TxnState::AbortOutcomeUnknown => {
            d.add_pending_partitions().await.expect("add");
            fake.inject(ApiKey::EndTxn, &[Fault::Hang]);
            let _ = d.abort_transaction(async {}).await;
        }
        other => panic!("reach({other}) is not supported"),
    }
    (fake, d)
}

#[tokio::test(start_paused = true)]
async fn misuse_from_every_reachable_state_returns_the_documented_error() {
    use TxnState::*;
    let states = [
        Uninitialized,
        Initializing,
        Ready,
        InTransaction,
        CommitOutcomeUnknown,
        AbortOutcomeUnknown,
        AbortableError,
        FatalError,
    ];
    for state in states {
        let (_fake, d) = reach(state).await;
        assert_eq!(d.manager().state(), state, "reach({state})");
        for op in Op::ALL {
            let Err(refusal) = crate::state::admit(state, op) else {
                continue;
            };
            let err = match op {
                Op::InitTransactions => d.init_transactions().await.err(),
                Op::BeginTransaction => d.begin_transaction().err(),
                Op::Send => d.manager().begin_send(&tp("t", 9)).err(),
                Op::SendOffsets => d
                    .send_offsets_to_transaction(&[], &ConsumerGroupMetadata::new("g"))
                    .await
                    .err(),
                Op::Commit => d.commit_transaction(async { Ok(()) }).await.err(),
                Op::Abort => d.abort_transaction(async {}).await.err(),
            };
            let err = err.unwrap_or_else(|| panic!("{op} in {state} succeeded"));
            let want =
                TxnError::refused(op, state, refusal, d.manager().status().last_error.as_ref());
            assert_eq!(err, want, "{op} in {state}");
            assert_eq!(
                d.manager().state(),
                state,
                "{op} in {state} changed the state"
            );
        }
    }
}
