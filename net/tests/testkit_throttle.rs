//! The sarama throttle scenarios against klamm-testkit, which answers with real
//! `throttle_time_ms`, mutes throttled connections as Kafka does, and logs every request's
//! arrival with the connection's deadline at that moment.

use std::time::{Duration, Instant};

use klamm_net::throttle::ThrottleError;
use klamm_net::{Cluster, ConnectionConfig, Error};
use klamm_protocol::ApiKey;
use klamm_protocol::messages::ProduceRequest;
use klamm_testkit::{Fault, FaultAction, requests};

/// The real-time tests of this file measure delays of a few milliseconds; they run one at a
/// time so that they do not slow each other down.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A Produce of one record to partition `partition` of `t`.
fn produce(partition: i32) -> ProduceRequest {
    let batch = requests::batch(&["v"], None, false).expect("batch");
    requests::produce("t", partition, -1, batch)
}

async fn setup(brokers: i32, max_in_flight: usize) -> (klamm_testkit::Cluster, Cluster) {
    let tk = klamm_testkit::Cluster::builder()
        .brokers(brokers)
        .topic("t", 6)
        .start()
        .await
        .expect("testkit");
    let c = Cluster::builder()
        .bootstrap(tk.bootstrap())
        .connection(
            ConnectionConfig::builder()
                .max_in_flight(max_in_flight)
                .build()
                .expect("config"),
        )
        .connect()
        .await
        .expect("cluster");
    c.topic("t").await.expect("topic");
    (tk, c)
}

/// (a) Many tasks send while responses set throttles: the broker's arrival log shows no request
/// before its connection's deadline, and the first request after each deadline comes within
/// 20 ms of it. One request in flight, so that no request was already on its way when the
/// throttle was announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_request_reaches_a_throttled_broker_before_its_deadline() {
    let _serial = SERIAL.lock().await;
    let (tk, c) = setup(1, 1).await;
    let fault = tk.inject(Fault::new(ApiKey::Produce, FaultAction::Throttle(60)).every(5));
    let svc = c.leader("t", 0).await.expect("leader");
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let svc = svc.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    svc.send(produce(0)).await.expect("produce");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let fired = tk.fault_fired(fault);
    assert!(fired >= 30, "throttles injected: {fired}");
    assert_eq!(tk.early_requests(), 0, "requests sent before a deadline");
    let produce_key = ApiKey::Produce.as_i16();
    let arrivals: Vec<_> = tk
        .arrivals()
        .into_iter()
        .filter(|a| a.api_key == produce_key)
        .collect();
    assert_eq!(arrivals.len(), 160);
    let mut checked = 0;
    for e in tk.throttles() {
        let deadline = e.at + Duration::from_millis(e.throttle_ms as u64);
        let Some(next) = arrivals
            .iter()
            .filter(|a| a.connection == e.connection && a.at > e.at)
            .map(|a| a.at)
            .min()
        else {
            continue; // the last request of the run
        };
        assert!(next >= deadline, "early by {:?}", deadline - next);
        let late = next - deadline;
        assert!(
            late <= Duration::from_millis(20),
            "waited {late:?} past the deadline"
        );
        checked += 1;
    }
    assert!(checked >= 29, "{checked}");
    let m = svc.throttle().metrics();
    assert_eq!(m.throttled_responses, fired);
    assert_eq!(m.throttle_time_max_ms, 60);
    // 160 produce answers, plus the Metadata answers this connection also carried.
    assert!(m.responses >= 160, "{}", m.responses);
    let avg = 60.0 * fired as f64 / m.responses as f64;
    assert!((m.throttle_time_avg_ms() - avg).abs() < 1e-9);
    assert_eq!(c.throttle_metrics(), vec![(svc.node_id(), m)]);
}

