//! Klamm's side of the scenarios: turning a [`TestRecord`] into a klamm-producer record, and
//! reading a topic back with klamm-net's own reader, to set beside librdkafka's read-back so
//! that no claim rests on one reader alone.

use klamm_net::Cluster;
use klamm_net::read::{Isolation, read_topic};
use klamm_producer::ProducerRecord;

use crate::broker::BrokerUnderTest;
use crate::kafka::{ReadRecord, TestRecord};
use crate::scenario::ScenarioError;

/// `record` as a klamm-producer record for `topic`, in its own partition, with its key,
/// value and headers (nulls stay null).
pub fn producer_record(topic: &str, record: &TestRecord) -> ProducerRecord {
    let mut out = ProducerRecord::new(topic.to_owned()).partition(record.partition);
    if let Some(k) = &record.key {
        out = out.key(k.clone());
    }
    if let Some(v) = &record.value {
        out = out.value(v.clone());
    }
    for (k, v) in &record.headers {
        out = out.header(k.clone(), v.clone());
    }
    out
}

/// Every record of `topic` as klamm-net's Fetch reader sees it (`read_committed` per KIP-98:
/// aborted transactions dropped, up to the last stable offset; or `read_uncommitted`), in
/// partition then offset order.
pub async fn read_with_klamm(
    broker: &BrokerUnderTest,
    topic: &str,
    committed: bool,
) -> Result<Vec<ReadRecord>, ScenarioError> {
    let cluster = Cluster::builder()
        .bootstrap(broker.bootstrap())
        .connect()
        .await?;
    let isolation = if committed {
        Isolation::ReadCommitted
    } else {
        Isolation::ReadUncommitted
    };
    let partitions = read_topic(&cluster, topic, isolation).await;
    cluster.close();
    let mut out = Vec::new();
    for (p, records) in partitions?.into_iter().enumerate() {
        for r in records {
            let mut headers = Vec::new();
            for h in r.headers.iter() {
                let key = String::from_utf8(h.key.to_vec())
                    .map_err(|_| format!("partition {p}: a header key is not UTF-8"))?;
                headers.push((key, h.value.map(|v| v.to_vec()).unwrap_or_default()));
            }
            out.push(ReadRecord {
                partition: p as i32,
                offset: r.offset,
                record: TestRecord {
                    partition: p as i32,
                    key: r.key.map(|k| k.to_vec()),
                    value: r.value.map(|v| v.to_vec()),
                    headers,
                },
            });
        }
    }
    Ok(out)
}
