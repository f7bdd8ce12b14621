//! A mock broker service and an event log that checks the throttle invariants.

#![allow(dead_code)]

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use klamm_net::throttle::{ThrottleError, ThrottleTime, broker_delays_response};
use klamm_protocol::ApiKey;
use tokio::time::Instant;
use tower::Service;

/// The mock's error type: the throttle layer's error converts into it.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    /// Refused by the throttle layer.
    #[error(transparent)]
    Throttle(#[from] ThrottleError),
}

/// A produce request for the mock: the answer's throttle time and how long the broker takes.
#[derive(Debug, Clone)]
pub struct Req {
    version: i16,
    throttle_ms: Option<i32>,
    latency: Duration,
}

impl Req {
    pub fn produce(version: i16, throttle_ms: i32, latency: Duration) -> Req {
        Req {
            version,
            throttle_ms: Some(throttle_ms),
            latency,
        }
    }

    pub fn without_throttle_field() -> Req {
        Req {
            version: 8,
            throttle_ms: None,
            latency: Duration::ZERO,
        }
    }
}

/// The mock's response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub version: i16,
    pub throttle_ms: Option<i32>,
    pub sent_at: Instant,
}

impl Resp {
    pub fn broker_delayed(&self) -> bool {
        broker_delays_response(ApiKey::Produce, self.version)
    }
}

impl ThrottleTime for Resp {
    fn throttle_time_ms(&self) -> Option<i32> {
        self.throttle_ms
    }
    fn throttled_by_broker(&self) -> bool {
        self.broker_delayed()
    }
}

#[derive(Debug, Clone, Copy)]
enum Event {
    ReadyStart {
        at: Instant,
    },
    ReadyDone {
        start: usize,
        at: Instant,
    },
    Call {
        at: Instant,
    },
    Observed {
        sent_at: Instant,
        at: Instant,
        throttle: Duration,
    },
}

/// What happened, in one total order (the mutex's).
#[derive(Debug, Clone, Default)]
pub struct Log {
    events: Arc<Mutex<Vec<Event>>>,
}

/// The outcome of [`Log::check`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Report {
    /// Requests that had to wait in `poll_ready`.
    pub gated_calls: usize,
    /// The longest time a caller waited past the deadline it had to respect.
    pub max_overshoot: Duration,
    /// Requests that reached the broker.
    pub calls: usize,
}

impl Log {
    fn push(&self, e: Event) -> usize {
        let mut ev = self.events.lock().expect("log");
        ev.push(e);
        ev.len() - 1
    }

    pub fn ready_start(&self) -> usize {
        self.push(Event::ReadyStart { at: Instant::now() })
    }

    pub fn ready_done(&self, start: usize) {
        self.push(Event::ReadyDone {
            start,
            at: Instant::now(),
        });
    }

    pub fn observed(&self, resp: &Resp) {
        let throttle = match resp.throttle_ms {
            Some(ms) if ms > 0 && !resp.broker_delayed() => Duration::from_millis(ms as u64),
            _ => Duration::ZERO,
        };
        self.push(Event::Observed {
            sent_at: resp.sent_at,
            at: Instant::now(),
            throttle,
        });
    }

    fn call(&self) {
        self.push(Event::Call { at: Instant::now() });
    }

    pub fn calls(&self) -> usize {
        self.call_times().len()
    }

    pub fn call_times(&self) -> Vec<Instant> {
        self.events
            .lock()
            .expect("log")
            .iter()
            .filter_map(|e| match e {
                Event::Call { at } => Some(*at),
                _ => None,
            })
            .collect()
    }

    /// Checks, for every request, that:
    /// - it passed the gate no earlier than `sent + throttle` of every throttling response that
    ///   its caller had seen before it began to wait (the broker's own view of the deadline);
    /// - it did not wait past the latest deadline known when it passed (its overshoot is
    ///   reported).
    ///
    /// Panics on a violation with the offending request's position.
    pub fn check(&self) -> Report {
        self.check_inner(false)
    }

    /// As [`check`](Self::check), and also that no request reached the broker before the
    /// deadline of any response observed before that request's `call` (only sound on a
    /// current-thread runtime, where nothing runs between `poll_ready` and `call`).
    pub fn check_strict(&self) -> Report {
        self.check_inner(true)
    }

    fn check_inner(&self, strict: bool) -> Report {
        let ev = self.events.lock().expect("log").clone();
        let mut report = Report::default();
        // Broker-view deadline (sent + throttle) and client-view deadline (observed + throttle),
        // both as maxima over the observations so far.
        let mut broker_deadline: Option<Instant> = None;
        let mut client_deadline: Option<Instant> = None;
        let mut broker_deadline_at_start = vec![None; ev.len()];
        for (i, e) in ev.iter().enumerate() {
            match *e {
                Event::Observed {
                    sent_at,
                    at,
                    throttle,
                } if !throttle.is_zero() => {
                    broker_deadline = broker_deadline.max(Some(sent_at + throttle));
                    client_deadline = client_deadline.max(Some(at + throttle));
                }
                Event::Observed { .. } => {}
                Event::ReadyStart { .. } => broker_deadline_at_start[i] = broker_deadline,
                Event::ReadyDone { start, at } => {
                    let Event::ReadyStart { at: started } = ev[start] else {
                        panic!("event {start} is not a ReadyStart");
                    };
                    if let Some(d) = broker_deadline_at_start[start] {
                        assert!(
                            at >= d,
                            "request {i} passed the gate {:?} before a deadline known when it started waiting",
                            d - at
                        );
                    }
                    if at > started {
                        report.gated_calls += 1;
                    }
                    let allowed = client_deadline.map_or(started, |d| d.max(started));
                    report.max_overshoot = report
                        .max_overshoot
                        .max(at.saturating_duration_since(allowed));
                }
                Event::Call { at } => {
                    report.calls += 1;
                    if strict && let Some(d) = broker_deadline {
                        assert!(at >= d, "request {i} reached the broker {:?} early", d - at);
                    }
                }
            }
        }
        report
    }
}

/// A broker that answers each request after its latency with the requested throttle time.
#[derive(Debug, Clone)]
pub struct MockBroker {
    log: Log,
}

impl MockBroker {
    pub fn new(log: Log) -> Self {
        MockBroker { log }
    }
}

impl Service<Req> for MockBroker {
    type Response = Resp;
    type Error = MockError;
    type Future = Pin<Box<dyn Future<Output = Result<Resp, MockError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), MockError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        self.log.call();
        Box::pin(async move {
            if !req.latency.is_zero() {
                tokio::time::sleep(req.latency).await;
            }
            Ok(Resp {
                version: req.version,
                throttle_ms: req.throttle_ms,
                sent_at: Instant::now(),
            })
        })
    }
}
