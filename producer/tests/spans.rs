//! Observability: the spans the producer opens. In a test binary of its own (see
//! `traced/mod.rs`).

mod traced;

use std::sync::{Arc, Mutex};

/// The sender task runs in a span naming the client (and transactional) id, and every Produce
/// request gets a span of its own (DESIGN.md, observability).
#[test]
fn the_sender_and_each_produce_request_have_spans() {
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
    traced::on_testkit_traced(names.clone(), |builder| async move {
        traced::send_one_and_close(builder.build().await.unwrap()).await;
    });
    let names = names.0.lock().unwrap().clone();
    assert!(
        names.iter().any(|n| n == "klamm_producer_sender"),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n == "produce_request"), "{names:?}");
}
