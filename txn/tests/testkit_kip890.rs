//! KIP-890 part 2 end to end: the real transactional producer (klamm-txn on klamm-producer)
//! against klamm-testkit clusters that finalize `transaction.version` 1 or 2, read back with
//! a `read_committed` Fetch. With version 2 no AddPartitionsToTxn is sent (Produce v12 adds
//! the partitions), EndTxn v5 hands out a new epoch after every transaction and the
//! producer's sequences follow it; with version 1 the protocol is KIP-98's. A version change
//! takes effect only at a transaction boundary. Also: state-changing calls from many tasks
//! queue instead of failing.

mod support;

use std::sync::Arc;

use bytes::Bytes;
use klamm_producer::idempotence::TopicPartition;
use klamm_protocol::ApiKey;
use klamm_testkit::{Cluster, Fault, FaultAction};
use klamm_txn::{
    ConsumerGroupMetadata, OffsetAndMetadata, TransactionalProducer, TxnError, TxnState,
};
use support::{
    assert_read_committed, build, every_fourth_aborted, read_topic, record, testkit,
    zombie_and_successor,
};

/// The versions at which requests of `api` arrived, deduplicated.
fn versions(kit: &Cluster, api: ApiKey) -> Vec<i16> {
    let mut v: Vec<i16> = kit
        .arrivals()
        .iter()
        .filter(|a| a.api_key == api.as_i16())
        .map(|a| a.api_version)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_transactions_with_transaction_version_2() {
    let kit = testkit(2).await;
    let p = build(&kit, "v2-0").await;
    p.init_transactions().await.expect("init");
    let first = p.status().producer.expect("producer id");
    let expected = every_fourth_aborted(&p, 0x0123_4567_89AB_CDEF, 1_000).await;
    assert_read_committed(&kit, &expected).await;
    assert_eq!(kit.arrivals_of(ApiKey::AddPartitionsToTxn), 0);
    assert_eq!(versions(&kit, ApiKey::Produce), vec![12]);
    assert_eq!(versions(&kit, ApiKey::EndTxn), vec![5]);
    // every EndTxn (one per transaction with records) bumped the epoch
    let last = p.status().producer.expect("producer id");
    assert_eq!(last.id, first.id);
    let end_txns = i16::try_from(kit.arrivals_of(ApiKey::EndTxn)).expect("count");
    assert_eq!(last.epoch - first.epoch, end_txns);
    assert!(end_txns >= 999, "{end_txns}");
    assert!(p.status().kip890);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_with_transaction_version_1() {
    let kit = testkit(1).await;
    let p = build(&kit, "v1-0").await;
    p.init_transactions().await.expect("init");
    let first = p.status().producer.expect("producer id");
    let expected = every_fourth_aborted(&p, 0x0123_4567_89AB_CDEF, 200).await;
    assert_read_committed(&kit, &expected).await;
    // at least one per committed transaction (an abort may come before any add)
    assert!(kit.arrivals_of(ApiKey::AddPartitionsToTxn) >= 150);
    assert_eq!(versions(&kit, ApiKey::Produce), vec![11]);
    assert_eq!(versions(&kit, ApiKey::EndTxn), vec![4]);
    assert_eq!(p.status().producer, Some(first), "no epoch bumps");
    assert!(!p.status().kip890);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_change_takes_effect_at_the_next_transaction() {
    let kit = testkit(1).await;
    let p = build(&kit, "switch-0").await;
    p.init_transactions().await.expect("init");
    p.begin_transaction().expect("begin");
    p.send(record(0, "v1-a"))
        .await
        .expect("send")
        .await
        .expect("written");
    // the cluster finalizes version 2; the producer's connections learn it when they
    // reconnect (every connection is dropped after its next Produce)
    kit.set_transaction_version(2);
    let drop = kit.inject(Fault::new(ApiKey::Produce, FaultAction::DropAfter).times(3));
    let b = p.send(record(1, "v1-b")).await.expect("send");
    p.commit_transaction().await.expect("commit v1");
    b.await.expect("delivered");
    assert!(kit.fault_fired(drop) >= 1);
    assert!(
        !p.status().kip890,
        "the open transaction stayed on version 1"
    );
    let adds_v1 = kit.arrivals_of(ApiKey::AddPartitionsToTxn);
    assert!(adds_v1 >= 2, "{adds_v1}");
    assert_eq!(versions(&kit, ApiKey::EndTxn), vec![4]);
    // the coordinator connection reconnects too, and sees the new features
    kit.remove_fault(drop);
    let drop_end = kit.inject(Fault::new(ApiKey::EndTxn, FaultAction::DropAfter).times(1));
    p.begin_transaction().expect("begin");
    let _c = p.send(record(2, "v1-c")).await.expect("send");
    p.commit_transaction()
        .await
        .expect("commit through a dropped EndTxn");
    assert_eq!(kit.fault_fired(drop_end), 1);
    assert!(!p.status().kip890);

    p.begin_transaction().expect("begin v2");
    assert!(p.status().kip890, "switched at the boundary");
    let c = p.send(record(3, "v2-d")).await.expect("send");
    p.commit_transaction().await.expect("commit v2");
    c.await.expect("delivered");
    let adds = kit.arrivals_of(ApiKey::AddPartitionsToTxn);
    assert_eq!(adds, adds_v1 + 1, "no AddPartitionsToTxn under version 2");
    assert!(versions(&kit, ApiKey::EndTxn).contains(&5));
    assert!(versions(&kit, ApiKey::Produce).contains(&12));

    let got = read_topic(&kit).await;
    assert_eq!(got[0], vec![Bytes::from("v1-a")]);
    assert_eq!(got[1], vec![Bytes::from("v1-b")]);
    assert_eq!(got[2], vec![Bytes::from("v1-c")]);
    assert_eq!(got[3], vec![Bytes::from("v2-d")]);
}

#[tokio::test]
async fn version_2_faults_dropped_end_txn_and_concurrent_transactions_on_produce() {
    let kit = testkit(2).await;
    let p = build(&kit, "v2-faults").await;
    p.init_transactions().await.expect("init");
    p.begin_transaction().expect("begin");
    let _a = p.send(record(0, "a")).await.expect("send");
    // EndTxn v5 applied (epoch bumped) but its answer lost: the retry learns the new epoch
    let drop_end = kit.inject(Fault::new(ApiKey::EndTxn, FaultAction::DropAfter).times(1));
    p.commit_transaction()
        .await
        .expect("commit through the drop");
    assert_eq!(kit.fault_fired(drop_end), 1);
    // a version-2 broker answers CONCURRENT_TRANSACTIONS to a Produce while markers are
    // pending: the producer retries it
    let cc = kit.inject(Fault::new(ApiKey::Produce, FaultAction::Error(51)).times(2));
    p.begin_transaction().expect("begin");
    let b = p.send(record(1, "b")).await.expect("send");
    p.commit_transaction()
        .await
        .expect("commit through the retries");
    b.await.expect("delivered");
    assert_eq!(kit.fault_fired(cc), 2);
    // an abort with nothing sent needs no EndTxn; one with records gets a new epoch too
    p.begin_transaction().expect("begin");
    p.abort_transaction().await.expect("empty abort");
    p.begin_transaction().expect("begin");
    p.send(record(2, "aborted"))
        .await
        .expect("send")
        .await
        .expect("written");
    let before = p.status().producer.expect("pid");
    p.abort_transaction().await.expect("abort");
    assert_eq!(p.status().producer.expect("pid").epoch, before.epoch + 1);
    let got = read_topic(&kit).await;
    assert_eq!(got[0], vec![Bytes::from("a")]);
    assert_eq!(got[1], vec![Bytes::from("b")]);
    assert!(got[2].is_empty());
    assert_eq!(kit.arrivals_of(ApiKey::AddPartitionsToTxn), 0);
}

#[tokio::test]
async fn version_2_zombie_is_fenced() {
    let kit = testkit(2).await;
    let (zombie, fresh) = zombie_and_successor(&kit, "v2-zombie").await;
    let e = zombie.commit_transaction().await.expect_err("fenced");
    assert_eq!(e.kind(), klamm_producer::ErrorKind::Fatal, "{e}");
    assert_eq!(zombie.state(), TxnState::FatalError);
    fresh.begin_transaction().expect("begin");
    let _f = fresh.send(record(3, "fresh")).await.expect("send");
    fresh.commit_transaction().await.expect("commit");
    let got = read_topic(&kit).await;
    assert_eq!(got[3], vec![Bytes::from("fresh")]);
}

/// 16 tasks share one producer and call begin, send, commit and abort at will: calls queue,
/// each gets a result that fits the state it found, and what a read_committed reader sees is
/// exactly the records of the transactions whose commit succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_commit_abort_and_begin_one_producer() {
    for version in [1, 2] {
        let kit = testkit(version).await;
        let p = build(&kit, "shared-0").await;
        p.init_transactions().await.expect("init");
        let mut tasks = Vec::new();
        for t in 0..16u32 {
            let p = Arc::clone(&p);
            tasks.push(tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for round in 0..12u32 {
                    let _ = p.begin_transaction();
                    let v = format!("{t}-{round}");
                    let sent = match p.send(record((t % 6) as i32, &v)).await {
                        Ok(f) => Some(f),
                        Err(e) => {
                            assert!(
                                matches!(
                                    e,
                                    TxnError::NoTransaction { .. }
                                        | TxnError::TransactionEnding { .. }
                                ),
                                "{e}"
                            );
                            None
                        }
                    };
                    let r = if round % 3 == 2 {
                        p.abort_transaction().await
                    } else {
                        p.commit_transaction().await
                    };
                    match r {
                        Ok(()) | Err(TxnError::NoTransaction { .. }) => {}
                        Err(e) => panic!("unexpected: {e}"),
                    }
                    if let Some(f) = sent {
                        outcomes.push((v, f.await.is_ok()));
                    }
                }
                outcomes
            }));
        }
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.extend(t.await.expect("task"));
        }
        assert!(matches!(
            p.state(),
            TxnState::Ready | TxnState::InTransaction
        ));
        if p.state() == TxnState::InTransaction {
            p.commit_transaction().await.expect("last commit");
        }
        assert_eq!(p.status().running, None);
        let got = read_topic(&kit).await;
        let mut seen: Vec<String> = got
            .into_iter()
            .flatten()
            .map(|b| String::from_utf8(b.to_vec()).expect("utf8"))
            .collect();
        let n = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), n, "no duplicates (version {version})");
        // every record whose future succeeded was committed or aborted; the ones seen are
        // a subset of the delivered ones, and at least one transaction committed
        for s in &seen {
            assert!(
                outcomes.iter().any(|(v, ok)| v == s && *ok),
                "{s} visible but not delivered (version {version})"
            );
        }
        assert!(!seen.is_empty(), "version {version}");
    }
}

