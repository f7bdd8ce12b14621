//! klamm-net against klamm-testkit: metadata, leaders, leader moves, dropped connections,
//! broker restarts, SASL.

use std::time::Duration;

use klamm_net::sasl::{SaslConfig, ScramMechanism};
use klamm_net::{Cluster, ConnectionConfig, CoordinatorType, Error};
use klamm_protocol::ApiKey;
use klamm_protocol::error_code::ErrorCode;
use klamm_protocol::messages::ProduceRequest;
use klamm_testkit::{Fault, FaultAction, Mechanism, requests};

/// A Produce of `records` records (values `v<i>`) to `topic`'s `partition`.
fn produce(topic: &str, partition: i32, records: usize) -> ProduceRequest {
    let values: Vec<String> = (0..records).map(|i| format!("v{i}")).collect();
    let batch = requests::batch(&values, None, false).expect("batch");
    requests::produce(topic, partition, -1, batch)
}

fn partition_error(r: &klamm_protocol::messages::ProduceResponse) -> ErrorCode {
    ErrorCode::from_i16(r.responses[0].partition_responses[0].error_code)
}

/// Produces one record to `t-0` through its leader; returns the partition's error code.
async fn produce_to_leader(c: &Cluster) -> ErrorCode {
    let leader = c.leader("t", 0).await.expect("leader");
    partition_error(&leader.send(produce("t", 0, 1)).await.expect("produce"))
}

async fn testkit(brokers: i32) -> klamm_testkit::Cluster {
    klamm_testkit::Cluster::builder()
        .brokers(brokers)
        .topic("t", 6)
        .start()
        .await
        .expect("testkit")
}

