//! librdkafka (the `rdkafka` crate) as the third-party client of the scenarios: topic
//! creation, producing a known set of records, and reading them back.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::broker::BrokerUnderTest;
use crate::scenario::ScenarioError;

/// A record a scenario writes and expects to read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRecord {
    /// Partition it is written to.
    pub partition: i32,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Option<Vec<u8>>,
    /// Headers in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// `n` records spread round-robin over `partitions`, with keys, headers and values of
/// `value_len` bytes (text-like, so compression has something to do, and unique).
pub fn make_records(n: usize, partitions: i32, value_len: usize) -> Vec<TestRecord> {
    (0..n)
        .map(|i| {
            let mut value = format!("record {i} of {n}: ").into_bytes();
            while value.len() < value_len {
                value.extend_from_slice(b"klamm-");
                value.push(b'a' + (i % 26) as u8);
            }
            value.truncate(value_len.max(16));
            TestRecord {
                partition: (i as i32) % partitions,
                key: (i % 7 != 0).then(|| format!("key-{i}").into_bytes()),
                value: (i % 11 != 0).then_some(value),
                headers: vec![
                    ("seq".to_string(), i.to_string().into_bytes()),
                    ("origin".to_string(), b"librdkafka".to_vec()),
                ],
            }
        })
        .collect()
}

/// Client settings every scenario client shares.
pub fn base_config(broker: &BrokerUnderTest) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", broker.bootstrap())
        .set("broker.address.family", "v4")
        .set("socket.timeout.ms", "20000")
        .set("message.timeout.ms", "60000");
    c
}

/// Creates `topic` with `partitions` partitions (replication
/// [`BrokerUnderTest::replication_factor`]) and waits until every
/// partition has a leader in the metadata.
pub async fn create_topic(
    broker: &BrokerUnderTest,
    topic: &str,
    partitions: i32,
) -> Result<(), ScenarioError> {
    if !broker.create_topic_in_process(topic, partitions)? {
        let admin: AdminClient<DefaultClientContext> = base_config(broker).create()?;
        let new = NewTopic::new(
            topic,
            partitions,
            TopicReplication::Fixed(broker.replication_factor()),
        );
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        for result in admin.create_topics([&new], &opts).await? {
            if let Err((name, code)) = result {
                return Err(format!("CreateTopics {name} failed: {code}").into());
            }
        }
    }
    wait_for_leaders(broker, topic, partitions).await
}

async fn wait_for_leaders(
    broker: &BrokerUnderTest,
    topic: &str,
    partitions: i32,
) -> Result<(), ScenarioError> {
    let config = base_config(broker);
    let topic = topic.to_string();
    // librdkafka's metadata call blocks: keep it off the runtime that may host the broker.
    blocking(move || {
        let consumer: BaseConsumer = config.create()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let md = consumer.fetch_metadata(Some(&topic), Duration::from_secs(5))?;
            let ready = md.topics().iter().any(|t| {
                t.name() == topic
                    && t.error().is_none()
                    && t.partitions().len() == partitions as usize
                    && t.partitions().iter().all(|p| p.leader() >= 0)
            });
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "topic {topic} has no leaders for all {partitions} partitions after 30 s"
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
    .await
}

/// Runs blocking librdkafka work on tokio's blocking pool, so an in-process broker on the
/// same runtime keeps serving.
pub async fn blocking<T, F>(f: F) -> Result<T, ScenarioError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ScenarioError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("blocking librdkafka task failed: {e}"))?
}

/// Produces `records` in order with a producer built from `config`, waiting for every
/// delivery. Returns the offsets, in record order.
pub async fn produce(
    config: &ClientConfig,
    topic: &str,
    records: &[TestRecord],
) -> Result<Vec<i64>, ScenarioError> {
    let producer: FutureProducer = config.create()?;
    let mut deliveries = Vec::with_capacity(records.len());
    for r in records {
        let mut headers = OwnedHeaders::new();
        for (k, v) in &r.headers {
            headers = headers.insert(Header {
                key: k,
                value: Some(v),
            });
        }
        let mut fr: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic)
            .partition(r.partition)
            .headers(headers);
        if let Some(k) = &r.key {
            fr = fr.key(k.as_slice());
        }
        if let Some(v) = &r.value {
            fr = fr.payload(v.as_slice());
        }
        // Enqueue now (librdkafka batches in the background); wait only when its queue is full.
        loop {
            match producer.send_result(fr) {
                Ok(delivery) => {
                    deliveries.push(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    fr = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => return Err(format!("enqueue failed: {e}").into()),
            }
        }
    }
    let mut offsets = Vec::with_capacity(deliveries.len());
    for (i, d) in deliveries.into_iter().enumerate() {
        match d.await {
            Ok(Ok(delivery)) => offsets.push(delivery.offset),
            Ok(Err((e, _))) => return Err(format!("record {i} not delivered: {e}").into()),
            Err(_) => return Err(format!("record {i}: delivery future cancelled").into()),
        }
    }
    producer.flush(Duration::from_secs(30))?;
    Ok(offsets)
}

/// The offset `group` has committed for `topic`/`partition`, as librdkafka's consumer
/// fetches it (OffsetFetch with `require_stable`, so a pending transactional offset is
/// waited for, never read half-done); `None` when nothing is committed.
pub async fn committed_offset(
    broker: &BrokerUnderTest,
    group: &str,
    topic: &str,
    partition: i32,
) -> Result<Option<i64>, ScenarioError> {
    let mut config = base_config(broker);
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed");
    let topic = topic.to_string();
    blocking(move || {
        let consumer: BaseConsumer = config.create()?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&topic, partition);
        let got = consumer.committed_offsets(tpl, Duration::from_secs(30))?;
        let offset = got
            .find_partition(&topic, partition)
            .map(|e| e.offset())
            .ok_or_else(|| format!("OffsetFetch answered nothing for {topic}/{partition}"))?;
        Ok(match offset {
            Offset::Offset(o) => Some(o),
            _ => None,
        })
    })
    .await
}

