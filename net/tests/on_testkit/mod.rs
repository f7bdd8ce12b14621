//! What the tests against klamm-testkit share: a testkit cluster and a klamm-net cluster
//! connected to it.

use klamm_net::Cluster;

/// Starts the testkit `kit` describes and connects a klamm-net cluster (lane 0) to it.
pub async fn start(kit: klamm_testkit::ClusterBuilder) -> (klamm_testkit::Cluster, Cluster) {
    let kit = kit.start().await.expect("testkit");
    let cluster = Cluster::builder()
        .bootstrap(kit.bootstrap())
        .connect()
        .await
        .expect("cluster");
    (kit, cluster)
}
