//! Every served version of every API is answered: normally, with an injected error and with an
//! injected throttle, so that no handler sets a field its version cannot carry.

mod common;

use common::{Client, batch};
use klamm_protocol::messages::add_partitions_to_txn::request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use klamm_protocol::messages::create_topics::request::CreatableTopic;
use klamm_protocol::messages::fetch::request::{FetchPartition, FetchTopic};
use klamm_protocol::messages::list_offsets::request::{ListOffsetsPartition, ListOffsetsTopic};
use klamm_protocol::messages::metadata::request::MetadataRequestTopic;
use klamm_protocol::messages::offset_fetch::request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use klamm_protocol::messages::produce::request::{PartitionProduceData, TopicProduceData};
use klamm_protocol::messages::txn_offset_commit::request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use klamm_protocol::messages::*;
use klamm_protocol::{ApiKey, Request, Uuid};
use klamm_testkit::{Cluster, Fault, FaultAction};

/// Both partitions of "t": partition 0 is led by node 0 (where the client is), 1 by node 1.
const PARTS: [i32; 2] = [0, 1];

async fn each_way<R: Request>(cluster: &Cluster, c: &mut Client, req: &R, v: i16) {
    for mode in 0..3 {
        let fault = match mode {
            1 => Some(cluster.inject(Fault::new(R::API_KEY, FaultAction::Error(7)))),
            2 => Some(cluster.inject(Fault::new(R::API_KEY, FaultAction::Throttle(1)))),
            _ => None,
        };
        let answered = c.try_call(req, v).await.is_some();
        if let Some(f) = fault {
            cluster.remove_fault(f);
        }
        assert!(
            answered,
            "{:?} v{v} mode {mode}: connection closed",
            R::API_KEY
        );
    }
}

fn served(api: ApiKey) -> std::ops::RangeInclusive<i16> {
    let (min, max) = match api {
        ApiKey::Produce => (3, 12),
        ApiKey::Fetch => (4, 16),
        ApiKey::ListOffsets => (1, 9),
        ApiKey::Metadata => (0, 12),
        ApiKey::OffsetFetch => (1, 9),
        ApiKey::FindCoordinator => (0, 6),
        ApiKey::ApiVersions => (0, 4),
        ApiKey::CreateTopics => (2, 7),
        ApiKey::InitProducerId => (0, 5),
        ApiKey::AddPartitionsToTxn => (0, 5),
        ApiKey::AddOffsetsToTxn | ApiKey::TxnOffsetCommit => (0, 4),
        ApiKey::EndTxn => (0, 5),
        ApiKey::SaslAuthenticate => (0, 2),
        ApiKey::SaslHandshake => (1, 1),
        ApiKey::DescribeProducers => (0, 0),
        ApiKey::DescribeClientQuotas | ApiKey::AlterClientQuotas => (0, 1),
        _ => (1, 0),
    };
    min..=max
}

