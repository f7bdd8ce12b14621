//! The sarama throttle scenarios of issue 4, (a) to (e), at the ThrottleLayer with a mock broker
//! service. Paused-clock tests are exact (the tokio clock only moves when every task waits);
//! the real-time tests check the "within 100 ms" promises on a real clock.
//!
//! Random throttle schedules come from a seeded RNG: set `KLAMM_SEED` to replay a failure.

mod mock;

use std::time::Duration;

use klamm_net::throttle::{ThrottleError, ThrottleLayer, ThrottleService};
use mock::{Log, MockBroker, MockError, Req};
use rand::{Rng, SeedableRng};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

/// The real-time tests of this file measure delays of a few milliseconds; they run one at a
/// time so that they do not slow each other down.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One caller's request: wait for readiness, send, record what it saw.
async fn send(svc: &mut ThrottleService<MockBroker>, log: &Log, req: Req) -> Result<(), MockError> {
    let start = log.ready_start();
    svc.ready().await?;
    log.ready_done(start);
    let resp = svc.call(req).await?;
    log.observed(&resp);
    Ok(())
}

/// Scenario (a) with `tasks` tasks: many tasks send while responses set throttles.
async fn many_tasks_scenario(
    tasks: usize,
    per_task: usize,
    seed: u64,
    strict: bool,
) -> mock::Report {
    let log = Log::default();
    let broker = MockBroker::new(log.clone());
    let layer = ThrottleLayer::new("broker-1");
    let handle = layer.handle();
    let svc = layer.layer(broker);
    let mut joins = Vec::new();
    for t in 0..tasks {
        let mut svc = svc.clone();
        let log = log.clone();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed.wrapping_add(t as u64));
        joins.push(tokio::spawn(async move {
            for _ in 0..per_task {
                let throttle_ms = if rng.random_bool(0.25) {
                    rng.random_range(10..200)
                } else {
                    0
                };
                let req = Req::produce(
                    8,
                    throttle_ms,
                    Duration::from_millis(rng.random_range(1..5)),
                );
                send(&mut svc, &log, req).await.expect("request");
            }
        }));
    }
    for j in joins {
        j.await.expect("task");
    }
    let report = if strict {
        log.check_strict()
    } else {
        log.check()
    };
    let m = handle.metrics();
    assert_eq!(m.responses as usize, tasks * per_task);
    assert!(m.throttled_responses > 0, "the schedule throttled nothing");
    assert!(m.waits > 0, "nobody ever waited: the test proves nothing");
    report
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_many_tasks_never_send_before_the_deadline_paused() {
    let report = many_tasks_scenario(16, 40, klamm_testkit::seed(), true).await;
    assert!(report.gated_calls > 0);
    // On the paused clock timers fire exactly: nobody waits past the deadline at all.
    assert_eq!(report.max_overshoot, Duration::ZERO, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_many_tasks_never_send_before_the_deadline_real_time() {
    let _serial = SERIAL.lock().await;
    let report = many_tasks_scenario(16, 15, klamm_testkit::seed(), false).await;
    assert!(report.gated_calls > 0);
    assert!(
        report.max_overshoot <= Duration::from_millis(20),
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_close_during_a_one_hour_throttle_wakes_every_waiter_within_100ms() {
    let _serial = SERIAL.lock().await;
    let log = Log::default();
    let layer = ThrottleLayer::new("broker-1");
    let handle = layer.handle();
    let mut svc = layer.layer(MockBroker::new(log.clone()));
    send(&mut svc, &log, Req::produce(8, 3_600_000, Duration::ZERO))
        .await
        .expect("first request");
    assert!(handle.remaining() > Duration::from_secs(3_500));

    let waiters: Vec<_> = (0..16)
        .map(|_| {
            let mut svc = svc.clone();
            tokio::spawn(async move {
                svc.ready()
                    .await
                    .map(|_| ())
                    .map_err(|e| (e, Instant::now()))
            })
        })
        .collect();
    // Let every waiter reach its timer.
    tokio::time::timeout(Duration::from_secs(10), async {
        while handle.metrics().waits < 16 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("all 16 callers wait on the throttle");
    let closed_at = Instant::now();
    handle.close();
    let all = tokio::time::timeout(
        Duration::from_millis(100),
        futures::future::join_all(waiters),
    )
    .await
    .expect("every waiter returned within 100 ms of close");
    for r in all {
        let (err, at) = r
            .expect("task")
            .expect_err("a closed gate never lets a request through");
        assert!(matches!(err, MockError::Throttle(ThrottleError::Closed)));
        assert!(at.duration_since(closed_at) < Duration::from_millis(100));
    }
    // A caller arriving after close is refused at once, and nothing reached the broker.
    let err = svc.ready().await.expect_err("closed");
    assert!(matches!(err, MockError::Throttle(ThrottleError::Closed)));
    assert_eq!(log.calls(), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn c_shorter_throttle_after_a_longer_one_keeps_the_longer_deadline() {
    let log = Log::default();
    let layer = ThrottleLayer::new("broker-1");
    let handle = layer.handle();
    let svc = layer.layer(MockBroker::new(log.clone()));
    let start = Instant::now();
    // Two pipelined requests: the first answer says 1000 ms, the second (1 ms later) 100 ms.
    let mut a = svc.clone();
    let mut b = svc.clone();
    let (ra, rb) = tokio::join!(
        send(
            &mut a,
            &log,
            Req::produce(8, 1000, Duration::from_millis(1))
        ),
        send(&mut b, &log, Req::produce(8, 100, Duration::from_millis(2))),
    );
    ra.expect("a");
    rb.expect("b");
    assert_eq!(Instant::now(), start + Duration::from_millis(2));
    assert_eq!(
        handle.deadline(),
        Some(start + Duration::from_millis(1001)),
        "the 100 ms throttle must not shorten the 1000 ms one"
    );
    let mut c = svc.clone();
    send(&mut c, &log, Req::produce(8, 0, Duration::ZERO))
        .await
        .expect("c");
    assert_eq!(log.call_times()[2], start + Duration::from_millis(1001));
    log.check();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn d_a_throttle_on_broker_1_adds_no_delay_to_broker_2_paused() {
    let log1 = Log::default();
    let log2 = Log::default();
    let svc1 = ThrottleLayer::new("broker-1").layer(MockBroker::new(log1.clone()));
    let svc2 = ThrottleLayer::new("broker-2").layer(MockBroker::new(log2.clone()));
    let mut s1 = svc1.clone();
    send(&mut s1, &log1, Req::produce(8, 3_600_000, Duration::ZERO))
        .await
        .expect("throttling response");
    // A caller now waits on broker 1.
    let waiter = tokio::spawn({
        let mut s1 = svc1.clone();
        let log1 = log1.clone();
        async move { send(&mut s1, &log1, Req::produce(8, 0, Duration::ZERO)).await }
    });
    let start = Instant::now();
    let mut s2 = svc2.clone();
    for _ in 0..100 {
        send(&mut s2, &log2, Req::produce(8, 0, Duration::ZERO))
            .await
            .expect("broker 2");
    }
    // Had anything on broker 2 waited for broker 1's deadline, the paused clock would have
    // jumped by an hour.
    assert_eq!(Instant::now(), start);
    assert_eq!(log2.calls(), 100);
    assert!(!waiter.is_finished());
    assert_eq!(log1.calls(), 1);
    waiter.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_a_throttle_on_broker_1_adds_no_delay_to_broker_2_real_time() {
    let _serial = SERIAL.lock().await;
    let log1 = Log::default();
    let log2 = Log::default();
    let mut s1 = ThrottleLayer::new("broker-1").layer(MockBroker::new(log1.clone()));
    let s2 = ThrottleLayer::new("broker-2").layer(MockBroker::new(log2.clone()));
    send(&mut s1, &log1, Req::produce(8, 3_600_000, Duration::ZERO))
        .await
        .expect("throttling response");
    let start = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let mut s2 = s2.clone();
            let log2 = log2.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    send(&mut s2, &log2, Req::produce(8, 0, Duration::ZERO))
                        .await
                        .expect("broker 2");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(log2.calls(), 400);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn e_pre_kip219_versions_are_not_throttled_twice() {
    let log = Log::default();
    let layer = ThrottleLayer::new("broker-1");
    let handle = layer.handle();
    let mut svc = layer.layer(MockBroker::new(log.clone()));
    // Produce v5: the broker delays the response by the throttle time itself (the mock
    // sleeps 500 ms to do so) and reports 500 ms.
    let start = Instant::now();
    send(
        &mut svc,
        &log,
        Req::produce(5, 500, Duration::from_millis(500)),
    )
    .await
    .expect("v5");
    let answered = Instant::now();
    assert_eq!(answered, start + Duration::from_millis(500));
    send(&mut svc, &log, Req::produce(5, 0, Duration::ZERO))
        .await
        .expect("next");
    assert_eq!(
        log.call_times()[1],
        answered,
        "a v5 throttle must not be waited for again"
    );
    let m = handle.metrics();
    assert_eq!((m.throttled_responses, m.broker_delayed_responses), (1, 1));
    assert_eq!(handle.deadline(), None);

    // The same throttle at v6 (KIP-219): the broker answers at once and the client waits.
    send(&mut svc, &log, Req::produce(6, 500, Duration::ZERO))
        .await
        .expect("v6");
    let answered = Instant::now();
    send(&mut svc, &log, Req::produce(6, 0, Duration::ZERO))
        .await
        .expect("next");
    assert_eq!(log.call_times()[3], answered + Duration::from_millis(500));
    log.check();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_dropped_waiter_cancels_cleanly_and_others_still_go_at_the_deadline() {
    let log = Log::default();
    let layer = ThrottleLayer::new("broker-1");
    let mut svc = layer.layer(MockBroker::new(log.clone()));
    send(&mut svc, &log, Req::produce(8, 1000, Duration::ZERO))
        .await
        .expect("throttle");
    let deadline = Instant::now() + Duration::from_millis(1000);
    // This caller gives up after 100 ms: its request must never reach the broker.
    let mut quitter = svc.clone();
    let gave_up = tokio::time::timeout(
        Duration::from_millis(100),
        send(&mut quitter, &log, Req::produce(8, 0, Duration::ZERO)),
    )
    .await;
    assert!(gave_up.is_err());
    drop(quitter);
    // An aborted task is also a dropped future.
    let aborted = tokio::spawn({
        let mut s = svc.clone();
        let log = log.clone();
        async move { send(&mut s, &log, Req::produce(8, 0, Duration::ZERO)).await }
    });
    tokio::task::yield_now().await;
    aborted.abort();
    assert!(aborted.await.expect_err("aborted").is_cancelled());
    send(&mut svc, &log, Req::produce(8, 0, Duration::ZERO))
        .await
        .expect("patient caller");
    assert_eq!(log.calls(), 2);
    assert_eq!(log.call_times()[1], deadline);
    log.check();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_deadline_raised_while_waiting_extends_the_wait() {
    let log = Log::default();
    let layer = ThrottleLayer::new("broker-1");
    let handle = layer.handle();
    let mut svc = layer.layer(MockBroker::new(log.clone()));
    let start = Instant::now();
    send(&mut svc, &log, Req::produce(8, 100, Duration::ZERO))
        .await
        .expect("throttle");
    let waiter = tokio::spawn({
        let mut s = svc.clone();
        let log = log.clone();
        async move { send(&mut s, &log, Req::produce(8, 0, Duration::ZERO)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // A response learned elsewhere on this connection raises the deadline mid-wait.
    handle.observe(300, false);
    waiter.await.expect("task").expect("waiter");
    assert_eq!(log.call_times()[1], start + Duration::from_millis(350));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn negative_and_missing_throttle_times_do_not_throttle() {
    let log = Log::default();
    let layer = ThrottleLayer::new("broker-1");
    let handle = layer.handle();
    let mut svc = layer.layer(MockBroker::new(log.clone()));
    let start = Instant::now();
    send(&mut svc, &log, Req::produce(8, -5, Duration::ZERO))
        .await
        .expect("negative");
    send(&mut svc, &log, Req::without_throttle_field())
        .await
        .expect("no field");
    send(&mut svc, &log, Req::produce(8, 0, Duration::ZERO))
        .await
        .expect("next");
    assert_eq!(Instant::now(), start);
    assert_eq!(
        handle.metrics().responses,
        2,
        "a response without the field is not counted"
    );
    assert_eq!(handle.metrics().throttled_responses, 0);
}
