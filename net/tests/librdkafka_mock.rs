//! Interop with a broker no one here wrote: librdkafka's mock cluster (through the `rdkafka`
//! crate). Its ApiVersions answer to v3 is the malformed UNSUPPORTED_VERSION case the
//! connection must survive by reading only the error code.

use std::time::Duration;

use klamm_net::{Cluster, ConnectionConfig};
use klamm_protocol::ApiKey;
use klamm_protocol::error_code::ErrorCode;
use klamm_protocol::messages::{ApiVersionsRequest, MetadataRequest};
use klamm_testkit::requests;
use rdkafka::mocking::MockCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_versions_metadata_and_produce_against_the_librdkafka_mock() {
    let mock = MockCluster::new(3).expect("mock cluster");
    mock.create_topic("interop", 3, 1).expect("topic");
    let bootstrap = mock.bootstrap_servers();

    let cluster = Cluster::builder()
        .bootstrap(&bootstrap)
        .connection(
            ConnectionConfig::builder()
                .request_timeout(Duration::from_secs(10))
                .build()
                .expect("config"),
        )
        .connect()
        .await
        .expect("connect to the mock");
    assert_eq!(cluster.metadata().brokers.len(), 3);
    let topic = cluster.topic("interop").await.expect("topic");
    assert_eq!(topic.partitions.len(), 3);

    for p in 0..3 {
        let leader = cluster.leader("interop", p).await.expect("leader");
        let conn = leader.connection();
        assert!(conn.api_versions().broker_range(ApiKey::Produce).is_some());
        // ApiVersions and Metadata at the negotiated versions decode.
        conn.send(ApiVersionsRequest::default())
            .await
            .expect("ApiVersions");
        conn.send(MetadataRequest::default())
            .await
            .expect("Metadata");

        let records = requests::batch(&["value"; 10], None, false).expect("batch");
        let resp = leader
            .send(requests::produce("interop", p, -1, records))
            .await
            .expect("produce");
        let part = &resp.responses[0].partition_responses[0];
        assert_eq!(
            ErrorCode::from_i16(part.error_code),
            ErrorCode::None,
            "partition {p}"
        );
        assert_eq!(part.base_offset, 0, "partition {p}");
    }
    cluster.close();
}
