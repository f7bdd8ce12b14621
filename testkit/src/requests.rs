//! Requests that tests send to a broker (a testkit cluster, or another one in interop tests),
//! built in one place for the tests of klamm-testkit and of the crates that test against it
//! (klamm-net, klamm-txn).

use bytes::Bytes;
use klamm_protocol::messages::ProduceRequest;
use klamm_protocol::messages::produce::request::{PartitionProduceData, TopicProduceData};

/// A Produce of one record batch (`records`) to `topic`'s `partition` with `acks` and a 5 s
/// timeout, outside any transaction (set `transactional_id` with struct update syntax).
pub fn produce(topic: &str, partition: i32, acks: i16, records: Bytes) -> ProduceRequest {
    ProduceRequest {
        acks,
        timeout_ms: 5_000,
        topic_data: vec![TopicProduceData {
            name: topic.to_owned(),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(records),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_batch_for_one_partition() {
        let r = produce("t", 3, -1, Bytes::from_static(b"batch"));
        assert_eq!(
            (r.acks, r.timeout_ms, r.transactional_id),
            (-1, 5_000, None)
        );
        assert_eq!(r.topic_data.len(), 1);
        assert_eq!(r.topic_data[0].name, "t");
        let p = &r.topic_data[0].partition_data;
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].index, 3);
        assert_eq!(p[0].records.as_deref(), Some(&b"batch"[..]));
    }
}
