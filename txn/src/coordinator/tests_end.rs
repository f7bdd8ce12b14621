//! Ending transactions against the fake coordinator: commit, abort, outcomes unknown,
//! retries, epoch bumps, KIP-890, concurrency.

use std::sync::Arc;
use std::time::Duration;

use klamm_producer::idempotence::ProducerIdEpoch;
use klamm_producer::{ErrorKind, ProducerError};
use klamm_protocol::api::ApiKey;
use klamm_protocol::error_code::ErrorCode;

use super::fake::Fault;
use super::requests::tp;
use super::tests::{in_transaction, send_to, setup, setup_with};
use crate::error::TxnError;
use crate::state::{Op, TxnState};

fn parts(t: &str, ps: &[i32]) -> Vec<(String, i32)> {
    ps.iter().map(|&p| (t.to_owned(), p)).collect()
}

#[tokio::test(start_paused = true)]
async fn commit_adds_partitions_flushes_then_ends() {
    let (fake, d) = in_transaction("t", &[2, 0]).await;
    let flushed = std::sync::atomic::AtomicBool::new(false);
    d.commit_transaction(async {
        // the sender can only drain added partitions: they must be added before the flush
        assert!(d.manager().is_send_to_partition_allowed(&tp("t", 0)));
        assert!(d.manager().is_send_to_partition_allowed(&tp("t", 2)));
        flushed.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    })
    .await
    .expect("commit");
    assert!(flushed.into_inner());
    assert_eq!(d.manager().state(), TxnState::Ready);
    assert_eq!(d.manager().status().partitions_in_transaction, 0);
    assert_eq!(fake.m().ended, vec![(true, parts("t", &[0, 2]))]);
}

#[tokio::test(start_paused = true)]
async fn empty_transactions_send_no_end_txn() {
    let (fake, d) = setup();
    d.init_transactions().await.expect("init");
    d.begin_transaction().expect("begin");
    d.commit_transaction(async { Ok(()) })
        .await
        .expect("commit");
    d.begin_transaction().expect("begin");
    d.abort_transaction(async {}).await.expect("abort");
    assert_eq!(fake.count(ApiKey::EndTxn), 0);
    assert_eq!(d.manager().state(), TxnState::Ready);
}

