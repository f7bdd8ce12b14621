//! What the tracing tests share: a one-broker testkit on a current-thread runtime whose thread
//! has a recording layer as its subscriber, and one record sent through a producer. Each test
//! using it stays in a binary of its own: tracing caches each callsite's interest
//! process-wide, so spans and events created on other test threads before this subscriber
//! exists could hide them from it.

use std::time::Duration;

use klamm_producer::{Producer, ProducerBuilder, ProducerRecord};
use klamm_testkit::Cluster;
use tracing_subscriber::layer::SubscriberExt;

/// Runs `body` with a builder bootstrapped to a one-broker testkit (topic "t", one partition),
/// on a current-thread runtime (so every span and event stays on this thread), with `layer`
/// recording what is at DEBUG or above.
pub fn on_testkit_traced<L, F, Fut>(layer: L, body: F)
where
    L: tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync + 'static,
    F: FnOnce(ProducerBuilder) -> Fut,
    Fut: Future<Output = ()>,
{
    let subscriber = tracing_subscriber::registry()
        .with(layer)
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
        body(builder).await;
    });
}

/// Sends one record to "t"-0 through `p`, waits for its acknowledgement, and closes `p`.
pub async fn send_one_and_close(p: Producer) {
    let f = p
        .send(ProducerRecord::new("t").partition(0).value("v"))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), f)
        .await
        .unwrap()
        .unwrap();
    p.close(Duration::from_secs(5)).await.unwrap();
}