/// (b) A one-hour throttle, then close(): every waiter gets "closed" within 100 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_close_during_a_one_hour_throttle_returns_within_100ms() {
    let _serial = SERIAL.lock().await;
    let (tk, c) = setup(1, 5).await;
    tk.inject(Fault::new(ApiKey::Produce, FaultAction::Throttle(3_600_000)).times(1));
    let svc = c.leader("t", 0).await.expect("leader");
    svc.send(produce(0)).await.expect("throttled answer");
    assert!(svc.throttle().remaining() > Duration::from_secs(3_000));
    let waiters: Vec<_> = (0..16)
        .map(|_| {
            let svc = svc.clone();
            tokio::spawn(async move { svc.send(produce(0)).await })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(10), async {
        while svc.throttle().metrics().waits < 16 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("all 16 callers wait on the throttle");
    let start = Instant::now();
    c.close();
    let results = tokio::time::timeout(
        Duration::from_millis(100),
        futures::future::join_all(waiters),
    )
    .await
    .expect("all waiters returned within 100 ms");
    assert!(start.elapsed() < Duration::from_millis(100));
    for r in results {
        let err = r.expect("task").expect_err("closed");
        assert!(
            matches!(err, Error::Throttle(ThrottleError::Closed)),
            "{err}"
        );
    }
    let produce_key = ApiKey::Produce.as_i16();
    let sent = tk
        .arrivals()
        .iter()
        .filter(|a| a.api_key == produce_key)
        .count();
    assert_eq!(sent, 1, "nothing was sent to the throttled broker");
    assert!(matches!(c.broker(1).await, Err(Error::Closed)));
}

/// (d) A throttle on one broker delays neither another broker nor metadata refreshes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_a_throttle_on_one_broker_adds_no_delay_to_another() {
    let _serial = SERIAL.lock().await;
    let (tk, c) = setup(3, 5).await;
    let a = tk.leader("t", 0).expect("leader");
    let p_b = (0..6)
        .find(|&p| tk.leader("t", p) != Some(a))
        .expect("a partition led elsewhere");
    tk.inject(
        Fault::new(ApiKey::Produce, FaultAction::Throttle(3_600_000))
            .broker(a)
            .times(1),
    );
    let svc_a = c.broker(a).await.expect("a");
    svc_a.send(produce(0)).await.expect("throttled answer");
    assert!(svc_a.throttle().remaining() > Duration::from_secs(3_000));
    let start = Instant::now();
    let svc_b = c.leader("t", p_b).await.expect("b");
    for _ in 0..50 {
        svc_b.send(produce(p_b)).await.expect("produce to b");
    }
    c.refresh_metadata()
        .await
        .expect("metadata from an unthrottled broker");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(svc_b.throttle().remaining(), Duration::ZERO);
    c.close();
}

/// (e) Produce v5 (before KIP-219): the broker delays the response itself; the client does
/// not wait a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e_a_pre_kip219_throttle_is_not_waited_for_twice() {
    let _serial = SERIAL.lock().await;
    let (tk, c) = setup(1, 5).await;
    let svc = c.leader("t", 0).await.expect("leader");
    tk.inject(Fault::new(ApiKey::Produce, FaultAction::Throttle(400)).times(1));
    let start = Instant::now();
    let r = svc
        .connection()
        .send_at(produce(0), 5)
        .await
        .expect("v5 produce");
    assert_eq!(r.body.throttle_time_ms, 400);
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "the broker delayed it"
    );
    let next = Instant::now();
    svc.send(produce(0)).await.expect("next");
    assert!(
        next.elapsed() < Duration::from_millis(100),
        "{:?}",
        next.elapsed()
    );
    let m = svc.throttle().metrics();
    assert_eq!((m.throttled_responses, m.broker_delayed_responses), (1, 1));
    assert_eq!(tk.early_requests(), 0);
}

/// A throttle in the ApiVersions answer of a new connection (the handshake runs before the
/// connection joins the throttle layer) is known to the client as soon as the connection is
/// up, so it holds the first request after the handshake on the client's side (the testkit,
/// like Kafka, also mutes the connection, which alone would delay that request too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f_a_throttle_in_the_handshake_holds_the_next_request() {
    let _serial = SERIAL.lock().await;
    let (tk, c) = setup(1, 1).await;
    let node = c
        .metadata()
        .brokers
        .keys()
        .copied()
        .next()
        .expect("a broker");
    // The cluster's connection to the broker is already open: a new lane opens a new one,
    // which shares the broker's deadline.
    let fault = tk.inject(Fault::new(ApiKey::ApiVersions, FaultAction::Throttle(300)).times(1));
    let lane = c.lane(1);
    let start = Instant::now();
    let svc = lane.broker(node).await.expect("broker");
    let known = svc.throttle().remaining();
    svc.send(produce(0)).await.expect("produce");
    let waited = start.elapsed();
    tk.remove_fault(fault);
    assert_eq!(
        tk.injected(ApiKey::ApiVersions).throttles,
        1,
        "the fault happened"
    );
    assert!(
        known > Duration::from_millis(200),
        "after the handshake the client knew of {known:?} of throttle"
    );
    assert_eq!(svc.throttle().metrics().throttled_responses, 1);
    assert!(
        waited >= Duration::from_millis(300),
        "the Produce went out after {waited:?}"
    );
}