/// Offsets sent with version-2 transactions: AddOffsetsToTxn and TxnOffsetCommit (unchanged
/// by KIP-890 part 2) carry the epoch the previous EndTxn v5 handed out, and the offsets
/// become visible with the commit only.
#[tokio::test]
async fn version_2_offsets_commit_with_the_transaction() {
    let kit = testkit(2).await;
    let p = build(&kit, "v2-offsets").await;
    p.init_transactions().await.expect("init");
    let group = ConsumerGroupMetadata::new("billing");
    let tp = TopicPartition {
        topic: Arc::from("input"),
        partition: 0,
    };
    for (round, commit) in [(1i64, true), (2, false), (3, true)] {
        p.begin_transaction().expect("begin");
        let _f = p.send(record(0, &format!("r{round}"))).await.expect("send");
        p.send_offsets_to_transaction(&[(tp.clone(), OffsetAndMetadata::new(round * 10))], &group)
            .await
            .expect("offsets");
        assert_eq!(
            kit.committed_offset("billing", "input", 0),
            (round > 1).then_some(10),
            "not visible before the commit (round {round})"
        );
        if commit {
            p.commit_transaction().await.expect("commit");
        } else {
            p.abort_transaction().await.expect("abort");
        }
    }
    assert_eq!(kit.committed_offset("billing", "input", 0), Some(30));
    assert_eq!(kit.arrivals_of(ApiKey::AddOffsetsToTxn), 3);
    assert_eq!(kit.arrivals_of(ApiKey::AddPartitionsToTxn), 0);
    let got = read_topic(&kit).await;
    assert_eq!(got[0], vec![Bytes::from("r1"), Bytes::from("r3")]);
}

/// The builder's opt-out keeps a producer on the KIP-98 protocol on a version-2 cluster.
#[tokio::test]
async fn transaction_version_2_can_be_turned_off() {
    let kit = testkit(2).await;
    let p = TransactionalProducer::builder()
        .bootstrap(kit.bootstrap())
        .transactional_id("v2-off")
        .transaction_version_2(false)
        .build()
        .await
        .expect("build");
    p.init_transactions().await.expect("init");
    p.begin_transaction().expect("begin");
    assert!(!p.status().kip890);
    let f = p.send(record(0, "a")).await.expect("send");
    p.commit_transaction().await.expect("commit");
    f.await.expect("delivered");
    assert_eq!(kit.arrivals_of(ApiKey::AddPartitionsToTxn), 1);
    assert_eq!(versions(&kit, ApiKey::Produce), vec![11]);
    assert_eq!(versions(&kit, ApiKey::EndTxn), vec![4]);
}