#[tokio::test(start_paused = true)]
async fn connection_dropped_after_end_txn_applied_still_commits_once() {
    let (fake, d) = in_transaction("t", &[0]).await;
    fake.inject(ApiKey::EndTxn, &[Fault::DropAfter]);
    d.commit_transaction(async { Ok(()) })
        .await
        .expect("commit");
    let m = fake.m();
    assert_eq!(m.injected, 1);
    assert_eq!(m.requests[&ApiKey::EndTxn], 2, "retried once");
    assert_eq!(
        m.ended,
        vec![(true, parts("t", &[0]))],
        "applied exactly once"
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_transactions_on_end_txn_is_retried() {
    let (fake, d) = in_transaction("t", &[0]).await;
    let cc = Fault::Code(ErrorCode::ConcurrentTransactions);
    fake.inject(ApiKey::EndTxn, &[cc, cc, cc]);
    fake.inject(ApiKey::AddPartitionsToTxn, &[cc]);
    let start = tokio::time::Instant::now();
    d.commit_transaction(async { Ok(()) })
        .await
        .expect("commit");
    assert_eq!(fake.count(ApiKey::EndTxn), 4);
    assert_eq!(fake.count(ApiKey::AddPartitionsToTxn), 2);
    // four short backoffs (20 ms, jittered to [16, 24] ms: KIP-580), not the normal one
    // (100 ms and growing)
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(64) && took <= Duration::from_millis(96),
        "{took:?}"
    );
    assert_eq!(fake.m().ended.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn commit_with_unknown_outcome_is_retried_and_yields_the_same_result() {
    let (fake, d) = setup_with(|c| c.operation_timeout = Duration::from_secs(2));
    d.init_transactions().await.expect("init");
    d.begin_transaction().expect("begin");
    send_to(&d, "t", &[0]);
    // the coordinator applies the commit, the answer is lost, the retry never returns
    fake.inject(ApiKey::EndTxn, &[Fault::DropAfter, Fault::Hang]);
    let e = d
        .commit_transaction(async { Ok(()) })
        .await
        .expect_err("timeout");
    assert!(
        matches!(
            e,
            TxnError::Timeout {
                op: Op::Commit,
                state: TxnState::CommitOutcomeUnknown,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Retriable);
    assert_eq!(d.manager().state(), TxnState::CommitOutcomeUnknown);
    // nothing else is accepted until the outcome is known
    assert!(matches!(
        d.begin_transaction(),
        Err(TxnError::CommitOutcomeUnknown {
            op: Op::BeginTransaction
        })
    ));
    assert!(matches!(
        d.abort_transaction(async {}).await,
        Err(TxnError::CommitOutcomeUnknown { op: Op::Abort })
    ));
    d.commit_transaction(async { Ok(()) })
        .await
        .expect("same outcome");
    assert_eq!(d.manager().state(), TxnState::Ready);
    assert_eq!(fake.m().ended, vec![(true, parts("t", &[0]))]);
    assert_eq!(fake.count(ApiKey::EndTxn), 3);
}

#[tokio::test(start_paused = true)]
async fn cancelled_commit_leaves_outcome_unknown() {
    let (fake, d) = in_transaction("t", &[0]).await;
    fake.inject(ApiKey::EndTxn, &[Fault::Hang]);
    let commit = d.commit_transaction(async { Ok(()) });
    let r = tokio::time::timeout(Duration::from_millis(500), commit).await;
    assert!(r.is_err(), "EndTxn hangs");
    assert_eq!(d.manager().state(), TxnState::CommitOutcomeUnknown);
    assert_eq!(d.manager().status().running, None);
    d.commit_transaction(async { Ok(()) })
        .await
        .expect("resumed");
    assert_eq!(fake.m().ended, vec![(true, parts("t", &[0]))]);
}

#[tokio::test(start_paused = true)]
async fn abort_with_unknown_outcome_resumes() {
    let (fake, d) = setup_with(|c| c.operation_timeout = Duration::from_secs(1));
    d.init_transactions().await.expect("init");
    d.begin_transaction().expect("begin");
    send_to(&d, "t", &[0]);
    d.add_pending_partitions().await.expect("add");
    fake.inject(ApiKey::EndTxn, &[Fault::Hang]);
    let e = d.abort_transaction(async {}).await.expect_err("timeout");
    assert!(
        matches!(
            e,
            TxnError::Timeout {
                state: TxnState::AbortOutcomeUnknown,
                ..
            }
        ),
        "{e}"
    );
    assert!(matches!(
        d.commit_transaction(async { Ok(()) }).await,
        Err(TxnError::AbortOutcomeUnknown { op: Op::Commit })
    ));
    d.abort_transaction(async {}).await.expect("resumed");
    assert_eq!(fake.m().ended, vec![(false, parts("t", &[0]))]);
}

#[tokio::test(start_paused = true)]
async fn failed_flush_makes_commit_abortable() {
    let (fake, d) = in_transaction("t", &[0]).await;
    let e = d
        .commit_transaction(async {
            Err(ProducerError::Broker {
                topic: "t".into(),
                partition: 0,
                code: ErrorCode::MessageTooLarge,
                message: None,
            })
        })
        .await
        .expect_err("flush failed");
    assert_eq!(e.kind(), ErrorKind::Abortable);
    assert_eq!(d.manager().state(), TxnState::AbortableError);
    d.abort_transaction(async {}).await.expect("abort");
    assert_eq!(fake.m().ended, vec![(false, parts("t", &[0]))]);
}

#[tokio::test(start_paused = true)]
async fn batch_failing_during_flush_blocks_the_commit() {
    let (fake, d) = in_transaction("t", &[0]).await;
    let e = d
        .commit_transaction(async {
            d.manager()
                .on_batch_error(&tp("t", 0), ErrorCode::RecordListTooLarge);
            Ok(())
        })
        .await
        .expect_err("a batch failed");
    assert!(
        matches!(e, TxnError::MustAbort { op: Op::Commit, .. }),
        "{e}"
    );
    assert_eq!(fake.count(ApiKey::EndTxn), 0, "never committed");
}

#[tokio::test(start_paused = true)]
async fn sequence_error_bumps_the_epoch_on_abort() {
    let (fake, d) = in_transaction("t", &[0]).await;
    d.add_pending_partitions().await.expect("add");
    d.manager()
        .on_batch_error(&tp("t", 0), ErrorCode::OutOfOrderSequenceNumber);
    assert_eq!(d.manager().state(), TxnState::AbortableError);
    d.abort_transaction(async {}).await.expect("abort");
    assert_eq!(
        d.manager().producer_id_epoch(),
        Some(ProducerIdEpoch { id: 4000, epoch: 1 })
    );
    assert_eq!(fake.count(ApiKey::InitProducerId), 2);
    assert_eq!(fake.m().ended, vec![(false, parts("t", &[0]))]);
    // the next transaction runs under the new epoch
    d.begin_transaction().expect("begin");
    send_to(&d, "t", &[1]);
    d.commit_transaction(async { Ok(()) })
        .await
        .expect("commit");
    // a plain abortable error does not bump
    d.begin_transaction().expect("begin");
    send_to(&d, "t", &[1]);
    d.manager()
        .on_batch_error(&tp("t", 1), ErrorCode::MessageTooLarge);
    d.abort_transaction(async {}).await.expect("abort");
    assert_eq!(fake.count(ApiKey::InitProducerId), 2);
}

#[tokio::test(start_paused = true)]
async fn commit_waits_for_sends_in_progress() {
    let (fake, d) = setup();
    d.init_transactions().await.expect("init");
    d.begin_transaction().expect("begin");
    let permit = d.manager().begin_send(&tp("t", 5)).expect("send");
    let flushed_partitions = std::sync::Mutex::new(0);
    let commit = d.commit_transaction(async {
        *flushed_partitions.lock().expect("lock") = d.manager().status().partitions_in_transaction;
        Ok(())
    });
    let release = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(d.manager().state(), TxnState::Committing);
        drop(permit);
    };
    let (r, ()) = tokio::join!(commit, release);
    r.expect("commit");
    assert_eq!(*flushed_partitions.lock().expect("lock"), 1);
    assert_eq!(fake.m().ended, vec![(true, parts("t", &[5]))]);
}

#[tokio::test(start_paused = true)]
async fn kip890_switches_only_at_a_transaction_boundary() {
    let (fake, d) = setup_with(|c| c.kip890_capable = true);
    d.init_transactions().await.expect("init");
    d.begin_transaction().expect("begin v1");
    send_to(&d, "t", &[0]);
    fake.m().transaction_version = 2; // the broker finalizes transaction.version 2 mid-transaction
    send_to(&d, "t", &[1]);
    d.commit_transaction(async { Ok(()) })
        .await
        .expect("commit v1");
    assert_eq!(fake.m().end_txn_versions, vec![4]);
    assert_eq!(fake.count(ApiKey::AddPartitionsToTxn), 1);
    assert!(!d.manager().status().kip890);

    d.begin_transaction().expect("begin v2");
    assert!(d.manager().status().kip890);
    send_to(&d, "t", &[2]);
    assert!(
        d.manager().is_send_to_partition_allowed(&tp("t", 2)),
        "implicitly added"
    );
    assert_eq!(
        fake.count(ApiKey::AddPartitionsToTxn),
        1,
        "no AddPartitionsToTxn under v2"
    );
    // the fake stands in for Produce v12's implicit add
    fake.m().phase = super::fake::TxnPhase::Ongoing;
    fake.m().partitions.insert(("t".to_owned(), 2));
    let before = d.manager().producer_id_epoch().expect("pid");
    d.commit_transaction(async { Ok(()) })
        .await
        .expect("commit v2");
    assert_eq!(fake.m().end_txn_versions, vec![4, 5]);
    // a v2 coordinator bumps the epoch at each transaction end and the client adopts it
    assert_eq!(
        d.manager().producer_id_epoch(),
        Some(ProducerIdEpoch {
            id: before.id,
            epoch: before.epoch + 1
        })
    );
    assert_eq!(fake.m().ended.last(), Some(&(true, parts("t", &[2]))));
}

#[tokio::test(start_paused = true)]
async fn kip890_off_without_client_support() {
    let (fake, d) = setup_with(|c| c.kip890_capable = false);
    fake.m().transaction_version = 2;
    d.init_transactions().await.expect("init");
    d.begin_transaction().expect("begin");
    assert!(!d.manager().status().kip890);
    send_to(&d, "t", &[0]);
    d.commit_transaction(async { Ok(()) })
        .await
        .expect("commit");
    assert_eq!(fake.m().end_txn_versions, vec![4]);
}

#[tokio::test(start_paused = true)]
async fn thousand_transactions_every_fourth_aborted() {
    let (fake, d) = setup();
    d.init_transactions().await.expect("init");
    let d = Arc::new(d);
    let mut expected = Vec::new();
    for i in 0..1000i32 {
        d.begin_transaction().expect("begin");
        let ps: Vec<i32> = (0..=(i % 6)).collect();
        send_to(&d, "t", &ps);
        let commit = i % 4 != 3;
        if commit {
            d.commit_transaction(async { Ok(()) })
                .await
                .expect("commit");
        } else {
            d.add_pending_partitions().await.expect("add");
            d.abort_transaction(async {}).await.expect("abort");
        }
        expected.push((commit, parts("t", &ps)));
    }
    let m = fake.m();
    assert_eq!(m.ended, expected);
    assert_eq!(m.ended.iter().filter(|(c, _)| !c).count(), 250);
}

/// KIP-890 part 2: after a sequence error the abort's EndTxn v5 already hands out a new
/// epoch, so no InitProducerId bump (KIP-360) follows.
#[tokio::test(start_paused = true)]
async fn a_version_2_abort_after_a_sequence_error_needs_no_init_producer_id() {
    let (fake, d) = setup();
    fake.m().transaction_version = 2;
    d.init_transactions().await.expect("init");
    d.begin_transaction().expect("begin");
    assert!(d.manager().status().kip890);
    send_to(&d, "t", &[0]);
    // the fake stands in for Produce v12's implicit add
    fake.m().phase = super::fake::TxnPhase::Ongoing;
    fake.m().partitions.insert(("t".to_owned(), 0));
    d.manager()
        .on_batch_error(&tp("t", 0), ErrorCode::OutOfOrderSequenceNumber);
    assert_eq!(d.manager().state(), TxnState::AbortableError);
    let before = d.manager().producer_id_epoch().expect("pid");
    d.abort_transaction(async {}).await.expect("abort");
    let after = d.manager().producer_id_epoch().expect("pid");
    assert_eq!((after.id, after.epoch), (before.id, before.epoch + 1));
    assert_eq!(fake.count(ApiKey::InitProducerId), 1, "no KIP-360 bump");
    assert_eq!(fake.m().end_txn_versions, vec![5]);
    assert_eq!(d.manager().state(), TxnState::Ready);
}
