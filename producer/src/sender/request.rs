//! Building one Produce request per broker from drained batches.

use std::sync::Arc;

use klamm_protocol::messages::produce::ProduceRequest;
use klamm_protocol::messages::produce::request::{PartitionProduceData, TopicProduceData};

use crate::accumulator::ProducerBatch;

/// A Produce request for `batches` (at most one per partition, as Kafka requires for record
/// batch v2), grouped by topic in the order the batches come. The batch bytes are shared
/// (`Bytes` clones), not copied.
pub fn produce_request(
    batches: &[ProducerBatch],
    acks: i16,
    timeout_ms: i32,
    transactional_id: Option<&str>,
) -> ProduceRequest {
    let mut topics: Vec<(Arc<str>, Vec<PartitionProduceData>)> = Vec::new();
    for batch in batches {
        let tp = batch.topic_partition();
        let data = PartitionProduceData {
            index: tp.partition,
            records: batch.wire_bytes(),
            ..Default::default()
        };
        match topics.iter_mut().find(|(name, _)| *name == tp.topic) {
            Some((_, partitions)) => partitions.push(data),
            None => topics.push((Arc::clone(&tp.topic), vec![data])),
        }
    }
    ProduceRequest {
        transactional_id: transactional_id.map(str::to_owned),
        acks,
        timeout_ms,
        topic_data: topics
            .into_iter()
            .map(|(name, partition_data)| TopicProduceData {
                name: name.to_string(),
                partition_data,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accumulator::{Blocking, DrainContext, RecordAccumulator};
    use crate::config::ProducerConfig;
    use crate::partitioner::PartitionAvailability;
    use crate::record::ProducerRecord;
    use klamm_protocol::record::RecordBatch;

    #[tokio::test]
    async fn batches_are_grouped_by_topic() {
        let config = ProducerConfig::builder()
            .bootstrap(["h:1"])
            .build()
            .unwrap();
        let acc = RecordAccumulator::new(Arc::new(config));
        let parts = PartitionAvailability {
            count: 3,
            available: &[],
        };
        for (topic, p) in [("a", 0), ("b", 1), ("a", 2)] {
            drop(
                acc.append(
                    ProducerRecord::new(topic).partition(p).value("v"),
                    parts,
                    Blocking::Wait,
                )
                .await
                .unwrap(),
            );
        }
        let mut drained = acc.drain(DrainContext {
            now: tokio::time::Instant::now(),
            leader_for: &|_| Some(1),
            node_ready: &|_| true,
            idempotence: None,
        });
        let mut batches = drained.batches.remove(&1).unwrap();
        batches.sort_by_key(|b| b.topic_partition().clone());
        let req = produce_request(&batches, -1, 30_000, None);
        assert_eq!((req.acks, req.timeout_ms), (-1, 30_000));
        assert_eq!(req.transactional_id, None);
        let shape: Vec<(String, Vec<i32>)> = req
            .topic_data
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    t.partition_data.iter().map(|p| p.index).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [("a".to_owned(), vec![0, 2]), ("b".to_owned(), vec![1])]
        );
        let records = req.topic_data[0].partition_data[0].records.clone().unwrap();
        assert_eq!(RecordBatch::decode(records).unwrap().record_count(), 1);
        let txn = produce_request(&batches, 1, 5, Some("tx"));
        assert_eq!(txn.transactional_id.as_deref(), Some("tx"));
    }
}
