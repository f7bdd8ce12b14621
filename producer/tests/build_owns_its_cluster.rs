//! A producer from `ProducerBuilder::build` owns the cluster it connected and closes it when it
//! closes; one from `build_on` leaves its shared cluster open. `build`'s cluster is private to
//! the producer, so this test reads what the transport reports when the sender closes it (the
//! debug events of `ClusterTransport::close`). In a test binary of its own: tracing caches each
//! callsite's interest process-wide (see `traced/mod.rs`).

mod traced;

use std::sync::{Arc, Mutex};

const OWN_CLOSED: &str = "closing the producer's own cluster";
const SHARED_LEFT_OPEN: &str = "producer closed; the shared cluster stays open";

#[derive(Clone, Default)]
struct Messages(Arc<Mutex<Vec<String>>>);

struct Message<'a>(&'a mut Option<String>);

impl tracing::field::Visit for Message<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            *self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Messages {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut message = None;
        event.record(&mut Message(&mut message));
        if let Some(m) = message {
            self.0.lock().unwrap().push(m);
        }
    }
}

impl Messages {
    fn count(&self, wanted: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|m| *m == wanted)
            .count()
    }
}

#[test]
fn build_closes_its_own_cluster_and_build_on_leaves_a_shared_one_open() {
    let messages = Messages::default();
    traced::on_testkit_traced(messages.clone(), |builder| async move {
        traced::send_one_and_close(builder.clone().build().await.unwrap()).await;
        assert_eq!(messages.count(OWN_CLOSED), 1);
        assert_eq!(messages.count(SHARED_LEFT_OPEN), 0);

        let cluster = builder.connect_cluster().await.unwrap();
        traced::send_one_and_close(builder.build_on(cluster.clone()).unwrap()).await;
        assert_eq!(messages.count(OWN_CLOSED), 1);
        assert_eq!(messages.count(SHARED_LEFT_OPEN), 1);
        assert!(!cluster.is_closed());
        cluster.close();
    });
}
