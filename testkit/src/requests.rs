//! Requests that tests send to a broker (a testkit cluster, or another one in interop tests),
//! built in one place for the tests of klamm-testkit and of the crates that test against it
//! (klamm-net, klamm-txn).

use bytes::Bytes;
use klamm_protocol::EncodeError;
use klamm_protocol::messages::ProduceRequest;
use klamm_protocol::messages::produce::request::{PartitionProduceData, TopicProduceData};
use klamm_protocol::record::{BatchBuilder, Compression, Header};

/// An uncompressed record batch of `values` (record `i` has key `k<i>` and a timestamp `i`
/// ms after now, as a client stamps its records), stamped with `producer` (id, epoch, base
/// sequence) when given and marked transactional when asked. An empty `values` is an error,
/// as an empty batch is.
///
/// Current timestamps matter: Kafka rolls a log segment when a batch is more than
/// `segment.ms` (7 days) younger than the segment's first, and a Fetch reads one segment, so
/// old timestamps followed by a transaction marker cut reads short (the testkit does the
/// same). [`batch_at`] stamps chosen timestamps.
pub fn batch<V: AsRef<[u8]>>(
    values: &[V],
    producer: Option<(i64, i16, i32)>,
    transactional: bool,
) -> Result<Bytes, EncodeError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    batch_at(values, producer, transactional, now)
}

/// [`batch`] with record `i` stamped `first_timestamp + i`.
pub fn batch_at<V: AsRef<[u8]>>(
    values: &[V],
    producer: Option<(i64, i16, i32)>,
    transactional: bool,
    first_timestamp: i64,
) -> Result<Bytes, EncodeError> {
    let mut b = BatchBuilder::new(Compression::None).transactional(transactional);
    if let Some((pid, epoch, seq)) = producer {
        b = b.producer(pid, epoch, seq);
    }
    for (i, v) in values.iter().enumerate() {
        let key = format!("k{i}");
        b.append(
            first_timestamp + i as i64,
            Some(key.as_bytes()),
            Some(v.as_ref()),
            &[] as &[Header],
        )?;
    }
    Ok(b.seal()?.into_bytes())
}

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

/// [`produce`] with `transactional_id` set: the Produce of a transactional batch (Kafka
/// refuses transactional records sent without one with TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
pub fn txn_produce(
    transactional_id: &str,
    topic: &str,
    partition: i32,
    acks: i16,
    records: Bytes,
) -> ProduceRequest {
    ProduceRequest {
        transactional_id: Some(transactional_id.to_owned()),
        ..produce(topic, partition, acks, records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klamm_protocol::record::RecordBatch;

    #[test]
    fn a_batch_holds_the_values_with_keys_and_the_producer() {
        let b = batch_at(&["a", "b"], Some((7, 2, 10)), true, 1_700_000_000_000).expect("batch");
        let b = RecordBatch::decode(b).expect("decodes");
        assert_eq!(
            (b.producer_id(), b.producer_epoch(), b.base_sequence()),
            (7, 2, 10)
        );
        assert!(b.is_transactional());
        let records: Vec<_> = b
            .records()
            .expect("records")
            .map(|r| r.expect("record"))
            .collect();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(records[1].value.as_deref(), Some(&b"b"[..]));
        assert_eq!(records[1].timestamp, 1_700_000_000_001);
    }

    #[test]
    fn a_batch_is_stamped_now() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let b = RecordBatch::decode(batch(&["a"], None, false).unwrap()).unwrap();
        assert!(b.base_timestamp() >= before, "{}", b.base_timestamp());
        assert!(b.base_timestamp() < before + 60_000);
    }

    #[test]
    fn an_empty_batch_is_an_error() {
        assert!(batch::<&str>(&[], None, false).is_err());
        let plain = RecordBatch::decode(batch(&["x"], None, false).unwrap()).unwrap();
        assert!(!plain.is_transactional());
        assert_eq!(plain.producer_id(), -1);
    }

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
        let t = txn_produce("tx", "t", 3, -1, Bytes::from_static(b"batch"));
        assert_eq!(t.transactional_id.as_deref(), Some("tx"));
        assert_eq!(t.topic_data, r.topic_data);
    }
}