#[tokio::test]
async fn every_served_version_answers() {
    let cluster = Cluster::builder()
        .brokers(2)
        .topic("t", 2)
        .start()
        .await
        .unwrap();
    assert_eq!(cluster.leader("t", 0), Some(0));
    let topic_id = cluster.with_state(|s| s.topics["t"].id);
    let mut c = Client::connect(cluster.brokers()[0].1).await;

    for v in served(ApiKey::ApiVersions) {
        each_way(&cluster, &mut c, &ApiVersionsRequest::default(), v).await;
    }
    for v in served(ApiKey::Metadata) {
        let req = MetadataRequest {
            topics: Some(vec![
                MetadataRequestTopic {
                    name: Some("t".into()),
                    ..Default::default()
                },
                MetadataRequestTopic {
                    name: Some(format!("auto-{v}")),
                    ..Default::default()
                },
            ]),
            allow_auto_topic_creation: true,
            ..Default::default()
        };
        each_way(&cluster, &mut c, &req, v).await;
    }
    for v in served(ApiKey::CreateTopics) {
        let req = CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: format!("c-{v}"),
                num_partitions: 1,
                replication_factor: 1,
                ..Default::default()
            }],
            timeout_ms: 1000,
            ..Default::default()
        };
        each_way(&cluster, &mut c, &req, v).await;
    }
    for v in served(ApiKey::Produce) {
        let req = ProduceRequest {
            acks: -1,
            timeout_ms: 1000,
            topic_data: vec![TopicProduceData {
                name: "t".into(),
                partition_data: PARTS
                    .iter()
                    .map(|p| PartitionProduceData {
                        index: *p,
                        records: Some(batch(&["v"], None, false)),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        };
        each_way(&cluster, &mut c, &req, v).await;
    }
    for v in served(ApiKey::Fetch) {
        let req = FetchRequest {
            replica_id: -1,
            max_bytes: 1 << 20,
            isolation_level: (v % 2) as i8,
            session_epoch: -1,
            topics: vec![FetchTopic {
                topic: if v < 13 { "t".into() } else { String::new() },
                topic_id: if v >= 13 { Uuid(topic_id) } else { Uuid::ZERO },
                partitions: PARTS
                    .iter()
                    .map(|p| FetchPartition {
                        partition: *p,
                        current_leader_epoch: -1,
                        partition_max_bytes: 1 << 20,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        };
        each_way(&cluster, &mut c, &req, v).await;
    }
    for v in served(ApiKey::ListOffsets) {
        let req = ListOffsetsRequest {
            replica_id: -1,
            topics: vec![ListOffsetsTopic {
                name: "t".into(),
                partitions: PARTS
                    .iter()
                    .map(|p| ListOffsetsPartition {
                        partition_index: *p,
                        current_leader_epoch: -1,
                        timestamp: -1,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        };
        each_way(&cluster, &mut c, &req, v).await;
    }
    for v in served(ApiKey::OffsetFetch) {
        let req = if v < 8 {
            OffsetFetchRequest {
                group_id: "g".into(),
                topics: Some(vec![OffsetFetchRequestTopic {
                    name: "t".into(),
                    partition_indexes: vec![0],
                    ..Default::default()
                }]),
                ..Default::default()
            }
        } else {
            OffsetFetchRequest {
                groups: vec![OffsetFetchRequestGroup {
                    group_id: "g".into(),
                    topics: Some(vec![OffsetFetchRequestTopics {
                        name: "t".into(),
                        partition_indexes: vec![0],
                        ..Default::default()
                    }]),
                    ..Default::default()
                }],
                ..Default::default()
            }
        };
        each_way(&cluster, &mut c, &req, v).await;
    }
    for v in served(ApiKey::FindCoordinator) {
        let req = if v < 4 {
            FindCoordinatorRequest {
                key: "g".into(),
                key_type: 0,
                ..Default::default()
            }
        } else {
            FindCoordinatorRequest {
                key_type: 1,
                coordinator_keys: vec!["a".into(), "b".into()],
                ..Default::default()
            }
        };
        each_way(&cluster, &mut c, &req, v).await;
    }
    for v in served(ApiKey::InitProducerId) {
        let req = InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: 1000,
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        };
        each_way(&cluster, &mut c, &req, v).await;
    }
    for v in served(ApiKey::AddPartitionsToTxn) {
        let topics = vec![AddPartitionsToTxnTopic {
            name: "t".into(),
            partitions: vec![0, 1],
            ..Default::default()
        }];
        let req = if v < 4 {
            AddPartitionsToTxnRequest {
                v3_and_below_transactional_id: "x".into(),
                v3_and_below_producer_id: 1,
                v3_and_below_topics: topics,
                ..Default::default()
            }
        } else {
            AddPartitionsToTxnRequest {
                transactions: vec![AddPartitionsToTxnTransaction {
                    transactional_id: "x".into(),
                    producer_id: 1,
                    topics,
                    ..Default::default()
                }],
                ..Default::default()
            }
        };
        each_way(&cluster, &mut c, &req, v).await;
    }
    for v in served(ApiKey::AddOffsetsToTxn) {
        let req = AddOffsetsToTxnRequest {
            transactional_id: "x".into(),
            producer_id: 1,
            group_id: "g".into(),
            ..Default::default()
        };
        each_way(&cluster, &mut c, &req, v).await;
    }
    for v in served(ApiKey::TxnOffsetCommit) {
        let req = TxnOffsetCommitRequest {
            transactional_id: "x".into(),
            group_id: "g".into(),
            producer_id: 1,
            generation_id: -1,
            topics: vec![TxnOffsetCommitRequestTopic {
                name: "t".into(),
                partitions: vec![TxnOffsetCommitRequestPartition {
                    partition_index: 0,
                    committed_offset: 1,
                    committed_leader_epoch: -1,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        each_way(&cluster, &mut c, &req, v).await;
    }
    for v in served(ApiKey::EndTxn) {
        let req = EndTxnRequest {
            transactional_id: "x".into(),
            producer_id: 1,
            committed: true,
            ..Default::default()
        };
        each_way(&cluster, &mut c, &req, v).await;
    }
    for v in served(ApiKey::SaslHandshake) {
        each_way(
            &cluster,
            &mut c,
            &SaslHandshakeRequest {
                mechanism: "PLAIN".into(),
            },
            v,
        )
        .await;
    }
    for v in served(ApiKey::SaslAuthenticate) {
        each_way(&cluster, &mut c, &SaslAuthenticateRequest::default(), v).await;
    }
    for v in served(ApiKey::DescribeProducers) {
        use klamm_protocol::messages::describe_producers::request::TopicRequest;
        let req = DescribeProducersRequest {
            topics: vec![TopicRequest {
                name: "t".into(),
                partition_indexes: vec![0, 1],
                ..Default::default()
            }],
            ..Default::default()
        };
        each_way(&cluster, &mut c, &req, v).await;
    }
    for v in served(ApiKey::DescribeClientQuotas) {
        use klamm_protocol::messages::describe_client_quotas::request::ComponentData;
        let req = DescribeClientQuotasRequest {
            components: vec![ComponentData {
                entity_type: "client-id".into(),
                match_type: 2,
                ..Default::default()
            }],
            ..Default::default()
        };
        each_way(&cluster, &mut c, &req, v).await;
    }
    for v in served(ApiKey::AlterClientQuotas) {
        use klamm_protocol::messages::alter_client_quotas::request::{
            EntityData, EntryData, OpData,
        };
        let req = AlterClientQuotasRequest {
            entries: vec![EntryData {
                entity: vec![EntityData {
                    entity_type: "client-id".into(),
                    entity_name: Some(format!("c-{v}")),
                    ..Default::default()
                }],
                ops: vec![OpData {
                    key: "request_percentage".into(),
                    value: 50.0,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        each_way(&cluster, &mut c, &req, v).await;
    }
    assert_eq!(cluster.malformed_requests(), 0);
}
