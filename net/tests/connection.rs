//! BrokerConnection against scripted fake brokers: pipelining, cancellation, version
//! negotiation, acks=0, and bad input (oversized, garbage, wrong correlation id, truncated).

mod fake;

use std::time::Duration;

use fake::{Action, FakeBroker, Options, Seen, response};
use klamm_net::throttle::ThrottleHandle;
use klamm_net::{BrokerConnection, ConnectionConfig, Error};
use klamm_protocol::messages::metadata::request::MetadataRequestTopic;
use klamm_protocol::messages::metadata::response::MetadataResponseTopic;
use klamm_protocol::messages::produce::request::{PartitionProduceData, TopicProduceData};
use klamm_protocol::messages::{MetadataRequest, MetadataResponse, ProduceRequest};
use klamm_protocol::{ApiKey, DecodeError, Message};

fn topic_request(name: &str) -> MetadataRequest {
    MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            name: Some(name.to_owned()),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

/// Answers a Metadata request with the topic names it asked for.
fn echo(s: &Seen) -> Vec<u8> {
    let v = s.header.request_api_version;
    let req = MetadataRequest::decode(&s.body, v).expect("valid Metadata request");
    let resp = MetadataResponse {
        topics: req
            .topics
            .unwrap_or_default()
            .into_iter()
            .map(|t| MetadataResponseTopic {
                name: t.name,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    response(s.header.correlation_id, &resp, v)
}

fn echoed_name(r: &MetadataResponse) -> Option<&str> {
    r.topics.first().and_then(|t| t.name.as_deref())
}

/// Sends a Metadata request for `name` on `conn` and asserts that the answer (expected, for
/// the reason `why`) echoes it.
async fn assert_echoed(conn: &BrokerConnection, name: &str, why: &str) {
    let r = conn.send(topic_request(name)).await.expect(why);
    assert_eq!(echoed_name(&r), Some(name), "{why}");
}

/// A connection (5 in flight) to `b` that reports to a throttle handle, and the handle.
async fn connect_throttled(b: &FakeBroker) -> (BrokerConnection, ThrottleHandle) {
    let handle = klamm_net::throttle::ThrottleLayer::new("fake").handle();
    let conn = BrokerConnection::connect_with_throttle(&b.addr, &config(5), Some(handle.clone()))
        .await
        .expect("connect");
    (conn, handle)
}

fn config(max_in_flight: usize) -> ConnectionConfig {
    ConnectionConfig::builder()
        .max_in_flight(max_in_flight)
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("config")
}

async fn connect(b: &FakeBroker, max_in_flight: usize) -> BrokerConnection {
    BrokerConnection::connect(&b.addr, &config(max_in_flight))
        .await
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_requests_on_one_connection_are_all_matched() {
    let broker = FakeBroker::start(|s| Action::Write(echo(s))).await;
    let conn = connect(&broker, 10_000).await;
    let tasks: Vec<_> = (0..10_000)
        .map(|i| {
            let conn = conn.clone();
            tokio::spawn(async move {
                let name = format!("topic-{i}");
                let resp = conn.send(topic_request(&name)).await.expect("response");
                assert_eq!(echoed_name(&resp), Some(name.as_str()));
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    // ApiVersions + 10,000 Metadata requests, every correlation id distinct.
    let seen = broker.seen();
    assert_eq!(seen.len(), 10_001);
    let mut ids: Vec<i32> = seen.iter().map(|s| s.header.correlation_id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 10_001);
    assert!(!conn.is_closed());
}

#[tokio::test]
async fn through_tower_with_a_small_in_flight_limit() {
    use tower::ServiceExt;
    let broker = FakeBroker::start(|s| Action::Write(echo(s))).await;
    let conn = connect(&broker, 2).await;
    let futs = (0..50).map(|i| {
        let svc = conn.clone();
        async move {
            let name = format!("t{i}");
            let r = svc.oneshot(topic_request(&name)).await.expect("response");
            assert_eq!(echoed_name(&r), Some(name.as_str()));
        }
    });
    futures::future::join_all(futs).await;
    assert_eq!(conn.in_flight(), 0);
}

#[tokio::test]
async fn dropped_callers_never_desynchronise_the_connection() {
    // The broker answers each request 1 ms late, so callers can give up while in flight.
    let broker = FakeBroker::start(|s| Action::Later(Duration::from_millis(1), echo(s))).await;
    let conn = connect(&broker, 64).await;
    let mut kept = Vec::new();
    for i in 0..40 {
        let name = format!("t{i}");
        if i % 2 == 0 {
            // Poll it once so the request is on the wire, then drop it.
            let fut = conn.send(topic_request(&name));
            let _ = tokio::time::timeout(Duration::from_micros(1), fut).await;
        } else {
            let c = conn.clone();
            let req = topic_request(&name);
            kept.push((name, tokio::spawn(async move { c.send(req).await })));
        }
    }
    for (name, h) in kept {
        let r = h.await.expect("task").expect("response");
        assert_eq!(echoed_name(&r), Some(name.as_str()));
    }
    assert_echoed(&conn, "after", "after").await;
    // ApiVersions, the 40 requests (dropped ones included: they were on the wire) and "after".
    assert_eq!(broker.seen().len(), 42);
}

#[tokio::test]
async fn each_request_goes_at_the_highest_common_version_and_missing_apis_are_clear_errors() {
    let opts = Options {
        apis: vec![(ApiKey::ApiVersions, 0, 3), (ApiKey::Metadata, 0, 5)],
        ..Options::default()
    };
    let broker = FakeBroker::start_with(opts, |s| Action::Write(echo(s))).await;
    let conn = connect(&broker, 5).await;
    let r = conn.send(topic_request("x")).await.expect("metadata");
    assert_eq!(r.version, 5);
    let seen = broker.seen();
    assert_eq!(
        seen[0].header.request_api_version, 3,
        "ApiVersions v3 first"
    );
    assert_eq!(seen[1].header.request_api_version, 5);
    let err = conn
        .send(ProduceRequest::default())
        .await
        .expect_err("no Produce");
    assert!(
        matches!(
            err,
            Error::UnsupportedApi {
                api: ApiKey::Produce,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.is_retriable());
}

#[tokio::test]
async fn api_versions_falls_back_to_v0_reading_only_the_error_code() {
    let opts = Options {
        old_api_versions: true,
        ..Options::default()
    };
    let broker = FakeBroker::start_with(opts, |s| Action::Write(echo(s))).await;
    let conn = connect(&broker, 5).await;
    let versions: Vec<i16> = broker
        .seen()
        .iter()
        .map(|s| s.header.request_api_version)
        .collect();
    assert_eq!(versions, vec![3, 0]);
    assert!(conn.api_versions().broker_range(ApiKey::Produce).is_some());
    conn.send(topic_request("x"))
        .await
        .expect("usable after fallback");
}

#[tokio::test]
async fn acks_zero_produce_expects_no_response() {
    // The broker never answers produce requests.
    let broker = FakeBroker::start(|s| {
        if s.header.request_api_key == ApiKey::Produce.as_i16() {
            Action::Nothing
        } else {
            Action::Write(echo(s))
        }
    })
    .await;
    let conn = connect(&broker, 5).await;
    let produce = ProduceRequest {
        acks: 0,
        timeout_ms: 1000,
        topic_data: vec![TopicProduceData {
            name: "t".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: None,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    for _ in 0..10 {
        let r = tokio::time::timeout(Duration::from_secs(2), conn.send(produce.clone()))
            .await
            .expect("acks=0 resolves once written")
            .expect("ok");
        assert!(r.responses.is_empty());
    }
    assert_eq!(conn.in_flight(), 0);
    // The next answered request is matched correctly: nothing waits for a produce answer.
    assert_echoed(&conn, "m", "metadata").await;
}

/// Sends one Metadata request to a broker scripted with `bad` and returns the error.
async fn bad_answer(
    bad: impl Fn(&Seen) -> Action + Send + Sync + 'static,
) -> (Error, BrokerConnection) {
    let broker = FakeBroker::start(bad).await;
    let conn = BrokerConnection::connect(
        &broker.addr,
        &ConnectionConfig::builder()
            .max_response_size(64 * 1024)
            .build()
            .expect("config"),
    )
    .await
    .expect("connect");
    let err = tokio::time::timeout(Duration::from_secs(5), conn.send(topic_request("x")))
        .await
        .expect("fails promptly")
        .expect_err("bad answer");
    (err, conn)
}

#[tokio::test]
async fn a_frame_longer_than_max_response_size_closes_the_connection_unread() {
    // Announces 2 GiB - 1 and keeps the socket open: reading it would hang or exhaust memory.
    let (err, conn) = bad_answer(|_| Action::Write(i32::MAX.to_be_bytes().to_vec())).await;
    assert!(
        matches!(
            &err,
            Error::Decode {
                source: DecodeError::FrameTooLarge { max: 65536, .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_retriable());
    assert!(conn.is_closed());
    assert!(conn.send(topic_request("y")).await.is_err());
}

#[tokio::test]
async fn a_wrong_correlation_id_is_a_protocol_error_that_fails_every_pending_request() {
    let broker = FakeBroker::start(|s| {
        let mut seen = s.clone();
        seen.header.correlation_id += 1000;
        Action::Later(Duration::from_millis(2), echo(&seen))
    })
    .await;
    let conn = connect(&broker, 10).await;
    let results =
        futures::future::join_all((0..5).map(|i| conn.send(topic_request(&format!("t{i}"))))).await;
    for r in results {
        let err = r.expect_err("mismatch");
        assert!(matches!(err, Error::CorrelationMismatch { .. }), "{err}");
        assert!(err.is_retriable());
    }
    assert!(conn.is_closed());
}

#[tokio::test]
async fn garbage_bytes_give_typed_errors() {
    use rand::{Rng, SeedableRng};
    for seed in 0..20u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let len = rng.random_range(1..200);
        let garbage: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let (err, conn) = bad_answer(move |_| Action::WriteAndClose(garbage.clone())).await;
        assert!(
            matches!(
                err,
                Error::Decode { .. }
                    | Error::CorrelationMismatch { .. }
                    | Error::Disconnected { .. }
            ),
            "seed {seed}: {err}"
        );
        assert!(err.is_retriable(), "seed {seed}: {err}");
        assert!(conn.is_closed());
    }
}

#[tokio::test]
async fn a_truncated_frame_then_close_fails_retriably_and_a_new_connection_works() {
    let broker = FakeBroker::start(|s| {
        if String::from_utf8_lossy(&s.body).contains("cut") {
            let full = echo(s);
            Action::WriteAndClose(full[..full.len() / 2].to_vec())
        } else {
            Action::Write(echo(s))
        }
    })
    .await;
    let conn = connect(&broker, 5).await;
    let pending = conn.send(topic_request("cut-here"));
    let err = pending.await.expect_err("dropped mid-response");
    match &err {
        Error::Disconnected { reason, .. } => assert!(reason.contains("middle"), "{reason}"),
        other => panic!("{other}"),
    }
    assert!(err.is_retriable());
    let again = connect(&broker, 5).await;
    assert_echoed(&again, "fine", "new connection").await;
}

#[tokio::test]
async fn a_malformed_body_fails_only_its_request() {
    let broker = FakeBroker::start(|s| {
        if String::from_utf8_lossy(&s.body).contains("bad") {
            // A well-framed response whose body is one byte: truncated for Metadata.
            let mut out = 5i32.to_be_bytes().to_vec();
            out.extend_from_slice(&s.header.correlation_id.to_be_bytes());
            out.push(0);
            Action::Write(out)
        } else {
            Action::Write(echo(s))
        }
    })
    .await;
    let conn = connect(&broker, 5).await;
    let err = conn
        .send(topic_request("bad"))
        .await
        .expect_err("malformed");
    assert!(matches!(err, Error::Decode { .. }), "{err}");
    assert_echoed(&conn, "good", "framing intact").await;
}

#[tokio::test]
async fn close_fails_pending_requests_and_refuses_new_ones() {
    let broker = FakeBroker::start(|_| Action::Nothing).await;
    let conn = connect(&broker, 5).await;
    let pending = tokio::spawn({
        let c = conn.clone();
        async move { c.send(topic_request("never")).await }
    });
    tokio::time::timeout(Duration::from_secs(10), async {
        while conn.in_flight() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the request is in flight");
    conn.close();
    let err = pending.await.expect("task").expect_err("closed");
    assert!(matches!(err, Error::Closed), "{err}");
    assert!(matches!(
        conn.send(topic_request("x")).await,
        Err(Error::Closed)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttle_in_a_response_whose_caller_went_away_still_counts() {
    // The broker answers 50 ms late with a 300 ms throttle (Metadata v12: KIP-219 behaviour).
    let broker = FakeBroker::start(|s| {
        let v = s.header.request_api_version;
        let resp = MetadataResponse {
            throttle_time_ms: 300,
            ..Default::default()
        };
        Action::Later(
            Duration::from_millis(50),
            response(s.header.correlation_id, &resp, v),
        )
    })
    .await;
    let (conn, handle) = connect_throttled(&broker).await;
    let gave_up =
        tokio::time::timeout(Duration::from_millis(10), conn.send(topic_request("x"))).await;
    assert!(gave_up.is_err(), "the caller gave up before the answer");
    tokio::time::timeout(Duration::from_secs(5), async {
        while handle.metrics().responses == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the orphaned response was read");
    assert_eq!(handle.metrics().throttle_time_max_ms, 300);
    let remaining = handle.remaining();
    assert!(
        remaining > Duration::from_millis(150) && remaining <= Duration::from_millis(300),
        "{remaining:?}"
    );
    // A caller that stays gets the throttle recorded once, not twice.
    conn.send(topic_request("y")).await.expect("answer");
    assert_eq!(handle.metrics().responses, 2);
}

#[tokio::test]
async fn trailing_bytes_after_a_response_body_are_ignored() {
    // Like the librdkafka mock after a flexible Metadata response: one stray byte.
    let broker = FakeBroker::start(|s| {
        let mut frame = echo(s);
        frame.push(0);
        let len = (frame.len() - 4) as i32;
        frame[..4].copy_from_slice(&len.to_be_bytes());
        Action::Write(frame)
    })
    .await;
    let conn = connect(&broker, 5).await;
    for name in ["a", "b"] {
        assert_echoed(&conn, name, "decoded").await;
    }
}

#[tokio::test]
async fn never_more_than_max_in_flight_requests_on_the_wire() {
    let broker = FakeBroker::start(|_| Action::Nothing).await;
    let conn = connect(&broker, 3).await;
    let callers: Vec<_> = (0..10)
        .map(|i| {
            let c = conn.clone();
            tokio::spawn(async move { c.send(topic_request(&format!("t{i}"))).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // ApiVersions plus exactly three Metadata requests reached the broker.
    assert_eq!(broker.seen().len(), 4);
    assert_eq!(conn.in_flight(), 3);
    conn.close();
    for c in callers {
        assert!(matches!(c.await.expect("task"), Err(Error::Closed)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_dropped_after_its_response_arrived_still_applies_the_throttle() {
    let broker = FakeBroker::start(|s| {
        let resp = MetadataResponse {
            throttle_time_ms: 400,
            ..Default::default()
        };
        // Late enough that the first poll surely finds no answer yet.
        Action::Later(
            Duration::from_millis(30),
            response(s.header.correlation_id, &resp, s.header.request_api_version),
        )
    })
    .await;
    let (conn, handle) = connect_throttled(&broker).await;
    let mut fut = Box::pin(conn.send(topic_request("x")));
    assert!(
        futures::poll!(&mut fut).is_pending(),
        "sent, not answered yet"
    );
    // The answer arrives and waits in the future, which is never polled again.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(handle.metrics().responses, 0);
    drop(fut);
    assert_eq!(handle.metrics().responses, 1);
    assert!(handle.remaining() > Duration::from_millis(150));
    assert_eq!(conn.in_flight(), 0);
}

#[tokio::test]
async fn responses_arriving_in_tiny_pieces_are_reassembled() {
    for piece in [1usize, 3, 7] {
        let broker = FakeBroker::start(move |s| Action::Trickle(piece, echo(s))).await;
        let conn = connect(&broker, 5).await;
        let (a, b) = tokio::join!(
            conn.send(topic_request("first-topic")),
            conn.send(topic_request("second"))
        );
        assert_eq!(
            echoed_name(&a.expect("a")),
            Some("first-topic"),
            "pieces of {piece}"
        );
        assert_eq!(
            echoed_name(&b.expect("b")),
            Some("second"),
            "pieces of {piece}"
        );
    }
}
