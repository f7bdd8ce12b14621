//! Interop with tansu, a Kafka-compatible broker no one here wrote: ApiVersions, CreateTopics,
//! Metadata and Produce through klamm-net.
//!
//! It needs a running tansu (no auto-create, in-memory storage is fine), so it is ignored by
//! default; `cargo xtask integration --broker tansu` starts one, or run it by hand:
//! `KLAMM_TANSU_BOOTSTRAP=127.0.0.1:9092 cargo test -p klamm-net --test tansu -- --ignored`.

use klamm_net::Cluster;
use klamm_protocol::error_code::ErrorCode;
use klamm_protocol::messages::create_topics::request::CreatableTopic;
use klamm_protocol::messages::{ApiVersionsRequest, CreateTopicsRequest};
use klamm_testkit::requests;

#[tokio::test]
#[ignore = "needs a tansu broker: set KLAMM_TANSU_BOOTSTRAP (cargo xtask integration --broker tansu)"]
async fn api_versions_create_topics_metadata_and_produce_against_tansu() {
    let bootstrap = std::env::var("KLAMM_TANSU_BOOTSTRAP")
        .expect("KLAMM_TANSU_BOOTSTRAP must name a running tansu broker");
    let cluster = Cluster::builder()
        .bootstrap(&bootstrap)
        .allow_auto_topic_creation(false)
        .connect()
        .await
        .expect("connect to tansu");
    let any = cluster.any_broker().await.expect("a broker");
    any.send(ApiVersionsRequest::default())
        .await
        .expect("ApiVersions");
    let topic = format!("klamm-net-{}", rand::random::<u32>());
    let created = any
        .send(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: topic.clone(),
                num_partitions: 3,
                replication_factor: 1,
                ..Default::default()
            }],
            timeout_ms: 10_000,
            ..Default::default()
        })
        .await
        .expect("CreateTopics");
    assert_eq!(
        ErrorCode::from_i16(created.topics[0].error_code),
        ErrorCode::None
    );
    let meta = cluster.topic(&topic).await.expect("metadata");
    assert_eq!(meta.partitions.len(), 3);
    for p in 0..3 {
        let records = requests::batch(&["v"; 10], None, false).expect("batch");
        let resp = cluster
            .leader(&topic, p)
            .await
            .expect("leader")
            .send(requests::produce(&topic, p, -1, records))
            .await
            .expect("produce");
        let part = &resp.responses[0].partition_responses[0];
        assert_eq!(
            ErrorCode::from_i16(part.error_code),
            ErrorCode::None,
            "partition {p}"
        );
    }
    cluster.close();
}