async fn cluster(tk: &klamm_testkit::Cluster) -> Cluster {
    Cluster::builder()
        .bootstrap(tk.bootstrap())
        .connection(
            ConnectionConfig::builder()
                .request_timeout(Duration::from_secs(5))
                .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(200))
                .build()
                .expect("config"),
        )
        .connect()
        .await
        .expect("cluster")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_and_leaders_match_the_testkit_and_produce_reaches_each_leader() {
    let tk = testkit(3).await;
    let c = cluster(&tk).await;
    let t = c.topic("t").await.expect("topic");
    assert_eq!(t.partitions.len(), 6);
    assert_eq!(c.metadata().brokers.len(), 3);
    for p in 0..6 {
        assert_eq!(
            c.metadata().leader("t", p),
            tk.leader("t", p),
            "partition {p}"
        );
        let leader = c.leader("t", p).await.expect("leader");
        assert!(leader.version_for::<ProduceRequest>().expect("version") >= 6);
        let r = leader.send(produce("t", p, 3)).await.expect("produce");
        assert_eq!(partition_error(&r), ErrorCode::None);
        assert_eq!(
            tk.offsets("t", p).map(|(_, end)| end),
            Some(3),
            "partition {p}"
        );
    }
    let unknown = c.topic("does-not-exist").await;
    // Auto-creation is on by default (as in Kafka), so the topic now exists.
    assert!(unknown.is_ok() || matches!(unknown, Err(Error::Kafka { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_leader_refreshes_metadata_and_the_new_leader_accepts() {
    let tk = testkit(3).await;
    let c = cluster(&tk).await;
    c.topic("t").await.expect("topic");
    let old = tk.leader("t", 0).expect("leader");
    let new = (old % 3) + 1;
    tk.move_leader("t", 0, new).expect("move");
    let stale = c.broker(old).await.expect("old leader");
    let r = stale.send(produce("t", 0, 1)).await.expect("answer");
    let code = partition_error(&r);
    assert_eq!(code, ErrorCode::NotLeaderOrFollower);
    let before = c.metadata_refreshes();
    assert!(c.on_error(code));
    let meta = c.refresh_metadata().await.expect("refresh");
    assert!(c.metadata_refreshes() > before);
    assert_eq!(meta.leader("t", 0), Some(new));
    assert_eq!(produce_to_leader(&c).await, ErrorCode::None);
    assert!(
        !c.on_error(ErrorCode::InvalidRecord),
        "not a metadata error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_fails_pending_requests_retriably_and_the_next_request_reconnects() {
    let tk = testkit(1).await;
    let c = cluster(&tk).await;
    c.topic("t").await.expect("topic");
    let id = tk.inject(Fault::new(ApiKey::Produce, FaultAction::DropAfter).times(1));
    let svc = c.leader("t", 0).await.expect("leader");
    let err = svc.send(produce("t", 0, 1)).await.expect_err("dropped");
    assert!(err.is_retriable(), "{err}");
    assert!(matches!(err, Error::Disconnected { .. }), "{err}");
    assert_eq!(tk.fault_fired(id), 1, "the fault really happened");
    assert_eq!(tk.injected(ApiKey::Produce).drops_after, 1);
    // The broker applied it (DropAfter), so the log has one batch; the retry adds another.
    let svc = c.leader("t", 0).await.expect("reconnected");
    let r = svc.send(produce("t", 0, 1)).await.expect("after reconnect");
    assert_eq!(partition_error(&r), ErrorCode::None);
    assert_eq!(tk.offsets("t", 0).map(|(_, end)| end), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_broker_is_reconnected_with_backoff() {
    let tk = testkit(1).await;
    let c = cluster(&tk).await;
    c.topic("t").await.expect("topic");
    let id = tk.leader("t", 0).expect("leader");
    let svc = c.broker(id).await.expect("broker");
    svc.send(produce("t", 0, 1)).await.expect("first");
    tk.stop_broker(id).expect("stop");
    // Stopping aborts the broker's tasks; give the abort a moment to close the sockets.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = svc.send(produce("t", 0, 1)).await.expect_err("stopped");
    assert!(err.is_retriable(), "{err}");
    // While it is down, connecting fails (retriably) and backs off.
    let err = c.broker(id).await.expect_err("down");
    assert!(err.is_retriable(), "{err}");
    tk.restart_broker(id).await.expect("restart");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match c.broker(id).await {
            Ok(svc) => {
                let r = svc.send(produce("t", 0, 1)).await.expect("after restart");
                assert_eq!(partition_error(&r), ErrorCode::None);
                break;
            }
            Err(e) if tokio::time::Instant::now() < deadline => {
                assert!(e.is_retriable(), "{e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("never reconnected: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_coordinators_are_found_cached_and_invalidated() {
    let tk = testkit(3).await;
    let c = cluster(&tk).await;
    let keys: Vec<String> = (0..5).map(|i| format!("txn-{i}")).collect();
    let found = c
        .find_coordinators(CoordinatorType::Transaction, &keys)
        .await
        .expect("find");
    for (key, r) in &found {
        let id = *r.as_ref().expect("coordinator");
        assert_eq!(
            id,
            tk.coordinator(klamm_testkit::CoordinatorKind::Transaction, key),
            "{key}"
        );
    }
    let svc = c
        .coordinator(CoordinatorType::Transaction, "txn-0")
        .await
        .expect("coordinator");
    assert_eq!(svc.node_id(), found[0].1.as_ref().copied().expect("id"));
    c.invalidate_coordinator(CoordinatorType::Transaction, "txn-0");
    let again = c
        .coordinator(CoordinatorType::Transaction, "txn-0")
        .await
        .expect("coordinator");
    assert_eq!(again.node_id(), svc.node_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_scram_and_plain_against_the_testkit() {
    let tk = klamm_testkit::Cluster::builder()
        .brokers(1)
        .topic("t", 1)
        .sasl(
            klamm_testkit::SaslConfig::new(&[
                Mechanism::Plain,
                Mechanism::ScramSha256,
                Mechanism::ScramSha512,
            ])
            .user("alice", "secret"),
        )
        .start()
        .await
        .expect("testkit");
    let configs = [
        SaslConfig::Plain {
            username: "alice".into(),
            password: "secret".into(),
        },
        SaslConfig::Scram {
            mechanism: ScramMechanism::Sha256,
            username: "alice".into(),
            password: "secret".into(),
        },
        SaslConfig::Scram {
            mechanism: ScramMechanism::Sha512,
            username: "alice".into(),
            password: "secret".into(),
        },
    ];
    for sasl in configs {
        let name = sasl.mechanism_name();
        let c = Cluster::builder()
            .bootstrap(tk.bootstrap())
            .connection(
                ConnectionConfig::builder()
                    .sasl(sasl)
                    .build()
                    .expect("config"),
            )
            .connect()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(produce_to_leader(&c).await, ErrorCode::None, "{name}");
    }
    let wrong = Cluster::builder()
        .bootstrap(tk.bootstrap())
        .connection(
            ConnectionConfig::builder()
                .sasl(SaslConfig::Scram {
                    mechanism: ScramMechanism::Sha512,
                    username: "alice".into(),
                    password: "wrong".into(),
                })
                .build()
                .expect("config"),
        )
        .connect()
        .await
        .expect_err("wrong password");
    assert!(
        matches!(
            wrong,
            Error::Kafka {
                code: ErrorCode::SaslAuthenticationFailed,
                ..
            }
        ),
        "{wrong}"
    );
    assert!(!wrong.is_retriable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_is_refreshed_every_max_age_until_close() {
    let tk = testkit(1).await;
    let c = Cluster::builder()
        .bootstrap(tk.bootstrap())
        .metadata_max_age(Duration::from_millis(100))
        .connect()
        .await
        .expect("cluster");
    let start = c.metadata_refreshes();
    tokio::time::sleep(Duration::from_millis(450)).await;
    let refreshed = c.metadata_refreshes() - start;
    // Nominally 4; loose bounds so that a loaded machine does not fail the test.
    assert!(
        (2..=9).contains(&refreshed),
        "{refreshed} refreshes in 450 ms"
    );
    c.close();
    let at_close = c.metadata_refreshes();
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(c.metadata_refreshes(), at_close, "no refresh after close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_attempts_to_a_down_broker_back_off_exponentially() {
    let tk = testkit(1).await;
    let c = cluster(&tk).await; // backoff 10 ms .. 200 ms
    c.topic("t").await.expect("topic");
    let id = tk.leader("t", 0).expect("leader");
    c.broker(id).await.expect("connected");
    tk.stop_broker(id).expect("stop");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let start = tokio::time::Instant::now();
    let mut stamps = Vec::new();
    for _ in 0..5 {
        let err = c.broker(id).await.expect_err("down");
        assert!(err.is_retriable(), "{err}");
        stamps.push(start.elapsed());
    }
    // Attempts after 0, 10, 20, 40, 80 ms of backoff (each with ±20 % jitter).
    let gaps: Vec<Duration> = stamps.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, nominal) in gaps.iter().zip([10u64, 20, 40, 80]) {
        assert!(*gap >= Duration::from_millis(nominal * 8 / 10), "{gaps:?}");
    }
    assert!(gaps[3] > gaps[0], "{gaps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_coordinator_connection_forgets_the_coordinator() {
    let tk = testkit(3).await;
    let c = cluster(&tk).await;
    let kind = klamm_testkit::CoordinatorKind::Transaction;
    let first = c
        .coordinator(CoordinatorType::Transaction, "txn-a")
        .await
        .expect("coordinator");
    let old = first.node_id();
    assert_eq!(old, tk.coordinator(kind, "txn-a"));
    let new = (0..3)
        .map(|i| tk.brokers()[i].0)
        .find(|&n| n != old)
        .expect("another broker");
    tk.move_coordinator(kind, "txn-a", new).expect("move");
    // Without a disconnect the cache still answers the old broker...
    let cached = c
        .coordinator(CoordinatorType::Transaction, "txn-a")
        .await
        .expect("cached");
    assert_eq!(cached.node_id(), old);
    // ...until the connection to it breaks: then the coordinator is looked up again.
    tk.stop_broker(old).expect("stop");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = c.broker(old).await;
    let found = c
        .coordinator(CoordinatorType::Transaction, "txn-a")
        .await
        .expect("looked up again");
    assert_eq!(found.node_id(), new);
}
