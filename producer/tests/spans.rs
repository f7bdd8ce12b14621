//! Observability: the spans the producer opens. In a test binary of its own: tracing caches
//! each callsite's interest process-wide, so spans created on other test threads before this
//! test's subscriber exists could hide them from it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use klamm_producer::{Producer, ProducerRecord};
use klamm_testkit::Cluster;

/// The sender task runs in a span naming the client (and transactional) id, and every Produce
/// request gets a span of its own (DESIGN.md, observability).
#[test]
fn the_sender_and_each_produce_request_have_spans() {
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Names(Arc<Mutex<Vec<String>>>);
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Names {
        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            _: &tracing::span::Id,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            self.0
                .lock()
                .unwrap()
                .push(attrs.metadata().name().to_string());
        }
    }
    let names = Names::default();
    let subscriber = tracing_subscriber::registry()
        .with(names.clone())
        .with(tracing_subscriber::filter::LevelFilter::DEBUG);
    let _guard = tracing::subscriber::set_default(subscriber);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cluster = Cluster::builder()
            .brokers(1)
            .topic("t", 1)
            .start()
            .await
            .expect("testkit starts");
        let p = Producer::builder()
            .bootstrap([cluster.bootstrap()])
            .linger(Duration::from_millis(1))
            .build()
            .await
            .unwrap();
        let f = p
            .send(ProducerRecord::new("t").partition(0).value("v"))
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), f)
            .await
            .unwrap()
            .unwrap();
        p.close(Duration::from_secs(5)).await.unwrap();
    });
    let names = names.0.lock().unwrap().clone();
    assert!(
        names.iter().any(|n| n == "klamm_producer_sender"),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n == "produce_request"), "{names:?}");
}
