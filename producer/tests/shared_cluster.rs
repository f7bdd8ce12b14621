//! Who closes the klamm-net cluster: a producer built on a shared cluster (`build_on`,
//! `ClusterTransport::shared`) leaves it open when it closes; a producer that owns its cluster
//! (`build`, `ClusterTransport::owned`) closes it. Against klamm-testkit over TCP.

use std::sync::Arc;
use std::time::Duration;

use klamm_producer::sender::ClusterTransport;
use klamm_producer::{Producer, ProducerBuilder, ProducerError, ProducerRecord};
use klamm_testkit::Cluster;

const WAIT: Duration = Duration::from_secs(10);

async fn testkit() -> Cluster {
    Cluster::builder()
        .brokers(3)
        .topic("t", 3)
        .start()
        .await
        .expect("testkit starts")
}

fn builder(kit: &Cluster, client_id: &str) -> ProducerBuilder {
    Producer::builder()
        .bootstrap(kit.bootstrap().split(','))
        .client_id(client_id)
        .linger(Duration::from_millis(1))
        .request_timeout(Duration::from_secs(5))
        .delivery_timeout(Duration::from_secs(10))
}

/// Sends `n` records to every partition of "t" and waits for their acknowledgements.
async fn produce(p: &Producer, n: usize) -> Result<(), ProducerError> {
    let mut futures = Vec::new();
    for i in 0..n {
        let r = ProducerRecord::new("t")
            .partition(i32::try_from(i % 3).expect("small"))
            .value(format!("v{i}"));
        futures.push(p.send(r).await?);
    }
    for f in futures {
        tokio::time::timeout(WAIT, f)
            .await
            .expect("an acknowledgement in time")?;
    }
    Ok(())
}

/// Records the testkit holds in partitions 0..3 of "t".
fn records_in_t(kit: &Cluster) -> i64 {
    (0..3)
        .map(|p| kit.offsets("t", p).map_or(0, |(_, high)| high))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_one_producer_on_a_shared_cluster_leaves_the_other_producing() {
    let kit = testkit().await;
    let cluster = builder(&kit, "first")
        .connect_cluster()
        .await
        .expect("connects");
    let first = builder(&kit, "first")
        .build_on(cluster.clone())
        .expect("first");
    let second = builder(&kit, "second")
        .build_on(cluster.clone())
        .expect("second");
    produce(&first, 30).await.expect("first delivers");
    produce(&second, 30).await.expect("second delivers");

    first.close(WAIT).await.expect("first closes");
    assert!(
        !cluster.is_closed(),
        "closing a producer built on a shared cluster closed the cluster"
    );
    assert!(matches!(
        first.send(ProducerRecord::new("t").value("late")).await,
        Err(ProducerError::Closed { .. })
    ));
    produce(&second, 30)
        .await
        .expect("second still delivers after the first closed");
    assert_eq!(records_in_t(&kit), 90);

    second.close(WAIT).await.expect("second closes");
    assert!(!cluster.is_closed(), "the last shared producer closed it");
    // The cluster is still usable by its owner, who closes it.
    cluster.refresh_metadata().await.expect("metadata");
    cluster.close();
    assert!(cluster.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owned_transport_closes_its_cluster_and_a_shared_one_does_not() {
    let kit = testkit().await;
    let config = builder(&kit, "owner").config().expect("valid settings");
    for owned in [false, true] {
        let cluster = builder(&kit, "owner")
            .connect_cluster()
            .await
            .expect("connects");
        let transport = if owned {
            ClusterTransport::owned(cluster.clone())
        } else {
            ClusterTransport::shared(cluster.clone())
        };
        assert_eq!(transport.owns_cluster(), owned);
        let p = Producer::with_transport(config.clone(), Arc::new(transport));
        produce(&p, 9).await.expect("delivers");
        assert!(!cluster.is_closed(), "closed before the producer closed");
        p.close(WAIT).await.expect("closes");
        assert_eq!(cluster.is_closed(), owned, "owned = {owned}");
        cluster.close();
    }
    assert_eq!(records_in_t(&kit), 18);
}