/// A record as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRecord {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// The contents, comparable with what was written.
    pub record: TestRecord,
}

/// Reads `expected` records from every partition of `topic` from the beginning
/// (`isolation` is `read_committed` or `read_uncommitted`), giving up when nothing new
/// arrived for 15 s; then keeps reading for one more second, so that anything beyond
/// `expected` shows up as extra records.
pub async fn read_back(
    broker: &BrokerUnderTest,
    topic: &str,
    partitions: i32,
    expected: usize,
    isolation: &str,
) -> Result<Vec<ReadRecord>, ScenarioError> {
    let mut config = base_config(broker);
    config
        .set("group.id", format!("{topic}-reader"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation);
    let topic = topic.to_string();
    blocking(move || read_back_blocking(&config, &topic, partitions, expected)).await
}

fn read_back_blocking(
    config: &ClientConfig,
    topic: &str,
    partitions: i32,
    expected: usize,
) -> Result<Vec<ReadRecord>, ScenarioError> {
    let consumer: BaseConsumer = config.create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut out = Vec::with_capacity(expected);
    let mut last_progress = Instant::now();
    while out.len() < expected {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(ReadRecord {
                    partition: m.partition(),
                    offset: m.offset(),
                    record: TestRecord {
                        partition: m.partition(),
                        key: m.key().map(<[u8]>::to_vec),
                        value: m.payload().map(<[u8]>::to_vec),
                        headers,
                    },
                });
                last_progress = Instant::now();
            }
            Some(Err(e)) => return Err(format!("consumer error: {e}").into()),
            None => {
                if last_progress.elapsed() > Duration::from_secs(15) {
                    break;
                }
            }
        }
    }
    // Linger briefly so that records beyond the expected count (duplicates, data that
    // should have been hidden) are seen and make the comparison fail.
    let linger = Instant::now() + Duration::from_secs(1);
    while Instant::now() < linger {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push(ReadRecord {
                partition: m.partition(),
                offset: m.offset(),
                record: TestRecord {
                    partition: m.partition(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                    headers: Vec::new(),
                },
            }),
            Some(Err(e)) => return Err(format!("consumer error: {e}").into()),
            None => {}
        }
    }
    Ok(out)
}

/// Checks that `read` holds exactly `written`: per partition the same records in the same
/// order, with strictly increasing offsets. The error names the first difference.
pub fn same_per_partition(
    written: &[TestRecord],
    read: &[ReadRecord],
    partitions: i32,
) -> Result<(), ScenarioError> {
    if written.len() != read.len() {
        return Err(format!("wrote {} records, read back {}", written.len(), read.len()).into());
    }
    for p in 0..partitions {
        let w: Vec<&TestRecord> = written.iter().filter(|r| r.partition == p).collect();
        let r: Vec<&ReadRecord> = read.iter().filter(|r| r.partition == p).collect();
        if w.len() != r.len() {
            return Err(format!("partition {p}: wrote {}, read {}", w.len(), r.len()).into());
        }
        for (i, (w, r)) in w.iter().zip(&r).enumerate() {
            if **w != r.record {
                return Err(format!(
                    "partition {p}, record {i} (offset {}): wrote {w:?}, read {:?}",
                    r.offset, r.record
                )
                .into());
            }
        }
        if r.windows(2).any(|pair| pair[1].offset <= pair[0].offset) {
            return Err(format!("partition {p}: offsets not increasing").into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_finds_a_reordering() {
        let written = make_records(6, 2, 32);
        let mut read: Vec<ReadRecord> = written
            .iter()
            .enumerate()
            .map(|(i, r)| ReadRecord {
                partition: r.partition,
                offset: i as i64,
                record: r.clone(),
            })
            .collect();
        same_per_partition(&written, &read, 2).unwrap();
        read.swap(0, 2); // both in partition 0
        let err = same_per_partition(&written, &read, 2).unwrap_err();
        assert!(err.to_string().contains("partition 0"), "{err}");
        read.pop();
        assert!(same_per_partition(&written, &read, 2).is_err());
    }

    #[test]
    fn records_are_unique_and_spread() {
        let r = make_records(100, 3, 100);
        assert!(r.iter().all(|x| (0..3).contains(&x.partition)));
        assert!(r.iter().any(|x| x.key.is_none()) && r.iter().any(|x| x.value.is_none()));
        let mut values: Vec<_> = r.iter().filter_map(|x| x.value.clone()).collect();
        let n = values.len();
        values.sort();
        values.dedup();
        assert_eq!(values.len(), n);
    }
}
