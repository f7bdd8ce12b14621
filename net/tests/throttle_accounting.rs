//! The throttle layer's own count of what it sent around a throttle (issue 16's client-side
//! check): requests in flight when a throttled response arrives are *pipelined*, a request
//! admitted just before a throttle arrived is counted apart, and a request handed to the
//! connection past a deadline it had been told of is a *violation* — which only a caller that
//! breaks tower's readiness contract can provoke, as the last test does to show the count
//! works.

use std::time::Duration;

use klamm_net::throttle::{ThrottleLayer, ThrottleTime};
use tower::{Layer, Service, ServiceExt};

struct Resp(i32);

impl ThrottleTime for Resp {
    fn throttle_time_ms(&self) -> Option<i32> {
        Some(self.0)
    }
}

/// A broker that answers `(throttle_ms, delay)` after `delay`.
fn broker() -> impl Service<
    (i32, Duration),
    Response = Resp,
    Error = tower::BoxError,
    Future = impl Future<Output = Result<Resp, tower::BoxError>> + Send,
> + Clone {
    tower::service_fn(|(ms, delay): (i32, Duration)| async move {
        tokio::time::sleep(delay).await;
        Ok::<_, tower::BoxError>(Resp(ms))
    })
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn requests_in_flight_when_a_throttle_arrives_are_pipelined() {
    let layer = ThrottleLayer::new("broker-1");
    let handle = layer.handle();
    let mut svc = layer.layer(broker());
    // Three requests written back to back; the first answer brings a throttle.
    let a = svc
        .ready()
        .await
        .unwrap()
        .call((100, Duration::from_millis(10)));
    let b = svc
        .ready()
        .await
        .unwrap()
        .call((0, Duration::from_millis(20)));
    let c = svc
        .ready()
        .await
        .unwrap()
        .call((0, Duration::from_millis(30)));
    let (a, b, c) = tokio::join!(a, b, c);
    assert!(a.is_ok() && b.is_ok() && c.is_ok());
    // The next request waits for the deadline.
    let start = tokio::time::Instant::now();
    svc.ready()
        .await
        .unwrap()
        .call((0, Duration::ZERO))
        .await
        .unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(70),
        "{:?}",
        start.elapsed()
    );
    let m = handle.metrics();
    assert_eq!(m.throttled_responses, 1);
    assert_eq!(
        m.pipelined, 2,
        "b and c were in flight when a's throttle arrived"
    );
    assert_eq!(m.sent_before_deadline, 0);
    assert_eq!(m.admitted_before_throttle, 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_throttle_between_ready_and_call_is_counted_apart() {
    let layer = ThrottleLayer::new("broker-1");
    let handle = layer.handle();
    let mut svc = layer.layer(broker());
    svc.ready().await.unwrap();
    // Another caller's response brings a throttle after this caller was admitted.
    handle.observe(100, false);
    svc.call((0, Duration::ZERO)).await.unwrap();
    let m = handle.metrics();
    assert_eq!(m.admitted_before_throttle, 1);
    assert_eq!(m.sent_before_deadline, 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_call_past_a_known_deadline_is_a_counted_violation() {
    let layer = ThrottleLayer::new("broker-1");
    let handle = layer.handle();
    let mut svc = layer.layer(broker());
    handle.observe(100, false);
    // Breaking tower's contract (call without poll_ready) is the only way past the gate.
    svc.call((0, Duration::ZERO)).await.unwrap();
    assert_eq!(handle.metrics().sent_before_deadline, 1);
    // Asking first waits out the deadline, and is no violation.
    svc.ready()
        .await
        .unwrap()
        .call((0, Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(handle.metrics().sent_before_deadline, 1);
}
