//! A producer from `ProducerBuilder::build` owns the cluster it connected and closes it when it
//! closes; one from `build_on` leaves its shared cluster open. `build`'s cluster is private to
//! the producer, so this test reads what the transport reports when the sender closes it (the
//! debug events of `ClusterTransport::close`). In a test binary of its own: tracing caches each
//! callsite's interest process-wide (see spans.rs).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use klamm_producer::{Producer, ProducerRecord};
use klamm_testkit::Cluster;

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
    use tracing_subscriber::layer::SubscriberExt;

    let messages = Messages::default();
    let subscriber = tracing_subscriber::registry()
        .with(messages.clone())
        .with(tracing_subscriber::filter::LevelFilter::DEBUG);
    let _guard = tracing::subscriber::set_default(subscriber);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let kit = Cluster::builder()
            .brokers(1)
            .topic("t", 1)
            .start()
            .await
            .expect("testkit starts");
        let builder = Producer::builder()
            .bootstrap([kit.bootstrap()])
            .linger(Duration::from_millis(1));
        let send_one = |p: Producer| async move {
            let f = p
                .send(ProducerRecord::new("t").partition(0).value("v"))
                .await
                .unwrap();
            tokio::time::timeout(Duration::from_secs(5), f)
                .await
                .unwrap()
                .unwrap();
            p.close(Duration::from_secs(5)).await.unwrap();
        };

        send_one(builder.clone().build().await.unwrap()).await;
        assert_eq!(messages.count(OWN_CLOSED), 1);
        assert_eq!(messages.count(SHARED_LEFT_OPEN), 0);

        let cluster = builder.connect_cluster().await.unwrap();
        send_one(builder.build_on(cluster.clone()).unwrap()).await;
        assert_eq!(messages.count(OWN_CLOSED), 1);
        assert_eq!(messages.count(SHARED_LEFT_OPEN), 1);
        assert!(!cluster.is_closed());
        cluster.close();
    });
}
