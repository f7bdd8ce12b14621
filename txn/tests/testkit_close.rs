//! `TransactionalProducer::close` against klamm-testkit: an open transaction is aborted at
//! once, so the last stable offset moves past it without waiting for the coordinator's
//! `transaction.timeout.ms` (60 s here), and a fenced or failed producer closes promptly.

mod support;

use std::time::Duration;

use bytes::Bytes;
use klamm_producer::ErrorKind;
use klamm_testkit::Cluster;
use klamm_txn::TxnState;
use support::{TOPIC, build, read_topic, record, testkit, zombie_and_successor};
use tokio::time::Instant;

/// Far below the 60 s transaction timeout the producers run with.
const PROMPT: Duration = Duration::from_secs(5);

/// `(high watermark, last stable offset)` of [`TOPIC`]'s partition 0.
fn offsets(kit: &Cluster) -> (i64, i64) {
    kit.offsets(TOPIC, 0).expect("partition 0 exists")
}

async fn close_aborts_open_transaction(transaction_version: i16) {
    let kit = testkit(transaction_version).await;
    let p = build(&kit, "close-open").await;
    p.init_transactions().await.expect("init");
    p.begin_transaction().expect("begin");
    p.send(record(0, "never-visible"))
        .await
        .expect("send")
        .await
        .expect("written");
    let (hw, lso) = offsets(&kit);
    assert_eq!(
        (hw, lso),
        (1, 0),
        "the open transaction holds the LSO at its first offset"
    );

    let started = Instant::now();
    p.close(Duration::from_secs(10)).await.expect("close");
    // the abort marker follows the record: the LSO reaches the high watermark at once
    let (hw, lso) = offsets(&kit);
    assert_eq!(hw, 2, "record + abort marker");
    assert_eq!(lso, hw, "the LSO moved past the aborted transaction");
    assert!(started.elapsed() < PROMPT, "{:?}", started.elapsed());
    assert_eq!(
        kit.timed_out_transactions(),
        0,
        "not left to the coordinator's timeout"
    );
    assert_eq!(p.state(), TxnState::FatalError);

    // a read_committed reader is not held: a later transaction is visible right away
    let next = build(&kit, "close-next").await;
    next.init_transactions().await.expect("init");
    next.begin_transaction().expect("begin");
    let d = next.send(record(0, "after")).await.expect("send");
    next.commit_transaction().await.expect("commit");
    d.await.expect("delivered");
    let got = read_topic(&kit).await;
    assert_eq!(got[0], vec![Bytes::from("after")]);
    assert!(started.elapsed() < PROMPT, "{:?}", started.elapsed());
}

#[tokio::test]
async fn close_aborts_the_open_transaction_version_2() {
    close_aborts_open_transaction(2).await;
}

#[tokio::test]
async fn close_aborts_the_open_transaction_version_1() {
    close_aborts_open_transaction(1).await;
}

#[tokio::test]
async fn close_of_a_fenced_producer_returns_promptly() {
    let kit = testkit(2).await;
    let (zombie, fresh) = zombie_and_successor(&kit, "close-fenced").await;
    let started = Instant::now();
    zombie
        .close(Duration::from_secs(30))
        .await
        .expect("nothing to end: the successor's init aborted the transaction");
    assert!(started.elapsed() < PROMPT, "{:?}", started.elapsed());
    assert_eq!(zombie.state(), TxnState::FatalError);
    let (hw, lso) = kit.offsets(TOPIC, 3).expect("partition 3");
    assert_eq!(
        lso, hw,
        "the successor's init ended the zombie's transaction"
    );
    fresh.close(Duration::from_secs(10)).await.expect("close");
}

#[tokio::test]
async fn close_of_a_failed_producer_returns_promptly() {
    let kit = testkit(2).await;
    let (zombie, fresh) = zombie_and_successor(&kit, "close-fatal").await;
    let e = zombie.commit_transaction().await.expect_err("fenced");
    assert_eq!(e.kind(), ErrorKind::Fatal, "{e}");
    assert_eq!(zombie.state(), TxnState::FatalError);
    let end_txns = kit.arrivals_of(klamm_protocol::ApiKey::EndTxn);
    let started = Instant::now();
    zombie.close(Duration::from_secs(30)).await.expect("close");
    assert!(started.elapsed() < PROMPT, "{:?}", started.elapsed());
    assert_eq!(
        kit.arrivals_of(klamm_protocol::ApiKey::EndTxn),
        end_txns,
        "a producer in FatalError sends nothing to the coordinator"
    );
    fresh.close(Duration::from_secs(10)).await.expect("close");
}
